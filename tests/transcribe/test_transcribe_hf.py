"""The transformers Whisper pipeline backend, with a tiny random Whisper saved to a temporary directory.

The model is random, so it transcribes nonsense: these tests check the plumbing (word chunks become words with
times that are ordered, inside the audio and aligned with the text) and the errors, not recognition.
"""

from __future__ import annotations

import numpy as np
import pytest

from emofuse.errors import ConfigError, ModelLoadError
from emofuse.transcribe import build_transcriber


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):  # noqa: ANN001, ANN201
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("tiny_whisper", Path(__file__).with_name("tiny_whisper.py"))
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    return helper.save_tiny_random_whisper(tmp_path_factory.mktemp("tiny_whisper"))


def test_pipeline_words_are_timed_and_aligned(tiny_model_dir, planted) -> None:  # noqa: ANN001
    transcriber = build_transcriber("transformers", model=str(tiny_model_dir), max_new_tokens=12)
    out = transcriber.transcribe(planted.wave, 16_000)
    duration_s = len(planted.wave) / 16_000
    assert out.words, "the random model should still emit some tokens"
    assert out.text == " ".join(w.text for w in out.words)
    starts = [w.start_s for w in out.words]
    assert starts == sorted(starts)
    assert all(0.0 <= w.start_s <= w.end_s <= duration_s for w in out.words)
    assert out.duration_s == pytest.approx(duration_s)
    assert out.backend.startswith(f"transformers/{tiny_model_dir.name}/")
    silent = transcriber.transcribe(np.zeros(8_000, np.float32), 16_000)
    assert silent.words == [] and silent.duration_s == pytest.approx(0.5)


def test_transformers_backend_errors(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match="model"):
        build_transcriber("transformers")
    empty = tmp_path / "not_a_model"
    empty.mkdir()
    broken = build_transcriber("transformers", model=str(empty))
    with pytest.raises(ModelLoadError, match="not_a_model"):
        broken.transcribe(np.ones(16_000, np.float32) * 0.1, 16_000)
