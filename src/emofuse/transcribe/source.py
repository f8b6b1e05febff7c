"""The text source: which ASR backend made the words and how ``[SIL]`` was put between them, as one typed object.

A :class:`TextSource` is decided once (by ``emofuse transcribe`` or a recipe's ``text_source`` block), written into
the transcripts table beside the backend id, recorded by the training runner in the run directory, stored in the
packaged model and read back by :class:`emofuse.serve.Predictor`, so a model predicts with the very words and
``[SIL]`` marks it was trained on (perez2022 studies exactly this variable). Defaults live here and only here
(the silence ones come from :mod:`emofuse.transcribe.silence`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emofuse.threads import available_cores
from emofuse.transcribe.silence import DEFAULT_THRESHOLD_S, DEFAULT_VAD

if TYPE_CHECKING:
    from emofuse.transcribe.base import Transcriber

Backend = Literal["faster-whisper", "transformers", "align"]


class SilenceConfig(BaseModel):
    """How ``[SIL]`` tokens and silence ratios are made from word timings (:func:`emofuse.transcribe.silence.annotate`).

    ``threshold_s``: the shortest gap between two words that becomes ``[SIL]``; ``leading`` / ``trailing``: also
    mark silence before the first / after the last word; ``vad``: compute silero-vad's ``vad_silence_ratio``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold_s: float = Field(default=DEFAULT_THRESHOLD_S, gt=0.0, le=10.0)
    leading: bool = False
    trailing: bool = False
    vad: bool = DEFAULT_VAD


class TextSource(BaseModel):
    """Where a text branch's words come from: the ASR backend, its decoding options and the ``[SIL]`` settings.

    ``backend``: ``faster-whisper`` (offline Whisper tiny.en when ``model`` is None), ``transformers`` (a Hugging
    Face Whisper id or directory in ``model``) or ``align`` (forced alignment of a given transcript).
    ``beam_size`` / ``temperature``: Whisper decoding (temperature 0 decodes deterministically; the
    ``transformers`` backend decodes at 0 only). ``options``: any other constructor option of the backend
    (e.g. ``{"language": "en", "vad_filter": true}``; see :func:`emofuse.transcribe.build_transcriber`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Backend = "faster-whisper"
    model: str | None = None
    beam_size: int = Field(default=5, ge=1, le=64)
    temperature: float = Field(default=0.0, ge=0.0, le=1.0)
    options: dict[str, Any] = Field(default_factory=dict)
    silence: SilenceConfig = Field(default_factory=SilenceConfig)

    @model_validator(mode="after")
    def _check(self) -> TextSource:
        reserved = sorted({"model", "beam_size", "num_beams", "temperature"} & set(self.options))
        if reserved:
            raise ValueError(
                f"options {reserved}: set them as text_source fields (model, beam_size, temperature)"
            )
        if self.backend == "align" and self.model is not None:
            raise ValueError(
                "backend 'align' takes no model (it force-aligns given transcripts with pocketsphinx)"
            )
        if self.backend == "transformers" and self.model is None:
            raise ValueError(
                "backend 'transformers' needs model: a Hugging Face Whisper id or a local directory"
            )
        if self.backend == "transformers" and self.temperature != 0.0:
            raise ValueError("backend 'transformers' decodes at temperature 0 only; set temperature: 0")
        return self

    def transcriber_options(self) -> dict[str, Any]:
        """The constructor options of the backend that this source describes."""
        if self.backend == "align":
            return dict(self.options)
        if self.backend == "transformers":
            return {"model": self.model, "num_beams": self.beam_size, **self.options}
        return {
            "model": self.model,
            "beam_size": self.beam_size,
            "temperature": self.temperature,
            **self.options,
        }

    def build(self, for_corpus: bool = False) -> Transcriber:
        """The transcriber (:func:`emofuse.transcribe.build_transcriber`) with these options.

        ``for_corpus``: the transcriber will decode many recordings at once (``emofuse transcribe``, the
        quickstart, the demo corpus): faster-whisper then decodes one packed window per core at a time
        (``decode_workers``, at most 4) unless the options set it. The words are the same (each window is decoded
        alone either way, tested); on 2 idle cores the demo corpus took RTF 0.033 instead of 0.057. A single
        recording (``predict``, ``serve``) keeps one decoder with every core's threads.
        """
        from emofuse.transcribe import build_transcriber

        options = self.transcriber_options()
        if for_corpus and self.backend == "faster-whisper" and "decode_workers" not in options:
            options["decode_workers"] = corpus_decode_workers()
        return build_transcriber(self.backend, **options)

    def differences(self, other: TextSource) -> list[str]:
        """``["silence.threshold_s: 0.5 vs 0.25", ...]``: every field (dotted) where ``self`` and ``other`` differ."""
        return _differences(self.model_dump(mode="json"), other.model_dump(mode="json"), "")


def _differences(a: dict[str, Any], b: dict[str, Any], prefix: str) -> list[str]:
    out: list[str] = []
    for key in sorted(set(a) | set(b)):
        left, right = a.get(key), b.get(key)
        if key != "options" and isinstance(left, dict) and isinstance(right, dict):
            out.extend(_differences(left, right, f"{prefix}{key}."))
        elif left != right:
            out.append(f"{prefix}{key}: {left!r} vs {right!r}")
    return out


__all__ = ["Backend", "SilenceConfig", "TextSource"]


def corpus_decode_workers(max_workers: int = 4) -> int:
    """Packed windows decoded at once when a corpus is transcribed: one per core this process may use, 1 to 4."""
    return max(1, min(max_workers, available_cores()))
