"""Hugging Face datasets (save_to_disk) and audformat databases of real espeak-ng speech -> the utterance table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from emofuse.audio import load_audio
from emofuse.cli.corpus import app
from emofuse.corpus import read_corpus, read_table
from emofuse.errors import ConfigError, CorpusError
from emofuse.synth import espeak_available, speak

datasets = pytest.importorskip("datasets")
audformat = pytest.importorskip("audformat")

runner = CliRunner(env={"COLUMNS": "220"})

# (text, voice, label, speaker)
UTTERANCES = [
    ("I am so happy to see you", "en-us", "happy", "s1"),
    ("this is the worst day ever", "en-us+f3", "angry", "s2"),
    ("I miss my old friends", "en-gb", "sad", "s3"),
    ("the table is made of wood", "en-us+m3", "neutral", "s1"),
]


@pytest.fixture(scope="module")
def speech_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    folder = tmp_path_factory.mktemp("speech")
    return [
        speak(text, folder / f"utt{i}.wav", voice=voice) for i, (text, voice, _, _) in enumerate(UTTERANCES)
    ]


@pytest.fixture(scope="module")
def hf_dir(speech_files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DatasetDict (train: 3, test: 1) with an Audio column holding the bytes, a ClassLabel and text."""
    names = ["neutral", "happy", "sad", "angry"]
    features = datasets.Features(
        {
            # the Audio feature's storage; datasets' own encoder would need torchcodec
            "audio": {"bytes": datasets.Value("binary"), "path": datasets.Value("string")},
            "emotion": datasets.ClassLabel(names=names),
            "sentence": datasets.Value("string"),
            "speaker_id": datasets.Value("string"),
        }
    )

    def part(indices: list[int]) -> datasets.Dataset:
        return datasets.Dataset.from_dict(
            {
                "audio": [{"bytes": speech_files[i].read_bytes(), "path": f"clip{i}.wav"} for i in indices],
                "emotion": [names.index(UTTERANCES[i][2]) for i in indices],
                "sentence": [UTTERANCES[i][0] for i in indices],
                "speaker_id": [UTTERANCES[i][3] for i in indices],
            },
            features=features,
        ).cast_column("audio", datasets.Audio(sampling_rate=16_000))  # as a user's dataset declares it

    out = tmp_path_factory.mktemp("hf") / "ds"
    datasets.DatasetDict({"train": part([0, 1, 2]), "test": part([3])}).save_to_disk(str(out))
    return out


def test_hf_dataset_reads_labels_text_speakers_and_writes_real_audio(
    hf_dir: Path, speech_files: list[Path], tmp_path: Path
) -> None:
    table, report = read_corpus(
        "hf",
        hf_dir,
        mapping="label=emotion,text=sentence,speaker=speaker_id",
        audio_dir=tmp_path / "audio",
    )
    assert len(table) == 4 and report.n_dropped == 0
    by_text = table.set_index("transcript")
    for i, (text, _, label, speaker) in enumerate(UTTERANCES):
        row = by_text.loc[text]
        assert row["label"] == label and row["speaker"] == speaker
        assert row["split"] == ("test" if i == 3 else "train")
        audio = Path(row["audio_path"])
        assert audio.parent == (tmp_path / "audio").resolve()
        np.testing.assert_array_equal(load_audio(audio), load_audio(speech_files[i]))
    # a re-run reuses the written files (same bytes, same table)
    again, _ = read_corpus(
        "hf", hf_dir, mapping="label=emotion,text=sentence,speaker=speaker_id", audio_dir=tmp_path / "audio"
    )
    assert again.equals(table)


