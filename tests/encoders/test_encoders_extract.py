"""extract_features and `emofuse extract`: fills the store, skips finished entries, resumes after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from emofuse.corpus.table import make_table, write_table
from emofuse.encoders import FeatureStore, build_encoder, extract_features, utterance_keys
from emofuse.errors import ConfigError


def _spans_table(enc_corpus, n: int):
    """n utterances cut from the espeak files (distinct spans, so distinct keys)."""
    table, _ = enc_corpus
    rows = []
    for i in range(n):
        src = table.iloc[i % len(table)]
        rows.append(
            {
                "utterance_id": f"s{i}",
                "audio_path": src.audio_path,
                "start_s": 0.05 * i,
                "end_s": 0.05 * i + 0.8,
            }
        )
    return make_table(rows)


class _Counting:
    """Wraps an encoder, counting encode calls and optionally failing on the k-th one."""

    def __init__(self, inner, fail_at: int | None = None):
        self.inner, self.fail_at, self.calls = inner, fail_at, 0
        self.modality, self.output, self.encoder_id = inner.modality, inner.output, inner.encoder_id
        self.sample_rate_hz = inner.sample_rate_hz

    def describe(self):
        return self.inner.describe()

    def encode_batch(self, items, sample_rate_hz):
        out = []
        for item in items:
            self.calls += 1
            if self.fail_at is not None and self.calls == self.fail_at:
                raise RuntimeError("boom")
            out.append(self.inner.encode(item, sample_rate_hz))
        return out


@pytest.fixture(scope="module")
def mfcc():
    return build_encoder("spectral.mfcc40")


def test_fills_store_then_serves_from_it(tmp_path, enc_corpus, mfcc):
    table, waves = enc_corpus
    store = FeatureStore(tmp_path / "store")
    counting = _Counting(mfcc)
    keys = extract_features(table, counting, store, progress=False)
    assert counting.calls == len(table) and set(keys) == set(table["utterance_id"])
    for uid, key in keys.items():
        np.testing.assert_allclose(
            store.get(mfcc.encoder_id, key), mfcc.encode(waves[uid]), rtol=1e-5, atol=1e-4
        )
    manifest = store.manifest(mfcc.encoder_id)
    assert manifest["encoder_id"] == mfcc.encoder_id and manifest["dim"] == 40
    again = _Counting(mfcc)
    assert extract_features(table, again, store, workers=2, progress=False) == keys
    assert again.calls == 0


def test_duplicates_computed_once_and_two_workers_agree(tmp_path, enc_corpus, mfcc):
    table, _ = enc_corpus
    dup = make_table([*table.to_dict("records"), {**table.iloc[0].to_dict(), "utterance_id": "copy"}])
    one, two = FeatureStore(tmp_path / "a"), FeatureStore(tmp_path / "b")
    c1 = _Counting(mfcc)
    k1 = extract_features(dup, c1, one, workers=1, batch_size=1, progress=False)
    k2 = extract_features(dup, mfcc, two, workers=2, batch_size=1, progress=False)
    assert c1.calls == len(table) and k1["copy"] == k1["u0"] and k1 == k2
    for k in set(k1.values()):
        np.testing.assert_array_equal(one.get(mfcc.encoder_id, k), two.get(mfcc.encoder_id, k))


@pytest.mark.parametrize("workers", [1, 2])
def test_failure_midway_keeps_finished_entries_and_resumes(tmp_path, enc_corpus, mfcc, workers):
    table = _spans_table(enc_corpus, 8)
    store = FeatureStore(tmp_path / "store")
    with pytest.raises(RuntimeError, match="boom"):
        extract_features(
            table, _Counting(mfcc, fail_at=5), store, workers=workers, batch_size=1, progress=False
        )
    done = store.keys(mfcc.encoder_id)
    assert 1 <= len(done) < 8
    assert store.temp_files() == [] and store.verify(mfcc.encoder_id) == []
    resumed = _Counting(mfcc)
    keys = extract_features(table, resumed, store, workers=workers, progress=False)
    assert resumed.calls == 8 - len(done)
    assert sorted(set(keys.values())) == store.keys(mfcc.encoder_id)


@pytest.mark.slow
def test_killed_process_resumes_and_store_is_clean(tmp_path, enc_corpus, mfcc):
    table = _spans_table(enc_corpus, 12)
    corpus = tmp_path / "corpus.jsonl"
    write_table(table, corpus)
    root = tmp_path / "store"
    script = textwrap.dedent(
        f"""
        import time
        from emofuse.corpus.table import read_table
        from emofuse.encoders import FeatureStore, build_encoder, extract_features
        enc = build_encoder("spectral.mfcc40")
        inner = enc._encode
        def slow(item):
            time.sleep(0.2)
            return inner(item)
        enc._encode = slow
        extract_features(read_table({str(corpus)!r}), enc, FeatureStore({str(root)!r}), batch_size=1, progress=False)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    store = FeatureStore(root)
    deadline = time.monotonic() + 60
    try:
        while len(store.keys(mfcc.encoder_id)) < 3:
            assert proc.poll() is None, "the extraction ended before it could be killed"
            assert time.monotonic() < deadline, "the extraction made no progress"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    done = store.keys(mfcc.encoder_id)
    assert 3 <= len(done) < 12
    assert store.verify(mfcc.encoder_id) == []  # every entry on disk is whole
    counting = _Counting(mfcc)
    keys = extract_features(table, counting, store, progress=False)
    assert counting.calls == 12 - len(done)
    assert store.keys(mfcc.encoder_id) == sorted(set(keys.values()))
    store.prune()  # removes any temp file the kill left behind
    assert store.temp_files() == [] and store.verify(mfcc.encoder_id) == []


