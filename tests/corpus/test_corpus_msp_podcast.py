"""MSP-Podcast adapter on a fixture tree (Labels/labels_consensus.csv, Audios/, Transcripts/)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from emofuse.corpus import read_corpus
from emofuse.corpus.protocols import speaker_groups
from emofuse.errors import CorpusError


def record(table, uid: str) -> dict:
    rows = table.loc[table["utterance_id"] == uid].to_dict(orient="records")
    assert len(rows) == 1, uid
    return rows[0]


def test_reads_rows_with_fields(msp_root: Path, msp_rows: list) -> None:
    table, report = read_corpus("msp_podcast", msp_root)
    assert len(table) == len(msp_rows) == report.n_found
    row = record(table, "MSP-PODCAST_0001_0008")
    assert row["label"] == "angry" and row["speaker"] == "127" and row["gender"] == "M"
    assert (row["arousal"], row["valence"], row["dominance"]) == (6.2, 2.4, 5.8)  # EmoAct, EmoVal, EmoDom
    assert row["split"] == "train" and row["transcript"] == "podcast segment number 0"
    assert row["audio_path"].endswith("Audios/MSP-PODCAST_0001_0008.wav")
    assert record(table, "MSP-PODCAST_0001_0009")["transcript"] is None  # no Transcripts/<stem>.txt
    assert Counter(table["split"]) == {"train": 5, "dev": 1, "test1": 3, "test2": 1}
    assert Counter(table["label"])["no_agreement"] == 1 and Counter(table["label"])["other"] == 1
    assert record(table, "MSP-PODCAST_0003_0002")["label"] == "contempt"
    assert record(table, "MSP-PODCAST_0006_0001")["label"] == "surprised"


def test_unknown_speakers_stay_apart(msp_root: Path) -> None:
    table, report = read_corpus("msp_podcast", msp_root)
    unknown = table.loc[table["speaker"].isna()]
    assert sorted(unknown["utterance_id"]) == ["MSP-PODCAST_0002_0001", "MSP-PODCAST_0002_0002"]
    assert record(table, "MSP-PODCAST_0002_0002")["gender"] == "F"
    assert record(table, "MSP-PODCAST_0002_0001")["gender"] is None
    groups = speaker_groups(table)
    assert len(set(groups)) == table["speaker"].nunique() + 2  # each unknown speaker its own group
    assert any("unknown speaker" in n for n in report.notes)


def test_drop_no_agreement_and_classes(msp_root: Path) -> None:
    table, report = read_corpus(
        "msp_podcast", msp_root, drop_no_agreement=True, classes=["angry", "happy", "sad", "neutral"]
    )
    assert set(table["label"]) == {"angry", "happy", "sad", "neutral"}
    assert report.dropped["label 'no_agreement' (drop_no_agreement)"] == ["MSP-PODCAST_0004_0001"]
    assert report.dropped["label 'other' (drop_no_agreement)"] == ["MSP-PODCAST_0005_0001"]
    assert report.dropped["label 'contempt' not in classes"] == ["MSP-PODCAST_0003_0002"]
    assert report.dropped["label 'surprised' not in classes"] == ["MSP-PODCAST_0006_0001"]
    assert len(table) == 6 == report.n_kept


def test_errors_name_rows(tmp_path: Path, msp_rows: list, build_msp_tree) -> None:
    bad = list(msp_rows)
    bad[3] = (bad[3][0], "Q", *bad[3][2:])
    root = build_msp_tree(tmp_path / "bad_code", bad)
    with pytest.raises(
        CorpusError, match=r"unknown EmoClass.*\n.*labels_consensus.csv:5: MSP-PODCAST_0002_0002"
    ):
        read_corpus("msp_podcast", root)

    dup = [*msp_rows, msp_rows[0]]
    root = build_msp_tree(tmp_path / "dup", dup)
    with pytest.raises(CorpusError, match="MSP-PODCAST_0001_0008: .*:2; .*:12"):
        read_corpus("msp_podcast", root)

    root = build_msp_tree(tmp_path / "missing", msp_rows)
    (root / "Audios" / "MSP-PODCAST_0004_0002.wav").unlink()
    with pytest.raises(CorpusError, match="MSP-PODCAST_0004_0002"):
        read_corpus("msp_podcast", root)
    table, report = read_corpus("msp_podcast", root, skip_missing=True)
    assert (
        report.dropped == {"audio file missing": ["MSP-PODCAST_0004_0002"]}
        and len(table) == len(msp_rows) - 1
    )

    (root / "Labels" / "labels_consensus.csv").write_text("FileName,EmoClass\nx.wav,A\n")
    with pytest.raises(CorpusError, match=r"lacks column\(s\) \['EmoAct'"):
        read_corpus("msp_podcast", root)
    with pytest.raises(CorpusError, match="corpus root not found"):
        read_corpus("msp_podcast", tmp_path / "nothing_here")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no Labels/labels_consensus.csv"):
        read_corpus("msp_podcast", tmp_path / "empty")


@pytest.mark.parametrize(
    ("protocol", "test_split"), [("msp_podcast", "Test1"), ("msp_podcast_test2", "Test2")]
)
def test_deoliveira2023_protocols_test_on_test1_or_test2(
    msp_root: Path, msp_rows: list, protocol: str, test_split: str
) -> None:
    """deoliveira2023 tests on test1 (seen podcasts) by default and on test2 (unseen podcasts) with
    ``--protocol msp_podcast_test2``, from the labels file's Split_Set alone (no hand-made split file)."""
    from emofuse.recipes import load_recipe
    from emofuse.train.folds import folds_for

    table, _ = read_corpus("msp_podcast", msp_root)
    recipe = load_recipe("deoliveira2023/audio_hubert", protocol=protocol)
    (fold,) = folds_for(None, table, recipe)
    stems = {
        split: {Path(r[0]).stem for r in msp_rows if r[7] == split} for split in {r[7] for r in msp_rows}
    }
    assert set(fold.test) == stems[test_split]
    assert set(fold.train) == stems["Train"] and set(fold.dev) == stems["Development"]
    other = stems["Test2" if test_split == "Test1" else "Test1"]
    assert set(fold.excluded) == other  # the other test partition is used by no part of the fold


def test_test_split_absent_is_a_clear_error(msp_root: Path, msp_rows: list, build_msp_tree) -> None:
    from emofuse.recipes import load_recipe
    from emofuse.train.folds import folds_for

    root = build_msp_tree(msp_root.parent / "no-test2", [r for r in msp_rows if r[7] != "Test2"])
    table, _ = read_corpus("msp_podcast", root)
    recipe = load_recipe("deoliveira2023/audio_hubert", protocol="msp_podcast_test2")
    with pytest.raises(CorpusError, match="test split 'test2' is not in the table"):
        folds_for(None, table, recipe)
