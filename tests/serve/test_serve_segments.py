"""Emotions over time: speech segments cut at pauses (streamed in blocks), one prediction each, CSV/JSON, plot."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emofuse.audio import load_audio, write_wav
from emofuse.errors import ConfigError
from emofuse.serve.segments import SegmentOptions, iter_speech_segments, predict_segments, write_segments
from emofuse.synth import espeak_available, speak

PHRASES = ("it was a long day at work", "my brother called me yesterday", "he sounded happy")
PAUSE_S = 1.5


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[float, float]]]:
    """Nine phrases with 1.5 s of silence after each (about 30 s), and each phrase's speech span from energy."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    root = tmp_path_factory.mktemp("segments")
    clips = [load_audio(speak(p, root / f"p{i}.wav")) for i, p in enumerate(PHRASES)]
    pieces, spans, position = [], [], 0
    for k in range(9):
        clip = clips[k % 3]
        loud = np.flatnonzero(np.abs(clip) > 0.01)
        spans.append(((position + loud[0]) / 16_000, (position + loud[-1]) / 16_000))
        pieces += [clip, np.zeros(int(PAUSE_S * 16_000), np.float32)]
        position += clip.size + int(PAUSE_S * 16_000)
    path = root / "nine.wav"
    write_wav(path, np.concatenate(pieces), 16_000)
    return path, spans


@pytest.mark.parametrize("block_s", [5.0, 64.0])
def test_one_segment_per_phrase_whatever_the_block_size(planted, block_s: float) -> None:  # noqa: ANN001
    path, spans = planted
    segments = list(iter_speech_segments(path, SegmentOptions(block_s=block_s, max_segment_s=7.0)))
    assert len(segments) == len(spans)
    for (start_s, end_s, wave), (speech_start, speech_end) in zip(segments, spans, strict=True):
        assert start_s <= speech_start + 0.1 and end_s >= speech_end - 0.1  # the phrase is inside
        assert end_s - start_s < (speech_end - speech_start) + PAUSE_S  # and no neighbour
        assert wave.size == pytest.approx((end_s - start_s) * 16_000, abs=2)


def test_long_speech_is_cut_below_the_maximum(planted) -> None:  # noqa: ANN001
    path, spans = planted
    options = SegmentOptions(max_segment_s=1.0, min_segment_s=0.2, pad_s=0.0, block_s=4.0)
    segments = list(iter_speech_segments(path, options))
    assert len(segments) > len(spans)
    assert all(end - start <= 1.0 + 1e-6 for start, end, _ in segments)
    starts = [s for s, _, _ in segments]
    assert starts == sorted(starts)
    with pytest.raises(ConfigError, match="min_segment_s"):
        SegmentOptions(min_segment_s=5.0, max_segment_s=2.0)


class _Result:
    def __init__(self, text: str, duration_s: float) -> None:
        self.text = self.text_with_sil = text
        self.top_class = "happy" if duration_s > 1.9 else "sad"
        self.probabilities = (
            {"happy": 0.7, "sad": 0.3} if self.top_class == "happy" else {"happy": 0.2, "sad": 0.8}
        )
        self.avd = None


class _FakeASR:
    calls: list[int] = []

    def transcribe_many(self, waves: list[np.ndarray], sample_rate_hz: int) -> list[str]:
        self.calls.append(len(waves))
        return [f"{w.size / sample_rate_hz:.2f} s" for w in waves]


class _FakePredictor:
    """Stands in for Predictor: ASR results are passed in (batched), the label depends on the segment length."""

    def __init__(self) -> None:
        self.asr = _FakeASR()

    def transcriber(self) -> _FakeASR:
        return self.asr

    def predict_wave(self, wave: np.ndarray, sample_rate_hz: int, *, asr: str, source: str) -> _Result:
        assert asr == f"{wave.size / sample_rate_hz:.2f} s" and source.startswith("segment at")
        return _Result(asr, wave.size / sample_rate_hz)


