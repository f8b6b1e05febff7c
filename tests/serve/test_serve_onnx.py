"""ONNX export of a package's network, checked with onnxruntime against PyTorch on real speech features."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from emofuse.cli.main import app
from emofuse.errors import ModelLoadError
from emofuse.synth import speak

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from emofuse.serve.onnx_export import export_network, export_onnx, onnx_feeds, torch_outputs  # noqa: E402


def _real_batch(predictor: Any, clips: list[tuple[Path, str]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Standardised encoder features of real recordings (audio + their [SIL] text), padded as in training."""
    from emofuse.audio import load_audio
    from emofuse.train.collate import collate

    items = []
    for path, text in clips:
        features = {}
        for name, branch in predictor.packaged.config.branches.items():
            item = load_audio(path) if branch.input == "audio" else text
            array = np.asarray(predictor.encoders[name].encode(item, 16_000), dtype=np.float32)
            features[name] = predictor.packaged.standardizers[name].transform(array)
        items.append({"utterance_id": path.stem, "features": features, "target": np.zeros((), np.int64)})
    batch = collate(items)
    return (
        {k: v.numpy() for k, v in batch["inputs"].items()},
        {k: v.numpy() for k, v in batch["masks"].items()},
    )


@pytest.mark.slow
def test_onnx_matches_pytorch_on_real_speech(predictor: Any, speech_with_pause: Path, tmp_path: Path) -> None:
    short = speak("no", tmp_path / "short.wav")
    features, masks = _real_batch(
        predictor,
        [(speech_with_pause, "the weather is lovely today [SIL] and I feel great"), (short, "no")],
    )
    assert features["text"].ndim == 4 and not masks["audio"][1].all()  # layers input, real padding
    result = export_onnx(predictor.packaged, tmp_path / "m.onnx")
    assert result.input_names == ["audio", "audio_mask", "text", "text_mask"] and result.max_abs_diff < 1e-4

    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    logits, probs = session.run(None, onnx_feeds(features, masks))
    expected = torch_outputs(predictor.packaged.network, features, masks)
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # one utterance alone gives what it gave inside the padded batch
    alone = {k: v[1:, ..., : int(masks[k][1].sum()), :] for k, v in features.items()}
    np.testing.assert_allclose(session.run(["output"], onnx_feeds(alone))[0], logits[1:], atol=1e-4)

    meta = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
    assert json.loads(meta["emofuse.outputs"]) == predictor.packaged.labels
    assert json.loads(meta["emofuse.branches"])["text"]["input"] == "asr_sil"


@pytest.mark.parametrize(
    "recipe",
    [
        "pepino2020/ef_ws",  # pepino Conv1D branches, early fusion
        "kumar2021/multimodal",  # GRU + attention over packed sequences
        "makiuchi2021/text",  # CNN text branch
        "deoliveira2023/fusion_hubert",  # learned layer weights over [B, L, T, D]
        "perez2022/bert_sil_egemaps_ccc",  # dense pooled branch, A/V/D
    ],
)
def test_every_papers_network_exports(recipe: str, tmp_path: Path) -> None:
    import torch

    from emofuse.recipes import load_recipe
    from emofuse.train.model import build_model

    r = load_recipe(recipe)
    torch.manual_seed(0)
    n_outputs = len(r.data.labels or []) if r.data.task == "classes" else len(r.data.avd_names)
    dims = {b: 12 for b in r.model.branches}
    network = build_model(r.model, dims, n_outputs, r.data.task).eval()
    result = export_network(network, dims, r.data.task, tmp_path / "m.onnx")
    assert result.max_abs_diff < 1e-4
    assert result.output_names == (["output", "probabilities"] if r.data.task == "classes" else ["output"])


def test_cross_representation_model_is_refused_clearly(tmp_path: Path) -> None:
    import torch

    from emofuse.errors import ConfigError
    from emofuse.recipes import load_recipe
    from emofuse.train.model import build_model

    r = load_recipe("makiuchi2021/fusion")
    torch.manual_seed(0)
    dims = {b: 12 for b in r.model.branches}
    network = build_model(r.model, dims, len(r.data.labels or []), r.data.task).eval()
    with pytest.raises(ConfigError, match="extra inputs"):
        export_network(network, dims, r.data.task, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_avd_package_and_cli(run_dir_writer: Any, tmp_path: Path) -> None:
    from emofuse.serve.package import export_from_run

    package = export_from_run(
        run_dir_writer(tmp_path / "run" / "s" / "seed0" / "fold0", task="avd"), tmp_path / "p"
    )
    result = CliRunner().invoke(app, ["model", "onnx", str(package)])
    assert result.exit_code == 0, result.output
    assert (package / "model.onnx").is_file() and "largest difference from PyTorch" in result.output
    session = ort.InferenceSession(str(package / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["output"]
    assert session.get_outputs()[0].shape[1] == 3

    with pytest.raises(ModelLoadError, match="model directory not found"):
        export_onnx(tmp_path / "missing")
