"""``emofuse predict``: emotions of recordings with a packaged model (transcript with [SIL], classes or A/V/D)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from emofuse.cli.options import allow_model_option

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".caf", ".w64")


def collect_audio_files(inputs: list[Path]) -> list[Path]:
    """Files given directly, plus the audio files (by suffix) under given folders, recursively, sorted."""
    from emofuse.errors import AudioError

    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
            if not found:
                raise AudioError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) under the folder {item}")
            files.extend(found)
        elif item.is_file():
            files.append(item)
        else:
            raise AudioError(f"audio file or folder not found: {item}")
    return files


def _styled_transcript(text_with_sil: str) -> Any:
    from rich.text import Text

    from emofuse.transcribe.silence import SIL_TOKEN

    out = Text()
    if not text_with_sil.strip():
        out.append("(no words heard)", style="dim italic")
        return out
    for i, part in enumerate(text_with_sil.split(SIL_TOKEN)):
        if i:
            out.append(SIL_TOKEN, style="bold yellow")
        out.append(part)
    return out


def _bar(fraction: float, width: int = 24) -> str:
    filled = int(round(max(0.0, min(1.0, fraction)) * width))
    return "█" * filled + "·" * (width - filled)


def _print_one(console: Any, path: Path, result: dict[str, Any]) -> None:
    from rich.table import Table

    console.print(
        f"[bold]{path}[/]  ({result['duration_s']:.2f} s, words from {result['transcript_source']})"
    )
    console.print(_styled_transcript(result["text_with_sil"]))
    if result.get("probabilities"):
        table = Table(show_header=True, header_style="bold", box=None)
        for name in ("class", "p", ""):
            table.add_column(name)
        for label, p in result["probabilities"].items():
            style = "bold green" if label == result["top_class"] else ""
            table.add_row(label, f"{p:.3f}", _bar(p), style=style)
        console.print(table)
        console.print(f"top class: [bold green]{result['top_class']}[/]")
    if result.get("avd"):
        console.print("  ".join(f"{name}: [bold]{value:.3f}[/]" for name, value in result["avd"].items()))


def _summary_table(rows: list[tuple[Path, dict[str, Any] | None, str | None]]) -> Any:
    from rich.table import Table

    first = next((r for _, r, _ in rows if r is not None), None)
    avd_names = list((first or {}).get("avd") or {})
    table = Table(title=f"{len(rows)} recording(s)", show_lines=True)
    table.add_column("file", overflow="fold")
    table.add_column("transcript", overflow="fold")
    if first is None or first.get("probabilities"):
        table.add_column("top class")
        table.add_column("p", justify="right")
    for name in avd_names:
        table.add_column(name, justify="right")
    for path, result, error in rows:
        if result is None:
            table.add_row(str(path), f"[red]error: {error}[/]", *[""] * (len(table.columns) - 2))
            continue
        cells: list[Any] = [str(path), _styled_transcript(result["text_with_sil"])]
        if result.get("probabilities"):
            cells += [result["top_class"], f"{result['probabilities'][result['top_class']]:.3f}"]
        cells += [f"{result['avd'][n]:.3f}" for n in avd_names]
        table.add_row(*cells)
    return table


def predict(
    inputs: list[Path] = typer.Argument(
        ..., help="Audio files and/or folders of audio files.", show_default=False
    ),
    model: Path = typer.Option(
        ...,
        "--model",
        "-m",
        help="Packaged model directory (config.json + model.safetensors), or a Hub repository id (online).",
    ),
    transcript: str | None = typer.Option(
        None,
        "--transcript",
        "-t",
        help="What was said (one recording only); used instead of speech recognition.",
    ),
    asr_backend: str | None = typer.Option(
        None, "--asr-backend", help="ASR backend instead of the model's own: faster-whisper | transformers."
    ),
    asr_model: str | None = typer.Option(
        None,
        "--asr-model",
        help="ASR model directory (or id, online) for that backend; default: the model's own.",
    ),
    json_lines: bool = typer.Option(
        False, "--json", help="Print one JSON object per recording (JSON lines)."
    ),
    allow_model: list[str] = allow_model_option(),
    segments: bool = typer.Option(
        False,
        "--segments",
        help="Emotions over time: cut each recording at pauses (silero-vad) and predict every segment.",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="With --segments: write the segments to this .csv or .json file."
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="With --segments: draw the emotions-over-time timeline to this .png file."
    ),
    max_segment_s: float = typer.Option(
        15.0, "--max-segment-s", min=1.0, max=30.0, help="With --segments: longest segment (seconds)."
    ),
    min_pause_s: float = typer.Option(
        0.6, "--min-pause-s", min=0.1, max=10.0, help="With --segments: a pause this long ends a segment."
    ),
    speaker_reference: Path | None = typer.Option(
        None,
        "--speaker-reference",
        help="A recording of the speaker for models trained on a speaker's mean embedding (makiuchi2021); "
        "default: each recording's own embedding.",
    ),
) -> None:
    """Recognise emotion in recordings: transcript with [SIL], class probabilities and top class (or A/V/D)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from emofuse.errors import ConfigError, EmofuseError
    from emofuse.serve.predictor import Predictor

    files = collect_audio_files(inputs)
    if not segments and (out is not None or plot is not None):
        raise ConfigError("--out and --plot write segments: add --segments")
    if segments:
        if transcript is not None:
            raise ConfigError("--transcript does not apply to --segments (each segment is transcribed)")
        if len(files) != 1 and (out is not None or plot is not None):
            raise ConfigError(f"--out/--plot take one recording with --segments, but {len(files)} were given")
        if out is not None and out.suffix.lower() not in (".csv", ".json"):
            raise ConfigError(f"--out {out}: use a .csv or .json file name")
        if plot is not None and plot.suffix.lower() != ".png":
            raise ConfigError(f"--plot {plot}: use a .png file name")
    if transcript is not None and len(files) != 1:
        raise ConfigError(
            f"--transcript applies to one recording, but {len(files)} were given; predict them one by one"
        )
    out_console = Console()
    err = Console(stderr=True)
    with err.status(f"loading model {model} ..."):
        extra = {} if speaker_reference is None else {"speaker_reference": speaker_reference}
        # the encoders are built in the background while the first recording is decoded and transcribed
        predictor = Predictor.from_pretrained(
            model,
            asr_backend=asr_backend,
            asr_model=asr_model,
            allow_models=allow_model,
            background=True,
            **extra,
        )

    if segments:
        from emofuse.serve.segments import SegmentOptions

        options = SegmentOptions(max_segment_s=max_segment_s, min_pause_s=min_pause_s)
        for path in files:
            _predict_segments(
                predictor, path, options, out, plot, json_lines, out_console=out_console, err=err
            )
        return

    if len(files) == 1:
        result = predictor.predict_file(files[0], transcript=transcript).to_dict()
        if json_lines:
            typer.echo(json.dumps({"file": str(files[0]), **result}))
        else:
            _print_one(out_console, files[0], result)
        return

    rows: list[tuple[Path, dict[str, Any] | None, str | None]] = []
    progress = Progress(
        TextColumn("[bold]predict"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("{task.description}"),
        console=err, transient=True,
    )  # fmt: skip
    with progress:
        task = progress.add_task("", total=len(files))
        for path in files:
            progress.update(task, description=path.name)
            try:
                result: dict[str, Any] | None = predictor.predict_file(path).to_dict()
                error = None
            except EmofuseError as exc:
                result, error = None, str(exc)
            rows.append((path, result, error))
            if json_lines:
                record = (
                    {"file": str(path), **result}
                    if result is not None
                    else {"file": str(path), "error": error}
                )
                typer.echo(json.dumps(record))
            progress.advance(task)
    if not json_lines:
        out_console.print(_summary_table(rows))
    failed = [p for p, r, _ in rows if r is None]
    if failed:
        err.print(f"[bold red]{len(failed)} of {len(rows)} recording(s) failed[/] (first: {failed[0]})")
        raise typer.Exit(1)


def _predict_segments(
    predictor: Any,
    path: Path,
    options: Any,
    out: Path | None,
    plot: Path | None,
    json_lines: bool,
    *,
    out_console: Any,
    err: Any,
) -> None:
    """``predict --segments`` for one recording: progress over its duration, then a table, CSV/JSON and plot."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.table import Table

    from emofuse.audio import audio_info
    from emofuse.serve.segments import predict_segments, write_segments

    duration_s = audio_info(path).duration_s
    results = []
    progress = Progress(
        TextColumn(f"[bold]{path.name}"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True,
    )  # fmt: skip
    with progress:
        task = progress.add_task("", total=duration_s)
        for segment in predict_segments(predictor, path, options):
            results.append(segment)
            progress.update(task, completed=min(duration_s, segment.end_s))
            if json_lines:
                typer.echo(json.dumps({"file": str(path), **segment.to_dict()}))
    if out is not None:
        write_segments(results, out)
    if plot is not None:
        from emofuse.evaluate.plots import plot_timeline

        if results:
            plot_timeline([r.to_dict() for r in results], plot, title=f"{path.name}: emotions over time")
    if json_lines:
        return
    table = Table(title=f"{path} ({duration_s:.1f} s): {len(results)} speech segment(s)", show_lines=False)
    for name in ("start", "end", "emotion", "transcript"):
        table.add_column(name, justify="right" if name in ("start", "end") else "left", overflow="fold")
    for r in results[:200]:
        if r.probabilities:
            emotion = f"{r.top_class} {100 * r.probabilities[r.top_class or '']:.0f}%"
        else:
            emotion = "  ".join(f"{k[:1].upper()} {v:.2f}" for k, v in (r.avd or {}).items())
        table.add_row(f"{r.start_s:.2f}", f"{r.end_s:.2f}", emotion, _styled_transcript(r.text_with_sil))
    out_console.print(table)
    if len(results) > 200:
        out_console.print(f"... {len(results) - 200} more segment(s)" + (f" in {out}" if out else ""))
    if out is not None:
        out_console.print(f"segments: {out}")
    if plot is not None:
        out_console.print(f"timeline: {plot}" if results else "timeline: none (no speech found)")
