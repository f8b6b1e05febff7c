"""``emofuse run``: train and evaluate recipes over seeds x folds, then print the results table.

Example::

    emofuse run pepino2020/audio pepino2020/text_bert pepino2020/ef_cs pepino2020/ef_pt pepino2020/ef_ws \\
        pepino2020/lf_pt --corpus iemocap.jsonl --splits folds.json --store features/ --out runs/ \\
        --set features.text.encoder.model=minilm --seeds 3

Offline, on the demo corpus (hub models replaced by their offline stand-ins)::

    emofuse run deoliveira2023/audio_hubert deoliveira2023/fusion_hubert --demo --seeds 1

Features come from the store; missing ones are computed first (with a progress bar). Finished runs are
skipped, so an interrupted command picks up where it stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def run(
    recipes: list[str] = typer.Argument(
        ..., help="Recipe YAML files or packaged names (e.g. pepino2020/ef_ws).", metavar="RECIPE..."
    ),
    corpus: Path | None = typer.Option(
        None, "--corpus", help="Utterance table (.jsonl/.csv) from `emofuse corpus export` (or --demo)."
    ),
    transcripts: Path | None = typer.Option(
        None, "--transcripts", help="Transcripts table from `emofuse transcribe` (for asr/asr_sil inputs)."
    ),
    accept_transcript_settings: bool = typer.Option(
        False,
        "--accept-transcript-settings",
        help="Train on the text source the transcripts were made with when it differs from the recipe's.",
    ),
    splits: Path | None = typer.Option(
        None,
        "--splits",
        help="Split file from `emofuse corpus split`; default: made from the recipe's protocol.",
    ),
    store: Path | None = typer.Option(None, "--store", help="Feature store directory (default: the cache)."),
    out: Path = typer.Option(
        ..., "--out", help="Output directory: one sub-directory per run, and the report."
    ),
    seeds: int | None = typer.Option(None, "--seeds", min=1, help="Number of seeds (default: the recipe's)."),
    overrides: list[str] = typer.Option(
        [], "--set", help="Override a recipe key, e.g. --set training.max_epochs=3 (repeatable)."
    ),
    protocol: str | None = typer.Option(
        None,
        "--protocol",
        help="Another named protocol of the recipes (e.g. msp_podcast), or folds as you bring them: "
        "leave-one-speaker-out, column:<name> (a fold-id column of the table), file:<path> (a fold list).",
    ),
    no_extract: bool = typer.Option(
        False, "--no-extract", help="Fail instead of computing missing features."
    ),
    loggers: list[str] = typer.Option(
        [],
        "--logger",
        help="Training logs under each run's logs/: csv (the default), tensorboard, or none (repeatable; "
        "replaces the recipe's training.loggers).",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    threads: int = typer.Option(
        1, "--threads", min=1, help="CPU threads for torch per run (small models train fastest on 1)."
    ),
    workers: int = typer.Option(
        0,
        "--workers",
        min=0,
        help="Runs trained at once, each in its own process (0: as many as the cores hold at --threads each, "
        "or every run at once when the grid has at most two per core; one per GPU when trainer.accelerator is "
        "gpu; 1 when a run itself uses DDP / several devices).",
    ),
    test_corpus: Path | None = typer.Option(
        None,
        "--test-corpus",
        help="Cross-corpus: train on all of --corpus (dev carved by speaker), test on this utterance table.",
    ),
    test_label_map: str | None = typer.Option(
        None,
        "--test-label-map",
        help="With --test-corpus: rename its labels, e.g. 'bored=neutral,joy=happy'.",
    ),
    export: Path | None = typer.Option(
        None,
        "--export",
        help="Package the model to ship here: the system with the best DEV score (never a test fold), "
        "retrained on all labelled utterances; the package's model card (README.md) says how it was chosen.",
    ),
    accept_weaker_protocol: bool = typer.Option(
        False,
        "--accept-weaker-protocol",
        help="When the table cannot honour the recipes' protocol (speaker-script without scripts, loso without "
        "sessions, predefined without a split), run speaker-kfold instead of stopping; the report says so.",
    ),
    demo: bool = typer.Option(
        False,
        "--demo",
        help="Run on the demo corpus (built with espeak-ng in the cache, transcribed when a recipe reads ASR) "
        "with offline stand-ins for hub models; implies --offline-substitutes.",
    ),
    offline_substitutes: bool = typer.Option(
        False,
        "--offline-substitutes",
        help="Replace hub models by offline stand-ins: all-MiniLM-L6-v2 for BERT-family text (and GloVe "
        "without a vectors file), the Whisper tiny.en encoder for SSL speech models (wav2vec2, HuBERT, ...).",
    ),
    reference: str | None = typer.Option(
        None,
        "--reference",
        help="System every other one is paired-t-tested against in the report (perez2022: --reference "
        "bert_ccc); one of the systems run, or of earlier runs in --out.",
    ),
) -> None:
    """Train and evaluate recipes over seeds x folds (resumable) and write a report with plots."""
    from rich.console import Console

    from emofuse.recipes import load_recipes
    from emofuse.train.finished import finished_report, grid_fingerprint, record_grid

    # nothing heavier (pandas, torch) is imported before a finished grid has had its chance to answer

    console = Console()
    if loggers:
        kinds = [k.strip().lower() for item in loggers for k in item.split(",") if k.strip()]
        unknown = [k for k in kinds if k not in ("csv", "tensorboard", "none")]
        if unknown:
            from emofuse.errors import ConfigError

            raise ConfigError(f"--logger {unknown[0]!r}: use csv, tensorboard or none")
        overrides = [*overrides, f"training.loggers=[{','.join(k for k in kinds if k != 'none')}]"]
    given = protocol is not None and _is_given_protocol(protocol)
    substitutions: list[str] = []
    loaded = load_recipes(
        recipes,
        overrides,
        protocol=None if given else protocol,
        offline_substitutes=demo or offline_substitutes,
        substitutions=substitutions,
    )
    for note in substitutions:
        console.print(f"[yellow]offline stand-in:[/] {note}", highlight=False)
    if reference is not None:
        _check_reference(reference, [r.name for r in loaded], out)
    demo_transcripts = None
    if demo:
        if corpus is not None:
            from emofuse.errors import ConfigError

            raise ConfigError("--demo brings its own corpus; drop --corpus (or drop --demo)")
        from emofuse.train.demo import prepare_demo

        data = prepare_demo(loaded, progress=progress)
        console.print(f"demo corpus: {data.table_path} ({len(data.table)} utterances)")
        corpus, demo_transcripts = data.table_path, data.transcripts
    if corpus is None:
        from emofuse.errors import ConfigError

        raise ConfigError("give the utterance table with --corpus TABLE, or pass --demo for the demo corpus")
    # a finished grid asked the same again answers from its files (no torch, no training, no report rebuilt)
    fingerprint = grid_fingerprint(
        loaded,
        seeds,
        {"corpus": corpus, "splits": splits, "transcripts": transcripts, "test_corpus": test_corpus},
        store,
        extra={
            "accept_transcript_settings": accept_transcript_settings,
            "protocol": protocol,
            "test_label_map": test_label_map,
            "accept_weaker_protocol": accept_weaker_protocol,
            **({"reference": reference} if reference is not None else {}),
        },
    )
    finished = finished_report(out, fingerprint) if export is None else None
    if finished is not None:
        _print_finished(console, out, finished)
        return
    from emofuse.corpus.table import read_table
    from emofuse.encoders import FeatureStore
    from emofuse.train._nn_adapter import check_model_config

    for r in loaded:
        check_model_config(r.model)
    table = read_table(corpus)
    folds: Any = splits
    train_table = table  # what a packaged model may be trained on (never the --test-corpus)
    if test_corpus is not None:
        from emofuse.corpus.cross import cross_corpus_split
        from emofuse.corpus.labels import parse_mapping

        if splits is not None or protocol is not None:
            from emofuse.errors import ConfigError

            raise ConfigError("--test-corpus makes its own fold; drop --splits / --protocol")
        table, folds = cross_corpus_split(
            table,
            read_table(test_corpus),
            label_map=parse_mapping(test_label_map, "--test-label-map"),
            dev_fraction=loaded[0].protocol.dev_fraction,
            seed=loaded[0].protocol.seed,
        )
    elif given:
        assert protocol is not None
        folds = _given_folds(table, protocol, loaded[0])
    elif splits is None and protocol is None:
        _warn_paper_protocol(console, loaded, table)
    trans = demo_transcripts
    if transcripts is not None:
        from emofuse.transcribe import read_transcripts

        trans = read_transcripts(transcripts)
    from emofuse.train.runner import run_experiment

    feature_store = FeatureStore(store) if store is not None else FeatureStore()
    analyses = None
    if any(r.analyses.intersection_layers for r in loaded):  # kumar2021's intersection matrices in the report
        from emofuse.explain.ablation import intersection_analysis

        analyses = intersection_analysis(table, feature_store, trans)
    result = run_experiment(
        loaded,
        table,
        folds,
        feature_store,
        out,
        seeds=seeds,
        transcripts=trans,
        accept_transcript_settings=accept_transcript_settings,
        extract_missing=not no_extract,
        progress=progress,
        torch_threads=threads,
        workers=workers,  # 0: grid_workers for the grid's size (emofuse.train.parallel)
        accept_weaker_protocol=accept_weaker_protocol,
        reference=reference,
        analyses=analyses,
    )
    if export is not None:
        from emofuse.serve.honest_export import export_chosen

        package, selection = export_chosen(
            loaded,
            train_table,
            FeatureStore(store) if store is not None else FeatureStore(),
            out,
            export,
            transcripts=trans,
            torch_threads=threads,
        )
        console.print(
            f"model:  {package}  (chosen: {selection.system}, by {selection.by}; retrained on all data)"
        )
    n_trained = int((result.runs["status"] == "trained").sum())
    n_skipped = int((result.runs["status"] == "skipped").sum())
    console.print(f"runs: {n_trained} trained, {n_skipped} already finished (skipped)")
    rep = result.report
    if rep is None:
        return
    record_grid(out, fingerprint, result.runs["run_dir"])
    spread = summary_table(rep, "median ± IQR over seeds (test predictions pooled over folds)")
    console.print(spread)
    if rep.reference_comparisons:
        from emofuse.cli.report import reference_table

        console.print(reference_table(rep.reference_comparisons, str(reference)))
    console.print(f"report: {rep.markdown_path}  ({rep.json_path.name})")
    console.print(f"plots:  {rep.out_dir / 'plots'}")


def _check_reference(reference: str, systems: list[str], out: Path) -> None:
    """Stop before any training when ``--reference`` names no system of this call nor of earlier runs in ``out``."""
    from emofuse.train.previous_runs import earlier_systems

    known = sorted({*systems, *earlier_systems(out)})
    if reference not in known:
        from emofuse.errors import ConfigError

        raise ConfigError(f"--reference {reference!r} is not a system of this run: use one of {known}")


def _is_given_protocol(protocol: str) -> bool:
    from emofuse.corpus.given_folds import is_given_protocol

    return is_given_protocol(protocol)


def _print_finished(console: Any, out: Path, report: dict[str, Any]) -> None:
    """Print a finished grid's results from its ``report.json`` (no run is touched)."""
    from types import SimpleNamespace

    runs = sum(int(next(iter(m.values()))["n"]) for m in report["summary"].values())
    console.print(
        f"runs: 0 trained, all already finished (the grid in {out} was asked the same; {runs} seed results)"
    )
    view = SimpleNamespace(summary=report["summary"], metrics=report["metrics"])
    console.print(summary_table(view, "median ± IQR over seeds (test predictions pooled over folds)"))
    console.print(f"report: {out / 'report.md'}  (report.json)")
    console.print(f"plots:  {out / 'plots'}")


