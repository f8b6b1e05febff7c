"""The transformers-free inference path of :class:`~emofuse.encoders.text.TextEncoder` for a plain local BERT.

Importing ``transformers`` costs a new process seconds; a frozen BERT needs none of it. :func:`load_bert_lite`
reads a local model directory with ``tokenizers`` (``tokenizer.json``, or a BERT WordPiece tokenizer built from
``vocab.txt`` with the lower-casing, accent and Chinese-character options of ``tokenizer_config.json``) and
:class:`emofuse.encoders.bert_infer.BertInfer` (weights from ``model.safetensors``, or ``pytorch_model.bin`` through
``torch.load(weights_only=True)``). It returns ``None``, and the caller uses ``transformers``, for anything it
does not reproduce exactly: a Hub id, a ``config.json`` that is not a plain BERT (``model_type`` other than
``bert``, relative positions, an activation other than gelu, a decoder, weights other than float32), a
tokenizer class other than BERT's, sharded or missing weights, missing or unexpected weight keys.

``[SIL]`` follows :func:`emofuse.encoders.text.add_sil_token`: kept as it is when the tokenizer already holds
it (an adapted model), else added as one special, unnormalised token whose embedding row is
:func:`emofuse.encoders.text.sil_init_row` of the original rows.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emofuse.encoders.text import SIL_TOKEN, sil_init_row

#: ``tokenizer_config.json`` classes whose tokenisation is BERT's WordPiece.
_BERT_TOKENIZERS = (None, "BertTokenizer", "BertTokenizerFast")
#: Setting this to 1 makes every text encoder use ``transformers`` (to compare the two paths).
FORCE_TRANSFORMERS_ENV = "EMOFUSE_TEXT_TRANSFORMERS"


@dataclass
class BertLite:
    """A frozen BERT and its tokenizer without ``transformers``; built by :func:`load_bert_lite`.

    ``tokenizer``: a ``tokenizers.Tokenizer`` truncating to ``max_tokens`` and padding to the longest text;
    ``model``: :class:`~emofuse.encoders.bert_infer.BertInfer`; ``special_ids``: the special tokens' ids (``[SIL]``
    among them when it was added).
    """

    tokenizer: Any
    model: Any
    sil_id: int | None
    special_ids: frozenset[int]

    @property
    def n_layers(self) -> int:
        """Hidden states per text: the embedding output and every layer."""
        return int(self.model.spec.num_hidden_layers) + 1

    @property
    def dim(self) -> int:
        return int(self.model.spec.hidden_size)

    def tokens(self, text: str) -> list[str]:
        """The tokens ``text`` becomes, special tokens included, truncated to ``max_tokens``."""
        return [str(self.tokenizer.id_to_token(i)) for i in self.tokenizer.encode(text).ids]

    def hidden_states(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Padded batch -> hidden states ``[L, B, T, D]`` float32, token ids ``[B, T]``, attention mask ``[B, T]``."""
        import torch

        encodings = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long)
        types = torch.tensor([e.type_ids for e in encodings], dtype=torch.long)
        states = self.model(ids, mask, types)
        return states.numpy(), ids.numpy(), mask.numpy()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


#: BertTokenizer's special tokens and their defaults.
_DEFAULT_SPECIALS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "cls_token": "[CLS]", "pad_token": "[PAD]",
                     "mask_token": "[MASK]"}  # fmt: skip


def _special(config: dict[str, Any], name: str) -> str:
    """The special token ``name`` (e.g. ``"sep_token"``) of a ``tokenizer_config.json``, BERT's by default."""
    value = config.get(name)
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else _DEFAULT_SPECIALS[name]


