"""Errors and warnings of the evaluation stage."""

from __future__ import annotations

from emofuse.errors import EmofuseError


class EvaluationError(EmofuseError, ValueError):
    """Metric inputs or a predictions table are malformed (wrong shapes, unknown labels, missing columns).

    Messages name the argument, column or row and say what to do. It is also a ``ValueError`` so that code
    written against plain numpy/sklearn conventions keeps working.
    """


class MetricWarning(UserWarning):
    """A metric is undefined for part of its input (a class absent from a fold, a single-class fold) and
    was computed on what is defined, or returned NaN. The message says which part and why."""
