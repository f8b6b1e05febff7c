"""Recipes with their hub models replaced by offline stand-ins (``emofuse run --demo`` / ``--offline-substitutes``).

The stand-ins are :func:`emofuse.encoders.availability.offline_substitute`'s (MiniLM for BERT-family text and
GloVe without a vectors file, the Whisper tiny.en encoder for SSL speech models). The same spec always gets the
same stand-in, so fusion systems that start from other systems' runs (``pretrain.from_systems``) keep matching
branches. Applied to the raw recipe data, before validation (a GloVe recipe without vectors is invalid as is).
Recipes that fine-tune encoders (``training.mode: end_to_end``) get MiniLM for their text encoders (it fine-tunes),
but keep their SSL models: no offline SSL model ships, so ``emofuse run`` stops on them before any work, naming
the model (give a local directory with ``--set features.<branch>.encoder.model=DIR``).
"""

from __future__ import annotations

from typing import Any

from emofuse.encoders.availability import offline_substitute


def substitute_offline(data: dict[str, Any], name: str) -> list[str]:
    """Replace, in raw recipe ``data`` (in place), every encoder that needs a hub model or a missing file.

    Returns one note per replaced branch, e.g. ``"kumar2021/multimodal: features.text.encoder bert-base-uncased
    -> all-MiniLM-L6-v2 (offline)"``.
    """
    notes: list[str] = []
    features = data.get("features")
    if not isinstance(features, dict):
        return notes
    training = data.get("training")
    end_to_end = isinstance(training, dict) and training.get("mode") == "end_to_end"
    for branch, feat in features.items():
        if not isinstance(feat, dict) or "encoder" not in feat:
            continue
        try:
            sub = offline_substitute(feat["encoder"])
        except Exception:  # an invalid spec: validation names it
            continue
        if sub is None:
            continue
        if end_to_end and sub.get("kind") != "text":
            # a fine-tuned encoder runs inside the model, and only ssl/text kinds can: no offline SSL model
            # ships, so the hub model stays and the model check names it before any work
            continue
        notes.append(
            f"{name}: features.{branch}.encoder {_short(feat['encoder'])} -> {_short(sub)} (offline)"
        )
        feat["encoder"] = sub
    return notes


def _short(spec: Any) -> str:
    if isinstance(spec, dict):
        if spec.get("kind") == "text" and not spec.get("model"):
            return "all-MiniLM-L6-v2"
        if str(spec.get("kind", "")).startswith("whisper"):
            return "Whisper tiny.en encoder"
        return str(spec.get("model") or spec.get("kind") or spec)
    return str(spec)


__all__ = ["substitute_offline"]
