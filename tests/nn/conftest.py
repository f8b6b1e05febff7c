"""Fixtures for the emofuse.nn tests: ragged batches with garbage in the padding, gradient checks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import Tensor, nn


def ragged_batch(lengths: list[int], dim: int, pad_to: int, seed: int = 0, layers: int | None = None):
    """A batch ``[B, pad_to, dim]`` (``[B, L, pad_to, dim]`` with layers) whose padded frames hold garbage,
    its mask ``[B, pad_to]`` and the unpadded rows."""
    gen = torch.Generator().manual_seed(seed)
    shape = (len(lengths), pad_to, dim) if layers is None else (len(lengths), layers, pad_to, dim)
    x = torch.randn(*shape, generator=gen)
    garbage = 100.0 * torch.randn(*shape, generator=gen)
    mask = torch.zeros(len(lengths), pad_to, dtype=torch.bool)
    for i, n in enumerate(lengths):
        mask[i, :n] = True
    time_mask = mask[:, :, None] if layers is None else mask[:, None, :, None]
    x = torch.where(time_mask, x, garbage)
    rows = [x[i, :n] if layers is None else x[i, :, :n] for i, n in enumerate(lengths)]
    return x, mask, rows


def repad(x: Tensor, mask: Tensor, extra: int, seed: int = 1) -> tuple[Tensor, Tensor]:
    """The same batch with ``extra`` more garbage frames on the time axis."""
    gen = torch.Generator().manual_seed(seed)
    time_axis = mask.dim() - 1 if x.dim() == 3 else 2
    shape = list(x.shape)
    shape[time_axis] = extra
    more = 50.0 * torch.randn(*shape, generator=gen)
    return torch.cat([x, more], dim=time_axis), torch.cat(
        [mask, torch.zeros(mask.shape[0], extra, dtype=torch.bool)], 1
    )


def params_without_grad(module: nn.Module, names: list[str] | None = None) -> list[str]:
    """Names of trainable parameters (optionally only those listed) whose gradient is missing or all zero."""
    bad = []
    for name, p in module.named_parameters():
        if not p.requires_grad or (names is not None and name not in names):
            continue
        if p.grad is None or float(p.grad.abs().sum()) == 0.0:
            bad.append(name)
    return bad


@pytest.fixture
def nnh() -> SimpleNamespace:
    """The helpers above as ``nnh.ragged_batch``, ``nnh.repad``, ``nnh.params_without_grad``."""
    return SimpleNamespace(ragged_batch=ragged_batch, repad=repad, params_without_grad=params_without_grad)


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    """Seeded, and one intra-op thread: these tensors are tiny, and on a busy 2-core machine two threads
    made a 40-step fit 15x slower. The previous setting is restored afterwards."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
