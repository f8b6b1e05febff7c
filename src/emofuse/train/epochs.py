"""Progress of a grid of training runs: runs and epochs, with an ETA, in a terminal or as plain lines in a log.

Every training fit reports each finished epoch to the listener set with :func:`epoch_listener` (the fit's
Lightning callback calls :func:`report_epoch`); in a grid's worker process the listener sends the epoch to the
parent over a queue. :class:`GridProgress` is the one display: a ``runs`` row (finished / all) and, when every
run's epoch budget is known (``training.max_epochs``; a run bounded by ``max_steps`` has none), an ``epochs``
row that advances with every epoch of every run, which gives an ETA long before the first run ends. A run that
stops early (early stopping) or is skipped (already finished) counts its whole budget when it ends. When stderr
is not a terminal, both rows print plain lines at most every ``every_s`` seconds (:mod:`emofuse.progress`).
Pre-training epochs of a branch (``pretrain_<branch>`` fits) are reported too but not counted in the budget.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

#: A run in a grid: (system, seed, fold index).
RunKey = tuple[str, int, int]
#: The listener: (finished epochs of this fit, counted from 1; the fit's log name, ``train`` or ``pretrain_<b>``).
EpochListener = Callable[[int, str], None]

_LISTENER: list[EpochListener] = []


@contextlib.contextmanager
def epoch_listener(listener: EpochListener) -> Iterator[None]:
    """Send the epochs of the fits in this block to ``listener`` (nested blocks: the innermost)."""
    _LISTENER.append(listener)
    try:
        yield
    finally:
        _LISTENER.remove(listener)


def set_epoch_listener(listener: EpochListener) -> None:
    """The listener for the rest of this process (a grid's worker)."""
    _LISTENER[:] = [listener]


def report_epoch(epoch: int, log_name: str) -> None:
    """Called by a fit when its ``epoch``-th epoch (from 1) has finished."""
    if _LISTENER:
        _LISTENER[-1](epoch, log_name)


def planned_epochs(recipe: Any) -> int | None:
    """A run's epoch budget: ``training.max_epochs`` (0 for a scikit-learn system; None when bounded by steps)."""
    if getattr(recipe, "estimator", None) is not None:
        return 0
    training = recipe.training
    return None if training.max_steps is not None else int(training.max_epochs)


def describe_row(row: Mapping[str, Any]) -> str:
    """``audio seed 0 fold1: trained, uar 61.2%`` for a runner row."""
    what = f"{row.get('system')} seed {row.get('seed')} {row.get('fold')}: {row.get('status')}"
    if "uar" in row:
        what += f", uar {100 * float(row['uar']):.1f}%"
    return what


class GridProgress:
    """The progress display of a grid (see the module docstring).

    Args:
        budgets: ``{run key: epoch budget or None}`` for every run of the grid.
        enabled: True/None: a rich display in a terminal, plain lines otherwise; False: quiet.
        every_s: at most one plain line per row this often.
    """

    def __init__(
        self, budgets: Mapping[RunKey, int | None], enabled: bool | None = True, every_s: float = 10.0
    ) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from emofuse.progress import progress

        self.budgets = dict(budgets)
        self._seen: dict[RunKey, int] = {}
        values = list(self.budgets.values())
        self.total_epochs = sum(v for v in values if v is not None) if values and None not in values else None
        self._bar = progress(
            TextColumn("[bold]{task.fields[row]:<6}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            enabled=enabled is not False,
            every_s=every_s,
        )
        self._runs: Any = None
        self._epochs: Any = None

    def __enter__(self) -> GridProgress:
        self._bar.__enter__()
        self._runs = self._bar.add_task("runs", total=len(self.budgets), row="runs")
        if self.total_epochs:
            self._epochs = self._bar.add_task("epochs", total=self.total_epochs, row="epochs")
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bar.__exit__(*exc)

    def started(self, key: RunKey, description: str) -> None:
        """A run started (shown beside the runs row)."""
        self._bar.update(self._runs, description=description)

    def epoch(self, key: RunKey, epoch: int, log_name: str = "train") -> None:
        """Run ``key`` finished its ``epoch``-th training epoch."""
        budget = self.budgets.get(key)
        if log_name != "train" or self._epochs is None or budget is None:
            return
        new = min(epoch, budget) - self._seen.get(key, 0)
        if new > 0:
            self._seen[key] = self._seen.get(key, 0) + new
            self._bar.update(
                self._epochs,
                advance=new,
                description=f"{key[0]} seed {key[1]} fold{key[2] + 1} epoch {epoch}",
            )

    def finished(self, key: RunKey, row: Mapping[str, Any]) -> None:
        """Run ``key`` ended (trained or skipped): its whole epoch budget counts."""
        if self._epochs is not None:
            rest = (self.budgets.get(key) or 0) - self._seen.get(key, 0)
            if rest > 0:
                self._seen[key] = self._seen.get(key, 0) + rest
                self._bar.update(self._epochs, advance=rest)
        self._bar.update(self._runs, advance=1, description=describe_row(row))


def grid_budgets(specs: Sequence[Any]) -> dict[RunKey, int | None]:
    """``{(system, seed, fold index): epoch budget}`` of the runner's RunSpecs."""
    return {(s.recipe.name, int(s.seed), int(s.fold_index)): planned_epochs(s.recipe) for s in specs}


__all__ = [
    "GridProgress",
    "RunKey",
    "describe_row",
    "epoch_listener",
    "grid_budgets",
    "planned_epochs",
    "report_epoch",
    "set_epoch_listener",
]
