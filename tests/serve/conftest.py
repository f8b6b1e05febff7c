"""Fixtures for the serve tests: a small real model (untrained weights) packaged through the real format.

The run directory is written through the training runner's own :class:`emofuse.train.rundir.RunDir`
with two branches on the offline default stack: MFCC frames (``spectral.mfcc40``) and MiniLM hidden states of the
ASR transcript with ``[SIL]`` tokens. The package and the :class:`Predictor` (Whisper tiny.en, MiniLM) are built
once per session.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from emofuse.synth import espeak_available, speak
from emofuse.transcribe.source import TextSource

LABELS = ["angry", "happy", "neutral", "sad"]
AVD_NAMES = ["arousal", "valence", "dominance"]
ENCODER_SPECS = {"audio": "spectral.mfcc40", "text": {"kind": "text", "sil_token": True}}
INPUT_DIMS = {"audio": 40, "text": 384}
MODEL_CONFIG = {
    "branches": {
        "audio": {"type": "mean_max", "params": {"proj_dim": 16}},
        "text": {"type": "mean_max", "params": {"num_layers": 7, "proj_dim": 16}},
    },
    "fusion": "early",
    "fusion_params": {"hidden": 16},
}


def write_run_dir(
    run_dir: Path, seed: int = 0, task: str = "classes", text_source: TextSource | None = None
) -> Path:
    """Write a run directory through the runner's own type (:class:`RunDir`): untrained weights of the real
    FusionModel. ``task="avd"`` makes an arousal/valence/dominance model instead of the four classes."""
    import torch

    from emofuse.encoders import Standardizer, build_encoder
    from emofuse.train.model import ModelConfig, build_model
    from emofuse.train.rundir import BranchRecord, RunConfig, RunDir

    encoder_ids = {name: build_encoder(spec).encoder_id for name, spec in ENCODER_SPECS.items()}
    torch.manual_seed(seed)
    names = LABELS if task == "classes" else AVD_NAMES
    model_config = ModelConfig.model_validate(MODEL_CONFIG)
    network = build_model(model_config, INPUT_DIMS, len(names), task=task)
    rng = np.random.default_rng(seed)
    config = RunConfig(
        model=model_config,
        input_dims=INPUT_DIMS,
        task=task,
        labels=names if task == "classes" else None,
        avd_names=names if task == "avd" else None,
        branches={
            name: BranchRecord(
                encoder=ENCODER_SPECS[name],
                encoder_id=encoder_ids[name],
                input="audio" if name == "audio" else "asr_sil",
                standardizer=Standardizer()
                .fit([rng.normal(size=(6, INPUT_DIMS[name])) for _ in range(3)])
                .to_dict(),
            )
            for name in ENCODER_SPECS
        },
        text_source=text_source or TextSource(),
        recipe={"name": "serve-test"},
        system="serve-test",
        seed=seed,
        fold="fold0",
    )
    RunDir(run_dir).write(config, network.state_dict(), config_hash="serve-test")
    return run_dir


@pytest.fixture(scope="session")
def run_dir_writer():  # noqa: ANN201 - the function write_run_dir
    """:func:`write_run_dir` for tests that need another run directory (e.g. an A/V/D model)."""
    return write_run_dir


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run_dir(tmp_path_factory.mktemp("run") / "serve-test" / "seed0" / "fold0")


@pytest.fixture(scope="session")
def package_dir(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from emofuse.serve.package import export_from_run

    return export_from_run(run_dir, tmp_path_factory.mktemp("package") / "model")


@pytest.fixture(scope="session")
def predictor(package_dir: Path):  # noqa: ANN201 - Predictor
    from emofuse.serve.predictor import Predictor

    return Predictor.from_pretrained(package_dir)


@pytest.fixture(scope="session")
def speech_with_pause(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real utterance with a planted 1 s pause (SSML break), 16 kHz WAV."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    text = 'the weather is lovely today <break time="1000ms"/> and I feel great'
    return speak(text, tmp_path_factory.mktemp("speech") / "pause.wav", ssml=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """uvicorn serving an app on loopback in a background thread (started and stopped by a fixture)."""

    def __init__(self, app: object) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(predictor) -> Iterator[ServerThread]:  # noqa: ANN001
    from emofuse.serve.app import create_app

    with ServerThread(create_app(predictor, max_upload_bytes=2_000_000, queue_size=4)) as server:
        yield server
