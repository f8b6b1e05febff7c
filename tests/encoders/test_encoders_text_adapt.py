"""perez2022's MLM adaptation stage (``emofuse.encoders.text_adapt``, ``emofuse adapt-text``) on a tiny random BERT
saved without an MLM head (like all-MiniLM-L6-v2): the learned [SIL] row moves away from its initialisation, the
head starts tied to the input embeddings, a killed run resumes from its last epoch, and bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from emofuse.encoders import build_encoder
from emofuse.encoders.text_adapt import INFO_NAME, STATE_NAME, AdaptConfig, _Checkpoint, adapt_text_model
from emofuse.errors import ConfigError

CONVERSATION = [
    "the weather is lovely [SIL] today",
    "i feel great [SIL] and happy",
    "please leave the papers on the table",
    "i feel sad [SIL] [SIL] today",
    "the table is lovely",
    "leave the weather [SIL] i feel great",
] * 3
TARGET = [
    "sad [SIL] i feel [SIL] sad",
    "the papers [SIL] on the table",
    "happy today",
    "i feel lovely [SIL]",
] * 3
FAST = AdaptConfig(epochs=3, lr=3e-3, mask_prob=0.4, batch_size=6, patience=10, val_fraction=0.2)


def _sil_row(model_dir: Path | str) -> np.ndarray:
    enc = build_encoder({"kind": "text", "model": str(model_dir), "sil_token": True})
    return enc.model.get_input_embeddings().weight[enc.sil_id].detach().numpy().copy()


def test_learned_sil_row_differs_from_its_initialisation(tmp_path: Path, tiny_bert_dir: Path) -> None:
    out = tmp_path / "adapted"
    result = adapt_text_model(
        [("conversation", CONVERSATION), ("target", TARGET)], out, model=str(tiny_bert_dir), config=FAST,
        progress=False,
    )  # fmt: skip
    assert result.head_init == "tied-embeddings"  # the checkpoint had no MLM head: never a random decoder
    assert [s["name"] for s in result.stages] == ["conversation", "target"]
    assert all(len(s["val_loss"]) == 3 and s["n_val"] >= 1 for s in result.stages)
    init = _sil_row(tiny_bert_dir)  # add_sil_token's initialisation (mean of all rows)
    learned = _sil_row(out)
    assert not np.allclose(learned, init, atol=1e-4)
    adapted = build_encoder({"kind": "text", "model": str(out), "sil_token": True})
    assert adapted.tokens("sad [SIL] happy") == ["[CLS]", "sad", "[SIL]", "happy", "[SEP]"]
    info = json.loads((out / INFO_NAME).read_text())
    assert info["config"]["epochs"] == 3 and info["head_init"] == "tied-embeddings"
    assert not out.with_name("adapted.partial").exists()  # the checkpoint directory is cleared at the end
    assert not [p for p in out.rglob("*") if p.suffix in (".bin", ".pt", ".pkl", ".pth")]  # no pickle
    with pytest.raises(ConfigError, match="exists"):
        adapt_text_model([("again", TARGET)], out, model=str(tiny_bert_dir), config=FAST, progress=False)


def test_a_killed_adaptation_resumes_from_its_last_epoch(
    tmp_path: Path, tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "adapted"
    saves: list[dict] = []
    real_save = _Checkpoint.save_state

    def dying_save(self: _Checkpoint, state: dict) -> None:
        real_save(self, state)
        saves.append(json.loads(json.dumps(state)))
        if state["stage"] == 0 and state["epoch"] == 2:
            raise KeyboardInterrupt  # killed right after the second epoch was written

    monkeypatch.setattr(_Checkpoint, "save_state", dying_save)
    with pytest.raises(KeyboardInterrupt):
        adapt_text_model([("conversation", CONVERSATION), ("target", TARGET)], out, model=str(tiny_bert_dir),
                         config=FAST, progress=False)  # fmt: skip
    partial = tmp_path / "adapted.partial"
    assert not out.exists() and (partial / STATE_NAME).is_file()
    assert {p.name for p in partial.glob("*.safetensors")} >= {"current.safetensors", "optimizer.safetensors"}
    before = saves[-1]["stages"][0]["train_loss"]
    monkeypatch.setattr(_Checkpoint, "save_state", real_save)
    with pytest.raises(ConfigError, match="other tables or settings"):  # never resumed with other inputs
        adapt_text_model(
            [("conversation", CONVERSATION)], out, model=str(tiny_bert_dir), config=FAST, progress=False
        )
    calls: list[int] = []
    import emofuse.encoders.text_adapt as text_adapt

    real_loss = text_adapt._mean_loss
    monkeypatch.setattr(text_adapt, "_mean_loss", lambda *a, **k: calls.append(1) or real_loss(*a, **k))
    result = adapt_text_model([("conversation", CONVERSATION), ("target", TARGET)], out, model=str(tiny_bert_dir),
                              config=FAST, progress=False)  # fmt: skip
    first = result.stages[0]
    assert first["train_loss"][:2] == before  # the finished epochs were kept, not redone
    assert len(first["train_loss"]) == 3 and len(result.stages[1]["train_loss"]) == 3
    assert len(calls) == 2 * (1 + 3)  # train + validation: 1 epoch left of stage 1, 3 of stage 2
    assert not np.allclose(_sil_row(out), _sil_row(tiny_bert_dir), atol=1e-4)


def test_early_stopping_keeps_the_best_epoch(tmp_path: Path, tiny_bert_dir: Path) -> None:
    config = AdaptConfig(
        epochs=6, lr=0.5, mask_prob=0.4, batch_size=6, patience=1, val_fraction=0.3
    )  # diverges
    result = adapt_text_model([("c", CONVERSATION)], tmp_path / "a", model=str(tiny_bert_dir), config=config,
                              progress=False)  # fmt: skip
    stage = result.stages[0]
    assert len(stage["val_loss"]) < 6  # stopped early
    assert stage["best_epoch"] == int(np.argmin(stage["val_loss"])) + 1


def test_cli_adapts_and_bad_input_is_one_line(tmp_path: Path, tiny_bert_dir: Path, emofuse_cli: Any) -> None:
    table = tmp_path / "transcripts.jsonl"
    pd.DataFrame({"utterance_id": [f"u{i}" for i in range(len(TARGET))], "text_with_sil": TARGET}).to_json(
        table, orient="records", lines=True
    )
    out = tmp_path / "model"
    cases = [
        ([str(tmp_path / "none.jsonl"), "--out", str(out)], "none.jsonl"),
        ([str(table), "--out", str(out), "--column", "words"], "'words'"),
        ([str(table), "--out", str(out), "--mask-prob", "1.5"], "--mask-prob"),
        ([str(table), "--out", str(tmp_path)], "exists"),
    ]
    for args, name in cases:
        code, err = emofuse_cli(["adapt-text", *args, "--model", str(tiny_bert_dir)])
        assert code == 2, err
        assert name in err and "Traceback" not in err and len(err.strip().splitlines()) <= 2
    code, err = emofuse_cli(["adapt-text", str(table), "--out", str(out), "--model", str(tiny_bert_dir),
                      "--epochs", "1", "--no-progress"])  # fmt: skip
    assert code == 0, err
    assert "best epoch 1" in err and (out / "config.json").is_file()
