"""Recipes: every packaged recipe loads; bad keys and values fail on load naming the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from emofuse.errors import ConfigError
from emofuse.recipes import list_recipes, load_recipe

SYSTEMS = ["audio", "text_bert", "ef_cs", "ef_pt", "ef_ws", "lf_pt"]


def test_pepino2020_recipes_load_with_the_paper_settings() -> None:
    names = list_recipes()
    assert {f"pepino2020/{s}" for s in SYSTEMS} <= set(names)
    recipes = {s: load_recipe(f"pepino2020/{s}") for s in SYSTEMS}
    assert recipes["audio"].model.fusion == "none" and recipes["audio"].features["audio"].standardize
    assert recipes["text_bert"].encoder_specs()["text"]["model"] == "bert-base-uncased"
    assert recipes["ef_cs"].training.strategy == "cold_start" and recipes["ef_cs"].model.fusion == "early"
    assert recipes["ef_pt"].training.strategy == "pretrained"
    assert recipes["ef_ws"].training.strategy == "warm_start" and recipes[
        "ef_ws"
    ].training.lr == pytest.approx(1e-4)
    lf = recipes["lf_pt"]
    assert (
        lf.model.fusion == "late" and lf.training.lr == pytest.approx(0.01) and lf.training.warmup_steps == 0
    )
    assert (
        recipes["ef_cs"].training.lr == pytest.approx(7e-4) and recipes["ef_cs"].training.warmup_steps == 40
    )
    for r in recipes.values():
        assert r.data.labels == ["angry", "happy", "sad", "neutral"] and r.data.label_map == {
            "excited": "happy"
        }
        assert r.protocol.kind == "speaker-script" and r.protocol_name == "iemocap"
        assert r.training.seed_list() == list(range(10)) and r.training.early_stopping is None
    assert recipes["ef_pt"].training.pretrain.from_systems == {"audio": "audio", "text": "text_bert"}


def test_protocol_switch_overrides_and_minilm_alias() -> None:
    r = load_recipe(
        "pepino2020/ef_ws",
        ["training.max_epochs=3", "training.seeds=[4, 2]", "features.text.encoder.model=minilm"],
        protocol="msp_podcast",
    )
    assert r.protocol.kind == "predefined" and r.protocol_name == "msp_podcast"
    assert r.training.max_epochs == 3 and r.training.seed_list() == [4, 2]
    assert "model" not in r.encoder_specs()["text"]  # the text encoder's offline default (MiniLM)
    assert load_recipe("pepino2020/ef_ws", ["protocol=msp_podcast"]).protocol.kind == "predefined"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model.fusion=eraly", "model.fusion: 'eraly' is not one of"),
        ("data.lable=x", "data.lable: unknown key; allowed keys: task, labels"),
        ("training.strategy=hot", "training.strategy: 'hot' is not one of"),
        (
            "training.early_stopping={monitor: uar, patiense: 3}",
            "training.early_stopping.patiense: unknown key",
        ),
        ("training.lr=-1", "training.lr:"),
        ("features.audio.input=transcript", "features.audio: encoder 'opensmile' reads audio"),
        ("protocols.iemocap.kind=random", "protocols.iemocap.kind: 'random' is not one of"),
        ("training.seeds=0", "training.seeds:"),
        (
            "features.audio.standardise=true",
            "features.audio.standardise: unknown key; allowed keys: encoder, input",
        ),
        (
            "model.branches.text.paramz={}",
            "model.branches.text.paramz: unknown key; allowed keys: type, params",
        ),
    ],
)
def test_bad_key_or_value_names_the_key_path(override: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_recipe("pepino2020/ef_cs", [override])
    assert expected in str(err.value)
    assert "ef_cs.yaml" in str(err.value)


def test_unknown_key_in_a_yaml_file_and_bad_protocol_name(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "extends: "
        + str(Path(load_recipe.__code__.co_filename).parent / "pepino2020" / "audio.yaml")
        + "\nname: mine\ntraining: {max_epoch: 3}\n"
    )
    with pytest.raises(ConfigError, match=r"training.max_epoch: unknown key.*max_epochs"):
        load_recipe(path)
    path.write_text(path.read_text().replace("max_epoch:", "max_epochs:"))
    assert load_recipe(path).training.max_epochs == 3
    with pytest.raises(ConfigError, match="protocol: 'nope' is not one of"):
        load_recipe(path, protocol="nope")
    with pytest.raises(ConfigError, match="neither a file nor a packaged recipe"):
        load_recipe("pepino2020/no_such_system")
    with pytest.raises(ConfigError, match="has no '='"):
        load_recipe(path, ["training.max_epochs"])


def test_glove_needs_a_local_vectors_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GloVe needs a local vectors file"):
        load_recipe("pepino2020/text_glove")
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(
            "pepino2020/text_glove", [f"features.text.encoder.vectors_path={tmp_path / 'missing.txt'}"]
        )
    vectors = tmp_path / "glove.txt"
    vectors.write_text("sad 0.1 0.2\n")
    r = load_recipe("pepino2020/text_glove", [f"features.text.encoder.vectors_path={vectors}"])
    assert r.encoder_specs()["text"] == {"kind": "glove", "vectors_path": str(vectors)}


def test_model_params_are_checked_against_the_nn_classes() -> None:
    from emofuse.train._nn_adapter import check_model_config

    check_model_config(load_recipe("pepino2020/ef_ws").model)
    with pytest.raises(ConfigError, match=r"model.branches.audio.params: unknown key\(s\) \['filterz'\]"):
        check_model_config(
            load_recipe("pepino2020/ef_ws", ["model.branches.audio.params={filterz: [3]}"]).model
        )
    with pytest.raises(ConfigError, match=r"model.branches.text.type: 'bert_cnn' is not one of"):
        check_model_config(load_recipe("pepino2020/ef_ws", ["model.branches.text.type=bert_cnn"]).model)
    with pytest.raises(ConfigError, match="fusion 'none' takes exactly one branch"):
        load_recipe("pepino2020/ef_cs", ["model.fusion=none"])


def test_protocol_keys_can_be_set_on_the_named_protocol_in_use() -> None:
    r = load_recipe("pepino2020/audio", ["protocol.kind=speaker-kfold", "protocol.k=3"])
    assert (r.protocol.kind, r.protocol.k, r.protocol_name) == ("speaker-kfold", 3, "iemocap")
    r = load_recipe("pepino2020/audio", ["protocol.dev_fraction=0.2"], protocol="msp_podcast")
    assert (r.protocol.kind, r.protocol.dev_fraction) == ("predefined", 0.2)


def test_shared_overrides_apply_to_the_recipes_that_have_the_branch() -> None:
    from emofuse.recipes import load_recipes

    audio, fused = load_recipes(
        ["pepino2020/audio", "pepino2020/ef_cs"], ["features.text.encoder.model=minilm"]
    )
    assert "text" not in audio.features and "model" not in fused.encoder_specs()["text"]
    with pytest.raises(ConfigError, match="branch 'txt', which none of the recipes has"):
        load_recipes(["pepino2020/audio", "pepino2020/ef_cs"], ["features.txt.input=asr"])
    with pytest.raises(ConfigError, match="features.text.encoder: required key is missing"):
        load_recipe("pepino2020/audio", ["features.text.input=asr"])  # one recipe: no silent skipping
