"""Speech chunks from frame probabilities: joined across short pauses, cut below the limit, blips dropped."""

from __future__ import annotations

import numpy as np
import pytest

from emofuse.transcribe.chunks import speech_spans


def _probs(pattern: str) -> np.ndarray:
    """'#' = a speech frame (0.9), '.' = silence (0.1)."""
    return np.asarray([0.9 if c == "#" else 0.1 for c in pattern], dtype=np.float32)


def test_short_pauses_join_long_pauses_split_and_blips_go() -> None:
    probs = _probs("..####.##....###...#......")
    assert speech_spans(probs, 0.5, min_pause_frames=3, max_frames=100, min_frames=2) == [(2, 9), (13, 16)]
    # the lone frame at 19 is kept when single frames count
    assert speech_spans(probs, 0.5, 3, 100, min_frames=1)[-1] == (19, 20)


def test_long_speech_is_cut_at_its_least_speechlike_frame() -> None:
    probs = np.full(30, 0.9, dtype=np.float32)
    probs[8] = 0.55  # the dip inside the last third of the first 10 frames
    spans = speech_spans(probs, 0.5, min_pause_frames=3, max_frames=10)
    assert spans[0] == (0, 9)
    assert all(last - first <= 10 for first, last in spans)
    assert [s for s, _ in spans[1:]] == [e for _, e in spans[:-1]]  # contiguous: no speech lost
    assert spans[-1][1] == 30
    with pytest.raises(ValueError, match="max_frames"):
        speech_spans(probs, 0.5, 3, 1)
