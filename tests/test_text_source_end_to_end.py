"""The text source from transcription to `predict`: a model trained on [SIL] at 0.5 s predicts with [SIL] at 0.5 s.

`emofuse transcribe --threshold-s 0.5 --no-vad` -> `emofuse run` (refused while the recipe says 0.25 s, then
accepted with --accept-transcript-settings) -> `export_from_run` -> `Predictor` on real speech with planted pauses
of 0.3 s and 0.8 s. Before the text source was one typed object the package predicted with the recipe's 0.25 s
and faster-whisper's defaults, whatever the transcripts had been made with.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from emofuse.corpus.table import make_table, write_table
from emofuse.synth import espeak_available, speak

pytestmark = pytest.mark.slow

B3, B8 = '<break time="300ms"/>', '<break time="800ms"/>'
# espeak-ng speech; Whisper tiny.en (temperature 0) + silero-vad word times put the planted 0.3 s pause at a
# gap under 0.5 s and the 0.8 s pause at a gap over it
PLANTED = f"he said hello {B3} to everyone {B8} and sat down"
TRAIN = [
    ("happy", f"what a wonderful day {B8} I love it"),
    ("happy", "this is the best news I have heard"),
    ("happy", f"we won the game {B8} and everyone cheered"),
    ("sad", f"I lost my keys {B8} again today"),
    ("sad", "nobody came to the party last night"),
    ("sad", f"the old dog died {B8} this morning"),
]
RECIPE = {
    "name": "sil_text",
    "data": {"task": "classes", "labels": ["happy", "sad"]},
    "features": {
        "text": {"encoder": {"kind": "text", "sil_token": True, "layers": "last"}, "input": "asr_sil"}
    },
    "model": {"branches": {"text": {"type": "mean_max", "params": {"proj_dim": 8}}}, "fusion": "none"},
    "training": {"max_epochs": 1, "batch_size": 4, "seeds": 1, "early_stopping": None},
    "protocol": {"kind": "random-kfold", "k": 2, "dev_fraction": 0.0, "strict_leaks": False},
}


def _main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from emofuse.cli.main import main

    monkeypatch.setattr(sys, "argv", ["emofuse", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


def test_sil_threshold_travels_from_transcripts_to_predict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    from emofuse.serve.package import export_from_run, load_model
    from emofuse.serve.predictor import Predictor
    from emofuse.transcribe import read_transcripts, text_source_of
    from emofuse.transcribe.silence import text_with_silence

    records = [
        {
            "utterance_id": f"u{i}",
            "audio_path": str(speak(text, tmp_path / f"u{i}.wav", ssml=True)),
            "speaker": f"s{i}",
            "label": label,
        }
        for i, (label, text) in enumerate(TRAIN)
    ]
    write_table(make_table(records, corpus="sil"), tmp_path / "corpus.jsonl")
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(RECIPE))

    # 1. transcribe at 0.5 s with VAD off: the table records the full settings and the backend id
    transcripts = tmp_path / "transcripts.jsonl"
    code, out = _main(
        monkeypatch, capsys, "transcribe", str(tmp_path / "corpus.jsonl"), "--out", str(transcripts),
        "--threshold-s", "0.5", "--no-vad", "--show", "0", "--no-progress",
    )  # fmt: skip
    assert code == 0, out
    made_with = text_source_of(read_transcripts(transcripts))
    assert made_with.silence.threshold_s == 0.5 and made_with.silence.vad is False

    # 2. the recipe says 0.25 s: the run stops, naming both values
    run_args = [
        "run", str(tmp_path / "recipe.yaml"), "--corpus", str(tmp_path / "corpus.jsonl"),
        "--transcripts", str(transcripts), "--store", str(tmp_path / "store"), "--out", str(tmp_path / "runs"),
        "--no-progress", "--threads", "1",
    ]  # fmt: skip
    code, out = _main(monkeypatch, capsys, *run_args)
    assert code == 2 and "silence.threshold_s: 0.5 vs 0.25" in out and "--accept-transcript-settings" in out
    assert "Traceback" not in out and not (tmp_path / "runs" / "sil_text").exists()

    # 3. accepted: the run, and so the package, carry the transcripts' settings
    code, out = _main(monkeypatch, capsys, *run_args, "--accept-transcript-settings")
    assert code == 0, out
    package = export_from_run(tmp_path / "runs" / "sil_text" / "seed0" / "fold1", tmp_path / "model")
    assert load_model(package, build_encoders=False).config.text_source == made_with

    # 4. predict on real speech with planted pauses of 0.3 s and 0.8 s: [SIL] exactly where the 0.5 s rule says
    prediction = Predictor.from_pretrained(package).predict_file(
        speak(PLANTED, tmp_path / "planted.wav", ssml=True)
    )
    words = prediction.words
    from emofuse.transcribe.types import Word

    expected = text_with_silence([Word(**w) for w in words], prediction.duration_s, threshold_s=0.5)
    assert prediction.text_with_sil == expected
    gaps = {
        words[i]["text"].strip(",.").lower(): words[i + 1]["start_s"] - words[i]["end_s"]
        for i in range(len(words) - 1)
    }
    assert gaps["hello"] < 0.5 <= gaps["everyone"]  # the planted 0.3 s and 0.8 s pauses
    before_sil = prediction.text_with_sil.split(" [SIL] ")[0].split()[-1].strip(",.").lower()
    assert prediction.text_with_sil.count("[SIL]") == 1 and before_sil == "everyone"
