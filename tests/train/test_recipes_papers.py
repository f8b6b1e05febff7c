"""The recipes of kumar2021, deoliveira2023, perez2022 and makiuchi2021: they load, and each paper's system
trains end to end through ``run_experiment`` on a tiny corpus whose features sit in a FeatureStore directly
(the encoders are swapped for fake ids with the real shapes: ``[L, T, D]`` SSL layers, ``[T, D]`` frames and
tokens, ``[D]`` pooled vectors), 1 seed x 2 folds x 1-2 epochs.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emofuse.audio import write_wav
from emofuse.corpus.leaks import check_leaks
from emofuse.corpus.protocols import Fold, random_kfold
from emofuse.corpus.table import make_table
from emofuse.encoders import FeatureStore
from emofuse.encoders.extract import paired_key
from emofuse.errors import ConfigError
from emofuse.hashing import audio_key, text_key
from emofuse.recipes import list_recipes, load_recipe
from emofuse.train.rundir import RunDir
from emofuse.train.runner import run_experiment
from emofuse.train.targets import binned_targets
from emofuse.transcribe.source import TextSource

# the settings the hand-made transcripts stand for: the recipes' default text source
MADE_WITH = TextSource().model_dump(mode="json")

PAPERS = ("kumar2021", "deoliveira2023", "perez2022", "makiuchi2021")
CLASSES = ["angry", "happy", "sad", "neutral"]
N_UTT = 40
# fake encoder spec -> (encoder id, input kind, shape maker)
SHAPES = {
    "fake.mel": ("audio", lambda t: (t, 8)),
    "fake.mfcc": ("audio", lambda t: (t, 5)),
    "fake.chroma": ("audio", lambda t: (t, 4)),
    "fake.ssl3": ("audio", lambda t: (3, t, 16)),  # DistilHuBERT-like: conv output + 2 layers
    "fake.ssl4": ("audio", lambda t: (4, t, 16)),
    "fake.egemaps": ("audio", lambda t: (10,)),
    "fake.cls": ("text", lambda t: (12,)),  # pooled sentence vector
    "fake.tokens": ("text", lambda t: (max(t // 4, 3), 12)),  # token features
    "fake.speaker": ("audio", lambda t: (16,)),  # makiuchi2021's speaker embedding
    "fake.logmel": ("audio", lambda t: (t, 6)),  # its reconstruction target
    "fake.phones": ("audio_text", lambda t: (t, 1)),  # its phone ids (values made ids below)
}
ENCODER_IDS = {spec: spec.replace(".", "-") + "-0001" for spec in SHAPES}
COMMON = ["training.max_epochs=2", "training.batch_size=8", "training.seeds=1"]


@dataclass
class PaperCorpus:
    table: pd.DataFrame
    transcripts: pd.DataFrame
    store: FeatureStore
    folds: list[Fold]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> PaperCorpus:
    root: Path = tmp_path_factory.mktemp("papers_corpus")
    rng = np.random.default_rng(11)
    store = FeatureStore(root / "store")
    records, trans = [], []
    for i in range(N_UTT):
        label = ["angry", "excited", "sad", "neutral"][i % 4]
        cls = CLASSES.index("happy" if label == "excited" else label)
        uid = f"u{i:03d}"
        wav = root / "wav" / f"{uid}.wav"
        wav.parent.mkdir(exist_ok=True)
        write_wav(wav, (0.01 * rng.standard_normal(400 + i)).astype(np.float32), 16_000)
        text = f"utterance {i} is {label}"
        asr = f"utterance {i} is {label} maybe"
        asr_sil = f"utterance {i} [SIL] is {label} maybe"
        records.append(
            dict(
                utterance_id=uid,
                audio_path=str(wav),
                speaker=f"spk{i % 8}",
                session=f"Ses{i % 8 // 2 + 1:02d}",
                transcript=text,
                label=label,
                arousal=1.0 + cls + 0.3 * rng.standard_normal(),
                valence=4.0 - cls + 0.3 * rng.standard_normal(),
                dominance=3.0 + 0.5 * rng.standard_normal(),
            )
        )
        trans.append(
            dict(utterance_id=uid, text=asr, text_with_sil=asr_sil, silence_ratio=0.1, text_source=MADE_WITH)
        )
        t = int(rng.integers(10, 20))
        keys = {
            "audio": [audio_key(wav)],
            "text": [text_key(text), text_key(asr), text_key(asr_sil)],
            "audio_text": [paired_key(audio_key(wav), text)],
        }
        for spec, (kind, shape) in SHAPES.items():
            arr = rng.standard_normal(shape(t)).astype(np.float32)
            if spec == "fake.phones":
                arr = rng.integers(0, 10, shape(t)).astype(np.float32)
            else:
                arr[..., cls] += 1.5  # the class shows in every modality
            for key in keys[kind]:
                store.put(ENCODER_IDS[spec], key, arr)
    table = make_table(records, corpus="papers")
    ids = {s: tuple(table.loc[table["speaker"] == s, "utterance_id"]) for s in sorted(set(table["speaker"]))}

    def part(speakers: list[int]) -> tuple[str, ...]:
        return tuple(u for s in speakers for u in ids[f"spk{s}"])

    folds = [
        Fold("fold_a", train=part([0, 1, 2, 3, 4]), dev=part([5]), test=part([6, 7])),
        Fold("fold_b", train=part([2, 3, 4, 5, 6]), dev=part([7]), test=part([0, 1])),
    ]
    return PaperCorpus(table, pd.DataFrame(trans), store, folds)


def _fake(branch: str, spec: str) -> str:
    return f"features.{branch}.encoder={spec}"


def _run(corpus: PaperCorpus, names: list[str], overrides: list[str], out: Path, folds="fixed"):  # noqa: ANN001, ANN202
    from emofuse.recipes import load_recipes

    recipes = load_recipes(names, [*COMMON, *overrides])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_experiment(
            recipes,
            corpus.table,
            corpus.folds if folds == "fixed" else folds,
            corpus.store,
            out,
            transcripts=corpus.transcripts,
            encoder_ids=ENCODER_IDS,
            extract_missing=False,
            progress=False,
            report=False,
            torch_threads=1,
        )


def _read(run_dir: Path, name: str) -> dict:
    return json.loads((run_dir / name).read_text())


# ------------------------------------------------------------------------------------------- loading
@pytest.mark.parametrize("paper", PAPERS)
def test_every_recipe_of_the_paper_loads(paper: str) -> None:
    names = [n for n in list_recipes() if n.startswith(f"{paper}/")]
    assert len(names) >= 2, names
    for name in names:
        recipe = load_recipe(name)
        assert recipe.paper == paper
        assert recipe.name == name.split("/")[1]
        assert set(recipe.features) == recipe.model.input_names()
        assert (Path(load_recipe.__code__.co_filename).parent / paper / "README.md").is_file()


def test_recipes_name_the_papers_models() -> None:
    assert load_recipe("kumar2021/multimodal").features["text"].encoder["model"] == "bert-base-uncased"
    fused = load_recipe("deoliveira2023/fusion_distilhubert")
    assert fused.features["audio"].encoder == {
        "kind": "ssl",
        "model": "ntu-spml/distilhubert",
        "layers": [-1],  # Table 1: the encoder output, no layer weights
    }
    layers = load_recipe("deoliveira2023/layers_distilhubert_valence")  # Fig. 2: all layers, one dimension
    assert layers.features["audio"].encoder["layers"] == "all" and layers.data.avd_names == ["valence"]
    assert layers.model.branches["audio"].params["layer_mode"] == "softmax"  # weights sum to one
    assert fused.features["text"].encoder["model"] == "huawei-noah/TinyBERT_General_4L_312D"
    sil = load_recipe("perez2022/bert_sil_ccc").features["text"]
    assert sil.input == "asr_sil" and sil.encoder["sil_token"] is True
    assert load_recipe("perez2022/bert_ccc").features["text"].input == "asr"
    assert (
        load_recipe("makiuchi2021/speech").features["speech"].encoder["model"]
        == "facebook/wav2vec2-large-lv60"
    )
    # the offline override of the papers' text models
    r = load_recipe("kumar2021/multimodal", ["features.text.encoder.model=minilm"])
    assert "model" not in r.features["text"].encoder


def test_kumar_protocols_speaker_dependent_and_independent() -> None:
    assert load_recipe("kumar2021/multimodal").protocol.kind == "random-kfold"
    assert load_recipe("kumar2021/multimodal_si").protocol.kind == "loso"


def test_makiuchi_fusion_branches_match_single_models() -> None:
    """The fusion systems load the speech and text runs strictly: their branches must be the same."""
    speech, text = load_recipe("makiuchi2021/speech"), load_recipe("makiuchi2021/text")
    for name in ("makiuchi2021/fusion", "makiuchi2021/fusion_fixed"):
        fusion = load_recipe(name)
        assert fusion.model.branches["speech"] == speech.model.branches["speech"]
        assert fusion.model.branches["text"] == text.model.branches["text"]
        assert fusion.features["speech"] == speech.features["speech"]
        assert fusion.features["text"] == text.features["text"]


def test_schema_rejects_inconsistent_paper_options() -> None:
    with pytest.raises(ConfigError, match="tune_dev needs model.fusion: score"):
        load_recipe("kumar2021/multimodal", ["training.score_weights=tune_dev"])
    with pytest.raises(ConfigError, match="n_bins is 3 but labels name 2"):
        load_recipe("perez2022/bert_binned", ["data.labels=[low, high]"])


# ------------------------------------------------------------------------------------------- helpers
def test_binned_targets_use_training_quantiles_only(corpus: PaperCorpus) -> None:
    fold = corpus.folds[0]
    targets, edges = binned_targets(corpus.table, "arousal", 3, fold.train)
    train_values = corpus.table.set_index("utterance_id").loc[list(fold.train), "arousal"].to_numpy()
    assert edges == pytest.approx(list(np.quantile(train_values, [1 / 3, 2 / 3])))
    counts = np.bincount([int(targets[u]) for u in fold.train], minlength=3)
    assert counts.min() >= len(fold.train) // 3 - 1  # equal-count bins on the training part
    # a test utterance above the top edge is "high"
    top = corpus.table.loc[corpus.table["arousal"] > edges[1], "utterance_id"].iloc[0]
    assert int(targets[top]) == 2


def test_random_kfold_covers_every_utterance_once(corpus: PaperCorpus) -> None:
    recipe = load_recipe("kumar2021/multimodal", ["protocol.k=4"])
    assert recipe.protocol.kind == "random-kfold"
    folds = random_kfold(corpus.table, n_folds=4, seed=0, dev_fraction=0.1)
    with pytest.warns(Warning):
        check_leaks(corpus.table, folds, strict=False)
    tests = [u for f in folds for u in f.test]
    assert sorted(tests) == sorted(corpus.table["utterance_id"])
    for f in folds:
        assert not set(f.test) & (set(f.train) | set(f.dev))
        assert len(f.dev) == round(0.1 * (len(f.train) + len(f.dev)))
    # speaker-dependent by design: test speakers appear in training
    spk = dict(zip(corpus.table["utterance_id"], corpus.table["speaker"], strict=True))
    assert {spk[u] for u in folds[0].test} & {spk[u] for u in folds[0].train}


# ------------------------------------------------------------------------------------------ end to end
def test_kumar2021_end_to_end_random_folds(corpus: PaperCorpus, tmp_path: Path) -> None:
    over = [
        _fake("mel", "fake.mel"),
        _fake("mfcc", "fake.mfcc"),
        _fake("chroma", "fake.chroma"),
        _fake("text", "fake.cls"),
        *[f"model.branches.{b}.params={{hidden: 8, out_dim: 8}}" for b in ("mel", "mfcc", "chroma")],
        "model.fusion_params.hidden=16",
        "protocol.k=2",
    ]
    # folds=None: the runner makes the recipe's random 2-fold split itself (protocol.k=2)
    res = _run(corpus, ["kumar2021/multimodal"], over, tmp_path, folds=None)
    assert list(res.runs["fold"]) == ["fold1", "fold2"]
    assert list(res.runs["status"]) == ["trained", "trained"]
    preds = res.predictions
    assert len(preds) == N_UTT  # every utterance tested once over the 2 random folds
    assert {f"p_{c}" for c in CLASSES} <= set(preds.columns)
    assert np.allclose(preds[[f"p_{c}" for c in CLASSES]].sum(axis=1), 1.0, atol=1e-5)
    m = _read(Path(res.runs["run_dir"][0]), "metrics.json")
    assert 0.0 <= m["test"]["uar"] <= 1.0 and "accuracy" in m["test"]
    cfg = RunDir(Path(res.runs["run_dir"][0])).read_config().model_dump(mode="json")
    assert cfg["input_dims"] == {"mel": 8, "mfcc": 5, "chroma": 4, "text": 12}


def test_kumar2021_baseline_dense_speech_lstm_text(corpus: PaperCorpus, tmp_path: Path) -> None:
    """The supplement's baseline: frame-wise dense + mean speech branches, an LSTM over token vectors."""
    over = [
        _fake("mel", "fake.mel"),
        _fake("mfcc", "fake.mfcc"),
        _fake("chroma", "fake.chroma"),
        _fake("text", "fake.tokens"),
        *[f"model.branches.{b}.params={{hidden: 8, out_dim: 8}}" for b in ("mel", "mfcc", "chroma", "text")],
        "model.fusion_params.hidden=16",
    ]
    res = _run(corpus, ["kumar2021/baseline"], over, tmp_path)
    assert list(res.runs["status"]) == ["trained", "trained"]
    run = RunDir(Path(res.runs["run_dir"][0]))
    cfg = run.read_config().model_dump(mode="json")
    assert cfg["input_dims"] == {"mel": 8, "mfcc": 5, "chroma": 4, "text": 12}
    assert {b["type"] for b in cfg["model"]["branches"].values()} == {"dense", "lstm"}
    from safetensors.torch import load_file

    weights = load_file(run.weights_path)
    assert any(k.startswith("branches.text.lstm.") for k in weights)
    assert any(k.startswith("branches.mel.frame_dense.") for k in weights)
    assert not any(".gru." in k for k in weights)  # no GRU, no attention in the baseline
    assert 0.0 <= _read(run.path, "metrics.json")["test"]["uar"] <= 1.0


