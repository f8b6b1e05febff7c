"""training.mode: end_to_end: encoders inside the model, freeze policy, FT=>FRZ, equality with cached mode.

Audio: tiny random models of the real transformers classes (Wav2Vec2Model, HubertModel, WhisperModel) saved
with save_pretrained to a tmp dir; text: the real all-MiniLM-L6-v2 (offline package). Few utterances, 2 epochs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from emofuse.audio import write_wav
from emofuse.corpus.protocols import Fold
from emofuse.corpus.table import make_table
from emofuse.encoders import FeatureStore
from emofuse.errors import ConfigError
from emofuse.io import read_json
from emofuse.recipes.schema import Recipe
from emofuse.train.rundir import RunDir
from emofuse.train.runner import run_experiment

LABELS = ["calm", "loud"]


def _tiny_ssl(path: Path, cls_name: str) -> Path:
    import transformers

    kw: dict[str, Any] = dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 4), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, feat_extract_norm="layer", mask_time_prob=0.0,
    )  # fmt: skip
    config_cls = getattr(transformers, cls_name.replace("Model", "Config"))
    torch.manual_seed(0)
    model = getattr(transformers, cls_name)(config_cls(**kw))
    model.save_pretrained(str(path))
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("e2e")
    rng = np.random.default_rng(3)
    records = []
    for i in range(12):
        label = LABELS[i % 2]
        wav = root / "wav" / f"u{i:02d}.wav"
        wav.parent.mkdir(exist_ok=True)
        amp = 0.05 if label == "calm" else 0.5
        n = int(rng.integers(3200, 6400))
        write_wav(wav, (amp * rng.standard_normal(n)).astype(np.float32), 16_000)
        words = "a quiet calm day" if label == "calm" else "shouting loud angry words"
        records.append(
            dict(
                utterance_id=f"u{i:02d}",
                audio_path=str(wav),
                speaker=f"s{i % 6}",
                transcript=words,
                label=label,
            )
        )
    table = make_table(records, corpus="tiny")
    ids = list(table["utterance_id"])
    fold = Fold("f1", train=tuple(ids[:8]), dev=tuple(ids[8:10]), test=tuple(ids[10:]))
    return {
        "root": root,
        "table": table,
        "fold": fold,
        "w2v2": _tiny_ssl(root / "w2v2", "Wav2Vec2Model"),
        "hubert": _tiny_ssl(root / "hubert", "HubertModel"),
    }


def _recipe(
    features: dict[str, Any], mode: str = "end_to_end", tuning: dict[str, Any] | None = None, **tr: Any
) -> Recipe:
    branches = {n: {"type": "mean_max", "params": {"pooling": "mean_max"}} for n in features}
    return Recipe.model_validate(
        {
            "name": tr.pop("name", "sys"),
            "data": {"task": "classes", "labels": LABELS},
            "features": features,
            "model": {
                "branches": branches,
                "fusion": "none" if len(features) == 1 else "early",
                "fusion_params": {"hidden": 8},
                "head": {"type": "classes"},
            },
            "training": {
                "mode": mode,
                "encoder_tuning": tuning or {},
                "max_epochs": 2,
                "batch_size": 4,
                "seeds": [0],
                "lr": 1e-3,
                "length_bucketing": False,
                "class_weighting": "none",
                **tr,
            },  # fmt: skip
            "protocol": {"kind": "random-kfold", "k": 2},
        }
    )


def _run(corpus: dict[str, Any], recipe: Recipe, out: Path) -> RunDir:
    store = FeatureStore(corpus["root"] / "store")
    run_experiment(recipe, corpus["table"], [corpus["fold"]], store, out, progress=False, report=False)
    return RunDir.of(out, recipe.name, 0, 0)


def _audio(model: Path) -> dict[str, Any]:
    return {"audio": {"encoder": {"kind": "ssl", "model": str(model), "layers": "all"}, "input": "audio"}}


@pytest.mark.parametrize("which", ["w2v2", "hubert"])
def test_fine_tuning_changes_only_the_unfrozen_encoder_weights(
    corpus: dict[str, Any], tmp_path: Path, which: str
) -> None:
    recipe = _recipe(
        _audio(corpus[which]),
        tuning={"audio": {"freeze": ["feature_encoder"], "freeze_layers": [0], "encoder_lr": 1e-2}},
    )
    run = _run(corpus, recipe, tmp_path)
    before = load_file(str(corpus[which] / "model.safetensors"))
    after = load_file(str(run.encoder_dir("audio") / "model.safetensors"))
    assert set(before) == set(after)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("encoder.layers.1.") for k in changed), "the unfrozen top layer must train"
    assert not any(k.startswith("feature_extractor.") for k in changed), "the CNN feature encoder is frozen"
    assert not any(k.startswith("encoder.layers.0.") for k in changed), "freeze_layers: [0] stays"
    record = run.read_config().branches["audio"]
    assert record.fine_tuned and record.encoder["model"] == "encoders/audio"


def test_frozen_encoder_end_to_end_equals_cached(corpus: dict[str, Any], tmp_path: Path) -> None:
    minilm = {"text": {"encoder": {"kind": "text", "layers": "all"}, "input": "transcript"}}
    features = {**_audio(corpus["w2v2"]), **minilm}
    cached = _run(corpus, _recipe(features, mode="cached", name="cached"), tmp_path / "c")
    e2e = _run(corpus, _recipe(features, name="e2e"), tmp_path / "e")
    a = pd.read_csv(cached.predictions_path)
    b = pd.read_csv(e2e.predictions_path)
    assert list(a["utterance_id"]) == list(b["utterance_id"])
    probs = [f"p_{lab}" for lab in LABELS]
    np.testing.assert_allclose(a[probs].to_numpy(), b[probs].to_numpy(), atol=2e-4)
    assert not e2e.encoder_dir("audio").exists(), "a frozen encoder is referred to, not copied"


def _whisper(model: Path) -> dict[str, Any]:
    return {"audio": {"encoder": {"kind": "whisper_hf", "model": str(model)}, "input": "audio"}}


def test_whisper_encoder_fine_tunes_end_to_end_and_frozen_equals_cached(
    corpus: dict[str, Any], tiny_whisper_dir: Path, tmp_path: Path
) -> None:
    """Whisper's encoder through transformers: the unfrozen layers train; frozen, it is cached mode."""
    from emofuse.encoders import build_encoder
    from emofuse.serve import Predictor
    from emofuse.serve.package import export_from_run

    tuning = {"audio": {"freeze": ["feature_encoder"], "freeze_layers": [0], "encoder_lr": 1e-2}}
    run = _run(corpus, _recipe(_whisper(tiny_whisper_dir), tuning=tuning, max_epochs=1, name="ft"), tmp_path)
    full = load_file(str(tiny_whisper_dir / "model.safetensors"))
    before = {k.removeprefix("encoder."): v for k, v in full.items() if k.startswith("encoder.")}
    after = load_file(str(run.encoder_dir("audio") / "model.safetensors"))  # the encoder alone
    assert set(before) == set(after)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("layers.1.") for k in changed), "the unfrozen top layer must train"
    assert not any(k.startswith(("conv1.", "conv2.", "layers.0.", "embed_positions.")) for k in changed)
    # the fine-tuned encoder builds back from its directory, and its package predicts as the run did
    reloaded = build_encoder(
        run.read_config().branches["audio"].encoder | {"model": str(run.encoder_dir("audio"))}
    )
    assert torch.equal(reloaded.model.layers[1].fc1.weight, after["layers.1.fc1.weight"])
    predictor = Predictor.from_pretrained(export_from_run(run.path, tmp_path / "pkg"))
    frame = pd.read_csv(run.predictions_path)
    table = corpus["table"].set_index("utterance_id")
    for row in frame.itertuples():
        got = predictor.predict_file(table.loc[row.utterance_id, "audio_path"]).probabilities
        np.testing.assert_allclose(
            [got[lab] for lab in LABELS], [getattr(row, f"p_{lab}") for lab in LABELS], atol=2e-4
        )
    # frozen inside the model = cached features
    cached = _run(corpus, _recipe(_whisper(tiny_whisper_dir), mode="cached", name="wc"), tmp_path / "c")
    e2e = _run(corpus, _recipe(_whisper(tiny_whisper_dir), name="we"), tmp_path / "e")
    probs = [f"p_{lab}" for lab in LABELS]
    a, b = pd.read_csv(cached.predictions_path), pd.read_csv(e2e.predictions_path)
    assert list(a["utterance_id"]) == list(b["utterance_id"])
    np.testing.assert_allclose(a[probs].to_numpy(), b[probs].to_numpy(), atol=2e-4)


