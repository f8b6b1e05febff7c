"""Benchmark of the quickstart (README command 1), written to ``benchmarks/results/quickstart.json``.

Part 1, the quickstart by stage: a cold run into a fresh directory (corpus, transcription, features, training,
export all computed) and a warm rerun (everything reused), wall time and process CPU time per stage.

Part 2, a 10-seed grid of the pepino2020 systems (audio, text, EF-CS, EF-PT, EF-WS, LF-PT) on the demo corpus
with its speaker folds: on cached features (the feature store filled once, every run reads it) against
recomputing the features for every run (a fresh, empty store per run: openSMILE LLDs and MiniLM for the run's
utterances, then the training). Recomputing is measured on ``--recompute-runs`` runs and extrapolated to the
grid (the per-run training is the same either way; the difference is the extraction per run).

Usage::

    .venv/bin/python benchmarks/bench_quickstart.py [--out /tmp/emofuse-bench] [--grid-epochs N] [--skip-cold]

On the shared 2-core development machine other jobs compete for the CPU: the JSON records the load average and
CPU times next to the wall times so that figures from different runs can be compared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "quickstart.json"


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, round(time.perf_counter() - wall, 3), round(time.process_time() - cpu, 3)


def _settings(fast: bool, **changes: Any) -> Any:
    from dataclasses import replace

    from emofuse.cli.quickstart import QuickstartSettings

    return replace(QuickstartSettings.fast() if fast else QuickstartSettings(), **changes)


def bench_quickstart(out: Path, skip_cold: bool, fast: bool) -> dict[str, Any]:
    from emofuse.cli.quickstart import run_quickstart

    settings = _settings(fast)
    result: dict[str, Any] = {"settings": {k: v for k, v in settings.__dict__.items() if k != "systems"}}
    qs_dir = out / "quickstart"
    if not skip_cold:
        shutil.rmtree(qs_dir, ignore_errors=True)
        load_before = _load()
        cpu = time.process_time()
        cold = run_quickstart(qs_dir, settings, progress=False)
        result["cold"] = {
            "stage_wall_s": cold.stage_s,
            "process_cpu_s": round(time.process_time() - cpu, 3),
            "load_avg_before": load_before,
            "load_avg_after": _load(),
            "runs_trained": cold.n_trained,
            "uar_median": {s: round(v["uar"]["median"], 4) for s, v in cold.summary.items()},
        }
        print("cold quickstart:", cold.stage_s, flush=True)
    cpu = time.process_time()
    warm = run_quickstart(qs_dir, settings, progress=False)
    result["warm_rerun"] = {
        "stage_wall_s": warm.stage_s,
        "process_cpu_s": round(time.process_time() - cpu, 3),
        "runs_trained": warm.n_trained,
        "runs_skipped": warm.n_skipped,
    }
    print("warm rerun:", warm.stage_s, flush=True)
    return result


def bench_grid(out: Path, grid_epochs: int | None, recompute_runs: int, fast: bool) -> dict[str, Any]:
    """10 seeds x folds x the six systems on cached features, against recomputing features per run."""
    import warnings

    from emofuse.cli.quickstart import _recipes
    from emofuse.corpus.demo import make_demo_corpus
    from emofuse.corpus.protocols import make_folds
    from emofuse.corpus.table import read_table
    from emofuse.encoders import FeatureStore
    from emofuse.train.features import FeaturePlan
    from emofuse.train.runner import run_experiment
    from emofuse.transcribe import read_transcripts

    settings = _settings(fast, **({"max_epochs": grid_epochs} if grid_epochs else {}))
    qs_dir = out / "quickstart"
    table = read_table(
        make_demo_corpus(
            qs_dir / "corpus",
            n_speakers=settings.n_speakers,
            utterances_per_speaker_per_class=settings.utterances_per_speaker_per_class,
            seed=settings.corpus_seed,
            progress=False,
        )
    )
    transcripts = read_transcripts(qs_dir / "transcripts.jsonl")
    recipes = _recipes(settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folds = make_folds(table, "speaker-kfold", n_folds=settings.n_folds, dev_fraction=0.0, check=False)
    seeds = list(range(10))
    n_runs = len(recipes) * len(seeds) * len(folds)

    # cached: one store, filled before the grid (the quickstart's own store)
    store = FeatureStore(qs_dir / "features")
    plan = FeaturePlan(table, store, transcripts, progress=False)
    _, fill_wall, _ = _timed(lambda: [plan.sources(r) for r in recipes])
    grid_dir = out / "grid_cached"
    shutil.rmtree(grid_dir, ignore_errors=True)
    res, cached_wall, cached_cpu = _timed(
        run_experiment,
        recipes,
        table,
        folds,
        store,
        grid_dir,
        seeds=seeds,
        transcripts=transcripts,
        encoder_ids=plan.encoder_ids,
        extract_missing=False,
        progress=False,
    )
    print(f"grid on cached features: {n_runs} runs in {cached_wall:.1f} s", flush=True)

    # recompute: a fresh store for each run (the features of every utterance the run reads)
    per_run: list[dict[str, float]] = []
    fused = [r for r in recipes if len(r.features) == 2][0]
    for i in range(recompute_runs):
        fresh = FeatureStore(out / f"recompute_store_{i}")
        shutil.rmtree(fresh.root, ignore_errors=True)
        fresh = FeatureStore(out / f"recompute_store_{i}")
        fresh_plan = FeaturePlan(table, fresh, transcripts, progress=False)
        _, extract_wall, extract_cpu = _timed(fresh_plan.sources, fused)
        per_run.append({"extract_wall_s": extract_wall, "extract_cpu_s": extract_cpu})
        shutil.rmtree(fresh.root, ignore_errors=True)
        print(f"recompute run {i}: extraction {extract_wall:.1f} s", flush=True)
    mean_extract = sum(r["extract_wall_s"] for r in per_run) / max(1, len(per_run))
    train_wall_per_run = cached_wall / n_runs
    return {
        "n_runs": n_runs,
        "seeds": len(seeds),
        "folds": len(folds),
        "systems": [r.name for r in recipes],
        "max_epochs": grid_epochs or recipes[0].training.max_epochs,
        "store_fill_wall_s": fill_wall,
        "cached": {
            "wall_s": cached_wall,
            "cpu_s": cached_cpu,
            "wall_s_per_run": round(train_wall_per_run, 3),
        },
        "recompute": {
            "measured_runs": per_run,
            "extract_wall_s_per_run": round(mean_extract, 3),
            "grid_wall_s_extrapolated": round(cached_wall + n_runs * mean_extract, 1),
        },
        "speedup_cached_vs_recompute": round((cached_wall + n_runs * mean_extract) / cached_wall, 2),
        "uar_median": {s: round(v["uar"]["median"], 4) for s, v in res.report.summary.items()},
        "load_avg_after": _load(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/emofuse-bench-quickstart"))
    parser.add_argument(
        "--grid-epochs", type=int, default=None, help="epochs per grid run (default: the quickstart's)"
    )
    parser.add_argument("--recompute-runs", type=int, default=2)
    parser.add_argument("--skip-cold", action="store_true", help="reuse an existing quickstart directory")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument(
        "--fast", action="store_true", help="the quickstart's --fast setting (a smaller corpus)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("EMOFUSE_CACHE_DIR", str(args.out / "cache"))
    from emofuse.io import atomic_write_json, read_json

    results: dict[str, Any] = read_json(RESULTS) if RESULTS.is_file() else {}
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    results["mode"] = "fast" if args.fast else "default"
    results["quickstart"] = bench_quickstart(args.out, args.skip_cold, args.fast)
    atomic_write_json(RESULTS, results)
    if not args.skip_grid:
        results["grid_10_seeds"] = bench_grid(args.out, args.grid_epochs, args.recompute_runs, args.fast)
        atomic_write_json(RESULTS, results)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