def test_kumar2021_ablation_report_has_intersection_matrices_per_variant(
    corpus: PaperCorpus, tmp_path: Path
) -> None:
    """Sec. 4.1: the report of an ablation shows each variant's intersection matrices of the third-last,
    second-last and output layers (mean over the folds) and the 3-PC embedding plots."""
    from emofuse.explain import intersection_matrix
    from emofuse.explain.ablation import intersection_analysis
    from emofuse.explain.runs import run_embeddings
    from emofuse.recipes import load_recipes

    over = [
        _fake("mel", "fake.mel"),
        _fake("mfcc", "fake.mfcc"),
        _fake("chroma", "fake.chroma"),
        _fake("text", "fake.cls"),
        *[f"model.branches.{b}.params={{hidden: 8, out_dim: 8}}" for b in ("mel", "mfcc", "chroma")],
        "protocol.k=2",  # the paper's random folds: every class in every test part
    ]
    recipes = load_recipes(["kumar2021/dense400", "kumar2021/dense3"], [*COMMON, *over])
    assert [r.analyses.intersection_layers for r in recipes] == [["embedding", "hidden", "output"]] * 2
    out = tmp_path / "ablation"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_experiment(
            recipes, corpus.table, None, corpus.store, out, transcripts=corpus.transcripts,
            encoder_ids=ENCODER_IDS, extract_missing=False, progress=False, torch_threads=1,
            analyses=intersection_analysis(corpus.table, corpus.store, corpus.transcripts),
        )  # fmt: skip
    summary = json.loads((out / "intersection_summary.json").read_text())
    assert set(summary) == {"dense400", "dense3"}
    report = (out / "report.md").read_text()
    assert "## Intersection matrices (kumar2021)" in report
    for system, width in (("dense400", 400), ("dense3", 600)):
        layers = summary[system]["layers"]
        assert list(layers) == ["embedding", "hidden", "output"]
        assert layers["hidden"]["dim"] == width and layers["output"]["dim"] == len(CLASSES)
        assert layers["embedding"]["dim"] == 3 * 8 + 12  # the concatenation: C_i, M_i, F_i and B_i
        # the matrix is the mean over the folds of each fold's matrix of the saved model's test embeddings
        runs = sorted((out / system / "seed0").glob("fold*"))
        for layer, entry in layers.items():
            per_fold = []
            for run in runs:
                emb = run_embeddings(run, corpus.table, corpus.store, corpus.transcripts)
                per_fold.append(intersection_matrix(emb.layers[layer], emb.labels, entry["classes"]))
            np.testing.assert_allclose(entry["matrix"], np.mean(per_fold, axis=0), atol=1e-9)
            assert entry["n_folds"] == 2 and entry["classes"] == CLASSES
            assert (out / entry["plots"]["pca"]).is_file() and (out / entry["plots"]["matrix"]).is_file()
            assert f"### {system}: {layer}" in report and entry["plots"]["pca"] in report
        row = next(line for line in report.splitlines() if line.startswith(f"| {system} | 0 |"))
        assert f"{layers['output']['mean_off_diagonal']:.3f}" in row


