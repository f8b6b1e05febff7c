"""Content hashes that key caches: the same audio or text gives the same key wherever it lives."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

_CHUNK_BYTES = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def audio_key(path: str | os.PathLike[str], start_s: float | None = None, end_s: float | None = None) -> str:
    """Key of an utterance's audio: the file's content hash plus the span inside it (if any).

    Two copies of the same file under different names share a key; two spans of one file do not.
    """
    digest = hashlib.sha256(file_sha256(path).encode())
    digest.update(f"|{_fmt(start_s)}|{_fmt(end_s)}".encode())
    return digest.hexdigest()[:32]


def text_key(text: str) -> str:
    """Key of a text input."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def config_hash(config: Any) -> str:
    """Short stable hash of a JSON-serialisable configuration (keys sorted)."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _fmt(value: float | None) -> str:
    if value is None or value != value:
        return "-"
    return f"{float(value):.4f}"
