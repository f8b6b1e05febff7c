"""Reading an uploaded recording: a bounded multipart body parsed in memory, then decoded to a waveform.

* :func:`read_upload` streams the request body through python-multipart's push parser and counts the bytes
  as they arrive (it never trusts ``Content-Length`` alone): more than the limit is a 413 before the rest is
  read. Parts are kept in memory; nothing of the request (a file name, a field) becomes a filesystem path.
* :func:`decode_audio` turns the uploaded bytes into mono float32 at 16 kHz with libsndfile reading from memory
  (WAV, FLAC, OGG/Vorbis, OGG/Opus, MP3, ...). Formats libsndfile does not read (WebM/Opus from browsers'
  MediaRecorder, MP4/AAC) go through ``ffmpeg`` when it is installed, piped (stdin -> stdout), restricted to
  the pipe protocol and to audio container demuxers.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import numpy as np

from emofuse.audio import SAMPLE_RATE_HZ

AUDIO_FIELDS = ("audio", "file")
TRANSCRIPT_FIELD = "transcript"
MAX_TRANSCRIPT_BYTES = 16 * 1024
MULTIPART_OVERHEAD_BYTES = 64 * 1024
_FFMPEG_FORMATS = "matroska,webm,ogg,mov,mp4,m4a,3gp,aac,mp3,wav,flac"


class UploadError(Exception):
    """A request the service refuses: ``status_code`` (413, 415, 422) and a message for the client."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


@dataclass
class Upload:
    """The parts of a ``POST /predict`` body: the audio bytes and the optional transcript."""

    audio: bytes
    transcript: str | None


def _content_disposition_name(value: bytes) -> str | None:
    from python_multipart.multipart import parse_options_header

    _, options = parse_options_header(value)
    name = options.get(b"name")
    return name.decode("utf-8", "replace") if name is not None else None


async def read_upload(request: Any, *, max_audio_bytes: int) -> Upload:
    """Parse a ``multipart/form-data`` request with an ``audio`` (or ``file``) part and an optional ``transcript``.

    Raises:
        UploadError: 413 (body or audio over the limit), 415 (not multipart), 422 (missing/unknown/repeated field,
            bad transcript).
    """
    from python_multipart.multipart import MultipartParser, parse_options_header

    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise UploadError(
            415,
            "send the recording as multipart/form-data with the file in a field named 'audio' "
            "(e.g. curl -F audio=@speech.wav http://host/predict)",
        )
    max_body_bytes = max_audio_bytes + MULTIPART_OVERHEAD_BYTES + MAX_TRANSCRIPT_BYTES
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
        raise UploadError(413, _too_big_message(max_audio_bytes))

    fields: dict[str, bytearray] = {}
    state: dict[str, Any] = {"header_field": b"", "header_value": b"", "headers": {}, "name": None}
    errors: list[UploadError] = []

    def on_part_begin() -> None:
        state["headers"] = {}
        state["name"] = None

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header_field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["header_value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["header_field"].lower()] = state["header_value"]
        state["header_field"] = b""
        state["header_value"] = b""

    def on_headers_finished() -> None:
        name = _content_disposition_name(state["headers"].get(b"content-disposition", b""))
        if name not in (*AUDIO_FIELDS, TRANSCRIPT_FIELD):
            errors.append(
                UploadError(
                    422,
                    f"unknown form field {name!r}: send 'audio' (the recording) and optionally 'transcript'",
                )
            )
            raise _Stop
        key = "audio" if name in AUDIO_FIELDS else TRANSCRIPT_FIELD
        if key in fields:
            errors.append(
                UploadError(422, f"form field {key!r} was sent twice; send one recording per request")
            )
            raise _Stop
        fields[key] = bytearray()
        state["name"] = key

    def on_part_data(data: bytes, start: int, end: int) -> None:
        key = state["name"]
        buffer = fields[key]
        buffer += data[start:end]
        if key == "audio" and len(buffer) > max_audio_bytes:
            errors.append(UploadError(413, _too_big_message(max_audio_bytes)))
            raise _Stop
        if key == TRANSCRIPT_FIELD and len(buffer) > MAX_TRANSCRIPT_BYTES:
            errors.append(UploadError(413, f"the transcript is longer than {MAX_TRANSCRIPT_BYTES} bytes"))
            raise _Stop

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data,
    }
    parser = MultipartParser(options[b"boundary"], callbacks)  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_body_bytes:
                raise UploadError(413, _too_big_message(max_audio_bytes))
            parser.write(chunk)
        parser.finalize()
    except _Stop:
        raise errors[0] from None
    except UploadError:
        raise
    except Exception as exc:  # python-multipart raises MultipartParseError / FormParserError on garbage
        raise UploadError(422, f"the request body is not valid multipart/form-data: {exc}") from exc

    if "audio" not in fields:
        raise UploadError(422, "the form has no 'audio' field: attach the recording as 'audio'")
    transcript: str | None = None
    if TRANSCRIPT_FIELD in fields:
        try:
            transcript = bytes(fields[TRANSCRIPT_FIELD]).decode("utf-8").strip() or None
        except UnicodeDecodeError as exc:
            raise UploadError(422, "the 'transcript' field is not valid UTF-8 text") from exc
    return Upload(audio=bytes(fields["audio"]), transcript=transcript)


