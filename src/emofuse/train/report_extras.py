"""What the report needs beyond predictions for deoliveira2023's Fig. 3 and Table 2, gathered from the recipes.

* :func:`audio_baselines`: ``{fusion system: audio-only system}``: the audio-only system with the same audio
  encoder(s), training mode and targets (``audio_hubert`` for ``fusion_hubert``, ``audio_hubert_ft`` for
  ``fusion_hubert_ft`` and ``fusion_hubert_ft_frz``); when several match (offline stand-ins make the
  encoders equal), the one sharing the most ``_``-separated name parts; a tie pairs nothing.
* :func:`transcript_quality`: per system that reads text, which transcripts (human or the ASR's text source)
  and their WER against the table's human transcripts over the test utterances
  (:func:`emofuse.transcribe.wer.word_error_rate`). Written to ``<out>/<system>/transcripts.json`` so that a
  later ``emofuse run`` into the same folder (another ASR model: one text source per call) reports them too.
* :func:`report_extras`: both, as keyword arguments of :func:`emofuse.evaluate.write_report`, over the systems
  of this call and the finished systems already in the folder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from emofuse.corpus.protocols import Fold
from emofuse.io import atomic_write_json, read_json
from emofuse.recipes.schema import Recipe

TEXT_INPUTS = ("transcript", "asr", "asr_sil")
ASR_INPUTS = ("asr", "asr_sil")
QUALITY_FILE = "transcripts.json"


def _audio_key(recipe: Recipe) -> str:
    audio = sorted(
        (json.dumps(f.encoder, sort_keys=True), f.input)
        for f in recipe.features.values()
        if f.input == "audio"
    )
    data = [recipe.data.task, list(recipe.data.labels or ()), list(recipe.data.avd_names)]
    return json.dumps([audio, recipe.training.mode, data])


def _modalities(recipe: Recipe) -> set[str]:
    used = set(recipe.model.branches) or set(recipe.features)
    inputs = {f.input for n, f in recipe.features.items() if n in used and not f.training_only}
    return {"audio" if i == "audio" else "text" if i in TEXT_INPUTS else "other" for i in inputs}


def audio_baselines(recipes: Iterable[Recipe]) -> dict[str, str]:
    """``{fusion system: its audio-only system}`` among ``recipes`` (rules: module docstring)."""
    pool = list(recipes)
    audio_only = [r for r in pool if r.model.fusion == "none" and _modalities(r) == {"audio"}]
    out = {}
    for fusion in pool:
        if fusion.model.fusion == "none" or not {"audio", "text"} <= _modalities(fusion):
            continue
        matches = [r for r in audio_only if _audio_key(r) == _audio_key(fusion)]
        parts = set(fusion.name.split("_"))
        scored = sorted(((len(parts & set(r.name.split("_"))), r.name) for r in matches), reverse=True)
        if scored and (len(scored) == 1 or scored[0][0] > scored[1][0]):
            out[fusion.name] = scored[0][1]
    return out


def transcript_quality(
    recipe: Recipe, table: pd.DataFrame, transcripts: pd.DataFrame | None, test_ids: Sequence[str]
) -> dict[str, Any] | None:
    """``{"transcripts", "wer", "n_utterances", ...}`` for a system reading text (None for audio-only).

    ``wer`` is None for human transcripts (the reference) and when the table has no human transcript for the
    test utterances (``note`` says so).
    """
    inputs = {f.input for f in recipe.features.values() if f.input in TEXT_INPUTS}
    if not inputs:
        return None
    if not inputs & set(ASR_INPUTS):
        return {"transcripts": "human", "wer": None, "n_utterances": len(test_ids)}
    source = recipe.text_source
    what = f"ASR: {source.backend} {source.model or 'Whisper tiny.en (offline default)'}"
    hyp = (
        {}
        if transcripts is None
        else dict(zip(transcripts["utterance_id"].astype(str), transcripts["text"], strict=True))
    )
    ref = dict(zip(table["utterance_id"].astype(str), table["transcript"], strict=True))
    ids = [u for u in dict.fromkeys(test_ids) if isinstance(ref.get(u), str) and isinstance(hyp.get(u), str)]
    if not ids:
        return {"transcripts": what, "wer": None, "n_utterances": 0, "note": "no human transcripts to score"}
    from emofuse.transcribe.wer import word_error_rate

    result = word_error_rate([ref[u] for u in ids], [hyp[u] for u in ids])
    return {"transcripts": what, **result.to_dict()}


def _earlier_recipes(out: Path, skip: set[str]) -> list[Recipe]:
    found: dict[str, Recipe] = {}
    for path in sorted(out.glob("*/seed*/fold*/recipe.json")):
        system = path.parent.parent.parent.name
        if system in skip or system in found or not (path.parent / "done.json").is_file():
            continue
        try:
            found[system] = Recipe.model_validate(read_json(path))
        except (OSError, ValueError):
            continue  # a recipe of another emofuse version: left out of the pairing
    return list(found.values())


def report_extras(
    recipes: Sequence[Recipe],
    out: Path,
    table: pd.DataFrame,
    transcripts: pd.DataFrame | None,
    folds: Sequence[Fold],
) -> dict[str, Any]:
    """``{"audio_baselines": ..., "transcript_quality": ...}`` for :func:`emofuse.evaluate.write_report`."""
    test_ids = [u for f in folds for u in f.test]
    for recipe in recipes:
        quality = transcript_quality(recipe, table, transcripts, test_ids)
        if quality is not None:
            atomic_write_json(out / recipe.name / QUALITY_FILE, quality)
    names = {r.name for r in recipes}
    quality_of = {}
    for path in sorted(out.glob(f"*/{QUALITY_FILE}")):
        try:
            data = read_json(path)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            wer = data.get("wer")
            quality_of[path.parent.name] = {**data, "wer": None if wer is None or math.isnan(wer) else wer}
    return {
        "audio_baselines": audio_baselines([*recipes, *_earlier_recipes(out, names)]),
        "transcript_quality": quality_of,
    }


__all__ = ["audio_baselines", "report_extras", "transcript_quality"]
