"""The on-disk feature store: one ``.npy`` file per (encoder id, content key), written atomically.

Layout under ``root``::

    <encoder_id>/manifest.json           the encoder's describe() plus the storage dtype
    <encoder_id>/<key[:2]>/<key>.npy     one entry (float32, or float16 with ``dtype="float16"``)
    <encoder_id>/packed.npy              optional: every entry flattened into one float array (see pack())
    <encoder_id>/packed_index.json       key -> [offset, shape] into packed.npy

Keys are :func:`emofuse.hashing.audio_key` (audio) or :func:`emofuse.hashing.text_key` (text), so the same
audio or text is computed once wherever it lives. Entries are written through :mod:`emofuse.io` (temporary
file, fsync, ``os.replace``): a killed extraction never leaves a half-written entry, and stray temporary files
(``.*.tmp``) are ignored by every reader and removed by :meth:`FeatureStore.prune`.

Reading: :meth:`get` returns float32. A consolidated pack (``pack()``) is read through one memory map, which
avoids a file open per entry when a training epoch reads thousands of entries; ``benchmarks/bench_encoders.py``
measures both ways.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from emofuse.errors import FeatureStoreError
from emofuse.io import atomic_open, atomic_write_json, read_json
from emofuse.paths import feature_store_dir

StorageDtype = Literal["float32", "float16"]
_PACK = "packed.npy"
_PACK_INDEX = "packed_index.json"
_MANIFEST = "manifest.json"


class FeatureStore:
    """Arrays keyed by ``(encoder_id, key)`` under ``root`` (default :func:`emofuse.paths.feature_store_dir`).

    Args:
        root: directory of the store (created on first write).
        dtype: storage precision of new entries; ``"float16"`` halves disk use. :meth:`get` always returns float32.
        mmap: read single entries with ``np.load(mmap_mode="r")`` (then copied to float32). Off by default:
            for entries of tens of KiB a plain read was faster (benchmarks/results/encoders.json); a pack
            (:meth:`pack`) is always read through one memory map and was about 2x faster than loose files.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        dtype: StorageDtype = "float32",
        mmap: bool = True,
    ) -> None:
        if dtype not in ("float32", "float16"):
            raise FeatureStoreError(f"FeatureStore dtype must be 'float32' or 'float16', got {dtype!r}")
        self.root = Path(root) if root is not None else feature_store_dir()
        self.dtype: StorageDtype = dtype
        self.mmap = mmap
        self._packs: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}

    # paths -------------------------------------------------------------------------------------------------
    def encoder_dir(self, encoder_id: str) -> Path:
        if not encoder_id or "/" in encoder_id or encoder_id.startswith("."):
            raise FeatureStoreError(f"bad encoder id {encoder_id!r}")
        return self.root / encoder_id

    def path(self, encoder_id: str, key: str) -> Path:
        if len(key) < 3 or not key.isalnum():
            raise FeatureStoreError(f"bad feature key {key!r}: expected a hex content hash")
        return self.encoder_dir(encoder_id) / key[:2] / f"{key}.npy"

    # writing -----------------------------------------------------------------------------------------------
    def put(self, encoder_id: str, key: str, array: np.ndarray) -> Path:
        """Store ``array`` atomically (cast to the store's dtype). Returns the entry's path."""
        arr = np.asarray(array)
        if not np.issubdtype(arr.dtype, np.floating):
            raise FeatureStoreError(f"{encoder_id}/{key}: features must be floating point, got {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            raise FeatureStoreError(f"{encoder_id}/{key}: features hold NaN or infinite values; not stored")
        target = self.path(encoder_id, key)
        with atomic_open(target, "wb", encoding=None) as handle:
            np.save(handle, np.ascontiguousarray(arr.astype(self.dtype, copy=False)), allow_pickle=False)
        return target

    def write_manifest(self, encoder_id: str, description: dict[str, Any]) -> None:
        """Write ``<encoder_id>/manifest.json`` (the encoder's describe() and the storage dtype)."""
        atomic_write_json(
            self.encoder_dir(encoder_id) / _MANIFEST, {**description, "storage_dtype": self.dtype}
        )

    def manifest(self, encoder_id: str) -> dict[str, Any] | None:
        p = self.encoder_dir(encoder_id) / _MANIFEST
        return read_json(p) if p.is_file() else None

    # reading -----------------------------------------------------------------------------------------------
    def has(self, encoder_id: str, key: str) -> bool:
        return self.path(encoder_id, key).is_file() or key in self._pack(encoder_id)[1]

    def get(self, encoder_id: str, key: str) -> np.ndarray:
        """The entry as float32. Raises :class:`FeatureStoreError` if it is missing or damaged."""
        p = self.path(encoder_id, key)
        if p.is_file():
            try:
                arr = np.load(p, mmap_mode="r" if self.mmap else None, allow_pickle=False)
                return np.array(arr, dtype=np.float32)
            except Exception as exc:
                raise FeatureStoreError(
                    f"damaged feature entry {p}: {exc}. Delete it (or run `emofuse store prune`) and extract again."
                ) from exc
        data, index = self._pack(encoder_id)
        if key in index:
            offset, shape = index[key]
            size = int(np.prod(shape)) if shape else 1
            return np.array(data[offset : offset + size], dtype=np.float32).reshape(shape)
        raise FeatureStoreError(
            f"no features for key {key} under encoder {encoder_id} in {self.root}; run `emofuse extract` first"
        )

    def load_many(self, encoder_id: str, keys: Iterable[str]) -> list[np.ndarray]:
        """Entries for ``keys`` in order (float32)."""
        return [self.get(encoder_id, k) for k in keys]

    def keys(self, encoder_id: str) -> list[str]:
        """Keys of every entry of one encoder (loose files and the pack)."""
        out = set(self._pack(encoder_id)[1])
        out.update(p.stem for p in self._entry_files(encoder_id))
        return sorted(out)

    def encoder_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    # consolidation -----------------------------------------------------------------------------------------
    def pack(self, encoder_id: str) -> int:
        """Consolidate every entry of ``encoder_id`` into ``packed.npy`` + ``packed_index.json`` for fast reads.

        Loose entries stay until :meth:`prune` (so a crash between the two writes loses nothing). Returns the
        number of entries packed.
        """
        keys = self.keys(encoder_id)
        arrays = [self.get(encoder_id, k) for k in keys]
        index: dict[str, Any] = {}
        offset = 0
        for k, a in zip(keys, arrays, strict=True):
            index[k] = [offset, list(a.shape)]
            offset += int(a.size)
        flat = np.concatenate([a.reshape(-1) for a in arrays]) if arrays else np.zeros(0, dtype=np.float32)
        d = self.encoder_dir(encoder_id)
        with atomic_open(d / _PACK, "wb", encoding=None) as handle:
            np.save(handle, flat.astype(self.dtype), allow_pickle=False)
        atomic_write_json(d / _PACK_INDEX, {"n_values": offset, "entries": index}, indent=None)
        self._packs.pop(encoder_id, None)
        return len(keys)

    def _pack(self, encoder_id: str) -> tuple[np.ndarray, dict[str, Any]]:
        if encoder_id in self._packs:
            return self._packs[encoder_id]
        d = self.encoder_dir(encoder_id)
        if not (d / _PACK_INDEX).is_file() or not (d / _PACK).is_file():
            return np.zeros(0, dtype=np.float32), {}
        try:
            meta = read_json(d / _PACK_INDEX)
            data = np.load(d / _PACK, mmap_mode="r", allow_pickle=False)
        except Exception as exc:
            raise FeatureStoreError(
                f"damaged pack in {d}: {exc}; run `emofuse store prune` to drop it"
            ) from exc
        if data.shape[0] != meta.get("n_values"):
            raise FeatureStoreError(
                f"pack in {d} does not match its index; run `emofuse store prune` to drop it"
            )
        self._packs[encoder_id] = (data, meta["entries"])
        return self._packs[encoder_id]

    # housekeeping ------------------------------------------------------------------------------------------
    def _entry_files(self, encoder_id: str) -> Iterator[Path]:
        d = self.encoder_dir(encoder_id)
        if not d.is_dir():
            return iter(())
        return (p for p in d.glob("??/*.npy") if not p.name.startswith("."))

    def temp_files(self) -> list[Path]:
        """Leftover temporary files of interrupted writes (never read; removed by :meth:`prune`)."""
        return sorted(self.root.rglob(".*.tmp")) if self.root.is_dir() else []

    def verify(self, encoder_id: str) -> list[str]:
        """Keys whose entry cannot be read back (should be empty: writes are atomic)."""
        bad = []
        for p in self._entry_files(encoder_id):
            try:
                np.load(p, mmap_mode="r", allow_pickle=False)
            except Exception:
                bad.append(p.stem)
        return bad

    def size_bytes(self, encoder_id: str | None = None) -> int:
        """Bytes on disk of one encoder's directory, or of the whole store."""
        base = self.encoder_dir(encoder_id) if encoder_id else self.root
        if not base.exists():
            return 0
        return sum(p.stat().st_size for p in base.rglob("*") if p.is_file())

    def count(self, encoder_id: str) -> int:
        return len(self.keys(encoder_id))

    def prune(self, encoder_id: str | None = None, keep_keys: Iterable[str] | None = None) -> int:
        """Remove entries; returns how many entries were removed.

        * ``encoder_id`` alone: drop that encoder's whole directory.
        * ``keep_keys``: drop every entry (of ``encoder_id``, or of all encoders) whose key is not in it; packs
          are dropped too (re-run :meth:`pack`).
        * neither: only remove leftover temporary files and damaged entries.
        Temporary files of interrupted writes are always removed.
        """
        removed = 0
        for tmp in self.temp_files():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        targets = [encoder_id] if encoder_id else self.encoder_ids()
        for enc in targets:
            d = self.encoder_dir(enc)
            if not d.is_dir():
                continue
            self._packs.pop(enc, None)
            if encoder_id and keep_keys is None:
                removed += self.count(enc)
                shutil.rmtree(d)
                continue
            keep = set(keep_keys) if keep_keys is not None else None
            for p in list(self._entry_files(enc)):
                damaged = p.stem in self.verify_one(p)
                if damaged or (keep is not None and p.stem not in keep):
                    p.unlink()
                    removed += 1
            if keep is not None:
                for name in (_PACK, _PACK_INDEX):
                    with contextlib.suppress(FileNotFoundError):
                        (d / name).unlink()
            for sub in d.iterdir():
                if sub.is_dir() and not any(sub.iterdir()):
                    sub.rmdir()
        return removed

    @staticmethod
    def verify_one(path: Path) -> list[str]:
        try:
            np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception:
            return [path.stem]
        return []
