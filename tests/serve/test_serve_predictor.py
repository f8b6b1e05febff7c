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
