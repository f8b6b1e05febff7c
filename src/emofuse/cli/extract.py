"""``emofuse extract``: fill the feature store for a corpus with one or more encoders (or a recipe's)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

TEXT_SOURCES = ("transcript", "asr", "asr_sil", "asr_silence_ratio")


def _expand_specs(specs: list[str]) -> list[tuple[str, Any, str | None]]:
    """(label, spec, text source or None) for each argument; a YAML path expands to its recipe's encoders."""

    out: list[tuple[str, Any, str | None]] = []
    for raw in specs:
        is_json = raw.lstrip().startswith("{")
        # a recipe: a YAML path, or a packaged name such as pepino2020/ef_ws (spec strings never hold "/")
        if not is_json and (raw.endswith((".yaml", ".yml")) or "/" in raw or Path(raw).is_file()):
            from emofuse.recipes import load_recipe

            recipe = load_recipe(raw)
            for branch, feature in recipe.features.items():
                if isinstance(feature.encoder, dict) and feature.encoder.get("adapt") is not None:
                    from emofuse.errors import ConfigError

                    raise ConfigError(
                        f"{raw}: features.{branch}.encoder adapts the model first (adapt); `emofuse run` runs that "
                        f"stage, or make the model with `emofuse adapt-text` and set features.{branch}.encoder.model"
                    )
                source = feature.input
                out.append(
                    (f"{Path(raw).stem}:{branch}", feature.encoder, None if source == "audio" else source)
                )
        else:
            out.append((raw, json.loads(raw) if is_json else raw, None))
    return out


def _texts(table: Any, transcripts: Path | None, source: str) -> dict[str, str]:
    """utterance id -> text from the table's transcripts or an ASR transcripts table."""
    from emofuse.errors import ConfigError

    if source not in TEXT_SOURCES:
        raise ConfigError(f"--text-source must be one of {list(TEXT_SOURCES)}, got {source!r}")
    if source == "transcript":
        return {
            u: t for u, t in zip(table["utterance_id"], table["transcript"], strict=True) if t is not None
        }
    if transcripts is None:
        raise ConfigError(
            f"--text-source {source} needs --transcripts (a table written by `emofuse transcribe`)"
        )
    from emofuse.transcribe.table import read_transcripts

    frame = read_transcripts(transcripts)
    if source == "asr_silence_ratio":  # the word-gap ratio, as the word_gap_ratio encoder reads it
        from emofuse.train.data import branch_texts

        return branch_texts(table, source, frame)
    column = "text" if source == "asr" else "text_with_sil"
    if source == "asr_sil" and frame[column].isna().all():
        raise ConfigError(f"{transcripts} has no text_with_sil column values; re-run `emofuse transcribe`")
    return {
        str(u): str(t) for u, t in zip(frame["utterance_id"], frame[column], strict=True) if t is not None
    }


def extract(
    specs: list[str] = typer.Argument(
        ...,
        help="Encoder specs: a name (opensmile.pepino_lld, spectral.mel128, whisper, text, speaker, ...), "
        'a JSON dict (\'{"kind": "ssl", "model": "DIR"}\') or a recipe YAML.',
        metavar="ENCODER_SPEC...",
    ),
    corpus: Path = typer.Option(
        ..., "--corpus", help="Utterance table (.jsonl/.csv) from `emofuse corpus export`."
    ),
    transcripts: Path | None = typer.Option(
        None, "--transcripts", help="Transcripts table from `emofuse transcribe`."
    ),
    text_source: str = typer.Option(
        "transcript",
        "--text-source",
        help="Text for text encoders: transcript|asr|asr_sil (asr_silence_ratio: the word_gap_ratio encoder).",
    ),
    store: Path | None = typer.Option(
        None, "--store", help="Feature store directory (default: the emofuse cache)."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Workers encoding in parallel: threads, or processes for openSMILE."
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Utterances per encoder batch."),
    float16: bool = typer.Option(False, "--float16", help="Store new entries as float16 (half the disk)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    shard: str | None = typer.Option(
        None,
        "--shard",
        help="Extract only shard K/N of the utterances (e.g. 2/8): run N processes, GPUs or nodes, one shard "
        "each, into the same store; together they fill it as one process would.",
        metavar="K/N",
    ),
) -> None:
    """Compute features for every utterance of a corpus, skipping those already in the store."""
    from rich.console import Console
    from rich.table import Table

    from emofuse.corpus.table import check_audio_exists, read_table
    from emofuse.encoders import FeatureStore, build_encoder, encoder_id_of, extract_features, utterance_keys

    console = Console(stderr=True)
    table = read_table(corpus)
    if shard is not None:
        from emofuse.encoders.extract import parse_shard, select_shard

        table = select_shard(table, *parse_shard(shard))
    table, _ = check_audio_exists(table)
    fs = FeatureStore(store, dtype="float16" if float16 else "float32")
    summary = Table(title=f"feature store {fs.root}")
    for col in ("spec", "encoder id", "shape", "utterances", "computed", "seconds"):
        summary.add_column(col, overflow="fold")
    for label, spec, source in _expand_specs(specs):
        start = time.perf_counter()
        enc_id, modality = encoder_id_of(spec)
        if modality == "audio_text":  # phone alignment: the audio with the table's transcript
            texts: dict[str, str] | None = _texts(table, transcripts, "transcript")
        else:
            texts = _texts(table, transcripts, source or text_source) if modality == "text" else None
        keys = utterance_keys(table, modality, texts)
        before = len(fs.keys(enc_id))
        if all(fs.has(enc_id, k) for k in keys.values()):
            output = (fs.manifest(enc_id) or {}).get("output", "?")  # all cached: no model is loaded
        else:
            encoder = build_encoder(spec)
            keys = extract_features(
                table, encoder, fs, texts=texts, workers=workers, batch_size=batch_size, progress=progress
            )
            output = encoder.output
        seconds = time.perf_counter() - start
        computed = len(fs.keys(enc_id)) - before
        first = fs.get(enc_id, next(iter(keys.values()))) if keys else None
        summary.add_row(
            label,
            enc_id,
            f"{output} {list(first.shape) if first is not None else '-'}",
            str(len(keys)),
            str(computed),
            f"{seconds:.1f}",
        )
    console.print(summary)
