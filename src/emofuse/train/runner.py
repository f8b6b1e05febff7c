"""The experiment runner: systems x seeds x folds, one directory per run, resumable, then a report.

Layout of ``out_dir``: ``<system>/seed<k>/fold<f>/`` per run (:mod:`emofuse.train.rundir`: ``recipe.json``,
``run_config.json``, ``model.safetensors``, ``predictions.csv``, ``metrics.json``, ``done.json`` written last),
and the aggregate ``report.md``, ``report.json``, ``per_seed.csv``, ``per_fold.csv``, ``plots/`` (emofuse.evaluate).

Resuming: a run directory counts as finished only when ``done.json`` exists and records the same config hash
(recipe without the seed list, seed, fold ids, encoder ids, and for pre-trained systems the hashes of the runs
they start from). Anything else in a directory without that marker is a leftover of a killed run and is
redone; finished runs are never touched. One run is :func:`emofuse.train.steps.run_one` of a plain
:class:`~emofuse.train.steps.RunSpec`; systems are ordered so that pre-training sources run first.

Text source: when a recipe reads ASR transcripts (``asr`` / ``asr_sil`` inputs), the settings the transcripts
were made with (recorded in the transcripts table) must equal the recipe's ``text_source``, else the run stops
naming both values; ``accept_transcript_settings=True`` (CLI ``--accept-transcript-settings``) adopts the
transcripts' settings instead. Either way the run directory, and so the packaged model, records the settings the
transcripts were actually made with.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from emofuse.errors import ConfigError
from emofuse.recipes.schema import Recipe
from emofuse.train.adapt_stage import resolve_adaptations
from emofuse.train.data import FeatureCache
from emofuse.train.epoch_selection import choose_epochs
from emofuse.train.features import FeaturePlan, spec_key
from emofuse.train.folds import checked_folds, protocol_note
from emofuse.train.report_extras import report_extras
from emofuse.train.rundir import RunDir
from emofuse.train.steps import RunSpec, run_one
from emofuse.train.targets import binned_targets

ASR_INPUTS = ("asr", "asr_sil", "asr_silence_ratio")


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` did: one row per run (``status`` = trained / skipped) and the report."""

    out_dir: Path
    runs: pd.DataFrame
    report: Any | None
    predictions: pd.DataFrame | None


def run_dir_for(out_dir: str | Path, system: str, seed: int, fold_index: int) -> Path:
    """``<out_dir>/<system>/seed<seed>/fold<fold_index>`` (:meth:`RunDir.of`)."""
    return RunDir.of(out_dir, system, seed, fold_index).path


def is_complete(run_dir: str | Path, expected_hash: str | None = None) -> bool:
    """True when ``run_dir`` holds a finished run (and, if given, of the same config hash)."""
    return RunDir(run_dir).is_complete(expected_hash)


def order_systems(recipes: Sequence[Recipe]) -> list[Recipe]:
    """Recipes ordered so that every system named in another's ``pretrain.from_systems`` comes first."""
    by_name: dict[str, Recipe] = {}
    for r in recipes:
        if r.name in by_name:
            raise ConfigError(f"two recipes are named {r.name!r}; system names must be unique in one run")
        by_name[r.name] = r
    ordered: list[Recipe] = []
    state: dict[str, int] = {}

    def visit(r: Recipe, chain: tuple[str, ...]) -> None:
        if state.get(r.name) == 2:
            return
        if state.get(r.name) == 1:
            raise ConfigError(f"pretrain.from_systems forms a cycle: {' -> '.join((*chain, r.name))}")
        state[r.name] = 1
        pre = r.training.pretrain
        for src in pre.from_systems.values() if pre and r.training.strategy != "cold_start" else []:
            if src in by_name:
                visit(by_name[src], (*chain, r.name))
        state[r.name] = 2
        ordered.append(r)

    for r in recipes:
        visit(r, ())
    return ordered


