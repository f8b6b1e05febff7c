"""[SIL] insertion and silence ratios from word timings (pure logic, no models)."""

from __future__ import annotations

import numpy as np
import pytest

from emofuse.transcribe.silence import DEFAULT_THRESHOLD_S, annotate, silence_ratio, text_with_silence
from emofuse.transcribe.types import Transcript, Word


def words(*spans: tuple[str, float, float]) -> list[Word]:
    return [Word(t, s, e) for t, s, e in spans]


PEREZ = words(
    ("it", 0.0, 0.2),
    ("was", 0.8, 1.0),  # 0.6 s gap
    ("it", 1.05, 1.2),
    ("was", 1.2, 1.4),
    ("it", 2.0, 2.2),  # 0.6 s gap
    ("was", 2.25, 2.5),
)


def test_perez_example_reproduced() -> None:
    assert text_with_silence(PEREZ, 3.0) == "it [SIL] was it was [SIL] it was"


def test_threshold_is_inclusive_and_configurable() -> None:
    ws = words(("a", 0.0, 1.0), ("b", 1.25, 2.0), ("c", 2.249, 3.0))
    assert (
        text_with_silence(ws, 3.0, threshold_s=0.25) == "a [SIL] b c"
    )  # 0.25 s gap counts, 0.249 s does not
    assert text_with_silence(ws, 3.0, threshold_s=0.2) == "a [SIL] b [SIL] c"
    assert text_with_silence(ws, 3.0, threshold_s=0.3) == "a b c"
    with pytest.raises(ValueError):
        text_with_silence(ws, 3.0, threshold_s=0.0)


def test_leading_and_trailing_options() -> None:
    ws = words(("hello", 0.5, 1.0), ("there", 1.1, 1.6))
    assert text_with_silence(ws, 2.5) == "hello there"
    assert text_with_silence(ws, 2.5, leading=True) == "[SIL] hello there"
    assert text_with_silence(ws, 2.5, trailing=True) == "hello there [SIL]"
    assert (
        text_with_silence(ws, 1.7, leading=True, trailing=True) == "[SIL] hello there"
    )  # 0.1 s at the end is short


def test_overlapping_words_get_no_token() -> None:
    ws = words(("a", 0.0, 1.0), ("b", 0.9, 1.5))
    assert text_with_silence(ws, 2.0) == "a b"


def test_silence_ratio_counts_uncovered_time() -> None:
    assert silence_ratio(words(("a", 0.0, 1.0), ("b", 2.0, 3.0)), 4.0) == pytest.approx(0.5)
    assert silence_ratio(words(("a", 0.0, 2.0), ("b", 1.0, 3.0)), 4.0) == pytest.approx(
        0.25
    )  # overlap counted once
    assert silence_ratio(words(("a", 3.5, 9.0)), 4.0) == pytest.approx(0.875)  # clipped to the utterance
    assert silence_ratio([], 4.0) == 1.0
    assert silence_ratio([], 0.0) == 1.0


def test_annotate_fills_fields_without_vad() -> None:
    t = Transcript(text="it was it was it was", words=PEREZ, duration_s=3.0, backend="test")
    wave = np.zeros(3 * 16_000, dtype=np.float32)
    out = annotate(t, wave, 16_000, vad=False)
    assert out.text_with_sil == "it [SIL] was it was [SIL] it was"
    assert out.silence_ratio == pytest.approx(1 - 1.2 / 3.0)  # words cover 1.2 s of 3 s
    assert out.vad_silence_ratio is None
    assert out.extra["silence"]["threshold_s"] == DEFAULT_THRESHOLD_S
    assert t.text_with_sil is None  # the input is not modified
    with pytest.raises(ValueError):
        annotate(t, None, 16_000, vad=True)


def test_vad_ratio_tracks_speech_share(planted) -> None:  # noqa: ANN001
    from emofuse.transcribe.vad import vad_silence_ratio

    pause_s = sum(e - s for s, e in planted.pauses_s)
    total_s = len(planted.wave) / 16_000
    ratio = vad_silence_ratio(planted.wave, 16_000)
    # the planted pauses are non-speech; espeak's phrases themselves are mostly speech
    assert pause_s / total_s - 0.05 <= ratio <= pause_s / total_s + 0.25
    padded = np.concatenate([planted.wave, np.zeros(len(planted.wave), dtype=np.float32)])
    assert vad_silence_ratio(padded, 16_000) > ratio + 0.3
    assert vad_silence_ratio(np.zeros(16_000, dtype=np.float32), 16_000) == 1.0
    assert vad_silence_ratio(np.zeros(0, dtype=np.float32), 16_000) == 1.0