def test_ft_frz_freezes_the_encoder_at_the_switch(corpus: dict[str, Any], tmp_path: Path) -> None:
    from emofuse.encoders import build_encoder
    from emofuse.encoders.trainable import TrainableEncoder
    from emofuse.train.end_to_end import EndToEndModel, wrap_model
    from emofuse.train.freeze import FreezeEncodersAt

    recipe = _recipe(_audio(corpus["w2v2"]), tuning={"audio": {"freeze_after_epochs": 1}}, max_epochs=3)
    enc = TrainableEncoder(build_encoder(recipe.features["audio"].encoder))
    model = wrap_model(torch.nn.Linear(1, 1), recipe, {"audio": enc})
    assert isinstance(model, EndToEndModel)
    [callback] = model.training_callbacks()
    assert isinstance(callback, FreezeEncodersAt) and callback.epochs == {"audio": 1}
    # through a real run: the encoder saved at the end equals the one after epoch 1 (it stops at the switch)
    one = _run(
        corpus, _recipe(_audio(corpus["w2v2"]), tuning={"audio": {}}, max_epochs=1, name="ft1"), tmp_path
    )
    ftfrz = _run(corpus, recipe.model_copy(update={"name": "ftfrz"}), tmp_path)
    w_one = load_file(str(one.encoder_dir("audio") / "model.safetensors"))
    w_frz = load_file(str(ftfrz.encoder_dir("audio") / "model.safetensors"))
    base = load_file(str(corpus["w2v2"] / "model.safetensors"))
    assert any(not torch.equal(w_one[k], base[k]) for k in base)
    for k in base:
        torch.testing.assert_close(w_frz[k], w_one[k], rtol=0, atol=0)


