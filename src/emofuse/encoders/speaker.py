"""Speaker identity embeddings with Resemblyzer (optional extra ``emofuse[speaker]``), as in makiuchi2021.

``SpeakerEncoder`` gives a 256-d GE2E embedding per utterance (``[256]``, unit length). makiuchi2021 represents
each speaker by the average of the embeddings of 100 randomly chosen utterances of that speaker:
:func:`speaker_averages` computes that from a table and the per-utterance embeddings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from emofuse.encoders.base import Encoder, EncoderConfig
from emofuse.errors import ConfigError, EmofuseError

DIM = 256


def _import_resemblyzer() -> Any:
    try:
        import resemblyzer
    except ImportError as exc:
        raise EmofuseError(
            "the speaker encoder needs the optional package resemblyzer: pip install emofuse[speaker] "
            "(it also needs setuptools<81 for pkg_resources)"
        ) from exc
    return resemblyzer


class SpeakerConfig(EncoderConfig):
    """Config of :class:`SpeakerEncoder`. ``trim_silence`` runs Resemblyzer's VAD-based preprocessing first."""

    kind: Literal["speaker"] = "speaker"
    trim_silence: bool = True


class SpeakerEncoder(Encoder):
    """Resemblyzer ``VoiceEncoder``: waveform ``[N]`` at 16 kHz -> ``[256]`` float32 (L2-normalised)."""

    modality = "audio"
    output = "pooled"

    def __init__(self, config: SpeakerConfig) -> None:
        super().__init__(config)
        self.config: SpeakerConfig = config
        resemblyzer = _import_resemblyzer()
        self._rz = resemblyzer
        self.model = resemblyzer.VoiceEncoder(device="cpu", verbose=False)

    @property
    def dim(self) -> int:
        return DIM

    def _encode(self, item: np.ndarray | str) -> np.ndarray:
        wave = np.asarray(item, dtype=np.float32)
        if self.config.trim_silence:
            trimmed = self._rz.preprocess_wav(wave, source_sr=self.sample_rate_hz)
            if trimmed.shape[0] >= self.sample_rate_hz // 4:
                wave = trimmed
        return np.asarray(self.model.embed_utterance(wave), dtype=np.float32)


def speaker_averages(
    table: pd.DataFrame,
    embeddings: Mapping[str, np.ndarray],
    *,
    max_utterances: int = 100,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Average embedding per speaker over up to ``max_utterances`` randomly chosen utterances (makiuchi2021).

    Args:
        table: utterance table (``utterance_id``, ``speaker``); rows without a speaker are skipped (an unknown
            speaker is never merged with another).
        embeddings: utterance id -> ``[256]`` embedding.
        seed: the random choice of utterances is reproducible.

    Returns:
        speaker -> ``[256]`` float32 mean (not re-normalised).
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    rows = table.loc[table["speaker"].notna(), ["utterance_id", "speaker"]]
    for speaker, group in rows.groupby("speaker", sort=True):
        ids = [u for u in group["utterance_id"] if u in embeddings]
        if not ids:
            continue
        if len(ids) > max_utterances:
            ids = list(rng.choice(np.asarray(ids, dtype=object), size=max_utterances, replace=False))
        out[str(speaker)] = np.mean(
            np.stack([np.asarray(embeddings[u], dtype=np.float32) for u in ids]), axis=0
        )
    if not out:
        raise ConfigError("speaker_averages: no utterance with a known speaker has an embedding")
    return out
