"""Integrated gradients over a text model's input embeddings, per token, ``[SIL]`` included (perez2022 Sec. 6).

perez2022 attributes the fine-tuned BERT's prediction to each input token with integrated gradients (captum)
and calls an attribution "high" when its absolute value exceeds 0.3. Here the BERT-family encoder of a text
branch runs inside the explained function (:class:`emofuse.encoders.trainable.TrainableEncoder`, the module
end_to_end training fine-tunes, so the packaged fine-tuned weights are what is explained): the path integral
runs over the word-embedding layer's output (captum's ``LayerIntegratedGradients`` on
``get_input_embeddings()``), from the baseline text ``[CLS] [PAD] ... [PAD] [SEP]`` (captum's BERT tutorial:
special tokens kept, every other token, ``[SIL]`` too, replaced by ``[PAD]``) to the real tokens; position and
token-type embeddings are the same on both ends. Per token the attribution is summed over the embedding
dimension (``raw``: these sum to ``output(text) - output(baseline)`` up to the convergence delta, IG's
completeness), then divided by the L2 norm over the tokens (``attributions``), the normalisation of captum's
tutorial that perez2022's 0.3 threshold refers to. Everything runs in float64 for a small convergence delta.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from emofuse.explain.attributions import HIGH_ATTRIBUTION
from emofuse.explain.intersection import ExplainError
from emofuse.transcribe.silence import SIL_TOKEN

__all__ = ["SIL_TOKEN", "TokenAttributions", "text_token_attributions"]


@dataclass
class TokenAttributions:
    """IG attributions of one output over one utterance's input tokens.

    Attributes:
        tokens: ``[T]`` the tokenizer's tokens (``[CLS]``, word pieces, ``[SIL]``, ``[SEP]``).
        attributions: ``[T]`` summed over the embedding dimension, divided by their L2 norm over the tokens.
        raw_attributions: ``[T]`` before that division; ``sum = output_at_input - output_at_baseline`` up to
            ``convergence_delta``.
        high: ``[T]`` ``|attribution| > 0.3`` (perez2022's "high").
        target: index of the explained output; ``output_at_input`` / ``output_at_baseline``: its value on the
            text and on the ``[CLS] [PAD]... [SEP]`` baseline (network units: normalised targets stay normalised).
    """

    tokens: list[str]
    attributions: list[float]
    raw_attributions: list[float]
    high: list[bool]
    target: int
    output_at_input: float
    output_at_baseline: float
    convergence_delta: float
    n_steps: int
    normalisation: str = "sum over the embedding dimension, then divided by the L2 norm over the tokens"
    baseline: str = "[CLS] [PAD] ... [PAD] [SEP]"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _baseline_ids(ids: Any, tokenizer: Any) -> Any:
    """``ids [1, T]`` with every token but ``[CLS]``/``[SEP]``-like specials replaced by the pad id."""
    import torch

    keep = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id}
    keep.discard(None)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    special = torch.isin(ids, torch.tensor(sorted(keep), dtype=ids.dtype)) if keep else torch.zeros_like(ids)
    return torch.where(special.bool(), ids, torch.full_like(ids, pad))


def text_token_attributions(
    encoder: Any,
    network: Any,
    branch: str,
    text: str,
    target: int,
    other_inputs: Mapping[str, Any] | None = None,
    other_masks: Mapping[str, Any] | None = None,
    n_steps: int = 50,
    standardizer: Any = None,
) -> TokenAttributions:
    """Integrated gradients of ``network``'s output ``target`` over the input tokens of ``text`` (see module doc).

    Args:
        encoder: a :class:`~emofuse.encoders.trainable.TrainableEncoder` of a ``text`` encoder (its ``forward(ids
            [B, T], mask [B, T])`` gives what the branch reads).
        network: a FusionModel (eval mode): ``network(inputs, masks)["output"]`` is ``[B, C]``.
        branch: the text branch the encoder feeds.
        text: the utterance's text as the branch reads it (``[SIL]`` tokens included for ``asr_sil``).
        target: output index (the predicted class, or an A/V/D dimension).
        other_inputs / other_masks: a batch of one of the other branches' features ``[1, T, D]`` and masks.
        n_steps: Riemann steps of the path integral.
        standardizer: the branch's fitted :class:`~emofuse.encoders.Standardizer` (a cached text branch with
            ``standardize: true``), applied to the encoder's output inside the explained function.
    """
    import torch
    from captum.attr import LayerIntegratedGradients

    if getattr(encoder, "modality", None) != "text":
        raise ExplainError(f"branch {branch!r} has no text encoder to attribute tokens of")
    ids = torch.as_tensor(encoder.prepare(text), dtype=torch.long)[None, :]  # [1, T]
    mask = torch.ones_like(ids, dtype=torch.bool)
    others = dict(other_inputs or {})
    others_masks = dict(other_masks or {})

    scale = None
    if standardizer is not None:
        scale = (
            torch.as_tensor(standardizer.mean_, dtype=torch.float64),
            torch.as_tensor(standardizer.std_, dtype=torch.float64),
        )

    def forward(token_ids: torch.Tensor) -> torch.Tensor:
        b = token_ids.shape[0]
        states, keep = encoder(token_ids, mask.expand(b, -1))
        if scale is not None:
            states = (states - scale[0]) / scale[1]
        inputs = {k: v.expand(b, *v.shape[1:]) for k, v in others.items()}
        masks = {k: m.expand(b, *m.shape[1:]) for k, m in others_masks.items()}
        inputs[branch], masks[branch] = states, keep
        return network(inputs, masks)["output"]

    was = (encoder.training, network.training)
    encoder.eval().double()
    network.eval().double()
    others = {k: v.double() if v.is_floating_point() else v for k, v in others.items()}
    try:
        with torch.no_grad():
            n_outputs = int(forward(ids).shape[-1])
        if not 0 <= target < n_outputs:
            raise ExplainError(f"target {target} is out of range: the model has {n_outputs} outputs")
        base = _baseline_ids(ids, encoder.tokenizer)
        lig = LayerIntegratedGradients(forward, encoder.model.get_input_embeddings())
        with torch.enable_grad():
            attr, delta = lig.attribute(
                ids, baselines=base, target=target, n_steps=n_steps, return_convergence_delta=True
            )
        with torch.no_grad():
            at_input = float(forward(ids)[0, target])
            at_baseline = float(forward(base)[0, target])
    finally:
        encoder.float().train(was[0])
        network.float().train(was[1])
    raw = attr.sum(dim=-1)[0].detach().cpu().numpy().astype(np.float64)  # [T]
    norm = float(np.linalg.norm(raw))
    normed = raw / norm if norm > 0 else raw
    tokens = [str(t) for t in encoder.tokenizer.convert_ids_to_tokens(ids[0].tolist())]
    return TokenAttributions(
        tokens=tokens,
        attributions=[float(v) for v in normed],
        raw_attributions=[float(v) for v in raw],
        high=[bool(abs(v) > HIGH_ATTRIBUTION) for v in normed],
        target=int(target),
        output_at_input=at_input,
        output_at_baseline=at_baseline,
        convergence_delta=float(delta.reshape(-1)[0]),
        n_steps=int(n_steps),
    )
