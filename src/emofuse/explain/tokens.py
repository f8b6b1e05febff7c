"""Token attributions of a fused model's text branch (perez2022 section 6.1) for one utterance.

:func:`branch_attributions` runs integrated gradients (captum, via :func:`emofuse.explain.token_attributions`)
over the input frames of one branch of an :class:`emofuse.nn.FusionModel`, with every other branch's input held
fixed: the attribution of frame ``t`` is the sum over its feature dimensions (and over layers, for all-layer
``[L, T, D]`` text features) of the IG attribution. The baseline is all zeros, i.e. the training mean of the
standardised features. :func:`frame_tokens` maps frames back to the text encoder's tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from emofuse.explain.intersection import ExplainError
from emofuse.transcribe.silence import SIL_TOKEN

__all__ = ["BranchAttributions", "branch_attributions", "frame_tokens", "plot_token_attributions"]


@dataclass
class BranchAttributions:
    """IG attributions of one output over one branch's frames (one utterance).

    Attributes:
        attributions: ``[T]`` per-frame attributions divided by their L2 norm (perez2022 / captum's tutorial).
        raw_attributions: ``[T]`` un-normalised; they sum to ``output_at_input - output_at_baseline`` up to
            ``convergence_delta`` (IG completeness).
        target: index of the explained output.
        output_at_input: the network's output ``target`` at the real input.
        output_at_baseline: the same with the branch's frames at the baseline (zeros).
        convergence_delta: captum's ``sum(raw_attributions) - (output_at_input - output_at_baseline)``.
        n_steps: Riemann steps.
    """

    attributions: list[float]
    raw_attributions: list[float]
    target: int
    output_at_input: float
    output_at_baseline: float
    convergence_delta: float
    n_steps: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def branch_attributions(
    network: Any,
    inputs: Mapping[str, Any],
    masks: Mapping[str, Any],
    branch: str,
    target: int,
    n_steps: int = 64,
) -> BranchAttributions:
    """Integrated-gradients attribution of output ``target`` to each input frame of ``branch``.

    Args:
        network: a FusionModel (eval mode); ``network(inputs, masks)["output"]`` is ``[B, C]``.
        inputs: a batch of one: ``{branch: [1, T, D] or [1, L, T, D]}`` (as :func:`emofuse.train.data.collate`
            builds it).
        masks: ``{branch: [1, T]}`` bool.
        branch: the branch whose frames are attributed (e.g. the text branch).
        target: output index (the predicted class, or an A/V/D dimension).
        n_steps: Riemann steps of the path integral (more = smaller convergence delta).
    """
    import torch

    from emofuse.explain.attributions import token_attributions

    if branch not in inputs:
        raise ExplainError(f"the model has no branch {branch!r}; its branches are {sorted(inputs)}")
    x = inputs[branch].detach().to(torch.float64)
    if x.shape[0] != 1 or x.ndim not in (3, 4):
        raise ExplainError(
            f"branch {branch!r}: expected a batch of one [1, T, D] or [1, L, T, D]; got {tuple(x.shape)}"
        )
    layered = x.ndim == 4
    n_layers = x.shape[1] if layered else 1
    # IG runs over [B, T, L*D]: the frame axis second, as token_attributions expects
    flat = x.permute(0, 2, 1, 3).reshape(1, x.shape[2], -1) if layered else x
    network = network.double()
    others = {
        k: v.to(torch.float64) if v.is_floating_point() else v for k, v in inputs.items() if k != branch
    }

    def forward(frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        feats = frames.reshape(b, t, n_layers, -1).permute(0, 2, 1, 3) if layered else frames
        batch = {k: v.expand(b, *v.shape[1:]) for k, v in others.items()}
        batch[branch] = feats
        batch_masks = {k: m.expand(b, *m.shape[1:]) for k, m in masks.items()}
        return network(batch, batch_masks)["output"]

    try:
        with torch.no_grad():
            n_outputs = int(forward(flat).shape[-1])
        if not 0 <= target < n_outputs:
            raise ExplainError(f"target {target} is out of range: the model has {n_outputs} outputs")
        raw, delta = token_attributions(forward, flat, target, n_steps=n_steps, normalize=False)
        with torch.no_grad():
            at_input = float(forward(flat)[0, target])
            at_baseline = float(forward(torch.zeros_like(flat))[0, target])
    finally:
        network.float()  # the caller's network goes back to float32
    raw_np = raw[0].cpu().numpy().astype(np.float64)
    norm = float(np.linalg.norm(raw_np))
    normed = raw_np / norm if norm > 0 else raw_np
    return BranchAttributions(
        attributions=[float(v) for v in normed],
        raw_attributions=[float(v) for v in raw_np],
        target=int(target),
        output_at_input=at_input,
        output_at_baseline=at_baseline,
        convergence_delta=float(delta.reshape(-1)[0]),
        n_steps=int(n_steps),
    )


def frame_tokens(encoder: Any, text: str, n_frames: int) -> list[str] | None:
    """The tokens behind a text encoder's ``n_frames`` frames, or None when they cannot be matched.

    Uses the encoder's ``tokens(text)`` (special tokens included; ``[SIL]`` stays one token). With
    ``special_tokens: drop`` the special tokens other than ``[SIL]`` are left out, as the encoder drops their
    frames. Pooled encoders (one frame) and encoders without ``tokens`` give None.
    """
    getter = getattr(encoder, "tokens", None)
    if not callable(getter):
        return None
    tokens = [str(t) for t in getter(text)]
    config = getattr(encoder, "config", None)
    if getattr(config, "special_tokens", "keep") == "drop":
        tokenizer = getattr(encoder, "tokenizer", None)
        special = set(getattr(tokenizer, "all_special_tokens", [])) - {SIL_TOKEN}
        content = [t for t in tokens if t not in special]
        tokens = content if content else tokens[:1]
    return tokens if len(tokens) == n_frames else None


def plot_token_attributions(
    tokens: list[str], attributions: list[float] | np.ndarray, path: Any, title: str = ""
) -> None:
    """Bar chart of per-token attributions ``[T]`` (positive green, negative red), tokens on the x axis;
    perez2022's "high" threshold (|a| > 0.3) is drawn as dashed lines."""
    from matplotlib.figure import Figure

    from emofuse.evaluate.plots import save_figure
    from emofuse.explain.attributions import HIGH_ATTRIBUTION

    values = np.asarray(attributions, dtype=np.float64).ravel()
    if len(tokens) != values.size or values.size == 0:
        raise ExplainError(
            f"need one attribution per token; got {len(tokens)} tokens and {values.size} values"
        )
    fig = Figure(figsize=(max(5.0, 0.45 * values.size + 1.5), 3.6), layout="constrained")
    ax = fig.subplots()
    colours = ["tab:green" if v >= 0 else "tab:red" for v in values]
    ax.bar(np.arange(values.size), values, color=colours)
    ax.set_xticks(np.arange(values.size), tokens, rotation=60, ha="right", fontsize=8)
    ax.axhline(0.0, color="black", lw=0.8)
    for sign in (1, -1):
        ax.axhline(sign * HIGH_ATTRIBUTION, color="grey", lw=0.8, ls="--")
    ax.set_ylabel("attribution (L2-normalised)")
    ax.set_title(title or "token attributions (integrated gradients)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)
