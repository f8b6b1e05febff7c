"""Learning-rate schedules over epochs, driven by the dev loss (perez2022's "reduce on rise").

perez2022 fine-tunes BERT and multiplies the learning rate by 0.75 whenever the validation loss rises.
:class:`ReduceLrOnRise` does that as a Lightning callback: after each dev pass it compares ``dev_loss`` with the
*previous* epoch's (not with the best so far, as ``torch.optim.lr_scheduler.ReduceLROnPlateau`` does) and,
on a rise, scales every parameter group's learning rate, encoder groups included, by ``factor``. The step-wise
warm-up (``LambdaLR`` in :mod:`emofuse.train.module`) computes the rate from its ``base_lrs``, so those are
scaled too; otherwise the next optimiser step would undo the reduction.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L

from emofuse.recipes.schema import LrSchedule

__all__ = ["ReduceLrOnRise", "lr_schedule_callbacks"]


class ReduceLrOnRise(L.Callback):
    """Multiply the learning rates by ``factor`` after every epoch whose ``dev_<monitor>`` is above the previous one.

    ``events`` lists the reductions: ``{"epoch", "dev_loss", "previous", "lr"}`` (``lr``: the first group's new rate).
    """

    def __init__(self, factor: float = 0.75, monitor: str = "loss") -> None:
        self.factor = float(factor)
        self.key = f"dev_{monitor}"
        self.previous: float | None = None
        self.events: list[dict[str, float]] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.key not in trainer.callback_metrics:
            return
        value = float(trainer.callback_metrics[self.key])
        previous, self.previous = self.previous, value
        if previous is None or not math.isfinite(value) or value <= previous:
            return
        lr = scale_learning_rates(trainer, self.factor)
        self.events.append(
            {"epoch": int(trainer.current_epoch), self.key: value, "previous": previous, "lr": lr}
        )


def scale_learning_rates(trainer: L.Trainer, factor: float) -> float:
    """Scale every optimiser group's ``lr`` and every scheduler's ``base_lrs`` by ``factor``; the first group's new lr."""
    for config in trainer.lr_scheduler_configs:
        scheduler: Any = config.scheduler
        if hasattr(scheduler, "base_lrs"):
            scheduler.base_lrs = [b * factor for b in scheduler.base_lrs]
    first = math.nan
    for optimizer in trainer.optimizers:
        for group in optimizer.param_groups:
            group["lr"] = group["lr"] * factor
            if math.isnan(first):
                first = float(group["lr"])
    return first


def lr_schedule_callbacks(schedule: LrSchedule | None) -> list[L.Callback]:
    """The callbacks of a recipe's ``training.lr_schedule`` (none for a constant rate)."""
    if schedule is None:
        return []
    return [ReduceLrOnRise(schedule.factor, schedule.monitor)]
