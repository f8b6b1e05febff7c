"""Evidence for perez2022 on the pause demo corpus (issue 12): BERT vs BERT + sil_feat (word gaps) vs BERT + learned
[SIL], text only and with eGeMAPS, activation CCC and binned UAR, 5 seeds, paired t-tests against BERT.

The corpus (:mod:`emofuse.corpus.demo_pauses`) carries arousal in the pauses between words and not in the words;
transcripts are made with the recipes' text source (offline Whisper tiny.en, ``[SIL]`` at word gaps >= 0.25 s).
The systems are the shipped perez2022 recipes with the offline stand-in (all-MiniLM-L6-v2 for BERT, cached
[CLS] features: BERT frozen, as in the ``bert_*`` recipes), the predefined split (train / dev / test by session,
so by speaker), and these changes for a small corpus: head lr 1e-3 (the recipes' 1e-5 is the paper's rate for
fine-tuning BERT; a frozen head barely moves with it), binned head hidden 384 (MiniLM's size). ``bert_sil_*``
run the MLM stage themselves (``adapt: {tables: [transcripts]}``: 30 epochs at most, patience 10, on the
training part's ``text_with_sil``); ``bert_silinit_*`` is the same text with ``[SIL]`` left at its initialisation
(the mean embedding row), to separate the token from its adaptation.

Writes ``benchmarks/results/perez2022_demo.json`` (per system and seed, means and sds, paired t-tests against
BERT, the adaptation's losses, machine load) and ``benchmarks/results/perez2022_demo.md`` (the table pasted into
the perez2022 README). Run: ``python benchmarks/evidence_perez2022_demo.py [--out DIR] [--seeds 5] [--threads 2]``.
Reads no research corpus; needs espeak-ng, Whisper tiny.en and MiniLM (all offline).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SYSTEMS = {  # system name -> (recipe, extra overrides)
    "bert": ("bert", []),
    "bert_silfeat": ("bert_silfeat", []),
    "bert_silinit": ("bert_sil", ["features.text.encoder.adapt=null"]),
    "bert_sil": ("bert_sil", []),
    "bert_egemaps": ("bert_egemaps", []),
    "bert_silfeat_egemaps": ("bert_silfeat_egemaps", []),
    "bert_sil_egemaps": ("bert_sil_egemaps", []),
}
LABELS = {
    "bert": "BERT",
    "bert_silfeat": "BERT + sil_feat (word gaps)",
    "bert_silinit": "BERT + [SIL] not adapted",
    "bert_sil": "BERT + learned [SIL]",
    "bert_egemaps": "*+ eGeMAPS:* BERT",
    "bert_silfeat_egemaps": "BERT + sil_feat (word gaps)",
    "bert_sil_egemaps": "BERT + learned [SIL]",
}
BINS = ["low", "mid", "high"]
REFERENCE = {"": "bert", "_egemaps": "bert_egemaps"}


VARIANT_TITLES = {
    "as_shipped": "**As shipped** ([CLS] as BERT gives it):",
    "text_zscored": "**[CLS] z-scored** on the training part (`--set features.text.standardize=true`, every system):",
}
VARIANTS = {  # name -> overrides for every system
    "as_shipped": [],
    "text_zscored": ["features.text.standardize=true"],
}


def load_systems(target: str, seeds: int, epochs: int, variant: list[str]) -> list[Any]:
    from emofuse.recipes import load_recipe

    common = [
        f"training.seeds={seeds}",
        f"training.max_epochs={epochs}",
        "training.lr=0.001",
        *variant,
    ]
    if target == "binned":
        common.append("model.head.params.hidden=384")
    out = []
    for system, (base, extra) in SYSTEMS.items():
        recipe = load_recipe(f"perez2022/{base}_{target}", [*common, *extra], offline_substitutes=True)
        out.append(recipe.model_copy(update={"name": f"{system}_{target}"}))
    return out


def per_seed_scores(predictions: Any, target: str) -> Any:
    import pandas as pd

    from emofuse.evaluate.metrics import ccc, uar

    rows = []
    for (system, seed), part in predictions.groupby(["system", "seed"]):
        if target == "ccc":
            score = ccc(part["true_arousal"].to_numpy(), part["pred_arousal"].to_numpy())
        else:
            score = uar(part["label"].astype(str).tolist(), part["pred"].astype(str).tolist(), BINS)
        rows.append(
            {"system": str(system).removesuffix(f"_{target}"), "seed": int(seed), "score": float(score)}
        )
    return pd.DataFrame(rows)


def summarise(scores: Any, target: str) -> dict[str, Any]:
    from emofuse.evaluate.stats import paired_ttest_by_seed

    out: dict[str, Any] = {}
    for system in SYSTEMS:
        part = scores[scores["system"] == system].sort_values("seed")
        ref = REFERENCE["_egemaps" if system.endswith("_egemaps") else ""]
        entry: dict[str, Any] = {
            "per_seed": part["score"].round(4).tolist(),
            "mean": float(part["score"].mean()),
            "sd": float(part["score"].std(ddof=1)),
        }
        if system != ref:
            test = paired_ttest_by_seed(scores.rename(columns={"score": target}), system, ref, target)
            entry["vs"] = ref
            entry["paired_t"] = test.to_dict()
        out[system] = entry
    return out


def markdown(summary: dict[str, dict[str, Any]], seeds: int) -> str:
    def cell(entry: dict[str, Any]) -> str:
        text = f"{entry['mean']:.3f} ± {entry['sd']:.3f}".replace("0.", ".")
        test = entry.get("paired_t")
        if test:
            p = test["p"]
            text += f" (p = {p:.3f}{' *' if p == p and p < 0.05 else ''})"
        return text

    lines = [
        "| method | activation `uar` (binned) | activation `ccc` |",
        "| --- | ---: | ---: |",
    ]
    for system, label in LABELS.items():
        lines.append(f"| {label} | {cell(summary['binned'][system])} | {cell(summary['ccc'][system])} |")
    lines.append("")
    lines.append(
        f"Mean ± sd over {seeds} seeds; p: two-sided paired t-test over seeds against BERT (against BERT + eGeMAPS "
        "in the eGeMAPS rows), * p < 0.05."
    )
    return "\n".join(lines) + "\n"


def cls_spread(texts: list[str], model_dir: str | None) -> float:
    """How much the frozen [CLS] varies between utterances: mean per-dimension sd / mean |per-dimension mean|."""
    import numpy as np

    from emofuse.encoders import build_encoder

    spec = {"kind": "text", "model": model_dir, "layers": "last", "pooling": "cls", "sil_token": True}
    x = np.stack(build_encoder(spec).encode_batch(texts))
    return float(x.std(axis=0).mean() / np.abs(x.mean(axis=0)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("perez2022_demo_work"), help="working directory")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--speakers", type=int, default=8)
    parser.add_argument("--per-level", type=int, default=10, help="utterances per speaker and arousal level")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("EMOFUSE_OFFLINE", "1")
    os.environ.setdefault("EMOFUSE_CACHE_DIR", str((args.out / "cache").resolve()))
    import torch

    torch.set_num_threads(args.threads)
    from emofuse.corpus.demo_pauses import make_pause_demo_corpus
    from emofuse.corpus.leaks import LeakWarning
    from emofuse.corpus.table import read_table
    from emofuse.encoders import FeatureStore
    from emofuse.train.runner import run_experiment
    from emofuse.transcribe import transcribe_table

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    table_path = make_pause_demo_corpus(
        args.out / "corpus", n_speakers=args.speakers, utterances_per_speaker_per_level=args.per_level
    )
    table = read_table(table_path)
    timings["corpus_s"] = time.perf_counter() - t0
    source = load_systems("ccc", args.seeds, args.epochs, [])[0].text_source
    transcripts = transcribe_table(
        table, source.build(), args.out / "corpus" / "transcripts.jsonl", text_source=source,
        cache=args.out / "corpus" / "transcript_cache",
    )  # fmt: skip
    timings["transcribe_s"] = time.perf_counter() - t0 - timings["corpus_s"]
    store = FeatureStore(args.out / "features")
    summary: dict[str, dict[str, Any]] = {}
    for variant, overrides in VARIANTS.items():
        summary[variant] = {}
        for target in ("ccc", "binned"):
            systems = load_systems(target, args.seeds, args.epochs, overrides)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", LeakWarning)
                result = run_experiment(
                    systems, table, None, store, args.out / "runs" / variant / target, transcripts=transcripts,
                    torch_threads=args.threads, progress=True,
                )  # fmt: skip
            timings[f"train_{variant}_{target}_s"] = time.perf_counter() - start
            summary[variant][target] = summarise(per_seed_scores(result.predictions, target), target)
    adapted = sorted(
        (Path(os.environ["EMOFUSE_CACHE_DIR"]) / "adapted_text").glob("*/emofuse_adaptation.json")
    )
    merged = table.merge(transcripts, on="utterance_id")
    cues = {
        "corr_arousal_word_gap_ratio": float(merged["arousal"].corr(merged["silence_ratio"])),
        "corr_arousal_sil_tokens": float(
            merged["arousal"].corr(merged["text_with_sil"].str.count(r"\[SIL\]"))
        ),
    }
    sample = transcripts["text_with_sil"].astype(str).tolist()[:60]
    cues["cls_spread_initial"] = cls_spread(sample, None)
    if adapted:
        cues["cls_spread_adapted"] = cls_spread(sample, str(adapted[0].parent))
    report = {
        "what": "perez2022 on the pause demo corpus: activation CCC and binned UAR, paired t-tests against BERT",
        "corpus": {
            "utterances": len(table),
            "speakers": args.speakers,
            "split": table["split"].value_counts().to_dict(),
        },
        "cues": cues,
        "seeds": args.seeds,
        "max_epochs": args.epochs,
        "results": summary,
        "adaptation": [json.loads(p.read_text()) for p in adapted],
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_avg": os.getloadavg(),
            "threads": args.threads,
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "perez2022_demo.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    text = "".join(f"{VARIANT_TITLES[v]}\n\n{markdown(summary[v], args.seeds)}\n" for v in VARIANTS)
    (RESULTS / "perez2022_demo.md").write_text(text, encoding="utf-8")
    print(text)
    print(json.dumps({"cues": cues, "timings_s": report["timings_s"]}))


if __name__ == "__main__":
    main()
