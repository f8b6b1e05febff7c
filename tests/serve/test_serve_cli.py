"""``emofuse predict`` on files and folders (table and JSON lines), and its errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emofuse.cli.main import app
from emofuse.errors import AudioError, ConfigError, ModelLoadError

LABELS = ["angry", "happy", "neutral", "sad"]


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch, predictor, package_dir: Path) -> list:  # noqa: ANN001
    """Reuse the session's real predictor instead of loading Whisper and MiniLM again per command."""
    from emofuse.serve.predictor import Predictor

    calls: list = []

    def from_pretrained(directory, asr_backend=None, asr_model=None, **_options):  # noqa: ANN001, ANN003, ANN202
        assert Path(directory) == package_dir
        calls.append(asr_backend)
        return predictor

    monkeypatch.setattr(Predictor, "from_pretrained", staticmethod(from_pretrained))
    return calls


def test_predict_one_file_prints_transcript_and_classes(
    loaded, package_dir: Path, speech_with_pause: Path
) -> None:  # noqa: ANN001
    text = "the weather is lovely today and I feel great"
    result = CliRunner().invoke(
        app,
        ["predict", str(speech_with_pause), "--model", str(package_dir), "--transcript", text],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "the weather is lovely today [SIL] and I feel great" in result.output
    assert "top class:" in result.output
    for label in LABELS:
        assert label in result.output


def test_predict_folder_as_json_lines(
    loaded, package_dir: Path, speech_with_pause: Path, silent_wav: Path, tmp_path: Path
) -> None:  # noqa: ANN001
    folder = tmp_path / "recordings"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(speech_with_pause, folder / "a.wav")
    shutil.copy(silent_wav, folder / "sub" / "b.wav")
    (folder / "notes.txt").write_text("not audio")
    result = CliRunner().invoke(app, ["predict", str(folder), "--model", str(package_dir), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [Path(r["file"]).name for r in lines] == ["a.wav", "b.wav"]
    assert "lovely" in lines[0]["text"].lower()
    assert lines[1]["text"] == "" and lines[1]["words"] == []
    for record in lines:
        assert list(record["probabilities"]) == LABELS
        assert record["top_class"] in LABELS


def test_predict_folder_table_reports_a_bad_file_and_exits_1(
    loaded, package_dir: Path, speech_with_pause: Path, tmp_path: Path
) -> None:  # noqa: ANN001
    folder = tmp_path / "recordings"
    folder.mkdir()
    shutil.copy(speech_with_pause, folder / "a.wav")
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    result = CliRunner().invoke(
        app, ["predict", str(folder), "--model", str(package_dir)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 1
    assert "2 recording(s)" in result.output
    assert "broken.wav" in result.output and "error" in result.output


def test_predict_errors(package_dir: Path, speech_with_pause: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["predict", str(tmp_path / "missing.wav"), "--model", str(package_dir)])
    assert isinstance(result.exception, AudioError)
    result = runner.invoke(app, ["predict", str(speech_with_pause), "--model", str(tmp_path / "no-model")])
    assert isinstance(result.exception, ModelLoadError)
    assert "model directory not found" in str(result.exception)
    result = runner.invoke(
        app,
        ["predict", str(speech_with_pause), str(speech_with_pause), "--model", str(package_dir), "-t", "hi"],
    )
    assert isinstance(result.exception, ConfigError)
