"""A frozen BERT encoder in plain torch, for inference: every hidden state, as ``BertModel`` computes them.

``transformers`` takes seconds to import (it pulls in ``torch._dynamo``, sympy, scipy, ...); this module needs
only torch, so a process that runs a frozen BERT-family text encoder (``emofuse predict``, ``emofuse serve``)
starts fast. It covers the plain post-LayerNorm BERT encoder: word + absolute position + token type embeddings
with a LayerNorm, then ``N`` layers of multi-head self-attention (padded keys masked) -> dense -> residual ->
LayerNorm -> dense -> exact (erf) gelu -> dense -> residual -> LayerNorm. Anything else (relative positions,
another activation, a decoder) is the caller's to refuse: :func:`BertSpec.from_config` returns ``None`` for it.

Parameter names are Hugging Face's ``BertModel`` names, so :meth:`BertInfer.load_hf_state_dict` maps a saved
``BertModel`` / ``BertFor*`` state dict by dropping its ``bert.`` prefix and the heads (pooler, MLM head) and
refuses one with missing or unexpected encoder keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["BertInfer", "BertSpec", "IncompatibleWeights"]

#: Keys of a saved model that hold no encoder weight: the pooler, pre-training heads and buffers.
_IGNORED_PREFIXES = ("pooler.", "cls.", "embeddings.position_ids", "embeddings.token_type_ids")


class IncompatibleWeights(ValueError):
    """A state dict that does not fit :class:`BertInfer` (missing, unexpected or misshapen keys)."""


@dataclass(frozen=True)
class BertSpec:
    """The architecture numbers of a plain BERT encoder (a subset of Hugging Face's ``BertConfig``)."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BertSpec | None:
        """The spec of a ``config.json`` dict, or ``None`` when it is not a model this module computes exactly."""
        plain = (
            config.get("model_type") == "bert"
            and config.get("position_embedding_type", "absolute") == "absolute"
            and config.get("hidden_act", "gelu") == "gelu"
            and not config.get("is_decoder", False)
            and not config.get("add_cross_attention", False)
            and config.get("dtype", config.get("torch_dtype")) in (None, "float32")
        )
        if not plain:
            return None
        try:
            spec = cls(
                vocab_size=int(config["vocab_size"]),
                hidden_size=int(config["hidden_size"]),
                num_hidden_layers=int(config["num_hidden_layers"]),
                num_attention_heads=int(config["num_attention_heads"]),
                intermediate_size=int(config["intermediate_size"]),
                max_position_embeddings=int(config.get("max_position_embeddings", 512)),
                type_vocab_size=int(config.get("type_vocab_size", 2)),
                layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return spec if spec.hidden_size % spec.num_attention_heads == 0 else None


def _empty(*shape: int) -> nn.Parameter:
    """An uninitialised frozen parameter: every one is overwritten by the loaded weights."""
    return nn.Parameter(torch.empty(*shape), requires_grad=False)


class _Dense(nn.Module):
    """``x @ weight.T + bias`` (``nn.Linear`` without its random initialisation, which costs start-up time)."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.weight = _empty(d_out, d_in)
        self.bias = _empty(d_out)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)


class _Norm(nn.Module):
    """LayerNorm over the last dimension (``nn.LayerNorm`` without its initialisation)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = _empty(dim)
        self.bias = _empty(dim)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class _Table(nn.Module):
    """An embedding table (``nn.Embedding`` without its initialisation)."""

    def __init__(self, rows: int, dim: int) -> None:
        super().__init__()
        self.weight = _empty(rows, dim)

    def forward(self, ids: Tensor) -> Tensor:
        return F.embedding(ids, self.weight)


class _Output(nn.Module):
    """``LayerNorm(dense(x) + residual)``, named as in Hugging Face."""

    def __init__(self, d_in: int, d_out: int, eps: float) -> None:
        super().__init__()
        self.dense = _Dense(d_in, d_out)
        self.LayerNorm = _Norm(d_out, eps)  # noqa: N815 (Hugging Face's parameter name)

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class _SelfAttention(nn.Module):
    def __init__(self, spec: BertSpec) -> None:
        super().__init__()
        d = spec.hidden_size
        self.heads = spec.num_attention_heads
        self.query = _Dense(d, d)
        self.key = _Dense(d, d)
        self.value = _Dense(d, d)

    def forward(self, x: Tensor, key_mask: Tensor) -> Tensor:
        """``x: [B, T, D]``, ``key_mask: [B, 1, 1, T]`` bool (True = real token) -> ``[B, T, D]``."""
        b, t, d = x.shape
        head = d // self.heads

        def split(y: Tensor) -> Tensor:  # [B, T, D] -> [B, H, T, D/H]
            return y.view(b, t, self.heads, head).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            split(self.query(x)), split(self.key(x)), split(self.value(x)), attn_mask=key_mask,
            scale=1.0 / math.sqrt(head),
        )  # fmt: skip
        return out.transpose(1, 2).reshape(b, t, d)


class _Attention(nn.Module):
    def __init__(self, spec: BertSpec) -> None:
        super().__init__()
        self.self = _SelfAttention(spec)  # Hugging Face's name: attention.self.query...
        self.output = _Output(spec.hidden_size, spec.hidden_size, spec.layer_norm_eps)

    def forward(self, x: Tensor, key_mask: Tensor) -> Tensor:
        return self.output(self.self(x, key_mask), x)


class _Intermediate(nn.Module):
    def __init__(self, spec: BertSpec) -> None:
        super().__init__()
        self.dense = _Dense(spec.hidden_size, spec.intermediate_size)

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(self.dense(x))


class _Layer(nn.Module):
    def __init__(self, spec: BertSpec) -> None:
        super().__init__()
        self.attention = _Attention(spec)
        self.intermediate = _Intermediate(spec)
        self.output = _Output(spec.intermediate_size, spec.hidden_size, spec.layer_norm_eps)

    def forward(self, x: Tensor, key_mask: Tensor) -> Tensor:
        attended = self.attention(x, key_mask)
        return self.output(self.intermediate(attended), attended)


class _Encoder(nn.Module):
    def __init__(self, spec: BertSpec) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(spec) for _ in range(spec.num_hidden_layers))


