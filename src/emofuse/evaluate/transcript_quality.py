"""The transcript study (deoliveira2023 Table 2): each system's transcripts and their WER beside its scores.

The runner gives, per system that reads text, which transcripts it trained on and their word error rate
against the corpus's human transcripts over the test utterances (:mod:`emofuse.train.report_extras`, WER by
:func:`emofuse.transcribe.wer.word_error_rate`); :func:`transcript_section` puts them in one table with the
system's metrics (median over seeds).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from emofuse.formatting import no_negative_zero

__all__ = ["transcript_section"]


def _score(metric: str, value: float) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if metric in ("accuracy", "uar"):
        return no_negative_zero(f"{100 * value:.1f}")
    return no_negative_zero(f"{value:.3f}")


def transcript_section(
    summary: Mapping[str, Mapping[str, Mapping[str, float]]],
    quality: Mapping[str, Mapping[str, Any]],
    metrics: Sequence[str],
) -> tuple[list[str], list[dict[str, Any]]]:
    """``(markdown lines, rows for report.json)``: one row per system of ``quality`` in ``summary``.

    Args:
        summary: the report's ``{system: {metric: {median, ...}}}``.
        quality: ``{system: {"transcripts": str, "wer": float | None, "n_utterances": int}}``; ``wer`` None
            for human transcripts (the reference) or when no reference was available.
        metrics: the metric columns to show beside the WER.
    """
    systems = [s for s in summary if s in quality]
    if not systems:
        return [], []
    rows = []
    lines = [
        "## Transcripts and their word error rate (deoliveira2023 Table 2)",
        "",
        "WER of each system's transcripts against the corpus's human transcripts over its test utterances "
        "(lower case, punctuation and [SIL] removed; all edits over all reference words). Scores: median over seeds.",
        "",
        "| system | transcripts | WER | " + " | ".join(metrics) + " |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in metrics) + " |",
    ]
    for system in systems:
        q = quality[system]
        wer = q.get("wer")
        scores = {m: float(summary[system][m]["median"]) for m in metrics if m in summary[system]}
        wer_cell = "-" if wer is None else no_negative_zero(f"{100 * float(wer):.1f}%")
        cells = [_score(m, scores.get(m, math.nan)) for m in metrics]
        lines.append(f"| {system} | {q.get('transcripts', '?')} | {wer_cell} | " + " | ".join(cells) + " |")
        rows.append({"system": system, **dict(q), "scores": scores})
    return [*lines, ""], rows
