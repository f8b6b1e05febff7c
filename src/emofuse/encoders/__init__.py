"""Encoders (frozen feature extractors) and the feature store.

Public API: :func:`build_encoder`, :class:`FeatureStore`, :func:`extract_features`, :class:`Standardizer`,
:func:`speaker_averages`, :class:`GloveEncoder` (static GloVe vectors from a local file), :class:`SilenceRatioEncoder` (utterance
silence ratio, perez2022's silence feature). Heavy libraries
(torch, transformers, librosa, opensmile, pandas) load only when an encoder that needs them is built.
"""

from __future__ import annotations

from typing import Any

from emofuse.encoders.base import Encoder, EncoderConfig
from emofuse.encoders.normalize import Standardizer
from emofuse.encoders.registry import SPEC_STRINGS, build_encoder, encoder_id_of, make_config
from emofuse.encoders.store import FeatureStore

__all__ = [
    "SPEC_STRINGS",
    "Encoder",
    "EncoderConfig",
    "FeatureStore",
    "GloveConfig",
    "GloveEncoder",
    "SilenceRatioConfig",
    "SilenceRatioEncoder",
    "Standardizer",
    "build_encoder",
    "encoder_id_of",
    "extract_features",
    "make_config",
    "speaker_averages",
    "utterance_keys",
]


def __getattr__(name: str) -> Any:
    if name in ("extract_features", "utterance_keys"):  # pandas: imported when corpus work needs it
        from emofuse.encoders import extract

        return getattr(extract, name)
    if name == "speaker_averages":
        from emofuse.encoders.speaker import speaker_averages

        return speaker_averages
    if name in ("GloveConfig", "GloveEncoder"):
        from emofuse.encoders import glove

        return getattr(glove, name)
    if name in ("SilenceRatioConfig", "SilenceRatioEncoder"):
        from emofuse.encoders import silence

        return getattr(silence, name)
    raise AttributeError(name)