def test_hf_one_split_classes_and_cli_export(hf_dir: Path, tmp_path: Path) -> None:
    table, report = read_corpus(
        "hf",
        hf_dir,
        mapping="label=emotion",
        split="train",
        classes=["happy", "sad"],
        audio_dir=tmp_path / "a",
    )
    assert sorted(table["label"]) == ["happy", "sad"] and set(table["split"]) == {"train"}
    assert report.dropped == {"label 'angry' not in classes": ["train-000001"]}

    out = tmp_path / "hf.jsonl"
    result = runner.invoke(
        app,
        ["export", "hf", str(hf_dir), "--out", str(out), "--map", "label=emotion,speaker=speaker_id",
         "--audio-dir", str(tmp_path / "b"), "--label-map", "angry=frustrated"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = read_table(out)
    assert len(written) == 4 and "frustrated" in set(written["label"])
    assert all(Path(p).is_file() for p in written["audio_path"])


def test_hf_bad_input_is_one_clear_line(
    hf_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="no column 'mood'"):
        read_corpus("hf", hf_dir, mapping="label=mood", audio_dir=tmp_path)
    with pytest.raises(ConfigError, match="no split 'validation'"):
        read_corpus("hf", hf_dir, split="validation", audio_dir=tmp_path)
    with pytest.raises(CorpusError, match="not a dataset saved with save_to_disk"):
        read_corpus("hf", tmp_path, audio_dir=tmp_path)
    result = runner.invoke(app, ["export", "hf", str(tmp_path / "nope"), "--out", str(tmp_path / "t.jsonl")])
    assert result.exit_code == 2 and "dataset folder not found" in result.output
    monkeypatch.setenv("EMOFUSE_OFFLINE", "1")  # a Hub id is never fetched in tests
    result = runner.invoke(
        app, ["export", "hf", "nobody/no-such-dataset", "--out", str(tmp_path / "t.jsonl")]
    )
    assert result.exit_code == 2 and "cannot be fetched offline" in result.output
    result = runner.invoke(app, ["export", "iemocap", str(tmp_path), "--out", "t.jsonl", "--audio-dir", "x"])
    assert result.exit_code == 2 and "--audio-dir does not apply" in result.output


def _audformat_db(root: Path, files: list[Path]) -> Path:
    """Two splits; a filewise emotion table and a speaker scheme whose misc table gives gender."""
    db = audformat.Database("tiny", source="espeak-ng", usage="research")
    db.schemes["emotion"] = audformat.Scheme(labels=["angry", "happy", "neutral", "sad"])
    db["speakers"] = audformat.MiscTable(pd.Index(["s1", "s2", "s3"], name="speaker"))
    db.schemes["gender"] = audformat.Scheme(labels=["female", "male"])
    db["speakers"]["gender"] = audformat.Column(scheme_id="gender")
    db["speakers"]["gender"].set(["male", "female", "male"])
    db.schemes["speaker"] = audformat.Scheme("str", labels="speakers")
    db.schemes["transcription"] = audformat.Scheme("str")
    db.splits["train"] = audformat.Split("train")
    db.splits["test"] = audformat.Split("test")
    (root / "wav").mkdir(parents=True)
    names = []
    for f in files:
        target = root / "wav" / f.name
        target.write_bytes(f.read_bytes())
        names.append(f"wav/{f.name}")
    for split, idx in (("train", [0, 1, 2]), ("test", [3])):
        db[f"emotion.{split}"] = audformat.Table(
            audformat.filewise_index([names[i] for i in idx]), split_id=split
        )
        table = db[f"emotion.{split}"]
        for column, scheme in (("emotion", "emotion"), ("speaker", "speaker"), ("text", "transcription")):
            table[column] = audformat.Column(scheme_id=scheme)
        table["emotion"].set([UTTERANCES[i][2] for i in idx])
        table["speaker"].set([UTTERANCES[i][3] for i in idx])
        table["text"].set([UTTERANCES[i][0] for i in idx])
    db.save(str(root))
    return root


def test_audformat_database_to_table(speech_files: list[Path], tmp_path: Path) -> None:
    root = _audformat_db(tmp_path / "db", speech_files)
    table, report = read_corpus("audformat", root)
    assert len(table) == 4 and report.n_dropped == 0
    table = table.set_index("utterance_id")
    for i, (text, _, label, speaker) in enumerate(UTTERANCES):
        row = table.loc[f"wav/utt{i}"]
        assert row["label"] == label and row["speaker"] == speaker and row["transcript"] == text
        assert row["gender"] == ("F" if speaker == "s2" else "M")
        assert row["split"] == ("test" if i == 3 else "train")
        assert Path(row["audio_path"]) == (root / "wav" / f"utt{i}.wav").resolve()
        assert np.isnan(row["start_s"]) and np.isnan(row["end_s"])

    out = tmp_path / "af.csv"
    result = runner.invoke(
        app, ["export", "audformat", str(root), "--out", str(out), "--classes", "happy,sad,neutral"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(read_table(out)["label"]) == ["happy", "neutral", "sad"]
    assert "label 'angry' not in classes" in result.output

    (root / "wav" / "utt2.wav").unlink()
    table, report = read_corpus("audformat", root, skip_missing=True)
    assert report.dropped == {"audio file missing": ["wav/utt2"]} and len(table) == 3
    with pytest.raises(ConfigError, match="no scheme or column 'mood'"):
        read_corpus("audformat", root, mapping="label=mood")
    result = runner.invoke(app, ["export", "audformat", str(tmp_path), "--out", str(out)])
    assert result.exit_code == 2 and "no db.yaml" in result.output


def test_audformat_segmented_table_gives_times(speech_files: list[Path], tmp_path: Path) -> None:
    root = tmp_path / "seg"
    (root / "wav").mkdir(parents=True)
    (root / "wav" / "long.wav").write_bytes(speech_files[0].read_bytes())
    db = audformat.Database("seg")
    db.schemes["emotion"] = audformat.Scheme("str")
    index = audformat.segmented_index(["wav/long.wav"] * 2, starts=[0.0, 0.5], ends=[0.5, 1.0])
    db["segments"] = audformat.Table(index)
    db["segments"]["emotion"] = audformat.Column(scheme_id="emotion")
    db["segments"]["emotion"].set(["Happy", "Sad"])
    db.save(str(root))
    table, _ = read_corpus("audformat", root)
    assert list(table["start_s"]) == [0.0, 0.5] and list(table["end_s"]) == [0.5, 1.0]
    assert list(table["label"]) == ["happy", "sad"] and table["utterance_id"].is_unique
