"""Where users wait for nothing: ``predict`` of a 3 s clip in a new process, a finished ``run`` asked again, and
``serve`` until it answers; written to ``benchmarks/results/startup.json``.

1. **predict**: ``emofuse predict CLIP --model DIR --json`` in a fresh process, ``--repeats`` times (median),
   with the prediction's own stage times beside the process's wall time (the rest is start-up: imports,
   model and encoder loading).
2. **finished-run rerun**: a small grid (``pepino2020/audio``, 1 seed, 2 epochs) trained once with
   ``emofuse run``; then the same command again in a fresh process, A/B/A/B: A answers from ``grid.json`` +
   ``report.json`` (no torch), B is the same with ``grid.json`` removed (the runner imports torch, checks every
   run and rebuilds the report, as before).
3. **serve**: ``emofuse serve --model DIR`` until ``GET /health`` answers.

The model and corpus come from a quickstart directory (``--quickstart DIR``; made with ``emofuse quickstart
--fast`` into a temporary directory when not given). The machine's load average is recorded with each figure.

    .venv/bin/python benchmarks/bench_startup.py [--quickstart emofuse-quickstart] [--repeats 3]
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
EMOFUSE = [sys.executable, "-c", "from emofuse.cli.main import main; main()"]
CLIP_TEXT = "I waited for the bus all morning and it never came"


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _timed(cmd: list[str], **kwargs: object) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[3:])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return wall, done


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
        wall, done = _timed([*EMOFUSE, "predict", str(clip), "--model", str(model), "--json"])
        stages = json.loads(done.stdout.strip().splitlines()[-1])["timings_s"]
        runs.append({"wall_s": round(wall, 2), "prediction_s": round(stages["total"], 2), "load_avg": load})
        print("predict", runs[-1], flush=True)
    wall = statistics.median(r["wall_s"] for r in runs)  # type: ignore[misc]
    return {"clip_s": round(duration_s, 2), "runs": runs, "wall_s_median": wall, "target_s": 5.0}


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
        a, done = _timed(cmd)
        assert "all already finished" in done.stdout, done.stdout
        saved = (out / "grid.json").read_bytes()
        (out / "grid.json").unlink()
        b, done_b = _timed(cmd)
        assert "0 trained" in done_b.stdout, done_b.stdout
        (out / "grid.json").write_bytes(saved)
        rounds.append({"from_files_s": round(a, 2), "runner_s": round(b, 2), "load_avg": load})
        print("rerun", rounds[-1], flush=True)
    a_med = statistics.median(r["from_files_s"] for r in rounds)  # type: ignore[misc]
    b_med = statistics.median(r["runner_s"] for r in rounds)  # type: ignore[misc]
    return {
        "first_run_s": round(first, 1),
        "rounds": rounds,
        "from_files_s_median": a_med,
        "runner_s_median": b_med,
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
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emofuse-bench-startup-"))
    qs = args.quickstart
    if qs is None:
        qs = work / "quickstart"
        _timed([*EMOFUSE, "quickstart", "--fast", "--out", str(qs), "--no-progress"])
    result = {
        "cpus": os.cpu_count(),
        "predict": bench_predict(qs / "model", work, args.repeats),
        "rerun": bench_rerun(qs, work, args.repeats),
        "serve": bench_serve(qs / "model"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
