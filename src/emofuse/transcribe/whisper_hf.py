"""Whisper through the Hugging Face transformers ASR pipeline, for users who name Hugging Face Whisper ids.

``pipeline("automatic-speech-recognition", model=..., return_timestamps="word")`` gives word chunks with
``(start, end)`` times from cross-attention DTW (the model's ``generation_config.alignment_heads``).
Long audio is decoded in ``chunk_length_s`` windows.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np

from emofuse.errors import ModelLoadError, TranscriptionError
from emofuse.hashing import config_hash
from emofuse.transcribe.base import MODEL_SAMPLE_RATE_HZ, clean_words, make_transcript, prepare_wave
from emofuse.transcribe.types import Transcript, Word


@functools.lru_cache(maxsize=2)
def load_asr_pipeline(model: str, device: str) -> Any:
    """Build the transformers ASR pipeline once per process (cached by model and device)."""
    from transformers import pipeline

    try:
        return pipeline("automatic-speech-recognition", model=model, device=device)
    except Exception as exc:
        hint = (
            "check that the directory holds config.json, the weights and the processor files"
            if Path(model).exists()
            else "offline, download it once (`huggingface-cli download <id>`) and pass the local directory"
        )
        raise ModelLoadError(
            f"cannot load the Whisper model {model!r} with transformers: {exc}; {hint}"
        ) from exc


class TransformersWhisperTranscriber:
    """Whisper ASR with word timestamps through ``transformers.pipeline``.

    Args:
        model: a Hugging Face Whisper id ("openai/whisper-small") or a local directory saved with ``save_pretrained``.
        device: "cpu", "cuda", "cuda:0", ...
        chunk_length_s: window length for long audio (Whisper sees 30 s at a time).
        num_beams: beam width. max_new_tokens: cap on generated tokens per window (None = model default).
        language: language for multilingual models (None = the model's default or detection).
    """

    needs_text = False

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        device: str = "cpu",
        chunk_length_s: float = 30.0,
        num_beams: int = 1,
        max_new_tokens: int | None = None,
        language: str | None = None,
    ) -> None:
        if model is None:
            raise ModelLoadError(
                "the transformers backend needs a model: a Hugging Face Whisper id or a local directory"
            )
        self.model = str(model)
        self.device = device
        self.chunk_length_s = float(chunk_length_s)
        self.generate_kwargs: dict[str, Any] = {"num_beams": int(num_beams)}
        if max_new_tokens is not None:
            self.generate_kwargs["max_new_tokens"] = int(max_new_tokens)
        if language is not None:
            self.generate_kwargs["language"] = language
        label = self.model if not Path(self.model).exists() else Path(self.model).name
        self.backend_id = f"transformers/{label}/{config_hash([self.chunk_length_s, self.generate_kwargs])}"

    def transcribe(self, wave: np.ndarray, sample_rate_hz: int, text: str | None = None) -> Transcript:
        """Recognise the words in ``wave`` ``[N]`` (``text`` is ignored)."""
        audio = prepare_wave(wave, sample_rate_hz)
        duration_s = audio.size / MODEL_SAMPLE_RATE_HZ
        if audio.size == 0 or float(np.max(np.abs(audio))) == 0.0:
            return make_transcript([], duration_s, self.backend_id)
        asr = load_asr_pipeline(self.model, self.device)
        try:
            out = asr(
                {"raw": audio, "sampling_rate": MODEL_SAMPLE_RATE_HZ},
                return_timestamps="word",
                chunk_length_s=self.chunk_length_s if duration_s > self.chunk_length_s else None,
                generate_kwargs=dict(self.generate_kwargs),
            )
        except Exception as exc:
            raise TranscriptionError(
                f"the transformers Whisper pipeline failed on {duration_s:.1f} s of audio: {exc}"
            ) from exc
        chunks = out.get("chunks") or []
        words: list[Word] = []
        for i, chunk in enumerate(chunks):
            start, end = chunk.get("timestamp", (None, None))
            if start is None:
                start = words[-1].end_s if words else 0.0
            if (
                end is None
            ):  # the last word of a cut-off window has no end: use the next start or the audio end
                nxt = chunks[i + 1].get("timestamp", (None, None))[0] if i + 1 < len(chunks) else None
                end = nxt if nxt is not None else duration_s
            words.append(Word(str(chunk.get("text", "")), float(start), float(end), None))
        return make_transcript(clean_words(words, duration_s), duration_s, self.backend_id)
