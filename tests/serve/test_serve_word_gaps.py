"""A packaged model that reads perez2022's word-gap silence ratio: the Predictor computes it from the recording's
own ASR word timings (with the packaged text source's silence settings) and feeds it, standardised, to the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emofuse.transcribe.source import TextSource


def test_the_predictor_feeds_the_recordings_word_gap_ratio(speech_with_pause: Path, tmp_path: Path) -> None:
    import torch

    from emofuse.encoders import Standardizer, build_encoder
    from emofuse.serve.package import export_from_run
    from emofuse.serve.predictor import Predictor
    from emofuse.train.model import ModelConfig, build_model
    from emofuse.train.rundir import BranchRecord, RunConfig, RunDir

    spec = {"kind": "word_gap_ratio"}
    model_config = ModelConfig.model_validate(
        {"branches": {"silence": {"type": "dense", "params": {"out_dim": None}}}, "fusion": "none",
         "head": {"type": "avd"}}
    )  # fmt: skip
    torch.manual_seed(0)
    network = build_model(model_config, {"silence": 1}, 1, task="avd").eval()
    standardizer = Standardizer().fit([np.array([0.1]), np.array([0.3]), np.array([0.5])])
    config = RunConfig(
        model=model_config, input_dims={"silence": 1}, task="avd", avd_names=["arousal"],
        branches={"silence": BranchRecord(encoder=spec, encoder_id=build_encoder(spec).encoder_id,
                                          input="asr_silence_ratio", standardizer=standardizer.to_dict())},
        text_source=TextSource(), recipe={"name": "wordgap"}, system="wordgap", seed=0, fold="fold0",
    )  # fmt: skip
    run = RunDir(tmp_path / "run")
    run.write(config, network.state_dict(), config_hash="wordgap")
    predictor = Predictor.from_pretrained(export_from_run(run.path, tmp_path / "model"))
    prediction = predictor.predict_file(speech_with_pause)
    assert (
        prediction.silence_ratio is not None and 0.1 < prediction.silence_ratio < 0.9
    )  # a 1 s planted pause
    x = standardizer.transform(np.array([prediction.silence_ratio], dtype=np.float32))
    with torch.inference_mode():
        expected = predictor.packaged.network(
            {"silence": torch.tensor(x, dtype=torch.float32).reshape(1, 1, 1)},
            {"silence": torch.ones(1, 1, dtype=torch.bool)},
        )["output"][0, 0]
    assert prediction.avd["arousal"] == pytest.approx(float(expected), abs=1e-5)
