"""Run every benchmark in this folder, one after another; each writes its figures to benchmarks/results/<name>.json.

Usage: ``.venv/bin/python benchmarks/run_all.py [name ...]`` (names: transcribe, encoders, quickstart, serve, onnx).
A summary of all figures is written to benchmarks/results/summary.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    RESULTS.mkdir(exist_ok=True)
    summary: dict[str, object] = {}
    failed = []
    for name in names:
        script = HERE / f"bench_{name}.py"
        if not script.is_file():
            print(f"no benchmark named {name!r} (looked for {script.name})", file=sys.stderr)
            return 2
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script)], cwd=HERE.parent)
        wall_s = time.perf_counter() - start
        result_file = RESULTS / f"{name}.json"
        entry: dict[str, object] = {"exit_code": proc.returncode, "wall_s": round(wall_s, 1)}
        if result_file.is_file():
            entry["figures"] = json.loads(result_file.read_text())
        if proc.returncode != 0:
            failed.append(name)
        summary[name] = entry
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"figures written to {RESULTS}/ (summary.json)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
