"""ONNX export: the network of each paper's main fusion recipe, PyTorch vs onnxruntime, one utterance at a time.

Writes ``benchmarks/results/onnx.json``: per recipe the export time, the largest output difference from PyTorch,
and the median latency of one ~3 s utterance (300 frames) in PyTorch and in onnxruntime, measured interleaved
(A/B/A/B) so machine load hits both alike; the load average is recorded. Untrained weights: latency and agreement
do not depend on training. Single-threaded both sides (as a serving worker per core would run).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

RECIPES = [
    "pepino2020/ef_ws",
    "kumar2021/multimodal",
    "makiuchi2021/fusion",
    "deoliveira2023/fusion_hubert",
    "perez2022/bert_sil_egemaps_ccc",
]
FRAMES, REPEATS = 300, 30
OUT = Path(__file__).resolve().parent / "results" / "onnx.json"


def main() -> None:
    import onnxruntime as ort
    import torch

    from emofuse.recipes import load_recipe
    from emofuse.serve.onnx_export import example_inputs, export_network, onnx_feeds, torch_outputs
    from emofuse.train.model import build_model

    torch.set_num_threads(1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    results: dict[str, object] = {"load_avg_start": os.getloadavg()[0], "frames": FRAMES, "repeats": REPEATS}
    per_recipe = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in RECIPES:
            recipe = load_recipe(name)
            task = recipe.data.task
            n_outputs = len(recipe.data.labels or []) if task == "classes" else len(recipe.data.avd_names)
            dims = {b: (768 if "text" in b or "bert" in b else 128) for b in recipe.model.branches}
            torch.manual_seed(0)
            network = build_model(recipe.model, dims, n_outputs, task).eval()
            t0 = time.perf_counter()
            export = export_network(network, dims, task, Path(tmp) / "m.onnx")
            export_s = time.perf_counter() - t0
            session = ort.InferenceSession(str(export.path), options, providers=["CPUExecutionProvider"])
            features = example_inputs(network, dims, n_frames=FRAMES, batch=1)
            feeds = onnx_feeds(features)
            torch_outputs(network, features)  # warm up both
            session.run(["output"], feeds)
            torch_s, onnx_s = [], []
            for _ in range(REPEATS):  # interleaved A/B/A/B
                t0 = time.perf_counter()
                expected = torch_outputs(network, features)
                torch_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                got = session.run(["output"], feeds)[0]
                onnx_s.append(time.perf_counter() - t0)
            per_recipe[name] = {
                "export_s": round(export_s, 2),
                "max_abs_diff_export_check": export.max_abs_diff,
                "max_abs_diff_300_frames": float(np.max(np.abs(got - expected))),
                "torch_ms_median": round(1000 * statistics.median(torch_s), 3),
                "onnxruntime_ms_median": round(1000 * statistics.median(onnx_s), 3),
                "speedup_onnxruntime": round(statistics.median(torch_s) / statistics.median(onnx_s), 2),
                "onnx_bytes": export.path.stat().st_size,
            }
            print(name, per_recipe[name], flush=True)
    results["recipes"] = per_recipe
    results["load_avg_end"] = os.getloadavg()[0]
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
