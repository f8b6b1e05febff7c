"""makiuchi2021's speaker-identification probe (Sec. 4.1, Table 3): how much speaker identity the bottleneck of a
cross-representation model keeps.

:func:`bottleneck_features` runs a trained ``crossrep`` model (a run or package directory) over the utterances
of a corpus and returns one vector per utterance: the mean over its 96-frame segments of the flattened
bottleneck codes (``[2d * 96/f]``: 32 values for "Small", 12,288 for "Large"). Each utterance's speaker input
is its speaker's mean embedding over the utterances probed (as in training). :func:`speaker_probe` trains the
paper's classifier on them, 4 linear layers (2048, 1024, 1024, speakers) with ReLU and cross-entropy
(scikit-learn's ``MLPClassifier``), on speaker-dependent folds: each speaker's utterances are split 80 / 20
into train / test, 5 times (stratified k-fold by speaker). The paper's finding: "Small" keeps less speaker
identity than "Large".
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from emofuse.errors import ConfigError

__all__ = ["BottleneckFeatures", "bottleneck_features", "speaker_probe"]


@dataclass
class BottleneckFeatures:
    """Per-utterance bottleneck vectors ``features [N, code_dim]`` of one model, with ids and speakers."""

    utterance_ids: list[str]
    speakers: list[str]
    features: np.ndarray
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def bottleneck_features(
    run_dir: str | os.PathLike[str],
    table: pd.DataFrame,
    store: Any,
    *,
    branch: str | None = None,
    batch_size: int = 8,
) -> BottleneckFeatures:
    """Bottleneck codes of a trained cross-representation branch for every utterance of ``table`` with a speaker.

    Features come from ``store`` under the run's encoder ids (run ``emofuse extract`` / ``emofuse run`` on the
    same corpus first). Raises :class:`ConfigError` when the model has no ``crossrep`` branch.
    """
    import torch

    from emofuse.encoders.normalize import Standardizer
    from emofuse.explain.runs import load_network
    from emofuse.train.collate import collate
    from emofuse.train.data import BranchSource, EmotionDataset, FeatureCache, branch_keys
    from emofuse.train.speaker_mean import SpeakerMeanSource, speaker_column

    root = Path(run_dir)
    network, config = load_network(root)
    crossrep = [n for n, b in network.branches.items() if hasattr(b, "extra_roles") and hasattr(b, "model")]
    name = branch or (crossrep[0] if crossrep else None)
    if name is None or name not in crossrep:
        raise ConfigError(
            f"{root}: no cross-representation (crossrep) branch to probe; branches: {list(network.branches)}"
        )
    sub = table[table["speaker"].notna()]
    if sub.empty:
        raise ConfigError("the speaker probe needs a corpus table with a speaker column")
    ids = sub["utterance_id"].astype(str).tolist()
    cache = FeatureCache(store)
    sources: dict[str, BranchSource] = {}
    for feature, record in config.get("branches", {}).items():
        keys = branch_keys(sub, str(record["input"]), None)
        if record.get("per_speaker") == "mean":
            src: BranchSource = SpeakerMeanSource(
                feature, str(record["encoder_id"]), keys, speakers=speaker_column(sub)
            )
            src.prepare_fold(SimpleNamespace(train=ids, dev=[], test=[]), cache)  # type: ignore[attr-defined]
        else:
            src = BranchSource(feature, str(record["encoder_id"]), keys)
        if record.get("standardizer"):
            src.standardizer = Standardizer.from_dict(record["standardizer"])
        sources[feature] = src
    dataset = EmotionDataset(ids, sources, cache, {u: np.asarray(0, dtype=np.int64) for u in ids})
    vectors: list[np.ndarray] = []
    with torch.inference_mode():
        for start in range(0, len(dataset), batch_size):
            batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
            result = network._run_branch(name, batch["inputs"], batch["masks"])
            codes, owner = result["codes"].float(), result["segment_index"]
            n = len(batch["utterance_id"])
            total = torch.zeros(n, codes.shape[1]).index_add(0, owner, codes)
            counts = torch.bincount(owner, minlength=n).clamp_min(1).unsqueeze(1).float()
            vectors.append((total / counts).numpy())
    speakers = sub["speaker"].astype(str).tolist()
    return BottleneckFeatures(ids, speakers, np.concatenate(vectors).astype(np.float32), str(root))


def speaker_probe(
    features: np.ndarray,
    speakers: Sequence[str],
    *,
    n_folds: int = 5,
    hidden: Sequence[int] = (2048, 1024, 1024),
    max_iter: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Speaker identification from ``features [N, D]`` on speaker-dependent folds (makiuchi2021 Table 3).

    Returns ``{"accuracy", "uar"}`` (means over folds, in [0, 1]), their per-fold values, ``chance`` (1 / number
    of speakers), ``n_speakers``, ``n_utterances`` and the settings.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from emofuse.evaluate.metrics import classification_metrics

    y = np.asarray([str(s) for s in speakers], dtype=object)
    x = np.asarray(features, dtype=np.float32)
    names = sorted(set(y))
    if len(names) < 2:
        raise ConfigError("the speaker probe needs at least two speakers")
    fewest = min(int((y == s).sum()) for s in names)
    if fewest < n_folds:
        raise ConfigError(
            f"a speaker has only {fewest} utterance(s); the probe's {n_folds} folds need {n_folds} each"
        )
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    per_fold: list[dict[str, float]] = []
    for k, (train, test) in enumerate(folds.split(x, y)):
        clf = make_pipeline(
            StandardScaler(),
            MLPClassifier(hidden_layer_sizes=tuple(hidden), max_iter=max_iter, random_state=seed + k),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x[train], y[train])
        proba = clf.predict_proba(x[test])
        order = [list(clf.classes_).index(s) if s in clf.classes_ else None for s in names]
        full = np.zeros((len(test), len(names)))
        for j, i in enumerate(order):
            if i is not None:
                full[:, j] = proba[:, i]
        m = classification_metrics(y[test], full, names)
        per_fold.append({"accuracy": float(m["accuracy"]), "uar": float(m["uar"])})
    return {
        "accuracy": float(np.mean([f["accuracy"] for f in per_fold])),
        "uar": float(np.mean([f["uar"] for f in per_fold])),
        "per_fold": per_fold,
        "chance": 1.0 / len(names),
        "n_speakers": len(names),
        "n_utterances": int(len(y)),
        "feature_dim": int(x.shape[1]),
        "hidden": list(hidden),
        "n_folds": n_folds,
    }
