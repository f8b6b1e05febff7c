"""kumar2021's intersection matrix: how much the classes' embedding clusters overlap in a layer.

Reading of kumar2021 section 2.2 (with its released notebook, "Analysis(IEMOCAP).ipynb", where the text is
ambiguous):

1. The embeddings ``[N, E]`` of one layer are standardised per feature (``StandardScaler``, as in the released
   code; the paper does not mention it; ``standardize=False`` turns it off) and projected onto the first
   three principal components of *all* embeddings together (one PCA, "x, y, z"; not one PCA per class:
   spreads in different bases could not be compared).
2. Per class ``i`` and component ``m``: mean ``mu_i(m)`` and standard deviation ``sigma_i(m)`` of the
   projected points. Eq. 6 prints the variance formula but calls it the standard deviation, and the released
   code uses ``np.std`` (population); we use the population standard deviation.
3. The class's spread on component ``m`` is ``[L_i(m), R_i(m)] = mu_i(m) -/+ 2 sigma_i(m)`` (Eq. 7).
4. ``I_ij(m) = max(min(R_i, R_j) - max(L_i, L_j), 0) / (max(R_i, R_j) - min(L_i, L_j))`` (Eq. 8): the length
   of the two ranges' intersection over the length of their union's hull, in [0, 1].
5. ``I_ij = prod_m I_ij(m)`` (Eq. 9), so a pair of classes separated on any one component scores near 0;
   the diagonal is 1.

Lower off-diagonal values mean better separated classes. A range of zero width (a class whose points all
project to one value) is handled explicitly: two identical points give 1, otherwise 0.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from emofuse.errors import EmofuseError

__all__ = ["ClassSpreads", "class_spreads", "interval_intersection", "intersection_matrix"]


class ExplainError(EmofuseError, ValueError):
    """Inputs to an explanation are malformed; the message names the argument and what to do."""


@dataclass(frozen=True)
class ClassSpreads:
    """Per-class spread of the projected embeddings.

    Attributes:
        classes: the C classes, in row order.
        mean: ``[C, M]`` per-class mean of each principal component.
        std: ``[C, M]`` per-class population standard deviation.
        left: ``[C, M]`` ``mean - k * std`` (kumar2021 Eq. 7 with k = 2).
        right: ``[C, M]`` ``mean + k * std``.
        explained_variance_ratio: ``[M]`` of the PCA.
    """

    classes: list[Hashable]
    mean: np.ndarray
    std: np.ndarray
    left: np.ndarray
    right: np.ndarray
    explained_variance_ratio: np.ndarray


def _project(
    embeddings: np.ndarray, n_components: int, standardize: bool, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    x = StandardScaler().fit_transform(embeddings) if standardize else embeddings - embeddings.mean(axis=0)
    m = min(n_components, x.shape[0], x.shape[1])
    pca = PCA(n_components=m, random_state=random_state)
    return pca.fit_transform(x), pca.explained_variance_ratio_


def _validate(
    embeddings: object, labels: object, classes: Sequence[Hashable]
) -> tuple[np.ndarray, np.ndarray, list]:
    x = np.asarray(embeddings, dtype=np.float64)
    y = np.asarray(labels)
    if x.ndim != 2:
        raise ExplainError(f"embeddings must be [N, E]; got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ExplainError(
            f"labels must be [N] with N = {len(x)} (one per embedding row); got shape {y.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise ExplainError("embeddings contain NaN/inf: check the layer outputs")
    cls = [c.item() if isinstance(c, np.generic) else c for c in classes]
    if len(set(cls)) != len(cls) or not cls:
        raise ExplainError(f"classes must be a non-empty list of distinct class names; got {cls}")
    known = set(cls)
    unknown = sorted({str(v) for v in y.tolist() if v not in known})
    if unknown:
        raise ExplainError(
            f"labels hold classes {unknown} not in classes {cls}: pass them in classes or drop those rows"
        )
    empty = [c for c in cls if not np.any(y == c)]
    if empty:
        raise ExplainError(
            f"classes {empty} have no embeddings: their spread is undefined; drop them from classes"
        )
    return x, y, cls


def class_spreads(
    embeddings: np.ndarray,
    labels: Sequence[Hashable],
    classes: Sequence[Hashable],
    n_components: int = 3,
    n_sigmas: float = 2.0,
    standardize: bool = True,
    random_state: int = 0,
) -> ClassSpreads:
    """Per-class ``[mean - n_sigmas * std, mean + n_sigmas * std]`` on each of the first ``n_components``
    principal components of ``embeddings [N, E]`` (kumar2021 steps i-iii; see the module docstring)."""
    x, y, cls = _validate(embeddings, labels, classes)
    z, ratio = _project(x, n_components, standardize, random_state)
    mean = np.stack([z[y == c].mean(axis=0) for c in cls])
    std = np.stack([z[y == c].std(axis=0) for c in cls])
    return ClassSpreads(cls, mean, std, mean - n_sigmas * std, mean + n_sigmas * std, ratio)


def interval_intersection(left_a: float, right_a: float, left_b: float, right_b: float) -> float:
    """kumar2021 Eq. 8 for two ranges: overlap length / length of the hull of both; in [0, 1].

    Zero-width hull (both ranges the same single point): 1.0.
    """
    hull = max(right_a, right_b) - min(left_a, left_b)
    overlap = max(min(right_a, right_b) - max(left_a, left_b), 0.0)
    if hull <= 0.0:
        return 1.0
    return float(overlap / hull)


def intersection_matrix(
    embeddings: np.ndarray,
    labels: Sequence[Hashable],
    classes: Sequence[Hashable],
    n_components: int = 3,
    n_sigmas: float = 2.0,
    standardize: bool = True,
    random_state: int = 0,
) -> np.ndarray:
    """kumar2021's intersection matrix ``[C, C]`` of one layer's embeddings.

    Args:
        embeddings: one layer's outputs ``[N, E]`` for N utterances.
        labels: class of each utterance ``[N]``.
        classes: the C classes, in the matrix's row/column order.
        n_components: principal components used (kumar2021: 3). Fewer if ``N`` or ``E`` is smaller.
        n_sigmas: half-width of each class's range in standard deviations (kumar2021: 2).
        standardize: standardise features before PCA (kumar2021's released code does).
        random_state: for the PCA solver.

    Returns:
        Symmetric ``[C, C]`` matrix with values in [0, 1] and ones on the diagonal; ``I[i, j]`` is the product
        over components of the overlap ratio of classes i and j (Eq. 8-9). Near 0 = well-separated.
    """
    spreads = class_spreads(embeddings, labels, classes, n_components, n_sigmas, standardize, random_state)
    n_classes, n_comp = spreads.left.shape
    out = np.ones((n_classes, n_classes), dtype=np.float64)
    for i in range(n_classes):
        for j in range(i + 1, n_classes):
            value = 1.0
            for m in range(n_comp):
                value *= interval_intersection(
                    spreads.left[i, m], spreads.right[i, m], spreads.left[j, m], spreads.right[j, m]
                )
            out[i, j] = out[j, i] = value
    return out