def test_text_encoder_needs_texts(tmp_path, enc_corpus, tiny_bert_dir):
    table, _ = enc_corpus
    enc = build_encoder({"kind": "text", "model": str(tiny_bert_dir), "layers": "last"})
    store = FeatureStore(tmp_path / "store")
    with pytest.raises(ConfigError, match="needs texts"):
        extract_features(table, enc, store, progress=False)
    with pytest.raises(ConfigError, match="u3"):
        extract_features(table, enc, store, texts={"u0": "x", "u1": "y", "u2": "z"}, progress=False)
    texts = {"u0": "i feel great", "u1": "sad", "u2": "i feel great", "u3": ""}
    keys = extract_features(table, enc, store, texts=texts, progress=False)
    assert keys["u0"] == keys["u2"] and len(store.keys(enc.encoder_id)) == 3
    assert utterance_keys(table, "text", texts) == keys


def test_opensmile_extracts_in_worker_processes_like_in_one(tmp_path, enc_corpus, monkeypatch):
    """openSMILE asks for processes: with 2 workers every batch is encoded outside this process (a broken
    in-process path is never called) and the store holds what one worker writes."""
    pytest.importorskip("opensmile")
    import emofuse.encoders.extract as extract
    from emofuse.threads import available_cores

    table = _spans_table(enc_corpus, 6)
    encoder = build_encoder("opensmile.egemaps")
    assert extract.default_workers(encoder) == available_cores()
    one, two = FeatureStore(tmp_path / "one"), FeatureStore(tmp_path / "two")
    k1 = extract_features(table, encoder, one, workers=1, batch_size=2, progress=False)

    def not_here(*args, **kwargs):
        raise AssertionError("encoded in the parent process")

    monkeypatch.setattr(extract, "PROCESSES_FROM_ITEMS", 4)  # a big job (here: 6 items >= 4) gets processes
    monkeypatch.setattr(extract, "_encode_and_store", not_here)
    k2 = extract_features(table, encoder, two, workers=2, batch_size=2, progress=False)
    assert k1 == k2 and two.temp_files() == []
    for key in set(k1.values()):
        np.testing.assert_array_equal(one.get(encoder.encoder_id, key), two.get(encoder.encoder_id, key))


def test_a_small_opensmile_job_runs_in_threads_of_this_process(tmp_path, enc_corpus, monkeypatch):
    """Below PROCESSES_FROM_ITEMS items, spawning workers costs more than it saves: threads encode them."""
    pytest.importorskip("opensmile")
    import emofuse.encoders.extract as extract

    table = _spans_table(enc_corpus, 6)
    encoder = build_encoder("opensmile.egemaps")
    assert len(table) < extract.PROCESSES_FROM_ITEMS

    pools = []
    real_pool = extract._pool

    def record_pool(encoder, store, workers, processes):
        pools.append((workers, processes))
        return real_pool(encoder, store, workers, processes)

    monkeypatch.setattr(extract, "_pool", record_pool)
    keys = extract_features(
        table, encoder, FeatureStore(tmp_path / "s"), workers=2, batch_size=2, progress=False
    )
    assert len(set(keys.values())) == len(table)
