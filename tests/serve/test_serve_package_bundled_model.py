"""A package exported from a learned-[SIL] run carries its adapted text model.

The MLM stage (``adapt`` in the ``perez2022/bert_sil_*`` recipes) writes the adapted model to
``<cache>/adapted_text/<hash>`` and the run's encoder spec names that absolute path. The package copies it into
``encoders/<branch>/model/``, so it loads with the cache gone, on another machine, and without ``--allow-model``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from emofuse.corpus.protocols import Fold
from emofuse.errors import ModelLoadError
from emofuse.recipes import load_recipe
from emofuse.train.adapt_stage import resolve_adaptations

TEXTS = ["i feel [SIL] sad today", "the table [SIL] [SIL] today", "i feel happy", "sad [SIL] i feel"] * 3
SAMPLE_RATE_HZ = 16_000


def _adapted_spec(tiny_bert: Path) -> dict:
    """The text encoder spec of a ``bert_sil_ccc`` run after its MLM stage (2 epochs on the training text)."""
    ids = [f"u{i:02d}" for i in range(len(TEXTS))]
    trans = pd.DataFrame({"utterance_id": ids, "text_with_sil": TEXTS})
    folds = [Fold("f", train=tuple(ids[:8]), dev=tuple(ids[8:10]), test=tuple(ids[10:]))]
    over = [f"features.text.encoder.model={tiny_bert}", "features.text.encoder.adapt.epochs=2",
            "features.text.encoder.adapt.lr=0.003"]  # fmt: skip
    [recipe] = resolve_adaptations(
        [load_recipe("perez2022/bert_sil_ccc", over)], trans, folds, progress=False
    )
    return dict(recipe.features["text"].encoder)


def _probabilities(package: Path) -> dict[str, float]:
    from emofuse.serve.predictor import Predictor

    wave = np.random.default_rng(0).normal(scale=0.1, size=SAMPLE_RATE_HZ).astype(np.float32)
    predictor = Predictor.from_pretrained(package)  # no allow_models: everything is the package's own
    return predictor.predict_wave(wave, SAMPLE_RATE_HZ, transcript="i feel [SIL] sad today").probabilities


def test_the_package_carries_the_adapted_model(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_text_run: Any
) -> None:
    from emofuse.serve.package import export_from_run, load_model

    monkeypatch.setenv("EMOFUSE_CACHE_DIR", str(tmp_path / "cache"))
    spec = _adapted_spec(tiny_bert)
    adapted = Path(spec["model"])
    assert adapted.parent == tmp_path / "cache" / "adapted_text"
    run = write_text_run(tmp_path / "run" / "bert_sil_ccc" / "seed0" / "fold0", spec)
    package = export_from_run(run, tmp_path / "package")

    config = json.loads((package / "config.json").read_text())
    packaged_spec = config["branches"]["text"]["encoder"]
    assert packaged_spec == {**spec, "model": "encoders/text/model"}
    assert config["bundled_models"] == {"text": str(adapted)}
    assert (package / "encoders" / "text" / "model" / "emofuse_adaptation.json").is_file()
    before = _probabilities(package)

    shutil.move(adapted, tmp_path / "elsewhere")  # the cache cleared (or another machine)
    moved = package.parent / "copied-package"
    shutil.copytree(package, moved)
    loaded = load_model(moved)  # encoders built and their ids checked against the training ones
    assert loaded.encoder_ids["text"] == config["branches"]["text"]["encoder_id"]
    after = _probabilities(moved)
    assert after.keys() == before.keys()
    np.testing.assert_allclose(list(after.values()), list(before.values()), rtol=1e-6, atol=1e-7)

    # the carried files are checked by content: a changed model is refused, naming the branch
    (moved / "encoders" / "text" / "model" / "extra.txt").write_text("not part of the trained model\n")
    with pytest.raises(ModelLoadError, match="branch 'text'.*changed after export"):
        load_model(moved)


def test_a_folder_whose_id_is_its_path_stays_named_by_path(tmp_path: Path) -> None:
    """A CTranslate2 Whisper folder's encoder id is its path, not its files: the id could not be checked on a
    copy, so the package names the folder as before (and loading it needs ``--allow-model``)."""
    import torch

    from emofuse.encoders.registry import encoder_id_of
    from emofuse.serve.package import export_from_run, load_model
    from emofuse.train.model import ModelConfig, build_model
    from emofuse.train.rundir import BranchRecord, RunConfig, RunDir
    from emofuse.transcribe.source import TextSource

    folder = tmp_path / "ct2-whisper"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    spec = {"kind": "whisper", "model": str(folder)}
    model_config = ModelConfig.model_validate(
        {"branches": {"audio": {"type": "mean_max", "params": {"proj_dim": 4}}}, "fusion": "none"}
    )
    torch.manual_seed(0)
    network = build_model(model_config, {"audio": 8}, 2, task="classes")
    config = RunConfig(
        model=model_config,
        input_dims={"audio": 8},
        task="classes",
        labels=["happy", "sad"],
        branches={"audio": BranchRecord(encoder=spec, encoder_id=encoder_id_of(spec)[0], input="audio")},
        text_source=TextSource(),
        recipe={"name": "whisper"},
        system="whisper",
        seed=0,
        fold="f",
    )
    run = RunDir(tmp_path / "run" / "whisper" / "seed0" / "fold0")
    run.write(config, network.state_dict(), config_hash="bundled-test")
    package = export_from_run(run.path, tmp_path / "package")
    packaged = json.loads((package / "config.json").read_text())
    assert packaged["branches"]["audio"]["encoder"] == spec and packaged["bundled_models"] == {}
    assert not (package / "encoders").exists()
    with pytest.raises(ModelLoadError, match="--allow-model"):
        load_model(package, build_encoders=False)
