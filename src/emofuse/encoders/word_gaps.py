"""perez2022's own silence feature: the word-gap silence ratio of an ASR transcript, as a model input ``[1]``.

perez2022 (Interspeech 2022, "Mind the gap", Sec. 4.2) concatenates "the portion of silence in the utterance"
to BERT's [CLS] vector, computed from "unvoiced segments between word boundaries provided by ASR". That number is
the ``silence_ratio`` column of the transcripts table written by ``emofuse transcribe``
(:func:`emofuse.transcribe.silence.silence_ratio`: the part of the recording covered by no recognised word, with
the ``text_source``'s silence settings). A recipe reads it with::

    features:
      silence: {encoder: {kind: word_gap_ratio}, input: asr_silence_ratio, standardize: true}

The runner hands this encoder the column's value (``input: asr_silence_ratio``, written as text so that it is
stored and keyed like any text feature); the Predictor hands it the recording's own transcript. The audio-only
stand-in, silero-vad's non-speech ratio, stays the ``silence_ratio`` encoder (:mod:`emofuse.encoders.silence`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import numpy as np

from emofuse.encoders.base import Encoder, EncoderConfig
from emofuse.errors import ConfigError, short_repr

#: the only recipe input this encoder reads
WORD_GAP_INPUT = "asr_silence_ratio"


class WordGapRatioConfig(EncoderConfig):
    """Config of :class:`WordGapRatioEncoder` (no options: the ratio is made by ``emofuse transcribe``)."""

    kind: Literal["word_gap_ratio"] = "word_gap_ratio"


def ratio_text(value: object, where: str) -> str:
    """The transcripts' ``silence_ratio`` value as the text the encoder reads (checked: a number in [0, 1])."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: silence_ratio {short_repr(value)} is not a number") from None
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise ConfigError(
            f"{where}: silence_ratio {short_repr(value)} is not in [0, 1]; re-run `emofuse transcribe` for it"
        )
    return repr(number)


class WordGapRatioEncoder(Encoder):
    """The word-gap silence ratio as a pooled float32 ``[1]``.

    ``encode(item)`` takes the ratio as text (``"0.31"``, what the runner passes), a number, or a
    :class:`emofuse.transcribe.types.Transcript` (its ``silence_ratio``).
    """

    modality: ClassVar[Literal["text"]] = "text"
    output: ClassVar[Literal["pooled"]] = "pooled"
    code_version: ClassVar[str] = "1"
    required_input: ClassVar[str] = WORD_GAP_INPUT
    feature_names: ClassVar[tuple[str, ...]] = ("word_gap_silence_ratio",)

    config: WordGapRatioConfig

    @property
    def dim(self) -> int:
        return 1

    def _encode(self, item: Any) -> np.ndarray:
        """One utterance's ratio -> ``[1]`` float32 in [0, 1]."""
        value = getattr(item, "silence_ratio", item)
        if value is None:
            raise ConfigError(
                "the transcript has no silence_ratio; annotate it with its text source's silence"
            )
        return np.asarray([float(ratio_text(value, "word_gap_ratio"))], dtype=np.float32)
