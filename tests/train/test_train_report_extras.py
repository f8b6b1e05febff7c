"""The runner's deoliveira2023 report inputs: audio-only baselines (Fig. 3) and transcript WER (Table 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from emofuse.corpus.protocols import Fold
from emofuse.recipes import list_recipes, load_recipe
from emofuse.recipes.schema import Recipe
from emofuse.train.report_extras import audio_baselines, report_extras, transcript_quality
from emofuse.train.runner import run_experiment

EXPECTED = {
    **{f"fusion_{m}": f"audio_{m}" for m in ("distilhubert", "hubert", "w2v2")},
    **{f"fusion_{m}_ft": f"audio_{m}_ft" for m in ("distilhubert", "hubert", "w2v2")},
    **{f"fusion_{m}_ft_frz": f"audio_{m}_ft" for m in ("distilhubert", "hubert", "w2v2")},
    "fusion_distilhubert_asr": "audio_distilhubert",
}


@pytest.mark.parametrize("offline", [False, True])
def test_deoliveira2023_fusion_systems_pair_with_their_audio_only_system(offline: bool) -> None:
    names = [n for n in list_recipes() if n.startswith("deoliveira2023/")]
    recipes = [load_recipe(n, offline_substitutes=offline) for n in names]
    # offline, every SSL model is the same stand-in: the names still tell the pairs apart
    assert audio_baselines(recipes) == EXPECTED


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "utterance_id": ["a", "b", "c", "d"],
            "transcript": ["the cat sat", "dogs bark loudly", "hello there", None],
        }
    )


def test_transcript_quality_scores_asr_text_of_test_utterances() -> None:
    human = load_recipe("deoliveira2023/fusion_distilhubert")
    asr = load_recipe("deoliveira2023/fusion_distilhubert_asr")
    transcripts = pd.DataFrame(
        {"utterance_id": ["a", "b", "c", "d"], "text": ["The cat sat.", "dogs park", "hello there", "x"]}
    )
    assert (
        transcript_quality(load_recipe("deoliveira2023/audio_hubert"), _table(), transcripts, ["a"]) is None
    )
    assert transcript_quality(human, _table(), None, ["a", "b"]) == {
        "transcripts": "human",
        "wer": None,
        "n_utterances": 2,
    }
    # test a, b, d: d has no human transcript; c is not a test utterance. 1 substitution + 1 deletion over 6 words
    q = transcript_quality(asr, _table(), transcripts, ["a", "b", "d"])
    assert q is not None and q["transcripts"].startswith("ASR: faster-whisper")
    assert q["wer"] == pytest.approx(2 / 6) and q["n_utterances"] == 2 and q["n_reference_words"] == 6


def test_report_extras_keep_earlier_systems_wer(tmp_path: Path) -> None:
    fold = Fold("f", train=("c",), dev=(), test=("a", "b"))
    asr = load_recipe("deoliveira2023/fusion_distilhubert_asr")
    transcripts = pd.DataFrame({"utterance_id": ["a", "b", "c"], "text": ["the cat sat", "dogs bark", "hi"]})
    first = report_extras([asr], tmp_path, _table(), transcripts, [fold])
    assert json.loads((tmp_path / "fusion_distilhubert_asr" / "transcripts.json").read_text())["wer"] == 1 / 6
    human = load_recipe("deoliveira2023/fusion_distilhubert")
    later = report_extras([human], tmp_path, _table(), None, [fold])  # another call into the same --out
    assert later["transcript_quality"]["fusion_distilhubert_asr"] == first["transcript_quality"][asr.name]
    assert later["transcript_quality"]["fusion_distilhubert"]["transcripts"] == "human"


def _avd_recipe(name: str, features: dict[str, Any]) -> Recipe:
    branches = {n: {"type": "mean_max", "params": {"pooling": "mean_max"}} for n in features}
    return Recipe.model_validate(
        {
            "name": name,
            "data": {"task": "avd", "avd_names": ["arousal", "valence", "dominance"]},
            "features": features,
            "model": {
                "branches": branches,
                "fusion": "none" if len(features) == 1 else "early",
                "fusion_params": {"hidden": 8},
                "head": {"type": "avd", "params": {"hidden": 8}},
            },
            "training": {"max_epochs": 2, "batch_size": 8, "seeds": [0, 1], "lr": 1e-2},
            "protocol": {"kind": "random-kfold", "k": 2},
        }
    )


def test_runner_report_has_the_relative_valence_plot_and_transcripts(
    tiny_corpus: Any, tmp_path: Path
) -> None:
    audio = {"audio": {"encoder": "fake.audio", "input": "audio"}}
    text = {"text": {"encoder": "fake.text", "input": "transcript"}}
    # two calls into one folder: the second pairs its fusion system with the first call's audio-only system
    for recipe in (_avd_recipe("audio_only", audio), _avd_recipe("audio_text", {**audio, **text})):
        result = run_experiment(
            recipe,
            tiny_corpus.table,
            tiny_corpus.folds,
            tiny_corpus.store,
            tmp_path,
            encoder_ids=tiny_corpus.encoder_ids,
            extract_missing=False,
            progress=False,
        )
    report = result.report
    assert report is not None
    (plot,) = report.plots["relative_improvement"]
    assert plot.is_file()
    data = json.loads(report.json_path.read_text())
    (row,) = data["relative_improvement"]
    valence = {s: report.summary[s]["ccc_valence"]["median"] for s in ("audio_only", "audio_text")}
    assert (row["system"], row["baseline"]) == ("audio_text", "audio_only")
    expected = 100 * (valence["audio_text"] - valence["audio_only"]) / abs(valence["audio_only"])
    assert row["relative_pct"] == pytest.approx(expected)
    assert [(r["system"], r["transcripts"], r["wer"]) for r in data["transcripts"]] == [
        ("audio_text", "human", None)
    ]
