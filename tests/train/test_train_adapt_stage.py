"""The MLM adaptation stage inside a run (``train.adapt_stage``): a recipe's ``adapt`` block becomes an adapted
model directory in the cache, made from the training part's transcripts only, reused when nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from emofuse.corpus.protocols import Fold
from emofuse.errors import ConfigError
from emofuse.recipes import load_recipe
from emofuse.train.adapt_stage import resolve_adaptations


def _data() -> tuple[pd.DataFrame, list[Fold]]:
    texts = ["i feel [SIL] sad today", "the table [SIL] [SIL] today", "i feel happy", "sad [SIL] i feel"] * 3
    trans = pd.DataFrame({"utterance_id": [f"u{i:02d}" for i in range(12)], "text_with_sil": texts})
    ids = list(trans["utterance_id"])
    return trans, [Fold("f", train=tuple(ids[:8]), dev=tuple(ids[8:10]), test=tuple(ids[10:]))]


def _recipe(model: Path, *extra: str):  # noqa: ANN202
    over = [f"features.text.encoder.model={model}", "features.text.encoder.adapt.epochs=2",
            "features.text.encoder.adapt.lr=0.003", *extra]  # fmt: skip
    return load_recipe("perez2022/bert_sil_ccc", over)


def test_the_stage_adapts_on_training_text_and_is_cached(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import emofuse.encoders.text_adapt as text_adapt

    monkeypatch.setenv("EMOFUSE_CACHE_DIR", str(tmp_path / "cache"))
    trans, folds = _data()
    recipe = _recipe(tiny_bert)
    assert recipe.features["text"].encoder["adapt"]["tables"] == ["transcripts"]
    [resolved] = resolve_adaptations([recipe], trans, folds, progress=False)
    spec = resolved.features["text"].encoder
    assert "adapt" not in spec and spec["sil_token"] is True
    model_dir = Path(spec["model"])
    assert model_dir.parent == tmp_path / "cache" / "adapted_text"
    info = json.loads((model_dir / "emofuse_adaptation.json").read_text())
    [stage] = info["stages"]
    assert stage["n_train"] + stage["n_val"] == 8  # the training part only: no dev or test text
    assert len(stage["train_loss"]) == 2 and info["head_init"] == "tied-embeddings"

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("adapted again although nothing changed")

    monkeypatch.setattr(text_adapt, "adapt_text_model", refuse)
    [again] = resolve_adaptations([recipe], trans, folds, progress=False)
    assert again.features["text"].encoder == spec
    changed = trans.copy()
    changed.loc[0, "text_with_sil"] = "happy [SIL] happy"
    with pytest.raises(AssertionError, match="adapted again"):  # other training text: another model
        resolve_adaptations([recipe], changed, folds, progress=False)
    test_only = trans.copy()
    test_only.loc[11, "text_with_sil"] = "happy [SIL] happy"
    resolve_adaptations([recipe], test_only, folds, progress=False)  # test text is not part of it: reused
    [plain] = resolve_adaptations([_recipe(tiny_bert, "features.text.encoder.adapt=null")], trans, folds)
    assert plain.features["text"].encoder == {**spec, "model": str(tiny_bert)}  # [SIL] as initialised


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["features.text.encoder.sil_token=false"], "sil_token: true"),
        (["features.text.encoder.adapt.tables=[]"], "needs `tables`"),
        (["features.text.encoder.adapt.patince=3"], "adapt.patince"),
        (["features.text.encoder.adapt.tables=[nowhere.jsonl]"], "nowhere.jsonl"),
    ],
)
def test_bad_adapt_blocks_are_named(tiny_bert: Path, extra: list[str], message: str) -> None:
    trans, folds = _data()
    with pytest.raises(ConfigError, match=message.replace("[", "\\[")):
        resolve_adaptations([_recipe(tiny_bert, *extra)], trans, folds, progress=False)
    with pytest.raises(ConfigError, match="has none"):
        resolve_adaptations([_recipe(tiny_bert)], None, folds, progress=False)
