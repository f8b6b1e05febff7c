"""The feature store: atomic entries, float16, packing, pruning, damaged entries."""

from __future__ import annotations

import numpy as np
import pytest

from emofuse.encoders import FeatureStore
from emofuse.errors import FeatureStoreError
from emofuse.hashing import text_key

ENC = "spectral-abc123"


def _keys(n: int) -> list[str]:
    return [text_key(f"utterance {i}") for i in range(n)]


def test_put_get_roundtrip_and_manifest(tmp_path):
    store = FeatureStore(tmp_path)
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(5 + i, 3)).astype(np.float32) for i in range(3)]
    for k, a in zip(_keys(3), arrays, strict=True):
        store.put(ENC, k, a)
    store.write_manifest(ENC, {"encoder_id": ENC, "dim": 3})
    assert store.keys(ENC) == sorted(_keys(3))
    for k, a in zip(_keys(3), arrays, strict=True):
        assert store.has(ENC, k)
        got = store.get(ENC, k)
        assert got.dtype == np.float32 and np.array_equal(got, a)
    assert store.manifest(ENC) == {"encoder_id": ENC, "dim": 3, "storage_dtype": "float32"}
    assert not store.has(ENC, text_key("never stored"))
    assert store.temp_files() == []


def test_float16_storage_halves_size_and_returns_float32(tmp_path):
    a = np.random.default_rng(1).normal(size=(200, 64)).astype(np.float32)
    k = _keys(1)[0]
    full, half = FeatureStore(tmp_path / "f32"), FeatureStore(tmp_path / "f16", dtype="float16")
    full.put(ENC, k, a)
    half.put(ENC, k, a)
    assert half.size_bytes() < 0.6 * full.size_bytes()
    got = half.get(ENC, k)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, a, rtol=1e-3, atol=1e-3)


def test_missing_and_damaged_entries_are_clear_errors(tmp_path):
    store = FeatureStore(tmp_path)
    k = _keys(1)[0]
    with pytest.raises(FeatureStoreError, match="emofuse extract"):
        store.get(ENC, k)
    path = store.put(ENC, k, np.ones((2, 2), np.float32))
    path.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(FeatureStoreError, match=str(path.name)):
        store.get(ENC, k)
    assert store.verify(ENC) == [k]
    assert store.prune() == 1  # damaged entries go
    assert not store.has(ENC, k)
    with pytest.raises(FeatureStoreError, match="NaN"):
        store.put(ENC, k, np.array([np.nan], np.float32))
    with pytest.raises(FeatureStoreError, match="bad feature key"):
        store.put(ENC, "../x", np.ones(1, np.float32))


def test_pack_serves_the_same_arrays_and_prune_keep_keys(tmp_path):
    store = FeatureStore(tmp_path)
    keys = _keys(6)
    arrays = {k: np.full((i + 1, 4), i, np.float32) for i, k in enumerate(keys)}
    for k, a in arrays.items():
        store.put(ENC, k, a)
    assert store.pack(ENC) == 6
    for p in store.encoder_dir(ENC).glob("??/*.npy"):
        p.unlink()  # only the pack is left
    fresh = FeatureStore(tmp_path)
    assert fresh.keys(ENC) == sorted(keys)
    for k, a in zip(keys, fresh.load_many(ENC, keys), strict=True):
        assert np.array_equal(a, arrays[k])
    for k, a in arrays.items():
        fresh.put(ENC, k, a)
    removed = fresh.prune(keep_keys=set(keys[:2]))
    assert removed == 4
    assert fresh.keys(ENC) == sorted(keys[:2])


def test_prune_encoder_and_temp_files(tmp_path):
    store = FeatureStore(tmp_path)
    for k in _keys(3):
        store.put(ENC, k, np.zeros(3, np.float32))
        store.put("text-xyz", k, np.zeros(3, np.float32))
    stray = store.encoder_dir(ENC) / "ab" / ".abc.npy.123.tmp"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"half")
    assert store.temp_files() == [stray]
    assert store.keys(ENC) == sorted(_keys(3))  # temp files are never entries
    size_before = store.size_bytes()
    assert store.prune(encoder_id=ENC) == 3
    assert store.encoder_ids() == ["text-xyz"]
    assert store.temp_files() == []
    assert 0 < store.size_bytes() < size_before
