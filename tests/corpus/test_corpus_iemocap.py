"""IEMOCAP adapter on a fixture tree with the full release's layout and label-file formats."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from emofuse.corpus import COLUMNS, read_corpus
from emofuse.corpus.iemocap import parse_utterance_id
from emofuse.errors import ConfigError, CorpusError


def record(table, uid: str) -> dict:
    """One row as a dict (None stays None)."""
    rows = table.loc[table["utterance_id"] == uid].to_dict(orient="records")
    assert len(rows) == 1, uid
    return rows[0]


def test_reads_every_turn_with_its_fields(iemocap_root: Path, iemocap_spec: dict) -> None:
    table, report = read_corpus("iemocap", iemocap_root)
    assert list(table.columns) == list(COLUMNS)
    assert (
        len(table)
        == iemocap_spec["sessions"] * iemocap_spec["per_session"]
        == report.n_found
        == report.n_kept
    )
    assert report.dropped == {}
    row = record(table, "Ses02F_script01_1_M000")
    assert (
        row["speaker"] == "Ses02M" and row["gender"] == "M"
    )  # speaker from the utterance, not the dialog name
    assert row["session"] == "Session2" and row["script"] == "script01_1"
    assert row["label"] == "sad"
    assert row["transcript"] == "The train was late again and I could not call."
    assert Path(row["audio_path"]).is_file()
    assert row["audio_path"].endswith("Session2/sentences/wav/Ses02F_script01_1/Ses02F_script01_1_M000.wav")
    v, a, d = iemocap_spec["vad"]("Ses02F_script01_1_M000")
    assert (row["valence"], row["arousal"], row["dominance"]) == (v, a, d)  # the bracket triple is [V, A, D]
    assert math.isnan(row["start_s"]) and math.isnan(row["end_s"])
    impro = record(table, "Ses04F_impro01_F001")
    assert impro["script"] is None and impro["label"] == "excited" and impro["speaker"] == "Ses04F"
    assert set(table["speaker"]) == {f"Ses{n:02d}{g}" for n in range(1, 6) for g in "FM"}
    assert set(table["corpus"]) == {"iemocap"}
    assert record(table, "Ses03F_impro01_M001")["transcript"] is None
    assert any("no transcript" in n for n in report.notes)


def test_labels_kept_unless_asked(iemocap_root: Path, iemocap_spec: dict) -> None:
    n = iemocap_spec["sessions"]
    table, _ = read_corpus("iemocap", iemocap_root)
    counts = Counter(table["label"])
    assert counts["no_agreement"] == n and counts["other"] == n and counts["excited"] == n

    merged, report = read_corpus(
        "iemocap", iemocap_root, merge_excited_into_happy=True, drop_no_agreement=True
    )
    counts = Counter(merged["label"])
    assert "excited" not in counts and counts["happy"] == 2 * n
    assert "no_agreement" not in counts and "other" not in counts
    assert len(report.dropped["label 'no_agreement' (drop_no_agreement)"]) == n
    assert len(report.dropped["label 'other' (drop_no_agreement)"]) == n
    assert len(merged) + report.n_dropped == report.n_found == len(table)


def test_classes_keep_a_label_set_and_count_the_rest(iemocap_root: Path) -> None:
    table, report = read_corpus(
        "iemocap", iemocap_root, merge_excited_into_happy=True, classes=("angry", "happy", "sad", "neutral")
    )
    assert set(table["label"]) == {"angry", "happy", "sad", "neutral"}
    dropped = {reason: len(ids) for reason, ids in report.dropped.items()}
    assert dropped == {
        "label 'frustrated' not in classes": 5,
        "label 'no_agreement' not in classes": 5,
        "label 'other' not in classes": 5,
    }
    assert "Ses01M_script03_2_F000" in report.dropped["label 'frustrated' not in classes"]
    with pytest.raises(ConfigError, match="happiness"):
        read_corpus("iemocap", iemocap_root, classes=("angry", "happiness"))


def test_missing_audio_raises_listing_rows_or_is_skipped(make_iemocap) -> None:
    root = make_iemocap(sessions=2)
    gone = root / "Session2/sentences/wav/Ses02F_impro01/Ses02F_impro01_M000.wav"
    gone.unlink()
    with pytest.raises(CorpusError, match="Ses02F_impro01_M000") as info:
        read_corpus("iemocap", root)
    assert "--skip-missing" in str(info.value)
    table, report = read_corpus("iemocap", root, skip_missing=True)
    assert "Ses02F_impro01_M000" not in set(table["utterance_id"])
    assert report.dropped["audio file missing"] == ["Ses02F_impro01_M000"]
    assert len(table) == report.n_found - 1


def test_unreadable_audio_raises_or_is_skipped(make_iemocap) -> None:
    root = make_iemocap(sessions=1)
    bad = root / "Session1/sentences/wav/Ses01F_script01_1/Ses01F_script01_1_F001.wav"
    bad.write_bytes(b"not a wav at all")
    with pytest.raises(CorpusError, match="cannot be read:\n  Ses01F_script01_1_F001"):
        read_corpus("iemocap", root)
    table, report = read_corpus("iemocap", root, skip_missing=True)
    assert report.dropped["audio file unreadable or empty"] == ["Ses01F_script01_1_F001"]
    assert len(table) == report.n_found - 1


def test_unknown_code_and_duplicate_ids_name_the_rows(make_iemocap) -> None:
    root = make_iemocap(sessions=1)
    label_file = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    text = label_file.read_text()
    label_file.write_text(text.replace("\tneu\t", "\tzzz\t", 1).replace("\thap\t", "\tHAPPY\t", 1))
    with pytest.raises(CorpusError, match="2 turn") as info:
        read_corpus("iemocap", root)
    assert "Ses01F_impro01.txt:3: Ses01F_impro01_F000 code 'zzz'" in str(info.value)
    assert "Ses01F_impro01_M000 code 'HAPPY'" in str(info.value)
    label_file.write_text(text)
    copy = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01_copy.txt"
    copy.write_text(text)
    with pytest.raises(CorpusError, match="occur more than once") as info:
        read_corpus("iemocap", root)
    assert "Ses01F_impro01_F000" in str(info.value) and "Ses01F_impro01_copy.txt:3" in str(info.value)


def test_malformed_layout_errors(tmp_path: Path, make_iemocap) -> None:
    with pytest.raises(CorpusError, match="no Session1..Session5"):
        read_corpus("iemocap", tmp_path)
    root = make_iemocap(sessions=1)
    label_file = root / "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt"
    label_file.write_text("[6.29 - 8.23]\tSes01F_impro01_F000\tneu\n")
    with pytest.raises(CorpusError, match="cannot parse turn line"):
        read_corpus("iemocap", root)
    with pytest.raises(ConfigError, match="does not take option"):
        read_corpus("iemocap", root, mapping="audio=x")
    with pytest.raises(ConfigError, match="unknown corpus kind"):
        read_corpus("timit", root)


def test_parse_utterance_id() -> None:
    assert parse_utterance_id("Ses05M_script02_2_F014") == {
        "dialog": "Ses05M_script02_2",
        "speaker": "Ses05F",
        "gender": "F",
        "session": "Session5",
        "script": "script02_2",
    }
    assert parse_utterance_id("Ses03M_impro05a_M021")["script"] is None
    with pytest.raises(CorpusError):
        parse_utterance_id("speaker1_utt3")
