"""The transformers-free BERT path (``encoders.bert_lite`` + ``encoders.bert_infer``) against ``transformers`` itself.

Same token ids, same hidden states of every layer (within 1e-5) for a padded batch of texts of different
lengths, truncated, with and without ``[SIL]``; a model it does not reproduce falls back to ``transformers``;
a ``predict`` of a BERT package never imports ``transformers``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emofuse.encoders import build_encoder
from emofuse.encoders.bert_lite import FORCE_TRANSFORMERS_ENV, BertLite, load_bert_lite

TEXTS = [
    "I feel sad today",
    "the table [SIL] i feel HAPPY [sil] today today today the table",  # longer than MAX_TOKENS: truncated
    "",
    "unknownword café, table!",
    "sad[SIL]happy",
]
MAX_TOKENS = 12


def _reference(model_dir: Path, sil_init: str | None) -> tuple[Any, Any, int | None]:
    """``transformers`` tokenizer and model, with ``[SIL]`` added by the encoder's own rule when asked."""
    import transformers

    from emofuse.encoders.text import add_sil_token

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    model = transformers.AutoModel.from_pretrained(str(model_dir)).eval()
    sil_id = add_sil_token(tokenizer, model, sil_init) if sil_init else None
    return tokenizer, model, sil_id


def _vocab_only(model_dir: Path, tmp_path: Path) -> Path:
    """A copy of ``model_dir`` without tokenizer.json (the tokenizer is built from vocab.txt)."""
    copy = tmp_path / "vocab-only"
    shutil.copytree(model_dir, copy)
    (copy / "tokenizer.json").unlink()
    return copy