def _given_folds(table: Any, protocol: str, recipe: Any) -> Any:
    """Folds of ``--protocol leave-one-speaker-out | column:<name> | file:<path>`` (dev as the recipe says)."""
    import warnings

    from emofuse.corpus.protocols import make_folds

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        return make_folds(
            table,
            protocol,
            seed=recipe.protocol.seed,
            dev_fraction=recipe.protocol.dev_fraction,
            strict=False,
        )


def _warn_paper_protocol(console: Any, recipes: Any, table: Any) -> None:
    """Say so when a paper's default protocol, made for one corpus, is about to split another."""
    from emofuse.corpus import KINDS

    corpora = sorted({c for c in table["corpus"].dropna()})
    for r in recipes:
        name = r.protocol_name
        if name and name in KINDS and corpora and name not in corpora:
            console.print(
                f"[yellow]warning:[/] {r.name} uses its default protocol {name!r} ({r.protocol.kind}), made for "
                f"the {name} corpus, but the table is {', '.join(corpora)}; pass --protocol "
                "leave-one-speaker-out (or column:<name>, file:<path>, another named protocol) or --splits FILE",
                highlight=False,
            )
            return


def summary_table(report: Any, title: str, highlight: str | None = None) -> Any:
    """A rich table of median ± IQR over seeds per system (pepino2020 Table 1 style); accuracy and uar in %."""
    from rich.table import Table

    from emofuse.formatting import no_negative_zero

    table = Table(title=title)
    table.add_column("system")
    for m in report.metrics:
        table.add_column(f"{m} (%)" if m in ("accuracy", "uar") else m, justify="right")
    table.add_column("seeds", justify="right")
    for system, per_metric in report.summary.items():
        cells = []
        for m in report.metrics:
            s = per_metric[m]
            scale, fmt = (100.0, "{:.1f}") if m in ("accuracy", "uar") else (1.0, "{:.3f}")
            median, iqr = (no_negative_zero(fmt.format(scale * s[k])) for k in ("median", "iqr"))
            cells.append(f"{median} ± {iqr}")
        name = f"[bold]{system}[/]" if system == highlight else system
        table.add_row(name, *cells, str(int(next(iter(per_metric.values()))["n"])))
    return table
