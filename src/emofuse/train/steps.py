"""One run (system x seed x fold) as named steps over one plain, picklable :class:`RunSpec`.

:func:`run_one` is a module-level function of a :class:`RunSpec` only (no closures, no open handles), so a
scheduler may send runs to worker processes. Its steps, in order: :func:`make_datasets` (targets, standardizers
fitted on the training part), :func:`pretrained_branch_states` (from finished single-modality runs, else trained
here first), :func:`train_network`, :func:`evaluate_run` (predictions and metrics), :func:`record_run` (the run
directory, through :class:`emofuse.train.rundir.RunDir`, done marker last).

Pre-trained systems (``pretrained`` / ``warm_start`` / ``finetune``): for each branch named in
``training.pretrain.from_systems`` the run loads the finished run of that single-modality system with the same
seed and fold from the output directory; a branch without such a run is trained alone with its own head inside
the run first (``pretrain.max_epochs`` / ``pretrain.lr``).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from emofuse.corpus.protocols import Fold
from emofuse.errors import ConfigError
from emofuse.hashing import config_hash
from emofuse.recipes.model import ModelConfig
from emofuse.recipes.schema import Recipe
from emofuse.train.data import BranchSource, EmotionDataset, FeatureCache, fit_standardizers
from emofuse.train.rundir import BranchRecord, RunConfig, RunDir
from emofuse.train.target_norm import TargetScaling, fit_target_scaling, label_units, normalise_targets
from emofuse.train.targets import binned_targets, recipe_targets


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs, as plain data: the recipe, seed, fold, the branches' feature sources, the table,
    the feature store's root and the experiment's output directory."""

    recipe: Recipe
    seed: int
    fold_index: int
    fold: Fold
    sources: Mapping[str, BranchSource]
    table: pd.DataFrame
    store_root: Path
    out_dir: Path
    #: the transcripts table, for end_to_end text branches reading ``asr`` / ``asr_sil``
    transcripts: pd.DataFrame | None = None

    @property
    def run_dir(self) -> RunDir:
        return RunDir.of(self.out_dir, self.recipe.name, self.seed, self.fold_index)

    @property
    def labels(self) -> list[str]:
        """Class names (classes) or A/V/D names (avd), in output order."""
        d = self.recipe.data
        return list(d.labels or []) if d.task == "classes" else list(d.avd_names)


@dataclass
class Datasets:
    train: EmotionDataset
    dev: EmotionDataset | None
    test: EmotionDataset
    #: end_to_end mode: ``{branch: TrainableEncoder}`` running inside the model (empty in cached mode)
    encoders: dict[str, Any] = field(default_factory=dict)
    #: ``data.target_norm``'s statistics of the training part (None: targets in label units)
    target_scaling: TargetScaling | None = None


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Lightning's and sklearn's chatter during a run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def upstream_runs(spec: RunSpec) -> dict[str, tuple[RunDir, str]]:
    """``{branch: (finished run of its source system, that run's config hash)}`` for pre-trained branches."""
    pre = spec.recipe.training.pretrain
    if spec.recipe.training.strategy == "cold_start" or pre is None:
        return {}
    out = {}
    for branch, system in pre.from_systems.items():
        found = RunDir.of(spec.out_dir, system, spec.seed, spec.fold_index)
        found_hash = found.done_hash()
        if found_hash is not None:
            out[branch] = (found, found_hash)
    return out


def run_hash(spec: RunSpec, upstream: Mapping[str, str]) -> str:
    """The config hash a finished run records: recipe (without the seed list), seed, fold, encoder ids, sources."""
    resolved = spec.recipe.resolved()
    resolved["training"].pop("seeds", None)
    for key in ("loggers", "epoch_selection"):  # logging, how max_epochs was chosen: not what is trained
        resolved["training"].pop(key, None)
    for key in ("trainer", "analyses"):  # where it trains, what the report adds: not what is trained
        resolved.pop(key, None)
    f = spec.fold
    return config_hash(
        {
            "recipe": resolved,
            "seed": spec.seed,
            "fold": [f.name, list(f.train), list(f.dev), list(f.test)],
            "encoders": {n: s.encoder_id for n, s in spec.sources.items()},
            "upstream": dict(upstream),
        }
    )


