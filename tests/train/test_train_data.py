"""Batches and per-fold standardisation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from emofuse.errors import CorpusError
from emofuse.train.data import (
    BranchSource,
    EmotionDataset,
    FeatureCache,
    branch_texts,
    collate,
    encode_targets,
    fit_standardizers,
)


def _item(uid: str, target: int, **feats: np.ndarray) -> dict[str, Any]:
    return {"utterance_id": uid, "features": feats, "target": np.asarray(target)}


def test_collate_pads_frames_pooled_vectors_and_layers() -> None:
    rng = np.random.default_rng(0)
    a1, a2 = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((2, 3)).astype(np.float32)
    l1, l2 = (
        rng.standard_normal((4, 6, 2)).astype(np.float32),
        rng.standard_normal((4, 3, 2)).astype(np.float32),
    )
    p1, p2 = np.ones(7, np.float32), np.zeros(7, np.float32)
    batch = collate([_item("u1", 1, a=a1, l=l1, p=p1), _item("u2", 3, a=a2, l=l2, p=p2)])
    assert batch["utterance_id"] == ["u1", "u2"]
    assert batch["inputs"]["a"].shape == (2, 5, 3) and batch["masks"]["a"].tolist() == [
        [True] * 5,
        [True] * 2 + [False] * 3,
    ]
    assert (
        torch.equal(batch["inputs"]["a"][1, :2], torch.from_numpy(a2))
        and not batch["inputs"]["a"][1, 2:].any()
    )
    assert batch["inputs"]["l"].shape == (2, 4, 6, 2) and batch["masks"]["l"].sum(dim=1).tolist() == [6, 3]
    assert torch.equal(batch["inputs"]["l"][1, :, :3], torch.from_numpy(l2))
    assert batch["inputs"]["p"].shape == (2, 1, 7) and batch["masks"]["p"].all()
    assert batch["targets"].dtype == torch.int64 and batch["targets"].tolist() == [1, 3]
    empty = collate([_item("u3", 0, a=np.zeros((0, 3), np.float32))])
    assert empty["inputs"]["a"].shape == (1, 1, 3) and empty["masks"]["a"].all()


class _DictStore:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays, self.reads = arrays, 0

    def get(self, encoder_id: str, key: str) -> np.ndarray:
        self.reads += 1
        return self.arrays[key]


def test_standardizer_sees_only_the_training_ids_and_cache_reads_once() -> None:
    arrays = {
        "k1": np.full((3, 2), 1.0, np.float32),
        "k2": np.full((3, 2), 3.0, np.float32),
        "k3": np.full((3, 2), 1000.0, np.float32),
    }
    store = _DictStore(arrays)
    cache = FeatureCache(store)
    src = {"audio": BranchSource("audio", "enc", {"u1": "k1", "u2": "k2", "u3": "k3"}, standardize=True)}
    fit_standardizers(src, cache, ["u1", "u2"])
    assert src["audio"].standardizer.mean_.tolist() == [2.0, 2.0]  # the test utterance u3 did not leak in
    targets = {u: np.asarray(0) for u in ("u1", "u2", "u3")}
    ds = EmotionDataset(["u1", "u2", "u3"], src, cache, targets)
    assert np.allclose(ds[0]["features"]["audio"], -1.0) and np.allclose(ds[1]["features"]["audio"], 1.0)
    _ = [ds[i] for i in range(3)]
    assert store.reads == 3 and ds.input_dims() == {"audio": 2}


def test_targets_follow_the_label_map_and_texts_must_exist() -> None:
    import pandas as pd

    from emofuse.corpus.table import make_table

    table = make_table(
        [
            dict(utterance_id="a", audio_path="/x.wav", label="excited", transcript="yay"),
            dict(utterance_id="b", audio_path="/x.wav", label="Sad", transcript=None),
            dict(utterance_id="c", audio_path="/x.wav", label="frustrated", transcript="hm"),
            dict(utterance_id="d", audio_path="/x.wav", label=None, arousal=2.0, valence=3.0, dominance=4.0),
        ]
    )
    t = encode_targets(table, "classes", ["angry", "happy", "sad", "neutral"], {"excited": "happy"})
    assert {u: int(v) for u, v in t.items()} == {"a": 1, "b": 2}  # frustrated and unlabelled are left out
    avd = encode_targets(table, "avd", None, {})
    assert list(avd) == ["d"] and avd["d"].tolist() == [2.0, 3.0, 4.0]
    with pytest.raises(CorpusError, match="1 utterance.*no text.*'b'"):
        branch_texts(table[table["utterance_id"] != "d"], "transcript")
    asr = pd.DataFrame({"utterance_id": ["a"], "text": ["yay"], "text_with_sil": ["yay [SIL]"]})
    assert branch_texts(table.iloc[:1], "asr_sil", asr) == {"a": "yay [SIL]"}
