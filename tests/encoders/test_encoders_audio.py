"""Audio encoders on real espeak-ng speech: openSMILE, spectral, Whisper encoder, Resemblyzer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emofuse.encoders import build_encoder, encoder_id_of
from emofuse.errors import AudioError, ModelLoadError


@pytest.fixture(scope="module")
def whisper_encoder():
    return build_encoder("whisper")


def test_opensmile_pepino_lld_frames(speech):
    pytest.importorskip("opensmile")
    from emofuse.encoders.opensmile_enc import PEPINO_LLD_COLUMNS

    enc = build_encoder("opensmile.pepino_lld")
    x = enc.encode(speech)
    n_frames = len(speech) / 16_000 / 0.01
    assert x.shape[1] == 36 == enc.dim and enc.output == "frames"
    assert abs(x.shape[0] - n_frames) <= 6  # one row per 10 ms
    assert enc.feature_names == list(PEPINO_LLD_COLUMNS)
    assert PEPINO_LLD_COLUMNS[0] == "F0final_sma" and PEPINO_LLD_COLUMNS[18] == "F0final_sma_de"
    f0 = x[:, 0]
    voiced = f0[f0 > 0]
    assert len(voiced) > 0.2 * len(f0)  # espeak speech is voiced much of the time
    assert 60 < np.median(voiced) < 300  # a plausible speaking pitch in Hz
    assert np.all(np.isfinite(x))
    np.testing.assert_array_equal(x, enc.encode(speech))


def test_opensmile_pepino_lld_one_pass_equals_compare_lld_and_delta_levels(speech):
    """The one-pass config gives exactly what ComParE_2016's two levels (LLDs, deltas) give in two runs."""
    opensmile = pytest.importorskip("opensmile")
    from emofuse.encoders.opensmile_enc import PEPINO_DELTAS, PEPINO_LLDS

    fs, lvl = opensmile.FeatureSet, opensmile.FeatureLevel
    lld = opensmile.Smile(feature_set=fs.ComParE_2016, feature_level=lvl.LowLevelDescriptors)
    de = opensmile.Smile(feature_set=fs.ComParE_2016, feature_level=lvl.LowLevelDescriptors_Deltas)
    a = lld.process_signal(speech, 16_000)[list(PEPINO_LLDS)].to_numpy()
    b = de.process_signal(speech, 16_000)[list(PEPINO_DELTAS)].to_numpy()
    n = min(len(a), len(b))  # the delta level has a frame or two more at the end
    expected = np.nan_to_num(np.concatenate([a[:n], b[:n]], axis=1).astype(np.float32))
    np.testing.assert_array_equal(build_encoder("opensmile.pepino_lld").encode(speech), expected)


def test_opensmile_pepino_lld_32ms_frames(speech):
    """pepino2020's own setting: 18 LLDs over 32 ms windows at a 10 ms hop, no deltas (added after z-scoring)."""
    pytest.importorskip("opensmile")
    from emofuse.encoders.opensmile_enc import PEPINO_32MS_LLDS

    enc = build_encoder("opensmile.pepino_lld_32ms")
    x = enc.encode(speech)
    assert x.shape[1] == 18 == enc.dim and enc.output == "frames"
    assert enc.feature_names == list(PEPINO_32MS_LLDS)
    # full 512-sample (32 ms) windows every 160 samples: 60 ms windows would give fewer frames, 20-25 ms more
    assert x.shape[0] == (len(speech) - 512) // 160 + 1
    one_s = enc.encode(
        np.zeros(16_000, dtype=np.float32) + 1e-3 * np.sin(np.arange(16_000, dtype=np.float32))
    )
    assert one_s.shape == (97, 18)
    f0 = x[:, 0]
    voiced = f0[f0 > 0]
    assert len(voiced) > 0.2 * len(f0) and 60 < np.median(voiced) < 300  # plausible pitch in Hz
    assert np.all(np.isfinite(x))
    assert enc.encoder_id != build_encoder("opensmile.pepino_lld").encoder_id
    opensmile = pytest.importorskip("opensmile")
    from emofuse.encoders.opensmile_enc import PEPINO_32MS_CONFIG

    frame = opensmile.Smile(feature_set=str(PEPINO_32MS_CONFIG), feature_level="lld").process_signal(
        speech, 16_000
    )
    np.testing.assert_array_equal(
        x, np.nan_to_num(frame[list(PEPINO_32MS_LLDS)].to_numpy().astype(np.float32))
    )


