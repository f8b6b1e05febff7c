"""The experiment runner: systems x seeds x folds, one directory per run, resumable, then a report.

Layout of ``out_dir``::

    <system>/seed<k>/fold<f>/          one run (f = fold index from 0; the fold's own name is in the tables)
        recipe.json                    the resolved recipe of the system
        run_config.json                model config, input dims, task, labels, branches (encoder spec, id,
                                       input, standardizer), text source, recipe (docs/contracts.md)
        model.safetensors              the trained state dict
        predictions.csv                system, seed, fold, utterance_id, label, pred, p_<class>...
                                       (A/V/D: true_<dim>, pred_<dim>)
        metrics.json                   test (and dev) metrics of the fold, epochs, history, timings
        done.json                      written last, atomically: the run is complete
    report.md, report.json, per_seed.csv, per_fold.csv, plots/   the aggregate (emofuse.evaluate)

Resuming: a run directory counts as finished only when ``done.json`` exists and records the same config hash
(recipe without the seed list, seed, fold ids, encoder ids, and for pre-trained systems the hashes of the runs
they start from). Anything else in a directory without that marker is a leftover of a killed run and is
redone; finished runs are never touched.

Pre-trained systems (``pretrained`` / ``warm_start`` / ``finetune``): for each branch named in
``training.pretrain.from_systems`` the runner loads the finished run of that single-modality system with the
same seed and fold from ``out_dir`` (systems are ordered so that sources run first, so passing e.g.
``audio text_bert ef_pt`` together trains the branches once and reuses them). A branch without such a run is
trained alone with its own head inside the run first (``pretrain.max_epochs`` / ``pretrain.lr``).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emofuse.errors import ConfigError
from emofuse.hashing import config_hash
from emofuse.io import atomic_write_json, atomic_write_text, read_json
from emofuse.recipes.schema import Recipe
from emofuse.train.data import BranchSource, EmotionDataset, FeatureCache, encode_targets, fit_standardizers
from emofuse.train.features import FeaturePlan, spec_key

DONE = "done.json"
RUN_FILES = ("recipe.json", "run_config.json", "model.safetensors", "predictions.csv", "metrics.json")


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` did: one row per run (``status`` = trained / skipped) and the report."""

    out_dir: Path
    runs: pd.DataFrame
    report: Any | None
    predictions: pd.DataFrame | None


def run_dir_for(out_dir: str | Path, system: str, seed: int, fold_index: int) -> Path:
    return Path(out_dir) / system / f"seed{seed}" / f"fold{fold_index}"


def is_complete(run_dir: Path, expected_hash: str | None = None) -> bool:
    """True when ``run_dir`` holds a finished run (and, if given, of the same config hash)."""
    marker = run_dir / DONE
    if not marker.is_file():
        return False
    try:
        data = read_json(marker)
    except (OSError, ValueError):
        return False
    if any(not (run_dir / f).is_file() for f in RUN_FILES):
        return False
    return expected_hash is None or data.get("config_hash") == expected_hash


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


def _folds_from(folds: Any, table: pd.DataFrame, recipe: Recipe) -> list[Any]:
    from emofuse.corpus.protocols import Fold, make_folds, read_splits

    if folds is None:
        p = recipe.protocol
        if p.kind == "random-kfold":
            return random_kfold(table, recipe, n_folds=p.k or 5, seed=p.seed, dev_fraction=p.dev_fraction)
        return make_folds(
            table,
            p.kind,
            n_folds=p.k or 5,
            seed=p.seed,
            dev_fraction=p.dev_fraction,
            test_scripts=p.test_scripts,
            check=True,
            strict=p.strict_leaks,
        )
    if isinstance(folds, str | Path):
        return list(read_splits(folds).folds)
    if hasattr(folds, "folds"):
        return list(folds.folds)
    out = list(folds)
    if not all(isinstance(f, Fold) for f in out):
        raise ConfigError("folds must be Fold objects, a SplitFile or the path of a split file")
    return out


