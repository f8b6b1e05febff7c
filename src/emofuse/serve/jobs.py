"""One unit of inference work of the service and its answer, the same in this process and in a worker process.

A :class:`Job` is an admitted upload (its audio bytes as received, the optional transcript, which endpoint, and
the decoding limits); :func:`answer_job` decodes it and runs the predictor, and turns every outcome into an
:class:`Answer` (an HTTP status and a JSON-ready body): a refused upload (413/415/422), unusable audio (422), a
failed prediction (500). The service runs it in an inference thread of its own process
(``emofuse serve --workers 1``) or sends the job to a worker process (:mod:`emofuse.serve.process_pool`), so
both paths answer alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from emofuse.audio import MIN_DURATION_S, SAMPLE_RATE_HZ
from emofuse.errors import AudioError, EmofuseError

log = logging.getLogger(__name__)
JobKind = Literal["predict", "segments"]


class SupportsPredict(Protocol):
    """What the service needs of a predictor (:class:`emofuse.serve.Predictor` is one)."""

    def predict_wave(self, wave: np.ndarray, sample_rate_hz: int, transcript: str | None = None) -> Any: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DecodeLimits:
    """How an upload is decoded: longest and shortest accepted recording, ffmpeg for WebM/MP4 or not."""

    max_duration_s: float = 600.0
    min_duration_s: float = MIN_DURATION_S
    allow_ffmpeg: bool = True


@dataclass(frozen=True)
class Job:
    """An admitted request: ``kind`` ``"predict"`` (``POST /predict``) or ``"segments"`` (``/predict/segments``)."""

    kind: JobKind
    audio: bytes
    transcript: str | None
    limits: DecodeLimits


@dataclass(frozen=True)
class Answer:
    """What the service sends back: ``status_code``, a JSON body (``{"detail": message}`` when refused) and,
    for a 503, the seconds to wait before retrying."""

    status_code: int
    body: dict[str, Any]
    retry_after_s: int | None = None

    @classmethod
    def refusal(cls, status_code: int, message: str, retry_after_s: int | None = None) -> Answer:
        return cls(status_code, {"detail": message}, retry_after_s)


def answer_job(predictor: SupportsPredict, job: Job) -> Answer:
    """Decode ``job``'s audio under its limits, run ``predictor`` on it and answer; never raises."""
    from emofuse.serve.upload import UploadError, decode_audio

    try:
        if job.kind == "segments" and job.transcript:
            raise UploadError(
                422, "a transcript does not apply to /predict/segments (each segment is transcribed)"
            )
        wave = decode_audio(
            job.audio,
            max_duration_s=job.limits.max_duration_s,
            allow_ffmpeg=job.limits.allow_ffmpeg,
            min_duration_s=job.limits.min_duration_s,
        )
        if job.kind == "segments":
            from emofuse.serve.segments import predict_segments

            segments = [s.to_dict() for s in predict_segments(predictor, wave)]
            return Answer(200, {"duration_s": round(wave.size / SAMPLE_RATE_HZ, 3), "segments": segments})
        return Answer(200, predictor.predict_wave(wave, SAMPLE_RATE_HZ, transcript=job.transcript).to_dict())
    except UploadError as exc:
        return Answer.refusal(exc.status_code, exc.message)
    except AudioError as exc:
        return Answer.refusal(422, str(exc))
    except EmofuseError as exc:
        log.warning("prediction failed: %s", exc)
        return Answer.refusal(500, f"prediction failed: {exc}")
    except Exception:
        log.exception("unexpected error while predicting")
        return Answer.refusal(500, "internal error while predicting; the server log has the details")
