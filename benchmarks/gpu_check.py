"""GPU check of end_to_end training (issue 10): CUDA placement, mixed precision, one fine-tuning epoch of a tiny
SSL model, and DDP over the available GPUs. Run with ``bash benchmarks/gpu_check.sh`` (under 5 minutes).

Without CUDA it prints ``SKIP`` and exits 0. ``--cpu`` runs the same checks on the CPU (bf16 autocast, DDP over
2 CPU processes with gloo) to check the script itself on a machine without a GPU. Writes
``benchmarks/results/gpu_check.json`` (``gpu_check_cpu.json`` with ``--cpu``).

Steps:
1. placement: the tiny SSL model inside the LightningModule moves to the device; a forward pass runs there.
2. mixed precision + one fine-tuning epoch: ``bf16-mixed`` where the device supports it (else ``16-mixed``),
   one epoch of end_to_end training; the encoder's weights change, the CNN feature encoder's do not.
3. DDP: ``strategy: ddp`` over every GPU (2 CPU processes with ``--cpu``); Lightning launches the other
   processes by re-running this script with ``--ddp-only``; rank 0 writes one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

RESULTS = Path(__file__).resolve().parent / "results" / "gpu_check.json"


def _setup(work: Path) -> tuple[Any, Any, Path]:
    from finetune_common import one_fold, tiny_corpus, tiny_ssl

    table = tiny_corpus(work / "corpus", n=32)
    return table, one_fold(table), tiny_ssl(work / "ssl") if not (work / "ssl").is_dir() else work / "ssl"


def _run(work: Path, table: Any, fold: Any, model: Path, name: str, trainer: dict[str, Any]) -> Any:
    from emofuse.encoders import FeatureStore
    from emofuse.train.rundir import RunDir
    from emofuse.train.runner import run_experiment
    from finetune_common import recipe

    feats = {"audio": {"encoder": {"kind": "ssl", "model": str(model), "layers": "all"}, "input": "audio"}}
    r = recipe(name, feats, "end_to_end", {"audio": {"freeze": ["feature_encoder"]}}, trainer)
    run_experiment(
        r, table, [fold], FeatureStore(work / "store"), work / "runs", progress=False, report=False
    )
    return RunDir.of(work / "runs", name, 0, 0)


def _changed(model: Path, run: Any) -> dict[str, bool]:
    import torch
    from safetensors.torch import load_file

    before = load_file(str(model / "model.safetensors"))
    after = load_file(str(run.encoder_dir("audio") / "model.safetensors"))
    diff = {k for k in before if not torch.equal(before[k], after[k])}
    return {
        "encoder_layers_changed": any(k.startswith("encoder.layers.") for k in diff),
        "feature_encoder_unchanged": not any(k.startswith("feature_extractor.") for k in diff),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="GPU check of end_to_end training")
    parser.add_argument("--cpu", action="store_true", help="run the checks on the CPU (script self-test)")
    parser.add_argument("--ddp-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()

    import torch

    if not args.cpu and not torch.cuda.is_available():
        print("gpu_check: SKIP (no CUDA device; run with --cpu to check the script on the CPU)")
        return 0
    accel = "cpu" if args.cpu else "gpu"
    n_dev = 2 if args.cpu else torch.cuda.device_count()
    work = args.work or Path(tempfile.mkdtemp(prefix="emofuse-gpu-check-"))
    table, fold, model = _setup(work)
    if args.ddp_only:  # the DDP step, in every process Lightning launches
        run = _run(
            work, table, fold, model, "ddp", {"accelerator": accel, "devices": n_dev, "strategy": "ddp"}
        )
        from emofuse.train.fit import is_rank_zero

        if is_rank_zero():
            metrics = json.loads(run.metrics_path.read_text())
            print(json.dumps({"ddp_world_size": metrics["world_size"], "ddp_run_complete": run.is_complete(),
                              **{f"ddp_{k}": v for k, v in _changed(model, run).items()}}))  # fmt: skip
        return 0

    out: dict[str, Any] = {"benchmark": "gpu_check", "accelerator": accel, "devices": n_dev, "checks": {}}
    checks = out["checks"]
    # 1. placement
    from emofuse.encoders import build_encoder
    from emofuse.encoders.trainable import TrainableEncoder

    device = torch.device("cpu" if args.cpu else "cuda")
    enc = TrainableEncoder(build_encoder({"kind": "ssl", "model": str(model), "layers": "all"})).to(device)
    wave, mask = TrainableEncoder.pad([enc.prepare(torch.randn(16000).numpy())])
    feats, fmask = enc(wave.to(device), mask.to(device))
    checks["placement"] = {"ok": feats.device.type == device.type, "features_shape": list(feats.shape)}
    # 2. mixed precision + one fine-tuning epoch
    precision = "bf16-mixed" if args.cpu or torch.cuda.is_bf16_supported() else "16-mixed"
    started = time.perf_counter()
    run = _run(
        work, table, fold, model, "mixed", {"accelerator": accel, "devices": 1, "precision": precision}
    )
    checks["finetune_epoch_mixed_precision"] = {
        "precision": precision, "seconds": round(time.perf_counter() - started, 2), "complete": run.is_complete(),
        **_changed(model, run),
    }  # fmt: skip
    # 3. DDP over the devices (a fresh process; Lightning re-runs it once per rank)
    import subprocess

    if n_dev >= 2:
        cmd = [sys.executable, __file__, "--ddp-only", "--work", str(work)] + (["--cpu"] if args.cpu else [])
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        checks["ddp"] = {"returncode": proc.returncode, "seconds": round(time.perf_counter() - started, 2),
                         **(json.loads(lines[-1]) if lines else {"stderr_tail": proc.stderr[-2000:]})}  # fmt: skip
    else:
        checks["ddp"] = {"skipped": f"{n_dev} device(s); DDP needs 2"}
    ok = (
        checks["placement"]["ok"]
        and checks["finetune_epoch_mixed_precision"]["complete"]
        and checks["finetune_epoch_mixed_precision"]["encoder_layers_changed"]
        and checks["finetune_epoch_mixed_precision"]["feature_encoder_unchanged"]
        and (
            n_dev < 2
            or (checks["ddp"].get("ddp_run_complete") and checks["ddp"].get("ddp_world_size") == n_dev)
        )
    )
    out["ok"] = bool(ok)
    from emofuse.io import atomic_write_json

    atomic_write_json(RESULTS.with_name("gpu_check_cpu.json") if args.cpu else RESULTS, out)
    print(json.dumps(out, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
