"""``emofuse corpus``: read corpora, show what they hold, make evaluation splits, check them for leaks."""

from __future__ import annotations

import contextlib
import functools
import inspect as pyinspect
import math
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from emofuse.errors import ConfigError, EmofuseError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _out() -> Console:
    """A console made per call, so the terminal width (COLUMNS) of the moment is used."""
    return Console()


def _err() -> Console:
    return Console(stderr=True)


KindArg = Annotated[
    str,
    typer.Argument(
        help="Corpus kind: iemocap, msp_podcast, ravdess, crema_d, emodb, manifest, hf or audformat."
    ),
]
RootArg = Annotated[
    Path,
    typer.Argument(
        help="Corpus root folder (manifest: the CSV/JSONL file; hf: a save_to_disk folder or a Hub id; "
        "audformat: the folder with db.yaml)."
    ),
]
StrictOpt = Annotated[
    bool,
    typer.Option("--strict", help="Fail (exit 1) when train and test share speakers, scripts or utterances."),
]
StrictTextOpt = Annotated[
    bool, typer.Option("--strict-transcripts", help="With --strict, identical transcripts fail too.")
]
MinWordsOpt = Annotated[
    int, typer.Option("--min-words", help="Compare only transcripts with at least this many words.", min=1)
]


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """emofuse errors -> one red line and exit code 2 (as emofuse.cli.main does)."""
    try:
        yield
    except EmofuseError as exc:
        from emofuse.cli.boundary import fail

        fail(exc, 2)


@dataclass(frozen=True)
class CorpusOptions:
    """The options every ``emofuse corpus`` command reads a corpus with (declared once, in :func:`corpus_options`)."""

    skip_missing: bool = False
    merge_excited: bool = False
    drop_no_agreement: bool = False
    classes: str | None = None
    label_map: str | None = None
    mapping: str | None = None
    include_song: bool = False
    verify_audio: bool = True
    dataset_split: str | None = None
    audio_dir: Path | None = None


# (name, type, typer.Option): the corpus options, declared once and added to each command by corpus_options
_CORPUS_OPTIONS: list[tuple[str, Any, Any]] = [
    ("skip_missing", bool, typer.Option(False, "--skip-missing", help="Skip (and report) utterances whose audio is missing or unreadable.")),
    ("merge_excited", bool, typer.Option(False, "--merge-excited", help="IEMOCAP: relabel excited as happy.")),
    ("drop_no_agreement", bool, typer.Option(False, "--drop-no-agreement", help="Drop no-agreement and other labels (IEMOCAP xxx/oth, MSP X/O).")),
    ("classes", str | None, typer.Option(None, "--classes", help="Keep only these labels, e.g. angry,happy,sad,neutral.")),
    ("label_map", str | None, typer.Option(None, "--label-map", help="Relabel, e.g. excited=happy,calm=neutral.")),
    ("mapping", str | None, typer.Option(None, "--map", help="Column mapping (manifest, hf; audformat: schemes), e.g. audio=path,label=emo,speaker=spk.")),
    ("include_song", bool, typer.Option(False, "--include-song", help="RAVDESS: keep sung files too.")),
    ("verify_audio", bool, typer.Option(True, "--verify-audio/--no-verify-audio", help="Read every audio header (catches empty/corrupt files).")),
    ("dataset_split", str | None, typer.Option(None, "--dataset-split", help="hf: read only this split of the dataset (default: all, filling the split column).")),
    ("audio_dir", Path | None, typer.Option(None, "--audio-dir", help="hf: folder the dataset's audio is written to (default: under the emofuse cache).")),
]  # fmt: skip


