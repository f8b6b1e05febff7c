"""The Predictor: text source options, given transcripts, A/V/D models, any input rate and channel count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emofuse.audio import resample
from emofuse.errors import AudioError, ModelLoadError
from emofuse.serve.package import PackagedModel, export_from_run, load_model
from emofuse.serve.predictor import Predictor
from emofuse.transcribe.source import SilenceConfig, TextSource

AVD_NAMES = ["arousal", "valence", "dominance"]
TEXT = "the weather is lovely today and I feel great"


def _variant(predictor: Predictor, **config_update: object) -> Predictor:
    """A predictor on the same network and already-built encoders, with a changed package configuration."""
    base = predictor.packaged
    config = base.config.model_copy(update=config_update)
    packaged = PackagedModel(
        base.directory, config, base.network, base.standardizers, _encoders=base.encoders()
    )
    return Predictor(packaged, transcriber=predictor.transcriber())


def test_silence_threshold_comes_from_the_text_source(predictor: Predictor, speech_with_pause: Path) -> None:
    short = predictor.predict_file(speech_with_pause, transcript=TEXT)
    assert short.text_with_sil.count("[SIL]") == 1
    strict = _variant(predictor, text_source=TextSource(silence=SilenceConfig(threshold_s=2.0)))
    assert strict.text_source.silence == SilenceConfig(threshold_s=2.0, vad=False)
    long = strict.predict_file(speech_with_pause, transcript=TEXT)
    assert "[SIL]" not in long.text_with_sil
    assert long.text == short.text == TEXT


def test_asr_options_and_override(predictor: Predictor) -> None:
    variant = _variant(predictor, text_source=TextSource(beam_size=1, silence=SilenceConfig(threshold_s=0.4)))
    assert variant.asr_backend == "faster-whisper"
    assert variant.text_source.transcriber_options() == {"model": None, "beam_size": 1, "temperature": 0.0}
    other = Predictor(variant.packaged, asr_backend="transformers", asr_model="/models/whisper-small")
    assert other.asr_backend == "transformers"
    assert other.text_source.transcriber_options() == {"model": "/models/whisper-small", "num_beams": 1}
    assert other.text_source.silence.threshold_s == 0.4  # [SIL] stays what the model was trained with
    with pytest.raises(ModelLoadError, match="transformers.*needs model"):
        Predictor(variant.packaged, asr_backend="transformers")


def test_unalignable_transcript_is_still_used(predictor: Predictor, speech_with_pause: Path) -> None:
    text = "zorblax quintuplicated the weather"
    result = predictor.predict_file(speech_with_pause, transcript=text)
    assert result.transcript_source == "given-unaligned"
    assert result.text == result.text_with_sil == text
    assert sum(result.probabilities.values()) == pytest.approx(1.0)


def test_rate_and_channels_do_not_matter(predictor: Predictor, speech_with_pause: Path) -> None:
    wave, rate = sf.read(str(speech_with_pause), dtype="float32")
    mono = predictor.predict_wave(wave, rate, transcript=TEXT)
    stereo_48k = np.stack([resample(wave, rate, 48_000)] * 2, axis=1)
    other = predictor.predict_wave(stereo_48k, 48_000, transcript=TEXT)
    assert other.duration_s == pytest.approx(mono.duration_s, abs=1e-3)
    assert other.text_with_sil == mono.text_with_sil
    for label, p in mono.probabilities.items():
        assert other.probabilities[label] == pytest.approx(p, abs=0.05)
    with pytest.raises(AudioError, match="no samples"):
        predictor.predict_wave(np.zeros(0, dtype=np.float32), 16_000)
    with pytest.raises(AudioError, match="NaN"):
        predictor.predict_wave(np.full(1600, np.nan, dtype=np.float32), 16_000)


def test_avd_model_answers_arousal_valence_dominance(
    predictor: Predictor, speech_with_pause: Path, tmp_path: Path, run_dir_writer
) -> None:  # noqa: ANN001
    package = export_from_run(run_dir_writer(tmp_path / "run", task="avd"), tmp_path / "avd")
    packaged = load_model(package, build_encoders=False)
    assert packaged.task == "avd" and packaged.avd_names == AVD_NAMES
    assert packaged.config.source == {"system": "serve-test", "seed": 0, "fold": "fold0"}
    packaged._encoders = predictor.packaged.encoders()  # same specs: reuse the built encoders
    result = Predictor(packaged, transcriber=predictor.transcriber()).predict_file(
        speech_with_pause, transcript=TEXT
    )
    assert result.probabilities is None and result.top_class is None
    assert list(result.avd) == AVD_NAMES
    assert all(np.isfinite(v) for v in result.avd.values())
    assert result.to_dict()["avd"] == result.avd


def _audio_only_package(tmp_path: Path) -> Path:
    """A package whose one branch reads MFCC frames of the audio (untrained weights, written as the runner does)."""
    import torch

    from emofuse.encoders import Standardizer, build_encoder
    from emofuse.train.model import ModelConfig, build_model
    from emofuse.train.rundir import BranchRecord, RunConfig, RunDir

    torch.manual_seed(0)
    model_config = ModelConfig.model_validate(
        {"branches": {"audio": {"type": "mean_max", "params": {"proj_dim": 8}}}, "fusion": "none"}
    )
    labels = ["angry", "happy", "neutral", "sad"]
    network = build_model(model_config, {"audio": 40}, len(labels), task="classes")
    rng = np.random.default_rng(0)
    config = RunConfig(
        model=model_config,
        input_dims={"audio": 40},
        task="classes",
        labels=labels,
        branches={
            "audio": BranchRecord(
                encoder="spectral.mfcc40",
                encoder_id=build_encoder("spectral.mfcc40").encoder_id,
                input="audio",
                standardizer=Standardizer().fit([rng.normal(size=(6, 40)) for _ in range(3)]).to_dict(),
            )
        },
        text_source=TextSource(),
        recipe={"name": "audio-only"},
        system="audio-only",
        seed=0,
        fold="fold1",
    )
    run = tmp_path / "run" / "audio-only" / "seed0" / "fold1"
    RunDir(run).write(config, network.state_dict(), config_hash="audio-only")
    return export_from_run(run, tmp_path / "package")


def test_an_audio_only_package_runs_no_asr(speech_with_pause: Path, tmp_path: Path) -> None:
    predictor = Predictor.from_pretrained(_audio_only_package(tmp_path), background=True)
    assert not predictor.needs_asr
    result = predictor.predict_file(speech_with_pause)
    assert predictor._transcriber is None  # no ASR backend was even built
    assert result.transcript_source == "none" and result.text == "" and result.words == []
    assert "asr" in result.timings_s and sum(result.probabilities.values()) == pytest.approx(1.0)
    given = predictor.predict_file(speech_with_pause, transcript=TEXT)
    assert given.transcript_source == "given-unaligned" and given.text == TEXT
    assert given.probabilities == pytest.approx(result.probabilities)  # the words are not the model's input


def test_encoders_built_in_the_background_give_the_same_prediction(
    predictor: Predictor, package_dir: Path, speech_with_pause: Path
) -> None:
    """``background=True`` (what ``emofuse predict`` uses) builds the same encoders while ASR runs."""
    background = Predictor.from_pretrained(package_dir, background=True)
    got = background.predict_file(speech_with_pause, transcript=TEXT)
    want = predictor.predict_file(speech_with_pause, transcript=TEXT)
    assert got.text_with_sil == want.text_with_sil
    assert got.probabilities == pytest.approx(want.probabilities, abs=1e-6)
    assert set(background.encoders) == {"audio", "text"}


def test_a_background_build_error_surfaces_at_the_first_prediction(
    predictor: Predictor, speech_with_pause: Path
) -> None:
    packaged = predictor.packaged
    broken = PackagedModel(packaged.directory, packaged.config, packaged.network, packaged.standardizers)

    def fail() -> dict[str, object]:
        raise ModelLoadError("branch 'text': cannot build its encoder")

    broken.encoders = fail  # type: ignore[method-assign]
    background = Predictor(broken, transcriber=predictor.transcriber(), background=True)
    background._encoders.start()
    for _ in range(2):  # every call says so, not only the first
        with pytest.raises(ModelLoadError, match="cannot build its encoder"):
            background.predict_file(speech_with_pause, transcript=TEXT)