def reconcile_text_source(recipe: Recipe, transcripts: pd.DataFrame | None, accept: bool = False) -> Recipe:
    """``recipe`` with the text source its ASR transcripts were actually made with.

    A recipe without ``asr``/``asr_sil`` inputs (or without transcripts) is returned as it is. Otherwise the
    transcripts' recorded settings must equal ``recipe.text_source``.

    Raises:
        ConfigError: they differ (the message names each differing setting with both values) and ``accept`` is
            False; or the transcripts table records no settings.
    """
    from emofuse.errors import TranscriptionError
    from emofuse.transcribe.table import text_source_of

    if transcripts is None or not any(f.input in ASR_INPUTS for f in recipe.features.values()):
        return recipe
    try:
        made_with = text_source_of(transcripts)
    except TranscriptionError as exc:
        raise ConfigError(f"{recipe.name}: {exc}") from None
    if made_with == recipe.text_source:
        return recipe
    if accept:
        return recipe.model_copy(update={"text_source": made_with})
    diffs = "; ".join(made_with.differences(recipe.text_source))
    raise ConfigError(
        f"{recipe.name}: the transcripts were made with other settings than the recipe's text_source "
        f"(transcripts vs recipe: {diffs}). Re-transcribe with `emofuse transcribe --recipe <recipe>`, set the "
        "recipe's text_source to match, or pass --accept-transcript-settings to train on the transcripts' settings"
    )


def _check_recipes(recipes: Recipe | Sequence[Recipe], folds: Any) -> list[Recipe]:
    from emofuse.train._nn_adapter import check_model_config

    recipe_list = [recipes] if isinstance(recipes, Recipe) else list(recipes)
    if not recipe_list:
        raise ConfigError("no recipe given")
    tasks = {(r.data.task, tuple(r.data.labels or ()), tuple(r.data.avd_names)) for r in recipe_list}
    if len(tasks) > 1:
        raise ConfigError(f"the recipes of one run must share task and labels; got {sorted(tasks)}")
    for r in recipe_list:
        check_model_config(r.model)
    ordered = order_systems(recipe_list)
    if folds is None and len({json.dumps(r.protocol.model_dump(), sort_keys=True) for r in ordered}) > 1:
        raise ConfigError(
            "the recipes name different protocols; make one split file (`emofuse corpus split`) and pass it, "
            "so that every system is evaluated on the same folds"
        )
    return ordered


def run_experiment(
    recipes: Recipe | Sequence[Recipe],
    table: pd.DataFrame,
    folds: Any,
    store: Any,
    out_dir: str | Path,
    seeds: Sequence[int] | int | None = None,
    *,
    transcripts: pd.DataFrame | None = None,
    accept_transcript_settings: bool = False,
    encoder_ids: Mapping[str, str] | None = None,
    extract_missing: bool = True,
    progress: bool | None = None,
    report: bool = True,
    on_run_done: Callable[[dict[str, Any]], None] | None = None,
    torch_threads: int | None = None,
    workers: int = 1,
    accept_weaker_protocol: bool = False,
    reference: str | None = None,
    analyses: Callable[[Path, Sequence[Recipe]], None] | None = None,
) -> ExperimentResult:
    """Train and evaluate every system over seeds x folds, skipping finished runs, then write the report.

    Args:
        recipes: one recipe or several (the systems); they must share the task and labels.
        table: the utterance table (``emofuse.corpus``).
        folds: ``Fold`` list, ``SplitFile``, split-file path, or None (from the recipes' protocol block).
        store: an ``emofuse.encoders.FeatureStore``.
        out_dir: output directory (see the module docstring).
        seeds: seed list or count (default: each recipe's ``training.seeds``).
        transcripts: transcripts table for ``asr`` / ``asr_sil`` inputs (text source checked: module docstring).
        accept_transcript_settings: train on the transcripts' text source when it differs from a recipe's.
        encoder_ids: ``{spec: encoder_id}`` known up front (dict specs as sorted JSON); others are built once.
        extract_missing: compute missing features (else a missing entry is an error).
        progress: rich progress over runs (default: when stderr is a terminal).
        report: write the aggregate report when done (``reference``: a system the others are t-tested against).
        on_run_done: called with each finished run's row (tests use it to interrupt a run).
        torch_threads: torch CPU threads (default: torch's own; with ``workers > 1``, per worker, default 1).
        workers: processes training runs in parallel (:func:`emofuse.train.parallel.run_grid`; scripts need
            an ``if __name__ == "__main__":`` guard); 1 trains here, one run after another; 0: as many as the
            grid and the cores call for (:func:`emofuse.train.parallel.grid_workers`).
        accept_weaker_protocol: run the weaker fallback of a protocol the table cannot honour (reported).
        analyses: ``f(out_dir, recipes)`` before the report (:func:`emofuse.explain.ablation.intersection_analysis`).
    """
    ordered = _checked_systems(
        recipes, folds, transcripts, accept_transcript_settings, workers, torch_threads
    )
    (out := Path(out_dir)).mkdir(parents=True, exist_ok=True)
    fold_list = checked_folds(folds, table, ordered[0], accept_weaker_protocol)
    notes = [n for n in [protocol_note(folds, table, ordered[0], fold_list, accept_weaker_protocol)] if n]
    show = sys.stderr.isatty() if progress is None else progress
    ordered = resolve_adaptations(ordered, transcripts, fold_list, progress=show)  # MLM stage ([SIL])
    plan = FeaturePlan(table, store, transcripts, encoder_ids, extract_missing, progress=show)
    sources = {r.name: plan.sources(r) for r in ordered}  # builds encoders / extracts before any training
    make_spec = partial(_spec, data=(sources, table, Path(store.root), transcripts))
    train = partial(_train, store=store, workers=workers, torch_threads=torch_threads, progress=progress,
                    show=show, on_run_done=on_run_done)  # fmt: skip
    ordered, chosen = choose_epochs(ordered, fold_list, out, make_spec, train)  # pepino2020's epoch choice
    rows = train([make_spec(*run, out) for run in _grid(ordered, seeds, fold_list)])
    extras = partial(report_extras, ordered, out, table, transcripts, fold_list)  # Fig. 3 / Table 2 sections
    return _finish(ordered, out, rows, report, [*notes, *chosen], extras, reference, analyses)