def random_kfold(
    table: pd.DataFrame, recipe: Recipe, n_folds: int = 5, seed: int = 0, dev_fraction: float = 0.1
) -> list[Any]:
    """k folds over the utterances that have a target, shuffled with ``seed`` (kumar2021: "80%-20%" + 5-fold).

    Speaker-DEPENDENT: a speaker's utterances fall on both sides, so scores are optimistic next to the
    speaker-independent protocols; a :class:`emofuse.corpus.leaks` warning says so. ``dev_fraction`` of
    each fold's training utterances (random) form the dev set.
    """
    from sklearn.model_selection import KFold

    from emofuse.corpus.leaks import check_leaks
    from emofuse.corpus.protocols import Fold

    if recipe.data.bins is not None:
        ids = [
            u for u, v in zip(table["utterance_id"], table[recipe.data.bins.dim], strict=True) if pd.notna(v)
        ]
    else:
        d = recipe.data
        ids = list(encode_targets(table, d.task, d.labels, d.label_map, d.avd_names))
    if len(ids) < n_folds:
        raise ConfigError(
            f"random-kfold needs at least {n_folds} labelled utterances; the table has {len(ids)}"
        )
    rng = np.random.default_rng(seed)
    folds = []
    splitter = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for i, (train_idx, test_idx) in enumerate(splitter.split(ids)):
        train = [ids[j] for j in train_idx]
        n_dev = int(round(dev_fraction * len(train)))
        dev_set = set(rng.choice(train, size=n_dev, replace=False).tolist()) if n_dev else set()
        folds.append(
            Fold(
                f"fold{i + 1}",
                train=tuple(u for u in train if u not in dev_set),
                dev=tuple(u for u in train if u in dev_set),
                test=tuple(ids[j] for j in test_idx),
            )
        )
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        check_leaks(table, folds, strict=False)
    return folds


def _check_fold_ids(folds: Sequence[Any], table: pd.DataFrame) -> None:
    known = set(table["utterance_id"])
    for f in folds:
        unknown = [u for u in (*f.train, *f.dev, *f.test) if u not in known]
        if unknown:
            raise ConfigError(
                f"fold {f.name!r} names {len(unknown)} utterance(s) that the corpus table lacks "
                f"(e.g. {unknown[:5]}); the split file does not belong to this table"
            )


def _progress(enabled: bool) -> Any:
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        transient=False,
    )


class _Context:
    """Shared state of one runner call: table, folds, features, caches."""

    def __init__(self, table: pd.DataFrame, folds: list[Any], plan: FeaturePlan, out_dir: Path) -> None:
        self.table = table
        self.folds = folds
        self.plan = plan
        self.cache = FeatureCache(plan.store)
        self.out_dir = out_dir
        self._targets: dict[str, dict[str, np.ndarray]] = {}
        self.source_hashes: dict[tuple[str, int, int], str] = {}

    def targets(self, recipe: Recipe, fold: Any = None) -> dict[str, np.ndarray]:
        """``{utterance_id: target}``; with ``data.bins`` the bin edges come from ``fold``'s training part."""
        d = recipe.data
        if d.bins is not None:
            return binned_targets(self.table, d.bins.dim, d.bins.n_bins, fold.train)[0]
        key = json.dumps(d.model_dump(mode="json"), sort_keys=True)
        if key not in self._targets:
            self._targets[key] = encode_targets(self.table, d.task, d.labels, d.label_map, d.avd_names)
        return self._targets[key]


def binned_targets(
    table: pd.DataFrame, dim: str, n_bins: int, train_ids: Sequence[str]
) -> tuple[dict[str, np.ndarray], list[float]]:
    """Class targets over ``n_bins`` quantile bins of column ``dim`` (edges from ``train_ids`` only; perez2022).

    Returns ``({utterance_id: bin index (int64 scalar)}, inner edges)``; rows without a value are left out.
    """
    if dim not in table.columns:
        raise ConfigError(f"data.bins.dim {dim!r} is not a column of the utterance table")
    values = dict(zip(table["utterance_id"], pd.to_numeric(table[dim], errors="coerce"), strict=True))
    train = np.asarray(
        [values[u] for u in train_ids if u in values and np.isfinite(values[u])], dtype=np.float64
    )
    if train.size < n_bins:
        raise ConfigError(
            f"data.bins: only {train.size} training utterances have a {dim} value; need {n_bins}"
        )
    edges = np.quantile(train, np.arange(1, n_bins) / n_bins)
    out = {
        u: np.asarray(int(np.searchsorted(edges, v, side="right")), dtype=np.int64)
        for u, v in values.items()
        if np.isfinite(v)
    }
    return out, [float(e) for e in edges]


