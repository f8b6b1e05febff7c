"""silero-vad is one stateful TorchScript model per process: concurrent calls must give what sequential calls give."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from emofuse.transcribe.vad import speech_probabilities, speech_probabilities_many


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


def test_batched_speech_probabilities_match_one_at_a_time() -> None:
    """Recordings of different lengths (one under a 512-sample frame, one empty) in one batched pass: each gets
    its own frame count and the same speech decisions as alone (padding after a recording does not reach it)."""
    waves = [*_waves(), _waves()[2][:9_000], _waves()[4][:300], np.zeros(0, dtype=np.float32)]
    alone = [speech_probabilities(w, 16_000) for w in waves]
    together = speech_probabilities_many(waves, 16_000)
    assert [p.size for p in together] == [p.size for p in alone] == [47] * 6 + [18, 1, 0]
    for one, many in zip(alone, together, strict=True):
        np.testing.assert_allclose(many, one, atol=1e-4)
        assert np.array_equal(many >= 0.5, one >= 0.5)


def test_vad_runs_on_one_torch_thread_and_leaves_the_setting_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    import emofuse.transcribe.vad as vad

    model = vad.load_vad_model()
    seen: list[int] = []

    class Spy:
        def audio_forward(self, x: torch.Tensor, sample_rate_hz: int) -> torch.Tensor:
            seen.append(torch.get_num_threads())
            return model.audio_forward(x, sample_rate_hz)

        def reset_states(self) -> None:
            model.reset_states()

    monkeypatch.setattr(vad, "load_vad_model", Spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        speech_probabilities(_waves()[0], 16_000)
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