def test_predictions_per_segment_batched_and_written(planted, tmp_path: Path) -> None:  # noqa: ANN001
    from emofuse.evaluate.plots import plot_timeline

    path, spans = planted
    fake = _FakePredictor()
    results = list(predict_segments(fake, path, SegmentOptions(max_segment_s=7.0), batch_size=4))
    assert fake.asr.calls == [4, 4, 1]  # segments transcribed together, in batches
    assert [r.index for r in results] == list(range(9))
    assert all(r.start_s < r.end_s for r in results)
    write_segments(results, tmp_path / "s.csv")
    write_segments(results, tmp_path / "s.json")
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    assert list(rows[0]) == [
        "index",
        "start_s",
        "end_s",
        "text",
        "text_with_sil",
        "top_class",
        "p_happy",
        "p_sad",
    ]
    assert [float(r["start_s"]) for r in rows] == [r.start_s for r in results]
    assert json.loads((tmp_path / "s.json").read_text())[2]["probabilities"] == results[2].probabilities
    with pytest.raises(ConfigError, match=r"\.csv or \.json"):
        write_segments(results, tmp_path / "s.txt")
    plot_timeline([r.to_dict() for r in results], tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 1000


@pytest.mark.slow
def test_cli_segments_with_the_packaged_model(
    package_dir: Path, planted, tmp_path: Path, monkeypatch, capsys
) -> None:  # noqa: ANN001
    from emofuse.cli.main import app

    path, spans = planted
    out, plot = tmp_path / "seg.csv", tmp_path / "seg.png"
    args = ["predict", str(path), "--model", str(package_dir), "--segments", "--max-segment-s", "7"]
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == len(spans) and plot.stat().st_size > 1000
    assert {"p_angry", "p_happy", "p_neutral", "p_sad"} <= set(rows[0])
    for row in rows:
        assert sum(float(row[f"p_{c}"]) for c in ("angry", "happy", "neutral", "sad")) == pytest.approx(
            1, abs=1e-4
        )
    assert "yesterday" in " ".join(r["text"].lower() for r in rows)
    # bad input: one line naming the option, exit code 2, before the model loads
    from emofuse.cli.main import main

    monkeypatch.setattr(sys, "argv", ["emofuse", *args, "--out", str(tmp_path / "seg.txt")])
    with pytest.raises(SystemExit) as stop:
        main()
    captured = capsys.readouterr()
    assert stop.value.code == 2 and ".csv or .json" in captured.out + captured.err


def test_api_segments_endpoint(planted) -> None:  # noqa: ANN001
    from fastapi.testclient import TestClient

    from emofuse.serve.app import create_app

    class _Described(_FakePredictor):
        def describe(self) -> dict[str, str]:
            return {"task": "classes"}

    path, spans = planted
    client = TestClient(create_app(_Described(), max_duration_s=60))
    response = client.post("/predict/segments", files={"audio": ("nine.wav", path.read_bytes())})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["duration_s"] == pytest.approx(load_audio(path).size / 16_000, abs=0.01)
    assert len(body["segments"]) == len(spans)
    assert [s["index"] for s in body["segments"]] == list(range(len(spans)))
    assert all(s["top_class"] in ("happy", "sad") for s in body["segments"])
    refused = client.post(
        "/predict/segments", files={"audio": ("nine.wav", path.read_bytes())}, data={"transcript": "hello"}
    )
    assert refused.status_code == 422 and "transcript" in refused.json()["detail"]


class _ProbsASR(_FakeASR):
    """An ASR that takes the VAD frames of each segment (as faster-whisper's ``transcribe_many`` does)."""

    def __init__(self) -> None:
        self.calls, self.probs = [], []

    def transcribe_many(  # type: ignore[override]
        self, waves: list[np.ndarray], sample_rate_hz: int, *, speech_probs: list[np.ndarray]
    ) -> list[str]:
        self.probs += [(w.size, p) for w, p in zip(waves, speech_probs, strict=True)]
        return super().transcribe_many(waves, sample_rate_hz)


def test_segments_hand_asr_the_vad_frames_that_cut_them(planted) -> None:  # noqa: ANN001
    """Word times are refined with the frames of the pass that found the segments: no second VAD pass."""
    path, _ = planted
    fake = _FakePredictor()
    fake.asr = _ProbsASR()
    results = list(predict_segments(fake, path, SegmentOptions(max_segment_s=7.0, block_s=5.0), batch_size=4))
    assert len(fake.asr.probs) == len(results) == 9
    for samples, probs in fake.asr.probs:
        assert probs.size == -(-samples // 512)
        assert np.mean(probs >= 0.5) > 0.5  # a speech segment: mostly speech frames, padded by a little pause
