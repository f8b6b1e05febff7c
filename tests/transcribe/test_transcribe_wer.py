"""Word error rate (deoliveira2023 Table 2) on strings whose edits are counted by hand."""

from __future__ import annotations

import pytest

from emofuse.errors import ConfigError
from emofuse.transcribe.wer import normalise_for_wer, word_error_rate


def test_normalisation_drops_case_punctuation_and_sil() -> None:
    assert normalise_for_wer("Well, [SIL] I'm   FINE.") == ["well", "im", "fine"]
    assert normalise_for_wer(" [SIL] ") == []


def test_wer_counts_edits_over_all_reference_words() -> None:
    refs = ["The cat sat on the mat.", "hello there", "kids are talking by the door"]
    hyps = ["the cat sat on a mat", "hello", "kids are talking by the door please now"]
    # 1 substitution (the -> a) + 1 deletion (there) + 2 insertions (please, now) over 6 + 2 + 6 words
    result = word_error_rate(refs, hyps)
    assert (result.substitutions, result.deletions, result.insertions) == (1, 1, 2)
    assert result.n_reference_words == 14 and result.n_utterances == 3
    assert result.wer == pytest.approx(4 / 14)


def test_identical_text_is_zero_and_empty_references_are_skipped() -> None:
    same = word_error_rate(["Dogs sit by the door"], ["dogs, sit by the door!"])
    assert same.wer == 0.0
    skipped = word_error_rate(["", "one two"], ["anything", "one"])
    assert skipped.n_skipped == 1 and skipped.n_utterances == 1 and skipped.wer == pytest.approx(0.5)
    assert word_error_rate(["one two"], [""]).wer == 1.0  # nothing heard: every word deleted


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="one hypothesis per reference"):
        word_error_rate(["a b"], [])
    with pytest.raises(ConfigError, match="no reference transcript"):
        word_error_rate(["", "[SIL]"], ["a", "b"])
