"""``emofuse transcribe``: words with times, ``[SIL]`` at the pauses and silence ratios for a file, folder or corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

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


def text_source_from_options(
    recipe: str | None,
    backend: str | None,
    model: str | None,
    align: bool,
    beam_size: int | None,
    temperature: float | None,
    threshold_s: float | None,
    leading: bool | None,
    trailing: bool | None,
    vad: bool | None,
    vad_filter: bool | None,
) -> Any:
    """The :class:`~emofuse.transcribe.source.TextSource` of a call: the recipe's (or the defaults), then each option
    the user gave on top."""
    from pydantic import ValidationError

    from emofuse.errors import ConfigError
    from emofuse.transcribe.source import TextSource

    if recipe is not None:
        from emofuse.recipes import load_recipe

        base = load_recipe(recipe).text_source
    else:
        base = TextSource()
    data = base.model_dump(mode="json")
    if align:
        backend = "align"
    if backend is not None and backend != data["backend"]:
        data.update(backend=backend, model=None, options={})
    for key, value in (("model", model), ("beam_size", beam_size), ("temperature", temperature)):
        if value is not None:
            data[key] = value
    if vad_filter is not None:
        data["options"]["vad_filter"] = vad_filter
    given = {"threshold_s": threshold_s, "leading": leading, "trailing": trailing, "vad": vad}
    data["silence"].update({k: v for k, v in given.items() if v is not None})
    try:
        return TextSource.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'text source'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"transcription settings: {problems}") from None


def transcribe(
    source: Path = typer.Argument(
        ..., help="An audio file, a folder of audio files, or a corpus table (.jsonl/.csv)."
    ),
    out: Path = typer.Option(
        Path("transcripts.jsonl"), "--out", "-o", help="Transcripts table (.jsonl or .csv)."
    ),
    recipe: str | None = typer.Option(
        None,
        "--recipe",
        "-r",
        help="Take the text source (backend, decoding, [SIL] settings) from this recipe; options given too win.",
    ),
    backend: str | None = typer.Option(
        None, "--backend", "-b", help="faster-whisper | transformers | align (default: faster-whisper)."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Whisper model directory or id (default: offline Whisper tiny.en)."
    ),
    align: bool = typer.Option(
        False,
        "--align",
        help="Force-align given transcripts (table's transcript column, or <stem>.txt files).",
    ),
    beam_size: int | None = typer.Option(None, "--beam-size", min=1, help="Whisper beam width (default 5)."),
    temperature: float | None = typer.Option(
        None, "--temperature", min=0.0, help="Whisper decoding temperature (default 0: deterministic)."
    ),
    threshold_s: float | None = typer.Option(
        None, "--threshold-s", help="Shortest gap between words marked [SIL] (s; default 0.25)."
    ),
    leading: bool | None = typer.Option(
        None, "--leading/--no-leading", help="Mark silence before the first word (default off)."
    ),
    trailing: bool | None = typer.Option(
        None, "--trailing/--no-trailing", help="Mark silence after the last word (default off)."
    ),
    vad: bool | None = typer.Option(
        None, "--vad/--no-vad", help="Compute the silero-vad silence ratio (default off)."
    ),
    vad_filter: bool | None = typer.Option(
        None, "--vad-filter/--no-vad-filter", help="faster-whisper: skip non-speech before decoding."
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
    """Transcribe speech with word times, mark pauses with [SIL] and measure silence (perez2022).

    The settings (backend, decoding, [SIL]) are written into every row of the table; `emofuse run` checks them
    against the recipe's text_source. `--recipe R` makes transcripts that fit recipe R.
    """
    from rich.console import Console
    from rich.table import Table

    from emofuse.errors import ConfigError
    from emofuse.transcribe import transcribe_table

    if out.suffix.lower() not in TABLE_SUFFIXES:
        raise ConfigError(f"--out must end in .jsonl or .csv, got {out}")
    text_source = text_source_from_options(
        recipe, backend, model, align, beam_size, temperature, threshold_s, leading, trailing, vad, vad_filter
    )
    transcriber = text_source.build(for_corpus=True)
    table = _source_table(source, align=transcriber.needs_text)
    frame = transcribe_table(
        table,
        transcriber,
        out,
        progress=progress,
        text_source=text_source,
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
    console.print(
        f"wrote {len(frame)} row(s) to {out} ({text_source.backend}, [SIL] at >= {text_source.silence.threshold_s} s)"
    )
