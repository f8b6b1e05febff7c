"""Where users wait for nothing: ``predict`` of a 3 s clip in a new process, a finished ``run`` and a finished
``quickstart`` asked again, and ``serve`` until it answers; written to ``benchmarks/results/startup.json``.

Every figure is a fresh process's wall time and its CPU time (user + sys of the process and its children), with
the machine's load average: on a loaded machine the wall time follows the load, the CPU time does not.

1. **predict**: ``emofuse predict CLIP --model DIR --json``, ``--repeats`` times (median), with the prediction's
   own stage times beside it; then A/B/A/B in fresh processes of ``Predictor.from_pretrained(DIR,
   background=...)`` + ``predict_file``: A builds the encoders before the first recording (as before), B builds
   them in a background thread while the recording is decoded and transcribed (what ``emofuse predict`` does);
   then A/B/A/B of ``emofuse predict``: A with ``EMOFUSE_TEXT_TRANSFORMERS=1`` (the text encoder through
   ``transformers``, as before), B with the transformers-free BERT path (the default), and whether both gave the
   same probabilities.
2. **finished-run rerun**: a small grid (``pepino2020/audio``, 1 seed, 2 epochs) trained once with
   ``emofuse run``; then the same command again, A/B/A/B: A answers from ``grid.json`` + ``report.json`` (no
   torch), B is the same with ``grid.json`` removed (the runner imports torch, checks every run and rebuilds the
   report, as before).
3. **finished-quickstart rerun**: ``emofuse quickstart`` on the finished quickstart directory, A/B/A/B: A answers
   from ``quickstart.json`` + ``runs/grid.json`` (no torch), B is the same with ``quickstart.json`` removed (every
   stage checks its files, the runs are skipped, the report and the package are rebuilt).
4. **serve**: ``emofuse serve --model DIR`` until ``GET /health`` answers.

The model and corpus come from a quickstart directory (``--quickstart DIR``, which this script reruns and so
updates; made with ``emofuse quickstart --fast`` into a temporary directory when not given).

    .venv/bin/python benchmarks/bench_startup.py [--quickstart emofuse-quickstart] [--repeats 3] [--parts predict]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "startup.json"
EMOFUSE = [sys.executable, "-c", "from emofuse.cli.main import console_main; console_main()"]
#: Set to 1, text encoders run through transformers instead of the transformers-free BERT path (A/B).
FORCE_TRANSFORMERS_ENV = "EMOFUSE_TEXT_TRANSFORMERS"
CLIP_TEXT = "I waited for the bus all morning and it never came"


PREDICT_API = (
    "import json, sys\n"
    "from emofuse.serve.predictor import Predictor\n"
    "p = Predictor.from_pretrained(sys.argv[1], background=sys.argv[3] == '1')\n"
    "print(json.dumps(p.predict_file(sys.argv[2]).to_dict()))\n"
)


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _timed(cmd: list[str], **kwargs: object) -> tuple[float, subprocess.CompletedProcess[str]]:
    wall, _, done = _timed_cpu(cmd, **kwargs)
    return wall, done


def _timed_cpu(cmd: list[str], **kwargs: object) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall time, CPU time (user + sys of the child processes) and the finished process."""
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[3:])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return wall, cpu, done


def _median(rows: list[dict[str, object]], key: str) -> float:
    return round(float(statistics.median(float(r[key]) for r in rows)), 2)  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_predict(model: Path, work: Path, repeats: int) -> dict[str, object]:
    from emofuse.audio import audio_info
    from emofuse.synth import speak

    clip = speak(CLIP_TEXT, work / "clip.wav")
    duration_s = audio_info(clip).duration_s
    runs = []
    for _ in range(repeats):
        load = _load()
        wall, cpu, done = _timed_cpu([*EMOFUSE, "predict", str(clip), "--model", str(model), "--json"])
        stages = json.loads(done.stdout.strip().splitlines()[-1])["timings_s"]
        runs.append(
            {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "prediction_s": round(stages["total"], 2),
             "load_avg": load}
        )  # fmt: skip
        print("predict", runs[-1], flush=True)
    rounds = []
    for _ in range(repeats):
        row: dict[str, object] = {"load_avg": _load()}
        for name, flag in (("encoders_first", "0"), ("encoders_in_background", "1")):
            wall, cpu, _ = _timed_cpu([sys.executable, "-c", PREDICT_API, str(model), str(clip), flag])
            row[f"{name}_wall_s"], row[f"{name}_cpu_s"] = round(wall, 2), round(cpu, 2)
        rounds.append(row)
        print("predict A/B", row, flush=True)
    backend_rounds = []
    predict = [*EMOFUSE, "predict", str(clip), "--model", str(model), "--json"]
    for _ in range(repeats):
        row = {"load_avg": _load()}
        for name, force in (("transformers", "1"), ("bert_lite", "0")):
            env = {**os.environ, FORCE_TRANSFORMERS_ENV: force}
            wall, cpu, done = _timed_cpu(predict, env=env)
            row[f"{name}_wall_s"], row[f"{name}_cpu_s"] = round(wall, 2), round(cpu, 2)
            row[f"{name}_probabilities"] = json.loads(done.stdout.strip().splitlines()[-1])["probabilities"]
        rounds_equal = all(
            abs(row["transformers_probabilities"][k] - row["bert_lite_probabilities"][k]) < 1e-5  # type: ignore[index]
            for k in row["bert_lite_probabilities"]  # type: ignore[union-attr]
        )
        row["same_probabilities"] = rounds_equal
        backend_rounds.append(row)
        print(
            "predict text backend A/B", {k: v for k, v in row.items() if "probabilities" not in k}, flush=True
        )
    return {
        "clip_s": round(duration_s, 2),
        "runs": runs,
        "wall_s_median": _median(runs, "wall_s"),
        "cpu_s_median": _median(runs, "cpu_s"),
        "ab_rounds": rounds,
        "ab_wall_s_median": {
            k: _median(rounds, f"{k}_wall_s") for k in ("encoders_first", "encoders_in_background")
        },
        "text_backend_rounds": backend_rounds,
        "text_backend_median": {
            f"{k}_{m}": _median(backend_rounds, f"{k}_{m}")
            for k in ("transformers", "bert_lite")
            for m in ("wall_s", "cpu_s")
        },
        "target_s": 5.0,
    }


