"""`emofuse extract` and `emofuse store` end to end (offline models only)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from emofuse.cli.main import app
from emofuse.corpus.table import write_table
from emofuse.encoders import FeatureStore

runner = CliRunner()


def _mtimes(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*.npy")}


def test_extract_fills_store_and_second_run_is_cached(tmp_path, enc_corpus, tiny_hubert_dir):
    table, _ = enc_corpus
    corpus = tmp_path / "corpus.jsonl"
    write_table(table, corpus)
    root = tmp_path / "store"
    hubert = json.dumps({"kind": "ssl", "model": str(tiny_hubert_dir), "layers": [-1]})
    args = [
        "extract",
        "spectral.chroma12",
        hubert,
        "text",
        "--corpus",
        str(corpus),
        "--store",
        str(root),
        "--no-progress",
        "--workers",
        "2",
        "--float16",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    store = FeatureStore(root)
    ids = store.encoder_ids()
    assert len(ids) == 3 and {i.split("-")[0] for i in ids} == {"spectral", "ssl", "text"}
    for enc in ids:
        assert store.count(enc) == len(table)
        assert store.manifest(enc)["storage_dtype"] == "float16"
    text_id = next(i for i in ids if i.startswith("text-"))
    arr = store.get(text_id, store.keys(text_id)[0])
    assert arr.ndim == 3 and arr.shape[0] == 7 and arr.shape[2] == 384
    before = _mtimes(root)
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert _mtimes(root) == before  # nothing recomputed or rewritten

    info = runner.invoke(app, ["store", "info", "--store", str(root)])
    assert info.exit_code == 0 and text_id[:10] in info.output
    pruned = runner.invoke(app, ["store", "prune", "--store", str(root), "--encoder", text_id])
    assert pruned.exit_code == 0, pruned.output
    assert text_id not in FeatureStore(root).encoder_ids()


def test_extract_errors_are_clear(tmp_path, enc_corpus):
    table, _ = enc_corpus
    corpus = tmp_path / "corpus.jsonl"
    write_table(table.assign(transcript=None), corpus)
    from emofuse.errors import ConfigError

    bad = runner.invoke(app, ["extract", "spectral.mel99", "--corpus", str(corpus), "--store", str(tmp_path)])
    assert isinstance(bad.exception, ConfigError) and "spectral.mel99" in str(bad.exception)
    no_text = runner.invoke(
        app, ["extract", "text", "--corpus", str(corpus), "--store", str(tmp_path), "--no-progress"]
    )
    assert isinstance(no_text.exception, ConfigError) and "no text" in str(no_text.exception)
    asr = runner.invoke(
        app, ["extract", "text", "--corpus", str(corpus), "--text-source", "asr", "--store", str(tmp_path)]
    )
    assert isinstance(asr.exception, ConfigError) and "--transcripts" in str(asr.exception)


def test_recipe_expands_to_its_encoders():
    recipes = pytest.importorskip("emofuse.recipes")
    from emofuse.cli.extract import _expand_specs

    path = recipes.resolve_recipe_path("pepino2020/audio")
    expanded = _expand_specs([str(path)])
    assert [(spec, source) for _, spec, source in expanded] == [("opensmile.pepino_lld", None)]
    assert _expand_specs(["pepino2020/audio"])[0][1] == "opensmile.pepino_lld"


TRANSCRIPTS = {
    "u0": "the weather is lovely today [SIL] and i feel great",
    "u1": "i can not believe you did that to me",
    "u2": "please leave the papers [SIL] on the table",
    "u3": "we will meet again tomorrow morning",
}


def test_extract_text_from_asr_sil_transcripts(tmp_path, enc_corpus, tiny_bert_dir):
    from emofuse.encoders import build_encoder
    from emofuse.hashing import text_key

    table, _ = enc_corpus
    corpus = tmp_path / "corpus.jsonl"
    write_table(table, corpus)
    transcripts = tmp_path / "transcripts.jsonl"
    lines = [
        json.dumps({"utterance_id": u, "text": t.replace(" [SIL]", ""), "text_with_sil": t, "words": []})
        for u, t in TRANSCRIPTS.items()
    ]
    transcripts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = {"kind": "text", "model": str(tiny_bert_dir), "sil_token": True, "layers": "last"}
    root = tmp_path / "store"
    args = ["extract", json.dumps(spec), "--corpus", str(corpus), "--store", str(root), "--no-progress"]
    result = runner.invoke(app, [*args, "--transcripts", str(transcripts), "--text-source", "asr_sil"])
    assert result.exit_code == 0, result.output
    enc = build_encoder(spec)
    stored = FeatureStore(root).get(enc.encoder_id, text_key(TRANSCRIPTS["u0"]))
    assert "[SIL]" in TRANSCRIPTS["u0"]
    assert stored.shape == enc.encode(TRANSCRIPTS["u0"]).shape
    assert stored.shape[0] == len(enc.tokens(TRANSCRIPTS["u0"]))
