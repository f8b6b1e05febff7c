"""Benchmark of the encoders and the feature store (issue 4).

Measures, over a small espeak-ng corpus:

* throughput of each encoder in seconds of audio per second of wall time, with 1 and 2 worker threads
  (cold store), and the time of a fully cached re-run over the same corpus;
* reading one epoch of features from the store: loose ``.npy`` entries (plain and memory-mapped) against a
  consolidated pack, float32 and float16.

Writes ``benchmarks/results/encoders.json`` and prints it. Run: ``python benchmarks/bench_encoders.py``
(add ``--quick`` for fewer encoders). The machine is shared: figures are indicative.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from emofuse.corpus.table import duration_s, make_table
from emofuse.encoders import FeatureStore, build_encoder, extract_features
from emofuse.io import atomic_write_json
from emofuse.synth import speak

SENTENCES = [
    "the weather is lovely today and I feel great",
    "I can not believe you did that to me again",
    "please leave the papers on the kitchen table",
    "we will meet again tomorrow morning at nine",
    "this is the best day of my whole life",
    "I am so tired of waiting for the bus every day",
    "could you tell me where the station is",
    "nobody listens to what I say in these meetings",
]
VOICES = ["en-us", "en-gb", "en-us+f3", "en-us+m3"]


def make_corpus(root: Path):
    rows = []
    for i, text in enumerate(SENTENCES):
        path = speak(text, root / f"b{i}.wav", voice=VOICES[i % len(VOICES)], pitch=40 + 5 * i)
        rows.append(
            {"utterance_id": f"b{i}", "audio_path": str(path), "transcript": text, "speaker": VOICES[i % 4]}
        )
    return make_table(rows, corpus="bench")


def tiny_hubert(root: Path) -> str:
    import torch
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    cfg = HubertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    HubertModel(cfg).save_pretrained(root / "tiny_hubert")
    return str(root / "tiny_hubert")


def bench_encoder(spec, table, texts, audio_s: float, root: Path, repeats: int = 2) -> dict:
    """Load time, then the best of ``repeats`` cold runs and cached re-runs with 1 and 2 worker threads."""
    t0 = time.perf_counter()
    encoder = build_encoder(spec)
    load_s = time.perf_counter() - t0
    # warm-up: one full pass into a throw-away store (librosa/numba compilation, torch/oneDNN kernels per shape)
    extract_features(table, encoder, FeatureStore(root / "warm"), texts=texts, progress=False)
    out = {"encoder_id": encoder.encoder_id, "load_s": round(load_s, 3)}
    for workers in (1, 2):
        colds, cacheds = [], []
        for rep in range(repeats):
            store = FeatureStore(root / f"w{workers}-r{rep}-{encoder.encoder_id}")
            t = time.perf_counter()
            extract_features(
                table, encoder, store, texts=texts, workers=workers, batch_size=1, progress=False
            )
            colds.append(time.perf_counter() - t)
            t = time.perf_counter()
            extract_features(
                table, encoder, store, texts=texts, workers=workers, batch_size=1, progress=False
            )
            cacheds.append(time.perf_counter() - t)
        cold, cached = min(colds), min(cacheds)
        out[f"workers{workers}"] = {
            "cold_s": round(cold, 3),
            "audio_s_per_s": round(audio_s / cold, 2),
            "cached_rerun_s": round(cached, 4),
            "speedup_cached": round(cold / max(cached, 1e-9), 1),
        }
    out["bytes_per_audio_s"] = round(store.size_bytes(encoder.encoder_id) / audio_s)
    return out


def bench_read(root: Path, n_entries: int = 1000, frames: int = 300, dim: int = 36) -> dict:
    """One epoch (every entry once, shuffled) of [frames, dim] entries: loose files vs a pack, f32 vs f16."""
    rng = np.random.default_rng(0)
    keys = [f"{i:032x}" for i in range(n_entries)]
    results = {"entries": n_entries, "shape": [frames, dim]}
    for dtype in ("float32", "float16"):
        store = FeatureStore(root / f"read-{dtype}", dtype=dtype)
        for k in keys:
            store.put("bench-enc", k, rng.normal(size=(frames, dim)).astype(np.float32))
        order = list(rng.permutation(keys))
        timings = {}
        for label, mmap in (("loose_npy", False), ("loose_npy_mmap", True)):
            reader = FeatureStore(store.root, dtype=dtype, mmap=mmap)
            t = time.perf_counter()
            reader.load_many("bench-enc", order)
            timings[label] = time.perf_counter() - t
        t = time.perf_counter()
        store.pack("bench-enc")
        pack_s = time.perf_counter() - t
        for p in store.encoder_dir("bench-enc").glob("??/*.npy"):
            p.unlink()
        reader = FeatureStore(store.root, dtype=dtype)
        t = time.perf_counter()
        reader.load_many("bench-enc", order)
        timings["packed_mmap"] = time.perf_counter() - t
        results[dtype] = {
            **{f"{k}_epoch_s": round(v, 4) for k, v in timings.items()},
            **{f"{k}_entries_per_s": round(n_entries / v) for k, v in timings.items()},
            "pack_build_s": round(pack_s, 3),
            "store_mib": round(store.size_bytes() / 2**20, 1),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="spectral, openSMILE and text only")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "encoders.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="emofuse-bench-") as tmp:
        root = Path(tmp)
        table = make_corpus(root / "corpus")
        audio_s = float(duration_s(table).sum())
        texts = dict(zip(table["utterance_id"], table["transcript"], strict=True))
        specs: list = [
            "opensmile.pepino_lld",
            "opensmile.egemaps",
            "spectral.mel128",
            "spectral.mfcc40",
            "spectral.chroma12",
            "spectral.logmel80",
            "text",
        ]
        if not args.quick:
            specs += [
                "whisper",
                {"kind": "whisper", "pad_to_window": False},
                {"kind": "ssl", "model": tiny_hubert(root)},
                "speaker",
            ]
        encoders = {}
        for spec in specs:
            name = spec if isinstance(spec, str) else json.dumps(spec)
            print(f"benchmarking {name} ...", flush=True)
            encoders[name] = bench_encoder(spec, table, texts, audio_s, root / "stores")
        import torch

        result = {
            "machine": {
                "cpus": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "python": platform.python_version(),
                "note": "shared machine (2 cores, several developers): figures are indicative",
            },
            "corpus": {"utterances": len(table), "audio_s": round(audio_s, 2)},
            "encoders": encoders,
            "store_read_epoch": bench_read(root / "read"),
        }
    atomic_write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