def test_deoliveira2023_layer_weights_inferred_and_ccc(corpus: PaperCorpus, tmp_path: Path) -> None:
    over = [
        _fake("audio", "fake.ssl3"),
        _fake("text", "fake.tokens"),
        "model.fusion_params.hidden=8",
        "model.head.params.hidden=8",
        "training.lr=0.001",
    ]
    res = _run(corpus, ["deoliveira2023/fusion_distilhubert"], over, tmp_path)  # given [L, T, D] features
    run = Path(res.runs["run_dir"][0])
    cfg = RunDir(run).read_config().model_dump(mode="json")
    # num_layers comes from the [L, T, D] features and is recorded, so a packaged model rebuilds it
    assert cfg["model"]["branches"]["audio"]["params"]["num_layers"] == 3
    assert "num_layers" not in cfg["model"]["branches"]["text"]["params"]
    assert cfg["recipe"]["model"]["branches"]["audio"]["params"].get("num_layers") is None
    from safetensors.torch import load_file

    state = load_file(str(run / "model.safetensors"))
    assert state["branches.audio.layer_weighting.raw_weights"].shape == (3,)
    preds = res.predictions
    assert {f"{k}_{d}" for k in ("true", "pred") for d in ("arousal", "valence", "dominance")} <= set(
        preds.columns
    )
    m = _read(run, "metrics.json")
    assert {"ccc", "ccc_arousal", "ccc_valence", "ccc_dominance"} <= set(m["test"])


