"""A second demo corpus in which *pauses between words* carry arousal (perez2022's finding, made testable offline).

perez2022 (Interspeech 2022, "Mind the gap") finds that silences in speech carry activation: a ``[SIL]`` token
learned by BERT, or the portion of silence, helps lexical emotion recognition. The main demo corpus
(:mod:`emofuse.corpus.demo`, used by the quickstart) puts arousal in speed and loudness and valence in the words;
this one, built from the same espeak-ng voices, sessions and split rule, gives arousal to the pauses:

* each utterance draws a latent arousal ``a`` around its level (``low`` 2.5, ``mid`` 4.0, ``high`` 5.5, sd 0.6);
* the number of SSML breaks between words is Poisson with mean ``1.3 - 0.7 (a - 4)`` (clipped to [0.05, 3.5]):
  low arousal speaks with several 450-900 ms pauses, high arousal almost none. Breaks sit at random word gaps, so a
  pause-aware text model sees ``[SIL]`` tokens where an ASR with word timings finds the gaps;
* speed and loudness follow arousal only weakly (``+4`` wpm and ``+3`` amplitude per arousal point, against
  speaker offsets and N(0, 15) noise), so the sound's other cues are weaker than the pauses;
* the words carry **no** arousal: sentences are the main demo's frames with a valence word (positive, negative or
  none) drawn independently of arousal, so BERT over plain ASR text has nothing to find about arousal, while BERT
  with ``[SIL]`` (or a silence-ratio feature) can count the pauses;
* labels: ``arousal`` = ``a`` + N(0, 0.3) rater noise on the 1..7 scale, ``valence`` from the words, ``dominance``
  = arousal's neighbour (``4 + 0.5 (a - 4)`` + noise), and ``label`` the arousal level (``low`` / ``mid`` /
  ``high``).

Same outputs as the main demo (``wav/``, ``manifest.csv``, ``demo.jsonl`` with corpus ``demo_pauses``,
``design.jsonl``, ``demo_config.json``) and the same reuse rule (same parameters: the corpus is reused). Build it
with ``emofuse corpus demo --pauses DIR`` or :func:`make_pause_demo_corpus`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from emofuse.audio import SAMPLE_RATE_HZ
from emofuse.corpus.demo import (
    DEMO_COLUMNS,
    FRAMES,
    PLAIN_FRAMES,
    SHARED_WORDS,
    SPEAKERS,
    TOPICS,
    build_spoken_corpus,
    session_of,
    speak_planned,
)
from emofuse.errors import CorpusError

PAUSE_DEMO_VERSION = 1
LEVELS: dict[str, float] = {"low": 2.5, "mid": 4.0, "high": 5.5}  # latent arousal centre per level
AROUSAL_SD = 0.6
RATER_NOISE_SD = 0.3
PAUSE_RATE = (1.3, -0.7)  # Poisson mean of breaks = PAUSE_RATE[0] + PAUSE_RATE[1] * (a - 4), clipped
PAUSE_MS = (450, 900)  # break length, uniform [low, high)
SPEED_PER_POINT_WPM = 4.0
AMPLITUDE_PER_POINT = 3.0
VALENCE_CUES: dict[str, float] = {"positive": 1.5, "negative": -1.5, "none": 0.0}


@dataclass(frozen=True)
class PauseDemoConfig:
    """The parameters a pause demo corpus is built from (stored beside it; a change rebuilds it)."""

    n_speakers: int
    utterances_per_speaker_per_level: int
    seed: int
    sample_rate_hz: int
    version: int = PAUSE_DEMO_VERSION
    kind: str = "demo_pauses"


def _sentence(rng: np.random.Generator) -> tuple[str, str]:
    """(sentence, valence cue) with no arousal in the words."""
    cue = str(rng.choice(list(VALENCE_CUES)))
    topic = str(rng.choice(TOPICS))
    if cue == "none":
        return str(rng.choice(PLAIN_FRAMES)).format(t=topic), cue
    words = SHARED_WORDS["happy" if cue == "positive" else "sad"]
    return str(rng.choice(FRAMES)).format(t=topic, w=str(rng.choice(words))), cue


def _pauses(n_gaps: int, arousal: float, rng: np.random.Generator) -> dict[int, int]:
    """``{gap index (after word i): break ms}``: fewer and no longer pauses as arousal rises."""
    mean = float(np.clip(PAUSE_RATE[0] + PAUSE_RATE[1] * (arousal - 4.0), 0.05, 3.5))
    count = int(min(n_gaps, rng.poisson(mean)))
    gaps = sorted(int(g) for g in rng.choice(n_gaps, size=count, replace=False)) if count else []
    return {g: int(rng.integers(*PAUSE_MS)) for g in gaps}


def pause_ssml(sentence: str, pauses: dict[int, int]) -> str:
    """SSML with a ``<break>`` after word ``i`` for each ``i`` in ``pauses`` (gap ``i`` = between word i and i+1)."""
    out: list[str] = []
    for i, word in enumerate(sentence.split()):
        out.append(word)
        if i in pauses:
            out.append(f'<break time="{pauses[i]}ms"/>')
    return f"<speak>{' '.join(out)}</speak>"


def plan_pause_demo(
    n_speakers: int = 6, utterances_per_speaker_per_level: int = 8, seed: int = 0
) -> list[dict[str, object]]:
    """The utterances (text, voice, pauses, prosody, labels) of a pause demo corpus; deterministic for ``seed``."""
    if not 1 <= n_speakers <= len(SPEAKERS):
        raise CorpusError(
            f"n_speakers must be between 1 and {len(SPEAKERS)} (distinct espeak-ng voices), got {n_speakers}"
        )
    if utterances_per_speaker_per_level < 1:
        raise CorpusError(
            f"utterances_per_speaker_per_level must be >= 1, got {utterances_per_speaker_per_level}"
        )
    plan: list[dict[str, object]] = []
    for s_index, (speaker, voice, gender, speed_off, pitch_off) in enumerate(SPEAKERS[:n_speakers]):
        for l_index, (level, centre) in enumerate(LEVELS.items()):
            for k in range(utterances_per_speaker_per_level):
                rng = np.random.default_rng([seed, 777, s_index, l_index, k])
                latent = float(np.clip(rng.normal(centre, AROUSAL_SD), 1.0, 7.0))
                sentence, cue = _sentence(rng)
                pauses = _pauses(len(sentence.split()) - 1, latent, rng)
                speed = 150 + speed_off + SPEED_PER_POINT_WPM * (latent - 4.0) + rng.normal(0.0, 15.0)
                amplitude = 100 + AMPLITUDE_PER_POINT * (latent - 4.0) + rng.normal(0.0, 15.0)
                noise = rng.normal(0.0, RATER_NOISE_SD, size=3)
                plan.append(
                    {
                        "utterance_id": f"pdemo_{speaker}_{level}_{k:02d}",
                        "speaker": speaker,
                        "voice": voice,
                        "gender": gender,
                        "label": level,
                        "transcript": sentence,
                        "valence_cue": cue,
                        "session": session_of(s_index),
                        "latent_arousal": round(latent, 3),
                        "pauses_ms": {str(g): ms for g, ms in pauses.items()},
                        "pause_total_ms": int(sum(pauses.values())),
                        "speed_wpm": int(np.clip(round(speed), 90, 240)),
                        "pitch": int(np.clip(50 + pitch_off, 5, 95)),
                        "amplitude": int(np.clip(round(amplitude), 40, 200)),
                        "arousal": round(float(np.clip(latent + noise[0], 1.0, 7.0)), 2),
                        "valence": round(float(np.clip(4.0 + VALENCE_CUES[cue] + noise[1], 1.0, 7.0)), 2),
                        "dominance": round(
                            float(np.clip(4.0 + 0.5 * (latent - 4.0) + noise[2], 1.0, 7.0)), 2
                        ),
                    }
                )
    return plan


def make_pause_demo_corpus(
    out_dir: str | os.PathLike[str],
    n_speakers: int = 6,
    utterances_per_speaker_per_level: int = 8,
    seed: int = 0,
    *,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    progress: bool = True,
) -> Path:
    """Build (or reuse) the pause demo corpus in ``out_dir``; returns the path of its table (``demo.jsonl``).

    Resumable: WAVs already written are kept; a finished corpus with the same parameters is returned as is.

    Raises:
        CorpusError: bad parameters, or ``out_dir`` holds another kind of corpus. EmofuseError: no espeak-ng.
    """
    config = PauseDemoConfig(n_speakers, utterances_per_speaker_per_level, seed, sample_rate_hz)
    return build_spoken_corpus(
        Path(out_dir),
        asdict(config),
        lambda: plan_pause_demo(n_speakers, utterances_per_speaker_per_level, seed),
        lambda item, wav_path: _speak(item, wav_path, sample_rate_hz),
        columns=PAUSE_DEMO_COLUMNS,
        n_speakers=n_speakers,
        corpus="demo_pauses",
        progress=progress,
    )


#: Columns of a planned utterance that go into the pause demo's table (beside ``audio_path`` and ``split``).
PAUSE_DEMO_COLUMNS = tuple(c for c in DEMO_COLUMNS if c != "script")  # its sentences have no script


def _speak(item: dict[str, object], wav_path: Path, sample_rate_hz: int) -> None:
    """Speak one planned utterance, its breaks as SSML."""
    pauses = {int(g): int(ms) for g, ms in item["pauses_ms"].items()}  # type: ignore[attr-defined]
    speak_planned(item, pause_ssml(str(item["transcript"]), pauses), wav_path, sample_rate_hz)
