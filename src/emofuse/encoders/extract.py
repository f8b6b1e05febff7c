"""Filling the feature store for an utterance table: ``extract_features``.

Each utterance is keyed by content (:func:`emofuse.hashing.audio_key` of its audio span, or
:func:`emofuse.hashing.text_key` of its text), so finished entries are skipped, duplicates are computed once,
and a killed run resumes where it stopped (entries are written atomically one by one).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Mapping
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from typing import Any

import numpy as np
import pandas as pd

from emofuse.encoders.base import Encoder
from emofuse.encoders.store import FeatureStore
from emofuse.errors import ConfigError
from emofuse.hashing import audio_key, text_key
from emofuse.threads import available_cores


def _span(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def parse_shard(text: str) -> tuple[int, int]:
    """``"k/n"`` (1 <= k <= n) -> ``(k, n)``; anything else is a :class:`ConfigError` saying how to write it."""
    parts = text.split("/")
    try:
        k, n = (int(p) for p in parts)
    except ValueError:
        k = n = 0
    if len(parts) != 2 or not 1 <= k <= n:
        raise ConfigError(f"--shard {text!r}: write it as K/N with 1 <= K <= N, e.g. --shard 2/8")
    return k, n


def select_shard(table: pd.DataFrame, k: int, n: int) -> pd.DataFrame:
    """Shard ``k`` of ``n`` (1-based) of the utterances: every n-th utterance in utterance-id order, so the
    shards are disjoint, cover the table, and do not depend on the table's row order. Processes (or nodes, or
    GPUs) each extracting one shard into the same store leave the store a one-process run would (every entry is
    written atomically under its content key)."""
    order = sorted(table["utterance_id"].astype(str))
    mine = set(order[k - 1 :: n])
    return table[table["utterance_id"].astype(str).isin(mine)]


def paired_key(audio_content_key: str, text: str) -> str:
    """The store key of an (audio, transcript) pair (``audio_text`` encoders: forced phone alignment)."""
    return text_key(f"{audio_content_key}\n{text}")


def utterance_keys(
    table: pd.DataFrame, modality: str, texts: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Content key of every utterance: audio span hash (``modality="audio"``), text hash (``"text"``) or
    :func:`paired_key` of both (``"audio_text"``).

    Raises:
        ConfigError: a text encoder without ``texts``, or utterances whose text is missing (listed).
    """
    if modality in ("text", "audio_text"):
        if texts is None:
            raise ConfigError("a text encoder needs texts (utterance_id -> text): pass transcripts")
        missing = [u for u in table["utterance_id"] if texts.get(u) is None]
        if missing:
            raise ConfigError(
                f"{len(missing)} utterance(s) have no text, e.g. {missing[:10]}; give transcripts for them "
                "(emofuse transcribe) or choose another text source"
            )
        if modality == "text":
            return {u: text_key(str(texts[u])) for u in table["utterance_id"]}
    hashes: dict[str, str] = {}
    for row in table.itertuples(index=False):
        if row.audio_path is None:  # a text-only row has no audio to encode
            continue
        hashes[row.utterance_id] = audio_key(row.audio_path, _span(row.start_s), _span(row.end_s))
        if modality == "audio_text":
            hashes[row.utterance_id] = paired_key(hashes[row.utterance_id], str(texts[row.utterance_id]))  # type: ignore[index]
    return hashes


def default_workers(encoder: Encoder) -> int:
    """Workers :func:`extract_features` should use for ``encoder`` when the user did not say: a process per core
    for an encoder with ``parallel_processes`` (openSMILE), else 1 (threads of the torch encoders fight over
    small machines' cores; see the benchmark)."""
    return available_cores() if getattr(encoder, "parallel_processes", False) else 1


