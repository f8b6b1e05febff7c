"""kumar2021 intersection matrix, embedding, intersection and layer-weight plots."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from emofuse.explain import (
    ExplainError,
    class_spreads,
    intersection_matrix,
    interval_intersection,
    normalise_layer_weights,
    plot_embeddings_pca,
    plot_intersection_matrix,
    plot_layer_weights,
)

CLASSES = ["angry", "happy", "sad", "neutral"]


def _clusters(
    separation: float, n_per_class: int = 60, dim: int = 16, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(CLASSES), dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = np.concatenate([separation * c + rng.normal(size=(n_per_class, dim)) for c in centres])
    y = np.repeat(CLASSES, n_per_class)
    return x, y


def test_interval_intersection_hand_worked() -> None:
    assert interval_intersection(0, 2, 1, 3) == pytest.approx(1 / 3)  # overlap 1, hull 3
    assert interval_intersection(0, 4, 1, 2) == pytest.approx(1 / 4)  # nested
    assert interval_intersection(0, 1, 2, 3) == 0.0  # disjoint
    assert interval_intersection(0, 1, 0, 1) == 1.0
    assert interval_intersection(5, 5, 5, 5) == 1.0  # same single point
    assert interval_intersection(5, 5, 6, 6) == 0.0


def test_well_separated_clusters_give_near_zero_off_diagonal() -> None:
    x, y = _clusters(separation=30.0)
    m = intersection_matrix(x, y, CLASSES)
    assert m.shape == (4, 4)
    np.testing.assert_allclose(np.diag(m), 1.0)
    np.testing.assert_allclose(m, m.T)
    off = m[~np.eye(4, dtype=bool)]
    assert off.max() < 0.01


def test_overlapping_clusters_give_large_off_diagonal_and_order_follows_separation() -> None:
    x, y = _clusters(separation=0.0)
    overlapping = intersection_matrix(x, y, CLASSES)[~np.eye(4, dtype=bool)]
    assert overlapping.min() > 0.4  # measured 0.55 .. 0.77
    means = [
        intersection_matrix(*_clusters(s), CLASSES)[~np.eye(4, dtype=bool)].mean() for s in (0.0, 2.0, 6.0)
    ]
    assert means[0] > means[1] > means[2]


def test_matches_the_released_notebook_procedure() -> None:
    """Independent re-computation following kumar2021's released notebook (StandardScaler, PCA(3), np.std, +/-2 sd)."""
    x, y = _clusters(separation=3.0, seed=4)
    z = PCA(n_components=3).fit_transform(StandardScaler().fit_transform(x))
    left = np.stack([z[y == c].mean(0) - 2 * z[y == c].std(0) for c in CLASSES])
    right = np.stack([z[y == c].mean(0) + 2 * z[y == c].std(0) for c in CLASSES])
    expected = np.ones((4, 4))
    for i in range(4):
        for j in range(4):
            for m in range(3):
                num = max(min(right[i, m], right[j, m]) - max(left[i, m], left[j, m]), 0)
                expected[i, j] *= num / (max(right[i, m], right[j, m]) - min(left[i, m], left[j, m]))
    np.testing.assert_allclose(intersection_matrix(x, y, CLASSES), expected, atol=1e-10)
    spreads = class_spreads(x, y, CLASSES)
    assert spreads.left.shape == (4, 3) and spreads.explained_variance_ratio.shape == (3,)


def test_low_dimensional_embeddings_and_bad_input() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))  # fewer dims than components: uses 2
    y = np.repeat(["a", "b"], 20)
    assert intersection_matrix(x, y, ["a", "b"]).shape == (2, 2)
    with pytest.raises(ExplainError, match=r"\['c'\] have no embeddings"):
        intersection_matrix(x, y, ["a", "b", "c"])
    with pytest.raises(ExplainError, match=r"\['b'\] not in classes"):
        intersection_matrix(x, y, ["a"])
    with pytest.raises(ExplainError, match=r"\[N, E\]"):
        intersection_matrix(x[:, 0], y, ["a", "b"])


def _png_ok(path) -> None:
    image = imread(path)
    assert image.shape[0] > 150 and image.shape[1] > 150
    assert image[..., :3].std() > 0.05


def test_plots(tmp_path) -> None:
    x, y = _clusters(separation=4.0)
    plot_embeddings_pca(x, y, tmp_path / "pca.png", classes=CLASSES, title="second-last layer")
    plot_intersection_matrix(
        intersection_matrix(x, y, CLASSES), CLASSES, tmp_path / "im.png", title="second-last layer"
    )
    plot_layer_weights(np.array([0.2, 1.5, 0.3, -0.4, 0.0]), tmp_path / "lw.png", normalization="softmax")
    plot_layer_weights(
        {"audio (wav2vec2)": np.arange(13.0), "text (bert)": np.ones(7)}, tmp_path / "lw2.png", "sum"
    )
    for name in ("pca.png", "im.png", "lw.png", "lw2.png"):
        _png_ok(tmp_path / name)


def test_normalise_layer_weights() -> None:
    w = np.array([0.0, np.log(3.0)])
    np.testing.assert_allclose(normalise_layer_weights(w, "softmax"), [0.25, 0.75])
    np.testing.assert_allclose(normalise_layer_weights([1.0, 3.0], "sum"), [0.25, 0.75])
    with pytest.raises(ExplainError, match="sum to 0"):
        normalise_layer_weights([1.0, -1.0], "sum")
