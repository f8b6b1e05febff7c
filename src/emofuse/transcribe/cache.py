"""A content-keyed transcript cache, so each recording is transcribed once per backend configuration.

Key = SHA-256 of (audio content key, backend id, given text): the same audio under another name hits the cache;
another model, option set or transcript does not. Entries are JSON files written atomically under
``<root>/<key[:2]>/<key>.json`` (default root :func:`emofuse.paths.transcript_cache_dir`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from emofuse.io import atomic_write_json
from emofuse.paths import transcript_cache_dir
from emofuse.transcribe.types import Transcript


def wave_key(wave: np.ndarray, sample_rate_hz: int) -> str:
    """Content key of an in-memory waveform ``[N]`` (its float32 bytes and rate)."""
    digest = hashlib.sha256(np.ascontiguousarray(wave, dtype=np.float32).tobytes())
    digest.update(f"|{int(sample_rate_hz)}".encode())
    return digest.hexdigest()[:32]


def cache_key(audio_key: str, backend_id: str, text: str | None = None) -> str:
    """Key of one transcription: audio content + backend configuration (+ the text aligned, if any)."""
    blob = json.dumps([audio_key, backend_id, text], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:40]


class TranscriptCache:
    """Raw transcripts (before silence annotation) on disk, keyed by :func:`cache_key`."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else transcript_cache_dir()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Transcript | None:
        """The cached transcript, or None when absent or unreadable (a damaged entry is recomputed)."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            with open(path, encoding="utf-8") as handle:
                return Transcript.from_dict(json.load(handle))
        except (OSError, ValueError, TypeError):
            return None

    def put(self, key: str, transcript: Transcript) -> None:
        atomic_write_json(self._path(key), transcript.to_dict(), indent=None)

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.is_dir() else 0