class _Stop(Exception):
    """Raised inside a parser callback to stop reading a body that is already refused."""


def _too_big_message(max_audio_bytes: int) -> str:
    return (
        f"the upload is larger than the limit of {max_audio_bytes / 1e6:.1f} MB; send a shorter recording "
        "(or start the server with a larger --max-upload-mb)"
    )


def decode_audio(
    data: bytes, *, max_duration_s: float, allow_ffmpeg: bool = True, min_duration_s: float = 0.0
) -> np.ndarray:
    """Decode an uploaded file held in memory to mono float32 ``[N]`` at 16 kHz.

    Raises:
        UploadError: 422 (empty file, no samples, shorter than ``min_duration_s``), 413 (longer than
            ``max_duration_s``), 415 (not a format we read).
    """
    import soundfile as sf

    from emofuse.audio import resample

    if not data:
        raise UploadError(422, "the uploaded file is empty (0 bytes); attach a recording")
    try:
        info = sf.info(io.BytesIO(data))
    except Exception:
        info = None
    if info is not None:
        if info.samplerate <= 0 or info.channels <= 0:
            raise UploadError(422, "the uploaded audio has no valid sample rate or channel count")
        duration_s = info.frames / info.samplerate if info.frames > 0 else 0.0
        _check_duration(duration_s, max_duration_s)
        try:
            frames, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        except Exception as exc:
            raise UploadError(
                422, f"the uploaded audio cannot be decoded (truncated or corrupt?): {exc}"
            ) from exc
    else:
        frames, rate = _decode_with_ffmpeg(data, max_duration_s) if allow_ffmpeg else (None, 0)
        if frames is None:
            raise UploadError(
                415,
                "the upload is not audio in a format this server reads (WAV, FLAC, OGG/Vorbis, OGG/Opus, MP3"
                + (
                    "; WebM and MP4 need ffmpeg installed on the server"
                    if shutil.which("ffmpeg") is None
                    else ""
                )
                + ")",
            )
    if frames.shape[0] == 0:
        raise UploadError(422, "the uploaded audio holds no samples (0 s); record something and try again")
    _check_duration(frames.shape[0] / rate, max_duration_s)
    if frames.shape[0] / rate < min_duration_s:
        raise UploadError(
            422,
            f"the recording is {1000 * frames.shape[0] / rate:.1f} ms long; this server needs at least "
            f"{min_duration_s:.2f} s of audio",
        )
    wave = frames.mean(axis=1) if frames.shape[1] > 1 else frames[:, 0]
    wave = np.ascontiguousarray(wave, dtype=np.float32)
    if not np.all(np.isfinite(wave)):
        raise UploadError(422, "the uploaded audio holds NaN or infinite samples")
    return resample(wave, int(rate), SAMPLE_RATE_HZ)


def _check_duration(duration_s: float, max_duration_s: float) -> None:
    if duration_s > max_duration_s:
        raise UploadError(
            413, f"the recording is {duration_s:.1f} s long; this server takes at most {max_duration_s:.0f} s"
        )


def _decode_with_ffmpeg(data: bytes, max_duration_s: float) -> tuple[np.ndarray | None, int]:
    """Decode with ffmpeg through pipes (no files); None when ffmpeg is absent or cannot read the data."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None, 0
    cmd = [
        ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
        "-protocol_whitelist", "pipe", "-format_whitelist", _FFMPEG_FORMATS,
        "-i", "pipe:0", "-vn", "-t", f"{max_duration_s + 1:.0f}",
        "-ac", "1", "-ar", str(SAMPLE_RATE_HZ), "-f", "f32le", "pipe:1",
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, input=data, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None, 0
    if proc.returncode != 0 or len(proc.stdout) < 4:
        return None, 0
    wave = np.frombuffer(proc.stdout[: len(proc.stdout) // 4 * 4], dtype="<f4").astype(np.float32)
    return wave[:, None], SAMPLE_RATE_HZ
