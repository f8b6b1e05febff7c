"""One training run with Lightning (one CPU process by default; the recipe's ``trainer`` block scales it): quiet, deterministic for a seed, early stopping or fixed epochs.

Checkpoints: with early stopping, Lightning's ``ModelCheckpoint`` keeps the best dev epoch (weights only) in
``<work_dir>/checkpoints``; it is read back with ``torch.load(weights_only=True)`` and then removed. The
final model is written by the runner as safetensors.

Logs: the recipe's ``training.loggers`` (Lightning's ``CSVLogger`` by default, ``TensorBoardLogger`` when asked)
write per-epoch ``train_loss`` and ``dev_*`` metrics to ``<work_dir>/logs/<log_name>/`` (``metrics.csv`` or
TensorBoard event files); a restarted fit starts its log afresh.
"""

from __future__ import annotations

import logging
import shutil
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from emofuse.errors import ConfigError
from emofuse.recipes.schema import TrainerConfig, TrainingConfig
from emofuse.train.batching import LengthBucketSampler, uses_length_buckets
from emofuse.train.collate import collate
from emofuse.train.data import EmotionDataset
from emofuse.train.epochs import report_epoch
from emofuse.train.module import EmotionLightningModule

for _name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
    logging.getLogger(_name).setLevel(logging.ERROR)


@dataclass
class FitResult:
    """What one ``fit_model`` call leaves: the trained module and the per-epoch dev history."""

    module: EmotionLightningModule
    epochs_run: int
    best_epoch: int | None
    history: list[dict[str, float]] = field(default_factory=list)
    world_size: int = 1  # processes that trained (DDP: devices x nodes)
    #: learning-rate reductions of ``training.lr_schedule`` (:class:`emofuse.train.lr_schedule.ReduceLrOnRise`)
    lr_reductions: list[dict[str, float]] = field(default_factory=list)


class _History(L.Callback):
    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    # on_validation_end runs after the module's on_validation_epoch_end has logged this epoch's dev metrics
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        row = {"epoch": int(trainer.current_epoch)}
        row.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("dev_")})
        self.rows.append(row)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # train_loss and any auxiliary terms (train_recon, ... of makiuchi2021's model)
        train = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train_")}
        if train and self.rows and self.rows[-1]["epoch"] == trainer.current_epoch:
            self.rows[-1].update(train)
        elif train:
            self.rows.append({"epoch": int(trainer.current_epoch), **train})


class _EpochReport(L.Callback):
    """Each finished epoch to the grid's progress display (:func:`emofuse.train.epochs.report_epoch`)."""

    def __init__(self, log_name: str) -> None:
        self.log_name = log_name

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            report_epoch(int(trainer.current_epoch) + 1, self.log_name)


def make_loggers(kinds: list[str], work: Path, name: str) -> list[Any]:
    """Lightning loggers of ``kinds`` ("csv", "tensorboard") writing to ``work/logs/name``, emptied first."""
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    folder = work / "logs" / name
    shutil.rmtree(folder, ignore_errors=True)
    loggers: list[Any] = []
    for kind in dict.fromkeys(kinds):
        if kind == "csv":
            loggers.append(CSVLogger(save_dir=work / "logs", name=name, version=""))
        elif kind == "tensorboard":
            try:
                import tensorboard  # noqa: F401
            except ImportError:
                raise ConfigError(
                    "training.loggers: tensorboard needs the tensorboard package: pip install 'emofuse[tensorboard]' "
                    "(or log with csv only: --logger csv)"
                ) from None
            loggers.append(
                TensorBoardLogger(save_dir=work / "logs", name=name, version="", default_hp_metric=False)
            )
        else:
            raise ConfigError(f"training.loggers: unknown logger {kind!r}; use csv or tensorboard")
    return loggers


def make_loader(
    dataset: EmotionDataset, batch_size: int, shuffle: bool, seed: int, *, length_bucketing: bool = False
) -> DataLoader:
    """A loader over ``dataset`` with its own ``collate`` if it has one (end_to_end datasets do);
    ``length_bucketing`` (training) batches utterances of similar length (:mod:`emofuse.train.batching`)."""
    collate_fn = getattr(dataset, "collate", collate)
    if shuffle and length_bucketing and hasattr(dataset, "lengths"):
        sampler = LengthBucketSampler(dataset.lengths(), batch_size, seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_fn, num_workers=0)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        collate_fn=collate_fn,
        num_workers=0,
        generator=generator,
    )


def class_counts(dataset: EmotionDataset, n_classes: int) -> np.ndarray:
    """``[C]`` number of training utterances per class."""
    labels = np.asarray([int(dataset.targets[u]) for u in dataset.ids], dtype=np.int64)
    return np.bincount(labels, minlength=n_classes)


