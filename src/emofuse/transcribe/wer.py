"""Word error rate of transcripts against reference (human) transcripts, with jiwer.

deoliveira2023 Table 2 reports each transcription method's WER beside the CCCs of the system trained on its
text. :func:`word_error_rate` scores hypotheses against references the same way for every system: lower case,
``[SIL]`` tokens and punctuation removed, spaces collapsed, then the corpus-level WER (all edits over all
reference words; jiwer's ``process_words``). Utterances whose normalised reference is empty cannot be scored
and are counted apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from emofuse.errors import ConfigError
from emofuse.transcribe.silence import SIL_TOKEN


@dataclass(frozen=True)
class WerResult:
    """Corpus-level WER and its edit counts over ``n_utterances`` scored pairs (``n_skipped``: empty references)."""

    wer: float
    n_utterances: int
    n_reference_words: int
    substitutions: int
    deletions: int
    insertions: int
    n_skipped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _transform() -> Any:
    import re

    import jiwer

    return jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.SubstituteRegexes({re.escape(SIL_TOKEN.lower()): " "}),
            jiwer.RemovePunctuation(),
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
            jiwer.ReduceToListOfListOfWords(),
        ]
    )


def normalise_for_wer(text: str) -> list[str]:
    """The words WER compares: ``"Well, [SIL] I'm FINE."`` -> ``["well", "im", "fine"]``."""
    words = _transform()([text])
    return list(words[0]) if words else []


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> WerResult:
    """Corpus-level WER of ``hypotheses`` against ``references`` (paired by position).

    Raises:
        ConfigError: the lists differ in length, or no reference has a word to score.
    """
    import jiwer

    if len(references) != len(hypotheses):
        raise ConfigError(
            f"WER needs one hypothesis per reference; got {len(references)} references and {len(hypotheses)} hypotheses"
        )
    pairs = [(r, h) for r, h in zip(references, hypotheses, strict=True) if normalise_for_wer(r)]
    if not pairs:
        raise ConfigError("no reference transcript has a word to score; WER needs human transcripts")
    refs = [r for r, _ in pairs]
    hyps = [h if normalise_for_wer(h) else "" for _, h in pairs]
    transform = _transform()
    out = jiwer.process_words(refs, hyps, reference_transform=transform, hypothesis_transform=transform)
    n_words = out.hits + out.substitutions + out.deletions
    return WerResult(
        wer=float(out.wer),
        n_utterances=len(pairs),
        n_reference_words=int(n_words),
        substitutions=int(out.substitutions),
        deletions=int(out.deletions),
        insertions=int(out.insertions),
        n_skipped=len(references) - len(pairs),
    )


__all__ = ["WerResult", "normalise_for_wer", "word_error_rate"]
