"""The packaged-model format: export from a run, load back, and refuse every tampered or mismatched directory."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import emofuse
from emofuse.errors import ModelLoadError
from emofuse.serve.package import export_from_run, load_model
from emofuse.train.rundir import RunDir


def _copy(package_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "pkg"
    shutil.copytree(package_dir, out)
    return out


def _edit_config(pkg: Path, edit) -> None:  # noqa: ANN001
    config = json.loads((pkg / "config.json").read_text())
    edit(config)
    (pkg / "config.json").write_text(json.dumps(config))


def _resave_weights(pkg: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Rewrite the weights and the checksum (a consistent-looking but mismatched package)."""
    from emofuse.hashing import file_sha256

    save_file(tensors, pkg / "model.safetensors")
    _edit_config(pkg, lambda c: c["weights"].update(sha256=file_sha256(pkg / "model.safetensors")))


def test_export_writes_config_weights_and_card_only(package_dir: Path, run_dir: Path) -> None:
    assert sorted(p.name for p in package_dir.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    config = json.loads((package_dir / "config.json").read_text())
    run_config = RunDir(run_dir).read_config()
    assert config["labels"] == run_config.labels
    assert config["emofuse_version"] == emofuse.__version__
    assert config["text_source"] == run_config.text_source.model_dump(mode="json")  # the typed block, in full
    assert load_model(package_dir, build_encoders=False).config.text_source == run_config.text_source
    for name, branch in run_config.branches.items():
        assert config["branches"][name]["encoder_id"] == branch.encoder_id
        assert config["branches"][name]["standardizer"]["mean"] == branch.standardizer["mean"]


def test_loaded_network_equals_the_run_weights(package_dir: Path, run_dir: Path) -> None:
    packaged = emofuse.load_model(package_dir)
    assert packaged.labels == ["angry", "happy", "neutral", "sad"]
    assert not packaged.network.training
    original = load_file(str(run_dir / "model.safetensors"))
    state = packaged.network.state_dict()
    assert set(state) == set(original)
    for key, tensor in original.items():
        assert torch.equal(state[key], tensor), key
    inputs = {"audio": torch.randn(1, 20, 40), "text": torch.randn(1, 7, 5, 384)}
    masks = {"audio": torch.ones(1, 20, dtype=torch.bool), "text": torch.ones(1, 5, dtype=torch.bool)}
    with torch.no_grad():
        a = packaged.network(inputs, masks)["output"]
        b = emofuse.load_model(package_dir).network(inputs, masks)["output"]
    assert a.shape == (1, 4)
    assert torch.allclose(a, b)


def test_missing_directory_and_files(package_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="model directory not found"):
        load_model(tmp_path / "nope")
    pkg = _copy(package_dir, tmp_path)
    (pkg / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=r"model\.safetensors is missing"):
        load_model(pkg)
    (pkg / "config.json").unlink()
    with pytest.raises(ModelLoadError, match=r"config\.json is missing"):
        load_model(pkg)


def test_bad_json_and_unknown_keys(package_dir: Path, tmp_path: Path) -> None:
    pkg = _copy(package_dir, tmp_path)
    text = (pkg / "config.json").read_text()
    (pkg / "config.json").write_text(text[: len(text) // 2])
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_model(pkg)
    (pkg / "config.json").write_text(text)
    _edit_config(pkg, lambda c: c.update(run_this="os.system('echo hi')"))
    with pytest.raises(ModelLoadError, match="run_this"):
        load_model(pkg)


def test_inconsistent_labels_and_format(package_dir: Path, tmp_path: Path) -> None:
    pkg = _copy(package_dir, tmp_path)
    _edit_config(pkg, lambda c: c.update(labels=["angry", "happy"]))
    with pytest.raises(ModelLoadError, match="2 labels but n_outputs is 4"):
        load_model(pkg)
    _edit_config(
        pkg, lambda c: c.update(labels=["angry", "happy", "neutral", "sad"], format="something-else")
    )
    with pytest.raises(ModelLoadError, match="not an emofuse packaged model"):
        load_model(pkg)


def test_weights_changed_after_export_fail_the_checksum(package_dir: Path, tmp_path: Path) -> None:
    pkg = _copy(package_dir, tmp_path)
    tensors = load_file(str(pkg / "model.safetensors"))
    key = sorted(tensors)[0]
    tensors[key] = tensors[key] + 1.0
    save_file(tensors, pkg / "model.safetensors")
    with pytest.raises(ModelLoadError, match="changed after export"):
        load_model(pkg)


def test_weights_with_wrong_names_or_shapes(package_dir: Path, tmp_path: Path) -> None:
    pkg = _copy(package_dir, tmp_path)
    tensors = load_file(str(pkg / "model.safetensors"))
    key = sorted(tensors)[0]
    renamed = dict(tensors)
    renamed["extra.weight"] = renamed.pop(key)
    _resave_weights(pkg, renamed)
    with pytest.raises(ModelLoadError, match=r"missing tensors .*unexpected tensors \['extra.weight'\]"):
        load_model(pkg)
    reshaped = dict(tensors)
    big = next(k for k, v in tensors.items() if v.ndim == 2)
    reshaped[big] = torch.zeros(tensors[big].shape[0] + 1, tensors[big].shape[1])
    _resave_weights(pkg, reshaped)
    with pytest.raises(ModelLoadError, match="wrong shapes"):
        load_model(pkg)


def test_input_dims_that_do_not_match_the_weights(package_dir: Path, tmp_path: Path) -> None:
    pkg = _copy(package_dir, tmp_path)
    _edit_config(pkg, lambda c: c["input_dims"].update(audio=41))
    with pytest.raises(ModelLoadError, match="wrong shapes"):
        load_model(pkg)


def test_a_pickle_posing_as_weights_is_never_executed(package_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # noqa: ANN204
            return (Path.touch, (marker,))

    pkg = _copy(package_dir, tmp_path)
    (pkg / "model.safetensors").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ModelLoadError, match="not a valid safetensors file"):
        load_model(pkg)
    torch.save({"x": Exploit()}, pkg / "model.safetensors")
    with pytest.raises(ModelLoadError):
        load_model(pkg)
    assert not marker.exists()


def test_encoder_id_that_does_not_match_its_spec(package_dir: Path, tmp_path: Path) -> None:
    pkg = _copy(package_dir, tmp_path)
    _edit_config(pkg, lambda c: c["branches"]["audio"].update(encoder="spectral.mel128"))
    with pytest.raises(ModelLoadError, match="branch 'audio'.*gives encoder id"):
        load_model(pkg)
    packaged = load_model(pkg, build_encoders=False)  # deferred: checked when the encoders are first built
    with pytest.raises(ModelLoadError, match="branch 'audio'.*gives encoder id"):
        packaged.encoders()


def test_damaged_standardizer(package_dir: Path, tmp_path: Path) -> None:
    pkg = _copy(package_dir, tmp_path)
    _edit_config(pkg, lambda c: c["branches"]["text"]["standardizer"].update(std=[-1.0] * 384))
    with pytest.raises(ModelLoadError, match=r"branches\.text\.standardizer is damaged"):
        load_model(pkg)


def test_export_from_an_unfinished_run(run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    config = json.loads((run / "run_config.json").read_text())
    del config["branches"]
    (run / "run_config.json").write_text(json.dumps(config))
    with pytest.raises(
        ModelLoadError, match=r"run_config\.json is not a run configuration.*branches.*re-run"
    ):
        export_from_run(run, tmp_path / "out")
    assert not (tmp_path / "out" / "config.json").exists()


def test_package_of_an_older_format_says_to_re_export(package_dir: Path, tmp_path: Path) -> None:
    """Format 1 packages held an untyped copy of the recipe's text source; they are refused, not re-parsed."""
    pkg = _copy(package_dir, tmp_path)

    def to_v1(config: dict) -> None:  # noqa: ANN001
        config.update(format_version=1, text_source={"backend": "faster-whisper", "sil_threshold_s": 0.3})

    _edit_config(pkg, to_v1)
    with pytest.raises(ModelLoadError, match="format_version 1 is not supported.*re-export the model"):
        load_model(pkg, build_encoders=False)
