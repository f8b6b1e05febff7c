"""Building the service from its settings, in this process or in each of several worker processes.

``emofuse serve --workers N`` runs N worker *processes* (uvicorn's supervisor, one shared socket), each with its
own model and its own admission queue: native inference libraries (torch, CTranslate2, silero-vad) never see two
requests of one process at once unless ``--threads`` asks for it, and N processes use N cores. A worker reads
its settings from the environment variable :data:`SETTINGS_ENV` (JSON, no secrets: the API key stays in its
file and each worker reads it there).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from emofuse.audio import MIN_DURATION_S
from emofuse.threads import NATIVE_THREAD_VARS, worker_thread_env

__all__ = ["NATIVE_THREAD_VARS", "SETTINGS_ENV", "ServeSettings", "build_app", "worker_thread_env"]

SETTINGS_ENV = "EMOFUSE_SERVE_SETTINGS"


@dataclass(frozen=True)
class ServeSettings:
    """Everything a worker needs to build the app (see ``emofuse serve --help`` for each)."""

    model: str
    asr_backend: str | None = None
    asr_model: str | None = None
    warmup: bool = True
    max_upload_bytes: int = 20_000_000
    queue_size: int = 8
    threads: int = 1
    max_duration_s: float = 600.0
    min_duration_s: float = MIN_DURATION_S
    read_timeout_s: float = 60.0
    api_key_file: str | None = None
    client_max_active: int = 8
    client_rate_per_min: float = 120.0
    max_uploads: int = 64
    torch_threads: int | None = None
    allow_models: tuple[str, ...] = ()

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServeSettings:
        raw = (environ if environ is not None else os.environ).get(SETTINGS_ENV)
        if raw is None:
            raise RuntimeError(f"{SETTINGS_ENV} is not set: start worker processes through `emofuse serve`")
        data = json.loads(raw)
        data["allow_models"] = tuple(data.get("allow_models") or ())
        return cls(**data)


def build_app(settings: ServeSettings, predictor: Any = None) -> Any:
    """Load the predictor (unless given) and the API key, and return the FastAPI app."""
    from emofuse.serve.app import create_app
    from emofuse.serve.auth import load_api_key
    from emofuse.serve.limits import ClientLimits

    api_key = load_api_key(settings.api_key_file) if settings.api_key_file else None
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
        with contextlib.suppress(RuntimeError):  # only settable before any inter-op work
            torch.set_num_interop_threads(1)
    if predictor is None:
        from emofuse.serve.predictor import Predictor

        predictor = Predictor.from_pretrained(
            settings.model,
            asr_backend=settings.asr_backend,
            asr_model=settings.asr_model,
            allow_models=settings.allow_models,
            warmup=settings.warmup,
            background=settings.warmup,  # encoders built while the warm-up transcribes; its errors still stop start-up
        )
    return create_app(
        predictor,
        max_upload_bytes=settings.max_upload_bytes,
        queue_size=settings.queue_size,
        workers=settings.threads,
        max_duration_s=settings.max_duration_s,
        min_duration_s=settings.min_duration_s,
        read_timeout_s=settings.read_timeout_s,
        api_key=api_key,
        client_limits=ClientLimits(
            max_active=settings.client_max_active, rate_per_min=settings.client_rate_per_min
        ),
        max_uploads=settings.max_uploads,
    )


def app_from_env() -> Any:
    """uvicorn's app factory in each worker process (``emofuse.serve.factory:app_from_env``)."""
    return build_app(ServeSettings.from_env())
