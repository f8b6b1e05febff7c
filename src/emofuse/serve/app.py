"""The HTTP service (FastAPI): ``POST /predict``, ``GET /health``, the OpenAPI docs at ``/docs`` and a web page at ``/``.

``POST /predict`` takes ``multipart/form-data`` with the recording in ``audio`` and an optional ``transcript``,
and answers :meth:`emofuse.serve.predictor.Prediction.to_dict` as JSON. ``POST /predict/segments`` takes the same
upload (no transcript) and answers ``{"duration_s", "segments": [SegmentResult dicts]}``: the recording cut at
pauses (:mod:`emofuse.serve.segments`), each segment's times, transcript and emotions. Refusals carry
``{"detail": message}``:

* 401: the server has an API key and the request did not carry it (``X-API-Key`` or ``Authorization: Bearer``);
* 408: the body did not arrive within ``read_timeout_s`` (a request head has its own deadline, see
  :mod:`emofuse.serve.http`);
* 413: the upload (counted while it streams in) or the recording's duration is over the limit;
* 415: not multipart, or not audio in a format the server reads;
* 422: no ``audio`` field, an unknown or repeated field, an empty file, audio shorter than ``min_duration_s``;
* 429 with ``Retry-After``: the client is over its limits (:class:`~emofuse.serve.limits.ClientLimits`);
* 503 with ``Retry-After``: ``workers`` recordings are being processed and ``queue_size`` more wait, or
  ``max_uploads`` bodies are being read, or the worker process holding the recording stopped (it is replaced).

A request takes a queue slot only once its body is in: slow uploads wait in the bounded
:class:`~emofuse.serve.limits.UploadGate`, each cut at its deadline, and never starve the queue. Nothing from a
request reaches a filesystem path: uploads are parsed and decoded in memory (ffmpeg, for WebM, reads from a
pipe), and the page's files are read from the package once at start-up. Inference runs in a bounded thread pool
(:class:`~emofuse.serve.workqueue.WorkQueue`), so the event loop stays responsive; with worker processes
(:mod:`emofuse.serve.process_pool`) those threads hand each admitted :class:`~emofuse.serve.jobs.Job` to the next
free worker and wait for its answer. No CORS headers are sent:
browsers let only the service's own page (same origin) read its answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from importlib import resources
from typing import Any, Protocol, runtime_checkable

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from emofuse.audio import MIN_DURATION_S
from emofuse.serve.auth import key_matches, presented_key
from emofuse.serve.jobs import Answer, DecodeLimits, Job, JobKind, SupportsPredict, answer_job
from emofuse.serve.limits import ClientLimits, LimitExceeded, UploadGate
from emofuse.serve.upload import UploadError, read_upload
from emofuse.serve.workqueue import QueueFull, WorkQueue

log = logging.getLogger(__name__)
_STATIC_FILES = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}


@runtime_checkable
class SupportsJobs(Protocol):
    """Inference elsewhere: worker processes with their own models (:class:`emofuse.serve.process_pool.ProcessPool`)."""

    def run_job(self, job: Job) -> Answer: ...

    def describe(self) -> dict[str, Any]: ...

    def health(self) -> dict[str, Any]: ...

    def shutdown(self) -> None: ...


def _read_static(name: str) -> str:
    return resources.files("emofuse.serve").joinpath("static", name).read_text(encoding="utf-8")


_PREDICT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["audio"],
                    "properties": {
                        "audio": {
                            "type": "string",
                            "format": "binary",
                            "description": "the recording (WAV, FLAC, OGG/Vorbis, OGG/Opus, MP3; WebM with ffmpeg)",
                        },
                        "transcript": {
                            "type": "string",
                            "description": "what was said, if known (used instead of ASR, aligned for [SIL] marks)",
                        },
                    },
                }
            }
        },
    },
    "responses": {
        "401": {"description": "the server needs an API key: send it in X-API-Key"},
        "408": {"description": "the upload did not arrive in time"},
        "413": {"description": "upload or recording too large"},
        "415": {"description": "not multipart, or not audio in a readable format"},
        "422": {"description": "missing/unknown field, empty file, or a recording too short"},
        "429": {"description": "this client is over its limits; retry after the Retry-After seconds"},
        "503": {"description": "the work queue is full; retry after the Retry-After seconds"},
    },
}


def create_app(
    predictor: SupportsPredict | SupportsJobs,
    *,
    max_upload_bytes: int = 20_000_000,
    queue_size: int = 8,
    workers: int = 1,
    max_duration_s: float = 600.0,
    allow_ffmpeg: bool = True,
    min_duration_s: float = MIN_DURATION_S,
    read_timeout_s: float = 60.0,
    api_key: str | None = None,
    client_limits: ClientLimits | None = None,
    max_uploads: int = 64,
) -> FastAPI:
    """Build the FastAPI app around a loaded predictor.

    Args:
        predictor: anything with ``predict_wave(wave [N] float32, sample_rate_hz, transcript)`` returning an object
            with ``to_dict()``, and ``describe()``, run in this process; or a :class:`SupportsJobs` (worker
            processes), which gets each admitted :class:`~emofuse.serve.jobs.Job` and answers it.
        max_upload_bytes: largest accepted audio part, counted as it streams in.
        queue_size: recordings that may wait for a worker before the service answers 503.
        workers: recordings processed at once (threads sharing the one predictor, or, with worker processes,
            their inference threads together).
        max_duration_s: longest accepted recording.
        allow_ffmpeg: decode formats libsndfile cannot (WebM, MP4) with ffmpeg through pipes when installed.
        min_duration_s: shortest accepted recording (a shorter one is a 422).
        read_timeout_s: deadline for the whole request body, from the end of its head (408 after it).
        api_key: when set, ``POST /predict`` needs it (``X-API-Key`` or ``Authorization: Bearer``; 401 without).
        client_limits: per-client concurrency and rate (default :class:`ClientLimits`'s defaults).
        max_uploads: request bodies read at once before the service answers 503.
    """
    from emofuse.serve.package import emofuse_version

    queue = WorkQueue(workers=workers, queue_size=queue_size)
    pool = predictor if isinstance(predictor, SupportsJobs) else None
    run_job = pool.run_job if pool is not None else partial(answer_job, predictor)
    decode_limits = DecodeLimits(
        max_duration_s=max_duration_s, min_duration_s=min_duration_s, allow_ffmpeg=allow_ffmpeg
    )
    limits = client_limits if client_limits is not None else ClientLimits()
    gate = UploadGate(max_uploads=max_uploads)

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        yield
        queue.shutdown()
        if pool is not None:
            pool.shutdown()

    page = _read_static("index.html")
    static = {name: _read_static(name) for name in _STATIC_FILES}
    app = FastAPI(
        title="emofuse",
        version=emofuse_version(),
        description="Speech emotion recognition from how it sounds and what is said. "
        "POST a recording to /predict; the page at / does it in a browser.",
        lifespan=lifespan,
    )
    app.state.queue = queue
    app.state.predictor = predictor
    app.state.limits = limits
    app.state.uploads = gate
    counters = {"timed_out": 0, "unauthorised": 0}

    def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"detail": message}, status_code=status, headers=headers)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/static/{name}", include_in_schema=False)
    def static_file(name: str) -> Response:
        if name not in static:  # a fixed table: the request never names a path on disk
            return _error(404, f"no static file {name!r}")
        return Response(static[name], media_type=_STATIC_FILES[name])

    @app.get("/health")
    def health(request: Request) -> dict[str, Any]:
        """Liveness, the work queue's counters and the limits; the loaded model (task, labels, encoder ids) too
        when the server has no API key or the request carries it."""
        authorised = api_key is None or key_matches(presented_key(request.headers), api_key)
        return {
            "status": "ok",
            "version": emofuse_version(),
            "auth": "api-key" if api_key is not None else "none",
            **({"model": predictor.describe()} if authorised else {}),
            "queue": queue.stats(),
            **({"worker_processes": pool.health()} if pool is not None else {}),
            "uploads": {"reading": gate.reading, "rejected": gate.rejected, **counters},
            "limits": {
                "max_upload_bytes": max_upload_bytes,
                "max_duration_s": max_duration_s,
                "min_duration_s": min_duration_s,
                "read_timeout_s": read_timeout_s,
                "client_max_active": limits.max_active,
                "client_rate_per_min": limits.rate_per_min,
            },
        }

    @app.post("/predict", openapi_extra=_PREDICT_OPENAPI)
    async def predict(request: Request) -> Response:
        """Emotions of one uploaded recording: transcript with [SIL], class probabilities or A/V/D, stage timings."""
        return await _guarded(request, "predict")

    async def _guarded(request: Request, kind: JobKind) -> Response:
        """API key, per-client limits, then :func:`_admitted_predict` (shared by both endpoints)."""
        if api_key is not None and not key_matches(presented_key(request.headers), api_key):
            counters["unauthorised"] += 1
            return _error(
                401,
                "this server needs an API key: send it in the X-API-Key header (the page asks for it)",
                headers={"WWW-Authenticate": 'Bearer realm="emofuse"'},
            )
        client = request.client.host if request.client is not None else "unknown"
        try:
            limits.acquire(client)
        except LimitExceeded as over:
            return _error(over.status_code, over.message, headers={"Retry-After": str(over.retry_after_s)})
        try:
            return await _admitted_predict(request, kind)
        finally:
            limits.release(client)

    async def _admitted_predict(request: Request, kind: JobKind) -> Response:
        try:
            gate.enter()
        except LimitExceeded as over:
            return _error(over.status_code, over.message, headers={"Retry-After": str(over.retry_after_s)})
        try:  # the body first, under its deadline; the queue slot only once it is in
            async with asyncio.timeout(read_timeout_s):
                upload = await read_upload(request, max_audio_bytes=max_upload_bytes)
        except TimeoutError:
            counters["timed_out"] += 1
            return _error(
                408,
                f"the upload did not arrive within {read_timeout_s:g} s; send it again over a faster link "
                "(or a shorter recording)",
                headers={"Connection": "close"},
            )
        except UploadError as exc:
            return _error(exc.status_code, exc.message)
        finally:
            gate.leave()
        try:
            queue.admit()
        except QueueFull as full:
            return _error(
                503,
                f"the server is busy ({queue.capacity} recordings in progress or waiting); retry in "
                f"{full.retry_after_s} s",
                headers={"Retry-After": str(full.retry_after_s)},
            )
        try:
            job = Job(kind, upload.audio, upload.transcript, decode_limits)
            answer: Answer = await queue.run(run_job, job)
        except Exception:
            log.exception("unexpected error in /%s", kind)
            answer = Answer.refusal(500, "internal error while predicting; the server log has the details")
        finally:
            queue.release()
        headers = {"Retry-After": str(answer.retry_after_s)} if answer.retry_after_s is not None else None
        return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)

    @app.post("/predict/segments", openapi_extra=_PREDICT_OPENAPI)
    async def predict_segments_endpoint(request: Request) -> Response:
        """Emotions over time: the recording cut at pauses, each segment's times, transcript and emotions (the
        same key, limits and queue as ``/predict``)."""
        return await _guarded(request, "segments")

    return app
