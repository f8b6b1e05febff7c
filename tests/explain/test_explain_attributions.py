"""Integrated-gradients token attributions (perez2022 section 6.1) through captum."""

from __future__ import annotations

import pytest
import torch

from emofuse.explain import ExplainError, token_attributions


def test_token_attributions_linear_model_are_exact() -> None:
    torch.manual_seed(0)
    w = torch.randn(6, 2)

    def forward(emb: torch.Tensor) -> torch.Tensor:  # [B, T, D] -> [B, 2]
        return emb.sum(dim=1) @ w

    x = torch.randn(3, 5, 6)
    attr, delta = token_attributions(forward, x, target=1, normalize=False)
    # for a linear model IG is exactly (x - 0) * grad: per token x_t . w[:, 1]
    torch.testing.assert_close(attr, x @ w[:, 1], atol=1e-4, rtol=1e-4)
    assert delta.abs().max() < 1e-4
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[0, 3:] = False
    normed, _ = token_attributions(forward, x, target=torch.tensor([0, 1, 1]), mask=mask)
    assert torch.all(normed[0, 3:] == 0)
    torch.testing.assert_close(normed.norm(dim=1), torch.ones(3))


def test_token_attributions_completeness_nonlinear() -> None:
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))

    def forward(emb: torch.Tensor) -> torch.Tensor:
        return net(emb).mean(dim=1)

    x = torch.randn(2, 7, 4)
    attr, delta = token_attributions(forward, x, target=2, n_steps=200, normalize=False)
    with torch.no_grad():
        gap = forward(x)[:, 2] - forward(torch.zeros_like(x))[:, 2]
    torch.testing.assert_close(attr.sum(dim=1), gap, atol=1e-3, rtol=1e-3)
    with pytest.raises(ExplainError, match=r"\[B, T, D\]"):
        token_attributions(forward, x[0], target=0)