def _run_hash(
    recipe: Recipe, seed: int, fold: Any, sources: Mapping[str, BranchSource], upstream: Mapping[str, str]
) -> str:
    resolved = recipe.resolved()
    resolved["training"].pop("seeds", None)
    return config_hash(
        {
            "recipe": resolved,
            "seed": seed,
            "fold": [fold.name, list(fold.train), list(fold.dev), list(fold.test)],
            "encoders": {n: s.encoder_id for n, s in sources.items()},
            "upstream": dict(upstream),
        }
    )


def _upstream(recipe: Recipe, ctx: _Context, seed: int, fold_index: int) -> dict[str, tuple[Path, str]]:
    """``{branch: (run dir of the source system, its config hash)}`` for branches with a finished source run."""
    pre = recipe.training.pretrain
    if recipe.training.strategy == "cold_start" or pre is None:
        return {}
    out = {}
    for branch, system in pre.from_systems.items():
        d = run_dir_for(ctx.out_dir, system, seed, fold_index)
        if is_complete(d):
            out[branch] = (d, str(read_json(d / DONE).get("config_hash")))
    return out


def run_experiment(
    recipes: Recipe | Sequence[Recipe],
    table: pd.DataFrame,
    folds: Any,
    store: Any,
    out_dir: str | Path,
    seeds: Sequence[int] | int | None = None,
    *,
    transcripts: pd.DataFrame | None = None,
    encoder_ids: Mapping[str, str] | None = None,
    extract_missing: bool = True,
    progress: bool | None = None,
    report: bool = True,
    on_run_done: Callable[[dict[str, Any]], None] | None = None,
    torch_threads: int | None = None,
) -> ExperimentResult:
    """Train and evaluate every system over seeds x folds, skipping finished runs, then write the report.

    Args:
        recipes: one recipe or several (the systems); they must share the task and labels.
        table: the utterance table (``emofuse.corpus``).
        folds: a list of ``Fold``, a ``SplitFile``, the path of a split file, or None (made from the first
            recipe's protocol block with ``emofuse.corpus.protocols.make_folds``).
        store: an ``emofuse.encoders.FeatureStore``.
        out_dir: output directory (see the module docstring).
        seeds: seed list or count (default: each recipe's ``training.seeds``).
        transcripts: transcripts table for ``asr`` / ``asr_sil`` inputs.
        encoder_ids: ``{spec: encoder_id}`` known up front (spec strings, dict specs as sorted JSON); other
            encoders are built once to learn their id.
        extract_missing: compute missing features (else a missing entry is an error).
        progress: rich progress over runs (default: when stderr is a terminal).
        report: write the aggregate report when done.
        on_run_done: called with each finished run's row (tests use it to interrupt a run).
        torch_threads: CPU threads for torch during this call (small models train fastest on 1; default:
            torch's own setting).
    """
    if torch_threads is not None:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(torch_threads)
        try:
            return run_experiment(
                recipes,
                table,
                folds,
                store,
                out_dir,
                seeds,
                transcripts=transcripts,
                encoder_ids=encoder_ids,
                extract_missing=extract_missing,
                progress=progress,
                report=report,
                on_run_done=on_run_done,
            )
        finally:
            torch.set_num_threads(before)
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
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if folds is None and len({json.dumps(r.protocol.model_dump(), sort_keys=True) for r in ordered}) > 1:
        raise ConfigError(
            "the recipes name different protocols; make one split file (`emofuse corpus split`) and pass it, "
            "so that every system is evaluated on the same folds"
        )
    fold_list = _folds_from(folds, table, ordered[0])
    if not fold_list:
        raise ConfigError("no folds to run")
    _check_fold_ids(fold_list, table)
    show = sys.stderr.isatty() if progress is None else progress
    plan = FeaturePlan(table, store, transcripts, encoder_ids, extract_missing, progress=show)
    ctx = _Context(table, fold_list, plan, out)

    def seed_list(r: Recipe) -> list[int]:
        if seeds is None:
            return r.training.seed_list()
        return list(range(seeds)) if isinstance(seeds, int) else list(seeds)

    jobs = [(r, s, i, f) for r in ordered for s in seed_list(r) for i, f in enumerate(fold_list)]
    sources = {r.name: plan.sources(r) for r in ordered}  # builds encoders / extracts before any training
    rows: list[dict[str, Any]] = []
    with _progress(show) as bar:
        task = bar.add_task("", total=len(jobs)) if bar is not None else None
        for recipe, seed, fold_index, fold in jobs:
            if bar is not None:
                bar.update(task, description=f"{recipe.name} seed {seed} {fold.name}")
            row = _run_one(recipe, seed, fold_index, fold, sources[recipe.name], ctx)
            rows.append(row)
            if bar is not None:
                bar.advance(task)
            if on_run_done is not None:
                on_run_done(row)
    runs = pd.DataFrame(rows)
    preds = pd.concat(
        [
            pd.read_csv(Path(r["run_dir"]) / "predictions.csv", dtype={"utterance_id": str, "fold": str})
            for r in rows
        ],
        ignore_index=True,
    )
    rep = None
    if report:
        from emofuse.evaluate import write_report

        single = [r.name for r in ordered if r.model.fusion == "none"]
        labels = ordered[0].data.labels if ordered[0].data.task == "classes" else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rep = write_report(preds, out, labels=labels, single_modality=single, title=_title(ordered))
    return ExperimentResult(out, runs, rep, preds)