def _assert_same(lite: BertLite, model_dir: Path, sil_init: str | None, texts: list[str]) -> None:
    import torch

    from emofuse.encoders.text import _SIL_RE, SIL_TOKEN

    tokenizer, model, sil_id = _reference(model_dir, sil_init)
    assert lite.sil_id == sil_id
    prepared = [_SIL_RE.sub(SIL_TOKEN, t) for t in texts] if sil_init else texts
    enc = tokenizer(prepared, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
    with torch.inference_mode():
        expected = torch.stack(model(**enc, output_hidden_states=True).hidden_states).numpy()
    states, ids, mask = lite.hidden_states(prepared)
    np.testing.assert_array_equal(ids, enc["input_ids"].numpy())
    np.testing.assert_array_equal(mask, enc["attention_mask"].numpy())
    assert states.shape == expected.shape == (lite.n_layers, len(texts), ids.shape[1], lite.dim)
    np.testing.assert_allclose(states, expected, atol=1e-5, rtol=0)  # every layer, padded positions too
    for text in prepared:
        reference = tokenizer.convert_ids_to_tokens(
            tokenizer(text, truncation=True, max_length=MAX_TOKENS)["input_ids"]
        )
        assert lite.tokens(text) == reference
    assert set(lite.special_ids) == set(tokenizer.all_special_ids)


@pytest.mark.parametrize("sil_init", [None, "mean", "sep", "pad"])
@pytest.mark.parametrize("source", ["tokenizer.json", "vocab.txt"])
def test_same_ids_and_hidden_states_as_transformers(
    tiny_bert_dir: Path, tmp_path: Path, source: str, sil_init: str | None
) -> None:
    model_dir = tiny_bert_dir if source == "tokenizer.json" else _vocab_only(tiny_bert_dir, tmp_path)
    lite = load_bert_lite(
        str(model_dir), MAX_TOKENS, sil_token=sil_init is not None, sil_init=sil_init or "mean"
    )
    assert lite is not None
    assert not any(p.is_meta or p.requires_grad for p in lite.model.parameters())  # loaded, frozen
    _assert_same(lite, model_dir, sil_init, TEXTS)
    assert lite.tokens("[CLS] i") == ["[CLS]", "[CLS]", "i", "[SEP]"]  # typed special tokens are kept as such
    if sil_init:
        assert lite.tokens("sad [SIL] happy").count("[SIL]") == 1


def test_a_model_that_already_holds_sil_keeps_its_row(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """An adapted model (``[SIL]`` in its tokenizer and embeddings) is read as saved, not grown again."""
    tokenizer, model, sil_id = _reference(tiny_bert_dir, "sep")
    adapted = tmp_path / "adapted"
    with_row = model.get_input_embeddings().weight.detach().clone()
    import torch

    with torch.no_grad():
        model.get_input_embeddings().weight[sil_id] = torch.arange(with_row.shape[1]) / 10.0  # "learned"
    tokenizer.save_pretrained(adapted)
    model.save_pretrained(adapted)
    lite = load_bert_lite(str(adapted), MAX_TOKENS, sil_token=True, sil_init="mean")
    assert lite is not None and lite.sil_id == sil_id
    row = lite.model.embeddings.word_embeddings.weight[sil_id].numpy()
    np.testing.assert_allclose(row, np.arange(with_row.shape[1]) / 10.0)
    _assert_same(lite, adapted, "mean", TEXTS)


def test_an_mlm_checkpoint_loads_without_its_head(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """``BertForMaskedLM`` saves ``bert.*`` and ``cls.*`` keys (what the MLM stage writes)."""
    import transformers

    mlm = transformers.BertForMaskedLM.from_pretrained(str(tiny_bert_dir))
    out = tmp_path / "mlm"
    mlm.save_pretrained(out)
    transformers.AutoTokenizer.from_pretrained(str(tiny_bert_dir)).save_pretrained(out)
    lite = load_bert_lite(str(out), MAX_TOKENS, sil_token=False, sil_init="mean")
    assert lite is not None
    _assert_same(lite, out, None, TEXTS)


def test_a_pytorch_bin_checkpoint_loads_without_unpickling_code(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """``pytorch_model.bin`` (older checkpoints) is read with ``torch.load(weights_only=True)``."""
    import torch
    from safetensors.torch import load_file

    out = tmp_path / "bin"
    shutil.copytree(tiny_bert_dir, out)
    state = load_file(str(out / "model.safetensors"))
    (out / "model.safetensors").unlink()
    torch.save(state, out / "pytorch_model.bin")
    lite = load_bert_lite(str(out), MAX_TOKENS, sil_token=True, sil_init="mean")
    assert lite is not None
    _assert_same(lite, out, "mean", TEXTS)


def _edit_config(model_dir: Path, tmp_path: Path, **changes: Any) -> Path:
    copy = tmp_path / "edited"
    shutil.copytree(model_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, **changes}))
    return copy


@pytest.mark.parametrize(
    "changes",
    [
        {"hidden_act": "relu"},
        {"position_embedding_type": "relative_key"},
        {"is_decoder": True},
        {"dtype": "float16"},
    ],
    ids=["relu", "relative-positions", "decoder", "float16"],
)
def test_other_architectures_fall_back(tiny_bert_dir: Path, tmp_path: Path, changes: dict[str, Any]) -> None:
    assert load_bert_lite(str(_edit_config(tiny_bert_dir, tmp_path, **changes)), 8, False, "mean") is None


def test_a_non_bert_model_and_odd_weights_fall_back(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    roberta = _edit_config(tiny_bert_dir, tmp_path, model_type="roberta")
    assert load_bert_lite(str(roberta), 8, False, "mean") is None
    assert load_bert_lite("bert-base-uncased", 8, False, "mean") is None  # a Hub id: transformers resolves it
    extra = tmp_path / "extra-key"
    shutil.copytree(tiny_bert_dir, extra)
    state = load_file(str(extra / "model.safetensors"))
    save_file({**state, "encoder.layer.0.attention.self.rotary.weight": state["embeddings.LayerNorm.weight"].clone()},
              str(extra / "model.safetensors"))  # fmt: skip
    assert load_bert_lite(str(extra), 8, False, "mean") is None
    missing = tmp_path / "missing-key"
    shutil.copytree(tiny_bert_dir, missing)
    state.pop("encoder.layer.1.output.dense.bias")
    save_file(state, str(missing / "model.safetensors"))
    assert load_bert_lite(str(missing), 8, False, "mean") is None
    for broken in ("model.safetensors", "tokenizer.json"):  # transformers then names the file to the user
        copy = tmp_path / f"broken-{broken}"
        shutil.copytree(tiny_bert_dir, copy)
        (copy / broken).write_bytes(b"not a model")
        assert load_bert_lite(str(copy), 8, False, "mean") is None


def test_a_fallback_encoder_still_encodes_through_transformers(tiny_bert_dir: Path, tmp_path: Path) -> None:
    relu = _edit_config(tiny_bert_dir, tmp_path, hidden_act="relu")
    enc = build_encoder({"kind": "text", "model": str(relu), "layers": "last"})
    assert enc._lite is None
    tokenizer, model, _ = _reference(relu, None)
    import torch

    with torch.inference_mode():
        expected = model(**tokenizer(["i feel sad"], return_tensors="pt")).last_hidden_state[0].numpy()
    np.testing.assert_allclose(enc.encode("i feel sad"), expected, atol=1e-6)


SPECS = [
    {"layers": "all", "pooling": "none"},
    {"layers": "last", "pooling": "mean", "special_tokens": "drop", "sil_token": True},
    {"layers": "all", "pooling": "cls", "sil_token": True, "sil_init": "pad"},
    {"layers": "last", "pooling": "none", "special_tokens": "drop", "max_tokens": 6, "batch_size": 2},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "-".join(f"{v}" for v in s.values()))
def test_text_encoder_outputs_equal_the_transformers_path(
    tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch, spec: dict[str, Any]
) -> None:
    full = {"kind": "text", "model": str(tiny_bert_dir), **spec}
    lite = build_encoder(full)
    monkeypatch.setenv(FORCE_TRANSFORMERS_ENV, "1")
    reference = build_encoder(full)
    assert lite._lite is not None and reference._lite is None
    assert (lite.dim, lite.n_layers, lite.output, lite.sil_id, lite.encoder_id) == (
        reference.dim, reference.n_layers, reference.output, reference.sil_id, reference.encoder_id
    )  # fmt: skip
    for a, b in zip(lite.encode_batch(TEXTS), reference.encode_batch(TEXTS), strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    assert [lite.tokens(t) for t in TEXTS] == [reference.tokens(t) for t in TEXTS]


def test_model_access_switches_the_encoder_to_transformers(tiny_bert_dir: Path) -> None:
    """Fine-tuning and attributions use ``encoder.model``; from then on the encoder runs that very model."""
    import torch

    enc = build_encoder({"kind": "text", "model": str(tiny_bert_dir), "layers": "last", "sil_token": True})
    before = enc.encode("i feel [SIL] sad")
    model = enc.model
    assert enc._lite is None and enc.tokenizer.convert_tokens_to_ids("[SIL]") == enc.sil_id
    np.testing.assert_allclose(enc.encode("i feel [SIL] sad"), before, atol=1e-5)
    with torch.no_grad():
        model.get_input_embeddings().weight.mul_(2.0)  # a tuned model: the encoder follows it
    assert not np.allclose(enc.encode("i feel [SIL] sad"), before, atol=1e-3)


@pytest.mark.slow
def test_offline_minilm_equals_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The offline default all-MiniLM-L6-v2 (30522 words, 6 layers), with and without ``[SIL]``."""
    from emofuse.encoders.hf import resolve_model

    path = Path(resolve_model(None))
    texts = [
        *TEXTS,
        "Thé quick brown fox — jumped over 東京's lazy dog, didn't it?",
        "i was [SIL] really sad",
    ]
    for sil_init in (None, "mean"):
        lite = load_bert_lite(
            str(path), MAX_TOKENS, sil_token=sil_init is not None, sil_init=sil_init or "mean"
        )
        assert lite is not None and lite.dim == 384 and lite.n_layers == 7
        _assert_same(lite, path, sil_init, texts)
    assert lite.sil_id == 30522


PREDICT_WITHOUT_TRANSFORMERS = """
import sys
import numpy as np
from emofuse.serve.predictor import Predictor
p = Predictor.from_pretrained(sys.argv[1])
wave = np.random.default_rng(0).normal(scale=0.1, size=16000).astype(np.float32)
prediction = p.predict_wave(wave, 16000, transcript="i feel sad today")
assert prediction.probabilities, prediction
heavy = ("transformers", "lightning", "pytorch_lightning", "matplotlib", "torch._dynamo")
print(sorted(m for m in sys.modules if m in heavy or m.split(".")[0] in heavy))
"""


def test_predict_of_a_bert_package_never_imports_transformers(
    tiny_bert: Path, tmp_path: Path, write_text_run: Any
) -> None:
    from emofuse.serve.package import export_from_run

    spec = {"kind": "text", "model": str(tiny_bert), "sil_token": True, "layers": "last"}
    run = write_text_run(tmp_path / "run" / "bert" / "seed0" / "fold0", spec)
    package = export_from_run(run, tmp_path / "package")
    done = subprocess.run(
        [sys.executable, "-c", PREDICT_WITHOUT_TRANSFORMERS, str(package)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert (
        done.stdout.strip().splitlines()[-1] == "[]"
    )  # no transformers, Lightning, matplotlib, torch._dynamo
