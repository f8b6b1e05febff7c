from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emofuse.audio import audio_info, load_audio
from emofuse.errors import AudioError
from emofuse.hashing import audio_key
from emofuse.synth import speak


def test_formats_rates_channels_and_depths_are_read_as_mono_16k(tmp_path: Path) -> None:
    src = speak("reading every format", tmp_path / "src.wav", sample_rate_hz=None)
    ref = load_audio(src)
    variants = {
        "8k.wav": ["-r", "8000"],
        "stereo.wav": ["-c", "2"],
        "24bit.wav": ["-b", "24"],
        "x.flac": [],
        "x.ogg": [],
        "x.mp3": [],
    }
    for name, args in variants.items():
        out = tmp_path / name
        subprocess.run(["sox", str(src), *args, str(out)], check=True, capture_output=True)
        wave = load_audio(out)
        assert wave.ndim == 1 and wave.dtype == np.float32, name
        # same length within codec padding, same content up to codec loss
        assert abs(len(wave) - len(ref)) < 0.06 * 16_000, name
        n = min(len(wave), len(ref))
        if name != "x.mp3":  # mp3 shifts by its encoder delay
            assert np.corrcoef(wave[:n], ref[:n])[0, 1] > 0.9, name


def test_span_is_cut_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ramp.wav"
    sf.write(path, np.linspace(-0.5, 0.5, 16_000 * 3, dtype=np.float32), 16_000)
    part = load_audio(path, start_s=1.0, end_s=2.0)
    assert len(part) == 16_000
    assert part[0] == pytest.approx(-0.5 + 1 / 3, abs=1e-3)
    with pytest.raises(AudioError, match="outside"):
        load_audio(path, start_s=2.5, end_s=5.0)


def test_corrupt_and_missing_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio at all")
    with pytest.raises(AudioError, match="corrupt.wav"):
        load_audio(bad)
    with pytest.raises(AudioError, match="nowhere.wav"):
        audio_info(tmp_path / "nowhere.wav")


def test_audio_key_follows_content_and_span(tmp_path: Path) -> None:
    a = tmp_path / "a.wav"
    sf.write(a, np.random.default_rng(0).normal(size=16_000).astype(np.float32) * 0.1, 16_000)
    b = tmp_path / "b.wav"
    b.write_bytes(a.read_bytes())
    assert audio_key(a) == audio_key(b)
    assert audio_key(a, 0.0, 0.5) != audio_key(a, 0.5, 1.0)
