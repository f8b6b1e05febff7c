"""Read finished run directories and recompute what a trained model sees: fused embeddings of the test
utterances (for kumar2021's intersection matrix) and learned layer weights (makiuchi2021, deoliveira2023).

A run directory is what the training runner writes, read here only through
:class:`emofuse.train.rundir.RunDir` (``run_config.json`` as a typed ``RunConfig``). A packaged model directory
(``config.json`` + ``model.safetensors``, :mod:`emofuse.serve.package`) holds the same model fields, so
:func:`load_network` reads both without importing ``serve``. Weights are read with safetensors only (never a
pickle).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emofuse.errors import ConfigError, ModelLoadError
from emofuse.io import read_json
from emofuse.train.rundir import RUN_CONFIG_FILE, RunDir

__all__ = [
    "RunEmbeddings",
    "find_runs",
    "load_network",
    "read_model_config",
    "run_embeddings",
    "network_layer_weights",
]

RUN_CONFIG = RUN_CONFIG_FILE
PACKAGE_CONFIG = "config.json"
WEIGHTS = "model.safetensors"


def read_model_config(directory: str | os.PathLike[str]) -> tuple[dict[str, Any], Path]:
    """The model fields of a run directory (``run_config.json``) or a package (``config.json``).

    Returns ``(config, path of the JSON file)``; a directory holding neither is a :class:`ConfigError`.
    """
    root = Path(directory)
    run = RunDir(root)
    if run.config_path.is_file():
        return run.read_config().model_dump(mode="json"), run.config_path
    for name in (PACKAGE_CONFIG,):
        path = root / name
        if path.is_file():
            try:
                data = read_json(path)
            except ValueError as exc:
                raise ModelLoadError(f"{path} is not valid JSON: {exc}") from None
            if not isinstance(data, dict):
                raise ModelLoadError(f"{path} must hold a JSON object")
            missing = [k for k in ("model", "input_dims", "task") if k not in data]
            if missing:
                raise ModelLoadError(
                    f"{path} lacks key(s) {missing}: it is not an emofuse run or packaged-model configuration"
                )
            return data, path
    raise ConfigError(
        f"{root} holds neither {RUN_CONFIG} (a run directory of `emofuse run`) nor {PACKAGE_CONFIG} "
        "(a packaged model): pass one of those directories"
    )


def _output_names(config: Mapping[str, Any], where: Path) -> list[str]:
    names = config.get("labels") if config["task"] == "classes" else config.get("avd_names")
    if not names:
        raise ModelLoadError(f"{where}: task {config['task']!r} but no labels/avd_names in the configuration")
    return [str(n) for n in names]


def load_network(directory: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """Build the :class:`emofuse.nn.FusionModel` of a run or package directory and load its weights.

    Returns ``(network in eval mode, config)``. Shape mismatches and missing weights name the file.
    """
    from safetensors.torch import load_file

    from emofuse.train.model import ModelConfig, build_model

    config, where = read_model_config(directory)
    weights = Path(directory) / WEIGHTS
    if not weights.is_file():
        raise ModelLoadError(
            f"{weights} not found: the run did not finish (re-run `emofuse run` to complete it)"
        )
    try:
        model_cfg = ModelConfig.model_validate(config["model"])
    except Exception as exc:
        raise ModelLoadError(f"{where}: key 'model' is not a valid model configuration: {exc}") from None
    names = _output_names(config, where)
    network = build_model(
        model_cfg, {k: int(v) for k, v in config["input_dims"].items()}, len(names), config["task"]
    )
    try:
        network.load_state_dict(load_file(str(weights)), strict=True)
    except Exception as exc:
        raise ModelLoadError(f"{weights}: the weights do not fit the model in {where.name}: {exc}") from None
    network.eval()
    return network, config


def network_layer_weights(network: Any) -> dict[str, np.ndarray]:
    """``{branch: normalised layer weights [L]}`` of the branches with learnable layer weighting (may be empty)."""
    getter = getattr(network, "layer_weights", None)
    if not callable(getter):
        return {}
    return {name: w.detach().cpu().numpy().astype(np.float64) for name, w in getter().items()}


def find_runs(path: str | os.PathLike[str], system: str | None = None, seed: int | None = None) -> list[Path]:
    """The run directories to explain: ``path`` itself when it is one, else every fold of one system and seed
    of an experiment directory (``<out>/<system>/seed<k>/fold<f>/``).

    Args:
        path: a run directory or an experiment output directory.
        system: which system (required when the directory holds several).
        seed: which seed (default: the smallest one found).
    """
    root = Path(path)
    if (root / RUN_CONFIG).is_file():
        return [root]
    if not root.is_dir():
        raise ConfigError(
            f"{root} is not a directory: pass a run directory or an `emofuse run --out` directory"
        )
    runs = sorted(p.parent for p in root.glob(f"*/seed*/fold*/{RUN_CONFIG}"))
    if not runs:
        raise ConfigError(
            f"{root} holds no finished runs (<system>/seed<k>/fold<f>/{RUN_CONFIG}); pass the directory given "
            "to `emofuse run --out` or one run directory"
        )
    systems = sorted({r.parent.parent.name for r in runs})
    if system is None:
        if len(systems) > 1:
            raise ConfigError(f"{root} holds the systems {systems}: choose one with --system")
        system = systems[0]
    elif system not in systems:
        raise ConfigError(f"{root} has no runs of system {system!r}; it holds {systems}")
    runs = [r for r in runs if r.parent.parent.name == system]
    seeds = sorted({int(r.parent.name.removeprefix("seed")) for r in runs if r.parent.name[4:].isdigit()})
    if seed is None:
        seed = seeds[0]
    elif seed not in seeds:
        raise ConfigError(f"system {system!r} in {root} has no seed {seed}; seeds found: {seeds}")
    return [r for r in runs if r.parent.name == f"seed{seed}"]


@dataclass
class RunEmbeddings:
    """Embeddings of one run's test utterances.

    Attributes:
        run_dir: the run directory.
        utterance_ids: ``[N]`` test utterances, in ``predictions.csv`` order.
        labels: ``[N]`` true class names (from ``predictions.csv``).
        classes: class names in output order.
        layers: ``{layer name: [N, E]}``: ``embedding`` (the concatenated branch embeddings that the fusion
            reads), one entry per branch (its pooled embedding, a slice of ``embedding``), ``hidden`` (the
            early-fusion head's hidden layer) when the model has one, and ``output`` ``[N, C]`` (the softmax
            layer: class probabilities).
        fold: the fold's name.
    """

    run_dir: Path
    utterance_ids: list[str]
    labels: list[str]
    classes: list[str]
    layers: dict[str, np.ndarray] = field(default_factory=dict)
    fold: str = ""


def _test_frame(run_dir: Path) -> pd.DataFrame:
    path = run_dir / "predictions.csv"
    if not path.is_file():
        raise ConfigError(f"{path} not found: the run did not finish (re-run `emofuse run` to complete it)")
    frame = pd.read_csv(path, dtype={"utterance_id": str, "fold": str, "label": str})
    if "utterance_id" not in frame.columns:
        raise ConfigError(
            f"{path} has no utterance_id column; it is not a predictions table of `emofuse run`"
        )
    return frame


def run_embeddings(
    run_dir: str | os.PathLike[str],
    table: pd.DataFrame,
    store: Any,
    transcripts: pd.DataFrame | None = None,
    batch_size: int = 32,
) -> RunEmbeddings:
    """Recompute the embeddings of a run's test utterances with its saved weights.

    Features come from ``store`` under each branch's ``encoder_id`` and the keys of the corpus ``table`` (and
    ``transcripts`` for ``asr``/``asr_sil`` inputs), standardised with the run's saved standardizers, padded as in
    training (:func:`emofuse.train.data.collate`).

    Raises:
        ConfigError: an A/V/D run (no classes to intersect), or test utterances missing from ``table``.
        FeatureStoreError: a feature is missing from the store (the message names the utterance).
    """
    import torch

    from emofuse.encoders.normalize import Standardizer
    from emofuse.train.collate import collate
    from emofuse.train.data import BranchSource, EmotionDataset, FeatureCache, branch_keys

    root = Path(run_dir)
    network, config = load_network(root)
    if config["task"] != "classes":
        raise ConfigError(
            f"{root}: the intersection matrix needs class labels, but this run regresses {config.get('avd_names')}; "
            "explain a classification (or binned) run"
        )
    classes = _output_names(config, root / RUN_CONFIG)
    frame = _test_frame(root)
    if "label" not in frame.columns:
        raise ConfigError(f"{root / 'predictions.csv'} has no label column")
    ids = frame["utterance_id"].tolist()
    known = set(table["utterance_id"].astype(str))
    unknown = [u for u in ids if u not in known]
    if unknown:
        raise ConfigError(
            f"{len(unknown)} test utterance(s) of {root} are not in the corpus table (e.g. {unknown[:5]}); "
            "pass the table the run was trained on with --corpus"
        )
    sub = table[table["utterance_id"].astype(str).isin(set(ids))]
    sources: dict[str, BranchSource] = {}
    for name, branch in config.get("branches", {}).items():
        keys = branch_keys(sub, str(branch["input"]), transcripts)
        src = BranchSource(name, str(branch["encoder_id"]), keys)
        if branch.get("standardizer"):
            src.standardizer = Standardizer.from_dict(branch["standardizer"])
        sources[name] = src
    missing = sorted(set(config["input_dims"]) - set(sources))
    if missing:
        raise ConfigError(
            f"{root / RUN_CONFIG}: branches {missing} have no 'branches' entry (encoder and input)"
        )
    targets = {u: np.asarray(0, dtype=np.int64) for u in ids}
    dataset = EmotionDataset(ids, sources, FeatureCache(store), targets)
    dims = {n: int(getattr(b, "out_dim", 0)) for n, b in network.branches.items()}
    collected: dict[str, list[np.ndarray]] = {}
    with torch.inference_mode():
        for start in range(0, len(dataset), batch_size):
            batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
            out = network(batch["inputs"], batch["masks"])
            emb = out["embedding"].float().numpy()
            collected.setdefault("embedding", []).append(emb)
            offset = 0
            for name in network.branch_names:
                width = dims[name] or emb.shape[1]
                collected.setdefault(name, []).append(emb[:, offset : offset + width])
                offset += width
            if "hidden" in out:
                collected.setdefault("hidden", []).append(out["hidden"].float().numpy())
            # the output layer (kumar2021 Table 5's last column): class probabilities, or the A/V/D values
            output = out["output"].float()
            if config.get("task", "classes") == "classes":
                output = torch.softmax(output, dim=-1)
            collected.setdefault("output", []).append(output.numpy())
    layers = {k: np.concatenate(v, axis=0).astype(np.float64) for k, v in collected.items()}
    if len(network.branch_names) == 1:  # the single branch's embedding *is* the embedding
        layers.pop(network.branch_names[0], None)
    fold = str(frame["fold"].iloc[0]) if "fold" in frame.columns and len(frame) else root.name
    return RunEmbeddings(root, ids, frame["label"].astype(str).tolist(), classes, layers, fold)


def mean_matrix(matrices: Sequence[np.ndarray]) -> np.ndarray:
    """Element-wise mean of per-fold intersection matrices ``[C, C]`` (NaN-free; same shapes required)."""
    shapes = {np.asarray(m).shape for m in matrices}
    if len(shapes) != 1:
        raise ConfigError(f"intersection matrices of different shapes {sorted(shapes)} cannot be averaged")
    return np.mean(np.stack([np.asarray(m, dtype=np.float64) for m in matrices]), axis=0)
