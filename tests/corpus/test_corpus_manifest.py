"""Plain CSV/JSONL manifests with a column mapping."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from emofuse.audio import write_wav
from emofuse.corpus import read_corpus
from emofuse.errors import ConfigError, CorpusError


@pytest.fixture
def manifest_dir(tmp_path: Path) -> Path:
    for name in ("a.wav", "sub/b.wav", "c.wav"):
        p = tmp_path / "data" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        write_wav(p, np.zeros(1600, dtype=np.float32), 16_000)
    return tmp_path / "data"


def test_csv_with_mapping_and_relative_paths(manifest_dir: Path) -> None:
    (manifest_dir / "m.csv").write_text(
        "path,emo,who,act,words\n"
        "a.wav,Angry,spk1,3.5,hello there\n"
        "sub/b.wav,neutral,,,\n"
        f"{manifest_dir / 'c.wav'},SAD,spk2,1.25,bye\n"
    )
    table, report = read_corpus(
        "manifest", manifest_dir / "m.csv", mapping="audio=path,label=emo,speaker=who,arousal=act,text=words"
    )
    assert table["utterance_id"].tolist() == ["a", "b", "c"]
    assert table["audio_path"].tolist() == [str(manifest_dir / n) for n in ("a.wav", "sub/b.wav", "c.wav")]
    assert table["label"].tolist() == ["angry", "neutral", "sad"]
    assert table["speaker"].tolist() == ["spk1", None, "spk2"]
    assert table["arousal"].iloc[0] == 3.5 and math.isnan(table["arousal"].iloc[1])
    assert table["transcript"].tolist() == ["hello there", None, "bye"]
    assert set(table["corpus"]) == {"manifest"} and report.n_kept == 3


def test_jsonl_identity_columns_and_errors(manifest_dir: Path) -> None:
    rows = [
        {"utterance_id": "u1", "audio_path": "a.wav", "label": "happy", "split": "train"},
        {"utterance_id": "u2", "audio_path": "c.wav", "label": "sad", "split": "test"},
    ]
    path = manifest_dir / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    table, _ = read_corpus("manifest", path)
    assert table["utterance_id"].tolist() == ["u1", "u2"] and table["split"].tolist() == ["train", "test"]

    with pytest.raises(ConfigError, match="no column 'emo'"):
        read_corpus("manifest", path, mapping={"label": "emo"})
    with pytest.raises(ConfigError, match="not a schema field"):
        read_corpus("manifest", path, mapping="colour=label")
    path.write_text(path.read_text() + json.dumps({"utterance_id": "u1", "audio_path": "sub/b.wav"}) + "\n")
    with pytest.raises(CorpusError, match=r"u1: .*m.jsonl:1; .*m.jsonl:3"):
        read_corpus("manifest", path)
    path.write_text(json.dumps({"utterance_id": "u9", "audio_path": "gone.wav"}) + "\n{oops\n")
    with pytest.raises(CorpusError, match=r"m.jsonl:2 is not valid JSON"):
        read_corpus("manifest", path)
    path.write_text(json.dumps({"utterance_id": "u9", "audio_path": "gone.wav", "valence": "high"}) + "\n")
    with pytest.raises(CorpusError, match="valence .* 'high', not a number"):
        read_corpus("manifest", path)
    path.write_text(json.dumps({"utterance_id": "u9", "audio_path": "gone.wav"}) + "\n")
    with pytest.raises(CorpusError, match="u9: .*gone.wav"):
        read_corpus("manifest", path)
    table, report = read_corpus("manifest", path, skip_missing=True)
    assert len(table) == 0 and report.dropped == {"audio file missing": ["u9"]}