def test_recipe_checks() -> None:
    feats = {"audio": {"encoder": "opensmile.egemaps", "input": "audio"}}
    with pytest.raises(ValueError, match="end_to_end"):
        _recipe(feats, mode="cached", tuning={"audio": {}})
    with pytest.raises(ValueError, match="cannot run inside"):
        _recipe(feats, tuning={"audio": {}})
    assert ConfigError  # the schema errors reach users as ConfigError through load_recipe


def test_package_of_a_fine_tuned_encoder_holds_its_weights_and_predicts_as_the_run(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    from emofuse.errors import ModelLoadError
    from emofuse.serve import Predictor
    from emofuse.serve.package import export_from_run

    recipe = _recipe(_audio(corpus["w2v2"]), tuning={"audio": {"freeze": ["feature_encoder"]}}, max_epochs=1)
    run = _run(corpus, recipe, tmp_path / "out")
    package = export_from_run(run.path, tmp_path / "pkg")
    assert (package / "encoders" / "audio" / "model.safetensors").is_file()
    predictor = Predictor.from_pretrained(package)
    frame = pd.read_csv(run.predictions_path)
    table = corpus["table"].set_index("utterance_id")
    for row in frame.itertuples():
        got = predictor.predict_file(table.loc[row.utterance_id, "audio_path"]).probabilities
        np.testing.assert_allclose(
            [got[lab] for lab in LABELS], [getattr(row, f"p_{lab}") for lab in LABELS], atol=2e-4
        )
    # a changed fine-tuned encoder is refused
    weights = package / "encoders" / "audio" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(ModelLoadError, match="checksum"):
        Predictor.from_pretrained(package)


@pytest.mark.slow
def test_ddp_with_two_cpu_processes_trains_and_writes_one_model(
    corpus: dict[str, Any], tmp_path: Path
) -> None:
    """Lightning's DDP (gloo, two forked CPU processes) fine-tunes the encoder; the main process writes one run."""
    recipe = _recipe(_audio(corpus["w2v2"]), tuning={"audio": {"freeze": ["feature_encoder"]}}, max_epochs=1)
    recipe = recipe.model_copy(
        update={"trainer": recipe.trainer.model_copy(update={"devices": 2, "strategy": "ddp_fork"})}
    )
    run = _run(corpus, recipe, tmp_path)
    assert run.is_complete()
    assert read_json(run.metrics_path)["world_size"] == 2
    assert [p.name for p in (tmp_path / recipe.name).rglob("done.json")] == ["done.json"]
    before = load_file(str(corpus["w2v2"] / "model.safetensors"))
    after = load_file(str(run.encoder_dir("audio") / "model.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("encoder.layers."))
    frame = pd.read_csv(run.predictions_path)
    assert sorted(frame["utterance_id"]) == sorted(corpus["fold"].test)


def test_fine_tuned_recipes_and_trainer_overrides() -> None:
    from emofuse.recipes import load_recipe

    for model in ("distilhubert", "hubert", "w2v2"):
        ft = load_recipe(f"deoliveira2023/fusion_{model}_ft")
        frz = load_recipe(f"deoliveira2023/fusion_{model}_ft_frz")
        audio = load_recipe(f"deoliveira2023/audio_{model}_ft")
        frozen = load_recipe(f"deoliveira2023/fusion_{model}")
        assert frozen.training.mode == "cached" and ft.training.mode == frz.training.mode == "end_to_end"
        assert ft.model == frozen.model, "everything after the encoder is the same model"
        assert audio.training.encoder_tuning["audio"].freeze == ["feature_encoder"]
        assert frz.training.encoder_tuning["audio"].freeze_after_epochs == 5
        assert not frz.training.encoder_tuning["text"].trainable
    for name in ("bert_ft_ccc", "bert_ft_binned", "bert_sil_ft_ccc", "bert_sil_ft_binned"):
        r = load_recipe(f"perez2022/{name}")
        assert r.training.mode == "end_to_end" and r.training.encoder_tuning["text"].trainable
        assert r.features == load_recipe(f"perez2022/{name.replace('_ft', '')}").features
    r = load_recipe(
        "perez2022/bert_ft_ccc", ["trainer.devices=8", "trainer.strategy=ddp", "trainer.precision=bf16-mixed"]
    )
    assert (r.trainer.devices, r.trainer.strategy, r.trainer.precision) == (8, "ddp", "bf16-mixed")
    with pytest.raises(ConfigError, match="feature_encoder"):
        load_recipe("deoliveira2023/audio_hubert_ft", ["training.encoder_tuning.audio.freeze=[cnn]"])
    with pytest.raises(ConfigError, match="standardize"):
        load_recipe("perez2022/bert_ft_ccc", ["features.text.standardize=true"])
    with pytest.raises(ConfigError, match="cold_start"):
        load_recipe("perez2022/bert_ft_ccc", ["training.strategy=finetune"])


def test_gradient_checkpointing_trains_the_same_weights(corpus: dict[str, Any], tmp_path: Path) -> None:
    plain = _recipe(_audio(corpus["w2v2"]), tuning={"audio": {}}, max_epochs=1, name="plain")
    ckpt = _recipe(
        _audio(corpus["w2v2"]), tuning={"audio": {"gradient_checkpointing": True}}, max_epochs=1, name="ckpt"
    )
    a = load_file(str(_run(corpus, plain, tmp_path).encoder_dir("audio") / "model.safetensors"))
    b = load_file(str(_run(corpus, ckpt, tmp_path).encoder_dir("audio") / "model.safetensors"))
    base = load_file(str(corpus["w2v2"] / "model.safetensors"))
    assert any(not torch.equal(a[k], base[k]) for k in base)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