def make_datasets(spec: RunSpec, cache: FeatureCache) -> Datasets:
    """Train / dev / test datasets of the fold; standardizers fitted on the training utterances only."""
    targets = recipe_targets(spec.recipe, spec.table, spec.fold.train)
    scaling = fit_target_scaling(spec.recipe.data.target_norm, spec.labels, targets, spec.fold.train)
    targets = normalise_targets(targets, scaling)
    # rows a branch cannot read (text-only rows for an audio branch) are left out of this system
    usable = {u for u in targets if all(u in src.keys for src in spec.sources.values())}
    train_ids, dev_ids, test_ids = (
        [u for u in part if u in usable] for part in (spec.fold.train, spec.fold.dev, spec.fold.test)
    )
    if not train_ids or not test_ids:
        raise ConfigError(
            f"fold {spec.fold.name!r} has {len(train_ids)} training and {len(test_ids)} test utterances with a "
            f"label of {spec.labels}; check the label set and label_map"
        )
    for src in spec.sources.values():  # fold-dependent sources (per-speaker means, makiuchi2021)
        prepare = getattr(src, "prepare_fold", None)
        if prepare is not None:
            prepare(spec.fold, cache)
    from emofuse.train.end_to_end import end_to_end_branches

    inside = end_to_end_branches(spec.recipe)
    sources = {n: s for n, s in spec.sources.items() if n not in inside}
    fit_standardizers(sources, cache, train_ids)
    parts = [EmotionDataset(ids, sources, cache, targets) for ids in (train_ids, dev_ids, test_ids)]
    if not inside:
        return Datasets(parts[0], parts[1] if dev_ids else None, parts[2], target_scaling=scaling)
    from emofuse.train.end_to_end import EndToEndDataset, RawInputs, build_trainable_encoders

    encoders = build_trainable_encoders(spec.recipe)
    raw = {n: RawInputs(spec.recipe, n, spec.table, spec.transcripts) for n in inside}
    e2e = [EndToEndDataset(p, raw, encoders) for p in parts]
    return Datasets(e2e[0], e2e[1] if dev_ids else None, e2e[2], encoders, scaling)  # type: ignore[arg-type]


def pretrained_branch_states(
    spec: RunSpec, model_cfg: ModelConfig, data: Datasets, upstream: Mapping[str, tuple[RunDir, str]]
) -> tuple[dict[str, tuple[dict[str, Any], str]], dict[str, Any]]:
    """Per pre-trained branch ``(state dict, its branch name in the source)`` and a description for metrics."""
    import lightning as L
    from safetensors.torch import load_file

    from emofuse.train.fit import fit_model
    from emofuse.train.model import build_model
    from emofuse.train.strategies import initialise

    tr, recipe = spec.recipe.training, spec.recipe
    states: dict[str, tuple[dict[str, Any], str]] = {}
    info: dict[str, Any] = {}
    if tr.strategy == "cold_start" or tr.pretrain is None:
        return states, info
    for branch in recipe.model.branches:
        if branch in upstream:
            source = upstream[branch][0]
            src_config = source.read_config()
            if len(src_config.model.branches) != 1:
                raise ConfigError(f"{source.path}: a pre-training source must be a single-branch system")
            src_name = next(iter(src_config.model.branches))
            src_info = src_config.branches[src_name]
            if src_info.encoder_id != spec.sources[branch].encoder_id:
                raise ConfigError(
                    f"branch {branch!r} of {recipe.name} reads encoder {spec.sources[branch].encoder_id} but its "
                    f"pre-training source {source.path} was trained on {src_info.encoder_id}"
                )
            states[branch] = (load_file(str(source.weights_path)), src_name)
            info[branch] = {"from_run": str(source.path)}
            continue
        L.seed_everything(spec.seed, workers=True, verbose=False)
        single = build_model(
            model_cfg.single_branch(branch), data.train.input_dims(), len(spec.labels), recipe.data.task
        )
        initialise(single, tr.init)
        pre = tr.pretrain
        with quiet():
            fit_model(
                single, data.train, data.dev, tr, recipe.data.task, spec.labels, spec.seed, spec.run_dir.path,
                lr=pre.lr, max_epochs=pre.max_epochs, warmup_steps=pre.warmup_steps, progress=False,
                log_name=f"pretrain_{branch}",
            )  # fmt: skip
        states[branch] = ({k: v.detach().clone() for k, v in single.state_dict().items()}, branch)
        info[branch] = {
            "trained_in_run": True,
            "epochs": pre.max_epochs or (None if tr.max_steps else tr.max_epochs),
            "steps": None if pre.max_epochs else tr.max_steps,
            "lr": pre.lr or tr.lr,
        }
    return states, info


