"""Session fixtures for the transcription tests: real espeak-ng speech with planted pauses, real models loaded once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from emofuse.audio import load_audio
from emofuse.synth import espeak_available, speak

PAUSE_MS = 1200
# Three phrases Whisper tiny.en and pocketsphinx both handle on espeak-ng's en-us voice, with pauses between them.
PHRASES = (
    "it was a long day at work",
    "but the evening was calm and quiet",
    "my brother called me yesterday",
    "he sounded happy",
)
PAUSED_TEXT = " [SIL] ".join(PHRASES)


@dataclass(frozen=True)
class PlantedSpeech:
    """A clip and where its planted pauses lie (measured from the audio energy)."""

    path: Path
    wave: np.ndarray  # [N] float32 at 16 kHz
    text: str  # the spoken words, no pauses
    phrases: tuple[str, ...]  # the phrases between the pauses
    pauses_s: list[tuple[float, float]]  # (start_s, end_s) of each planted pause


def energy_pauses(
    wave: np.ndarray, sample_rate_hz: int = 16_000, min_s: float = 0.8
) -> list[tuple[float, float]]:
    """Runs of 10 ms frames with RMS below 1e-3 lasting at least ``min_s`` (espeak-ng's SSML breaks are silent)."""
    hop = sample_rate_hz // 100
    frames = wave[: len(wave) // hop * hop].reshape(-1, hop)
    quiet = np.sqrt(np.mean(frames**2, axis=1)) < 1e-3
    runs, start = [], None
    for i, q in enumerate([*quiet.tolist(), False]):
        if q and start is None:
            start = i
        elif not q and start is not None:
            if (i - start) / 100 >= min_s:
                runs.append((start / 100, i / 100))
            start = None
    return runs


def normalise(text: str) -> list[str]:
    """Lower-case words without punctuation (for word error rates and position checks)."""
    return [w for w in re.sub(r"[^a-z0-9' \[\]]+", " ", text.lower()).split() if w]


def word_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    """(substitutions + deletions + insertions) / len(reference) over words: emofuse's own WER (jiwer)."""
    from emofuse.transcribe.wer import word_error_rate as corpus_wer

    return corpus_wer([" ".join(reference)], [" ".join(hypothesis)]).wer


@pytest.fixture(scope="session")
def planted(tmp_path_factory: pytest.TempPathFactory) -> PlantedSpeech:
    """About 10 s of speech: four phrases separated by 1.2 s SSML breaks (three planted pauses)."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    ssml = f' <break time="{PAUSE_MS}ms"/> '.join(PHRASES)
    path = speak(ssml, tmp_path_factory.mktemp("planted") / "planted.wav", ssml=True)
    wave = load_audio(path)
    pauses = energy_pauses(wave)
    assert len(pauses) == len(PHRASES) - 1, f"expected {len(PHRASES) - 1} planted pauses, found {pauses}"
    return PlantedSpeech(path, wave, " ".join(PHRASES), PHRASES, pauses)


@pytest.fixture(scope="session")
def whisper():  # noqa: ANN201 - returns a Transcriber
    """faster-whisper with the offline tiny.en, loaded once for the whole session."""
    from emofuse.transcribe import build_transcriber

    return build_transcriber("faster-whisper", cpu_threads=2)


@pytest.fixture(scope="session")
def whisper_planted(whisper, planted: PlantedSpeech):  # noqa: ANN001, ANN201
    """Whisper's annotated transcript of the planted clip (computed once)."""
    from emofuse.transcribe.silence import annotate

    return annotate(whisper.transcribe(planted.wave, 16_000), planted.wave, 16_000, vad=True)


@pytest.fixture(scope="session")
def aligner():  # noqa: ANN201
    from emofuse.transcribe import build_transcriber

    return build_transcriber("align")


@pytest.fixture(scope="session")
def norm():  # noqa: ANN201
    """The :func:`normalise` helper (test modules cannot import conftest under --import-mode=importlib)."""
    return normalise


@pytest.fixture(scope="session")
def wer():  # noqa: ANN201
    """The :func:`word_error_rate` helper."""
    return word_error_rate
