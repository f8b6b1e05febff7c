"""Building the service from its settings: the predictor (in this process, or in each worker process) and the app.

``emofuse serve --workers N`` (N > 1) runs one HTTP front process and N inference worker *processes*
(:mod:`emofuse.serve.process_pool`), each loading its own model with :func:`load_predictor`: native inference
libraries (torch, CTranslate2, silero-vad) never see two requests of one process at once unless ``--threads``
asks for it, and N processes use N cores. :class:`ServeSettings` travel to the workers as plain data (no secrets:
the API key stays in its file and only the front reads it).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from emofuse.audio import MIN_DURATION_S
from emofuse.threads import NATIVE_THREAD_VARS, worker_thread_env

__all__ = [
    "NATIVE_THREAD_VARS",
    "ServeSettings",
    "build_app",
    "load_predictor",
    "worker_thread_env",
]


@dataclass(frozen=True)
class ServeSettings:
    """What `emofuse serve` was asked for: the model each worker loads and the service's limits (see ``--help``)."""

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


def load_predictor(settings: ServeSettings) -> Any:
    """Set this process's torch threads (``settings.torch_threads``) and load the :class:`Predictor` it describes."""
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
        with contextlib.suppress(RuntimeError):  # only settable before any inter-op work
            torch.set_num_interop_threads(1)
    from emofuse.serve.predictor import Predictor

    return Predictor.from_pretrained(
        settings.model,
        asr_backend=settings.asr_backend,
        asr_model=settings.asr_model,
        allow_models=settings.allow_models,
        warmup=settings.warmup,
        background=settings.warmup,  # encoders built while the warm-up transcribes; its errors still stop start-up
    )


def build_app(settings: ServeSettings, predictor: Any = None, *, workers: int | None = None) -> Any:
    """Read the API key and return the FastAPI app around ``predictor`` (loaded by :func:`load_predictor`
    unless given; a :class:`~emofuse.serve.process_pool.ProcessPool` for worker processes). ``workers``:
    recordings processed at once (default ``settings.threads``)."""
    from emofuse.serve.app import create_app
    from emofuse.serve.auth import load_api_key
    from emofuse.serve.limits import ClientLimits

    api_key = load_api_key(settings.api_key_file) if settings.api_key_file else None
    if predictor is None:
        predictor = load_predictor(settings)
    return create_app(
        predictor,
        max_upload_bytes=settings.max_upload_bytes,
        queue_size=settings.queue_size,
        workers=workers or settings.threads,
        max_duration_s=settings.max_duration_s,
        min_duration_s=settings.min_duration_s,
        read_timeout_s=settings.read_timeout_s,
        api_key=api_key,
        client_limits=ClientLimits(
            max_active=settings.client_max_active, rate_per_min=settings.client_rate_per_min
        ),
        max_uploads=settings.max_uploads,
    )