def _grid(ordered: Sequence[Recipe], seeds: Sequence[int] | int | None, folds: Sequence[Any]) -> list[tuple]:
    """``(recipe, seed, fold index, fold)`` of every run, systems in order."""
    return [(r, s, i, f) for r in ordered for s in _seed_list(r, seeds) for i, f in enumerate(folds)]


def _spec(
    recipe: Recipe, seed: int, fold_index: int, fold: Any, out: Path, *,
    data: tuple[Mapping[str, Any], pd.DataFrame, Path, pd.DataFrame | None],
) -> RunSpec:  # fmt: skip
    """One run's spec; ``out``: the experiment's folder (or the epoch selection's); ``data``: the systems' feature
    sources, the table, the store's root and the transcripts."""
    sources, table, store_root, transcripts = data
    return RunSpec(recipe, seed, fold_index, fold, sources[recipe.name], table, store_root, out, transcripts)


def _checked_systems(
    recipes: Recipe | Sequence[Recipe],
    folds: Any,
    transcripts: pd.DataFrame | None,
    accept: bool,
    workers: int,
    torch_threads: int | None = None,
) -> list[Recipe]:
    """Every check that needs no features, before any work: recipes, text source, grid placement, models.

    With ``workers`` > 1 it also starts the grid's worker server once the recipes passed their checks, so that
    its imports overlap what follows.
    """
    checked = _check_recipes(recipes, folds)
    if (
        workers != 1
    ):  # so that the workers' imports overlap the remaining checks, folds and feature extraction
        from emofuse.train.parallel import start_server_for

        start_server_for(checked, workers, torch_threads)
    ordered = [reconcile_text_source(r, transcripts, accept) for r in checked]
    if workers > 1:  # a grid of DDP runs is refused at once (0: the grid's size is not known yet)
        from emofuse.train.parallel import check_grid_placement

        check_grid_placement(ordered, workers)
    check_models_loadable(ordered)  # before folds and features: a missing model costs a second, not minutes
    return ordered