def train_network(
    spec: RunSpec, model_cfg: ModelConfig, data: Datasets, states: Mapping[str, tuple[dict[str, Any], str]]
) -> tuple[Any, Any, list[str]]:
    """Build, initialise, load pre-trained branches, apply the strategy and fit. Returns ``(model, fit result,
    trainable parameter names)``; score fusion of two pre-trained models trains nothing (makiuchi2021)."""
    import lightning as L

    from emofuse.train.fit import FitResult, fit_model
    from emofuse.train.model import build_model
    from emofuse.train.module import EmotionLightningModule
    from emofuse.train.strategies import apply_strategy, initialise, load_pretrained_branches

    tr, task = spec.recipe.training, spec.recipe.data.task
    L.seed_everything(spec.seed, workers=True, verbose=False)
    model = build_model(model_cfg, data.train.input_dims(), len(spec.labels), task)
    initialise(model, tr.init)
    if states:
        load_pretrained_branches(model, dict(states))
    if tr.strategy == "pretrained" and not any(True for _ in model.fuse.parameters()):
        # frozen pre-trained branches and a fusion with nothing to learn (score fusion, makiuchi2021)
        model.freeze_branches("all")
        result = FitResult(EmotionLightningModule(model, task, spec.labels), 0, None, [])
        result.module.eval()
        return model, result, []
    if spec.recipe.estimator is not None:  # a scikit-learn system (the eGeMAPS + linear SVM baseline)
        from emofuse.train.estimator import fit_estimator

        return (
            model,
            fit_estimator(model, data.train, data.dev, spec.recipe.estimator, spec.labels, spec.seed),
            [],
        )
    trainable = apply_strategy(model, tr.strategy)
    network = model
    if data.encoders:  # end_to_end: the same fusion model with the encoders in front
        from emofuse.train.end_to_end import wrap_model

        network = wrap_model(model, spec.recipe, data.encoders)
        trainable = trainable + [
            f"encoders.{n}.{p}"
            for n, e in data.encoders.items()
            for p, w in e.named_parameters()
            if w.requires_grad
        ]
    with quiet():
        result = fit_model(
            network, data.train, data.dev, tr, task, spec.labels, spec.seed, spec.run_dir.path, progress=False,
            trainer_config=spec.recipe.trainer,
        )  # fmt: skip
    return model, result, trainable


def training_data_summary(spec: RunSpec, train: Any) -> dict[str, Any]:
    """What the weights saw (for the model card): corpora and speakers of the training part and, for classes,
    the count of each class the model learns (after the recipe's label map)."""
    table = spec.table
    part = table.loc[table["utterance_id"].isin(set(train.ids))]
    summary: dict[str, Any] = {
        "corpora": sorted({str(c) for c in part["corpus"].dropna()}),
        "n_speakers": int(part["speaker"].dropna().nunique()),
    }
    if spec.recipe.data.task == "classes":
        counts = [0] * len(spec.labels)
        for uid in train.ids:
            counts[int(train.targets[uid])] += 1
        summary["labels"] = dict(zip(spec.labels, counts, strict=True))
    return summary


