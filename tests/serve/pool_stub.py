"""Stub predictors that worker processes of :class:`emofuse.serve.process_pool.ProcessPool` load in tests.

A worker imports this module by name (the tests put its folder on ``sys.path``, which spawned processes inherit),
so it must stay importable on its own. The stub takes its settings from ``ServeSettings.model``, a JSON object:
``delay_s`` (how long a prediction sleeps, unless the request's transcript gives another number), ``started_dir`` (a folder where each prediction leaves a file named
after its worker's pid as it starts) and ``fail`` (a load error to raise).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emofuse.errors import ModelLoadError
from emofuse.serve.factory import ServeSettings


@dataclass
class PidResult:
    """A prediction that says which process made it (its ``top_class`` is ``pid<N>``)."""

    duration_s: float
    transcript: str | None
    text: str = ""
    text_with_sil: str = ""
    probabilities: dict[str, float] = field(default_factory=lambda: {"a": 1.0})
    avd: dict[str, float] | None = None

    @property
    def top_class(self) -> str:
        return f"pid{os.getpid()}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "duration_s": self.duration_s,
            "transcript": self.transcript,
            "native_threads": os.environ.get("OMP_NUM_THREADS"),
        }


class SleepyPredictor:
    """Sleeps ``delay_s`` per recording, then answers with its process id; runs no ASR."""

    needs_asr = False

    def __init__(self, delay_s: float, started_dir: str | None) -> None:
        self.delay_s = delay_s
        self.started_dir = started_dir

    def predict_wave(
        self, wave: np.ndarray, sample_rate_hz: int, transcript: str | None = None, **_: Any
    ) -> PidResult:
        if self.started_dir:
            Path(self.started_dir, str(os.getpid())).touch()
        time.sleep(float(transcript) if transcript else self.delay_s)
        return PidResult(duration_s=wave.size / sample_rate_hz, transcript=transcript)

    def describe(self) -> dict[str, Any]:
        return {"task": "classes", "labels": ["a"]}


def stub_settings(threads: int = 1, **options: Any) -> ServeSettings:
    """Settings whose ``model`` carries the stub's options."""
    return ServeSettings(model=json.dumps(options), threads=threads, warmup=False)


def load_stub(settings: ServeSettings) -> SleepyPredictor:
    options = json.loads(settings.model)
    if options.get("fail"):
        raise ModelLoadError(options["fail"])
    return SleepyPredictor(float(options.get("delay_s", 0.0)), options.get("started_dir"))
