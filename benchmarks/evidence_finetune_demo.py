"""Evidence for encoder fine-tuning on the demo corpus (issue 10): MiniLM frozen vs fine-tuned, and fusion with
MiniLM frozen vs FT=>FRZ, 3 seeds, the same speaker-independent folds.

Systems (4 classes, the corpus's own transcripts, 4 speaker-grouped folds, fixed epochs, no dev set):

* ``text_frozen``: all-MiniLM-L6-v2 last layer, cached (frozen), mean+max pooling, dense head.
* ``text_ft``: the same model with MiniLM inside it, fine-tuned (``training.mode: end_to_end``).
* ``fusion_frozen``: eGeMAPS (cached, standardised) + frozen MiniLM, early fusion.
* ``fusion_ft_frz``: the same with MiniLM fine-tuned for the first epochs, then frozen (FT=>FRZ).

Writes ``benchmarks/results/finetune_demo.json`` (per-system median and IQR of ``uar`` over seeds, and
per-seed figures). Run: ``python benchmarks/evidence_finetune_demo.py [--out DIR] [--seeds 3] [--epochs 8]``.
The machine is shared: train times are indicative; the scores do not depend on the load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "finetune_demo.json"
LABELS = ["angry", "happy", "neutral", "sad"]


def recipe(name: str, fusion: bool, tuning: dict[str, Any] | None, epochs: int) -> Any:
    from emofuse.recipes.schema import Recipe

    features: dict[str, Any] = {
        "text": {"encoder": {"kind": "text", "model": "minilm", "layers": "last"}, "input": "transcript"}
    }
    branches: dict[str, Any] = {
        "text": {"type": "mean_max", "params": {"pooling": "mean_max", "dropout": 0.1}}
    }
    if fusion:
        features["audio"] = {"encoder": "opensmile.egemaps", "input": "audio", "standardize": True}
        branches["audio"] = {"type": "mean_max", "params": {"pooling": "mean", "dropout": 0.1}}
    return Recipe.model_validate(
        {
            "name": name,
            "data": {"task": "classes", "labels": LABELS},
            "features": features,
            "model": {
                "branches": branches,
                "fusion": "early" if fusion else "none",
                "fusion_params": {"hidden": 64, "dropout": 0.1},
                "head": {"type": "classes"},
            },
            "training": {
                "mode": "end_to_end" if tuning is not None else "cached",
                "encoder_tuning": tuning or {},
                "optimizer": "adamw",
                "lr": 1e-3,
                "batch_size": 16,
                "max_epochs": epochs,
                "seeds": 3,
                "warmup_steps": 10,
                "length_bucketing": True,
            },
            "protocol": {"kind": "speaker-kfold", "k": 4, "dev_fraction": 0.0},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="working directory (default: a temp dir)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--switch", type=int, default=3, help="FT=>FRZ: epochs before MiniLM is frozen")
    parser.add_argument("--encoder-lr", type=float, default=3e-5)
    args = parser.parse_args()

    import numpy as np
    import pandas as pd

    from emofuse.corpus.demo import make_demo_corpus
    from emofuse.corpus.leaks import LeakWarning
    from emofuse.corpus.protocols import make_folds
    from emofuse.corpus.table import read_table
    from emofuse.encoders import FeatureStore
    from emofuse.io import atomic_write_json
    from emofuse.train.runner import run_experiment

    work = args.out or Path(tempfile.mkdtemp(prefix="emofuse-ft-demo-"))
    table = read_table(make_demo_corpus(work / "corpus", progress=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LeakWarning)
        folds = make_folds(
            table, "speaker-kfold", n_folds=4, seed=0, dev_fraction=0.0, check=True, strict=True
        )
    ft = {"encoder_lr": args.encoder_lr}
    systems = {
        "text_frozen": recipe("text_frozen", False, None, args.epochs),
        "text_ft": recipe("text_ft", False, {"text": ft}, args.epochs),
        "fusion_frozen": recipe("fusion_frozen", True, None, args.epochs),
        "fusion_ft_frz": recipe(
            "fusion_ft_frz", True, {"text": {**ft, "freeze_after_epochs": args.switch}}, args.epochs
        ),
    }
    store = FeatureStore(work / "features")
    out: dict[str, Any] = {
        "benchmark": "evidence_finetune_demo",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_1min": os.getloadavg()[0]},
        "settings": {
            "utterances": len(table),
            "folds": 4,
            "seeds": args.seeds,
            "epochs": args.epochs,
            "head_lr": 1e-3,
            "encoder_lr": args.encoder_lr,
            "ft_frz_switch_epoch": args.switch,
            "text": "corpus transcripts",
            "text_model": "all-MiniLM-L6-v2 (last layer)",
        },  # fmt: skip
        "systems": {},
    }
    for name, r in systems.items():
        started = time.perf_counter()
        res = run_experiment(
            r,
            table,
            folds,
            store,
            work / "runs",
            seeds=args.seeds,
            progress=False,
            report=False,
            torch_threads=1,
        )
        preds = res.predictions
        per_seed = []
        for seed, part in preds.groupby("seed"):
            from emofuse.evaluate.metrics import classification_metrics

            proba = part[[f"p_{lab}" for lab in LABELS]].to_numpy()
            m = classification_metrics(
                part["label"].to_numpy(), proba, LABELS, y_pred=part["pred"].to_numpy()
            )
            per_seed.append({"seed": int(seed), "uar": float(m["uar"]), "accuracy": float(m["accuracy"])})
        uars = np.asarray([s["uar"] for s in per_seed])
        q1, med, q3 = np.percentile(uars, [25, 50, 75])
        out["systems"][name] = {
            "uar_median": round(float(med), 4),
            "uar_iqr": round(float(q3 - q1), 4),
            "per_seed": per_seed,
            "train_time_s": round(time.perf_counter() - started, 1),
        }
        print(name, json.dumps(out["systems"][name]), flush=True)
        atomic_write_json(RESULTS, out)
    print(json.dumps(out, indent=2))
    del pd


if __name__ == "__main__":
    main()