def evaluate_run(spec: RunSpec, module: Any, data: Datasets) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Test predictions (the ``predictions.csv`` frame) and test / dev metrics of the trained module."""
    from emofuse.train.outputs import fold_metrics, loader, predictions_frame

    tr, task, scaling = spec.recipe.training, spec.recipe.data.task, data.target_scaling
    ids, outputs, targets = label_units(
        module.predict_loader(loader(data.test, tr.batch_size, spec.seed)), scaling
    )
    frame = predictions_frame(spec.recipe, spec.seed, spec.fold.name, ids, outputs, targets, spec.labels)
    metrics: dict[str, Any] = {
        "test": fold_metrics(frame, task, spec.labels),
        "n_train": len(data.train),
        "n_test": len(data.test),
        "data": training_data_summary(spec, data.train),
    }
    if data.dev is not None:
        d_ids, d_out, d_tgt = label_units(
            module.predict_loader(loader(data.dev, tr.batch_size, spec.seed)), scaling
        )
        dev_frame = predictions_frame(
            spec.recipe, spec.seed, spec.fold.name, d_ids, d_out, d_tgt, spec.labels
        )
        metrics["dev"] = fold_metrics(dev_frame, task, spec.labels)
        metrics["n_dev"] = len(data.dev)
    return frame, metrics


def _branch_record(spec: RunSpec, name: str, src: BranchSource, tuned: Mapping[str, str]) -> BranchRecord:
    """A branch's record; a fine-tuned encoder's spec names its directory ``encoders/<branch>`` (relative) and
    its id ends with the checksum of its weights (``tuned[branch]``)."""
    feat = spec.recipe.features[name]
    encoder, encoder_id = feat.encoder, src.encoder_id
    if name in tuned:
        from emofuse.encoders.registry import spec_to_dict
        from emofuse.train.rundir import ENCODERS_DIR

        encoder = {**spec_to_dict(feat.encoder), "model": f"{ENCODERS_DIR}/{name}"}
        encoder_id = f"{src.encoder_id}-finetuned-{tuned[name][:16]}"
    return BranchRecord(
        encoder=encoder,
        encoder_id=encoder_id,
        input=feat.input,
        standardizer=src.standardizer.to_dict() if src.standardizer is not None else None,
        fine_tuned=name in tuned,
        per_speaker=feat.per_speaker,
    )


def record_run(
    spec: RunSpec, model: Any, model_cfg: ModelConfig, input_dims: dict[str, int], frame: pd.DataFrame,
    metrics: dict[str, Any], chash: str, tuned: Mapping[str, Any] | None = None,
    target_scaling: TargetScaling | None = None,
) -> None:  # fmt: skip
    """Write the run directory (every file atomically, the done marker last).

    ``tuned``: ``{branch: TrainableEncoder}`` whose weights were fine-tuned (saved under ``encoders/<branch>/``).
    """
    sums = {name: spec.run_dir.write_encoder(name, encoder.save) for name, encoder in (tuned or {}).items()}
    recipe, task = spec.recipe, spec.recipe.data.task
    kept = [n for n in spec.sources if not recipe.features[n].training_only]  # what a package computes
    config = RunConfig(
        model=model_cfg,
        input_dims={n: d for n, d in input_dims.items() if n in kept},
        task=task,
        labels=spec.labels if task == "classes" else None,
        avd_names=spec.labels if task == "avd" else None,
        branches={
            name: _branch_record(spec, name, src, sums) for name, src in spec.sources.items() if name in kept
        },
        text_source=recipe.text_source,
        target_scaling=target_scaling,
        recipe=recipe.resolved(),
        system=recipe.name,
        seed=spec.seed,
        fold=spec.fold.name,
    )
    spec.run_dir.write(
        config,
        model.state_dict(),
        predictions_csv=frame.to_csv(index=False),
        metrics=metrics,
        config_hash=chash,
    )


def run_one(spec: RunSpec, cache: FeatureCache | None = None) -> dict[str, Any]:
    """Train and evaluate one run unless it already finished with the same config hash; returns its row.

    ``cache``: a :class:`FeatureCache` shared by the runs of one process (default: a fresh one on the store).
    """
    from emofuse.encoders.store import FeatureStore
    from emofuse.train.fit import describe_fit
    from emofuse.train.model import resolve_layer_counts
    from emofuse.train.outputs import tune_score_weights_on_dev

    spec = replace(
        spec, sources={n: replace(s) for n, s in spec.sources.items()}
    )  # standardizers are per run
    run_dir, recipe = spec.run_dir, spec.recipe
    upstream = upstream_runs(spec)
    chash = run_hash(spec, {b: h for b, (_, h) in upstream.items()})
    row = {"system": recipe.name, "seed": spec.seed, "fold": spec.fold.name, "fold_index": spec.fold_index}
    row["run_dir"] = str(run_dir.path)
    if run_dir.is_complete(chash):
        return {**row, "status": "skipped"}
    run_dir.clear()
    started = time.perf_counter()
    data = make_datasets(spec, cache if cache is not None else FeatureCache(FeatureStore(spec.store_root)))
    model_cfg = resolve_layer_counts(recipe.model, data.train.input_layers())
    states, pretrain_info = pretrained_branch_states(spec, model_cfg, data, upstream)
    model, result, trainable = train_network(spec, model_cfg, data, states)
    tuned = None
    if recipe.training.score_weights == "tune_dev":
        tuned = tune_score_weights_on_dev(
            model, data.dev, recipe.training.batch_size, spec.seed, recipe.name, spec.fold.name
        )
    from emofuse.train.rank import is_rank_zero

    if not is_rank_zero():  # DDP launched per process (strategy ddp, torchrun, SLURM): rank 0 writes the run
        return {**row, "status": "trained-other-rank"}
    frame, metrics = evaluate_run(spec, result.module, data)
    metrics.update(describe_fit(result), pretrain=pretrain_info, trainable_parameters=trainable)
    if model.get_score_weights():
        metrics["score_weights"] = model.get_score_weights()
        metrics["score_weights_tuned_on_dev"] = tuned is not None
    if recipe.data.bins is not None:
        bins = recipe.data.bins
        metrics["bin_edges"] = binned_targets(spec.table, bins.dim, bins.n_bins, spec.fold.train)[1]
    metrics["train_time_s"] = round(time.perf_counter() - started, 3)
    from emofuse.train.end_to_end import fine_tuned_branches

    tuned = {n: data.encoders[n] for n in fine_tuned_branches(recipe)}
    record_run(
        spec, model, model_cfg, data.train.input_dims(), frame, metrics, chash, tuned, data.target_scaling
    )
    scores = {k: v for k, v in metrics["test"].items() if k in ("uar", "accuracy", "av_auc", "ccc")}
    return {**row, "status": "trained", **scores}


__all__ = ["RunSpec", "run_hash", "run_one", "upstream_runs"]