def test_opensmile_functionals(speech):
    opensmile = pytest.importorskip("opensmile")
    eg = build_encoder("opensmile.egemaps")
    v = eg.encode(speech)
    assert v.shape == (88,) and eg.output == "pooled"
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )
    expected = smile.process_signal(speech, 16_000).to_numpy()[0].astype(np.float32)
    np.testing.assert_array_equal(v, np.nan_to_num(expected))  # the encoder's array path, same values
    assert eg.feature_names[0].startswith("F0semitoneFrom27.5Hz")
    assert build_encoder("opensmile.compare").encode(speech).shape == (6373,)
    with pytest.raises(AudioError, match="reads audio"):
        eg.encode("text")


@pytest.mark.parametrize(
    ("spec", "dim", "hop"),
    [("mel128", 128, 160), ("mfcc40", 40, 160), ("chroma12", 12, 160), ("logmel80", 80, 320)],
)
def test_spectral_frames(speech, spec, dim, hop):
    enc = build_encoder(f"spectral.{spec}")
    x = enc.encode(speech)
    assert x.shape == (1 + len(speech) // hop, dim) and x.dtype == np.float32
    assert np.all(np.isfinite(x))
    assert x.std(axis=0).mean() > 0  # not a constant sequence (not time-averaged)
    if spec == "chroma12":
        assert x.min() >= 0 and x.max() <= 1.0 + 1e-6


def test_spectral_silence_differs_from_speech(speech):
    enc = build_encoder("spectral.logmel80")
    loud = enc.encode(speech).mean()
    quiet = enc.encode(np.zeros_like(speech)).mean()
    assert quiet == pytest.approx(-5.0) and loud > quiet + 1.0


def test_whisper_encoder_trims_padding(whisper_encoder, speech):
    x = whisper_encoder.encode(speech)
    assert x.shape == (math.ceil(len(speech) / 320), 384) and whisper_encoder.dim == 384
    assert encoder_id_of("whisper")[0] == whisper_encoder.encoder_id
    short = whisper_encoder.encode(speech[:16_000])
    assert short.shape == (50, 384)
    assert not np.allclose(short, x[:50], atol=1e-3)  # the context differs (the rest of the utterance)


@pytest.mark.slow
def test_whisper_encoder_long_audio_in_windows_deterministic(whisper_encoder, speech):
    long = np.tile(speech, int(np.ceil(33 * 16_000 / len(speech))))[: 33 * 16_000]
    x = whisper_encoder.encode(long)
    assert x.shape == (33 * 50, 384)
    # the first window's frames equal those of encoding the first 30 s alone (and encoding is deterministic)
    np.testing.assert_allclose(x[:1500], whisper_encoder.encode(long[: 30 * 16_000]), atol=1e-5)
    assert not np.allclose(x[1500:1550], x[:50], atol=1e-3)


def test_whisper_missing_model_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        build_encoder({"kind": "whisper", "model": str(tmp_path / "nope")})


@pytest.mark.slow
def test_speaker_embeddings_and_averages(enc_corpus):
    pytest.importorskip("resemblyzer")
    from emofuse.encoders import speaker_averages

    table, waves = enc_corpus
    enc = build_encoder("speaker")
    emb = {u: enc.encode(w) for u, w in waves.items()}
    for v in emb.values():
        assert v.shape == (256,) and abs(float(np.linalg.norm(v)) - 1.0) < 1e-3
    np.testing.assert_allclose(enc.encode(waves["u0"]), emb["u0"], atol=1e-6)
    # the same voice on two utterances is closer than two different voices
    first_half = waves["u0"][: len(waves["u0"]) // 2]
    same = float(emb["u0"] @ enc.encode(first_half))
    other = float(emb["u0"] @ emb["u2"])
    assert same > other
    t2 = table.assign(speaker=["a", "a", "b", None])
    avg = speaker_averages(t2, emb, max_utterances=100)
    assert set(avg) == {"a", "b"}
    np.testing.assert_allclose(avg["a"], (emb["u0"] + emb["u1"]) / 2, atol=1e-6)
    capped = speaker_averages(t2, emb, max_utterances=1, seed=0)
    assert any(np.allclose(capped["a"], emb[u]) for u in ("u0", "u1"))
