"""``emofuse predict``: emotions of recordings with a packaged model (transcript with [SIL], classes or A/V/D)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

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

    out = Text()
    if not text_with_sil.strip():
        out.append("(no words heard)", style="dim italic")
        return out
    for i, part in enumerate(text_with_sil.split("[SIL]")):
        if i:
            out.append("[SIL]", style="bold yellow")
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
        ..., "--model", "-m", help="Packaged model directory (config.json + model.safetensors)."
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
    allow_model: list[str] = typer.Option(
        [],
        "--allow-model",
        help="A model id or folder the package may load beyond emofuse's offline models and its own files "
        "(repeatable; only for packages you trust).",
    ),
) -> None:
    """Recognise emotion in recordings: transcript with [SIL], class probabilities and top class (or A/V/D)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from emofuse.errors import ConfigError, EmofuseError
    from emofuse.serve.predictor import Predictor

    files = collect_audio_files(inputs)
    if transcript is not None and len(files) != 1:
        raise ConfigError(
            f"--transcript applies to one recording, but {len(files)} were given; predict them one by one"
        )
    out = Console()
    err = Console(stderr=True)
    with err.status(f"loading model {model} ..."):
        predictor = Predictor.from_pretrained(
            model, asr_backend=asr_backend, asr_model=asr_model, allow_models=allow_model
        )

    if len(files) == 1:
        result = predictor.predict_file(files[0], transcript=transcript).to_dict()
        if json_lines:
            typer.echo(json.dumps({"file": str(files[0]), **result}))
        else:
            _print_one(out, files[0], result)
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
        out.print(_summary_table(rows))
    failed = [p for p, r, _ in rows if r is None]
    if failed:
        err.print(f"[bold red]{len(failed)} of {len(rows)} recording(s) failed[/] (first: {failed[0]})")
        raise typer.Exit(1)
