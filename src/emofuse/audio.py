"""Reading audio: any format libsndfile reads (WAV, FLAC, OGG, MP3), any rate, any channel count, any bit depth.

Everything downstream sees mono float32 at one rate (16 kHz unless a caller asks otherwise).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emofuse.errors import AudioError

#: the one sample rate of emofuse: every model here (Whisper, silero-vad, SSL, openSMILE set-ups) runs at 16 kHz
SAMPLE_RATE_HZ = 16_000
#: Shortest recording a prediction is made for: below this there is nothing to hear (a 10-sample file got class
#: probabilities before). The service's ``--min-duration-s`` defaults to it.
MIN_DURATION_S = 0.1


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header only."""

    path: str
    sample_rate_hz: int
    channels: int
    frames: int
    format: str
    subtype: str
    truncated: str | None = None  # why the file is cut short (its header promises more data), else None

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate_hz if self.sample_rate_hz else 0.0


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Header information of an audio file; raises :class:`AudioError` naming the file if it cannot be read."""
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise AudioError(f"audio file not found: {p} (check the path, or the corpus root you gave)")
    try:
        info = sf.info(str(p))
    except Exception as exc:  # libsndfile raises RuntimeError/LibsndfileError/TypeError on bad headers
        raise AudioError(
            f"cannot read audio file {p}: {exc}. It may be corrupt or in a format libsndfile does not read; "
            "convert it to WAV or FLAC (for example with `sox in.ext out.wav`)."
        ) from exc
    return AudioInfo(
        str(p),
        int(info.samplerate),
        int(info.channels),
        int(info.frames),
        info.format,
        info.subtype,
        _truncation(str(getattr(info, "extra_info", "") or "")),
    )


_SHORT_CHUNK = re.compile(r"^\s*data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def _truncation(extra_info: str) -> str | None:
    """libsndfile's header log says ``data : 32000 (should be 15978)`` when the data chunk is cut short."""
    match = _SHORT_CHUNK.search(extra_info)
    if match is None:
        return None
    promised, present = int(match.group(1)), int(match.group(2))
    if present >= promised:
        return None
    return f"truncated: its header promises {promised} bytes of audio, the file holds {present}"


def check_complete(info: AudioInfo) -> None:
    """Raise :class:`AudioError` for a file cut short (an interrupted copy or download)."""
    if info.truncated is not None:
        raise AudioError(
            f"audio file {info.path} is {info.truncated}; copy or export it again (or pass --skip-errors / "
            "--skip-missing to leave it out, listed)"
        )


def load_audio(
    path: str | os.PathLike[str],
    *,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    start_s: float | None = None,
    end_s: float | None = None,
) -> np.ndarray:
    """Read a file (or the span ``[start_s, end_s)`` of it) as mono float32 at ``sample_rate_hz``.

    Returns:
        waveform of shape ``[N]``, values in [-1, 1].

    Raises:
        AudioError: the file is missing, corrupt, empty or the span lies outside it.
    """
    import soundfile as sf

    info = audio_info(path)
    check_complete(info)
    start_frame = (
        0 if start_s is None or start_s != start_s else int(round(float(start_s) * info.sample_rate_hz))
    )
    end_frame = (
        info.frames if end_s is None or end_s != end_s else int(round(float(end_s) * info.sample_rate_hz))
    )
    if start_frame < 0 or end_frame > info.frames + info.sample_rate_hz // 100 or end_frame <= start_frame:
        raise AudioError(
            f"span [{start_s}, {end_s}] s lies outside {path} ({info.duration_s:.2f} s long); "
            "fix start_s/end_s in the corpus table"
        )
    end_frame = min(end_frame, info.frames)
    try:
        data, file_rate = sf.read(
            str(path), start=start_frame, stop=end_frame, dtype="float32", always_2d=True
        )
    except Exception as exc:
        raise AudioError(f"cannot decode audio file {path}: {exc}. It may be truncated or corrupt.") from exc
    if data.shape[0] == 0 and info.frames > 0:
        raise AudioError(f"no audio decoded from {path}; the file may be truncated or corrupt")
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return resample(np.ascontiguousarray(wave, dtype=np.float32), int(file_rate), sample_rate_hz)


def check_min_duration(
    wave: np.ndarray, sample_rate_hz: int, source: str, min_duration_s: float = MIN_DURATION_S
) -> None:
    """Raise :class:`AudioError` naming ``source`` when ``wave`` ``[N]`` is shorter than ``min_duration_s``."""
    if wave.shape[0] == 0:
        raise AudioError(f"{source}: the recording holds no samples (0 s); record something and try again")
    duration_s = wave.shape[0] / sample_rate_hz if sample_rate_hz > 0 else 0.0
    if duration_s < min_duration_s:
        raise AudioError(
            f"{source}: the recording is {duration_s * 1000:.1f} ms long; at least {min_duration_s:.2f} s of "
            "audio is needed for a prediction (record or cut a longer piece)"
        )


def resample(wave: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Resample a mono waveform ``[N]`` with soxr (high quality); a no-op when the rates agree."""
    if from_hz <= 0 or to_hz <= 0:
        raise AudioError(f"bad sample rate: {from_hz} Hz -> {to_hz} Hz")
    if from_hz == to_hz or wave.size == 0:
        return wave.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(wave, from_hz, to_hz, quality="HQ").astype(np.float32, copy=False)


def check_waveform(wave: np.ndarray, sample_rate_hz: int, source: str = "<array>") -> np.ndarray:
    """Validate an in-memory waveform: mono ``[N]`` (or ``[N, C]`` mixed down), finite, float32."""
    arr = np.asarray(wave)
    if arr.ndim == 2:
        arr = arr.mean(axis=1) if arr.shape[1] <= 8 else arr.mean(axis=0)
    if arr.ndim != 1:
        raise AudioError(f"{source}: expected a waveform of shape [N] or [N, channels], got {arr.shape}")
    if sample_rate_hz <= 0:
        raise AudioError(f"{source}: sample rate must be positive, got {sample_rate_hz}")
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max)
    arr = arr.astype(np.float32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise AudioError(f"{source}: waveform holds NaN or infinite values")
    return arr


def iter_blocks(
    path: str | os.PathLike[str], block_s: float, *, sample_rate_hz: int = SAMPLE_RATE_HZ
) -> Iterator[np.ndarray]:
    """Stream a long file in mono float32 blocks of about ``block_s`` seconds (bounded memory)."""
    import soundfile as sf

    info = audio_info(path)
    frames_per_block = max(1, int(block_s * info.sample_rate_hz))
    with sf.SoundFile(str(path)) as handle:
        for block in handle.blocks(blocksize=frames_per_block, dtype="float32", always_2d=True):
            mono = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
            yield resample(np.ascontiguousarray(mono), info.sample_rate_hz, sample_rate_hz)


def write_wav(path: str | os.PathLike[str], wave: np.ndarray, sample_rate_hz: int) -> None:
    """Write mono float32 ``[N]`` as 16-bit PCM WAV (atomically)."""
    import soundfile as sf

    from emofuse.io import atomic_open

    with atomic_open(path, "wb", encoding=None) as handle:
        sf.write(handle, np.asarray(wave, dtype=np.float32), sample_rate_hz, format="WAV", subtype="PCM_16")