class _Embeddings(nn.Module):
    def __init__(self, spec: BertSpec) -> None:
        super().__init__()
        d = spec.hidden_size
        self.word_embeddings = _Table(spec.vocab_size, d)
        self.position_embeddings = _Table(spec.max_position_embeddings, d)
        self.token_type_embeddings = _Table(spec.type_vocab_size, d)
        self.LayerNorm = _Norm(d, spec.layer_norm_eps)  # noqa: N815 (Hugging Face's parameter name)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor) -> Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        summed = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(summed + self.position_embeddings(positions)[None])


class BertInfer(nn.Module):
    """A frozen BERT encoder: ``forward(input_ids [B, T], attention_mask [B, T])`` -> hidden states ``[L, B, T, D]``.

    ``L = num_hidden_layers + 1`` (the embedding output, then every layer's output), ``D = hidden_size``: what
    ``BertModel(..., output_hidden_states=True).hidden_states`` holds, stacked. Padded positions get values too
    (they attend to the real tokens) but never change a real position's.
    """

    def __init__(self, spec: BertSpec) -> None:
        super().__init__()
        self.spec = spec
        self.embeddings = _Embeddings(spec)
        self.encoder = _Encoder(spec)
        self.eval()
        self.requires_grad_(False)

    @classmethod
    def from_hf_state_dict(cls, spec: BertSpec, state: dict[str, Tensor]) -> BertInfer:
        """The model of ``spec`` holding the tensors of ``state`` (see :meth:`load_hf_state_dict`) as its
        parameters (assigned, not copied)."""
        model = cls(spec)
        model.load_hf_state_dict(state, assign=True)
        return model

    def load_hf_state_dict(self, state: dict[str, Tensor], assign: bool = False) -> None:
        """Load a Hugging Face BERT state dict (``BertModel`` or ``BertFor*``: ``bert.`` prefix, heads ignored).

        Raises :class:`IncompatibleWeights` on a missing, unexpected or misshapen encoder key, or a weight that
        is not float32. ``assign``: use the given tensors as the parameters instead of copying them.
        """
        prefixed = any(k.startswith("bert.") for k in state)
        mapped: dict[str, Tensor] = {}
        for key, value in state.items():
            if prefixed:
                if not key.startswith("bert."):
                    if key.startswith("cls."):
                        continue
                    raise IncompatibleWeights(f"unexpected key {key}")
                key = key[len("bert.") :]
            if key.startswith(_IGNORED_PREFIXES):
                continue
            # very old checkpoints name the LayerNorm parameters gamma/beta
            key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace(
                "LayerNorm.beta", "LayerNorm.bias"
            )
            mapped[key] = value
        own = self.state_dict()
        missing = sorted(set(own) - set(mapped))
        unexpected = sorted(set(mapped) - set(own))
        if missing or unexpected:
            raise IncompatibleWeights(f"missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
        for key, value in mapped.items():
            if value.dtype != torch.float32 or value.shape != own[key].shape:
                raise IncompatibleWeights(
                    f"{key}: {value.dtype} {tuple(value.shape)}, want float32 {own[key].shape}"
                )
        self.load_state_dict(mapped, strict=True, assign=assign)

    @torch.inference_mode()
    def forward(
        self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None
    ) -> Tensor:
        """``input_ids``, ``attention_mask`` (1 = real token), ``token_type_ids``: ``[B, T]`` -> ``[L, B, T, D]``."""
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        key_mask = attention_mask.bool()[:, None, None, :]  # [B, 1, 1, T]
        hidden = [self.embeddings(input_ids, token_type_ids)]
        for layer in self.encoder.layer:
            hidden.append(layer(hidden[-1], key_mask))
        return torch.stack(hidden)
