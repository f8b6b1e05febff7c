"""Training: the LightningModule, strategies (cold start / pre-trained / warm start / fine-tune), and the
seeds x folds runner that writes one directory per run and an aggregate report.

Public API: :class:`ModelConfig`, :func:`build_model` (``emofuse.train.model``), :class:`EmotionLightningModule`
(``emofuse.train.module``), :func:`collate` (``emofuse.train.collate``), :class:`EmotionDataset` (``emofuse.train.data``),
:class:`RunDir` / :class:`RunConfig` (``emofuse.train.rundir``), :class:`RunSpec` / :func:`run_one` (``emofuse.train.steps``),
:func:`fit_model` (``emofuse.train.fit``), :func:`run_experiment` (``emofuse.train.runner``). Torch and
Lightning load on first use of the heavy parts.
"""

from __future__ import annotations

from typing import Any

from emofuse.train.model import BranchConfig, HeadConfig, ModelConfig, build_model

_LAZY = {
    "EmotionLightningModule": "emofuse.train.module",
    "EmotionDataset": "emofuse.train.data",
    "FeatureCache": "emofuse.train.data",
    "collate": "emofuse.train.collate",
    "RunConfig": "emofuse.train.rundir",
    "RunDir": "emofuse.train.rundir",
    "RunSpec": "emofuse.train.steps",
    "run_one": "emofuse.train.steps",
    "fit_model": "emofuse.train.fit",
    "run_experiment": "emofuse.train.runner",
    "ExperimentResult": "emofuse.train.runner",
    "apply_strategy": "emofuse.train.strategies",
}

__all__ = ["BranchConfig", "HeadConfig", "ModelConfig", "build_model", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emofuse.train' has no attribute {name!r}")
