"""Forced alignment of a known transcript with pocketsphinx, on real espeak-ng speech with planted pauses."""

from __future__ import annotations

import numpy as np
import pytest

from emofuse.errors import ConfigError, TranscriptionError
from emofuse.transcribe.align import tokenize
from emofuse.transcribe.silence import annotate

TOLERANCE_S = 0.15


@pytest.fixture(scope="module")
def aligned(aligner, planted):  # noqa: ANN001, ANN201
    # the given transcript keeps its capitals and punctuation; alignment works on the dictionary forms
    text = ", ".join(p.capitalize() for p in planted.phrases) + "."
    return annotate(aligner.transcribe(planted.wave, 16_000, text=text), planted.wave, 16_000, vad=False)


def test_alignment_boundaries_match_the_planted_pauses(aligned, planted) -> None:  # noqa: ANN001
    words = aligned.words
    assert len(words) == len(planted.text.split())
    # phrase k ends right before pause k, phrase k+1 starts right after it
    ends = np.cumsum([len(p.split()) for p in planted.phrases])
    for k, (pause_start, pause_end) in enumerate(planted.pauses_s):
        last, first = words[ends[k] - 1], words[ends[k]]
        assert abs(last.end_s - pause_start) <= TOLERANCE_S, (last, pause_start)
        assert abs(first.start_s - pause_end) <= TOLERANCE_S, (first, pause_end)


def test_aligned_text_keeps_the_given_spelling_and_marks_pauses(aligned, planted) -> None:  # noqa: ANN001
    assert aligned.words[0].text == "It"
    assert aligned.words[-1].text == "happy."
    expected = " [SIL] ".join(p.capitalize() + "," for p in planted.phrases)[:-1] + "."
    assert aligned.text_with_sil == expected
    assert aligned.backend == "align/pocketsphinx/en-us/error"
    starts = [w.start_s for w in aligned.words]
    assert starts == sorted(starts) and all(w.end_s > w.start_s for w in aligned.words)


def test_out_of_dictionary_words_are_named(aligner, planted) -> None:  # noqa: ANN001
    text = planted.text.replace("brother", "brother zorblax")
    with pytest.raises(TranscriptionError, match="zorblax"):
        aligner.transcribe(planted.wave, 16_000, text=text)
    from emofuse.transcribe import build_transcriber

    skipping = build_transcriber("align", oov="skip")
    out = skipping.transcribe(planted.wave, 16_000, text=text)
    assert out.extra["skipped_words"] == ["zorblax"]
    assert [w.text for w in out.words] == planted.text.split()


def test_alignment_needs_text_and_sound(aligner) -> None:  # noqa: ANN001
    with pytest.raises(TranscriptionError, match="transcript"):
        aligner.transcribe(np.zeros(16_000, np.float32), 16_000)
    with pytest.raises(TranscriptionError, match="silent"):
        aligner.transcribe(np.zeros(16_000, np.float32), 16_000, text="hello there")
    with pytest.raises(ConfigError, match="oov"):
        from emofuse.transcribe import build_transcriber

        build_transcriber("align", oov="guess")


def test_tokenize_keeps_originals_and_dictionary_forms() -> None:
    assert tokenize("Well-known  \u201cfacts\u201d, don\u2019t -- they?") == [
        ("Well", "well"),
        ("known", "known"),
        ("\u201cfacts\u201d,", "facts"),
        ("don't", "don't"),
        ("they?", "they"),
    ]
