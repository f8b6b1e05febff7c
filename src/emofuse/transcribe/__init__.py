"""Transcription with word timings, and silence (perez2022 "mind the gap").

- :func:`build_transcriber` makes a backend: ``"faster-whisper"`` (offline Whisper tiny.en by default),
  ``"transformers"`` (Hugging Face Whisper ids or directories), ``"align"`` (pocketsphinx forced alignment of
  a given transcript).
- :func:`emofuse.transcribe.silence.annotate` adds ``[SIL]`` tokens and silence ratios.
- :class:`TextSource` / :class:`SilenceConfig`: the backend, its decoding options and the ``[SIL]`` settings, typed.
- :func:`transcribe_table` / :func:`read_transcripts` do a whole corpus, cached and resumable;
  :func:`text_source_of` reads back the settings a transcripts table was made with.

Heavy libraries (torch, transformers, faster-whisper, pocketsphinx) are imported only when a backend runs.
"""

from __future__ import annotations

from typing import Any

from emofuse.errors import ConfigError
from emofuse.transcribe.base import Transcriber
from emofuse.transcribe.cache import TranscriptCache
from emofuse.transcribe.silence import DEFAULT_THRESHOLD_S, SIL_TOKEN, annotate
from emofuse.transcribe.source import SilenceConfig, TextSource
from emofuse.transcribe.types import Transcript, Word

#: loaded on first use: the table helpers import pandas, which `emofuse predict` / `serve` never need
_LAZY = {
    name: "emofuse.transcribe.table"
    for name in ("TRANSCRIPT_COLUMNS", "read_transcripts", "text_source_of", "transcribe_table")
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emofuse.transcribe' has no attribute {name!r}")


BACKENDS = ("faster-whisper", "transformers", "align")


def build_transcriber(backend: str = "faster-whisper", **options: Any) -> Transcriber:
    """Make a transcription backend.

    Args:
        backend: "faster-whisper", "transformers" or "align".
        **options: the backend's constructor options (see
            :class:`~emofuse.transcribe.whisper_ct2.FasterWhisperTranscriber`,
            :class:`~emofuse.transcribe.whisper_hf.TransformersWhisperTranscriber`,
            :class:`~emofuse.transcribe.align.PocketsphinxAligner`); None values are dropped.

    Raises:
        ConfigError: an unknown backend or option (the message names it).
    """
    options = {k: v for k, v in options.items() if v is not None}
    if backend == "faster-whisper":
        from emofuse.transcribe.whisper_ct2 import FasterWhisperTranscriber as cls
    elif backend == "transformers":
        from emofuse.transcribe.whisper_hf import TransformersWhisperTranscriber as cls
    elif backend == "align":
        from emofuse.transcribe.align import PocketsphinxAligner as cls
    else:
        raise ConfigError(f"unknown transcription backend {backend!r}; choose one of {list(BACKENDS)}")
    import inspect

    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown} for backend {backend!r}; it takes {sorted(accepted)}")
    if backend == "transformers" and "model" not in options:
        raise ConfigError("backend 'transformers' needs model=<Hugging Face Whisper id or local directory>")
    return cls(**options)


__all__ = [
    "BACKENDS",
    "DEFAULT_THRESHOLD_S",
    "SIL_TOKEN",
    "SilenceConfig",
    "TextSource",
    "TRANSCRIPT_COLUMNS",
    "Transcriber",
    "Transcript",
    "TranscriptCache",
    "Word",
    "annotate",
    "build_transcriber",
    "read_transcripts",
    "text_source_of",
    "transcribe_table",
]