def test_deoliveira2023_explicit_num_layers_must_match(corpus: PaperCorpus, tmp_path: Path) -> None:
    over = [
        _fake("audio", "fake.ssl3"),
        "model.branches.audio.params.num_layers=5",
        "model.head.params.hidden=8",
    ]
    with pytest.raises(ConfigError, match="num_layers is 5 but the features hold 3"):
        _run(corpus, ["deoliveira2023/audio_distilhubert"], over, tmp_path)


def test_perez2022_sil_egemaps_regression_and_binned(corpus: PaperCorpus, tmp_path: Path) -> None:
    over = [_fake("text", "fake.cls"), _fake("egemaps", "fake.egemaps"), "training.lr=0.001"]
    res = _run(corpus, ["perez2022/bert_sil_egemaps_ccc"], over, tmp_path / "ccc")
    cfg = RunDir(Path(res.runs["run_dir"][0])).read_config().model_dump(mode="json")
    assert cfg["branches"]["text"]["input"] == "asr_sil"
    assert cfg["avd_names"] == ["arousal"]
    assert {"true_arousal", "pred_arousal"} <= set(res.predictions.columns)
    assert "ccc_arousal" in _read(Path(res.runs["run_dir"][0]), "metrics.json")["test"]

    res = _run(
        corpus,
        ["perez2022/bert_sil_egemaps_binned"],
        [*over, "model.head.params.hidden=12"],
        tmp_path / "bin",
    )
    run = Path(res.runs["run_dir"][0])
    m = _read(run, "metrics.json")
    assert len(m["bin_edges"]) == 2 and m["bin_edges"][0] < m["bin_edges"][1]
    assert "uar" in m["test"]
    preds = res.predictions
    assert set(preds["label"]) <= {"low", "mid", "high"} and {"p_low", "p_mid", "p_high"} <= set(
        preds.columns
    )
    # labels are the test utterances' bins under the TRAINING quantiles of that fold
    targets, _ = binned_targets(corpus.table, "arousal", 3, corpus.folds[0].train)
    fold_a = preds[preds["fold"] == "fold_a"]
    names = ["low", "mid", "high"]
    assert list(fold_a["label"]) == [names[int(targets[u])] for u in fold_a["utterance_id"]]


