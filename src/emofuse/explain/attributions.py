"""Integrated-gradients token attributions (perez2022 section 6.1, with captum).

perez2022 attributes each token's effect on the predicted activation with integrated gradients (Sundararajan
et al. 2017) from captum, and calls an attribution "high" above 0.3 in absolute value. Their reference [25]
follows captum's BERT tutorial: attributions are summed over the embedding dimension and the resulting token
vector is divided by its L2 norm; :func:`token_attributions` does the same (``normalize=True``).

The helper is model-agnostic: it needs a function from input embeddings ``[B, T, D]`` to outputs ``[B, C]``
(class logits or A/V/D values), so it works for a BERT-like text model fed through ``inputs_embeds`` as well
as for any emofuse branch over frame features.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from captum.attr import IntegratedGradients

from emofuse.explain.intersection import ExplainError

__all__ = ["HIGH_ATTRIBUTION", "token_attributions"]

HIGH_ATTRIBUTION = 0.3  # perez2022: |attribution| above this is "high" (their 85th percentile)


def token_attributions(
    forward: Callable[..., torch.Tensor],
    embeddings: torch.Tensor,
    target: int | torch.Tensor,
    baseline: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    n_steps: int = 50,
    normalize: bool = True,
    additional_forward_args: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrated-gradients attribution of each token (frame) to one output.

    Args:
        forward: ``forward(embeddings [B, T, D], *additional_forward_args) -> [B, C]``.
        embeddings: the inputs to attribute ``[B, T, D]`` (float).
        target: output index to explain: an int for all rows or a LongTensor ``[B]`` (e.g. the predicted class;
            0 for a single regression output).
        baseline: reference input ``[B, T, D]`` or ``[1, T, D]`` (default: zeros). For a text model, the
            embeddings of ``[PAD]`` tokens (keeping ``[CLS]``/``[SEP]``) is captum's usual choice.
        mask: ``[B, T]`` bool, True = real token; padded tokens get attribution 0 and are left out of the norm.
        n_steps: Riemann steps of the path integral.
        normalize: divide each row's token attributions by their L2 norm (captum's BERT tutorial, perez2022).
        additional_forward_args: passed through to ``forward`` (e.g. a mask tuple).

    Returns:
        ``(attributions [B, T], convergence_delta [B])``. Without normalisation, the attributions of a row sum
        to ``forward(x)[target] - forward(baseline)[target]`` up to ``convergence_delta``.
    """
    if not isinstance(embeddings, torch.Tensor) or embeddings.ndim != 3 or not embeddings.is_floating_point():
        shape = tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else type(embeddings).__name__
        raise ExplainError(f"embeddings must be a float tensor [B, T, D]; got {shape}")
    if baseline is None:
        baseline = torch.zeros_like(embeddings)
    elif baseline.shape[1:] != embeddings.shape[1:]:
        raise ExplainError(
            f"baseline {tuple(baseline.shape)} must match embeddings [B, T, D] = {tuple(embeddings.shape)}"
        )
    if mask is not None and tuple(mask.shape) != tuple(embeddings.shape[:2]):
        raise ExplainError(f"mask must be [B, T] = {tuple(embeddings.shape[:2])}; got {tuple(mask.shape)}")
    ig = IntegratedGradients(forward)
    attributions, delta = ig.attribute(
        embeddings,
        baselines=baseline,
        target=target,
        additional_forward_args=additional_forward_args,
        n_steps=n_steps,
        return_convergence_delta=True,
    )
    per_token = attributions.sum(dim=-1)
    if mask is not None:
        per_token = per_token * mask.to(per_token.dtype)
    if normalize:
        norm = per_token.norm(dim=-1, keepdim=True)
        per_token = per_token / norm.clamp_min(torch.finfo(per_token.dtype).tiny)
    return per_token.detach(), delta.detach()
