"""emofuse against a peer toolkit on the same fold: ``emofuse run pepino2020/audio`` (openSMILE LLDs + Conv1D,
3 seeds) vs nkululeko (eGeMAPS functionals + SVM) on the demo corpus's first speaker fold; wall time, CPU time
of the tool's processes (user + system; a fairer figure on a shared machine) and test UAR, features included
(both start from an empty cache); written to ``benchmarks/results/peer_nkululeko.json``.

nkululeko lives in a throwaway virtual environment, never in emofuse's: make it with::

    python3 -m venv /tmp/nkulu-venv && /tmp/nkulu-venv/bin/pip install nkululeko==1.14.1

(or point ``--nkululeko-python`` / ``$EMOFUSE_NKULULEKO_PYTHON`` at another one). Without it the benchmark
stops with a message saying so (exit 0, nothing written). The corpus and speaker folds come from a quickstart
directory (``--quickstart DIR``; made with ``emofuse quickstart --fast`` when not given). The two tools run
one after another, A/B/A/B over ``--rounds``, with the load average recorded.

    .venv/bin/python benchmarks/bench_peer_nkululeko.py [--quickstart emofuse-quickstart] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "peer_nkululeko.json"
EMOFUSE = [sys.executable, "-c", "from emofuse.cli.main import console_main; console_main()"]
LABELS = ["angry", "happy", "neutral", "sad"]


def run_measured(cmd: list[str], **kwargs: object) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run ``cmd``; returns its result, wall seconds and the CPU seconds (user + system) of it and every process
    it started (sampled every 0.1 s per process: worker processes of worker processes are counted too)."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)  # type: ignore[call-overload]
    seen: dict[tuple[int, float], float] = {}
    root = psutil.Process(proc.pid)

    def sample() -> None:
        try:
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for p in family:
            try:
                times = p.cpu_times()
                seen[(p.pid, p.create_time())] = times.user + times.system
            except psutil.Error:
                continue

    reader = threading.Thread(target=lambda: outputs.append(proc.communicate()), daemon=True)
    outputs: list[tuple[str, str]] = []
    reader.start()
    while proc.poll() is None:
        sample()
        time.sleep(0.1)
    reader.join()
    wall = time.perf_counter() - start
    stdout, stderr = outputs[0] if outputs else ("", "")
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), wall, sum(seen.values())


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _one_fold(qs: Path, work: Path) -> tuple[Path, list[str], list[str]]:
    """A split file with the quickstart's first fold only; its train and test utterance ids."""
    from emofuse.corpus.protocols import SplitFile, read_splits, write_splits

    splits = read_splits(qs / "splits.json")
    fold = splits.folds[0]
    path = work / "fold1.json"
    write_splits(
        path, SplitFile(splits.protocol, splits.seed, [fold], corpus=splits.corpus, options=splits.options)
    )
    return path, list(fold.train) + list(fold.dev), list(fold.test)


def run_emofuse(qs: Path, split: Path, work: Path, seeds: int, epochs: int) -> dict[str, object]:
    out, store = work / "emofuse_runs", work / "emofuse_store"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(store, ignore_errors=True)
    cmd = [
        *EMOFUSE, "run", "pepino2020/audio", "--corpus", str(qs / "corpus" / "demo.jsonl"), "--splits", str(split),
        "--store", str(store), "--out", str(out), "--seeds", str(seeds), "--no-progress",
        "--set", f"training.max_epochs={epochs}", "--set", "training.batch_size=16",
    ]  # fmt: skip
    done, wall, cpu = run_measured(cmd)
    if done.returncode != 0:
        raise SystemExit(f"emofuse run failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    report = json.loads((out / "report.json").read_text())
    uar = report["summary"]["audio"]["uar"]
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "uar_median": round(uar["median"], 4),
        "uar_iqr": round(uar["iqr"], 4),
    }


