"""Whisper stretches a word over the pause after it; silero-vad refinement gives the pause back to [SIL]."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emofuse.audio import load_audio
from emofuse.synth import espeak_available, speak
from emofuse.transcribe.silence import annotate
from emofuse.transcribe.types import Word
from emofuse.transcribe.whisper_ct2 import refine_word_times

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")


def test_refinement_only_shortens_words_to_their_speech(tmp_path: Path) -> None:
    # "hello" (speech) then 1.5 s of digital silence; the word is claimed to last into the silence
    wave = load_audio(speak("hello", tmp_path / "hello.wav"))
    speech_s = len(wave) / 16_000
    audio = np.concatenate([wave, np.zeros(24_000, dtype=np.float32)])
    stretched = [Word("hello", 0.0, speech_s + 1.2, 0.9)]
    (refined,) = refine_word_times(stretched, audio)
    assert refined.text == "hello" and refined.confidence == 0.9
    assert 0.0 <= refined.start_s < refined.end_s
    assert refined.end_s <= speech_s + 0.1  # the silence is no longer part of the word
    # a word over pure silence keeps its times (nothing to refine against)
    silent = [Word("ghost", speech_s + 0.3, speech_s + 1.0)]
    assert refine_word_times(silent, audio) == silent


def test_short_phrases_with_pauses_get_their_sil_tokens(whisper, tmp_path: Path) -> None:  # noqa: ANN001
    # Whisper tiny.en stretches "was" over both breaks here; without refinement no [SIL] came out.
    path = speak(
        'it was <break time="800ms"/> it was <break time="1200ms"/> it was fine',
        tmp_path / "a.wav",
        ssml=True,
    )
    wave = load_audio(path)
    transcript = annotate(whisper.transcribe(wave, 16_000), wave, 16_000, vad=False)
    marked = transcript.text_with_sil or ""
    assert marked.count("[SIL]") >= 2, marked
    words = transcript.words
    assert all(a.end_s <= b.start_s for a, b in zip(words, words[1:], strict=False))
