"""Sharded extraction: `emofuse extract --shard K/N` in N concurrent processes fills one store exactly as one
process does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emofuse.cli.main import app
from emofuse.corpus.table import write_table
from emofuse.encoders import FeatureStore
from emofuse.encoders.extract import parse_shard, select_shard
from emofuse.errors import ConfigError

SPEC = "spectral.mfcc40"


def _entries(root: Path) -> dict[str, np.ndarray]:
    store = FeatureStore(root)
    [enc_id] = store.encoder_ids()
    return {k: store.get(enc_id, k) for k in store.keys(enc_id)}


def test_shards_are_disjoint_and_cover_the_table(enc_corpus) -> None:
    table, _ = enc_corpus
    parts = [select_shard(table, k, 3) for k in (1, 2, 3)]
    ids = [set(p["utterance_id"]) for p in parts]
    assert set().union(*ids) == set(table["utterance_id"])
    assert sum(len(i) for i in ids) == len(table)
    shuffled = table.sample(frac=1.0, random_state=0)
    assert set(select_shard(shuffled, 2, 3)["utterance_id"]) == ids[1]  # row order does not matter
    for bad in ("0/2", "3/2", "1", "a/b", "1/2/3"):
        with pytest.raises(ConfigError, match="K/N"):
            parse_shard(bad)


def test_concurrent_shards_fill_the_store_as_one_process(tmp_path: Path, enc_corpus) -> None:
    table, _ = enc_corpus
    corpus = tmp_path / "corpus.jsonl"
    write_table(table, corpus)
    one = CliRunner().invoke(
        app, ["extract", SPEC, "--corpus", str(corpus), "--store", str(tmp_path / "one"), "--no-progress"]
    )
    assert one.exit_code == 0, one.output
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from emofuse.cli.main import main; main()",
                "extract",
                SPEC,
                "--corpus",
                str(corpus),
                "--store",
                str(tmp_path / "sharded"),
                "--no-progress",
                "--shard",
                f"{k}/2",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for k in (1, 2)
    ]
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0, out
    a, b = _entries(tmp_path / "one"), _entries(tmp_path / "sharded")
    assert sorted(a) == sorted(b) and len(a) == len(table)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not FeatureStore(tmp_path / "sharded").temp_files()


def test_bad_shard_is_one_clear_line(tmp_path: Path, enc_corpus) -> None:
    table, _ = enc_corpus
    corpus = tmp_path / "corpus.jsonl"
    write_table(table, corpus)
    result = CliRunner().invoke(app, ["extract", SPEC, "--corpus", str(corpus), "--shard", "3/2"])
    # the CLI's error boundary (emofuse.cli.main.main) turns a ConfigError into one line and exit code 2
    assert isinstance(result.exception, ConfigError) and "--shard '3/2'" in str(result.exception)
