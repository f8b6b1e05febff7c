"""EmoDB adapter on a fixture tree with the corpus's file-name code, and folds as users bring them."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emofuse.audio import write_wav
from emofuse.corpus import make_folds, read_corpus
from emofuse.corpus.emodb import parse_emodb_name
from emofuse.errors import ConfigError, CorpusError

# speaker, sentence, emotion letter, version
EMODB_FILES = [
    (spk, sent, emo, "a")
    for spk in ("03", "08", "10", "16")
    for sent, emo in (("a01", "W"), ("a02", "F"), ("b01", "T"), ("b10", "N"), ("a04", "L"))
]


def tone(path: Path, freq_hz: float) -> None:
    t = np.arange(1600, dtype=np.float32) / 16_000
    write_wav(path, (0.1 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32), 16_000)


@pytest.fixture()
def emodb_root(tmp_path: Path) -> Path:
    root = tmp_path / "emodb"
    for spk, sent, emo, ver in EMODB_FILES:
        tone(root / "wav" / f"{spk}{sent}{emo}{ver}.wav", 180.0 + int(spk))
    return root


def test_emodb_fields_and_classes(emodb_root: Path) -> None:
    table, report = read_corpus("emodb", emodb_root)
    assert len(table) == len(EMODB_FILES)
    row = table.set_index("utterance_id").loc["03a01Wa"]
    assert (row.speaker, row.gender, row.label, row.script) == ("03", "M", "angry", "a01")
    assert row.transcript == "Der Lappen liegt auf dem Eisschrank."
    assert table.set_index("utterance_id").loc["08b01Ta", "gender"] == "F"
    assert set(table["label"]) == {"angry", "happy", "sad", "neutral", "bored"}
    four, report4 = read_corpus("emodb", emodb_root, classes=["angry", "happy", "neutral", "sad"])
    assert len(four) == 16 and "bored" not in set(four["label"])
    assert report4.n_dropped == 4
    assert set(four["corpus"]) == {"emodb"}


def test_emodb_bad_names(emodb_root: Path) -> None:
    assert parse_emodb_name("16b10Nb")["label"] == "neutral"
    with pytest.raises(CorpusError, match="emotion letter 'X'"):
        parse_emodb_name("03a01Xa")
    with pytest.raises(CorpusError, match="corpus root not found"):
        read_corpus("emodb", emodb_root.parent / "none")
    with pytest.raises(ConfigError, match="angri"):
        read_corpus("emodb", emodb_root, classes=["angri"])
    (emodb_root / "wav" / "notacode.wav").write_bytes(b"")
    with pytest.raises(CorpusError, match="notacode"):
        read_corpus("emodb", emodb_root)


def _table(root: Path) -> pd.DataFrame:
    return read_corpus("emodb", root, classes=["angry", "happy", "neutral", "sad"]).table


def test_leave_one_speaker_out(emodb_root: Path) -> None:
    table = _table(emodb_root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the shared sentences are reported as script leaks
        folds = make_folds(table, "leave-one-speaker-out", dev_fraction=0.34, seed=1)
    assert [f.name for f in folds] == ["03", "08", "10", "16"]
    spk = dict(zip(table["utterance_id"], table["speaker"], strict=True))
    for f in folds:
        assert {spk[u] for u in f.test} == set(f.test_groups) == {f.name}
        assert f.name not in {spk[u] for u in (*f.train, *f.dev)}
        assert len(f.dev) == 4 and not set(f.dev) & set(f.train)  # one whole training speaker
        assert len(f.train) + len(f.dev) + len(f.test) == len(table)


def test_column_and_file_folds_agree(emodb_root: Path, tmp_path: Path) -> None:
    table = _table(emodb_root)
    # fold id per row in a table column: the gender here, just to have a column with two values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_col = make_folds(table, "column:gender", dev_fraction=0.0)
    assert [f.name for f in by_col] == ["F", "M"]
    gender = dict(zip(table["utterance_id"], table["gender"], strict=True))
    assert {gender[u] for u in by_col[0].test} == {"F"} and {gender[u] for u in by_col[0].train} == {"M"}
    # the same assignment as a CSV fold list keyed by file path (matched by stem), one row left without a fold
    ids = table["utterance_id"].tolist()
    lines = ["file,fold"] + [f"wav/{u}.wav,{1 if gender[u] == 'F' else 2}" for u in ids[1:]] + [f"{ids[0]},"]
    csv_path = tmp_path / "folds.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_file = make_folds(table, f"file:{csv_path}", dev_fraction=0.0)
    assert [f.name for f in by_file] == ["fold1", "fold2"]
    assert ids[0] in by_file[0].excluded and ids[0] not in (*by_file[0].train, *by_file[0].test)
    assert set(by_file[0].test) == set(by_col[0].test) - {ids[0]}
    # JSON {fold: [ids]}
    js = tmp_path / "folds.json"
    js.write_text(json.dumps({"a": ids[:8], "b": ids[8:]}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_json = make_folds(table, f"file:{js}", dev_fraction=0.0)
    assert [sorted(f.test) for f in by_json] == [sorted(ids[:8]), sorted(ids[8:])]


def test_given_folds_bad_input(emodb_root: Path, tmp_path: Path) -> None:
    table = _table(emodb_root)
    with pytest.raises(ConfigError, match="no column 'emobox_fold'"):
        make_folds(table, "column:emobox_fold")
    with pytest.raises(ConfigError, match="fold-list file not found"):
        make_folds(table, f"file:{tmp_path / 'nope.csv'}")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,split\nx,1\n")
    with pytest.raises(CorpusError, match="id column"):
        make_folds(table, f"file:{bad}")
    other = tmp_path / "other.csv"
    other.write_text("utterance_id,fold\nsomeone_else,1\nanother,2\n")
    with pytest.raises(CorpusError, match="no utterance of the table has a fold id"):
        make_folds(table, f"file:{other}")


def test_text_only_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "dialogues.csv"
    manifest.write_text(
        "id,text,emotion,speaker\nd1,I am so happy for you,happy,a\nd2,leave me alone,angry,b\n"
    )
    table = read_corpus("manifest", manifest, mapping={"label": "emotion"}).table
    assert table["audio_path"].isna().all() and list(table["transcript"])[0] == "I am so happy for you"
    bad = tmp_path / "bad.csv"
    bad.write_text("id,text,emotion\nd1,,happy\n")
    with pytest.raises(CorpusError, match="no transcript"):
        read_corpus("manifest", bad, mapping={"label": "emotion"})
