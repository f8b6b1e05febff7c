"""ONNX export of a packaged model's trainable part (branches, fusion, head), checked against PyTorch.

The encoders (openSMILE, MiniLM, Whisper, ...) stay what they are: the ONNX graph starts where the package's
network starts, at the standardised encoder features. Its inputs, per branch ``<b>`` in the order of
``config.json``'s ``branches``:

* ``<b>``: float32 ``[B, T, D]`` (frames; a pooled ``[D]`` feature is ``[B, 1, D]``) or ``[B, L, T, D]`` for a
  branch that weights encoder layers;
* ``<b>_mask``: bool ``[B, T]``, True on real frames (padding False).

Outputs: ``output`` ``[B, C]`` (class logits, or A/V/D values) and, for classes, ``probabilities`` ``[B, C]``
(softmax). The ONNX file's metadata (``metadata_props``) holds the label names, the branch order, each
branch's encoder spec and input kind, so the graph can be used without emofuse. Run it with onnxruntime::

    import onnxruntime as ort
    session = ort.InferenceSession("model.onnx")
    out, probs = session.run(None, {"audio": x_audio, "audio_mask": m_audio, "text": x_text, "text_mask": m_text})

The legacy TorchScript exporter (``dynamo=False``) is used: the dynamo exporter needs ``onnxscript``, which
emofuse does not depend on. ``onnx`` and ``onnxruntime`` come with ``pip install 'emofuse[onnx]'``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emofuse.errors import ConfigError, ModelLoadError

if TYPE_CHECKING:
    from emofuse.serve.package import PackagedModel

ONNX_FILE = "model.onnx"
DEFAULT_OPSET = 17


@dataclass
class OnnxExport:
    """Where the graph was written, its input names in order, and its largest deviation from PyTorch."""

    path: Path
    input_names: list[str]
    output_names: list[str]
    max_abs_diff: float


def _require_onnx() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ConfigError(
            "ONNX export needs the onnx and onnxruntime packages: pip install 'emofuse[onnx]'"
        ) from None
    return onnx, onnxruntime


def _flat_module(network: Any, names: list[str], classes: bool) -> Any:
    import torch

    class Flat(torch.nn.Module):
        """``forward(x_1, mask_1, x_2, mask_2, ...)`` -> ``(output [B, C], probabilities [B, C])``."""

        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, *tensors: torch.Tensor) -> Any:
            inputs = {n: tensors[2 * i] for i, n in enumerate(names)}
            masks = {n: tensors[2 * i + 1] for i, n in enumerate(names)}
            output = self.network(inputs, masks)["output"]
            return (output, torch.softmax(output, dim=-1)) if classes else output

    return Flat().eval()


def layers_of_branch(network: Any, name: str) -> int | None:
    """``L`` when branch ``name`` weights encoder layers (its input is ``[B, L, T, D]``), else None."""
    from emofuse.nn.layer_weighting import LayerWeighting

    found = next((m for m in network.branches[name].modules() if isinstance(m, LayerWeighting)), None)
    return int(found.num_layers) if found is not None else None


def example_inputs(
    network: Any, input_dims: Mapping[str, int], n_frames: int = 12, batch: int = 2
) -> dict[str, np.ndarray]:
    """Random float32 features of the right ranks per branch (for tracing; ``n_frames`` real frames each)."""
    rng = np.random.default_rng(0)
    out: dict[str, np.ndarray] = {}
    for name, dim in input_dims.items():
        n_layers = layers_of_branch(network, name)
        shape = (batch, n_frames, dim) if n_layers is None else (batch, n_layers, n_frames, dim)
        out[name] = rng.standard_normal(shape).astype(np.float32)
    return out


def _masks_for(features: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray] | None) -> dict[str, Any]:
    if masks is not None:
        return {k: np.asarray(v, dtype=bool) for k, v in masks.items()}
    return {k: np.ones((v.shape[0], v.shape[-2]), dtype=bool) for k, v in features.items()}


def onnx_feeds(
    features: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """The onnxruntime feed dict for branch features (``[B, T, D]`` / ``[B, L, T, D]``) and masks ``[B, T]``
    (all True when not given)."""
    m = _masks_for(features, masks)
    feeds: dict[str, np.ndarray] = {}
    for name, x in features.items():
        feeds[name] = np.asarray(x, dtype=np.float32)
        feeds[f"{name}_mask"] = m[name]
    return feeds


def torch_outputs(
    network: Any, features: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray] | None = None
) -> np.ndarray:
    """The PyTorch network on the same inputs: ``output`` ``[B, C]``."""
    import torch

    m = _masks_for(features, masks)
    with torch.inference_mode():
        out = network(
            {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in features.items()},
            {k: torch.as_tensor(v) for k, v in m.items()},
        )
    return out["output"].numpy()


def export_network(
    network: Any,
    input_dims: Mapping[str, int],
    task: str,
    out_path: str | os.PathLike[str],
    *,
    metadata: Mapping[str, str] | None = None,
    opset: int = DEFAULT_OPSET,
    check_inputs: Mapping[str, np.ndarray] | None = None,
    atol: float = 1e-4,
    where: str = "the model",
) -> OnnxExport:
    """Export a :class:`emofuse.nn.FusionModel` (eval mode) to ``out_path`` and check it against PyTorch.

    The graph is compared with the network on ``check_inputs`` (branch features, masks all True) or, by
    default, on random features: a batch of two with the second item padded, and a shorter batch of one.

    Raises:
        ConfigError: a branch takes inputs beyond its features (makiuchi2021's cross-representation model:
            speaker embedding, phones, crops averaged per segment), which this export does not cover.
        ModelLoadError: onnxruntime's outputs differ from PyTorch's by more than ``atol`` (nothing is written).
    """
    multi = [n for n in input_dims if getattr(network.branches[n], "extra_roles", ())]
    if multi:
        raise ConfigError(
            f"{where}: branch {multi[0]!r} takes extra inputs (speaker embedding, phones) and averages "
            "96-frame segments; ONNX export covers single-input branches only. Serve this model with emofuse."
        )
    import io
    import warnings

    import torch

    from emofuse.io import atomic_write_bytes

    onnx, ort = _require_onnx()
    names = list(input_dims)
    classes = task == "classes"
    input_names = [n for name in names for n in (name, f"{name}_mask")]
    output_names = ["output", "probabilities"] if classes else ["output"]
    dynamic: dict[str, dict[int, str]] = {}
    for name in names:
        time_axis = 2 if layers_of_branch(network, name) is not None else 1
        dynamic[name] = {0: "batch", time_axis: f"{name}_frames"}
        dynamic[f"{name}_mask"] = {0: "batch", 1: f"{name}_frames"}
    for o in output_names:
        dynamic[o] = {0: "batch"}
    example = example_inputs(network, input_dims)
    feeds = onnx_feeds(example)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _flat_module(network, names, classes),
            tuple(torch.as_tensor(feeds[n]) for n in input_names),
            buffer,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=False,
        )
    graph = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(graph)
    onnx.helper.set_model_props(graph, dict(metadata or {}))
    data = graph.SerializeToString()

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    cases: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]] = []
    if check_inputs is not None:
        cases.append((dict(check_inputs), None))
    else:
        masks = _masks_for(example, None)
        for k in masks:
            masks[k][1, 7:] = False  # the second item is 7 frames long
        cases += [(example, masks), (example_inputs(network, input_dims, n_frames=5, batch=1), None)]
    worst = 0.0
    for features, case_masks in cases:
        expected = torch_outputs(network, features, case_masks)
        got = session.run(["output"], onnx_feeds(features, case_masks))[0]
        worst = max(worst, float(np.max(np.abs(got - expected))) if expected.size else 0.0)
    if not worst <= atol:
        raise ModelLoadError(
            f"ONNX export of {where}: onnxruntime's outputs differ from PyTorch's by {worst:.2e} "
            f"(> {atol:g}); nothing was written. Try another --opset."
        )
    out = Path(out_path)
    atomic_write_bytes(out, data)
    return OnnxExport(out, input_names, output_names, worst)


def export_onnx(
    model: str | os.PathLike[str] | PackagedModel,
    out_path: str | os.PathLike[str] | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    check_inputs: Mapping[str, np.ndarray] | None = None,
    atol: float = 1e-4,
) -> OnnxExport:
    """Export the trainable part of a package (a directory or a loaded :class:`PackagedModel`) to ONNX,
    checked against PyTorch (see :func:`export_network`); ``out_path`` defaults to ``<package>/model.onnx``.
    The graph's metadata carries the label names, the branch order and each branch's encoder."""
    from emofuse.serve.package import load_model

    _require_onnx()
    if isinstance(model, str | os.PathLike):
        from emofuse.serve.package import CONFIG_FILE, _read_json_file
        from emofuse.serve.trust import named_models

        root = Path(model)
        raw = _read_json_file(root / CONFIG_FILE, "the model configuration") if root.is_dir() else {}
        # the export loads none of the models the package names (no encoders, no ASR): allow them
        own = [str(v) for _, v in named_models(raw)] if isinstance(raw, dict) else []
        packaged = load_model(root, build_encoders=False, allow_models=own)
    else:
        packaged = model
    classes = packaged.task == "classes"
    meta = {
        "emofuse.task": packaged.task,
        "emofuse.outputs": json.dumps(packaged.labels if classes else packaged.avd_names),
        "emofuse.branches": json.dumps(
            {
                n: {"encoder": b.encoder, "encoder_id": b.encoder_id, "input": b.input}
                for n, b in packaged.config.branches.items()
            }
        ),
        "emofuse.version": packaged.config.emofuse_version,
    }
    scaling = packaged.config.target_scaling
    if scaling is not None:  # the graph outputs normalised A/V/D: label = output * scale + offset
        meta["emofuse.target_scaling"] = json.dumps(scaling.model_dump(mode="json"))
    dims = {name: packaged.config.input_dims[name] for name in packaged.config.branches}
    return export_network(
        packaged.network,
        dims,
        packaged.task,
        out_path if out_path is not None else packaged.directory / ONNX_FILE,
        metadata=meta,
        opset=opset,
        check_inputs=check_inputs,
        atol=atol,
        where=str(packaged.directory),
    )


__all__ = [
    "ONNX_FILE",
    "OnnxExport",
    "example_inputs",
    "export_network",
    "export_onnx",
    "onnx_feeds",
    "torch_outputs",
]
