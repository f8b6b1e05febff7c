"""What a user with their own corpus meets: given folds in `emofuse run`, a paper's protocol on another corpus,
the leak error's switch, a second run into the same folder, and the user-level text encoder default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from emofuse.cli.run import _given_folds, _warn_paper_protocol
from emofuse.errors import CorpusError
from emofuse.recipes import TEXT_MODEL_ENV, load_recipe
from emofuse.train.runner import run_experiment

TINY_AUDIO = [
    "features.audio.encoder=fake.audio",
    "model.branches.audio.params={filters: [8, 6], kernel_sizes: [3, 3]}",
    "training.max_epochs=1",
    "training.batch_size=8",
    "training.warmup_steps=0",
]
SVM = ["features.audio.encoder=fake.audio", "data.label_map={excited: happy}"]


def test_given_folds_in_run_and_paper_protocol_warning(tiny_corpus: Any) -> None:
    recipe = load_recipe("pepino2020/audio", TINY_AUDIO)
    folds = _given_folds(tiny_corpus.table, "leave-one-speaker-out", recipe)
    assert len(folds) == tiny_corpus.table["speaker"].nunique() == 8
    console = Console(record=True, width=400)
    _warn_paper_protocol(console, [recipe], tiny_corpus.table)
    text = console.export_text()
    assert "default protocol 'iemocap'" in text and "--protocol leave-one-speaker-out" in text
    quiet = Console(record=True, width=400)
    _warn_paper_protocol(quiet, [load_recipe("baseline/egemaps_svm", SVM)], tiny_corpus.table)
    assert quiet.export_text() == ""  # a corpus-agnostic default protocol says nothing


def test_leak_error_names_the_real_switch(tiny_corpus: Any, tmp_path: Path) -> None:
    table = tiny_corpus.table.copy()
    table["script"] = "script01_1"  # every speaker reads the same script: speaker folds leak it
    recipe = load_recipe("pepino2020/audio", [*TINY_AUDIO, "protocols.iemocap.kind=speaker-kfold"])
    with pytest.raises(CorpusError, match=r"pass --set protocols\.iemocap\.strict_leaks=false to only warn"):
        run_experiment(recipe, table, None, tiny_corpus.store, tmp_path, encoder_ids=tiny_corpus.encoder_ids)


def test_second_run_keeps_earlier_systems_in_report(tiny_corpus: Any, tmp_path: Path) -> None:
    common = dict(seeds=[0], encoder_ids=tiny_corpus.encoder_ids, progress=False)
    folds = tiny_corpus.folds[:1]
    svm = load_recipe("baseline/egemaps_svm", SVM)
    run_experiment(svm, tiny_corpus.table, folds, tiny_corpus.store, tmp_path, **common)
    audio = load_recipe("pepino2020/audio", TINY_AUDIO)
    second = run_experiment(audio, tiny_corpus.table, folds, tiny_corpus.store, tmp_path, **common)
    assert set(second.report.summary) == {"egemaps_svm", "audio"}
    report_md = (tmp_path / "report.md").read_text()
    assert "egemaps_svm" in report_md and "audio" in report_md
    # runs on other folds are not mixed into the table
    other = run_experiment(
        audio, tiny_corpus.table, tiny_corpus.folds[1:], tiny_corpus.store, tmp_path / "x", **common
    )
    assert set(other.report.summary) == {"audio"}


def test_user_level_text_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TEXT_MODEL_ENV, "/models/my-bert")
    recipe = load_recipe("pepino2020/text_bert")
    assert recipe.features["text"].encoder["model"] == "/models/my-bert"
    explicit = load_recipe("pepino2020/text_bert", ["features.text.encoder.model=bert-base-uncased"])
    assert explicit.features["text"].encoder["model"] == "bert-base-uncased"
    monkeypatch.setenv(TEXT_MODEL_ENV, "minilm")
    assert "model" not in load_recipe("pepino2020/text_bert").features["text"].encoder  # offline MiniLM
    monkeypatch.delenv(TEXT_MODEL_ENV)
    assert load_recipe("pepino2020/text_bert").features["text"].encoder["model"] == "bert-base-uncased"


def test_export_is_chosen_by_dev_and_retrained_on_all(tiny_corpus: Any, tmp_path: Path) -> None:
    from emofuse.serve.honest_export import MODEL_CARD, SELECTION_FILE, export_chosen
    from emofuse.serve.package import load_model
    from emofuse.train.selection import choose_system

    common = dict(seeds=[0], encoder_ids=tiny_corpus.encoder_ids, progress=False)
    recipes = [load_recipe("baseline/egemaps_svm", SVM), load_recipe("pepino2020/audio", TINY_AUDIO)]
    runs = tmp_path / "runs"
    run_experiment(recipes, tiny_corpus.table, tiny_corpus.folds, tiny_corpus.store, runs, **common)
    # make the dev scores disagree with the test scores: the choice must follow dev
    for system, dev_uar, test_uar in (("egemaps_svm", 0.9, 0.1), ("audio", 0.2, 0.99)):
        for metrics_path in (runs / system).glob("seed0/fold*/metrics.json"):
            m = json.loads(metrics_path.read_text())
            m["dev"]["uar"], m["test"]["uar"] = dev_uar, test_uar
            metrics_path.write_text(json.dumps(m))
    selection = choose_system(runs, ["egemaps_svm", "audio"])
    assert selection.system == "egemaps_svm" and selection.scores == {"egemaps_svm": 0.9, "audio": 0.2}
    assert "dev" in selection.by

    package, chosen = export_chosen(
        recipes,
        tiny_corpus.table,
        tiny_corpus.store,
        runs,
        tmp_path / "model",
        encoder_ids=tiny_corpus.encoder_ids,
    )
    assert chosen.system == "egemaps_svm"
    final = json.loads((runs / "_final" / "egemaps_svm" / "seed0" / "fold1" / "metrics.json").read_text())
    n_labelled = len(tiny_corpus.table)
    assert final["n_train"] + final["n_dev"] == n_labelled  # every utterance, none held out for testing
    card = (package / MODEL_CARD).read_text()
    assert "egemaps_svm (chosen)" in card and "retrained once on all labelled utterances" in card
    # one card (README.md): its "test" part was its own training data, so no figure of this run is shown
    assert card.count("# emofuse model") == 1 and "## How this model was chosen" in card
    assert "no held-out figure of them exists" in card and "This run (one seed, one fold)" not in card
    assert json.loads((package / SELECTION_FILE).read_text())["system"] == "egemaps_svm"
    assert load_model(package, build_encoders=False).config.labels == list(recipes[0].data.labels)


def test_cross_corpus_train_on_one_test_on_other(tiny_corpus: Any, tmp_path: Path) -> None:
    from emofuse.corpus.cross import cross_corpus_split

    table = tiny_corpus.table
    first = table["speaker"].isin([f"spk{i}" for i in range(4)])
    train_corpus = table[first].reset_index(drop=True)
    test_corpus = table[~first].reset_index(drop=True).assign(corpus="other")
    test_corpus["label"] = test_corpus["label"].replace({"sad": "triste"})
    test_corpus.loc[0, "utterance_id"] = train_corpus.loc[0, "utterance_id"]  # ids may collide across corpora
    joined, folds = cross_corpus_split(
        train_corpus, test_corpus, label_map={"Triste": "sad"}, dev_fraction=0.25, seed=0
    )
    (fold,) = folds
    assert len(fold.test) == len(test_corpus) and all(u.startswith("other:") for u in fold.test)
    assert sorted((*fold.train, *fold.dev)) == sorted(train_corpus["utterance_id"])
    assert len(fold.dev) == 4  # one of the 4 training speakers
    by_id = joined.set_index("utterance_id")
    assert "triste" not in set(by_id.loc[list(fold.test), "label"])
    assert not set(by_id.loc[list(fold.test), "speaker"]) & set(train_corpus["speaker"])
    result = run_experiment(
        load_recipe("baseline/egemaps_svm", SVM),
        joined,
        folds,
        tiny_corpus.store,
        tmp_path,
        seeds=[0],
        encoder_ids=tiny_corpus.encoder_ids,
        progress=False,
    )
    preds = result.predictions
    assert set(preds["utterance_id"]) == set(fold.test) and "sad" in set(preds["label"])


def test_text_only_and_audio_only_rows(tiny_corpus: Any, tmp_path: Path) -> None:
    from emofuse.corpus.table import make_table

    records = tiny_corpus.table.to_dict(orient="records")
    for r in records[:16]:
        r["audio_path"] = None  # text-only rows: a dialogue-transcript corpus
    for r in records[16:24]:
        r["transcript"] = None  # audio-only rows
    mixed = make_table(records)
    folds = tiny_corpus.folds  # the same folds over the mixed table
    common = dict(seeds=[0], encoder_ids=tiny_corpus.encoder_ids, progress=False, report=False)
    text_rows = {r["utterance_id"] for r in records if r["transcript"] is not None}
    audio_rows = {r["utterance_id"] for r in records if r["audio_path"] is not None}
    text = load_recipe(
        "pepino2020/text_bert",
        [
            "features.text.encoder=fake.text",
            "model.branches.text.params={proj_dim: 8, filters: [8, 8], kernel_sizes: [3, 3]}",
            "training.max_epochs=1",
        ],
    )
    with pytest.raises(CorpusError, match="have no text"):  # the text branch needs every row's text
        run_experiment(text, mixed, folds, tiny_corpus.store, tmp_path / "t", **common)
    only_text = mixed[mixed["transcript"].notna()].reset_index(drop=True)
    fold_t = [
        type(f)(f.name, *(tuple(u for u in p if u in text_rows) for p in (f.train, f.dev, f.test)))
        for f in folds
    ]
    res = run_experiment(text, only_text, fold_t, tiny_corpus.store, tmp_path / "t", **common)
    assert set(res.predictions["utterance_id"]) == set(fold_t[0].test) | set(fold_t[1].test)
    assert any(
        u not in audio_rows for u in res.predictions["utterance_id"]
    )  # trained and tested without audio
    audio = load_recipe("pepino2020/audio", TINY_AUDIO)
    res_a = run_experiment(audio, mixed, folds, tiny_corpus.store, tmp_path / "a", **common)
    assert set(res_a.predictions["utterance_id"]) <= audio_rows  # text-only rows skipped by the audio branch
    assert any(
        u not in text_rows for u in res_a.predictions["utterance_id"]
    )  # audio rows without transcripts


def test_rows_need_audio_or_text() -> None:
    from emofuse.corpus.table import make_table

    with pytest.raises(CorpusError, match="neither audio_path nor transcript"):
        make_table([{"utterance_id": "a", "label": "sad"}])


def test_whisper_recipe_trains_layer_weights_on_pooled_layers(tiny_corpus: Any, tmp_path: Path) -> None:
    import numpy as np

    from emofuse.encoders import FeatureStore
    from emofuse.hashing import audio_key

    # [L=5, 1, 2D=12] per utterance, as whisper_layers / ssl with pooling mean_std give; layer 3 carries the class
    store = FeatureStore(tmp_path / "store")
    rng = np.random.default_rng(0)
    labels = ["angry", "happy", "sad", "neutral"]
    for row in tiny_corpus.table.itertuples(index=False):
        x = rng.standard_normal((5, 1, 12)).astype(np.float32)
        x[3, 0, labels.index("happy" if row.label == "excited" else row.label)] += 3.0
        store.put("fakelayers-0001", audio_key(row.audio_path), x)
    recipe = load_recipe(
        "emofuse/whisper",
        ["features.audio.encoder=fake.layers", "training.max_epochs=15", "data.label_map={excited: happy}"],
    )
    result = run_experiment(
        recipe,
        tiny_corpus.table,
        tiny_corpus.folds[:1],
        store,
        tmp_path / "out",
        seeds=[0],
        encoder_ids={"fake.layers": "fakelayers-0001"},
        progress=False,
        report=False,
    )
    run = tmp_path / "out" / "whisper" / "seed0" / "fold1"
    config = json.loads((run / "run_config.json").read_text())
    assert config["model"]["branches"]["audio"]["params"]["num_layers"] == 5  # read from the features
    from safetensors.numpy import load_file

    weights = load_file(str(run / "model.safetensors"))["branches.audio.layer_weighting.raw_weights"]
    assert int(np.argmax(weights)) == 3  # the learned layer weights found the informative layer
    assert result.runs["status"].tolist() == ["trained"]