def _train(
    specs: list[RunSpec], store: Any, workers: int, torch_threads: int | None, progress: bool | None, show: bool,
    on_run_done: Callable[[dict[str, Any]], None] | None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Run every spec: in ``workers`` processes (:func:`emofuse.train.parallel.run_grid`) or in this one."""
    if workers == 0:
        from emofuse.train.parallel import grid_workers

        workers = grid_workers([s.recipe for s in specs], torch_threads or 1, n_jobs=len(specs))
    if workers > 1 and len(specs) > 1:
        from emofuse.train.parallel import prefetch_modules, run_grid

        prefetch_modules("emofuse.evaluate.report")  # the report's imports, while this process only waits
        return run_grid(
            specs, workers=workers, threads=torch_threads or 1, progress=progress, on_run_done=on_run_done
        )
    from emofuse.train.determinism import deterministic_runs

    with deterministic_runs(torch_threads):  # fixed threads and deterministic algorithms, as in a worker
        return _run_all(specs, FeatureCache(store), show, on_run_done)


def check_models_loadable(recipes: Sequence[Recipe]) -> None:
    """Raise ``ModelLoadError`` naming the recipe, branch and offline stand-in when a branch's hub model cannot be
    loaded here (:func:`emofuse.encoders.availability.check_loadable`; one hub probe at most)."""
    from emofuse.encoders.availability import check_loadable

    for r in recipes:
        for name, feat in r.features.items():
            check_loadable(
                feat.encoder, f"{r.paper + '/' if r.paper else ''}{r.name}: features.{name}.encoder"
            )


def _seed_list(recipe: Recipe, seeds: Sequence[int] | int | None) -> list[int]:
    if seeds is None:
        return recipe.training.seed_list()
    return list(range(seeds)) if isinstance(seeds, int) else list(seeds)


def _run_all(
    specs: Sequence[RunSpec],
    cache: FeatureCache,
    show: bool,
    on_run_done: Callable[[dict[str, Any]], None] | None,
) -> list[dict[str, Any]]:
    """Run the specs in order (sources of pre-trained systems come first), with runs and epochs progress."""
    from emofuse.train.epochs import GridProgress, epoch_listener, grid_budgets

    rows: list[dict[str, Any]] = []
    with GridProgress(grid_budgets(specs), enabled=show) as bar:
        for spec in specs:
            key = (spec.recipe.name, spec.seed, spec.fold_index)
            bar.started(key, f"{spec.recipe.name} seed {spec.seed} {spec.fold.name}")
            with epoch_listener(lambda epoch, phase, key=key: bar.epoch(key, epoch, phase)):  # type: ignore[misc]
                row = run_one(spec, cache)
            rows.append(row)
            bar.finished(key, row)
            if on_run_done is not None:
                on_run_done(row)
    return rows


def _finish(
    ordered: Sequence[Recipe], out: Path, rows: list[dict[str, Any]], report: bool, notes: Sequence[str] = (),
    extras: Callable[[], dict[str, Any]] | None = None, reference: str | None = None,
    analyses: Callable[[Path, Sequence[Recipe]], None] | None = None,
) -> ExperimentResult:  # fmt: skip
    """Gather the runs' predictions and write the aggregate report (rank 0 only under DDP)."""
    from emofuse.train.rank import is_rank_zero

    if not is_rank_zero():  # the other processes of a DDP job: rank 0 writes runs and the report
        return ExperimentResult(out, pd.DataFrame(rows), None, None)
    preds = pd.concat(
        [
            pd.read_csv(RunDir(r["run_dir"]).predictions_path, dtype={"utterance_id": str, "fold": str})
            for r in rows
        ],
        ignore_index=True,
    )
    rep = None
    if report and analyses is not None:
        analyses(out, ordered)  # before the report, which shows what they write
    if report:
        from emofuse.evaluate import write_report
        from emofuse.train.previous_runs import earlier_predictions

        single = [r.name for r in ordered if r.model.fusion == "none"]
        labels = ordered[0].data.labels if ordered[0].data.task == "classes" else None
        papers = sorted({r.paper for r in ordered if r.paper})
        title = f"emofuse results: {', '.join(papers) or 'custom recipes'}"
        # a second `emofuse run` into the same folder keeps the earlier systems (same labels, same folds)
        names = list(labels) if labels is not None else list(ordered[0].data.avd_names)
        earlier = earlier_predictions(out, {r.name for r in ordered}, names, {str(r["fold"]) for r in rows})
        shown = preds if earlier is None else pd.concat([preds, earlier], ignore_index=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rep = write_report(
                shown,
                out,
                labels=labels,
                single_modality=single,
                title=title,
                notes=notes,
                reference=reference,
                **(extras() if extras is not None else {}),
            )
    return ExperimentResult(out, pd.DataFrame(rows), rep, preds)


__all__ = [
    "ExperimentResult",
    "binned_targets",
    "check_models_loadable",
    "is_complete",
    "order_systems",
    "reconcile_text_source",
    "run_dir_for",
    "run_experiment",
    "spec_key",
]
