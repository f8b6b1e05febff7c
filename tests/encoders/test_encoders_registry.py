"""build_encoder specs: strings, JSON, dicts; validation errors name the key; stable ids."""

from __future__ import annotations

import pytest

from emofuse.encoders import build_encoder, encoder_id_of, make_config
from emofuse.encoders.registry import spec_to_dict
from emofuse.errors import ConfigError


def test_spec_strings_map_to_configs():
    assert spec_to_dict("opensmile.egemaps") == {"kind": "opensmile", "feature_set": "egemaps"}
    cfg = make_config("spectral.logmel80")
    assert (cfg.feature, cfg.n_bins, cfg.hop_ms, cfg.n_fft) == ("logmel", 80, 20.0, 1024)
    assert make_config("spectral.chroma12").n_bins == 12
    assert make_config("whisper").kind == "whisper"
    assert make_config("text").layers == "all"
    assert make_config('{"kind": "text", "layers": "sum_last4", "sil_token": true}').sil_token is True
    assert make_config({"kind": "spectral", "preset": "mel128", "hop_ms": 20}).hop_ms == 20


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("opensmile.gemaps", "unknown encoder spec"),
        ("wav2vec", "unknown encoder spec"),
        ({"kind": "glove2"}, "unknown encoder kind"),
        ({"kind": "text", "layer": "last"}, "layer"),
        ({"kind": "text", "pooling": "max"}, "pooling"),
        ({"kind": "ssl"}, "model"),
        ({"kind": "ssl", "model": "x", "layers": []}, "layers"),
        ({"kind": "spectral", "preset": "mel64"}, "mel64"),
        ("{not json", "not valid JSON"),
        ({"feature_set": "egemaps"}, "kind"),
    ],
)
def test_bad_specs_name_the_problem(spec, message):
    with pytest.raises(ConfigError, match=message):
        build_encoder(spec)


def test_encoder_ids_are_stable_and_config_dependent():
    a = build_encoder("spectral.mfcc40")
    b = build_encoder({"kind": "spectral", "feature": "mfcc", "n_bins": 40})
    c = build_encoder({"kind": "spectral", "preset": "mfcc40", "hop_ms": 20})
    assert a.encoder_id == b.encoder_id
    assert a.encoder_id != c.encoder_id
    assert a.encoder_id.startswith("spectral-")
    assert encoder_id_of("spectral.mfcc40") == (a.encoder_id, "audio")  # without building the encoder
    assert encoder_id_of("opensmile.egemaps")[0] != encoder_id_of("opensmile.pepino_lld")[0]
    assert a.describe()["dim"] == 40 and a.describe()["output"] == "frames"
    assert make_config({"kind": "text", "model": "minilm"}) == make_config("text")
    with pytest.raises(ConfigError, match="window_ms"):
        build_encoder({"kind": "spectral", "preset": "mel128", "window_ms": 100})
