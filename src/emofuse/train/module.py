"""The LightningModule around any FusionModel: loss, optimiser, learning-rate warm-up, dev metrics.

* Loss: inverse-frequency weighted cross-entropy (pepino2020) for classes, ``1 - CCC`` averaged over the
  dimensions for A/V/D (deoliveira2023, perez2022).
* Optimiser: Adam (pepino2020) or AdamW over the parameters that still require gradients (frozen layers of the
  pre-trained / warm-start strategies are left out), with a linear warm-up from 0 to ``lr`` over the first
  ``warmup_steps`` optimiser steps ("During the first 40 steps, the learning rate was linearly increased from
  0 to the final value"), constant afterwards.
* Auxiliary losses a branch returns (``aux_losses``, makiuchi2021's reconstruction terms) are added to the
  loss and logged per epoch as ``train_<term>`` (``train_recon``, ``train_recon_postnet``, ``train_emotion``).
* Frozen modules stay in eval mode while training (batch-norm statistics do not move either, as with Keras
  ``trainable=False``).
* Dev metrics (``dev_loss``, ``dev_uar``, ``dev_accuracy``, ``dev_av_auc`` or ``dev_ccc``) are logged each epoch
  for early stopping and checkpointing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn

from emofuse.nn.init import set_frozen_norms_eval
from emofuse.nn.losses import CCCLoss, WeightedCrossEntropy


class EmotionLightningModule(L.LightningModule):
    """Trains ``model`` (``forward(inputs, masks) -> {"output": [B, C] or [B, K], ...}``) for one task.

    Args:
        model: a FusionModel (or any module with the same forward contract).
        task: ``"classes"`` (targets ``[B]`` int64) or ``"avd"`` (targets ``[B, K]`` float32).
        labels: class names in output order (classes) or dimension names (avd).
        class_weights: ``[C]`` weights of the cross-entropy (None = unweighted).
        optimizer / lr / weight_decay / warmup_steps: optimisation (see module docstring).
        frozen_modules: modules kept in eval mode during training (their parameters must already be frozen).
    """

    def __init__(
        self,
        model: nn.Module,
        task: str,
        labels: Sequence[str],
        class_weights: Tensor | None = None,
        optimizer: str = "adam",
        lr: float = 7e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        frozen_modules: Sequence[nn.Module] = (),
    ) -> None:
        super().__init__()
        self.model = model
        self.task = task
        self.labels = list(labels)
        self.loss_fn: nn.Module = WeightedCrossEntropy(class_weights) if task == "classes" else CCCLoss()
        self.optimizer_name = optimizer
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.warmup_steps = int(warmup_steps)
        self._frozen = list(frozen_modules)
        self._dev_outputs: list[Tensor] = []
        self._dev_targets: list[Tensor] = []

    # -----------------------------------------------------------------------------------------------------
    def forward(self, inputs: dict[str, Tensor], masks: dict[str, Tensor]) -> dict[str, Any]:
        return self.model(inputs, masks)

    def train(self, mode: bool = True) -> EmotionLightningModule:
        """Switch modes, keeping frozen modules (and norms whose parameters are all frozen) in eval mode."""
        super().train(mode)
        if mode:
            for m in self._frozen:
                m.eval()
            set_frozen_norms_eval(self.model)
        return self

    def _loss(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        result = self.model(batch["inputs"], batch["masks"])
        out = result["output"]
        loss = self.loss_fn(out, batch["targets"])
        aux = result.get("aux_losses") or {}
        if aux:  # auxiliary terms of a branch (makiuchi2021: L_r1 + L_r2 + L_e), logged as train_<term>
            n = len(batch["utterance_id"])
            self.log("train_emotion", loss, on_step=False, on_epoch=True, batch_size=n)
            for key, value in aux.items():
                self.log(f"train_{key.rsplit('.', 1)[-1]}", value, on_step=False, on_epoch=True, batch_size=n)
            loss = loss + sum(aux.values())
        return loss, out

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        loss, _ = self._loss(batch)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(batch["utterance_id"]))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        out = self.model(batch["inputs"], batch["masks"])["output"]
        self._dev_outputs.append(out.detach().cpu())
        self._dev_targets.append(batch["targets"].detach().cpu())

    def on_validation_epoch_end(self) -> None:
        if not self._dev_outputs:
            return
        out = torch.cat(self._dev_outputs)
        target = torch.cat(self._dev_targets)
        self._dev_outputs.clear()
        self._dev_targets.clear()
        for name, value in dev_metrics(out, target, self.task, self.loss_fn, self.labels).items():
            self.log(f"dev_{name}", value, prog_bar=name in ("uar", "ccc"))

    # -----------------------------------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        # a model with encoders inside (end_to_end mode) gives groups with their own learning rates
        groups = getattr(self.model, "param_groups", None)
        params: Any = (
            groups(self.lr) if callable(groups) else [p for p in self.model.parameters() if p.requires_grad]
        )
        if not params:
            raise RuntimeError("every parameter is frozen: nothing to train")
        cls = torch.optim.AdamW if self.optimizer_name == "adamw" else torch.optim.Adam
        opt = cls(params, lr=self.lr, weight_decay=self.weight_decay)
        warmup = self.warmup_steps

        def factor(step: int) -> float:
            return 1.0 if warmup <= 0 else min(1.0, (step + 1) / warmup)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # -----------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_loader(self, loader: Any) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Run the model over a DataLoader in eval mode.

        Returns:
            (utterance ids, outputs, targets): outputs are class probabilities ``[N, C]`` (softmax of the
            logits; score fusion already outputs log-probabilities, and softmax of those is the same) or A/V/D
            predictions ``[N, K]``.
        """
        was_training = self.training
        self.eval()
        ids: list[str] = []
        outs: list[Tensor] = []
        targets: list[Tensor] = []
        for batch in loader:
            out = self.model(batch["inputs"], batch["masks"])["output"]
            outs.append(torch.softmax(out, dim=-1) if self.task == "classes" else out)
            targets.append(batch["targets"])
            ids.extend(batch["utterance_id"])
        self.train(was_training)
        if not outs:
            return [], np.zeros((0, len(self.labels)), np.float32), np.zeros((0,), np.float32)
        return ids, torch.cat(outs).cpu().numpy(), torch.cat(targets).cpu().numpy()


def dev_metrics(
    out: Tensor, target: Tensor, task: str, loss_fn: nn.Module, labels: Sequence[str]
) -> dict[str, float]:
    """Metrics of one dev pass: ``loss`` and ``uar``/``accuracy``/``av_auc`` (classes) or ``ccc`` (avd)."""
    from emofuse.evaluate.metrics import classification_metrics, regression_metrics

    metrics = {"loss": float(loss_fn(out, target))}
    if task == "classes":
        proba = torch.softmax(out, dim=-1).numpy()
        names = np.asarray(labels, dtype=object)
        y_true = names[target.numpy().astype(int)]
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = classification_metrics(y_true, proba, list(labels))
        for key in ("uar", "accuracy", "av_auc"):
            value = float(m.get(key, float("nan")))
            metrics[key] = value if np.isfinite(value) else 0.0
    else:
        m = regression_metrics(target.numpy(), out.numpy(), list(labels))
        metrics["ccc"] = float(m["ccc"]) if np.isfinite(m["ccc"]) else 0.0
    return metrics
