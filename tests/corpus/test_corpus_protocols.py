"""Evaluation protocols: grouping, determinism, dev carving, pepino2020 speaker-and-script folds, split files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest

from emofuse.corpus import make_table, read_corpus
from emofuse.corpus.leaks import LeakWarning, script_family
from emofuse.corpus.protocols import (
    Fold,
    SplitFile,
    make_folds,
    read_splits,
    write_splits,
)
from emofuse.errors import ConfigError, CorpusError


@pytest.fixture(scope="module")
def iemocap_table(iemocap_root: Path) -> pd.DataFrame:
    table, _ = read_corpus("iemocap", iemocap_root, verify_audio=False)
    return table


def synthetic_table(n_speakers: int = 12, per_speaker: int = 10) -> pd.DataFrame:
    labels = ["angry", "happy", "sad", "neutral"]
    return make_table(
        {
            "utterance_id": f"s{s:02d}_u{u:02d}",
            "audio_path": f"/data/s{s:02d}_u{u:02d}.wav",
            "speaker": f"s{s:02d}",
            "label": labels[(s + u) % 4],
        }
        for s in range(n_speakers)
        for u in range(per_speaker)
    )


def lookup(table: pd.DataFrame, ids, column: str) -> set:
    return set(table.set_index("utterance_id").loc[list(ids), column].dropna())


def test_speaker_kfold_groups_speakers_and_is_deterministic() -> None:
    table = synthetic_table()
    folds = make_folds(table, "speaker-kfold", n_folds=4, seed=3, dev_fraction=0.2)
    assert len(folds) == 4
    tested = [uid for f in folds for uid in f.test]
    assert sorted(tested) == sorted(table["utterance_id"])  # every utterance tested exactly once
    for f in folds:
        train_spk, dev_spk, test_spk = (lookup(table, ids, "speaker") for ids in (f.train, f.dev, f.test))
        assert not train_spk & test_spk and not dev_spk & test_spk and not train_spk & dev_spk
        assert dev_spk and len(f.train) + len(f.dev) + len(f.test) == len(table)
        assert set(f.test_groups) == test_spk
        assert set(lookup(table, f.test, "label")) == {"angry", "happy", "sad", "neutral"}  # stratified
    again = make_folds(table, "speaker-kfold", n_folds=4, seed=3, dev_fraction=0.2)
    assert again == folds
    other = make_folds(table, "speaker-kfold", n_folds=4, seed=4, dev_fraction=0.2)
    assert [f.test for f in other] != [f.test for f in folds]
    with pytest.raises(CorpusError, match="cannot make 20 speaker-grouped folds from 12"):
        make_folds(table, "speaker-kfold", n_folds=20)
    with pytest.raises(ConfigError, match="unknown protocol"):
        make_folds(table, "random")


def test_unknown_speakers_are_separate_groups() -> None:
    table = synthetic_table(n_speakers=2, per_speaker=4)
    table["speaker"] = [None] * 7 + ["s1"]
    folds = make_folds(table, "speaker-kfold", n_folds=4, seed=0, dev_fraction=0.0)
    assert [len(f.test) for f in folds] == [2, 2, 2, 2]  # 7 unknown speakers and s1, not two groups


def test_a_protocol_needs_its_columns() -> None:
    table = synthetic_table(n_speakers=2, per_speaker=4)
    table["speaker"] = None  # no speaker at all: speaker-kfold folds could not be speaker-independent
    with pytest.raises(CorpusError, match="speaker-kfold needs the 'speaker' column"):
        make_folds(table, "speaker-kfold", n_folds=2, seed=0)
    table = synthetic_table(n_speakers=4, per_speaker=4)
    table["script"] = None
    with pytest.raises(CorpusError, match="speaker-script needs the 'script' column"):
        make_folds(table, "speaker-script", n_folds=2, seed=0)


def test_loso_on_iemocap(iemocap_table: pd.DataFrame) -> None:
    folds = make_folds(iemocap_table, "loso", seed=0, check=False)
    assert [f.name for f in folds] == [f"Session{n}" for n in range(1, 6)]
    for n, f in enumerate(folds, start=1):
        assert lookup(iemocap_table, f.test, "speaker") == {f"Ses{n:02d}F", f"Ses{n:02d}M"}
        assert f"Session{n}" not in lookup(iemocap_table, f.train + f.dev, "session")
        assert len(lookup(iemocap_table, f.dev, "speaker")) >= 1


def test_speaker_script_folds_follow_pepino2020(iemocap_table: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", LeakWarning)  # the fixture's split must be clean
        folds = make_folds(iemocap_table, "speaker-script", seed=1, dev_fraction=0.25)
    assert len(folds) == 5
    for n, f in enumerate(folds, start=1):
        test_speakers = {f"Ses{n:02d}F", f"Ses{n:02d}M"}
        assert lookup(iemocap_table, f.test, "speaker") == test_speakers
        assert not lookup(iemocap_table, f.train + f.dev, "speaker") & test_speakers
        test_families = {script_family(s) for s in lookup(iemocap_table, f.test, "script")}
        train_families = {script_family(s) for s in lookup(iemocap_table, f.train + f.dev, "script")}
        assert test_families == {"script03"} and train_families == {"script01"}
        # improvised turns are on both sides; the test session's script01 and the others' script03 on neither
        test = iemocap_table.set_index("utterance_id").loc[list(f.test)]
        assert test["script"].isna().sum() == 4
        excluded = iemocap_table.set_index("utterance_id").loc[list(f.excluded)]
        assert len(excluded) == 3 + 4 * 2
        assert set(excluded.index[excluded["session"] == f"Session{n}"]) == {
            f"Ses{n:02d}F_script01_1_{t}" for t in ("F000", "M000", "F001")
        }
    with pytest.raises(ConfigError, match="script09"):
        make_folds(iemocap_table, "speaker-script", test_scripts=["script09"])
    swapped = make_folds(iemocap_table, "speaker-script", test_scripts=["script01"], check=False)
    assert {script_family(s) for s in lookup(iemocap_table, swapped[0].test, "script")} == {"script01"}


def test_predefined_split_on_msp(msp_root: Path) -> None:
    table, _ = read_corpus("msp_podcast", msp_root, verify_audio=False)
    (fold,) = make_folds(table, "predefined", check=False)
    assert fold.name == "test1"
    assert set(fold.train) == set(table.loc[table["split"] == "train", "utterance_id"])
    assert fold.dev == ("MSP-PODCAST_0003_0002",)
    assert set(fold.test) == set(table.loc[table["split"] == "test1", "utterance_id"])
    assert fold.excluded == ("MSP-PODCAST_0006_0001",)  # test2
    (fold2,) = make_folds(table, "predefined", test_split="test2", check=False)
    assert fold2.test == ("MSP-PODCAST_0006_0001",)
    with pytest.raises(CorpusError, match="'test9' is not in the table"):
        make_folds(table, "predefined", test_split="test9")
    with pytest.raises(CorpusError, match="needs a 'train' split"):
        make_folds(synthetic_table(), "predefined")


def test_split_file_round_trip_and_errors(tmp_path: Path) -> None:
    table = synthetic_table()
    folds = make_folds(table, "speaker-kfold", n_folds=3, seed=7)
    path = tmp_path / "folds.json"
    write_splits(
        path, SplitFile(protocol="speaker-kfold", seed=7, folds=folds, corpus="x", options={"n_folds": 3})
    )
    back = read_splits(path)
    assert back.folds == folds and back.seed == 7 and back.protocol == "speaker-kfold"
    assert isinstance(back.folds[0], Fold)
    obj = json.loads(path.read_text())
    del obj["folds"][1]["test"]
    path.write_text(json.dumps(obj))
    with pytest.raises(CorpusError, match="a fold lacks 'test'"):
        read_splits(path)
    path.write_text('{"folds": []}')
    with pytest.raises(CorpusError, match="not an emofuse split file"):
        read_splits(path)
    with pytest.raises(CorpusError, match="split file not found"):
        read_splits(tmp_path / "nope.json")
