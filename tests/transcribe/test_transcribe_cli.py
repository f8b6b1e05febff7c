"""`emofuse transcribe` on folders, files and corpus tables."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from typer.testing import CliRunner

from emofuse.cli.main import app, main
from emofuse.corpus.table import make_table, write_table
from emofuse.hashing import audio_key
from emofuse.transcribe import TranscriptCache, read_transcripts
from emofuse.transcribe.cache import cache_key


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("EMOFUSE_CACHE_DIR", str(tmp_path / "cache"))


def _run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:  # noqa: ANN001
    monkeypatch.setattr(sys, "argv", ["emofuse", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out + captured.err


def test_folder_of_speech_prints_words_times_and_sil(planted, whisper, whisper_planted, tmp_path) -> None:  # noqa: ANN001
    folder = tmp_path / "recordings"
    (folder / "day1").mkdir(parents=True)
    shutil.copy(planted.path, folder / "day1" / "clip.wav")
    # the session already ran Whisper on this audio: seed the (content-keyed) cache the command will use, so the
    # test exercises the command without a second decoding; a copy under another name must hit the same entry
    key = cache_key(audio_key(folder / "day1" / "clip.wav"), whisper.backend_id, None)
    TranscriptCache(tmp_path / "cache").put(key, whisper_planted)
    out = tmp_path / "transcripts.csv"
    result = CliRunner().invoke(
        app, ["transcribe", str(folder), "--out", str(out), "--vad", "--no-progress"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "day1/clip" in result.output and "[SIL]" in result.output
    assert "work[" in result.output.replace("work,[", "work[")  # words printed with their times
    frame = read_transcripts(out)
    assert frame["utterance_id"].tolist() == ["day1/clip"]
    assert frame.loc[0, "text_with_sil"].count("[SIL]") == len(planted.pauses_s)
    assert 0 < frame.loc[0, "silence_ratio"] < 1 and 0 < frame.loc[0, "vad_silence_ratio"] < 1
    import pandas as pd

    words = json.loads(pd.read_csv(out).loc[0, "words"])  # the CSV keeps the words as a JSON string
    assert words == frame.loc[0, "words"] and {"text", "start_s", "end_s", "confidence"} <= set(words[0])


def test_corpus_table_with_align_and_no_vad(planted, tmp_path) -> None:  # noqa: ANN001
    table = make_table(
        [{"utterance_id": "clip", "audio_path": str(planted.path), "transcript": planted.text}]
    )
    write_table(table, tmp_path / "corpus.jsonl")
    out = tmp_path / "aligned.jsonl"
    args = [
        "transcribe",
        str(tmp_path / "corpus.jsonl"),
        "--align",
        "--out",
        str(out),
        "--no-progress",
    ]
    result = CliRunner().invoke(app, [*args, "--threshold-s", "0.5"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    row = read_transcripts(out).iloc[0]
    assert row["text_with_sil"] == " [SIL] ".join(planted.phrases)
    assert row["backend"].startswith("align/") and row["vad_silence_ratio"] != row["vad_silence_ratio"]  # NaN


def test_empty_folder_and_corrupt_file_are_clear_errors(tmp_path, monkeypatch, capsys) -> None:  # noqa: ANN001
    empty = tmp_path / "empty"
    empty.mkdir()
    code, text = _run_main(monkeypatch, capsys, "transcribe", str(empty), "--out", str(tmp_path / "t.jsonl"))
    assert code == 2 and "no audio files" in text and "empty" in text
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.wav").write_bytes(b"not audio at all" * 100)
    code, text = _run_main(monkeypatch, capsys, "transcribe", str(broken), "--out", str(tmp_path / "t.jsonl"))
    assert code == 2 and "bad.wav" in " ".join(text.split())
    code, text = _run_main(
        monkeypatch, capsys, "transcribe", str(broken), "--align", "--out", str(tmp_path / "t.jsonl")
    )
    assert code == 2 and "bad.txt" in " ".join(text.split())  # alignment needs the transcript beside the file


def test_settings_come_from_the_recipe_then_the_options_given() -> None:
    from emofuse.cli.transcribe import text_source_from_options
    from emofuse.errors import ConfigError
    from emofuse.recipes import load_recipe
    from emofuse.transcribe import TextSource

    none = dict(backend=None, model=None, align=False, beam_size=None, temperature=None, threshold_s=None)
    flags = dict(leading=None, trailing=None, vad=None, vad_filter=None)
    assert text_source_from_options(None, **none, **flags) == TextSource()  # one set of defaults
    recipe = "perez2022/bert_sil_ccc"
    from_recipe = text_source_from_options(recipe, **none, **flags)
    assert from_recipe == load_recipe(recipe).text_source
    tuned = text_source_from_options(recipe, **{**none, "threshold_s": 0.5}, **{**flags, "vad": True})
    assert tuned.silence.threshold_s == 0.5 and tuned.silence.vad and tuned.backend == from_recipe.backend
    with pytest.raises(ConfigError, match="align.* takes no model"):
        text_source_from_options(None, **{**none, "align": True, "model": "/models/x"}, **flags)