def _tokenizer(directory: Path, config: dict[str, Any]) -> Any | None:
    """The directory's tokenizer without truncation or padding; ``config``: its ``tokenizer_config.json``."""
    from tokenizers import Tokenizer

    if config.get("tokenizer_class") not in _BERT_TOKENIZERS:
        return None
    if (directory / "tokenizer.json").is_file():
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    elif (directory / "vocab.txt").is_file():
        if config.get("do_basic_tokenize", True) is False or config.get("never_split"):
            return None
        from tokenizers.implementations import BertWordPieceTokenizer

        tokenizer = BertWordPieceTokenizer(
            str(directory / "vocab.txt"),
            clean_text=True,
            handle_chinese_chars=bool(config.get("tokenize_chinese_chars", True)),
            strip_accents=config.get("strip_accents"),
            lowercase=bool(config.get("do_lower_case", True)),
            **{k: _special(config, k) for k in _DEFAULT_SPECIALS},
        )._tokenizer
    else:
        return None
    tokenizer.no_truncation()  # a saved tokenizer.json may carry its own (e.g. 128 tokens, fixed-length padding)
    tokenizer.no_padding()
    return tokenizer


def _weights(directory: Path) -> dict[str, Any] | None:
    if (directory / "model.safetensors").is_file():
        from safetensors.torch import load_file

        return load_file(str(directory / "model.safetensors"), device="cpu")
    if (directory / "pytorch_model.bin").is_file():
        import torch

        state = torch.load(str(directory / "pytorch_model.bin"), map_location="cpu", weights_only=True)
        return state if isinstance(state, dict) else None
    return None  # sharded or other formats: transformers


def load_bert_lite(model_path: str, max_tokens: int, sil_token: bool, sil_init: str) -> BertLite | None:
    """The transformers-free encoder of the local directory ``model_path``, or ``None`` (use ``transformers``).

    ``max_tokens`` truncates; ``sil_token`` / ``sil_init`` as in :class:`~emofuse.encoders.text.TextConfig`.
    Raises only what the transformers path would raise too (a ``sil_init`` the tokenizer has no token for).
    """
    if os.environ.get(FORCE_TRANSFORMERS_ENV) == "1":
        return None
    directory = Path(model_path)
    if not directory.is_dir():
        return None
    from emofuse.encoders.bert_infer import BertInfer, BertSpec, IncompatibleWeights

    spec = BertSpec.from_config(_read_json(directory / "config.json"))
    if spec is None:
        return None
    config = _read_json(directory / "tokenizer_config.json")
    try:
        tokenizer = _tokenizer(directory, config)
        state = _weights(directory) if tokenizer is not None else None
    except Exception:  # noqa: BLE001 (an unreadable file: transformers gives the error message users see)
        return None
    if tokenizer is None or state is None:
        return None
    sil_id = tokenizer.token_to_id(SIL_TOKEN) if sil_token else None
    if sil_token and sil_id is None:
        from tokenizers import AddedToken

        tokenizer.add_special_tokens([AddedToken(SIL_TOKEN, special=True, normalized=False)])
        sil_id = tokenizer.token_to_id(SIL_TOKEN)
        words = _word_embeddings(state)
        if words is None or sil_id is None or sil_id > words.shape[0]:
            return None
        row = sil_init_row(
            words,
            sil_init,
            sep_id=tokenizer.token_to_id(_special(config, "sep_token")),
            pad_id=tokenizer.token_to_id(_special(config, "pad_token")),
        )
        import torch

        grown = torch.cat([words, torch.zeros_like(words[:1])]) if sil_id == words.shape[0] else words.clone()
        grown[sil_id] = row
        _set_word_embeddings(state, grown)
        spec = BertSpec(**{**spec.__dict__, "vocab_size": int(grown.shape[0])})
    try:
        model = BertInfer.from_hf_state_dict(spec, state)
    except IncompatibleWeights:
        return None
    tokenizer.enable_truncation(max_length=max_tokens)
    pad_token = _special(config, "pad_token")
    pad_id = tokenizer.token_to_id(pad_token)
    if pad_id is None:
        return None
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
    special = frozenset(i for i, token in tokenizer.get_added_tokens_decoder().items() if token.special)
    return BertLite(tokenizer=tokenizer, model=model, sil_id=sil_id, special_ids=special)


_WORD_KEYS = ("embeddings.word_embeddings.weight", "bert.embeddings.word_embeddings.weight")


def _word_embeddings(state: dict[str, Any]) -> Any | None:
    return next((state[k] for k in _WORD_KEYS if k in state), None)


def _set_word_embeddings(state: dict[str, Any], weight: Any) -> None:
    for key in _WORD_KEYS:
        if key in state:
            state[key] = weight
