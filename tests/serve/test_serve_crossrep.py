"""A packaged makiuchi2021 cross-representation model predicts a new recording: its speaker input is the
recording's own Resemblyzer embedding, or that of a given reference recording of the speaker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emofuse.synth import espeak_available, speak
from emofuse.transcribe.source import TextSource
from emofuse.transcribe.types import Transcript

LABELS = ["angry", "happy", "neutral", "sad"]
SPECS = {"speech": "spectral.logmel80", "speaker": "speaker"}  # the mel-input variant: no wav2vec2 needed
DIMS = {"speech": 80, "speaker": 256}
MODEL = {
    "branches": {
        "speech": {
            "type": "crossrep",
            "inputs": {"speaker": "speaker", "phones": "phones", "mel": "mel"},
            "params": {
                "dim_neck": 4,
                "freq": 48,
                "conv_dim": 16,
                "phone_conv_dim": 8,
                "dim_phone_emb": 4,
                "dim_pre": 16,
                "decoder_lstm_dim": 16,
                "postnet_dim": 8,
                "classifier_hidden": 8,
            },  # fmt: skip
        }
    },
    "fusion": "none",
}


class _NoASR:
    backend_id = "none"

    def transcribe(self, wave: np.ndarray, sample_rate_hz: int, text: str | None = None) -> Transcript:
        return Transcript(text="", words=[], duration_s=len(wave) / sample_rate_hz, backend="none")


@pytest.fixture(scope="module")
def crossrep_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from emofuse.encoders import build_encoder
    from emofuse.serve.package import export_from_run
    from emofuse.train.model import ModelConfig, build_model
    from emofuse.train.rundir import BranchRecord, RunConfig, RunDir

    pytest.importorskip("resemblyzer")
    torch.manual_seed(0)
    config = ModelConfig.model_validate(MODEL)
    network = build_model(config, DIMS, len(LABELS))
    run_config = RunConfig(
        model=config,
        input_dims=DIMS,
        task="classes",
        labels=LABELS,
        branches={
            name: BranchRecord(
                encoder=spec,
                encoder_id=build_encoder(spec).encoder_id,
                input="audio",
                per_speaker="mean" if name == "speaker" else "none",
            )
            for name, spec in SPECS.items()
        },
        text_source=TextSource(),
        recipe={"name": "speech"},
        system="speech",
        seed=0,
        fold="fold1",
    )
    run = tmp_path_factory.mktemp("crossrep_run") / "speech" / "seed0" / "fold1"
    RunDir(run).write(run_config, network.state_dict(), config_hash="crossrep-test")
    return export_from_run(run, tmp_path_factory.mktemp("crossrep_package") / "model")


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    root = tmp_path_factory.mktemp("voices")
    text = "I really did not expect the meeting to go on for so long today"  # > 96 frames: several segments
    return speak(text, root / "a.wav", pitch=30), speak(text, root / "b.wav", voice="en-us+f3", pitch=80)


def test_package_records_the_speaker_input_and_not_the_training_only_ones(crossrep_package: Path) -> None:
    from emofuse.serve.package import load_model

    packaged = load_model(crossrep_package)
    assert set(packaged.config.branches) == {"speech", "speaker"}
    assert packaged.config.branches["speaker"].per_speaker == "mean"
    assert not packaged.config.needs_text


def test_predicts_with_its_own_or_a_reference_speaker_embedding(
    crossrep_package: Path, voices: tuple[Path, Path]
) -> None:
    from emofuse.serve.package import load_model
    from emofuse.serve.predictor import Predictor

    first, other = voices
    own = Predictor(load_model(crossrep_package), transcriber=_NoASR())
    p_own = own.predict_file(first).probabilities
    assert p_own is not None and set(p_own) == set(LABELS)
    assert sum(p_own.values()) == pytest.approx(1.0, abs=1e-6)
    same = Predictor(load_model(crossrep_package), transcriber=_NoASR(), speaker_reference=first)
    assert same.predict_file(first).probabilities == pytest.approx(
        p_own, abs=1e-6
    )  # own = itself as reference
    ref = Predictor(load_model(crossrep_package), transcriber=_NoASR(), speaker_reference=other)
    p_ref = ref.predict_file(first).probabilities
    assert p_ref is not None and p_ref != pytest.approx(p_own, abs=1e-6)  # the reference voice is used
