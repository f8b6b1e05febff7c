"""EmoDB benchmark: emofuse systems against the classic eGeMAPS + linear SVM baseline, written to
``benchmarks/results/emodb.json`` (and a markdown table ``emodb.md``).

EmoDB (Burkhardt et al., "A database of German emotional speech", Interspeech 2005,
doi:10.21437/Interspeech.2005-446), 4 classes (anger, happiness, neutral, sadness: 339 utterances), leave one
speaker out (10 folds; each fold's dev set = 15 % of its training speakers, used for early stopping and for
choosing the SVM's C, never the test speaker), 3 seeds. Systems (default): ``baseline/egemaps_svm``,
``pepino2020/audio``, ``emofuse/whisper``, ``emofuse/whisper_fast``, ``emofuse/whisper_egemaps``.

The corpus is research-only and never part of the repository: it is read from ``--root``, else the
``EMOFUSE_EMODB`` environment variable, else ``../shared/data/emodb`` next to the repository; when it is absent
the benchmark prints why and exits 0 without figures.

Wall time per system = the extraction of its encoders over the corpus + its training and evaluation over all
folds and seeds. The machine is shared, so the figures are made to be compared, not absolute: the encoders are
timed interleaved (A/B/A/B, one utterance at a time, on ``--timing-sample`` utterances, extrapolated to the
corpus) and the systems are trained seed by seed in turn; the cold extraction into the store (one pass per
encoder, an encoder two systems share charged to both) is recorded too, with the load average and CPU times.

Usage::

    .venv/bin/python benchmarks/bench_emodb.py [--root DIR] [--work DIR] [--store DIR] [--seeds 3]
        [--systems a,b] [--system-seeds pepino2020/audio=1] [--threads 1] [--fresh]

Finished runs under ``--work`` are reused (the runner resumes); each system's training time is the sum of its
runs' own ``train_time_s``, so a resumed benchmark still reports it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "emodb.json"
DEFAULT_SYSTEMS = (
    "baseline/egemaps_svm",
    "pepino2020/audio",
    "emofuse/whisper",
    "emofuse/whisper_fast",
    "emofuse/whisper_egemaps",
)
CLASSES = ("angry", "happy", "neutral", "sad")


def emodb_root(given: str | None) -> Path:
    """``--root``, else ``$EMOFUSE_EMODB``, else ``../shared/data/emodb`` beside the repository."""
    if given:
        return Path(given).expanduser()
    if os.environ.get("EMOFUSE_EMODB"):
        return Path(os.environ["EMOFUSE_EMODB"]).expanduser()
    return ROOT.parent / "shared" / "data" / "emodb"


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _spec_key(spec: Any) -> str:
    return spec if isinstance(spec, str) else json.dumps(spec, sort_keys=True)


def interleaved_encode_times(
    table: Any, spec_sets: list[dict[str, Any]], n_sample: int, seed: int = 0
) -> dict[str, float]:
    """Seconds per utterance of each encoder, timed in turn on the same ``n_sample`` utterances (A/B/A/B).

    The order of the encoders rotates from one utterance to the next; audio loading and one warm-up call per
    encoder are not timed.
    """
    import numpy as np

    from emofuse.audio import load_audio
    from emofuse.encoders import build_encoder

    specs: dict[str, Any] = {}
    for spec_set in spec_sets:
        for spec in spec_set.values():
            specs.setdefault(_spec_key(spec), spec)
    encoders = {k: build_encoder(s) for k, s in specs.items()}
    rows = np.random.default_rng(seed).choice(len(table), size=min(n_sample, len(table)), replace=False)
    total = dict.fromkeys(encoders, 0.0)
    keys = list(encoders)
    warm = load_audio(table["audio_path"].iloc[int(rows[0])])
    for encoder in encoders.values():  # first calls pay one-off set-up costs: not timed
        encoder.encode(warm)
    for i, row in enumerate(rows):
        wave = load_audio(table["audio_path"].iloc[int(row)])
        for key in keys[i % len(keys) :] + keys[: i % len(keys)]:
            t0 = time.perf_counter()
            encoders[key].encode(wave)
            total[key] += time.perf_counter() - t0
    return {k: v / len(rows) for k, v in total.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--root", default=None, help="EmoDB folder (default: $EMOFUSE_EMODB or ../shared/data/emodb)"
    )
    ap.add_argument(
        "--work", default=str(ROOT / "benchmarks" / ".work" / "emodb"), help="runs and feature store"
    )
    ap.add_argument("--store", default=None, help="feature store (default: <work>/store)")
    ap.add_argument("--results", default=str(RESULTS), help="JSON file of the figures")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument(
        "--system-seeds",
        action="append",
        default=[],
        help="fewer seeds for one system, e.g. pepino2020/audio=1 (repeatable)",
    )
    ap.add_argument("--systems", default=",".join(DEFAULT_SYSTEMS), help="comma-separated recipe names")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    ap.add_argument("--fresh", action="store_true", help="empty the work folder first (cold extraction)")
    ap.add_argument(
        "--timing-sample", type=int, default=30, help="utterances for the interleaved encoder timing"
    )
    ap.add_argument(
        "--set", dest="overrides", action="append", default=[], help="recipe override (repeatable)"
    )
    args = ap.parse_args(argv)

    root = emodb_root(args.root)
    if not (root / "wav").is_dir() and not (root / "audio").is_dir():
        print(
            f"EmoDB not found at {root}: skipping (give --root DIR or set EMOFUSE_EMODB to a folder holding "
            "wav/ or audio/ with files like 03a01Wa.wav)"
        )
        return 0

    import pandas as pd
    import torch

    from emofuse.corpus import read_corpus
    from emofuse.corpus.protocols import fold_sizes, make_folds
    from emofuse.encoders import FeatureStore, build_encoder, extract_features
    from emofuse.encoders.extract import utterance_keys
    from emofuse.evaluate import write_report
    from emofuse.evaluate.metrics import classification_metrics
    from emofuse.recipes import load_recipes
    from emofuse.train.runner import run_experiment

    torch.set_num_threads(args.threads)
    work = Path(args.work)
    if args.fresh:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    store = FeatureStore(Path(args.store) if args.store else work / "store")
    results_path = Path(args.results)
    table = read_corpus("emodb", root, classes=list(CLASSES)).table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the shared sentences are script leaks by the corpus's design
        folds = make_folds(table, "leave-one-speaker-out", dev_fraction=0.15, seed=0)
    recipes = load_recipes([s.strip() for s in args.systems.split(",") if s.strip()], args.overrides)
    result: dict[str, Any] = {
        "corpus": {
            "name": "emodb",
            "n_utterances": len(table),
            "classes": list(CLASSES),
            "labels": table["label"].value_counts().to_dict(),
        },
        "protocol": {"kind": "leave-one-speaker-out", "dev_fraction": 0.15, "folds": fold_sizes(folds)},
        "seeds": args.seeds,
        "threads": args.threads,
        "cpu_count": os.cpu_count(),
        "load_before": _load(),
        "encoders": {},
        "systems": {},
    }

    # 1. extraction, once per encoder, timed (cold when the store is fresh)
    encoder_time: dict[str, float] = {}
    encoder_ids: dict[str, str] = {}
    for recipe in recipes:
        for spec in recipe.encoder_specs().values():
            key = _spec_key(spec)
            if key in encoder_time:
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            encoder = build_encoder(spec)
            keys = utterance_keys(table, encoder.modality, None)
            n_cached = sum(store.has(encoder.encoder_id, k) for k in keys.values())
            extract_features(table, encoder, store, progress=False)
            encoder_time[key] = round(time.perf_counter() - t0, 2)
            encoder_ids[key] = encoder.encoder_id
            result["encoders"][key] = {
                "encoder_id": encoder.encoder_id,
                "wall_s": encoder_time[key],
                "cached_before": n_cached,
                "cold": n_cached == 0,
                "cpu_s": round(time.process_time() - c0, 2),
                "load": _load(),
            }
            print(f"extract {key}: {encoder_time[key]} s", flush=True)

    # 1b. the same encoders timed interleaved (A/B/A/B per utterance) on a sample, so that their ratios hold
    #     even when the machine's load changes during the cold pass; extrapolated to the corpus
    per_utt = interleaved_encode_times(table, [r.encoder_specs() for r in recipes], args.timing_sample)
    for key, sec in per_utt.items():
        result["encoders"][key]["interleaved_s_per_utterance"] = round(sec, 4)
        result["encoders"][key]["interleaved_corpus_s"] = round(sec * len(table), 2)
    result["timing_sample"] = args.timing_sample

    # 2. systems, seed by seed in turn (A/B/A/B), all into one output folder; time summed per system
    out = work / "runs"
    train_time = {r.name: 0.0 for r in recipes}
    cpu_time = {r.name: 0.0 for r in recipes}
    runs_rows: dict[str, list[Any]] = {r.name: [] for r in recipes}
    n_seeds = {r.name: args.seeds for r in recipes}
    for item in args.system_seeds:
        name, _, count = item.partition("=")
        n_seeds[load_recipes([name])[0].name] = int(count)
    result["seeds_per_system"] = n_seeds
    for seed in range(args.seeds):
        for recipe in recipes:
            if seed >= n_seeds[recipe.name]:
                continue
            t0, c0 = time.perf_counter(), time.process_time()
            res = run_experiment(
                recipe,
                table,
                folds,
                store,
                out,
                seeds=[seed],
                encoder_ids=encoder_ids,
                progress=False,
                report=False,
                torch_threads=args.threads,
            )
            train_time[recipe.name] += time.perf_counter() - t0
            cpu_time[recipe.name] += time.process_time() - c0
            runs_rows[recipe.name].append(res)
            print(f"{recipe.name} seed {seed}: {time.perf_counter() - t0:.1f} s, load {_load()}", flush=True)
    for recipe in recipes:
        parts = runs_rows[recipe.name]
        preds = pd.concat([r.predictions for r in parts], ignore_index=True)
        run_dirs = [d for r in parts for d in r.runs["run_dir"]]
        n_trained = sum(int((r.runs["status"] == "trained").sum()) for r in parts)
        # compute per run as the runner records it (metrics.json train_time_s), so resumed runs count too
        train_s = round(
            sum(json.loads((Path(d) / "metrics.json").read_text())["train_time_s"] for d in run_dirs), 2
        )
        call_s = round(train_time[recipe.name], 2)
        labels = list(recipe.data.labels or [])
        per_seed, per_fold = [], []
        for _, part in preds.groupby("seed"):
            m = classification_metrics(
                part["label"].to_numpy(),
                part[[f"p_{c}" for c in labels]].to_numpy(),
                labels,
                y_pred=part["pred"].to_numpy(),
            )
            per_seed.append({"uar": m["uar"], "accuracy": m["accuracy"]})
            for _, fpart in part.groupby("fold"):
                fm = classification_metrics(
                    fpart["label"].to_numpy(),
                    fpart[[f"p_{c}" for c in labels]].to_numpy(),
                    labels,
                    y_pred=fpart["pred"].to_numpy(),
                )
                per_fold.append(fm["uar"])
        dev = [json.loads((Path(d) / "metrics.json").read_text()).get("dev", {}).get("uar") for d in run_dirs]
        dev = [u for u in dev if u is not None]
        extract_s = sum(encoder_time[_spec_key(s)] for s in recipe.encoder_specs().values())
        extract_est = sum(per_utt[_spec_key(s)] for s in recipe.encoder_specs().values()) * len(table)
        uars = [s["uar"] for s in per_seed]
        result["systems"][recipe.name] = {
            "recipe": recipe.name,
            "uar_pooled_mean": round(sum(uars) / len(uars), 4),
            "uar_pooled_per_seed": [round(u, 4) for u in uars],
            "accuracy_pooled_mean": round(sum(s["accuracy"] for s in per_seed) / len(per_seed), 4),
            "uar_mean_over_folds": round(sum(per_fold) / len(per_fold), 4),
            "dev_uar_mean": round(sum(dev) / len(dev), 4) if dev else None,
            "extract_cold_s": round(extract_s, 2),
            "extract_interleaved_s": round(extract_est, 2),
            "train_eval_s": train_s,
            "runner_calls_s": call_s,
            "seeds": n_seeds[recipe.name],
            # for args.seeds seeds (a system run with fewer seeds is extrapolated), so ratios compare equal work
            "wall_s": round(extract_est + train_s * args.seeds / n_seeds[recipe.name], 2),
            "wall_cold_measured_s": round(extract_s + train_s, 2),
            "train_cpu_s": round(cpu_time[recipe.name], 2),
            "runs_trained": n_trained,
            "load": _load(),
        }
        print(f"{recipe.name}: {result['systems'][recipe.name]}", flush=True)

    # 3. ratios against the SVM, one report over every system
    svm = result["systems"].get("egemaps_svm")
    for s in result["systems"].values():
        if svm:
            s["uar_minus_svm"] = round(s["uar_pooled_mean"] - svm["uar_pooled_mean"], 4)
            s["wall_x_svm"] = round(s["wall_s"] / max(svm["wall_s"], 1e-9), 2)
            s["train_x_svm"] = round(s["train_eval_s"] / max(svm["train_eval_s"], 1e-9), 2)

    all_preds = pd.concat(
        [
            pd.read_csv(p, dtype={"utterance_id": str, "fold": str})
            for p in sorted(out.glob("*/seed*/fold*/predictions.csv"))
        ],
        ignore_index=True,
    )
    all_preds = all_preds[
        all_preds["system"].isin([r.name for r in recipes])
        & (all_preds["seed"] < all_preds["system"].map({r.name: n_seeds[r.name] for r in recipes}))
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_report(
            all_preds,
            out,
            labels=list(recipes[0].data.labels or []),
            single_modality=[r.name for r in recipes if r.model.fusion == "none"],
            title="EmoDB, 4 classes, leave one speaker out",
        )
    result["load_after"] = _load()
    result["report"] = str(out / "report.md")
    results_path.parent.mkdir(parents=True, exist_ok=True)
    from emofuse.io import atomic_write_json, atomic_write_text

    result["overrides"] = args.overrides
    atomic_write_json(results_path, result, indent=1)
    lines = [
        f"EmoDB, 4 classes, leave one speaker out (10 folds), {args.seeds} seeds; load average "
        f"{result['load_before']} -> {result['load_after']} on {os.cpu_count()} cores, {args.threads} torch thread(s)",
        "",
        "| system | seeds | UAR (pooled, mean of seeds) | UAR mean over folds | accuracy | dev UAR | extract s | "
        "train+eval s | wall s | x SVM |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in result["systems"].items():
        dev = f"{s['dev_uar_mean']:.3f}" if s["dev_uar_mean"] is not None else "-"
        lines.append(
            f"| {name} | {s['seeds']} | {s['uar_pooled_mean']:.3f} | {s['uar_mean_over_folds']:.3f} | "
            f"{s['accuracy_pooled_mean']:.3f} | {dev} | {s['extract_interleaved_s']:.0f} | {s['train_eval_s']:.0f} | "
            f"{s['wall_s']:.0f} | {s.get('wall_x_svm', float('nan')):.1f} |"
        )
    atomic_write_text(results_path.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"figures: {results_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
