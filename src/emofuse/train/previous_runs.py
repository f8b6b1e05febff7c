"""Finished runs of other systems already in an output folder, so a later ``emofuse run`` keeps them in its report.

A second ``emofuse run`` into the same ``--out`` used to rewrite ``report.md`` with only its own systems. The
runner now adds the predictions of every finished run (``done.json`` present) of the systems it did not run
itself, when they were made for the same labels (or A/V/D dimensions) and on the same fold names; runs that do
not fit are left out with a warning naming their systems.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection
from pathlib import Path

import pandas as pd

from emofuse.io import read_json


def earlier_systems(out_dir: str | Path) -> set[str]:
    """Names of the systems with a finished run (``<system>/seed<k>/fold<f>/done.json``) under ``out_dir``."""
    return {done.parent.parent.parent.name for done in Path(out_dir).glob("*/seed*/fold*/done.json")}


def earlier_predictions(
    out_dir: str | Path, skip_systems: Collection[str], labels: list[str], fold_names: Collection[str]
) -> pd.DataFrame | None:
    """Predictions of finished runs under ``out_dir`` of systems not in ``skip_systems`` (None when there are none).

    Args:
        out_dir: the runner's output folder (``<system>/seed<k>/fold<f>/``).
        skip_systems: the systems of the current call (their own predictions are already at hand).
        labels: class names (or A/V/D names) of the current call, in output order.
        fold_names: the current call's fold names; a system run on other folds is left out.
    """
    frames: list[pd.DataFrame] = []
    mismatched: set[str] = set()
    wanted = set(fold_names)
    for done in sorted(Path(out_dir).glob("*/seed*/fold*/done.json")):
        run = done.parent
        system = run.parent.parent.name
        if system in skip_systems or not (run / "predictions.csv").is_file():
            continue
        try:
            config = read_json(run / "run_config.json")
        except (OSError, ValueError):
            mismatched.add(system)
            continue
        if list(config.get("labels") or config.get("avd_names") or []) != list(labels):
            mismatched.add(system)
            continue
        frame = pd.read_csv(run / "predictions.csv", dtype={"utterance_id": str, "fold": str})
        if not set(frame["fold"]) <= wanted:
            mismatched.add(system)
            continue
        frames.append(frame)
    if mismatched:
        warnings.warn(
            f"report: earlier systems in {out_dir} left out (other labels or folds): {sorted(mismatched)}",
            stacklevel=2,
        )
    kept = {str(f["system"].iloc[0]) for f in frames if len(f)}
    frames = [
        f for f in frames if str(f["system"].iloc[0]) not in mismatched or str(f["system"].iloc[0]) in kept
    ]
    return pd.concat(frames, ignore_index=True) if frames else None