def extract_features(
    table: pd.DataFrame,
    encoder: Encoder,
    store: FeatureStore,
    texts: Mapping[str, str] | None = None,
    *,
    workers: int = 1,
    batch_size: int = 8,
    progress: bool = True,
) -> dict[str, str]:
    """Compute and store ``encoder``'s features for every utterance of ``table`` not yet in ``store``.

    Args:
        table: utterance table (``utterance_id``, ``audio_path``, ``start_s``, ``end_s``).
        texts: utterance id -> text, for text encoders.
        workers: batches encoded in parallel: threads (the encoders release the GIL in native code; on 2 shared
            cores, 2 threads helped the torch/ctranslate2 encoders and little else), or worker processes for an
            encoder with ``parallel_processes`` (openSMILE) and at least ``PROCESSES_FROM_ITEMS`` items to encode,
            each building its own encoder once (spawned: a
            script that calls this with workers > 1 needs Python's ``if __name__ == "__main__":`` guard, as for
            the grid's worker processes).
        batch_size: utterances per ``encode_batch`` call (and per unit of resumable work).
        progress: show a rich progress bar.

    Returns:
        utterance id -> store key (for ``store.get(encoder.encoder_id, key)``).
    """
    if workers < 1 or batch_size < 1:
        raise ConfigError(f"workers and batch_size must be >= 1 (got {workers}, {batch_size})")
    keys = utterance_keys(table, encoder.modality, texts)
    enc_id = encoder.encoder_id
    store.write_manifest(enc_id, encoder.describe())
    source: dict[str, Any] = {}
    for row in table.itertuples(index=False):
        if row.utterance_id not in keys:  # text-only row, audio encoder
            continue
        k = keys[row.utterance_id]
        if k in source or store.has(enc_id, k):
            continue
        if encoder.modality == "text":
            source[k] = str(texts[row.utterance_id])  # type: ignore[index]
        else:
            text = str(texts[row.utterance_id]) if encoder.modality == "audio_text" else None  # type: ignore[index]
            source[k] = (row.audio_path, _span(row.start_s), _span(row.end_s), text)
    todo = list(source)
    batches = [[(k, source[k]) for k in todo[i : i + batch_size]] for i in range(0, len(todo), batch_size)]
    wants_processes = getattr(encoder, "parallel_processes", False)  # duck-typed encoders: threads
    big = len(todo) >= PROCESSES_FROM_ITEMS  # a small job runs in threads: spawning costs more than it saves
    processes = workers if wants_processes and workers > 1 and len(batches) > 1 and big else 0

    with _progress(progress) as bar, _pool(encoder, store, workers, processes) as pool:
        task = bar.add_task(f"{enc_id}", total=len(keys), completed=len(keys) - len(todo)) if bar else None
        # batches always run in workers (threads, or processes for encoders that ask for them), also for
        # workers=1: on a small shared machine torch's intra-op threads in the main thread were up to 10x slower
        # (busy-waiting OpenMP barriers) than encoding in a worker thread (benchmarks/results/encoders.json); the
        # main thread only reports progress.
        if processes:
            pending: set[Future[int]] = {pool.submit(_encode_in_process, b) for b in batches}
        else:
            pending = {pool.submit(_encode_and_store, encoder, store, b) for b in batches}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)  # the bar moves per batch
                for fut in done:
                    n = fut.result()
                    if bar is not None:
                        bar.advance(task, n)
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    return keys


def _encode_and_store(encoder: Encoder, store: FeatureStore, batch: list[tuple[str, Any]]) -> int:
    """Encode one batch of ``(store key, source)`` and put each result in ``store``; returns the batch size.

    A source is the text (text encoders) or ``(audio path, start_s, end_s, text or None)``: the audio span is
    read here, once, at the encoder's own rate.
    """
    if encoder.modality == "text":
        items: list[Any] = [src for _, src in batch]
    else:
        from emofuse.audio import load_audio

        rate = encoder.sample_rate_hz
        items = [
            load_audio(p, sample_rate_hz=rate, start_s=s, end_s=e)
            if text is None
            else (load_audio(p, sample_rate_hz=rate, start_s=s, end_s=e), text)
            for _, (p, s, e, text) in batch
        ]
    arrays = encoder.encode_batch(items, encoder.sample_rate_hz)
    enc_id = encoder.encoder_id
    for (k, _), arr in zip(batch, arrays, strict=True):
        store.put(enc_id, k, np.asarray(arr))
    return len(batch)


#: fewest items to encode for which an encoder with ``parallel_processes`` gets worker processes: each spawned
#: process first imports emofuse, pandas and its encoder (about 0.8 s of CPU), while openSMILE in 2 threads
#: encoded the demo corpus's 192 clips in 2.8-3.1 s wall and 4.9-5.3 s CPU against 3.3-3.4 s and 6.0-6.2 s in 2
#: processes (2 cores); on thousands of clips the processes' freedom from the GIL pays for their start
PROCESSES_FROM_ITEMS = 500

# worker processes (encoders with ``parallel_processes``): each builds its own encoder and store once
_PROCESS: dict[str, Any] = {}


def _init_process(encoder_cls: type[Encoder], config: Any, store_root: str, dtype: str, enc_id: str) -> None:
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")  # one core per process: the processes are the parallelism
    encoder = encoder_cls(config)
    if encoder.encoder_id != enc_id:  # pragma: no cover - a config that does not round-trip
        raise RuntimeError(f"worker built encoder {encoder.encoder_id}, expected {enc_id}")
    _PROCESS.update(encoder=encoder, store=FeatureStore(store_root, dtype=dtype))  # type: ignore[arg-type]


def _encode_in_process(batch: list[tuple[str, Any]]) -> int:
    return _encode_and_store(_PROCESS["encoder"], _PROCESS["store"], batch)


@contextlib.contextmanager
def _pool(encoder: Encoder, store: FeatureStore, workers: int, processes: int) -> Iterator[Executor]:
    """``processes`` spawned worker processes (entries written atomically by each: the store is shared by
    content key, as with ``--shard``), or ``workers`` threads when ``processes`` is 0."""
    if not processes:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emofuse-encode") as threads:
            yield threads
        return
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads and torch
    init = (type(encoder), encoder.config, str(store.root), store.dtype, encoder.encoder_id)
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_init_process, initargs=init) as pool:
        yield pool


class _NoBar:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _progress(enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from emofuse.progress import progress

    return progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    )
