"""Speech chunks from per-frame speech probabilities: where a long recording is cut before decoding.

:func:`speech_spans` turns silero-vad's 32 ms frame probabilities (:func:`emofuse.transcribe.vad.speech_probabilities`)
into ``[first, last)`` frame ranges of speech: runs of speech frames joined across pauses shorter than
``min_pause_frames``, cut at their least speech-like frame (in the last third of the limit) when longer than
``max_frames``, and dropped when shorter than ``min_frames``. Pure numpy; no model is loaded here.
"""

from __future__ import annotations

import numpy as np

__all__ = ["speech_spans"]


def speech_spans(
    probs: np.ndarray, threshold: float, min_pause_frames: int, max_frames: int, min_frames: int = 1
) -> list[tuple[int, int]]:
    """Speech ranges ``[first, last)`` (frame indices into ``probs`` ``[F]``), in order, each at most ``max_frames``."""
    if max_frames < 2:
        raise ValueError(f"max_frames must be at least 2, got {max_frames}")
    speech = np.asarray(probs) >= threshold
    spans: list[tuple[int, int]] = []
    i, n = 0, len(speech)
    while i < n:
        if not speech[i]:
            i += 1
            continue
        first, last, j = i, i + 1, i + 1
        while j < n and j - last < min_pause_frames and last - first < max_frames:
            if speech[j]:
                last = j + 1
            j += 1
        if last - first >= max_frames:
            lo = first + 2 * max_frames // 3
            last = lo + int(np.argmin(probs[lo : first + max_frames])) + 1
        if last - first >= min_frames:
            spans.append((first, last))
        i = last
    return spans