def _title(recipes: Sequence[Recipe]) -> str:
    papers = sorted({r.paper for r in recipes if r.paper})
    return f"emofuse results: {', '.join(papers) or 'custom recipes'}"


def _clear_partial(run_dir: Path) -> None:
    if run_dir.exists():
        for p in run_dir.iterdir():
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _datasets(
    recipe: Recipe, fold: Any, sources: Mapping[str, BranchSource], ctx: _Context
) -> tuple[EmotionDataset, EmotionDataset | None, EmotionDataset]:
    targets = ctx.targets(recipe, fold)
    train_ids = [u for u in fold.train if u in targets]
    dev_ids = [u for u in fold.dev if u in targets]
    test_ids = [u for u in fold.test if u in targets]
    if not train_ids or not test_ids:
        raise ConfigError(
            f"fold {fold.name!r} has {len(train_ids)} training and {len(test_ids)} test utterances with a label of "
            f"{recipe.data.labels or recipe.data.avd_names}; check the label set and label_map"
        )
    fit_standardizers(sources, ctx.cache, train_ids)
    train = EmotionDataset(train_ids, sources, ctx.cache, targets)
    dev = EmotionDataset(dev_ids, sources, ctx.cache, targets) if dev_ids else None
    test = EmotionDataset(test_ids, sources, ctx.cache, targets)
    return train, dev, test


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _run_one(
    recipe: Recipe, seed: int, fold_index: int, fold: Any, sources: Mapping[str, BranchSource], ctx: _Context
) -> dict[str, Any]:
    import lightning as L
    import torch
    from safetensors.torch import load_file, save_file

    from emofuse.train.fit import describe_fit, fit_model
    from emofuse.train.model import build_model, resolve_layer_counts
    from emofuse.train.strategies import apply_strategy, initialise, load_pretrained_branches

    run_dir = run_dir_for(ctx.out_dir, recipe.name, seed, fold_index)
    upstream = _upstream(recipe, ctx, seed, fold_index)
    chash = _run_hash(recipe, seed, fold, sources, {b: h for b, (_, h) in upstream.items()})
    row = {
        "system": recipe.name,
        "seed": seed,
        "fold": fold.name,
        "fold_index": fold_index,
        "run_dir": str(run_dir),
    }
    if is_complete(run_dir, chash):
        return {**row, "status": "skipped"}
    _clear_partial(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    train, dev, test = _datasets(recipe, fold, sources, ctx)
    input_dims = train.input_dims()
    model_cfg = resolve_layer_counts(recipe.model, train.input_layers())
    labels = list(recipe.data.labels) if recipe.data.task == "classes" else list(recipe.data.avd_names)
    task, tr = recipe.data.task, recipe.training

    # pre-trained branches: from finished single-modality runs, else trained alone here first
    states: dict[str, tuple[dict[str, torch.Tensor], str]] = {}
    pretrain_info: dict[str, Any] = {}
    if tr.strategy != "cold_start":
        pre = tr.pretrain
        assert pre is not None
        for branch in recipe.model.branches:
            if branch in upstream:
                src_dir = upstream[branch][0]
                src_cfg = read_json(src_dir / "run_config.json")
                src_branches = src_cfg.get("branches", {})
                if len(src_branches) != 1:
                    raise ConfigError(f"{src_dir}: a pre-training source must be a single-branch system")
                src_name, src_info = next(iter(src_branches.items()))
                if src_info.get("encoder_id") != sources[branch].encoder_id:
                    raise ConfigError(
                        f"branch {branch!r} of {recipe.name} reads encoder {sources[branch].encoder_id} but its "
                        f"pre-training source {src_dir} was trained on {src_info.get('encoder_id')}"
                    )
                states[branch] = (load_file(str(src_dir / "model.safetensors")), src_name)
                pretrain_info[branch] = {"from_run": str(src_dir)}
            else:
                L.seed_everything(seed, workers=True, verbose=False)
                single = build_model(model_cfg.single_branch(branch), input_dims, len(labels), task)
                initialise(single, tr.init)
                with _quiet():
                    fit_model(
                        single,
                        train,
                        dev,
                        tr,
                        task,
                        labels,
                        seed,
                        run_dir,
                        lr=pre.lr,
                        max_epochs=pre.max_epochs,
                        warmup_steps=pre.warmup_steps,
                        progress=False,
                    )
                states[branch] = ({k: v.detach().clone() for k, v in single.state_dict().items()}, branch)
                pretrain_info[branch] = {"trained_in_run": True, "epochs": pre.max_epochs, "lr": pre.lr}

    L.seed_everything(seed, workers=True, verbose=False)
    model = build_model(model_cfg, input_dims, len(labels), task)
    initialise(model, tr.init)
    if states:
        load_pretrained_branches(model, states)
    score_only = model_cfg.fusion == "score" and tr.strategy == "pretrained"
    if score_only:
        # makiuchi2021: two trained single-modality models, fused by fixed weights; nothing trains here
        from emofuse.train.fit import FitResult
        from emofuse.train.module import EmotionLightningModule

        model.freeze_branches("all")
        trainable: list[str] = []
        result = FitResult(EmotionLightningModule(model, task, labels), 0, None, [])
        result.module.eval()
    else:
        trainable = apply_strategy(model, tr.strategy)
        with _quiet():
            result = fit_model(model, train, dev, tr, task, labels, seed, run_dir, progress=False)
    module = result.module
    tuned = None
    if tr.score_weights == "tune_dev":
        tuned = _tune_score_weights(model, dev, tr.batch_size, seed, recipe.name, fold.name)

    # predictions and metrics
    ids, outputs, targets = module.predict_loader(_loader(test, tr.batch_size, seed))
    frame = _predictions_frame(recipe, seed, fold.name, ids, outputs, targets, labels)
    metrics: dict[str, Any] = {
        "test": _metrics(frame, task, labels),
        "n_train": len(train),
        "n_test": len(test),
    }
    if dev is not None:
        d_ids, d_out, d_tgt = module.predict_loader(_loader(dev, tr.batch_size, seed))
        metrics["dev"] = _metrics(
            _predictions_frame(recipe, seed, fold.name, d_ids, d_out, d_tgt, labels), task, labels
        )
        metrics["n_dev"] = len(dev)
    metrics.update(describe_fit(result))
    metrics["pretrain"] = pretrain_info
    metrics["trainable_parameters"] = trainable
    if model_cfg.fusion == "score":
        metrics["score_weights"] = model.get_score_weights()
        metrics["score_weights_tuned_on_dev"] = tuned is not None
    if recipe.data.bins is not None:
        metrics["bin_edges"] = binned_targets(
            ctx.table, recipe.data.bins.dim, recipe.data.bins.n_bins, fold.train
        )[1]
    metrics["train_time_s"] = round(time.perf_counter() - started, 3)

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    resolved = recipe.resolved()
    run_config = {
        "model": model_cfg.model_dump(mode="json"),
        "input_dims": input_dims,
        "task": task,
        **({"labels": labels} if task == "classes" else {"avd_names": labels}),
        "branches": {
            name: {
                "encoder": recipe.features[name].encoder,
                "encoder_id": src.encoder_id,
                "input": recipe.features[name].input,
                "standardizer": src.standardizer.to_dict() if src.standardizer is not None else None,
            }
            for name, src in sources.items()
        },
        "text_source": recipe.text_source.model_dump(mode="json"),
        "recipe": resolved,
        "system": recipe.name,
        "seed": seed,
        "fold": fold.name,
    }
    atomic_write_json(run_dir / "recipe.json", resolved)
    atomic_write_json(run_dir / "run_config.json", run_config)
    tmp = run_dir / ".model.safetensors.tmp"
    save_file(state, str(tmp), metadata={"format": "pt", "system": recipe.name})
    tmp.replace(run_dir / "model.safetensors")
    atomic_write_text(run_dir / "predictions.csv", frame.to_csv(index=False))
    atomic_write_json(run_dir / "metrics.json", metrics)
    atomic_write_json(
        run_dir / DONE, {"config_hash": chash, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    )
    return {
        **row,
        "status": "trained",
        **{k: v for k, v in metrics["test"].items() if k in ("uar", "accuracy", "av_auc", "ccc")},
    }


def _tune_score_weights(
    model: Any, dev: EmotionDataset | None, batch_size: int, seed: int, system: str, fold: str
) -> dict[str, float]:
    """Set ``model``'s score-fusion weights to those that maximise dev ``uar`` (makiuchi2021 Eq. 4)."""
    import torch

    from emofuse.nn.fusion import tune_score_weights

    if dev is None or len(dev) == 0:
        raise ConfigError(
            f"{system}, {fold}: training.score_weights is tune_dev but the fold has no dev utterances; "
            "give the protocol a dev_fraction > 0 or use score_weights: fixed"
        )
    model.eval()
    probs: dict[str, list[Any]] = {n: [] for n in model.branch_names}
    targets = []
    with torch.no_grad():
        for batch in _loader(dev, batch_size, seed):
            out = model(batch["inputs"], batch["masks"])["branch_outputs"]
            for n in model.branch_names:
                probs[n].append(torch.softmax(out[n], dim=-1))
            targets.append(batch["targets"])
    weights = tune_score_weights({n: torch.cat(p) for n, p in probs.items()}, torch.cat(targets))
    model.set_score_weights(weights)
    return weights


def _loader(dataset: EmotionDataset, batch_size: int, seed: int) -> Any:
    from emofuse.train.fit import make_loader

    return make_loader(dataset, batch_size, shuffle=False, seed=seed)


def _predictions_frame(
    recipe: Recipe,
    seed: int,
    fold: str,
    ids: list[str],
    outputs: np.ndarray,
    targets: np.ndarray,
    labels: list[str],
) -> pd.DataFrame:
    base = {"system": recipe.name, "seed": seed, "fold": fold, "utterance_id": ids}
    if recipe.data.task == "classes":
        names = np.asarray(labels, dtype=object)
        cols = {**base, "label": names[targets.astype(int)], "pred": names[outputs.argmax(axis=1)]}
        cols.update({f"p_{lab}": outputs[:, i] for i, lab in enumerate(labels)})
        return pd.DataFrame(cols)
    cols = dict(base)
    for i, dim in enumerate(labels):
        cols[f"true_{dim}"] = targets[:, i]
        cols[f"pred_{dim}"] = outputs[:, i]
    return pd.DataFrame(cols)


def _metrics(frame: pd.DataFrame, task: str, labels: list[str]) -> dict[str, float]:
    from emofuse.evaluate.metrics import classification_metrics, regression_metrics

    with _quiet():
        if task == "classes":
            proba = frame[[f"p_{lab}" for lab in labels]].to_numpy(dtype=np.float64)
            return classification_metrics(
                frame["label"].to_numpy(), proba, labels, y_pred=frame["pred"].to_numpy()
            )
        true = frame[[f"true_{d}" for d in labels]].to_numpy(dtype=np.float64)
        pred = frame[[f"pred_{d}" for d in labels]].to_numpy(dtype=np.float64)
        return regression_metrics(true, pred, labels)


__all__ = [
    "DONE",
    "ExperimentResult",
    "is_complete",
    "order_systems",
    "run_dir_for",
    "binned_targets",
    "random_kfold",
    "run_experiment",
    "spec_key",
]
