"""One contract over every registered encoder kind, in the spirit of scikit-learn's ``check_estimator``.

For each kind of :data:`emofuse.encoders.registry.KINDS`: the id computed from the spec alone (no model loaded)
equals the built encoder's id, and the modality comes from the class; the encoder receives audio at the rate
it declares whatever rate the caller's waveform has; the output has the documented shape (``frames`` ``[T, D]``,
``layers`` ``[L, T, D]``, ``pooled`` ``[D]``), float32, with ``D = encoder.dim``. A kind added to the registry
without a case here fails :func:`test_every_registered_kind_has_a_contract_case`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emofuse.audio import SAMPLE_RATE_HZ, resample
from emofuse.encoders import build_encoder, encoder_id_of
from emofuse.encoders.registry import KINDS, encoder_class

pytestmark = pytest.mark.slow

# kind -> spec factory over the session fixtures (every model is offline: packaged weights or tiny random ones)
CASES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "opensmile": lambda f: "opensmile.egemaps",
    "spectral": lambda f: "spectral.mfcc40",
    "ssl": lambda f: {"kind": "ssl", "model": str(f["tiny_wav2vec2_dir"]), "layers": "all"},
    "whisper": lambda f: "whisper",
    "whisper_layers": lambda f: {"kind": "whisper_layers", "pad_to_window": False},
    "whisper_hf": lambda f: {"kind": "whisper_hf", "model": str(f["tiny_whisper_dir"])},
    "text": lambda f: {"kind": "text", "model": str(f["tiny_bert_dir"]), "layers": "last"},
    "speaker": lambda f: "speaker",
    "glove": lambda f: {"kind": "glove", "vectors_path": str(f["glove_file"])},
    "silence_ratio": lambda f: "silence_ratio",
    "phones": lambda f: "phones",  # (waveform, transcript) pairs
    "word_gap_ratio": lambda f: {
        "kind": "word_gap_ratio"
    },  # the transcripts' silence_ratio, handed over as text
}
RANK = {"frames": 2, "layers": 3, "pooled": 1}
SPOKEN = "the weather is lovely today and I feel great"  # what the `speech` fixture (u0) says


@pytest.fixture(scope="module")
def glove_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("glove") / "glove.tiny.4d.txt"
    path.write_text("the 1 0 0 0\nplease 0 1 0 0\nleave 0 0 1 0\npapers 0 0 0 1\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fixtures(
    tiny_wav2vec2_dir: Path, tiny_bert_dir: Path, tiny_whisper_dir: Path, glove_file: Path
) -> dict[str, Any]:
    return {
        "tiny_wav2vec2_dir": tiny_wav2vec2_dir,
        "tiny_bert_dir": tiny_bert_dir,
        "tiny_whisper_dir": tiny_whisper_dir,
        "glove_file": glove_file,
    }


def test_every_registered_kind_has_a_contract_case() -> None:
    assert set(CASES) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_encoder_contract(kind: str, fixtures: dict[str, Any], speech: np.ndarray) -> None:
    spec = CASES[kind](fixtures)
    encoder = build_encoder(spec)
    # id and modality from the class, equal with and without building the encoder
    assert encoder_id_of(spec) == (encoder.encoder_id, encoder.modality)
    assert encoder.modality == encoder_class(kind).modality and encoder.encoder_id.startswith(f"{kind}-")

    def item_of(wave: np.ndarray) -> Any:
        if encoder.modality == "audio_text":  # the audio with its transcript (forced alignment)
            return (wave, SPOKEN)
        if kind == "word_gap_ratio":
            return repr(0.25)
        return wave if encoder.modality == "audio" else "please leave the papers [SIL] on the table"

    out = encoder.encode(item_of(speech), SAMPLE_RATE_HZ)
    # shapes as documented
    assert out.dtype == np.float32 and out.ndim == RANK[encoder.output], (encoder.output, out.shape)
    assert out.shape[-1] == encoder.dim and all(n > 0 for n in out.shape)
    if encoder.modality == "text":
        return
    # the declared rate is honoured: a waveform at another rate reaches the encoder at its own rate
    seen: list[int] = []
    inner = encoder._encode

    def spy(item: Any) -> np.ndarray:
        seen.append(len(item[0] if isinstance(item, tuple) else item))
        return inner(item)

    encoder._encode = spy  # type: ignore[method-assign]
    doubled = resample(speech, SAMPLE_RATE_HZ, 2 * SAMPLE_RATE_HZ)
    again = encoder.encode(item_of(doubled), 2 * SAMPLE_RATE_HZ)
    assert abs(seen[-1] - len(speech)) <= 2 and again.shape[-1] == out.shape[-1]
    encoder.sample_rate_hz = SAMPLE_RATE_HZ // 2  # an encoder that declares 8 kHz gets 8 kHz
    encoder.encode(item_of(speech), SAMPLE_RATE_HZ)
    assert abs(seen[-1] - len(speech) // 2) <= 2
