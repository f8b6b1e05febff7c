"""Where emofuse keeps caches by default. ``EMOFUSE_CACHE_DIR`` overrides the root (``~/.cache/emofuse``)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    root = os.environ.get("EMOFUSE_CACHE_DIR")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "emofuse"


def feature_store_dir() -> Path:
    return cache_root() / "features"


def transcript_cache_dir() -> Path:
    return cache_root() / "transcripts"