def bench_rerun(qs: Path, work: Path, repeats: int) -> dict[str, object]:
    out = work / "runs"
    cmd = [
        *EMOFUSE, "run", "pepino2020/audio", "--corpus", str(qs / "corpus" / "demo.jsonl"),
        "--splits", str(qs / "splits.json"), "--store", str(qs / "features"), "--out", str(out),
        "--seeds", "1", "--set", "training.max_epochs=2", "--no-progress",
    ]  # fmt: skip
    first, _ = _timed(cmd)
    print(f"grid trained in {first:.1f} s", flush=True)
    rounds = []
    for _ in range(repeats):
        load = _load()
        a, a_cpu, done = _timed_cpu(cmd)
        assert "all already finished" in done.stdout, done.stdout
        saved = (out / "grid.json").read_bytes()
        (out / "grid.json").unlink()
        b, b_cpu, done_b = _timed_cpu(cmd)
        assert "0 trained" in done_b.stdout, done_b.stdout
        (out / "grid.json").write_bytes(saved)
        rounds.append(
            {"from_files_s": round(a, 2), "from_files_cpu_s": round(a_cpu, 2), "runner_s": round(b, 2),
             "runner_cpu_s": round(b_cpu, 2), "load_avg": load}
        )  # fmt: skip
        print("rerun", rounds[-1], flush=True)
    return _ab_summary(first, rounds, "from_files", "runner")


def bench_quickstart_rerun(qs: Path, fast: bool, repeats: int) -> dict[str, object]:
    cmd = [*EMOFUSE, "quickstart", "--out", str(qs), "--no-progress", *(["--fast"] if fast else [])]
    first, _ = _timed(cmd)  # records quickstart.json if the directory was made before this fast path
    print(f"quickstart rerun (recording) in {first:.1f} s", flush=True)
    rounds = []
    for _ in range(repeats):
        load = _load()
        a, a_cpu, done = _timed_cpu(cmd)
        assert "already finished (answered from the files" in done.stdout, done.stdout
        (qs / "quickstart.json").unlink()
        b, b_cpu, done_b = _timed_cpu(cmd)  # every stage checks its files; records quickstart.json again
        assert "0 trained" in done_b.stdout, done_b.stdout
        rounds.append(
            {"from_files_s": round(a, 2), "from_files_cpu_s": round(a_cpu, 2), "stages_s": round(b, 2),
             "stages_cpu_s": round(b_cpu, 2), "load_avg": load}
        )  # fmt: skip
        print("quickstart rerun", rounds[-1], flush=True)
    return _ab_summary(first, rounds, "from_files", "stages")


def _ab_summary(first: float, rounds: list[dict[str, object]], a: str, b: str) -> dict[str, object]:
    a_med, b_med = _median(rounds, f"{a}_s"), _median(rounds, f"{b}_s")
    return {
        "first_run_s": round(first, 1),
        "rounds": rounds,
        f"{a}_s_median": a_med,
        f"{a}_cpu_s_median": _median(rounds, f"{a}_cpu_s"),
        f"{b}_s_median": b_med,
        f"{b}_cpu_s_median": _median(rounds, f"{b}_cpu_s"),
        "speedup": round(b_med / a_med, 1),
        "target_s": 3.0,
    }


def bench_serve(model: Path) -> dict[str, object]:
    port = _free_port()
    load = _load()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*EMOFUSE, "serve", "--model", str(model), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"emofuse serve exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
            if time.perf_counter() - start > 300:
                raise SystemExit("emofuse serve did not answer /health within 300 s")
        ready = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"serve ready in {ready:.1f} s", flush=True)
    return {"ready_s": round(ready, 2), "load_avg": load}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quickstart", type=Path, help="a finished quickstart directory (default: make a --fast one)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=["predict", "rerun", "quickstart_rerun", "serve"],
        help="measure only these (their entries in --out are replaced, the others kept); default: all",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emofuse-bench-startup-"))
    qs = args.quickstart
    fast = True
    if qs is None:
        qs = work / "quickstart"
        _timed([*EMOFUSE, "quickstart", "--fast", "--out", str(qs), "--no-progress"])
    else:
        settings = json.loads((qs / "timings.json").read_text())["settings"]
        fast = settings.get("n_speakers") == 6 and settings.get("seeds") == 1  # QuickstartSettings.fast()
    parts = {
        "predict": lambda: bench_predict(qs / "model", work, args.repeats),
        "rerun": lambda: bench_rerun(qs, work, args.repeats),
        "quickstart_rerun": lambda: bench_quickstart_rerun(qs, fast, args.repeats),
        "serve": lambda: bench_serve(qs / "model"),
    }
    # a subset (--parts) replaces only its own entries of an existing results file
    result: dict[str, object] = json.loads(args.out.read_text()) if args.parts and args.out.is_file() else {}
    result["cpus"] = os.cpu_count()
    for name in args.parts or list(parts):
        result[name] = parts[name]()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
