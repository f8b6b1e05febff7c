"""Benchmark of end_to_end fine-tuning against cached training (issue 10).

For all-MiniLM-L6-v2 (text) and a tiny random SSL speech model (``Wav2Vec2Model``, 2 layers, hidden 64), one
run of one epoch in ``cached`` mode (features already in the store) and in ``end_to_end`` mode (encoder
fine-tuned), in 1 process and in 2 processes (Lightning DDP, gloo, forked CPU processes). Each configuration
runs in a fresh Python process; configurations are interleaved (A/B/A/B) and repeated ``--repeats`` times.

Figures per configuration: training utterances per second of the run (``n_train / train_time_s``; the run
time includes building the datasets and predicting the test part) and the peak resident memory of the process
and its children (MiB). Writes ``benchmarks/results/finetune.json``. Run:
``python benchmarks/bench_finetune.py [--utterances 64] [--repeats 2]``. The machine is shared: compare ratios
within one run; the 1-minute load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

RESULTS = Path(__file__).resolve().parent / "results" / "finetune.json"


def _features(encoder: str, ssl_dir: Path) -> dict[str, Any]:
    if encoder == "minilm":
        return {
            "text": {"encoder": {"kind": "text", "model": "minilm", "layers": "last"}, "input": "transcript"}
        }
    return {"audio": {"encoder": {"kind": "ssl", "model": str(ssl_dir), "layers": "all"}, "input": "audio"}}


def child(args: argparse.Namespace) -> None:
    """One configuration in this process: prints one JSON line."""
    import torch

    from emofuse.encoders import FeatureStore
    from emofuse.io import read_json
    from emofuse.train.features import FeaturePlan
    from emofuse.train.rundir import RunDir
    from emofuse.train.runner import run_experiment
    from finetune_common import one_fold, recipe, tiny_corpus

    torch.set_num_threads(1)
    work = Path(args.work)
    table = tiny_corpus(work / "corpus", n=args.utterances)
    feats = _features(args.encoder, work / "ssl")
    branch = next(iter(feats))
    tuning = (
        {branch: {"freeze": ["feature_encoder"]} if args.encoder == "ssl" else {}}
        if args.mode == "end_to_end"
        else None
    )
    trainer = {"devices": args.processes, "strategy": "ddp_fork"} if args.processes > 1 else {}
    name = f"{args.encoder}_{args.mode}_{args.processes}p_{args.tag}"
    r = recipe(name, feats, args.mode, tuning, trainer, epochs=1, batch_size=8)
    store = FeatureStore(work / "store")
    FeaturePlan(table, store, None, progress=False).sources(r)  # cached mode: extraction is not timed
    runs = Path(tempfile.mkdtemp(prefix="runs-", dir=work))  # a fresh output: the run is never a finished one
    started = time.perf_counter()
    run_experiment(r, table, [one_fold(table)], store, runs, progress=False, report=False)
    wall = time.perf_counter() - started
    metrics = read_json(RunDir.of(runs, name, 0, 0).metrics_path)
    peak_kib = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    print(json.dumps({
        "encoder": args.encoder, "mode": args.mode, "processes": args.processes,
        "n_train": metrics["n_train"], "train_time_s": metrics["train_time_s"], "wall_s": round(wall, 3),
        "utterances_per_s": round(metrics["n_train"] / metrics["train_time_s"], 2),
        "peak_rss_mib": round(peak_kib / 1024, 1), "world_size": metrics["world_size"],
    }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--encoder", default="minilm")
    parser.add_argument("--mode", default="cached")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--tag", default="0")
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    from finetune_common import tiny_ssl

    work = Path(args.work or tempfile.mkdtemp(prefix="emofuse-bench-ft-"))
    tiny_ssl(work / "ssl")
    rows = []
    load_before = os.getloadavg()[0]
    for rep in range(args.repeats):
        for encoder in ("minilm", "ssl"):
            for processes in (1, 2):
                for mode in ("cached", "end_to_end"):  # A/B interleaved
                    cmd = [
                        sys.executable, __file__, "--child", "--encoder", encoder, "--mode", mode,
                        "--processes", str(processes), "--tag", str(rep), "--work", str(work),
                        "--utterances", str(args.utterances),
                    ]  # fmt: skip
                    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
                    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
                    if proc.returncode != 0 or not lines:
                        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
                    row = {**json.loads(lines[-1]), "repeat": rep, "load_1min": os.getloadavg()[0]}
                    print(json.dumps(row), flush=True)
                    rows.append(row)
    summary: dict[str, Any] = {}
    for encoder in ("minilm", "ssl"):
        for processes in (1, 2):
            for mode in ("cached", "end_to_end"):
                sel = [
                    r for r in rows if (r["encoder"], r["processes"], r["mode"]) == (encoder, processes, mode)
                ]
                summary[f"{encoder}/{mode}/{processes}p"] = {
                    "utterances_per_s_median": sorted(r["utterances_per_s"] for r in sel)[len(sel) // 2],
                    "peak_rss_mib_max": max(r["peak_rss_mib"] for r in sel),
                }
            ft, ca = summary[f"{encoder}/end_to_end/{processes}p"], summary[f"{encoder}/cached/{processes}p"]
            summary[f"{encoder}/{processes}p: end_to_end / cached speed"] = round(
                ft["utterances_per_s_median"] / ca["utterances_per_s_median"], 3
            )
    out = {
        "benchmark": "finetune",
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "load_1min_before": load_before,
        "load_1min_after": os.getloadavg()[0],
        "utterances": args.utterances,
        "summary": summary,
        "runs": rows,
    }
    from emofuse.io import atomic_write_json

    atomic_write_json(RESULTS, out)
    print(json.dumps(out["summary"], indent=2))


if __name__ == "__main__":
    main()
