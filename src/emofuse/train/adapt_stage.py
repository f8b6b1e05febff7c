"""The MLM adaptation stage inside a run: a text encoder spec with ``adapt`` gets an adapted model, cached.

A recipe asks for perez2022's learned ``[SIL]`` with::

    features:
      text:
        encoder: {kind: text, model: bert-base-uncased, pooling: cls, layers: last, sil_token: true,
                  adapt: {tables: [switchboard_transcripts.jsonl, transcripts], epochs: 30}}
        input: asr_sil

``adapt.tables`` are adapted on in order (the paper: conversational text first, then the target corpus). A path
names a transcripts table (``emofuse transcribe``'s .jsonl or a .csv; relative paths from the working
directory); ``transcripts`` names the run's own transcripts table, restricted to the utterances that are in the
training part of every fold (no test or dev text is seen, even unlabelled). The other keys are
:class:`emofuse.encoders.text_adapt.AdaptConfig`'s (``epochs``, ``lr``, ``patience``, ``column``, ...).

:func:`resolve_adaptations` runs the stage before any feature is extracted and replaces the spec by
``{..., model: <adapted directory>}`` (``adapt`` removed), so the encoder id, the run directories and the package
name the adapted model. The directory is ``<cache root>/adapted_text/<hash>``, the hash of the base model
(id, or a local directory's fingerprint), the settings and the texts of every table: a rerun reuses it, and a
killed adaptation resumes from its last epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from emofuse.errors import ConfigError, short_repr
from emofuse.recipes.schema import Recipe

RUN_TRANSCRIPTS = "transcripts"


def adapted_dir(model: str | None, config: Any, stages: Sequence[tuple[str, Sequence[str]]]) -> Path:
    """``<cache root>/adapted_text/<hash of base model, settings and texts>``."""
    from emofuse.encoders.hf import model_fingerprint, resolve_model
    from emofuse.hashing import config_hash, text_key
    from emofuse.paths import cache_root

    base = resolve_model(model)
    payload = {
        "base": model or "minilm",
        "fingerprint": model_fingerprint(base),
        "config": config.model_dump(mode="json"),
        "stages": [text_key("\n".join(texts)) for _, texts in stages],
    }
    return Path(cache_root()) / "adapted_text" / config_hash(payload)[:16]


def _train_ids(folds: Sequence[Any]) -> set[str]:
    ids: set[str] | None = None
    for fold in folds:
        part = set(map(str, fold.train))
        ids = part if ids is None else ids & part
    return ids or set()


def _stage_texts(
    entry: object, column: str, transcripts: pd.DataFrame | None, folds: Sequence[Any], where: str
) -> tuple[str, list[str]]:
    from emofuse.encoders.text_adapt import texts_of_table

    if not isinstance(entry, str) or not entry.strip():
        raise ConfigError(f"{where}.adapt.tables: {short_repr(entry)} is not a path or `transcripts`")
    if entry != RUN_TRANSCRIPTS:
        return entry, texts_of_table(Path(entry).expanduser(), column)
    if transcripts is None:
        raise ConfigError(
            f"{where}.adapt.tables names `transcripts` but the run has none; pass --transcripts"
        )
    if column not in transcripts.columns:
        raise ConfigError(f"{where}.adapt: the run's transcripts table has no {column!r} column")
    train = _train_ids(folds)
    rows = transcripts[transcripts["utterance_id"].astype(str).isin(train)]
    texts = [str(t) for t in rows[column] if isinstance(t, str) and t.strip()]
    if len(texts) < 2:
        raise ConfigError(
            f"{where}.adapt.tables: `transcripts` keeps the utterances in every fold's training part, and "
            f"{len(texts)} have text; with k-fold protocols name a table of other text instead"
        )
    return RUN_TRANSCRIPTS, texts


def resolve_spec(
    spec: dict[str, Any],
    transcripts: pd.DataFrame | None,
    folds: Sequence[Any],
    where: str,
    progress: bool = True,
) -> dict[str, Any]:
    """``spec`` with ``adapt`` replaced by the adapted model's directory (adapting when not cached)."""
    from pydantic import ValidationError

    from emofuse.encoders.text_adapt import AdaptConfig, adapt_text_model

    options = dict(spec["adapt"]) if isinstance(spec.get("adapt"), dict) else None
    if options is None or not isinstance(options.get("tables"), list) or not options["tables"]:
        raise ConfigError(f"{where}.adapt needs `tables`: a list of transcripts tables and/or `transcripts`")
    if spec.get("kind") != "text" or not spec.get("sil_token"):
        raise ConfigError(f"{where}.adapt learns [SIL]: use it on a text encoder with sil_token: true")
    tables = options.pop("tables")
    try:
        config = AdaptConfig(sil_init=spec.get("sil_init", "mean"), **options)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"{where}.adapt.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    stages = [_stage_texts(t, config.column, transcripts, folds, where) for t in tables]
    model = spec.get("model")
    target = adapted_dir(model, config, stages)
    if not target.is_dir():
        adapt_text_model(stages, target, model=model, config=config, progress=progress)
    return {**{k: v for k, v in spec.items() if k != "adapt"}, "model": str(target)}


def resolve_adaptations(
    recipes: Sequence[Recipe],
    transcripts: pd.DataFrame | None,
    folds: Sequence[Any],
    progress: bool = True,
) -> list[Recipe]:
    """The recipes with every ``adapt`` stage run (or found in the cache) and replaced by its model directory."""
    out = []
    for recipe in recipes:
        features = dict(recipe.features)
        for name, feat in recipe.features.items():
            if not isinstance(feat.encoder, dict) or "adapt" not in feat.encoder:
                continue
            if (
                feat.encoder["adapt"] is None
            ):  # `--set features.text.encoder.adapt=null`: the [SIL] row as initialised
                spec = {k: v for k, v in feat.encoder.items() if k != "adapt"}
            else:
                where = f"{recipe.name}: features.{name}.encoder"
                spec = resolve_spec(feat.encoder, transcripts, folds, where, progress)
            features[name] = feat.model_copy(update={"encoder": spec})
        out.append(
            recipe if features == recipe.features else recipe.model_copy(update={"features": features})
        )
    return out
