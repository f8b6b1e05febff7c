"""A package cannot make emofuse load models the user did not name: its encoders and ASR model are restricted to
emofuse's offline models, its own folder and ``--allow-model``; ``trust_remote_code`` is refused."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from emofuse.errors import ModelLoadError
from emofuse.serve.package import load_model


def _edited(package_dir: Path, tmp_path: Path, edit: Any) -> Path:
    copy = tmp_path / "pkg"
    shutil.copytree(package_dir, copy)
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    edit(config)
    (copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return copy


def _encoder_model(value: str) -> Any:
    def edit(config: dict[str, Any]) -> None:
        config["branches"]["text"]["encoder"] = {"kind": "text", "sil_token": True, "model": value}

    return edit


def _asr_model(value: str) -> Any:
    def edit(config: dict[str, Any]) -> None:
        config["text_source"]["model"] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (_encoder_model("/somewhere/else/bert"), "branches.text.encoder.model"),
        (_encoder_model("bert-base-uncased"), "branches.text.encoder.model"),  # a hub id: the network
        (_encoder_model("../outside"), "branches.text.encoder.model"),
        (_asr_model("openai/whisper-large-v3"), "text_source.model"),
    ],
)
def test_a_package_naming_other_models_is_refused(
    package_dir: Path, tmp_path: Path, edit: Any, key: str
) -> None:
    pkg = _edited(package_dir, tmp_path, edit)
    with pytest.raises(ModelLoadError, match="--allow-model") as refused:
        load_model(pkg, build_encoders=False)
    assert key in str(refused.value) and "config.json" in str(refused.value)


def test_the_user_may_allow_a_model_and_the_package_may_use_its_own_files(
    package_dir: Path, tmp_path: Path
) -> None:
    pkg = _edited(package_dir, tmp_path, _encoder_model("/models/bert"))
    load_model(pkg, build_encoders=False, allow_models=["/models/bert"])
    own = _edited(package_dir, tmp_path / "own", _encoder_model("text_model"))
    (own / "text_model").mkdir()
    load_model(own, build_encoders=False)
    asr = _edited(package_dir, tmp_path / "asr", _asr_model("openai/whisper-large-v3"))
    load_model(asr, build_encoders=False, check_asr=False)  # the user chose their own ASR model


def test_trust_remote_code_is_refused_wherever_it_is(package_dir: Path, tmp_path: Path) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["text_source"].setdefault("options", {})["trust_remote_code"] = True

    with pytest.raises(ModelLoadError, match="trust_remote_code"):
        load_model(_edited(package_dir, tmp_path, edit), build_encoders=False)


def test_predict_names_the_flag_in_one_line(
    package_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], silent_wav: Path
) -> None:
    from emofuse.cli.main import main

    pkg = _edited(package_dir, tmp_path, _encoder_model("bert-base-uncased"))
    old = sys.argv
    sys.argv = ["emofuse", "predict", str(silent_wav), "--model", str(pkg)]
    try:
        with pytest.raises(SystemExit) as ended:
            main()
    finally:
        sys.argv = old
    err = " ".join(capsys.readouterr().err.split())
    assert ended.value.code == 2 and "Traceback" not in err
    assert "--allow-model bert-base-uncased" in err and "config.json" in err
