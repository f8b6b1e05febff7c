"""Weight initialisation and freezing helpers (pepino2020 Sec. 2.3.3 training strategies)."""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from emofuse.nn.masking import MaskedBatchNorm1d

__all__ = ["NORM_TYPES", "freeze", "set_frozen_norms_eval", "unfreeze", "xavier_init"]

NORM_TYPES: tuple[type[nn.Module], ...] = (
    MaskedBatchNorm1d,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.LayerNorm,
)


def xavier_init(module: nn.Module) -> nn.Module:
    """Re-initialise ``module`` in place the way Keras does by default (pepino2020 cold start: "Xavier uniform
    initialization for all layers"); returns it.

    Linear / Conv weights: Xavier (Glorot) uniform, biases 0. GRU / LSTM: input weights Xavier uniform,
    recurrent weights orthogonal, biases 0. Norm layers: weight 1, bias 0 (running statistics reset).
    Other parameters (attention context vectors, layer weights) are left as they are.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.GRU | nn.LSTM | nn.RNN):
            for name, param in m.named_parameters():
                if name.startswith("weight_ih"):
                    nn.init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    nn.init.orthogonal_(param)
                elif name.startswith("bias"):
                    nn.init.zeros_(param)
        elif isinstance(m, MaskedBatchNorm1d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            m.running_mean.zero_()
            m.running_var.fill_(1.0)
            m.num_batches_tracked.zero_()
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d | nn.LayerNorm):
            m.reset_parameters()
    return module


def freeze(modules: nn.Module | Iterable[nn.Module]) -> None:
    """Set ``requires_grad=False`` on every parameter of the module(s)."""
    for module in [modules] if isinstance(modules, nn.Module) else modules:
        for p in module.parameters():
            p.requires_grad_(False)


def unfreeze(modules: nn.Module | Iterable[nn.Module]) -> None:
    """Set ``requires_grad=True`` on every parameter of the module(s)."""
    for module in [modules] if isinstance(modules, nn.Module) else modules:
        for p in module.parameters():
            p.requires_grad_(True)


def set_frozen_norms_eval(module: nn.Module) -> None:
    """Put every norm layer whose parameters are all frozen into eval mode, so its running statistics
    stay fixed too (as Keras does for a layer with ``trainable=False``)."""
    for m in module.modules():
        if isinstance(m, NORM_TYPES):
            params = list(m.parameters())
            if params and not any(p.requires_grad for p in params):
                m.eval()
