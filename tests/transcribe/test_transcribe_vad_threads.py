"""silero-vad is one stateful TorchScript model per process: concurrent calls must give what sequential calls give."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from emofuse.transcribe.vad import speech_probabilities


def _waves() -> list[np.ndarray]:
    """Six different 1.5 s signals: noise bursts of different loudness and placement (seeded)."""
    rng = np.random.default_rng(7)
    waves = []
    for k in range(6):
        wave = np.zeros(24_000, dtype=np.float32)
        start = 2_000 * k
        wave[start : start + 8_000] = rng.normal(0, 0.05 * (k + 1), 8_000).astype(np.float32)
        t = np.arange(24_000) / 16_000
        wave += (0.2 * np.sin(2 * np.pi * (120 + 30 * k) * t) * (t > 0.75)).astype(np.float32)
        waves.append(wave)
    return waves


def test_concurrent_speech_probabilities_equal_sequential_ones() -> None:
    waves = _waves()
    expected = [speech_probabilities(w, 16_000) for w in waves]
    jobs = waves * 8  # 48 calls over 8 threads: without the lock they interleave inside the model's state
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda w: speech_probabilities(w, 16_000), jobs))
    for i, probs in enumerate(got):
        np.testing.assert_array_equal(probs, expected[i % len(waves)])
