"""Every shipped recipe runs on the demo corpus (`emofuse run RECIPE --demo`), one epoch, one seed.

Tiny settings keep this affordable: 4 espeak-ng speakers x 4 classes x 2 utterances (2 sessions, scripted and
improvised lines, a predefined split, A/V/D labels), features shared by every recipe through one store, the hub
models replaced by their offline stand-ins (MiniLM for BERT-family text and GloVe, the Whisper tiny.en encoder for
SSL speech models), and the ASR recipes' transcripts made once with offline Whisper tiny.en.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from emofuse.synth import espeak_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed"),
]
pytest.importorskip("opensmile")

# max_steps=null: makiuchi2021 counts training in iterations (1 M); one epoch here
TINY = ["training.max_epochs=1", "training.max_steps=null", "training.batch_size=8", "protocol.k=2"]


def _groups() -> list[list[str]]:
    """The shipped recipes grouped as one `emofuse run` each: same task, labels and protocol."""
    from emofuse.encoders.availability import hub_model
    from emofuse.recipes import list_recipes, load_recipe

    groups: dict[str, list[str]] = {}
    for name in list_recipes():
        r = load_recipe(name, offline_substitutes=True)
        if any(hub_model(f.encoder) for f in r.features.values()):
            continue  # fine-tuned SSL: no offline stand-in (test_fine_tuned_ssl_recipes_stop_before_any_work)
        key = f"{r.paper}|{r.data.task}|{r.data.labels}|{r.data.avd_names}|{r.protocol.model_dump_json()}"
        groups.setdefault(key, []).append(name)
    return list(groups.values())


def _short_adaptation(recipe: Any) -> Any:
    """The recipe with its MLM stage (perez2022's learned [SIL], ``encoder.adapt``) cut to 2 epochs."""
    features = {}
    for name, feat in recipe.features.items():
        enc = feat.encoder
        if isinstance(enc, dict) and enc.get("adapt"):
            feat = feat.model_copy(update={"encoder": {**enc, "adapt": {**enc["adapt"], "epochs": 2}}})
        features[name] = feat
    return recipe.model_copy(update={"features": features})


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo")


@pytest.mark.parametrize("names", _groups(), ids=lambda names: f"{names[0].split('/')[0]}-{len(names)}")
def test_every_shipped_recipe_runs_on_the_demo_corpus(names: list[str], demo: Path) -> None:
    from emofuse.corpus.leaks import LeakWarning
    from emofuse.encoders import FeatureStore
    from emofuse.recipes import load_recipes
    from emofuse.train.demo import prepare_demo
    from emofuse.train.runner import run_experiment

    notes: list[str] = []
    recipes = [
        _short_adaptation(r) for r in load_recipes(names, TINY, offline_substitutes=True, substitutions=notes)
    ]
    for r in recipes:  # nothing left that needs the hub or a missing file
        for feat in r.features.values():
            spec = feat.encoder if isinstance(feat.encoder, dict) else {"kind": feat.encoder}
            assert spec.get("kind") not in ("glove", "ssl"), (r.name, spec)
            assert spec.get("kind") != "text" or spec.get("model") is None, (r.name, spec)
    data = prepare_demo(
        recipes, demo / "corpus", n_speakers=4, utterances_per_speaker_per_class=2, progress=False
    )
    assert (data.transcripts is not None) == any(
        f.input in ("asr", "asr_sil") for r in recipes for f in r.features.values()
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LeakWarning)
        result = run_experiment(
            recipes,
            data.table,
            None,
            FeatureStore(demo / "features"),
            demo / "runs" / names[0].split("/")[0] / names[0].split("/")[1],
            seeds=1,
            transcripts=data.transcripts,
            progress=False,
        )
    assert set(result.runs["system"]) == {r.name for r in recipes}
    assert set(result.runs["status"]) == {"trained"}
    preds = result.predictions
    assert preds is not None and len(preds) > 0
    metric = "uar" if recipes[0].data.task == "classes" else f"ccc_{recipes[0].data.avd_names[0]}"
    for system, per_metric in result.report.summary.items():
        assert math.isfinite(per_metric[metric]["median"]), (system, metric)


def test_pepino2020_fold_criteria_study_on_the_demo_corpus(demo: Path) -> None:
    """Fig. 2: RAND shares speakers, SP shares scripts but no speaker, SP&SC shares neither; the report says which."""
    from emofuse.corpus.leaks import LeakWarning, check_leaks
    from emofuse.encoders import FeatureStore
    from emofuse.recipes import load_recipe
    from emofuse.train.demo import prepare_demo
    from emofuse.train.folds import folds_for
    from emofuse.train.runner import run_experiment

    recipes = {
        p: load_recipe("pepino2020/folds_text_small", TINY, protocol=p, offline_substitutes=True)
        for p in ("rand", "sp", "spsc")
    }
    data = prepare_demo(
        list(recipes.values()),
        demo / "corpus",
        n_speakers=4,
        utterances_per_speaker_per_class=2,
        progress=False,
    )
    shared = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LeakWarning)
        for p, r in recipes.items():
            leaks = check_leaks(data.table, folds_for(None, data.table, r))
            shared[p] = (
                any(f.speakers for f in leaks.folds),
                any(f.scripts for f in leaks.folds),
            )
            result = run_experiment(
                [r],
                data.table,
                None,
                FeatureStore(demo / "features"),
                demo / "folds" / p,
                seeds=1,
                progress=False,
            )
            assert f"Protocol: {r.protocol.kind};" in result.report.markdown_path.read_text()
    assert shared == {"rand": (True, True), "sp": (False, True), "spsc": (False, False)}


def test_fine_tuned_ssl_recipes_stop_before_any_work(demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No offline SSL model can be fine-tuned: those recipes name their model and stop before folds or features."""
    import emofuse.encoders.availability as availability
    from emofuse.encoders import FeatureStore
    from emofuse.encoders.availability import hub_model
    from emofuse.errors import ModelLoadError
    from emofuse.recipes import list_recipes, load_recipe
    from emofuse.train.runner import run_experiment

    monkeypatch.setenv("EMOFUSE_OFFLINE", "1")
    monkeypatch.setattr(availability, "is_cached", lambda model_id: False)
    left = [
        r
        for r in (load_recipe(n, offline_substitutes=True) for n in list_recipes())
        if any(hub_model(f.encoder) for f in r.features.values())
    ]
    assert left and all(r.training.mode == "end_to_end" for r in left)
    for r in left:
        with pytest.raises(ModelLoadError, match="is not in the local Hugging Face cache"):
            run_experiment([r], pd.DataFrame(), None, FeatureStore(demo / "unused"), demo / "ft" / r.name)
        assert not (demo / "ft" / r.name).exists()
