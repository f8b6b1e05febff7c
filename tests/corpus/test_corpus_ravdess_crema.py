"""RAVDESS and CREMA-D adapters on fixture trees with their real file-name codes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from emofuse.corpus import read_corpus
from emofuse.corpus.crema_d import SENTENCES, parse_crema_d_name
from emofuse.corpus.ravdess import parse_ravdess_name
from emofuse.errors import CorpusError


def record(table, uid: str) -> dict:
    rows = table.loc[table["utterance_id"] == uid].to_dict(orient="records")
    assert len(rows) == 1, uid
    return rows[0]


def test_ravdess_fields_and_song_reported(ravdess_root: Path, ravdess_files: dict) -> None:
    table, report = read_corpus("ravdess", ravdess_root)
    n_files = sum(len(v) for v in ravdess_files.values())
    assert report.n_found == n_files and len(table) == n_files - 1
    assert report.dropped == {"vocal channel 'song' (include_song=False)": ["03-02-04-01-02-01-01"]}
    row = record(table, "03-01-05-02-02-01-01")
    assert row["label"] == "angry" and row["speaker"] == "Actor_01" and row["gender"] == "M"
    assert row["script"] == "statement02" and row["transcript"] == "Dogs are sitting by the door"
    row = record(table, "03-01-06-02-02-02-02")
    assert row["label"] == "fearful" and row["gender"] == "F"
    assert record(table, "03-01-02-01-01-01-02")["transcript"] == "Kids are talking by the door"
    assert record(table, "03-01-02-01-01-01-02")["label"] == "calm"
    assert Counter(table["speaker"]) == {"Actor_01": 3, "Actor_02": 3, "Actor_03": 2, "Actor_04": 2}
    with_song, _ = read_corpus("ravdess", ravdess_root, include_song=True)
    assert len(with_song) == n_files and record(with_song, "03-02-04-01-02-01-01")["label"] == "sad"


def test_ravdess_bad_names(ravdess_root: Path) -> None:
    assert parse_ravdess_name("03-01-08-02-01-02-23")["gender"] == "M"
    (ravdess_root / "Actor_02" / "03-01-09-01-01-01-02.wav").write_bytes(b"")
    with pytest.raises(CorpusError, match="03-01-09-01-01-01-02.*unknown code"):
        read_corpus("ravdess", ravdess_root)


def test_crema_d_fields(crema_root: Path, crema_files: list) -> None:
    table, report = read_corpus("crema_d", crema_root)
    assert len(table) == len(crema_files) == report.n_kept and report.dropped == {}
    row = record(table, "1001_DFA_ANG_XX")
    assert row["speaker"] == "1001" and row["gender"] == "M" and row["label"] == "angry"
    assert row["script"] == "DFA" and row["transcript"] == "Don't forget a jacket"
    assert record(table, "1001_IEO_HAP_HI")["transcript"] == "It's eleven o'clock"
    row = record(table, "1002_WSI_DIS_LO")
    assert row["gender"] == "F" and row["label"] == "disgusted"
    assert row["transcript"] == "We'll stop in a couple of minutes"
    assert Counter(table["label"]) == {
        "angry": 2,
        "neutral": 2,
        "happy": 1,
        "sad": 1,
        "fearful": 1,
        "disgusted": 1,
    }
    assert len(SENTENCES) == 12


def test_crema_d_without_demographics_and_empty_file(crema_root: Path) -> None:
    (crema_root / "VideoDemographics.csv").unlink()
    (crema_root / "AudioWAV" / "1076_MTI_SAD_XX.wav").write_bytes(b"")  # empty in the real release too
    with pytest.raises(CorpusError, match="1076_MTI_SAD_XX"):
        read_corpus("crema_d", crema_root)
    table, report = read_corpus("crema_d", crema_root, skip_missing=True)
    assert table["gender"].isna().all()
    assert report.dropped == {"audio file unreadable or empty": ["1076_MTI_SAD_XX"]}
    assert any("VideoDemographics" in n for n in report.notes)
    with pytest.raises(CorpusError, match="sentence XYZ"):
        parse_crema_d_name("1001_XYZ_ANG_XX")
    (crema_root / "AudioWAV" / "1001_DFA_ANGRY.wav").write_bytes(b"")
    with pytest.raises(CorpusError, match="1001_DFA_ANGRY"):
        read_corpus("crema_d", crema_root, skip_missing=True)
