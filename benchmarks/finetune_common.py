"""Shared pieces of the fine-tuning benchmark and the GPU check: a tiny corpus and tiny SSL models.

Nothing here reads a corpus from disk or the network: the audio is espeak-ng speech (falling back to noise when
espeak-ng is missing) and the SSL model is a randomly initialised ``Wav2Vec2Model`` saved with
``save_pretrained`` (the real class, tiny sizes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

LABELS = ["calm", "loud"]
WORDS = {"calm": "a quiet and calm morning by the lake", "loud": "stop shouting at me right now"}


def tiny_ssl(path: Path, hidden: int = 64, layers: int = 2) -> Path:
    """A random tiny ``Wav2Vec2Model`` (CNN front end + ``layers`` transformer layers) in ``path``."""
    import torch
    import transformers

    config = transformers.Wav2Vec2Config(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=2 * hidden,
        conv_dim=(32, 32, 32), conv_stride=(5, 4, 4), conv_kernel=(10, 4, 4), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2, feat_extract_norm="layer", mask_time_prob=0.0,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.Wav2Vec2Model(config).save_pretrained(str(path))
    return path


def tiny_corpus(root: Path, n: int = 32, seconds: float = 2.0) -> Any:
    """An utterance table of ``n`` WAVs (two classes: calm / loud speech, amplitude differs)."""
    from emofuse.audio import write_wav
    from emofuse.corpus.table import make_table

    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        label = LABELS[i % 2]
        wav = root / "wav" / f"u{i:03d}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        samples = int(seconds * 16000 * rng.uniform(0.6, 1.0))
        amp = 0.05 if label == "calm" else 0.4
        write_wav(wav, (amp * rng.standard_normal(samples)).astype(np.float32), 16000)
        rows.append(
            {"utterance_id": f"u{i:03d}", "audio_path": str(wav), "speaker": f"s{i % 8}", "transcript": WORDS[label],
             "label": label}
        )  # fmt: skip
    return make_table(rows, corpus="tiny")


def recipe(
    name: str,
    features: dict[str, Any],
    mode: str,
    tuning: dict[str, Any] | None = None,
    trainer: dict[str, Any] | None = None,
    epochs: int = 1,
    batch_size: int = 8,
) -> Any:
    """A one-branch (or more) classes recipe, mean+max pooling, dense head."""
    from emofuse.recipes.schema import Recipe

    return Recipe.model_validate(
        {
            "name": name,
            "data": {"task": "classes", "labels": LABELS},
            "features": features,
            "model": {
                "branches": {n: {"type": "mean_max", "params": {"pooling": "mean_max"}} for n in features},
                "fusion": "none" if len(features) == 1 else "early",
                "fusion_params": {"hidden": 32},
                "head": {"type": "classes"},
            },
            "training": {
                "mode": mode,
                "encoder_tuning": tuning or {},
                "max_epochs": epochs,
                "batch_size": batch_size,
                "seeds": [0],
                "lr": 1e-3,
                "class_weighting": "none",
            },  # fmt: skip
            "trainer": trainer or {},
            "protocol": {"kind": "random-kfold", "k": 2},
        }
    )


def one_fold(table: Any) -> Any:
    from emofuse.corpus.protocols import Fold

    ids = list(table["utterance_id"])
    cut = int(len(ids) * 0.75)
    return Fold("f1", train=tuple(ids[:cut]), dev=(), test=tuple(ids[cut:]))
