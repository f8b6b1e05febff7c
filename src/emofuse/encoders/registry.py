"""``build_encoder(spec)``: from a spec string or dict to a ready encoder.

Spec strings (docs/contracts.md): ``opensmile.pepino_lld`` ``[T, 36]``, ``opensmile.pepino_lld_32ms`` ``[T, 18]``, ``opensmile.egemaps`` ``[88]``,
``opensmile.compare`` ``[6373]``, ``spectral.mel128`` / ``spectral.mfcc40`` / ``spectral.chroma12`` /
``spectral.logmel80`` ``[T, D]``, ``whisper`` ``[T, 384]``, ``text`` (MiniLM, ``[L, T, D]``), ``speaker``
``[256]``, ``silence_ratio`` (silero-vad non-speech ratio, ``[1]``; dict:
``{"kind": "silence_ratio", "method": "vad" | "energy" | "vad+energy", "threshold": 0.5}``); GloVe (a local file, never downloaded) only as a dict:
``{"kind": "word_gap_ratio"}`` (the transcripts' word-gap ``silence_ratio``, ``[1]``, only with
``input: asr_silence_ratio``); ``{"kind": "glove", "vectors_path": "/data/glove.42B.300d.txt"}`` ``[T, 300]``; Whisper's encoder through
transformers (trainable end to end) only as a dict: ``{"kind": "whisper_hf", "model": "<id or dir>"}``. A string that starts with ``{``
is read as a JSON dict. Dict specs name ``kind`` and every option of that kind's config; a preset may be given
as ``{"kind": "spectral", "preset": "mel128", "hop_ms": 20}``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from emofuse.encoders.base import Encoder, EncoderConfig
from emofuse.errors import ConfigError, short_repr

#: encoder kind -> (module, config class, encoder class); imported only when that kind is used.
_IMPLEMENTATIONS: dict[str, tuple[str, str, str]] = {
    "opensmile": ("emofuse.encoders.opensmile_enc", "OpenSmileConfig", "OpenSmileEncoder"),
    "spectral": ("emofuse.encoders.spectral", "SpectralConfig", "SpectralEncoder"),
    "ssl": ("emofuse.encoders.ssl", "SSLConfig", "SSLEncoder"),
    "whisper": ("emofuse.encoders.whisper", "WhisperConfig", "WhisperEncoder"),
    "whisper_layers": ("emofuse.encoders.whisper_layers", "WhisperLayersConfig", "WhisperLayersEncoder"),
    "whisper_hf": ("emofuse.encoders.whisper_hf", "WhisperHFConfig", "WhisperHFEncoder"),
    "text": ("emofuse.encoders.text", "TextConfig", "TextEncoder"),
    "speaker": ("emofuse.encoders.speaker", "SpeakerConfig", "SpeakerEncoder"),
    "glove": ("emofuse.encoders.glove", "GloveConfig", "GloveEncoder"),
    "silence_ratio": ("emofuse.encoders.silence", "SilenceRatioConfig", "SilenceRatioEncoder"),
    "phones": ("emofuse.encoders.phones", "PhonesConfig", "PhoneEncoder"),
    "word_gap_ratio": ("emofuse.encoders.word_gaps", "WordGapRatioConfig", "WordGapRatioEncoder"),
}
KINDS = tuple(_IMPLEMENTATIONS)
SPEC_STRINGS = (
    "opensmile.pepino_lld",
    "opensmile.pepino_lld_32ms",
    "opensmile.egemaps",
    "opensmile.compare",
    "spectral.mel128",
    "spectral.mfcc40",
    "spectral.chroma12",
    "spectral.logmel80",
    "whisper",
    "whisper_layers",
    "text",
    "speaker",
    "silence_ratio",
    "phones",
    "word_gap_ratio",
)


def _classes(kind: object) -> tuple[type[EncoderConfig], Callable[[Any], Encoder]]:
    if not isinstance(kind, str) or kind not in _IMPLEMENTATIONS:
        raise ConfigError(f"unknown encoder kind {short_repr(kind)}; expected one of {list(KINDS)}")
    module_name, config_name, encoder_name = _IMPLEMENTATIONS[kind]
    module = importlib.import_module(module_name)
    return getattr(module, config_name), getattr(module, encoder_name)


def spec_to_dict(spec: str | Mapping[str, Any]) -> dict[str, Any]:
    """Normalise a spec (string, JSON string or dict) to a dict with ``kind`` and options."""
    if isinstance(spec, Mapping):
        out = dict(spec)
    elif isinstance(spec, str):
        text = spec.strip()
        if text.startswith("{"):
            try:
                out = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"encoder spec {short_repr(spec)} is not valid JSON: {exc}") from exc
            if not isinstance(out, dict):
                raise ConfigError(f"encoder spec {short_repr(spec)}: a JSON spec must be an object")
        else:
            kind, _, variant = text.partition(".")
            if kind not in KINDS or (text not in SPEC_STRINGS and not (kind == "ssl" and not variant)):
                raise ConfigError(
                    f"unknown encoder spec {short_repr(spec)}; use one of {list(SPEC_STRINGS)}, a JSON dict such as "
                    '\'{"kind": "ssl", "model": "facebook/wav2vec2-base"}\', or a recipe YAML path'
                )
            out = {"kind": kind}
            if kind == "opensmile":
                out["feature_set"] = variant
            elif kind == "spectral":
                out["preset"] = variant
    else:
        raise ConfigError(f"encoder spec must be a string or a dict, got {type(spec).__name__}")
    if "kind" not in out:
        raise ConfigError(f"encoder spec {short_repr(out)} lacks 'kind' (one of {list(KINDS)})")
    if out["kind"] == "spectral" and "preset" in out:
        from emofuse.encoders.spectral import PRESETS

        preset = out.pop("preset")
        if preset not in PRESETS:
            raise ConfigError(
                f"unknown spectral preset {short_repr(preset)}; expected one of {list(PRESETS)}"
            )
        out = {**PRESETS[preset], **out}
    return out


def make_config(spec: str | Mapping[str, Any]) -> EncoderConfig:
    """Validate a spec into its encoder's config; a bad key or value names itself."""
    data = spec_to_dict(spec)
    config_cls, _ = _classes(str(data["kind"]))
    try:
        return config_cls(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<spec>'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"bad {short_repr(data['kind'], 40)} encoder spec {short_repr(data)}: {problems}"
        ) from None


def build_encoder(spec: str | Mapping[str, Any]) -> Encoder:
    """Build a ready-to-use encoder from a spec (see the module doc)."""
    config = make_config(spec)
    _, encoder_cls = _classes(config.kind)
    return encoder_cls(config)


def encoder_class(kind: str) -> type[Encoder]:
    """The encoder class registered for ``kind`` (its module is imported; no model is loaded)."""
    return _classes(kind)[1]  # type: ignore[return-value]


def modality_of(spec: str | Mapping[str, Any]) -> str:
    """``"audio"`` or ``"text"``: what the spec's encoder class reads (its ``modality``)."""
    return encoder_class(str(spec_to_dict(spec)["kind"])).modality


def encoder_id_of(spec: str | Mapping[str, Any]) -> tuple[str, str]:
    """``(encoder_id, modality)`` of a spec without loading any model (for cheap "is it all cached?" checks).

    Both come from the encoder class (:meth:`Encoder.id_for`, :attr:`Encoder.modality`), so this always equals
    ``build_encoder(spec).encoder_id``.
    """
    config = make_config(spec)
    cls = encoder_class(config.kind)
    return cls.id_for(config), cls.modality
