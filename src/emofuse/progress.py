"""Progress people can trust: a rich bar with ETA in a terminal, plain periodic lines in a log.

:func:`progress` returns a context manager with rich's ``Progress`` interface (``add_task``, ``advance``,
``update``). In a terminal it is a rich bar with the given columns; when stderr is not a terminal (CI logs,
``| tee``, a notebook's captured output) rich would print nothing until the end, so a :class:`PlainProgress`
prints one line per task at most every ``every_s`` seconds, and when the task completes::

    transcribing (faster-whisper): 64/192 (33%), 21 s elapsed, about 42 s left

A task with a ``row`` field (``add_task("", total=72, row="runs")``) leads with it and ends with its description::

    runs: 5/72 (7%), 30 s elapsed, about 402 s left (audio seed 0 fold2: trained, uar 61.2%)

Disabled (``enabled=False``), it prints nothing.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["PlainProgress", "progress"]


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    last_print: float = 0.0
    finished: bool = False
    row: str | None = None


class PlainProgress:
    """Rich ``Progress``'s task interface, printing plain lines (for output that is not a terminal)."""

    def __init__(self, *, every_s: float = 10.0, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.every_s = every_s
        self.stream = stream
        self.enabled = enabled
        self.tasks: dict[int, _Task] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        for task_id, task in self.tasks.items():
            if not task.finished and task.completed and exc[0] is None:
                self._print(task_id, force=True)

    def add_task(
        self, description: str, total: float | None = None, completed: float = 0, **fields: Any
    ) -> int:
        """A task; a ``row`` field (a short name, as a rich column may show) leads its lines."""
        task_id = len(self.tasks)
        row = fields.get("row")
        self.tasks[task_id] = _Task(
            description, total, float(completed), row=None if row is None else str(row)
        )
        self.tasks[task_id].last_print = time.perf_counter()
        return task_id

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def update(
        self,
        task_id: int,
        *,
        advance: float | None = None,
        completed: float | None = None,
        total: float | None = None,
        description: str | None = None,
        **_: Any,
    ) -> None:
        task = self.tasks[task_id]
        if description is not None:
            task.description = description
        if total is not None:
            task.total = total
        if completed is not None:
            task.completed = float(completed)
        if advance:
            task.completed += float(advance)
        done = task.total is not None and task.completed >= task.total
        if done or time.perf_counter() - task.last_print >= self.every_s:
            self._print(task_id, force=done)

    def _print(self, task_id: int, force: bool = False) -> None:
        task = self.tasks[task_id]
        if task.finished or not self.enabled:
            return
        now = time.perf_counter()
        elapsed = now - task.started
        line = f"{task.row or task.description}: {task.completed:g}"
        if task.total:
            line += f"/{task.total:g} ({100 * task.completed / task.total:.0f}%)"
        line += f", {elapsed:.0f} s elapsed"
        if task.total and 0 < task.completed < task.total:
            line += f", about {elapsed / task.completed * (task.total - task.completed):.0f} s left"
        if task.row and task.description:
            line += f" ({task.description})"
        print(line, file=self.stream or sys.stderr, flush=True)
        task.last_print = now
        task.finished = force and task.total is not None and task.completed >= task.total


def progress(*columns: Any, enabled: bool = True, every_s: float = 10.0, **rich_options: Any) -> Any:
    """A rich ``Progress(*columns)`` in a terminal, a :class:`PlainProgress` otherwise (quiet when disabled)."""
    if not enabled:
        return PlainProgress(enabled=False)
    if not sys.stderr.isatty():
        return PlainProgress(every_s=every_s)
    from rich.progress import Progress

    return Progress(*columns, **rich_options)
