"""Transcribing a whole utterance table, resumably, into the transcripts table.

The transcripts table (``.jsonl``, or ``.csv`` with ``words`` and ``text_source`` as JSON strings) has the columns
:data:`TRANSCRIPT_COLUMNS`, one row per utterance in the order of the utterance table.

Resuming: finished rows are written in small batches as part files (each written atomically) in
``<out>.parts/``; when every row is done they are merged into ``<out>`` (atomically) and the part files removed.
A killed run therefore leaves only whole files, and the next run skips every utterance already in ``<out>`` or
a part file (with the same backend id and text source).

Every row carries ``backend`` (the transcriber's ``backend_id``) and ``text_source`` (the full
:class:`emofuse.transcribe.source.TextSource` it was made with); :func:`text_source_of` reads that back, so the
training runner knows the settings the transcripts were actually made with.

The content-keyed :class:`TranscriptCache` also makes re-runs cheap when the output file is gone.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from emofuse.errors import EmofuseError, TranscriptionError
from emofuse.hashing import audio_key
from emofuse.io import atomic_open, atomic_write_text
from emofuse.transcribe.base import MODEL_SAMPLE_RATE_HZ, Transcriber
from emofuse.transcribe.cache import TranscriptCache, cache_key
from emofuse.transcribe.silence import annotate
from emofuse.transcribe.source import SilenceConfig, TextSource
from emofuse.transcribe.types import Transcript

TRANSCRIPT_COLUMNS: tuple[str, ...] = (
    "utterance_id",
    "text",
    "text_with_sil",
    "words",
    "silence_ratio",
    "vad_silence_ratio",
    "backend",
    "duration_s",
    "text_source",
)


def _row(utterance_id: str, transcript: Transcript, settings: dict[str, Any]) -> dict[str, Any]:
    return {
        "utterance_id": utterance_id,
        "text": transcript.text,
        "text_with_sil": transcript.text_with_sil,
        "words": [
            {"text": w.text, "start_s": w.start_s, "end_s": w.end_s, "confidence": w.confidence}
            for w in transcript.words
        ],
        "silence_ratio": transcript.silence_ratio,
        "vad_silence_ratio": transcript.vad_silence_ratio,
        "backend": transcript.backend,
        "duration_s": transcript.duration_s,
        "text_source": settings,
    }


def _parts_dir(out_path: Path) -> Path:
    return out_path.with_name(out_path.name + ".parts")


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".csv":
        frame = pd.read_csv(
            path, dtype={"utterance_id": str, "text": str, "text_with_sil": str}, keep_default_na=False
        )
        rows = frame.to_dict(orient="records")
        for row in rows:
            row["words"] = json.loads(row["words"]) if row.get("words") else []
            row["text_source"] = json.loads(row["text_source"]) if row.get("text_source") else None
        return rows
    rows = []
    with open(path, encoding="utf-8") as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise TranscriptionError(
                    f"{path}, line {n}: not valid JSON ({exc}); delete the file to start over"
                ) from exc
    return rows


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    if path.suffix == ".csv":
        frame = pd.DataFrame(rows, columns=list(TRANSCRIPT_COLUMNS))
        frame["words"] = frame["words"].map(json.dumps)
        frame["text_source"] = frame["text_source"].map(json.dumps)
        with atomic_open(path, "w") as handle:
            frame.to_csv(handle, index=False)
        return
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_transcripts(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a transcripts table (``.jsonl`` or ``.csv``); ``words`` is a list of ``{text, start_s, end_s, confidence}``."""
    p = Path(path)
    if not p.is_file():
        raise TranscriptionError(f"transcripts table not found: {p} (make it with `emofuse transcribe`)")
    rows = _read_rows(p)
    frame = pd.DataFrame(rows, columns=list(TRANSCRIPT_COLUMNS))
    missing = [c for c in ("utterance_id", "text", "words") if frame[c].isna().any()]
    if missing:
        raise TranscriptionError(f"{p}: rows lack {missing}; is it a transcripts table written by emofuse?")
    frame["utterance_id"] = frame["utterance_id"].astype(str)
    for col in ("silence_ratio", "vad_silence_ratio", "duration_s"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
    return frame


def text_source_of(transcripts: pd.DataFrame, where: str = "the transcripts table") -> TextSource:
    """The :class:`TextSource` every row of a transcripts table was made with.

    Raises:
        TranscriptionError: rows without one (a table written before emofuse recorded it) or rows made with
            different settings; the message says how to re-make the table.
    """
    if "text_source" not in transcripts.columns or len(transcripts) == 0:
        raise TranscriptionError(
            f"{where} is empty or records no text source; re-make it with `emofuse transcribe`"
        )
    seen: dict[str, Any] = {}
    for uid, raw in zip(transcripts["utterance_id"], transcripts["text_source"], strict=True):
        if not isinstance(raw, dict):
            raise TranscriptionError(
                f"{where}: utterance {uid} records no text source (a table from an older emofuse); re-make it with "
                "`emofuse transcribe` (cached transcriptions make that quick)"
            )
        seen.setdefault(json.dumps(raw, sort_keys=True), uid)
    if len(seen) > 1:
        first, second = list(seen.values())[:2]
        raise TranscriptionError(
            f"{where} mixes text sources (utterances {first} and {second} differ); re-make it with one "
            "`emofuse transcribe` call"
        )
    raw = json.loads(next(iter(seen)))
    try:
        return TextSource.model_validate(raw)
    except ValueError as exc:
        raise TranscriptionError(
            f"{where}: the recorded text source is invalid ({exc}); re-make the table"
        ) from exc


def _span(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def transcribe_table(
    table: pd.DataFrame,
    transcriber: Transcriber,
    out_path: str | os.PathLike[str],
    progress: bool = True,
    *,
    text_source: TextSource,
    cache: TranscriptCache | bool | str | os.PathLike[str] = True,
    flush_every: int = 20,
    skip_errors: bool = False,
) -> pd.DataFrame:
    """Transcribe every utterance of an utterance table (:mod:`emofuse.corpus.table` schema) into ``out_path``.

    Audio is read with :func:`emofuse.audio.load_audio` over each row's ``[start_s, end_s)`` span at 16 kHz.
    A forced-alignment transcriber (``needs_text``) aligns each row's ``transcript``.

    Args:
        transcriber: the backend, built from ``text_source`` (``text_source.build()``; passed in so that one loaded
            model serves several calls).
        out_path: ``.jsonl`` (default) or ``.csv``; rows already there (same backend id and text source) are kept.
        progress: show a rich progress bar.
        text_source: the settings written into every row; its ``silence`` block makes ``[SIL]`` and the ratios.
        cache: True = :func:`emofuse.paths.transcript_cache_dir`, a path = that directory, False = no cache.
        flush_every: finished rows per part file.
        skip_errors: leave out utterances whose audio is unreadable or whose transcription fails (listed in
            ``DataFrame.attrs["errors"]``) instead of stopping at the first one.

    Returns:
        the transcripts table (:data:`TRANSCRIPT_COLUMNS`), rows in table order.

    Raises:
        AudioError / TranscriptionError naming the utterance and file.
    """
    from emofuse.audio import load_audio

    out = Path(out_path)
    parts = _parts_dir(out)
    store = (
        None
        if cache is False
        else cache
        if isinstance(cache, TranscriptCache)
        else TranscriptCache(None if cache is True else cache)
    )
    settings = text_source.model_dump(mode="json")
    table = table[table["audio_path"].notna()]  # text-only rows have their text already and no audio to hear
    ids = [str(u) for u in table["utterance_id"]]
    wanted = set(ids)

    done: dict[str, dict[str, Any]] = {}
    previous = ([out] if out.is_file() else []) + (
        sorted(parts.glob("part-*.jsonl")) if parts.is_dir() else []
    )
    for path in previous:
        for row in _read_rows(path):
            uid = str(row.get("utterance_id"))
            if (
                uid in wanted
                and row.get("backend") == transcriber.backend_id
                and row.get("text_source") == settings
            ):
                done[uid] = row

    todo = [r for r in table.itertuples(index=False) if str(r.utterance_id) not in done]
    part_index = len(list(parts.glob("part-*.jsonl"))) if parts.is_dir() else 0
    batch: list[dict[str, Any]] = []
    errors: list[str] = []

    def flush() -> None:
        nonlocal part_index, batch
        if batch:
            parts.mkdir(parents=True, exist_ok=True)
            atomic_write_text(
                parts / f"part-{part_index:06d}.jsonl", "".join(json.dumps(r) + "\n" for r in batch)
            )
            part_index += 1
            batch = []

    progress_bar = _progress(progress)
    with progress_bar:
        task = progress_bar.add_task(
            f"transcribing ({transcriber.backend_id.split('/')[0]})", total=len(ids), completed=len(done)
        )
        try:
            for first in range(0, len(todo), flush_every):
                chunk = todo[first : first + flush_every]
                results = _transcribe_rows(chunk, transcriber, store, load_audio, text_source.silence)
                for row, result in zip(chunk, results, strict=True):
                    uid = str(row.utterance_id)
                    if isinstance(result, EmofuseError):
                        if not skip_errors:
                            raise type(result)(f"utterance {uid} ({row.audio_path}): {result}") from result
                        errors.append(f"{uid}: {result}")
                        progress_bar.advance(task)
                        continue
                    row_dict = _row(uid, result, settings)
                    done[uid] = row_dict
                    batch.append(row_dict)
                    if len(batch) >= flush_every:
                        flush()
                    progress_bar.advance(task)
        finally:  # on an error or Ctrl-C the finished rows are kept in a part file for the next run
            flush()

    rows = [done[u] for u in ids if u in done]
    _write_rows(out, rows)
    shutil.rmtree(parts, ignore_errors=True)
    frame = read_transcripts(out)
    frame.attrs["errors"] = errors
    return frame


def _transcribe_rows(
    rows: list[Any],
    transcriber: Transcriber,
    store: TranscriptCache | None,
    load_audio: Any,
    silence: SilenceConfig,
) -> Iterator[Transcript | EmofuseError]:
    """Transcribe ``rows`` together when the backend packs several recordings (``transcribe_many``), else one by
    one; each result is a transcript or the error of that row (a failed batch is retried row by row)."""
    many = getattr(transcriber, "transcribe_many", None)
    if many is None or transcriber.needs_text or len(rows) < 2:
        for row in rows:  # one at a time: each is kept before the next starts
            try:
                yield _transcribe_row(row, transcriber, store, load_audio, silence)
            except EmofuseError as exc:
                yield exc
        return
    waves: dict[int, Any] = {}
    raws: dict[int, Transcript | EmofuseError] = {}
    keys: dict[int, str] = {}
    for i, row in enumerate(rows):
        start_s, end_s = _span(row.start_s), _span(row.end_s)
        try:
            waves[i] = load_audio(
                row.audio_path, sample_rate_hz=MODEL_SAMPLE_RATE_HZ, start_s=start_s, end_s=end_s
            )
        except EmofuseError as exc:
            raws[i] = exc
            continue
        if store is not None:
            keys[i] = cache_key(audio_key(row.audio_path, start_s, end_s), transcriber.backend_id, None)
            cached = store.get(keys[i])
            if cached is not None:
                raws[i] = cached
    todo = [i for i in waves if i not in raws]
    if todo:
        fresh: list[Transcript | EmofuseError]
        try:
            fresh = list(many([waves[i] for i in todo], MODEL_SAMPLE_RATE_HZ))
        except EmofuseError:
            fresh = []
            for i in todo:
                try:
                    fresh.append(transcriber.transcribe(waves[i], MODEL_SAMPLE_RATE_HZ))
                except EmofuseError as exc:
                    fresh.append(exc)
        for i, raw in zip(todo, fresh, strict=True):
            raws[i] = raw
            if store is not None and i in keys and not isinstance(raw, EmofuseError):
                store.put(keys[i], raw)
    for i in range(len(rows)):
        raw = raws[i]
        yield (
            raw
            if isinstance(raw, EmofuseError)
            else annotate(raw, waves[i], MODEL_SAMPLE_RATE_HZ, **silence.model_dump())
        )


def _transcribe_row(
    row: Any,
    transcriber: Transcriber,
    store: TranscriptCache | None,
    load_audio: Any,
    silence: SilenceConfig,
) -> Transcript:
    start_s, end_s = _span(row.start_s), _span(row.end_s)
    text = None
    if transcriber.needs_text:
        text = row.transcript
        if text is None or not str(text).strip():
            raise TranscriptionError(
                "no transcript to align; fill the table's transcript column or use an ASR backend"
            )
    wave = load_audio(row.audio_path, sample_rate_hz=MODEL_SAMPLE_RATE_HZ, start_s=start_s, end_s=end_s)
    key = (
        cache_key(audio_key(row.audio_path, start_s, end_s), transcriber.backend_id, text)
        if store is not None
        else None
    )
    raw = store.get(key) if store is not None and key else None
    if raw is None:
        raw = transcriber.transcribe(wave, MODEL_SAMPLE_RATE_HZ, text=text)
        if store is not None and key:
            store.put(key, raw)
    return annotate(raw, wave, MODEL_SAMPLE_RATE_HZ, **silence.model_dump())


def _progress(enabled: bool) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from emofuse.progress import progress

    return progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        enabled=enabled,
    )
