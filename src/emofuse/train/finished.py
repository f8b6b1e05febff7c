"""A finished grid answers from its files: no torch, no Lightning, no report rebuilt.

After a grid finishes, :func:`record_grid` writes ``<out>/grid.json``: a fingerprint of what the grid was asked
(the resolved recipes, the seeds, the contents of the corpus, split and transcripts files, the feature store
and the emofuse version) and the config hash of every run's ``done.json``. :func:`finished_report` answers a
rerun with the same fingerprint from ``report.json`` when every run is still finished with the recorded hash
and the report is newer than every run; anything else (a run deleted or redone, a changed file, a new version)
returns None and the runner does the work as before. Imports: the standard library and :mod:`emofuse.hashing`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from emofuse.hashing import config_hash, file_sha256
from emofuse.io import atomic_write_json, read_json

GRID_FILE = "grid.json"
REPORT_FILE = "report.json"
DONE_FILE = "done.json"


def _results_part(resolved: dict[str, Any]) -> dict[str, Any]:
    """A resolved recipe without the keys that do not change results (``training.loggers``)."""
    training = {k: v for k, v in (resolved.get("training") or {}).items() if k != "loggers"}
    return {**resolved, "training": training}


def grid_fingerprint(
    recipes: Sequence[Any],
    seeds: Sequence[int] | int | None,
    files: Mapping[str, str | os.PathLike[str] | None],
    store: str | os.PathLike[str] | None,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """A hash of everything that decides a grid's results.

    Args:
        recipes: the loaded recipes (pydantic ``Recipe``; their ``resolved()`` dicts are hashed, less the loggers).
        seeds: the seed list or count given (None: the recipes' own).
        files: ``{role: path or None}`` (corpus table, splits, transcripts); their contents are hashed.
        store: the feature store directory.
        extra: other options that change results (JSON-safe).
    """
    from emofuse import __version__

    return config_hash(
        {
            "recipes": [_results_part(r.resolved()) for r in recipes],
            "seeds": seeds if seeds is None or isinstance(seeds, int) else list(seeds),
            "files": {k: None if p is None else file_sha256(p) for k, p in sorted(files.items())},
            "store": None if store is None else str(Path(store).expanduser().resolve()),
            "version": __version__,
            "extra": dict(extra or {}),
        }
    )


def record_grid(
    out_dir: str | os.PathLike[str], fingerprint: str, run_dirs: Iterable[str | os.PathLike[str]]
) -> None:
    """Write ``grid.json`` for a grid that has just finished (every run dir holds ``done.json``)."""
    out = Path(out_dir)
    runs = {}
    for d in run_dirs:
        path = Path(d)
        runs[path.resolve().relative_to(out.resolve()).as_posix()] = read_json(path / DONE_FILE).get(
            "config_hash"
        )
    atomic_write_json(out / GRID_FILE, {"fingerprint": fingerprint, "runs": runs})


def finished_report(out_dir: str | os.PathLike[str], fingerprint: str) -> dict[str, Any] | None:
    """``report.json``'s content when ``out_dir`` holds a finished grid with this fingerprint, else None."""
    out = Path(out_dir)
    try:
        grid = read_json(out / GRID_FILE)
        if grid.get("fingerprint") != fingerprint or not grid.get("runs"):
            return None
        report_mtime = (out / REPORT_FILE).stat().st_mtime_ns
        for rel, chash in grid["runs"].items():
            done = out / rel / DONE_FILE
            if read_json(done).get("config_hash") != chash or done.stat().st_mtime_ns > report_mtime:
                return None
        return dict(read_json(out / REPORT_FILE))
    except (OSError, ValueError, AttributeError, TypeError):
        return None


__all__ = ["GRID_FILE", "finished_report", "grid_fingerprint", "record_grid"]
