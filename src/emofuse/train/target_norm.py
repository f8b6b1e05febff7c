"""Target normalisation on the training fold: one option, two papers.

``data.target_norm`` of a recipe (A/V/D regression only):

* ``zscore``: each dimension minus its mean, over its standard deviation (perez2022: activation labels
  "z-normalised" over the training data);
* ``unit``: min-max to [0, 1] (deoliveira2023: labels "normalised to the range [0, 1]");
* ``none`` (default): the table's values as they are.

The statistics come from the fold's *training* utterances only; the network learns the normalised targets,
and everything that leaves a run is in label units again: the predictions table (hence every metric), the
dev metrics in ``metrics.json``, and the packaged model's ``predict`` output (the package stores the same
:class:`TargetScaling` and applies :meth:`TargetScaling.to_label_units`). The CCC loss and the dev CCC do not
change under one positive affine map of both prediction and label, so early stopping sees the same values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from emofuse.errors import ConfigError

__all__ = ["TargetScaling", "fit_target_scaling", "label_units", "normalise_targets"]


class TargetScaling(BaseModel):
    """The affine map of a run's targets: ``normalised = (value - offset) / scale`` per dimension.

    ``names``: the dimensions in output order; ``offset`` / ``scale``: ``[K]`` (mean / std for ``zscore``,
    minimum / range for ``unit``); ``n_train``: training utterances the statistics come from.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["zscore", "unit"]
    names: list[str]
    offset: list[float]
    scale: list[float] = Field(min_length=1)
    n_train: int = Field(ge=1)

    @model_validator(mode="after")
    def _check(self) -> TargetScaling:
        if not len(self.names) == len(self.offset) == len(self.scale):
            raise ValueError("target scaling: names, offset and scale must have one entry per dimension")
        if not all(np.isfinite(self.offset)) or not all(np.isfinite(s) and s > 0 for s in self.scale):
            raise ValueError("target scaling: offsets must be finite and scales positive")
        return self

    def normalise(self, values: np.ndarray) -> np.ndarray:
        """``values [..., K]`` in label units -> normalised (float32)."""
        v = np.asarray(values, dtype=np.float64)
        return ((v - np.asarray(self.offset)) / np.asarray(self.scale)).astype(np.float32)

    def to_label_units(self, values: np.ndarray) -> np.ndarray:
        """``values [..., K]`` as the network outputs them -> label units (float64)."""
        v = np.asarray(values, dtype=np.float64)
        return v * np.asarray(self.scale) + np.asarray(self.offset)


def fit_target_scaling(
    kind: str, names: Sequence[str], targets: Mapping[str, np.ndarray], train_ids: Sequence[str]
) -> TargetScaling | None:
    """Statistics of ``targets`` (``{utterance_id: [K]}``) over ``train_ids``; None for ``kind == "none"``.

    A dimension that is constant on the training fold keeps scale 1 (only its offset is removed).

    Raises:
        ConfigError: no training utterance has a target.
    """
    if kind == "none":
        return None
    rows = [np.asarray(targets[u], dtype=np.float64).reshape(-1) for u in train_ids if u in targets]
    if not rows:
        raise ConfigError(f"data.target_norm: {kind}: the fold has no training utterance with a target")
    values = np.stack(rows)  # [N, K]
    if kind == "zscore":
        offset, spread = values.mean(axis=0), values.std(axis=0)
    elif kind == "unit":
        offset, spread = values.min(axis=0), values.max(axis=0) - values.min(axis=0)
    else:
        raise ConfigError(f"data.target_norm: {kind!r} is not one of none, zscore, unit")
    scale = np.where(spread > 1e-12, spread, 1.0)
    return TargetScaling(
        kind=kind,  # type: ignore[arg-type]
        names=list(names),
        offset=[float(v) for v in offset],
        scale=[float(v) for v in scale],
        n_train=len(rows),
    )


def normalise_targets(
    targets: Mapping[str, np.ndarray], scaling: TargetScaling | None
) -> dict[str, np.ndarray]:
    """Every target mapped by ``scaling`` (the same dict's values when it is None)."""
    if scaling is None:
        return dict(targets)
    return {u: scaling.normalise(v) for u, v in targets.items()}


def label_units(
    predicted: tuple[list[str], np.ndarray, np.ndarray], scaling: TargetScaling | None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(ids, outputs [N, K], targets [N, K])`` of a prediction pass mapped back to label units."""
    if scaling is None:
        return predicted
    ids, outputs, targets = predicted
    return ids, scaling.to_label_units(outputs), scaling.to_label_units(targets)
