"""Hub models: checked before any work, replaced by offline stand-ins on request; `emofuse export RUN`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emofuse.cli.main import app
from emofuse.encoders.availability import hub_model, offline_substitute
from emofuse.errors import ModelLoadError
from emofuse.recipes import load_recipe
from emofuse.train.runner import run_experiment


def test_stand_ins_replace_exactly_the_hub_models(tmp_path: Path) -> None:
    bert = {"kind": "text", "model": "bert-base-uncased", "layers": "sum_last4", "sil_token": True}
    assert hub_model(bert) == "bert-base-uncased"
    assert offline_substitute(bert) == {"kind": "text", "layers": "sum_last4", "sil_token": True}  # MiniLM
    ssl = {"kind": "ssl", "model": "facebook/hubert-base-ls960", "layers": "all"}
    assert str(offline_substitute(ssl)["kind"]).startswith("whisper")
    assert offline_substitute({"kind": "glove", "vectors_path": None}) == {"kind": "text", "layers": "last"}
    local = tmp_path / "my-bert"
    local.mkdir()
    for offline in (
        "opensmile.pepino_lld",
        "spectral.mel128",
        {"kind": "text"},
        {"kind": "text", "model": str(local)},
    ):
        assert hub_model(offline) is None and offline_substitute(offline) is None
    notes: list[str] = []
    recipe = load_recipe("pepino2020/text_glove", offline_substitutes=True, substitutions=notes)
    assert recipe.features["text"].encoder == {"kind": "text", "layers": "last"}
    assert notes == ["text_glove: features.text.encoder glove -> all-MiniLM-L6-v2 (offline)"]


def test_a_model_that_cannot_be_loaded_stops_before_folds_naming_the_stand_in(
    tiny_corpus: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import emofuse.encoders.availability as availability

    monkeypatch.setenv("EMOFUSE_OFFLINE", "1")
    monkeypatch.setattr(availability, "is_cached", lambda model_id: False)
    recipe = load_recipe("kumar2021/multimodal")
    started = time.perf_counter()
    with pytest.raises(ModelLoadError) as err:
        run_experiment(
            [recipe], tiny_corpus.table, None, tiny_corpus.store, tmp_path / "runs", progress=False
        )
    assert time.perf_counter() - started < 10
    message = str(err.value)
    assert "kumar2021/multimodal: features.text.encoder" in message and "'bert-base-uncased'" in message
    assert "all-MiniLM-L6-v2" in message and "EMOFUSE_OFFLINE=1" in message
    assert not (tmp_path / "runs").exists()  # nothing made: no folds, no features, no run directory
    # cached (or a local directory): no error from the check
    monkeypatch.setattr(availability, "is_cached", lambda model_id: True)
    availability.check_loadable(recipe.features["text"].encoder, "x")


def test_export_a_run_directory(tiny_corpus: Any, tmp_path: Path) -> None:
    result = run_experiment(
        [tiny_corpus.recipe("pepino2020/audio")],
        tiny_corpus.table,
        tiny_corpus.folds[:1],
        tiny_corpus.store,
        tmp_path / "runs",
        seeds=1,
        encoder_ids=tiny_corpus.encoder_ids,
        extract_missing=False,
        progress=False,
    )
    run_dir = Path(result.runs["run_dir"][0])
    out = CliRunner().invoke(app, ["export", str(run_dir), "--out", str(tmp_path / "model")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "model" / "config.json").is_file() and (
        tmp_path / "model" / "model.safetensors"
    ).is_file()
    # an experiment directory needs its corpus to retrain the chosen system on
    out = CliRunner().invoke(app, ["export", str(tmp_path / "runs"), "--out", str(tmp_path / "m2")])
    assert out.exit_code != 0 and "--corpus" in str(out.exception or out.output)
