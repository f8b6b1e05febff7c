"""perez2022's word-gap silence ratio as a model input: the transcripts table's ``silence_ratio`` read by the
``word_gap_ratio`` encoder (``input: asr_silence_ratio``), stored like any feature, z-scored on the training part of
the fold, and learned from (``perez2022/bert_silfeat_ccc``; the text branch is an uninformative fake vector)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emofuse.corpus.protocols import Fold
from emofuse.corpus.table import make_table
from emofuse.encoders import FeatureStore, build_encoder, encoder_id_of
from emofuse.errors import ConfigError, CorpusError
from emofuse.hashing import text_key
from emofuse.recipes.schema import FeatureConfig
from emofuse.train.data import branch_texts
from emofuse.train.rundir import RunDir
from emofuse.transcribe.source import TextSource
from emofuse.transcribe.types import Transcript

MADE_WITH = TextSource().model_dump(mode="json")
N = 30
RATIO_OF_LEVEL = (0.55, 0.35, 0.15)  # more silence, lower arousal


def _corpus(tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame, FeatureStore, list[Fold]]:
    rng = np.random.default_rng(5)
    store = FeatureStore(tmp_path / "store")
    records, trans = [], []
    for i in range(N):
        uid, level = f"u{i:02d}", i % 3
        text = f"utterance {i}"
        records.append(
            dict(utterance_id=uid, audio_path=None, speaker=f"spk{i % 5}", transcript=text, label="neutral",
                 arousal=2.0 + 2.0 * level + 0.2 * rng.standard_normal(), valence=4.0, dominance=4.0)
        )  # fmt: skip
        ratio = RATIO_OF_LEVEL[level] + 0.03 * rng.standard_normal()
        trans.append(
            dict(utterance_id=uid, text=text, text_with_sil=text, silence_ratio=ratio, text_source=MADE_WITH)
        )
        store.put("fake-cls-0001", text_key(text), rng.standard_normal(8).astype(np.float32))
    table = make_table(records, corpus="wordgaps")
    ids = {s: [u for u, sp in zip(table["utterance_id"], table["speaker"], strict=True) if sp == s] for s in
           sorted(set(table["speaker"]))}  # fmt: skip
    folds = [
        Fold(
            "f0",
            train=(*ids["spk0"], *ids["spk1"], *ids["spk2"]),
            dev=tuple(ids["spk3"]),
            test=tuple(ids["spk4"]),
        )
    ]
    return table, pd.DataFrame(trans), store, folds


def test_the_input_needs_its_encoder_and_the_encoder_its_input() -> None:
    FeatureConfig(encoder={"kind": "word_gap_ratio"}, input="asr_silence_ratio")
    with pytest.raises(ValueError, match="use input: asr_silence_ratio"):
        FeatureConfig(encoder={"kind": "word_gap_ratio"}, input="asr")
    with pytest.raises(ValueError, match="word_gap_ratio"):
        FeatureConfig(encoder="text", input="asr_silence_ratio")
    enc = build_encoder({"kind": "word_gap_ratio"})
    assert enc.output == "pooled" and enc.dim == 1
    assert enc.encode(repr(0.25)).tolist() == [0.25]
    transcript = Transcript(text="a b", words=[], duration_s=1.0, backend="x", silence_ratio=0.4)
    assert enc.encode(transcript).tolist() == pytest.approx([0.4])  # what the Predictor hands it
    with pytest.raises(ConfigError, match="not in \\[0, 1\\]"):
        enc.encode("1.5")


def test_branch_texts_read_the_column_and_name_bad_rows(tmp_path: Path) -> None:
    table, trans, _, _ = _corpus(tmp_path)
    texts = branch_texts(table, "asr_silence_ratio", trans)
    assert float(texts["u00"]) == pytest.approx(trans.loc[0, "silence_ratio"])
    bad = trans.copy()
    bad.loc[3, "silence_ratio"] = float("nan")
    with pytest.raises(CorpusError, match="u03"):
        branch_texts(table, "asr_silence_ratio", bad)
    bad.loc[3, "silence_ratio"] = 2.0
    with pytest.raises(ConfigError, match="utterance u03"):
        branch_texts(table, "asr_silence_ratio", bad)


def test_silfeat_recipe_learns_arousal_from_the_word_gap_ratio(tmp_path: Path) -> None:
    from emofuse.recipes import load_recipes
    from emofuse.train.runner import run_experiment

    table, trans, store, folds = _corpus(tmp_path)
    over = ["features.text.encoder=fake.cls", "training.max_epochs=40", "training.batch_size=8",
            "training.seeds=1", "training.lr=0.01", "training.early_stopping=null"]  # fmt: skip
    recipes = load_recipes(["perez2022/bert_silfeat_ccc"], over)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_experiment(
            recipes, table, folds, store, tmp_path / "out", transcripts=trans,
            encoder_ids={"fake.cls": "fake-cls-0001"}, progress=False, report=False, torch_threads=1,
        )  # fmt: skip
    run_dir = Path(res.runs["run_dir"][0])
    cfg = RunDir(run_dir).read_config().model_dump(mode="json")
    branch = cfg["branches"]["silence"]
    assert branch["input"] == "asr_silence_ratio"
    assert branch["encoder_id"] == encoder_id_of({"kind": "word_gap_ratio"})[0]
    train = trans.set_index("utterance_id").loc[list(folds[0].train), "silence_ratio"]
    assert branch["standardizer"]["mean"] == pytest.approx([train.mean()], abs=1e-5)  # training part only
    stored = store.get(branch["encoder_id"], text_key(repr(float(trans.loc[7, "silence_ratio"]))))
    assert stored.tolist() == pytest.approx([trans.loc[7, "silence_ratio"]])
    ccc = json.loads((run_dir / "metrics.json").read_text())["test"]["ccc_arousal"]
    assert ccc > 0.5  # the ratio carries arousal here; the fake text vectors carry nothing
