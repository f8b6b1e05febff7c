"""The quickstart as a user runs it: ``emofuse quickstart`` in a fresh process into a fresh directory, its wall
time and stage times, and the results table; written to ``benchmarks/results/quickstart_cli.json``.

With ``--readme`` the README's quickstart section (between the ``quickstart-table`` markers) is rewritten from
this run's own ``report.json`` and ``timings.json``: the table in the README is never typed by hand. With
``--from DIR`` no new run is made: the figures and table come from a quickstart directory that already finished
(its ``timings.json`` holds the stage times of the run that filled it; the wall time and load come from
``--out`` when this script timed that directory's run).

    .venv/bin/python benchmarks/bench_quickstart_cli.py [--readme] [--from DIR] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "quickstart_cli.json"
README = ROOT / "README.md"
START, END = "<!-- quickstart-table:start -->", "<!-- quickstart-table:end -->"
EMOFUSE = [sys.executable, "-c", "from emofuse.cli.main import console_main; console_main()"]
NAMES = {"audio": "audio (openSMILE LLDs)", "text_minilm": "text (MiniLM, sum of last 4 layers)"}
ORDER = ("audio", "text_minilm", "ef_cs", "ef_pt", "ef_ws", "lf_pt")


def _fmt(value: float, scale: float, digits: int) -> str:
    text = f"{scale * value:.{digits}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def readme_section(report: dict, timings: dict, wall_s: float | None, load: list[float] | None) -> str:
    """The README's quickstart section: how long it took and the median ± IQR table, from a run's files."""
    summary = report["summary"]
    stage = timings["stage_s"]
    n_runs = timings.get("runs_trained", 0) + timings.get("runs_skipped", 0)
    settings = timings.get("settings", {})
    seeds = settings.get("seeds", "?")
    workers = (
        f"{settings['workers']} worker processes" if settings.get("workers") else "a worker process per core"
    )
    threads = settings.get("torch_threads") or 1
    took = f"{wall_s / 60:.1f} min" if wall_s else f"{stage['total'] / 60:.1f} min"
    where = f"load average {load[0]:.1f} at the start" if load else "load not recorded"
    lines = [
        START,
        f"### What the quickstart printed on 2 cores ({took} from an empty directory, {where})",
        "",
        f"Demo corpus: 192 espeak-ng utterances, 8 voices, 4 classes; prosody carries arousal and the words carry "
        f"valence, each only in part. {settings.get('n_folds', 4)} speaker-independent folds, {seeds} seeds, text "
        "from Whisper tiny.en. Median ± IQR over seeds (written by `benchmarks/bench_quickstart_cli.py --readme` "
        "from the run's own report):",
        "",
        "| system | uar (%) | av_auc |",
        "| --- | ---: | ---: |",
    ]
    for system in [s for s in ORDER if s in summary] + [s for s in summary if s not in ORDER]:
        uar, auc = summary[system]["uar"], summary[system]["av_auc"]
        name = NAMES.get(system, system.upper().replace("_", "-"))
        lines.append(
            f"| {name} | {_fmt(uar['median'], 100, 1)} ± {_fmt(uar['iqr'], 100, 1)} | {_fmt(auc['median'], 1, 3)} |"
        )
    lines += [
        "",
        "Stages: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in stage.items() if k != "total")
        + f" ({n_runs} runs, {workers}, {threads} torch thread(s) each).",
        END,
    ]
    return "\n".join(lines)


def write_readme(section: str) -> None:
    text = README.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{README} has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(head + section + tail)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readme", action="store_true", help="rewrite the README's quickstart section")
    parser.add_argument(
        "--from", dest="source", type=Path, help="a finished quickstart directory (no new run)"
    )
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    wall_s = load = None
    if args.source is None:
        qs = Path(tempfile.mkdtemp(prefix="emofuse-bench-quickstart-")) / "qs"
        load = [round(v, 2) for v in os.getloadavg()]
        start = time.perf_counter()
        cmd = [*EMOFUSE, "quickstart", "--out", str(qs), "--workers", str(args.workers), "--no-progress"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall_s = round(time.perf_counter() - start, 1)
    else:
        qs = args.source
        previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
        if previous.get("source") == str(qs):  # this script timed that very run: keep its wall time and load
            wall_s, load = previous.get("wall_s"), previous.get("load_avg_before")
    report = json.loads((qs / "runs" / "report.json").read_text())
    timings = json.loads((qs / "timings.json").read_text())
    result = {
        "wall_s": wall_s,
        "stage_s": timings["stage_s"],
        "load_avg_before": load,
        "load_avg_after": [round(v, 2) for v in os.getloadavg()],
        "cpus": os.cpu_count(),
        "uar_median": {s: round(v["uar"]["median"], 4) for s, v in report["summary"].items()},
        "uar_iqr": {s: round(v["uar"]["iqr"], 4) for s, v in report["summary"].items()},
        "target_wall_s": 240,
        "source": str(qs),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if args.readme:
        write_readme(readme_section(report, timings, wall_s, load))
        print(f"rewrote the quickstart section of {README}")


if __name__ == "__main__":
    main()
