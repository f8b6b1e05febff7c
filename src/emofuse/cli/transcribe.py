"""``emofuse transcribe``: words with times, ``[SIL]`` at the pauses and silence ratios for a file, folder or corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

# emofuse.transcribe.silence.DEFAULT_THRESHOLD_S, repeated so that `emofuse --help` does not import pandas
# (tests/transcribe/test_transcribe_cli.py checks that the two agree)
DEFAULT_THRESHOLD_S = 0.25

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3")
TABLE_SUFFIXES = (".jsonl", ".csv")


def _source_table(source: Path, align: bool) -> Any:
    """An utterance table for a corpus table, one audio file, or every audio file under a folder.

    With ``align`` a file or folder takes its transcript from ``<stem>.txt`` beside each audio file.
    """
    from emofuse.corpus.table import check_audio_exists, make_table, read_table
    from emofuse.errors import CorpusError

    if not source.exists():
        raise CorpusError(
            f"{source} does not exist; give an audio file, a folder of audio files or a corpus table"
        )
    if source.is_file() and source.suffix.lower() in TABLE_SUFFIXES:
        table, _ = check_audio_exists(read_table(source))
        if align and table["transcript"].isna().any():
            bad = table.loc[table["transcript"].isna(), "utterance_id"].tolist()[:10]
            raise CorpusError(f"--align needs a transcript for every row of {source}; rows {bad} have none")
        return table
    if source.is_file():
        files, root = [source], source.parent
    else:
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
        root = source
        if not files:
            raise CorpusError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) found in folder {source}")
    records = []
    for path in files:
        transcript = None
        if align:
            sidecar = path.with_suffix(".txt")
            if not sidecar.is_file():
                raise CorpusError(
                    f"--align needs the transcript of {path} in {sidecar} (or pass a corpus table)"
                )
            transcript = sidecar.read_text(encoding="utf-8").strip()
        uid = path.relative_to(root).with_suffix("").as_posix()
        records.append({"utterance_id": uid, "audio_path": str(path.resolve()), "transcript": transcript})
    return make_table(records, corpus="files")


def _words_with_times(words: list[dict[str, Any]], limit: int = 40) -> str:
    shown = " ".join(f"{w['text']}[{w['start_s']:.2f}-{w['end_s']:.2f}]" for w in words[:limit])
    return shown + (" ..." if len(words) > limit else "")


def transcribe(
    source: Path = typer.Argument(
        ..., help="An audio file, a folder of audio files, or a corpus table (.jsonl/.csv)."
    ),
    out: Path = typer.Option(
        Path("transcripts.jsonl"), "--out", "-o", help="Transcripts table (.jsonl or .csv)."
    ),
    backend: str = typer.Option(
        "faster-whisper", "--backend", "-b", help="faster-whisper | transformers | align."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Whisper model directory or id (default: offline Whisper tiny.en)."
    ),
    align: bool = typer.Option(
        False,
        "--align",
        help="Force-align given transcripts (table's transcript column, or <stem>.txt files).",
    ),
    threshold_s: float = typer.Option(
        DEFAULT_THRESHOLD_S, "--threshold-s", help="Shortest gap between words marked [SIL] (s)."
    ),
    leading: bool = typer.Option(False, "--leading/--no-leading", help="Mark silence before the first word."),
    trailing: bool = typer.Option(
        False, "--trailing/--no-trailing", help="Mark silence after the last word."
    ),
    vad: bool = typer.Option(True, "--vad/--no-vad", help="Compute the silero-vad silence ratio."),
    vad_filter: bool = typer.Option(
        False, "--vad-filter", help="faster-whisper: skip non-speech before decoding."
    ),
    cache_dir: Path | None = typer.Option(
        None,
        "--cache-dir",
        help="Transcript cache (default $EMOFUSE_CACHE_DIR/transcripts or ~/.cache/emofuse/transcripts).",
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the transcript cache."),
    skip_errors: bool = typer.Option(
        False, "--skip-errors", help="Leave out unreadable files instead of stopping."
    ),
    show: int = typer.Option(20, "--show", help="Rows to print (0 = none)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Transcribe speech with word times, mark pauses with [SIL] and measure silence (perez2022)."""
    from rich.console import Console
    from rich.table import Table

    from emofuse.errors import ConfigError
    from emofuse.transcribe import build_transcriber, transcribe_table

    if align:
        backend = "align"
    if backend == "align" and model is not None:
        raise ConfigError("--model does not apply to forced alignment (--align / --backend align)")
    if out.suffix.lower() not in TABLE_SUFFIXES:
        raise ConfigError(f"--out must end in .jsonl or .csv, got {out}")
    options: dict[str, Any] = {"model": model}
    if backend == "faster-whisper":
        options["vad_filter"] = vad_filter
    transcriber = build_transcriber(backend, **options)
    table = _source_table(source, align=transcriber.needs_text)
    frame = transcribe_table(
        table,
        transcriber,
        out,
        progress=progress,
        threshold_s=threshold_s,
        leading=leading,
        trailing=trailing,
        vad=vad,
        cache=False if no_cache else (cache_dir if cache_dir is not None else True),
        skip_errors=skip_errors,
    )
    console = Console()
    if show > 0:
        view = Table(title=f"{len(frame)} utterance(s), backend {transcriber.backend_id}", show_lines=True)
        for name in ("utterance_id", "text_with_sil", "words (s)", "silence", "vad silence"):
            view.add_column(name, overflow="fold")
        for row in frame.head(show).itertuples(index=False):
            view.add_row(
                row.utterance_id,
                row.text_with_sil or "",
                _words_with_times(row.words),
                f"{row.silence_ratio:.2f}",
                "-" if row.vad_silence_ratio != row.vad_silence_ratio else f"{row.vad_silence_ratio:.2f}",
            )
        console.print(view)
    for err in frame.attrs.get("errors", []):
        console.print(f"[yellow]skipped[/] {err}")
    console.print(f"wrote {len(frame)} row(s) to {out}")