def corpus_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add the corpus options to ``command``'s command-line signature and hand them to it as one
    :class:`CorpusOptions` (its ``corpus`` parameter)."""
    signature = pyinspect.signature(command, eval_str=True)
    kept = [p for p in signature.parameters.values() if p.name != "corpus"]
    added = [
        pyinspect.Parameter(name, pyinspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
        for name, kind, option in _CORPUS_OPTIONS
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        options = CorpusOptions(**{name: kwargs.pop(name) for name, _, _ in _CORPUS_OPTIONS})
        command(*args, corpus=options, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*kept, *added])  # type: ignore[attr-defined]
    hints = {k: v for k, v in typing.get_type_hints(command, include_extras=True).items() if k != "corpus"}
    wrapper.__annotations__ = {**hints, **{name: kind for name, kind, _ in _CORPUS_OPTIONS}}
    return wrapper


def _load(kind: str, root: Path, options: CorpusOptions) -> Any:
    from emofuse.corpus import read_corpus, reader_options
    from emofuse.corpus.labels import parse_classes, parse_mapping

    allowed = reader_options(kind)
    flags = {
        "merge_excited_into_happy": ("--merge-excited", options.merge_excited),
        "drop_no_agreement": ("--drop-no-agreement", options.drop_no_agreement),
        "mapping": ("--map", options.mapping),
        "include_song": ("--include-song", options.include_song),
        "split": ("--dataset-split", options.dataset_split),
        "audio_dir": ("--audio-dir", options.audio_dir),
    }
    read: dict[str, Any] = {"skip_missing": options.skip_missing, "verify_audio": options.verify_audio}
    for name, (flag, value) in flags.items():
        if value:
            if name not in allowed:
                raise ConfigError(f"{flag} does not apply to corpus kind {kind!r}")
            read[name] = value
    if options.classes:
        read["classes"] = parse_classes(options.classes)
    if options.label_map:
        read["label_map"] = parse_mapping(options.label_map, "--label-map")
    return read_corpus(kind, root, **read)


def _count_table(title: str, counts: dict[str, int], total: int, max_rows: int) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("value")
    table.add_column("utterances", justify="right")
    table.add_column("%", justify="right")
    items = list(counts.items())
    for key, n in items[:max_rows]:
        table.add_row(key, str(n), f"{100.0 * n / max(total, 1):.1f}")
    if len(items) > max_rows:
        rest = sum(n for _, n in items[max_rows:])
        table.add_row(f"... {len(items) - max_rows} more", str(rest), f"{100.0 * rest / max(total, 1):.1f}")
    return table


def _hms(seconds: float) -> str:
    if math.isnan(seconds):
        return "unknown"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d} ({seconds / 3600:.2f} h)"


def _print_report(report: Any) -> None:
    if report.dropped:
        table = Table(title="Left out", title_justify="left")
        table.add_column("reason")
        table.add_column("utterances", justify="right")
        table.add_column("examples")
        for reason, ids in report.dropped.items():
            table.add_row(reason, str(len(ids)), ", ".join(ids[:3]) + (" ..." if len(ids) > 3 else ""))
        _out().print(table)
    else:
        _out().print("Nothing left out.")
    for note in report.notes:
        _out().print(f"[yellow]note:[/] {note}")


@app.command()
@corpus_options
def inspect(
    kind: KindArg,
    root: RootArg,
    corpus: CorpusOptions | None = None,
    max_rows: Annotated[int, typer.Option("--max-rows", help="Rows shown per count table.", min=1)] = 20,
) -> None:
    """Read a corpus and show counts per label, speaker, split, the total duration and what was left out."""
    from emofuse.corpus.summary import summarize

    with _errors():
        result = _load(kind, root, corpus)
        s = summarize(result.table)
    overview = Table(
        title=f"{result.report.corpus}: {result.report.root}", title_justify="left", show_header=False
    )
    overview.add_column("what")
    overview.add_column("value", justify="right")
    overview.add_row("utterances found", str(result.report.n_found))
    overview.add_row("utterances kept", str(s.n_utterances))
    overview.add_row("speakers", str(s.n_speakers))
    overview.add_row("utterances of unknown speakers", str(s.n_unknown_speaker))
    overview.add_row("total duration", _hms(s.total_duration_s))
    if s.n_unknown_duration:
        overview.add_row("utterances of unknown duration", str(s.n_unknown_duration))
    _out().print(overview)
    for title, counts in (
        ("Labels", s.by_label),
        ("Splits", s.by_split),
        ("Speakers", s.by_speaker),
        ("Gender", s.by_gender),
        ("Sessions", s.by_session),
    ):
        _out().print(_count_table(title, counts, s.n_utterances, max_rows))
    _print_report(result.report)


def _print_leaks(report: Any) -> None:
    table = Table(title="Leaks between train (+dev) and test", title_justify="left")
    for col in ("fold", "speakers", "scripts", "transcripts", "utterances"):
        table.add_column(col)
    for f in report.folds:
        cells = []
        for name in ("speakers", "scripts", "transcripts", "utterances"):
            items = getattr(f, name)
            cells.append(
                "0"
                if not items
                else f"[red]{len(items)}[/] "
                + ", ".join(map(str, items[:3]))
                + (" ..." if len(items) > 3 else "")
            )
        table.add_row(f.fold, *cells)
    _out().print(table)
    _out().print("[red]The split leaks.[/]" if report.has_leaks else "[green]No leaks.[/]")


@app.command()
@corpus_options
def split(
    kind: KindArg,
    root: RootArg,
    out: Annotated[Path, typer.Option("--out", help="Split file to write (JSON).")],
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            help="predefined, speaker-kfold, loso (one session out), speaker-script, random-kfold, "
            "leave-one-speaker-out, column:<name> (a fold-id column) or file:<path> (a fold list: CSV id,fold or JSON).",
        ),
    ] = "speaker-kfold",
    folds: Annotated[
        int,
        typer.Option("--folds", help="Folds for speaker-kfold (and speaker-script without sessions).", min=2),
    ] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed; the same seed gives the same folds.")] = 0,
    dev_fraction: Annotated[
        float, typer.Option("--dev-fraction", help="Fraction of training speakers held out as dev.")
    ] = 0.1,
    test_split: Annotated[
        str | None, typer.Option("--test-split", help="predefined: the test split (default test/test1).")
    ] = None,
    test_scripts: Annotated[
        str | None,
        typer.Option(
            "--test-scripts",
            help="speaker-script: test script families (default: the last, IEMOCAP script03).",
        ),
    ] = None,
    strict: StrictOpt = False,
    strict_transcripts: StrictTextOpt = False,
    min_words: MinWordsOpt = 4,
    corpus: CorpusOptions | None = None,
) -> None:
    """Make evaluation folds, check them for leaks and write them to a split file."""
    from emofuse.corpus.leaks import check_leaks
    from emofuse.corpus.protocols import SplitFile, fold_sizes, make_folds, write_splits

    with _errors():
        result = _load(kind, root, corpus)
        scripts = [s.strip() for s in test_scripts.split(",") if s.strip()] if test_scripts else None
        made = make_folds(
            result.table,
            protocol,
            n_folds=folds,
            seed=seed,
            dev_fraction=dev_fraction,
            test_split=test_split,
            test_scripts=scripts,
            check=False,
        )
        leaks = check_leaks(result.table, made, warn=False, min_transcript_words=min_words)
    sizes = Table(title=f"{protocol} folds (seed {seed})", title_justify="left")
    for col in ("fold", "train", "dev", "test", "excluded"):
        sizes.add_column(col, justify="right" if col != "fold" else "left")
    for row in fold_sizes(made):
        sizes.add_row(row["name"], str(row["train"]), str(row["dev"]), str(row["test"]), str(row["excluded"]))
    _out().print(sizes)
    _print_leaks(leaks)
    if strict and leaks.is_fatal(strict_transcripts):
        _err().print(f"[bold red]error:[/] --strict: the split leaks; {out} not written")
        raise typer.Exit(1)
    with _errors():
        write_splits(
            out,
            SplitFile(
                protocol=protocol,
                seed=seed,
                folds=made,
                corpus=result.report.corpus,
                options={
                    "root": str(root),
                    "n_folds": folds,
                    "dev_fraction": dev_fraction,
                    "test_split": test_split,
                    "test_scripts": scripts,
                    "classes": corpus.classes,
                    "merge_excited": corpus.merge_excited,
                    "drop_no_agreement": corpus.drop_no_agreement,
                    "label_map": corpus.label_map,
                    "skipped": result.report.n_dropped,
                },
            ),
        )
    _out().print(f"wrote {len(made)} fold(s) to {out}")


@app.command("check-leaks")
@corpus_options
def check_leaks_command(
    kind: KindArg,
    root: RootArg,
    splits: Annotated[Path, typer.Option("--splits", help="Split file written by `emofuse corpus split`.")],
    strict: StrictOpt = False,
    strict_transcripts: StrictTextOpt = False,
    min_words: MinWordsOpt = 4,
    corpus: CorpusOptions | None = None,
) -> None:
    """Report speakers, scripts and transcripts shared by train and test of each fold of a split file."""
    from emofuse.corpus.leaks import check_leaks
    from emofuse.corpus.protocols import read_splits

    with _errors():
        split_file = read_splits(splits)
        result = _load(kind, root, corpus)
        leaks = check_leaks(result.table, split_file.folds, warn=False, min_transcript_words=min_words)
    _print_leaks(leaks)
    if strict and leaks.is_fatal(strict_transcripts):
        raise typer.Exit(1)


@app.command()
@corpus_options
def export(
    kind: KindArg,
    root: RootArg,
    out: Annotated[Path, typer.Option("--out", help="Table to write: .jsonl or .csv.")],
    report_path: Annotated[
        Path | None, typer.Option("--report", help="Also write the report (JSON).")
    ] = None,
    corpus: CorpusOptions | None = None,
) -> None:
    """Write the utterance table of a corpus to a JSONL or CSV file."""
    from emofuse.corpus.table import write_table
    from emofuse.io import atomic_write_json

    with _errors():
        if out.suffix not in (".jsonl", ".csv"):
            raise ConfigError(f"--out {out}: use a .jsonl or .csv file name")
        result = _load(kind, root, corpus)
        write_table(result.table, out)
        if report_path is not None:
            atomic_write_json(report_path, result.report.to_dict())
    _out().print(f"wrote {len(result.table)} utterance(s) to {out}")
    _print_report(result.report)


@app.command("demo")
def demo_command(
    out: Path = typer.Argument(..., help="Directory to build the corpus in (reused when built already)."),
    pauses: bool = typer.Option(
        False,
        "--pauses",
        help="The pause demo: arousal carried by pauses between words (perez2022's evidence).",
    ),
    speakers: int = typer.Option(8, "--speakers", min=1, help="Distinct espeak-ng voices (sessions of two)."),
    per_class: int = typer.Option(
        6, "--per-class", min=1, help="Utterances per speaker and class (arousal level with --pauses)."
    ),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Build a demo corpus with espeak-ng (offline): the quickstart's, or with --pauses the pause demo."""
    from rich.console import Console

    if pauses:
        from emofuse.corpus.demo_pauses import make_pause_demo_corpus

        path = make_pause_demo_corpus(out, speakers, per_class, seed)
    else:
        from emofuse.corpus.demo import make_demo_corpus

        path = make_demo_corpus(out, speakers, per_class, seed)
    Console(stderr=True).print(f"wrote {path}")
