"""Emotions over time: a long recording cut into speech segments, each with its transcript and emotions.

:func:`iter_speech_segments` streams a file block by block (:func:`emofuse.audio.iter_blocks`), marks speech
with silero-vad (32 ms frames) and yields segments that end at a pause of at least ``min_pause_s``; speech
running longer than ``max_segment_s`` is cut at its least speech-like frame in the last third of the window.
Only the current block and the open segment are held, so memory stays bounded however long the file is.

:func:`predict_segments` runs a :class:`~emofuse.serve.predictor.Predictor` on each segment; segments are
transcribed ``batch_size`` at a time with the ASR backend's ``transcribe_many`` where it has one (Whisper packs
short segments into shared windows). Each result is a :class:`SegmentResult` with times in seconds from the
start of the file. :func:`write_segments` writes them as CSV or JSON.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emofuse.errors import ConfigError
from emofuse.io import atomic_write_text

SAMPLE_RATE_HZ = 16_000
FRAME_SAMPLES = 512  # silero-vad's frame at 16 kHz (32 ms)


@dataclass(frozen=True)
class SegmentOptions:
    """How a recording is cut.

    Attributes:
        threshold: silero-vad speech probability above which a 32 ms frame is speech.
        min_pause_s: a pause at least this long ends a segment.
        max_segment_s: speech longer than this is cut (at its quietest frame in the last third).
        min_segment_s: speech shorter than this is dropped (clicks, breaths).
        pad_s: silence kept on each side of a segment's speech.
        block_s: seconds of audio read and run through the VAD at a time.
    """

    threshold: float = 0.5
    min_pause_s: float = 0.6
    max_segment_s: float = 15.0
    min_segment_s: float = 0.4
    pad_s: float = 0.15
    block_s: float = 64.0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"segment threshold must lie in (0, 1), got {self.threshold}")
        if not 0.0 < self.min_segment_s < self.max_segment_s:
            raise ConfigError(
                f"segments need 0 < min_segment_s < max_segment_s, got {self.min_segment_s} and {self.max_segment_s}"
            )
        if self.min_pause_s <= 0 or self.pad_s < 0 or self.block_s < 2 * self.max_segment_s / 3:
            raise ConfigError("segment options: min_pause_s > 0, pad_s >= 0 and block_s >= 2/3 max_segment_s")


@dataclass
class SegmentResult:
    """One segment: times in seconds from the start of the recording, what was said and what the model says."""

    index: int
    start_s: float
    end_s: float
    text: str
    text_with_sil: str
    top_class: str | None = None
    probabilities: dict[str, float] | None = None
    avd: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _frames(n_samples: int) -> int:
    return n_samples // FRAME_SAMPLES


def _blocks(source: str | os.PathLike[str] | np.ndarray, block_s: float) -> Iterator[np.ndarray]:
    """16 kHz mono blocks of ``block_s`` seconds from a file (streamed) or a 16 kHz waveform ``[N]``."""
    if isinstance(source, np.ndarray):
        step = max(1, int(block_s * SAMPLE_RATE_HZ))
        for start in range(0, source.size, step):
            yield np.asarray(source[start : start + step], dtype=np.float32)
        return
    from emofuse.audio import iter_blocks

    yield from iter_blocks(source, block_s, sample_rate_hz=SAMPLE_RATE_HZ)


def iter_speech_segments(
    source: str | os.PathLike[str] | np.ndarray, options: SegmentOptions | None = None
) -> Iterator[tuple[float, float, np.ndarray]]:
    """Yield ``(start_s, end_s, wave [N] float32 at 16 kHz)`` for each speech segment, in order.

    Args:
        source: an audio file (read block by block) or a mono 16 kHz waveform ``[N]``.
        options: how to cut (:class:`SegmentOptions`).
    """
    for start_s, end_s, wave, _ in _segments_with_probs(source, options):
        yield start_s, end_s, wave


def _segments_with_probs(
    source: str | os.PathLike[str] | np.ndarray, options: SegmentOptions | None = None
) -> Iterator[tuple[float, float, np.ndarray, np.ndarray]]:
    """:func:`iter_speech_segments` with each segment's silero-vad frame probabilities ``[ceil(N / 512)]`` (the
    frames of the pass that cut it, so ASR refines word times with them instead of running the VAD again)."""
    from emofuse.transcribe.vad import speech_probabilities

    opt = options or SegmentOptions()
    frame_s = FRAME_SAMPLES / SAMPLE_RATE_HZ
    pause = max(1, int(round(opt.min_pause_s / frame_s)))
    longest = max(2, int(opt.max_segment_s / frame_s))
    shortest = max(1, int(round(opt.min_segment_s / frame_s)))
    pad = int(round(opt.pad_s / frame_s))
    # the audio not yet emitted: samples from frame `origin` on, with their speech probabilities
    audio = np.zeros(0, dtype=np.float32)
    probs = np.zeros(0, dtype=np.float32)
    origin = 0
    block_frames = max(1, int(opt.block_s / frame_s))
    leftover = np.zeros(0, dtype=np.float32)

    def cut(first: int, last: int) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Frames [first, last) of the held audio, padded, as a segment (frame indices relative to origin)."""
        lo, hi = max(0, first - pad), min(len(probs), last + pad)
        wave = audio[lo * FRAME_SAMPLES : hi * FRAME_SAMPLES].copy()
        start_s = (origin + lo) * frame_s
        return start_s, start_s + wave.size / SAMPLE_RATE_HZ, wave, probs[lo:hi].copy()

    def segments(final: bool) -> Iterator[tuple[int, int]]:
        """Closed speech runs ``[first, last)`` in the held frames; the open one stays unless ``final``."""
        speech = probs >= opt.threshold
        i, n = 0, len(speech)
        while i < n:
            if not speech[i]:
                i += 1
                continue
            first, last, j = i, i + 1, i + 1
            while j < n and j - last < pause:
                if speech[j]:
                    last = j + 1
                j += 1
                if last - first >= longest:
                    break
            if last - first >= longest:
                window = probs[first + 2 * longest // 3 : first + longest]
                last = first + 2 * longest // 3 + int(np.argmin(window)) + 1
                yield first, last
                i = last
                continue
            if j >= n and not final:
                return  # still open: more speech may follow in the next block
            yield first, last
            i = last

    def drain(final: bool) -> Iterator[tuple[float, float, np.ndarray, np.ndarray]]:
        nonlocal audio, probs, origin
        consumed = 0
        for first, last in segments(final):
            consumed = last
            if last - first >= shortest:
                yield cut(first, last)
        if final:
            return
        # keep the open speech run (and its left padding), drop what lies before it
        ahead = np.flatnonzero(probs[consumed:] >= opt.threshold)
        start = consumed + int(ahead[0]) if ahead.size else len(probs)
        keep = max(0, start - pad)
        audio = audio[keep * FRAME_SAMPLES :]
        probs = probs[keep:]
        origin += keep

    for block in _blocks(source, FRAME_SAMPLES * block_frames / SAMPLE_RATE_HZ):
        block = np.concatenate([leftover, block]) if leftover.size else block
        usable = _frames(block.size) * FRAME_SAMPLES
        leftover = block[usable:]
        if usable == 0:
            continue
        audio = np.concatenate([audio, block[:usable]])
        probs = np.concatenate(
            [probs, speech_probabilities(block[:usable], SAMPLE_RATE_HZ)[: _frames(usable)]]
        )
        yield from drain(final=False)
    if leftover.size:
        tail = np.concatenate([leftover, np.zeros(FRAME_SAMPLES - leftover.size, dtype=np.float32)])
        audio = np.concatenate([audio, tail])
        probs = np.concatenate([probs, speech_probabilities(tail, SAMPLE_RATE_HZ)[:1]])
    yield from drain(final=True)


def predict_segments(
    predictor: Any,
    source: str | os.PathLike[str] | np.ndarray,
    options: SegmentOptions | None = None,
    *,
    batch_size: int = 16,
) -> Iterator[SegmentResult]:
    """Emotions of each speech segment of ``source`` (a file, or a 16 kHz waveform ``[N]``), in order.

    A generator: results come as segment batches finish, so a caller can write or show them as they come.
    """
    index = 0
    batch: list[tuple[float, float, np.ndarray, np.ndarray]] = []
    for segment in _segments_with_probs(source, options):
        batch.append(segment)
        if len(batch) >= batch_size:
            yield from _predict_batch(predictor, batch, index)
            index += len(batch)
            batch = []
    if batch:
        yield from _predict_batch(predictor, batch, index)


def _predict_batch(
    predictor: Any, batch: list[tuple[float, float, np.ndarray, np.ndarray]], first_index: int
) -> Iterator[SegmentResult]:
    import inspect

    needs_asr = getattr(predictor, "needs_asr", True)  # an audio-only package runs no ASR
    many = getattr(predictor.transcriber(), "transcribe_many", None) if needs_asr else None
    waves = [w for _, _, w, _ in batch]
    if many is None:
        transcripts: list[Any] = [None] * len(batch)
    elif "speech_probs" in inspect.signature(many).parameters:
        transcripts = many(waves, SAMPLE_RATE_HZ, speech_probs=[p for _, _, _, p in batch])
    else:
        transcripts = many(waves, SAMPLE_RATE_HZ)
    for k, ((start_s, end_s, wave, _), asr) in enumerate(zip(batch, transcripts, strict=True)):
        p = predictor.predict_wave(wave, SAMPLE_RATE_HZ, asr=asr, source=f"segment at {start_s:.2f} s")
        yield SegmentResult(
            index=first_index + k,
            start_s=round(start_s, 3),
            end_s=round(end_s, 3),
            text=p.text,
            text_with_sil=p.text_with_sil,
            top_class=p.top_class,
            probabilities=p.probabilities,
            avd=p.avd,
        )


def segment_rows(results: Iterable[SegmentResult]) -> list[dict[str, Any]]:
    """Flat rows (``p_<class>`` / ``<dim>`` columns) for CSV output."""
    rows = []
    for r in results:
        row: dict[str, Any] = {k: v for k, v in r.to_dict().items() if k not in ("probabilities", "avd")}
        row.update({f"p_{k}": round(v, 6) for k, v in (r.probabilities or {}).items()})
        row.update({k: round(v, 6) for k, v in (r.avd or {}).items()})
        rows.append(row)
    return rows


def write_segments(results: list[SegmentResult], path: str | os.PathLike[str]) -> Path:
    """Write segment results to ``path``: ``.csv`` (flat rows) or ``.json`` (a list of objects); atomic."""
    out = Path(path)
    if out.suffix.lower() == ".json":
        atomic_write_text(out, json.dumps([r.to_dict() for r in results], indent=1) + "\n")
    elif out.suffix.lower() == ".csv":
        rows = segment_rows(results)
        buffer = io.StringIO()
        fields = (
            list(rows[0]) if rows else ["index", "start_s", "end_s", "text", "text_with_sil", "top_class"]
        )
        writer = csv.DictWriter(buffer, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(out, buffer.getvalue())
    else:
        raise ConfigError(f"segments output {out} must end in .csv or .json")
    return out


__all__ = [
    "SegmentOptions",
    "SegmentResult",
    "iter_speech_segments",
    "predict_segments",
    "segment_rows",
    "write_segments",
]
