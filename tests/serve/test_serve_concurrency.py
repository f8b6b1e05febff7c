"""Concurrent predictions on one Predictor (the service's ``--threads``): the answers equal sequential ones and
nothing crashes. Before silero-VAD had its lock, two threads inside it crashed the server (segmentation fault)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from emofuse.audio import load_audio


@pytest.mark.slow
def test_concurrent_predictions_equal_sequential_ones(predictor, speech_with_pause: Path) -> None:  # noqa: ANN001
    wave = load_audio(speech_with_pause)
    waves = [wave, wave[: len(wave) // 2], 0.5 * wave]
    expected = [predictor.predict_wave(w, 16_000).to_dict() for w in waves]
    with ThreadPoolExecutor(max_workers=3) as pool:
        got = list(pool.map(lambda w: predictor.predict_wave(w, 16_000).to_dict(), waves * 2))
    for i, result in enumerate(got):
        want = expected[i % len(waves)]
        assert result["text_with_sil"] == want["text_with_sil"]
        for label, p in want["probabilities"].items():
            assert result["probabilities"][label] == pytest.approx(p, rel=1e-3, abs=1e-45)
    assert not np.allclose(
        [expected[0]["probabilities"][k] for k in sorted(expected[0]["probabilities"])],
        [expected[1]["probabilities"][k] for k in sorted(expected[1]["probabilities"])],
        rtol=1e-2,
        atol=0.0,
    )  # the three inputs give different answers, so a mix-up between threads would show