def fit_model(
    model: nn.Module,
    train: EmotionDataset,
    dev: EmotionDataset | None,
    training: TrainingConfig,
    task: str,
    labels: list[str],
    seed: int,
    work_dir: str | Path,
    *,
    lr: float | None = None,
    max_epochs: int | None = None,
    warmup_steps: int | None = None,
    progress: bool | None = None,
    log_name: str = "train",
    trainer_config: TrainerConfig | None = None,
) -> FitResult:
    """Train ``model`` on ``train``; dev metrics every epoch; keep the best dev epoch if early stopping is on.

    ``lr`` / ``max_epochs`` / ``warmup_steps`` override the training config (branch pre-training uses them).
    ``progress=None`` shows Lightning's bar only on an interactive terminal. ``log_name``: the folder under
    ``<work_dir>/logs`` the recipe's loggers write to. ``trainer_config`` (the recipe's
    ``trainer`` block) sets accelerator, devices, strategy, nodes and precision (default: one CPU process).
    """
    from emofuse.nn.losses import inverse_frequency_weights

    work = Path(work_dir)
    weights = None
    if task == "classes" and training.class_weighting == "inverse_frequency":
        weights = inverse_frequency_weights(torch.as_tensor(class_counts(train, len(labels))))
    module = EmotionLightningModule(
        model,
        task,
        labels,
        class_weights=weights,
        optimizer=training.optimizer,
        lr=training.lr if lr is None else lr,
        weight_decay=training.weight_decay,
        warmup_steps=training.warmup_steps if warmup_steps is None else warmup_steps,
    )
    has_dev = dev is not None and len(dev) > 0
    es = training.early_stopping if has_dev else None
    history = _History()
    callbacks: list[L.Callback] = [history, _EpochReport(log_name)]
    extra = getattr(model, "training_callbacks", None)  # FT=>FRZ of end_to_end models
    if callable(extra):
        callbacks.extend(extra())
    from emofuse.train.lr_schedule import lr_schedule_callbacks

    schedule = lr_schedule_callbacks(training.lr_schedule if has_dev else None)
    callbacks.extend(schedule)
    ckpt = None
    if es is not None:
        mode = "min" if es.monitor == "loss" else "max"
        monitor = f"dev_{es.monitor}"
        callbacks.append(
            L.pytorch.callbacks.EarlyStopping(
                monitor=monitor, mode=mode, patience=es.patience, min_delta=es.min_delta
            )
        )
        ckpt = L.pytorch.callbacks.ModelCheckpoint(
            dirpath=work / "checkpoints",
            filename="best",
            monitor=monitor,
            mode=mode,
            save_top_k=1,
            save_weights_only=True,
            enable_version_counter=False,
        )
        callbacks.append(ckpt)
    show = sys.stderr.isatty() if progress is None else progress
    batch_size = min(training.batch_size, max(len(train), 1))
    tc = trainer_config or TrainerConfig()
    strategy = tc.strategy
    if hasattr(model, "encoders") and strategy in ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook"):
        # encoders inside the model hold parameters no loss reaches (a text model's pooler), and FT=>FRZ
        # freezes parameters mid-run: DDP must look for unused parameters
        strategy = f"{strategy}_find_unused_parameters_true"
    trainer = L.Trainer(
        accelerator=tc.accelerator,
        devices=tc.devices,
        strategy=strategy,
        num_nodes=tc.num_nodes,
        precision=tc.precision,  # type: ignore[arg-type]
        # training.max_steps (makiuchi2021 counts iterations) bounds the run instead of max_epochs
        max_epochs=(training.max_epochs if max_epochs is None else max_epochs)
        if training.max_steps is None or max_epochs is not None
        else -1,
        max_steps=-1 if training.max_steps is None or max_epochs is not None else training.max_steps,
        deterministic="warn",  # deterministic algorithms; one without a deterministic variant warns (determinism.py)
        logger=make_loggers(list(training.loggers), work, log_name) or False,
        enable_progress_bar=show,
        enable_model_summary=False,
        enable_checkpointing=ckpt is not None,
        callbacks=callbacks,
        num_sanity_val_steps=0,
        limit_val_batches=1.0 if has_dev else 0,
        gradient_clip_val=training.gradient_clip,
        log_every_n_steps=1,
        default_root_dir=str(work),
    )
    L.seed_everything(seed, workers=True, verbose=False)
    train_loader = make_loader(
        train,
        batch_size,
        shuffle=True,
        seed=seed,
        # one process: length buckets; several (DDP) keep Lightning's DistributedSampler over a plain loader
        length_bucketing=uses_length_buckets(training) and trainer.world_size == 1,
    )
    dev_loader = make_loader(dev, training.batch_size, shuffle=False, seed=seed) if has_dev else None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*number of training batches.*")
        warnings.filterwarnings("ignore", message=".*GPU available.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="lightning")
        warnings.filterwarnings("ignore", message=".*treespec.*")
        trainer.fit(module, train_loader, dev_loader)
    best_epoch = None
    if ckpt is not None and ckpt.best_model_path:
        state = torch.load(ckpt.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
        best_rows = [r for r in history.rows if f"dev_{es.monitor}" in r]  # type: ignore[union-attr]
        if best_rows:
            key = f"dev_{es.monitor}"  # type: ignore[union-attr]
            pick = min if es.monitor == "loss" else max  # type: ignore[union-attr]
            best_epoch = int(pick(best_rows, key=lambda r: r[key])["epoch"])
        shutil.rmtree(work / "checkpoints", ignore_errors=True)
    module.cpu()  # predictions and the run directory are made on the CPU, wherever training ran
    module.eval()
    epochs_run = int(trainer.fit_loop.epoch_progress.current.completed)
    reductions = [e for cb in schedule for e in getattr(cb, "events", [])]
    return FitResult(module, epochs_run, best_epoch, history.rows, int(trainer.world_size), reductions)


def describe_fit(result: FitResult) -> dict[str, Any]:
    return {
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "history": result.history,
        "world_size": result.world_size,
        "lr_reductions": result.lr_reductions,
    }
