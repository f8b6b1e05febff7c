"""A finished quickstart asked again answers from its files: no torch, nothing retranscribed, retrained or re-exported.

The same fast path as ``emofuse run`` (:mod:`emofuse.train.finished`): when the quickstart finishes, it records
``<out>/runs/grid.json`` (the grid's fingerprint: the resolved recipes, seeds, the contents of the corpus table,
splits and transcripts, the feature store, the emofuse version and the quickstart's settings) and
``<out>/quickstart.json`` (that fingerprint, the chosen system, the SHA-256 of the exported package's files and
the stage times). A rerun with the same settings recomputes the fingerprint from the files and answers from
``runs/report.json`` when every run is still finished with its recorded hash, the report is newer than every run
and the package is unchanged; anything else (a file edited or deleted, other settings, a new version) returns None
and the quickstart does its stages as before (each of them resumable).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emofuse.hashing import file_sha256
from emofuse.io import atomic_write_json, read_json
from emofuse.train.finished import finished_report, grid_fingerprint, record_grid

FINISHED_FILE = "quickstart.json"
#: The package files whose hashes a finished quickstart records.
MODEL_FILES: tuple[str, ...] = ("config.json", "model.safetensors")
#: Settings that change how fast the quickstart runs but not its results.
_SPEED_ONLY: tuple[str, ...] = ("workers",)


def quickstart_fingerprint(out_dir: Path, settings: Any, recipes: Sequence[Any]) -> str:
    """The fingerprint of a quickstart in ``out_dir`` with these settings and (resolved) recipes.

    Raises:
        OSError: a file the quickstart writes (corpus table, splits, transcripts) is missing.
    """
    options = {k: v for k, v in dataclasses.asdict(settings).items() if k not in _SPEED_ONLY}
    return grid_fingerprint(
        recipes,
        settings.seeds,
        {
            "corpus": out_dir / "corpus" / "demo.jsonl",
            "splits": out_dir / "splits.json",
            "transcripts": out_dir / "transcripts.jsonl",
        },
        out_dir / "features",
        extra={"quickstart": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}},
    )


def record_quickstart(
    out_dir: Path,
    fingerprint: str,
    run_dirs: Sequence[str | Path],
    *,
    best_system: str,
    stage_s: dict[str, float],
    n_trained: int,
    n_skipped: int,
) -> None:
    """Record a quickstart that has just finished (its runs, report and package are all written)."""
    record_grid(out_dir / "runs", fingerprint, run_dirs)
    atomic_write_json(
        out_dir / FINISHED_FILE,
        {
            "fingerprint": fingerprint,
            "best_system": best_system,
            "model": {name: file_sha256(out_dir / "model" / name) for name in MODEL_FILES},
            "stage_s": stage_s,
            "n_trained": n_trained,
            "n_skipped": n_skipped,
        },
    )


def finished_quickstart(out_dir: Path, settings: Any, recipes: Sequence[Any]) -> dict[str, Any] | None:
    """``quickstart.json``'s record plus ``report`` (``runs/report.json``'s content) when ``out_dir`` holds a
    finished quickstart with these settings, else None."""
    try:
        record = read_json(out_dir / FINISHED_FILE)
        fingerprint = quickstart_fingerprint(out_dir, settings, recipes)
        if not isinstance(record, dict) or record.get("fingerprint") != fingerprint:
            return None
        report = finished_report(out_dir / "runs", fingerprint)
        if report is None:
            return None
        for name, sha in dict(record["model"]).items():
            if file_sha256(out_dir / "model" / name) != sha:
                return None
        return {**record, "report": report}
    except (OSError, ValueError, KeyError, TypeError):
        return None


__all__ = ["FINISHED_FILE", "finished_quickstart", "quickstart_fingerprint", "record_quickstart"]
