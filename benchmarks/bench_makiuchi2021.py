"""makiuchi2021 end to end on the demo corpus, offline, written to ``benchmarks/results/makiuchi2021.json``.

Stand-ins: a tiny random wav2vec2 (2 layers, hidden 32, the real 20 ms front-end geometry) saved locally
instead of wav2vec2-large-lv60, MiniLM instead of BERT-large, narrower decoder layers, 300 training steps
instead of 1 M, 1 seed, the demo's 4 speaker folds. Steps (each one an ``emofuse`` command, resumable):

1. the demo corpus (espeak-ng), its speaker folds and the tiny wav2vec2;
2. ``emofuse run makiuchi2021/speech makiuchi2021/speech_large makiuchi2021/fusion_fixed`` (phone ids,
   speaker means, log-mel targets extracted on the way);
3. ``emofuse explain speaker-probe`` on the "Small" and "Large" models of the first fold (makiuchi2021 Table 3;
   narrower probe layers than the paper's 2048, 1024, 1024 by default, for the 2-core machine);
4. a package of the fusion model of the first fold and ``emofuse predict`` on a new espeak-ng recording.

Figures: test ``uar`` / ``accuracy`` per system (mean over folds), the reconstruction loss of the first and
last epoch of each speech run, the probe's accuracy for Small and Large, the prediction.

Usage::

    .venv/bin/python benchmarks/bench_makiuchi2021.py [--work DIR] [--steps 300]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "makiuchi2021.json"
EMOFUSE = [sys.executable, "-c", "from emofuse.cli.main import console_main; console_main()"]
NARROW = {"conv_dim": 256, "phone_conv_dim": 128, "dim_pre": 128, "decoder_lstm_dim": 256, "postnet_dim": 128}


def _prepare(work: Path) -> None:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from emofuse.corpus.demo import make_demo_corpus
    from emofuse.corpus.leaks import LeakWarning
    from emofuse.corpus.protocols import SplitFile, make_folds, write_splits
    from emofuse.corpus.table import read_table

    table = read_table(make_demo_corpus(work / "corpus", progress=False))
    if not (work / "splits.json").is_file():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LeakWarning)  # template sentences repeat; speakers never do
            folds = make_folds(
                table, "speaker-kfold", n_folds=4, seed=0, dev_fraction=0.0, check=True, strict=True
            )
        write_splits(
            work / "splits.json", SplitFile("speaker-kfold", 0, folds, corpus="demo", options={"n_folds": 4})
        )
    model_dir = work / "tiny-wav2vec2"
    if not (model_dir / "config.json").is_file():
        torch.manual_seed(1)
        cfg = Wav2Vec2Config(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        )  # fmt: skip
        Wav2Vec2Model(cfg).save_pretrained(model_dir)


def _sh(args: list[str], work: Path) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def _run_figures(runs: Path, system: str) -> dict[str, Any]:
    folds = sorted((runs / system / "seed0").glob("fold*"))
    metrics = [json.loads((f / "metrics.json").read_text()) for f in folds]
    out: dict[str, Any] = {
        "uar": round(sum(m["test"]["uar"] for m in metrics) / len(metrics), 4),
        "accuracy": round(sum(m["test"]["accuracy"] for m in metrics) / len(metrics), 4),
        "folds": len(metrics),
    }
    recon = [[r["train_recon"] for r in m["history"] if "train_recon" in r] for m in metrics]
    if any(recon):
        out["train_recon_first_epoch"] = [round(r[0], 3) for r in recon if r]
        out["train_recon_last_epoch"] = [round(r[-1], 3) for r in recon if r]
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / ".work" / "makiuchi2021")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument(
        "--probe-hidden", default="256,128,128", help="probe layer sizes (the paper: 2048,1024,1024)"
    )
    args = parser.parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    _prepare(work)
    sets = [
        f"features.speech.encoder.model={work / 'tiny-wav2vec2'}",
        "features.text.encoder.model=minilm",
        f"training.max_steps={args.steps}",
        *(f"model.branches.speech.params.{k}={v}" for k, v in NARROW.items()),
    ]
    common = ["--corpus", "corpus/demo.jsonl", "--splits", "splits.json", "--store", "store", "--seeds", "1"]
    _sh([*EMOFUSE, "run", "makiuchi2021/speech", "makiuchi2021/speech_large", "makiuchi2021/fusion_fixed",
         *common, "--out", "runs", "--no-progress", *(a for s in sets for a in ("--set", s))], work)  # fmt: skip
    figures: dict[str, Any] = {
        s: _run_figures(work / "runs", s) for s in ("speech", "speech_large", "fusion_fixed")
    }
    first_fold = sorted((work / "runs" / "speech" / "seed0").glob("fold*"))[0].name
    small, large = (work / "runs" / s / "seed0" / first_fold for s in ("speech", "speech_large"))
    _sh([*EMOFUSE, "explain", "speaker-probe", str(small), str(large), "--corpus", "corpus/demo.jsonl",
         "--store", "store", "--out", "probe", "--hidden", args.probe_hidden],
        work)  # fmt: skip
    probe = json.loads((work / "probe" / "speaker_probe.json").read_text())
    figures["speaker_probe"] = {
        name: {k: round(probe[str(p)][k], 4) for k in ("accuracy", "uar", "chance", "feature_dim")}
        for name, p in (("small", small), ("large", large))
    }
    from emofuse.serve.package import export_from_run
    from emofuse.synth import speak

    package = export_from_run(work / "runs" / "fusion_fixed" / "seed0" / first_fold, work / "model")
    wav = speak("I cannot believe you did that again", work / "new_recording.wav", speed_wpm=190, pitch=70)
    line = (
        _sh([*EMOFUSE, "predict", str(wav), "--model", str(package), "--json"], work).strip().splitlines()[-1]
    )
    prediction = json.loads(line)
    figures["prediction"] = {
        "top_class": prediction["top_class"],
        "probabilities": prediction["probabilities"],
    }
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    figures["load_average"] = [round(v, 2) for v in os.getloadavg()]
    figures["settings"] = {
        "probe_hidden": args.probe_hidden,
        "steps": args.steps,
        "seeds": 1,
        "folds": 4,
        "narrow": NARROW,
        "wav2vec2": "tiny random",
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