def run_nkululeko(python: str, qs: Path, train: list[str], test: list[str], work: Path) -> dict[str, object]:
    import pandas as pd

    table = pd.read_json(qs / "corpus" / "demo.jsonl", lines=True, dtype={"utterance_id": str})
    table = table.set_index("utterance_id")
    exp = work / "nkululeko"
    shutil.rmtree(exp, ignore_errors=True)
    exp.mkdir(parents=True)
    for name, ids in (("train", train), ("test", test)):
        part = table.loc[ids]
        frame = pd.DataFrame(
            {"file": part["audio_path"], "speaker": part["speaker"], "emotion": part["label"]}
        )
        frame.to_csv(exp / f"{name}.csv", index=False)
    ini = exp / "exp.ini"
    ini.write_text(
        f"""[EXP]
root = {exp}/
name = demo_fold1
runs = 1
epochs = 1
[DATA]
databases = ['train', 'test']
train = {exp}/train.csv
train.type = csv
train.absolute_path = True
train.split_strategy = train
test = {exp}/test.csv
test.type = csv
test.absolute_path = True
test.split_strategy = test
target = emotion
labels = {LABELS}
[FEATS]
type = ['os']
set = eGeMAPSv02
scale = standard
[MODEL]
type = svm
[REPORT]
fresh = True
"""
    )
    done, wall, cpu = run_measured([python, "-m", "nkululeko.nkululeko", "--config", str(ini)], cwd=exp)
    text = done.stdout + done.stderr
    if done.returncode != 0:
        raise SystemExit(f"nkululeko failed ({done.returncode}):\n{text[-3000:]}")
    found = re.findall(r"UAR:?\s*([0-9.]+)", text) or re.findall(
        r"uar[^0-9]{0,20}([0-9]\.[0-9]+)", text, re.I
    )
    uar = float(found[-1]) if found else None
    return {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "uar": uar,
        "log_tail": text.strip().splitlines()[-3:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quickstart", type=Path, help="a finished quickstart directory")
    parser.add_argument(
        "--nkululeko-python",
        default=os.environ.get("EMOFUSE_NKULULEKO_PYTHON", "/tmp/nkulu-venv/bin/python"),
        help="python of the throwaway venv with nkululeko",
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10, help="emofuse epochs (the quickstart's)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    check = subprocess.run(
        [args.nkululeko_python, "-c", "import nkululeko"], capture_output=True, check=False
    )
    if not Path(args.nkululeko_python).exists() or check.returncode != 0:
        print(
            f"skipped: no nkululeko at {args.nkululeko_python}; make a throwaway venv with "
            "`python3 -m venv /tmp/nkulu-venv && /tmp/nkulu-venv/bin/pip install nkululeko==1.14.1` "
            "(or set EMOFUSE_NKULULEKO_PYTHON)"
        )
        return
    work = Path(tempfile.mkdtemp(prefix="emofuse-bench-peer-"))
    qs = args.quickstart
    if qs is None:
        qs = work / "quickstart"
        subprocess.run([*EMOFUSE, "quickstart", "--fast", "--out", str(qs), "--no-progress"], check=True)
    split, train, test = _one_fold(qs, work)
    rounds = []
    for r in range(args.rounds):
        load = _load()
        emo = run_emofuse(qs, split, work, args.seeds, args.epochs)
        peer = run_nkululeko(args.nkululeko_python, qs, train, test, work)
        rounds.append({"round": r, "emofuse": emo, "nkululeko": peer, "load_avg_before": load})
        print(json.dumps(rounds[-1]), flush=True)
    emo_wall = statistics.median(float(x["emofuse"]["wall_s"]) for x in rounds)  # type: ignore[index]
    peer_wall = statistics.median(float(x["nkululeko"]["wall_s"]) for x in rounds)  # type: ignore[index]
    emo_cpu = statistics.median(float(x["emofuse"]["cpu_s"]) for x in rounds)  # type: ignore[index]
    peer_cpu = statistics.median(float(x["nkululeko"]["cpu_s"]) for x in rounds)  # type: ignore[index]
    result = {
        "fold": "demo corpus, quickstart fold1 (speaker-independent)",
        "n_train": len(train),
        "n_test": len(test),
        "emofuse": f"pepino2020/audio, {args.seeds} seeds, {args.epochs} epochs, openSMILE LLDs extracted fresh",
        "nkululeko": "eGeMAPSv02 functionals + SVM (one run: deterministic), features extracted fresh",
        "rounds": rounds,
        "emofuse_wall_s_median": emo_wall,
        "nkululeko_wall_s_median": peer_wall,
        "ratio_emofuse_to_peer": round(emo_wall / peer_wall, 2),
        "emofuse_cpu_s_median": emo_cpu,
        "nkululeko_cpu_s_median": peer_cpu,
        "cpu_ratio_emofuse_to_peer": round(emo_cpu / peer_cpu, 2),
        "uar_emofuse_median": statistics.median(float(x["emofuse"]["uar_median"]) for x in rounds),  # type: ignore[index]
        "uar_nkululeko": statistics.median(float(x["nkululeko"]["uar"]) for x in rounds),  # type: ignore[index]
        "target_ratio": 2.0,
        "cpus": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rounds"}, indent=2))


if __name__ == "__main__":
    main()