def test_makiuchi2021_score_fusion_tuned_on_dev(corpus: PaperCorpus, tmp_path: Path) -> None:
    small = "{dim_neck: 4, freq: 6, segment_frames: 12, n_phones: 10, speaker_dim: 16, n_mels: 6, conv_dim: 16, phone_conv_dim: 8, dim_phone_emb: 4, dim_pre: 16, decoder_lstm_dim: 16, postnet_dim: 8, classifier_hidden: 8}"
    over = [
        _fake("speech", "fake.ssl4"),
        _fake("text", "fake.tokens"),
        _fake("speaker", "fake.speaker"),
        _fake("mel", "fake.logmel"),
        _fake("phones", "fake.phones"),
        f"model.branches.speech.params={small}",
        "training.max_steps=6",
        "model.branches.text.params={filters: [8, 8, 8, 8]}",
        "training.lr=0.003",
    ]
    names = ["makiuchi2021/speech", "makiuchi2021/text", "makiuchi2021/fusion"]
    res = _run(corpus, names, over, tmp_path)
    assert list(res.runs["system"]) == ["speech", "speech", "text", "text", "fusion", "fusion"]
    fusion_run = Path(res.runs.loc[res.runs["system"] == "fusion", "run_dir"].iloc[0])
    m = _read(fusion_run, "metrics.json")
    assert m["score_weights_tuned_on_dev"] is True
    assert sum(m["score_weights"].values()) == pytest.approx(1.0)
    assert m["trainable_parameters"] == [] and m["epochs_run"] == 0
    assert m["pretrain"]["speech"]["from_run"].endswith("speech/seed0/fold1")
    cfg = RunDir(fusion_run).read_config().model_dump(mode="json")
    assert cfg["model"]["branches"]["speech"]["params"]["num_layers"] == 4
    # the speech model is the cross-representation model: it trained on L_r1 + L_r2 + L_e and records the
    # speaker input a package computes, not the training-only phone ids and log-mel target
    speech_run = Path(res.runs.loc[res.runs["system"] == "speech", "run_dir"].iloc[0])
    history = _read(speech_run, "metrics.json")["history"]
    assert {"train_recon", "train_recon_postnet", "train_emotion"} <= set(history[-1])
    branches = RunDir(speech_run).read_config().branches
    assert set(branches) == {"speech", "speaker"} and branches["speaker"].per_speaker == "mean"
    # the fused probabilities are the weighted mix of the two single models' probabilities
    preds = res.predictions.set_index(["system", "fold", "utterance_id"]).sort_index()
    w = m["score_weights"]
    cols = [f"p_{c}" for c in CLASSES]
    fold = "fold_a"
    mix = w["speech"] * preds.loc[("speech", fold)][cols] + w["text"] * preds.loc[("text", fold)][cols]
    assert np.allclose(preds.loc[("fusion", fold)][cols].to_numpy(), mix.to_numpy(), atol=1e-5)

    # the paper's fixed weights w1 = 0.6, w2 = 1 (normalised), no tuning
    res2 = _run(
        corpus, ["makiuchi2021/speech", "makiuchi2021/text", "makiuchi2021/fusion_fixed"], over, tmp_path
    )
    assert set(res2.runs.loc[res2.runs["system"] != "fusion_fixed", "status"]) == {"skipped"}
    fixed = _read(Path(res2.runs["run_dir"].iloc[-1]), "metrics.json")
    assert fixed["score_weights"] == pytest.approx({"speech": 0.375, "text": 0.625})
    assert fixed["score_weights_tuned_on_dev"] is False


def test_deoliveira2023_layer_importance_is_one_model_per_dimension(
    corpus: PaperCorpus, tmp_path: Path
) -> None:
    """Fig. 2: frozen all-layer features, weights that sum to one, a valence-only model."""
    over = [_fake("audio", "fake.ssl3"), "model.head.params.hidden=8", "training.lr=0.01"]
    res = _run(corpus, ["deoliveira2023/layers_distilhubert_valence"], over, tmp_path)
    run = Path(res.runs["run_dir"][0])
    preds = res.predictions
    assert {"true_valence", "pred_valence"} <= set(preds.columns)
    assert not {"true_arousal", "true_dominance"} & set(preds.columns)
    from safetensors.torch import load_file

    from emofuse.train.model import build_model

    cfg = RunDir(run).read_config()
    model = build_model(cfg.model, dict(cfg.input_dims), len(cfg.output_names))
    model.load_state_dict(load_file(str(run / "model.safetensors")))
    weights = model.layer_weights()["audio"]
    assert weights.shape == (3,) and abs(float(weights.sum()) - 1.0) < 1e-5
