"""``emofuse quickstart`` (README command 1): the whole pipeline on the demo corpus, offline, in minutes.

Stages (each resumable: a rerun reuses what is finished)::

    corpus      make the demo corpus with espeak-ng          <out>/corpus/ (emofuse.corpus.demo)
    transcribe  Whisper tiny.en, offline, with [SIL]          <out>/transcripts.jsonl (emofuse.transcribe)
    extract     pepino2020 openSMILE LLDs + MiniLM sum_last4  <out>/features/ (emofuse.encoders.FeatureStore)
    train       pepino2020 audio / text / EF-CS / EF-PT /     <out>/runs/<system>/seed<k>/fold<f>/ and the
                EF-WS / LF-PT over seeds x speaker folds      report <out>/runs/report.md + plots/ (emofuse.train,
                                                              emofuse.evaluate)
    export      the system chosen without a test fold, retrained on all data, as a package with a model card
                                                              <out>/model/ (emofuse.serve.honest_export)

The text branch reads the ASR transcript (``input: asr``) through the offline all-MiniLM-L6-v2
(``model: minilm``) instead of bert-base-uncased, which is not available offline. Folds are speaker-independent
(``speaker-kfold``, 4 folds of 2 speakers with the default 8 speakers; no dev part: pepino2020 trains a fixed
number of epochs). Stage timings go to ``<out>/timings.json``.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from emofuse.errors import ConfigError, EmofuseError
from emofuse.io import atomic_write_json

#: The pepino2020 systems the quickstart runs, in table order (single modalities first).
SYSTEMS: tuple[str, ...] = ("audio", "text_bert", "ef_cs", "ef_pt", "ef_ws", "lf_pt")
SINGLE_MODALITY: tuple[str, ...] = ("audio", "text_bert")
#: Recipe overrides: offline text encoder on the ASR transcript.
TEXT_OVERRIDES: tuple[str, ...] = ("features.text.encoder.model=minilm", "features.text.input=asr")
STAGES: tuple[str, ...] = ("corpus", "transcribe", "extract", "train", "export")
#: The text system runs MiniLM, not bert-base-uncased, so its runs, table row and plots are named for it.
RENAMED: dict[str, str] = {"text_bert": "text_minilm"}


@dataclass(frozen=True)
class QuickstartSettings:
    """What the quickstart runs. The defaults are README command 1; tests and ``--fast`` shrink them.

    Attributes:
        n_speakers / utterances_per_speaker_per_class / corpus_seed: the demo corpus (4 classes).
        seeds: training seeds per system. n_folds: speaker-grouped folds.
        max_epochs / batch_size: per run. The recipes' own are 30 epochs of batch 32 (pepino2020 does not print
            them); on the demo's 144 training utterances per fold the quickstart uses 10 epochs of batch 16
            (90 optimiser steps, 40 of them warm-up), which keeps the 72 runs under 5 minutes on 2 cores.
        torch_threads: CPU threads for torch per training run.
        workers: runs trained at once in worker processes (0: as many as the cores hold, ``torch_threads`` each).
        systems: which pepino2020 systems (single-modality sources of pre-trained systems run first anyway).
        beam_size: Whisper beam size.
    """

    n_speakers: int = 8
    utterances_per_speaker_per_class: int = 6
    corpus_seed: int = 0
    seeds: int = 3
    n_folds: int = 4
    max_epochs: int | None = 10
    batch_size: int | None = 16
    systems: tuple[str, ...] = SYSTEMS
    beam_size: int = 5
    torch_threads: int = 1
    workers: int = 0

    @classmethod
    def fast(cls) -> QuickstartSettings:
        """A quick look: 6 speakers x 4 per class, 1 seed, 3 folds, 15 epochs (about a tenth of the training)."""
        return cls(
            n_speakers=6, utterances_per_speaker_per_class=4, seeds=1, n_folds=3, max_epochs=15, batch_size=16
        )

    def overrides(self, has_text: bool = True) -> list[str]:
        """``--set`` overrides of every recipe (the text ones only for recipes with a text branch)."""
        out = [*TEXT_OVERRIDES, f"text_source.beam_size={self.beam_size}"] if has_text else []
        if self.max_epochs is not None:
            out.append(f"training.max_epochs={self.max_epochs}")
        if self.batch_size is not None:
            out.append(f"training.batch_size={self.batch_size}")
        return out


@dataclass
class QuickstartResult:
    """What :func:`run_quickstart` produced and how long each stage took (``stage_s``; 0-ish when reused)."""

    out_dir: Path
    corpus_table: Path
    transcripts_path: Path
    runs_dir: Path
    report_path: Path
    plots_dir: Path
    model_dir: Path
    best_system: str
    best_run: Path
    summary: dict[str, dict[str, dict[str, float]]]
    stage_s: dict[str, float] = field(default_factory=dict)
    n_trained: int = 0
    n_skipped: int = 0
    report: Any = None


def _recipes(settings: QuickstartSettings) -> list[Any]:
    from emofuse.recipes import load_recipe

    unknown = [s for s in settings.systems if s not in SYSTEMS]
    if unknown:
        raise ConfigError(f"unknown quickstart system(s) {unknown}; choose from {list(SYSTEMS)}")
    wanted = list(settings.systems)
    # Pre-trained systems start from the single-modality runs of the same seed and fold: run those too.
    if any(s not in SINGLE_MODALITY for s in wanted):
        wanted = [*[s for s in SINGLE_MODALITY if s not in wanted], *wanted]
    recipes = []
    for name in wanted:
        plain = load_recipe(f"pepino2020/{name}")
        overrides = settings.overrides("text" in plain.features)
        if name in RENAMED:
            overrides.append(f"name={RENAMED[name]}")
        pre = plain.training.pretrain
        for branch, source in pre.from_systems.items() if pre is not None else []:
            if source in RENAMED:
                overrides.append(f"training.pretrain.from_systems.{branch}={RENAMED[source]}")
        recipes.append(load_recipe(f"pepino2020/{name}", overrides))
    return recipes


def _stage(name: str, console: Any, times: dict[str, float]) -> Callable[[], None]:
    console.rule(f"[bold]{name}")
    started = time.perf_counter()

    def done() -> None:
        times[name] = round(time.perf_counter() - started, 3)
        console.print(f"[dim]{name}: {times[name]:.1f} s[/]")

    return done


def run_quickstart(
    out_dir: str | Path,
    settings: QuickstartSettings | None = None,
    *,
    progress: bool = True,
    console: Any = None,
) -> QuickstartResult:
    """Run the quickstart pipeline into ``out_dir`` (resumable) and return where everything is.

    Raises:
        EmofuseError (and subclasses) naming the stage input that failed.
    """
    from rich.console import Console

    settings = settings or QuickstartSettings()
    console = console or Console(quiet=not progress)
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    recipes = _recipes(settings)  # validated before any work
    total_started = time.perf_counter()

    # 1. corpus
    from emofuse.corpus.demo import make_demo_corpus
    from emofuse.corpus.table import read_table

    done = _stage("corpus", console, times)
    table_path = make_demo_corpus(
        out / "corpus",
        n_speakers=settings.n_speakers,
        utterances_per_speaker_per_class=settings.utterances_per_speaker_per_class,
        seed=settings.corpus_seed,
        progress=progress,
    )
    table = read_table(table_path)
    console.print(f"{len(table)} utterances, {table['speaker'].nunique()} speakers: {table_path}")
    done()

    # 2. transcribe (Whisper tiny.en offline; [SIL] from word gaps)
    from emofuse.transcribe import transcribe_table

    done = _stage("transcribe", console, times)
    transcripts_path = out / "transcripts.jsonl"
    # the text recipes' own text source (their overrides set the beam size), so the runner's check passes
    text_source = next(r.text_source for r in recipes if any(f.input != "audio" for f in r.features.values()))
    transcripts = transcribe_table(
        table,
        text_source.build(for_corpus=True),
        transcripts_path,
        progress=progress,
        text_source=text_source,
        cache=out / "cache" / "transcripts",
    )
    done()

    # 3. extract (every branch of every system; the runner then only reads the store)
    from emofuse.encoders import FeatureStore
    from emofuse.train.features import FeaturePlan

    done = _stage("extract", console, times)
    store = FeatureStore(out / "features")
    plan = FeaturePlan(table, store, transcripts, extract_missing=True, progress=progress)
    for recipe in recipes:
        plan.sources(recipe)
    done()

    # 4. train + report over seeds x speaker-independent folds
    from emofuse.corpus.protocols import SplitFile, make_folds, write_splits
    from emofuse.train.runner import run_experiment

    done = _stage("train", console, times)
    from emofuse.corpus.leaks import LeakWarning, check_leaks
    from emofuse.errors import CorpusError

    with warnings.catch_warnings():
        # The demo's sentences come from templates and its scripted lines are shared by speakers (as IEMOCAP's
        # are), so identical sentences and scripts fall on both sides of a speaker fold; speakers never do.
        warnings.simplefilter("ignore", LeakWarning)
        folds = make_folds(
            table,
            "speaker-kfold",
            n_folds=settings.n_folds,
            seed=0,
            dev_fraction=0.0,
            check=True,
            strict=False,
        )
    shared = [f.fold for f in check_leaks(table, folds, warn=False).folds if f.speakers or f.utterances]
    if shared:
        raise CorpusError(f"speaker folds {shared} share speakers between train and test")
    write_splits(
        out / "splits.json",
        SplitFile("speaker-kfold", 0, folds, corpus="demo", options={"n_folds": settings.n_folds}),
    )
    runs_dir = out / "runs"
    result = run_experiment(
        recipes,
        table,
        folds,
        store,
        runs_dir,
        seeds=settings.seeds,
        transcripts=transcripts,
        encoder_ids=plan.encoder_ids,
        extract_missing=False,
        progress=progress,
        torch_threads=settings.torch_threads,
        workers=settings.workers,  # 0: as many as the grid and the cores call for
    )
    report = result.report
    if report is None:
        raise EmofuseError(f"the runner wrote no report into {runs_dir}")
    done()

    # 5. export: the system chosen without a test fold, retrained on all data (emofuse.train.selection)
    from emofuse.serve.honest_export import export_chosen
    from emofuse.train.runner import run_dir_for

    done = _stage("export", console, times)
    model_dir, selection = export_chosen(
        recipes,
        table,
        store,
        runs_dir,
        out / "model",
        transcripts=transcripts,
        encoder_ids=plan.encoder_ids,
        torch_threads=settings.torch_threads,
    )
    best_system = selection.system
    best_run = run_dir_for(runs_dir / "_final", best_system, 0, 0)
    done()

    times["total"] = round(time.perf_counter() - total_started, 3)
    n_trained = int((result.runs["status"] == "trained").sum())
    n_skipped = int((result.runs["status"] == "skipped").sum())
    atomic_write_json(
        out / "timings.json",
        {
            "stage_s": times,
            "settings": settings.__dict__ | {"systems": list(settings.systems)},
            "runs_trained": n_trained,
            "runs_skipped": n_skipped,
        },
    )
    from emofuse.cli.quickstart_finished import quickstart_fingerprint, record_quickstart

    record_quickstart(  # written last: a rerun with the same settings answers from these files
        out,
        quickstart_fingerprint(out, settings, recipes),
        list(result.runs["run_dir"]),
        best_system=best_system,
        stage_s=times,
        n_trained=n_trained,
        n_skipped=n_skipped,
    )
    return QuickstartResult(
        out_dir=out,
        corpus_table=table_path,
        transcripts_path=transcripts_path,
        runs_dir=runs_dir,
        report_path=report.markdown_path,
        plots_dir=report.out_dir / "plots",
        model_dir=Path(model_dir),
        best_system=best_system,
        best_run=best_run,
        summary=report.summary,
        stage_s=times,
        n_trained=n_trained,
        n_skipped=n_skipped,
        report=report,
    )


def results_table(result: QuickstartResult) -> Any:
    """A rich table of median ± IQR over seeds per system (pepino2020 Table 1 style), the best system in bold."""
    from emofuse.cli.run import summary_table

    return summary_table(
        result.report,
        "pepino2020 on the demo corpus: median ± IQR over seeds (speaker-independent folds)",
        highlight=result.best_system,
    )


def quickstart(
    out: Path = typer.Option(
        Path("emofuse-quickstart"), "--out", help="Output directory (reused on a rerun)."
    ),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Training seeds per system."),
    fast: bool = typer.Option(
        False, "--fast", help="A smaller, quicker run: 6 speakers x 4 per class, 1 seed, 3 folds, 15 epochs."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    threads: int = typer.Option(1, "--threads", min=1, help="CPU threads for torch per training run."),
    workers: int = typer.Option(
        0,
        "--workers",
        min=0,
        help="Runs trained at once in worker processes (0: as many as the cores hold, or all at once for a grid "
        "of at most two runs per core).",
    ),
) -> None:
    """Demo corpus -> transcribe -> features -> pepino2020 audio/text/EF/LF over seeds -> report + plots -> model.

    Offline, on CPU, in a few minutes. Rerunning reuses the corpus, transcripts, features and finished runs.
    """
    from rich.console import Console

    console = Console()
    settings = QuickstartSettings.fast() if fast else QuickstartSettings(seeds=seeds)
    if fast and seeds != 3:
        settings = dataclasses.replace(settings, seeds=seeds)
    settings = dataclasses.replace(settings, torch_threads=threads, workers=workers)
    if _answer_finished(console, out, settings):
        return
    result = run_quickstart(out, settings, progress=progress, console=console)
    console.rule("[bold]results")
    console.print(results_table(result))
    console.print(f"runs: {result.n_trained} trained, {result.n_skipped} reused")
    _print_where(console, result.out_dir, result.best_system)
    stage = ", ".join(f"{k} {v:.0f} s" for k, v in result.stage_s.items())
    console.print(f"time:   {stage}")
    _print_try_it(console, result.out_dir)


def _answer_finished(console: Any, out: Path, settings: QuickstartSettings) -> bool:
    """Print a finished quickstart's results from its files (no torch; see :mod:`emofuse.cli.quickstart_finished`);
    False when ``out`` holds no finished quickstart with these settings."""
    from types import SimpleNamespace

    from emofuse.cli.quickstart_finished import finished_quickstart
    from emofuse.cli.run import summary_table

    out = out.expanduser().resolve()
    finished = finished_quickstart(out, settings, _recipes(settings))
    if finished is None:
        return False
    report = finished["report"]
    console.rule("[bold]results")
    console.print(
        summary_table(
            SimpleNamespace(summary=report["summary"], metrics=report["metrics"]),
            "pepino2020 on the demo corpus: median ± IQR over seeds (speaker-independent folds)",
            highlight=finished["best_system"],
        )
    )
    n_runs = int(finished["n_trained"]) + int(finished["n_skipped"])
    console.print(f"runs: 0 trained, all {n_runs} already finished (answered from the files in {out})")
    _print_where(console, out, str(finished["best_system"]))
    stage = ", ".join(f"{k} {v:.0f} s" for k, v in finished["stage_s"].items())
    console.print(f"time:   nothing to do (the last run over this directory took {stage})")
    _print_try_it(console, out)
    return True


def _print_where(console: Any, out: Path, best_system: str) -> None:
    console.print(f"report: {out / 'runs' / 'report.md'}")
    console.print(f"plots:  {out / 'runs' / 'plots'}")
    console.print(
        f"model:  {out / 'model'}  (chosen: {best_system}, retrained on all data; see its model card README.md)"
    )


def _print_try_it(console: Any, out: Path) -> None:
    wavs = sorted((out / "corpus" / "wav").glob("*.wav"))
    example = wavs[0] if wavs else Path("recording.wav")
    console.print(f"try it: emofuse predict {example} --model {out / 'model'}")
    console.print(f"        emofuse serve --model {out / 'model'}   (then open http://127.0.0.1:8000)")
