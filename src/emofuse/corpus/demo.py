"""The demo corpus: real espeak-ng speech in which both the words and the sound carry the emotion, each only in part.

Built offline from :func:`emofuse.synth.speak` (no download), deterministic for a seed, small enough for the
quickstart (192 utterances of about 2-3 s with the defaults).

Design (why fusion has something to fuse):

* **Sound** carries mostly *arousal*. Each class draws espeak-ng speed (``-s``), pitch (``-p``), amplitude (``-a``) and
  pitch range (SSML ``<prosody range=...>``) from overlapping distributions: angry and happy are both fast and loud
  (angry louder, happy higher and wider in pitch, with overlap), sad and neutral both slow and quiet (sad slower,
  quieter, flatter and with pauses more often, with overlap). From audio alone angry<->happy and sad<->neutral are
  confusable.
* **Words** carry mostly *valence*. A sentence holds a class-specific word (e.g. "furious" for angry), or a word that
  two classes share crossing the other way (angry and sad share negative words such as "terrible"; happy and neutral
  share words such as "fine"), or no emotion word at all (a fraction of neutral-worded sentences in every class).
  From text alone angry<->sad and happy<->neutral are confusable, and neutral-worded sentences are ambiguous.

So the audio resolves what the text confuses and vice versa. Speakers are distinct espeak-ng voices and variants, so
that speaker-independent folds are possible.

What every paper's protocol needs (so that every shipped recipe runs on it, ``emofuse run RECIPE --demo``):

* **Sessions**: speakers are paired as IEMOCAP's are (``Session1`` = spk01 + spk02, ...), so leave-one-session-out
  and pepino2020's speaker+script folds run.
* **Scripted and improvised dialogues**: an utterance is scripted when ``(speaker index + k) % 2 == 1`` (about half
  of them); its script is ``script0<1 + k % 3>_1`` and its sentence is the script's line for that class, drawn once
  per (script, class) and spoken by every speaker who reads that script (as IEMOCAP's actors share their scripts'
  lines). Improvised utterances keep their own sentence. The kind of text cue of a script line is drawn as for any
  sentence, so the words carry the class exactly as in improvised speech.
* **A predefined split** (``split``: train / dev / test, by session, so by speaker): the last session tests, the one
  before it is dev (with three sessions or more), the others train (one session: its first speaker trains and
  its second tests).
* **Arousal, valence and dominance** on MSP-Podcast's 1..7 scale, computed from what the utterance really carries:
  arousal from the speed and loudness drawn for its prosody, valence from its words (class word, shared word or
  none, with the sign of the class's valence) and a little from the pitch range, dominance from loudness and a low
  pitch; each with N(0, 0.3) rater noise drawn after the prosody (so the audio and text are unchanged).

Outputs in ``out_dir``: ``wav/<utterance_id>.wav`` (16 kHz mono), ``manifest.csv`` (the plain-manifest format:
utterance_id, audio_path (relative to the manifest), speaker, gender, transcript, label), ``demo.jsonl`` (the emofuse
utterance table, corpus "demo", absolute paths), ``design.jsonl`` (per utterance: the prosody drawn and which kind of
text cue the sentence holds) and ``demo_config.json`` (the parameters; a rerun with the same parameters reuses the
corpus, a run with other parameters rebuilds it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from emofuse.audio import SAMPLE_RATE_HZ
from emofuse.corpus.table import COLUMNS, make_table, read_table, write_table
from emofuse.errors import CorpusError
from emofuse.hashing import config_hash
from emofuse.io import atomic_write_json, atomic_write_text, read_json
from emofuse.synth import espeak_available, speak

DEMO_VERSION = 2  # 2: sessions, shared script lines, a predefined split and A/V/D labels
LABELS: tuple[str, ...] = ("angry", "happy", "neutral", "sad")
TABLE_NAME = "demo.jsonl"
MANIFEST_NAME = "manifest.csv"
DESIGN_NAME = "design.jsonl"
CONFIG_NAME = "demo_config.json"

# (speaker id, espeak-ng voice+variant, gender, speed offset in wpm, pitch offset in espeak units)
SPEAKERS: tuple[tuple[str, str, str, int, int], ...] = (
    ("spk01", "en-us+m3", "M", 0, 0),
    ("spk02", "en-us+f2", "F", 8, 4),
    ("spk03", "en-gb+m4", "M", -8, -4),
    ("spk04", "en-gb+f3", "F", 0, -6),
    ("spk05", "en-gb-x-rp+f4", "F", -6, 6),
    ("spk06", "en-gb-scotland+m2", "M", 6, 2),
    ("spk07", "en-029+f5", "F", -4, 0),
    ("spk08", "en-us-nyc+m1", "M", 4, -2),
    ("spk09", "en-gb-x-gbclan+m5", "M", 2, 4),
    ("spk10", "en-us+f4", "F", -2, -4),
)


@dataclass(frozen=True)
class Prosody:
    """Mean and standard deviation of each espeak-ng control for one class."""

    speed_wpm: tuple[float, float]
    pitch: tuple[float, float]
    amplitude: tuple[float, float]
    range_probs: tuple[float, float, float]  # P(range="low"), P("medium"), P("x-high")
    pause_prob: float  # P(an 500-900 ms SSML break inside the sentence)


# Arousal is clear (angry/happy vs neutral/sad); within each arousal pair the cues overlap.
PROSODY: dict[str, Prosody] = {
    "angry": Prosody((182, 18), (42, 12), (150, 22), (0.2, 0.6, 0.2), 0.05),
    "happy": Prosody((172, 18), (60, 12), (130, 22), (0.1, 0.4, 0.5), 0.05),
    "neutral": Prosody((145, 14), (46, 10), (95, 15), (0.35, 0.5, 0.15), 0.15),
    "sad": Prosody((128, 14), (38, 10), (80, 15), (0.55, 0.4, 0.05), 0.4),
}
RANGES: tuple[str, ...] = ("low", "medium", "x-high")

# Class-specific words, and words shared by two classes (crossing the arousal pairs of the sound).
SPECIFIC_WORDS: dict[str, tuple[str, ...]] = {
    "angry": ("furious", "outrageous", "infuriating", "unacceptable", "disgraceful", "maddening"),
    "sad": ("heartbreaking", "lonely", "miserable", "hopeless", "depressing", "gloomy"),
    "happy": ("wonderful", "fantastic", "delightful", "brilliant", "amazing", "lovely"),
    "neutral": ("scheduled", "routine", "standard", "average", "ordinary", "typical"),
}
SHARED_WORDS: dict[str, tuple[str, ...]] = {
    "angry": ("terrible", "awful", "horrible", "bad", "unfair", "wrong"),
    "sad": ("terrible", "awful", "horrible", "bad", "unfair", "wrong"),
    "happy": ("fine", "good", "nice", "okay", "pleasant", "decent"),
    "neutral": ("fine", "good", "nice", "okay", "pleasant", "decent"),
}
TOPICS: tuple[str, ...] = (
    "meeting",
    "weekend",
    "letter",
    "trip",
    "dinner",
    "phone call",
    "news",
    "result",
    "interview",
    "journey",
    "visit",
    "report",
)
# Sentence frames with an emotion word; {t} topic, {w} word.
FRAMES: tuple[str, ...] = (
    "I think the {t} was {w}",
    "honestly the {t} was {w} today",
    "the whole {t} felt {w} to me",
    "well that {t} was really {w}",
    "you know the {t} was {w} again",
    "they told me the {t} was {w}",
)
# Neutral-worded sentences: no emotion word at all (every class gets a share of these).
PLAIN_FRAMES: tuple[str, ...] = (
    "the {t} is on tuesday at ten",
    "we talked about the {t} this morning",
    "I will send you the {t} later",
    "the {t} starts after lunch",
    "she mentioned the {t} yesterday",
    "the {t} was at the office",
)
# How often a sentence holds each kind of text cue (same for every class).
CUE_PROBS: dict[str, float] = {"specific": 0.50, "shared": 0.30, "plain": 0.20}
N_SCRIPTS = 3
# Valence carried by the words: (class word, shared word) per class, in MSP-Podcast points around the middle (4).
VALENCE_WORDS: dict[str, tuple[float, float]] = {
    "angry": (-2.0, -1.0),
    "sad": (-2.0, -1.0),
    "happy": (2.0, 1.0),
    "neutral": (0.0, 1.0),
}
# Prosody scale for the A/V/D formulas: (mean, sd) over the four classes' distributions.
SPEED_SCALE = (157.0, 28.0)
AMPLITUDE_SCALE = (114.0, 35.0)
PITCH_SCALE = (46.0, 13.0)
RANGE_VALENCE: dict[str, float] = {"low": -0.3, "medium": 0.0, "x-high": 0.3}
RATER_NOISE_SD = 0.3


@dataclass(frozen=True)
class DemoConfig:
    """The parameters a demo corpus is built from (stored beside it; a change rebuilds it)."""

    n_speakers: int
    utterances_per_speaker_per_class: int
    seed: int
    sample_rate_hz: int
    version: int = DEMO_VERSION


def _draw_text(label: str, rng: np.random.Generator) -> tuple[str, str, str | None]:
    """Returns (sentence, cue kind, cue word)."""
    kinds = list(CUE_PROBS)
    kind = str(rng.choice(kinds, p=[CUE_PROBS[k] for k in kinds]))
    topic = str(rng.choice(TOPICS))
    if kind == "plain":
        return str(rng.choice(PLAIN_FRAMES)).format(t=topic), kind, None
    words = SPECIFIC_WORDS[label] if kind == "specific" else SHARED_WORDS[label]
    word = str(rng.choice(words))
    return str(rng.choice(FRAMES)).format(t=topic, w=word), kind, word


def script_of(speaker_index: int, k: int) -> str | None:
    """The script an utterance reads (``script0<n>_1``), or None when it is improvised."""
    if (speaker_index + k) % 2 == 0:
        return None
    return f"script{1 + k % N_SCRIPTS:02d}_1"


def _script_line(script: str, label: str, seed: int) -> tuple[str, str, str | None]:
    """The line of ``script`` for class ``label``: the same for every speaker who reads it."""
    family = int(script.removeprefix("script").split("_")[0])
    return _draw_text(label, np.random.default_rng([seed, 10_000 + family, LABELS.index(label)]))


def session_of(speaker_index: int) -> str:
    """Speakers are paired into sessions as IEMOCAP's: 0, 1 -> Session1; 2, 3 -> Session2; ..."""
    return f"Session{speaker_index // 2 + 1}"


def split_of(speaker_index: int, n_speakers: int) -> str:
    """train / dev / test by session: the last session tests, the one before is dev (from three sessions)."""
    n_sessions = (n_speakers + 1) // 2
    session = speaker_index // 2
    if n_sessions == 1:
        return "train" if speaker_index == 0 else "test"
    if session == n_sessions - 1:
        return "test"
    if n_sessions >= 3 and session == n_sessions - 2:
        return "dev"
    return "train"


def avd_of(label: str, cue: str, prosody: dict[str, object], rng: np.random.Generator) -> dict[str, float]:
    """Arousal / valence / dominance (1..7) from what the utterance carries (see the module docstring)."""

    def z(value: object, scale: tuple[float, float]) -> float:
        return (float(value) - scale[0]) / scale[1]  # type: ignore[arg-type]

    speed, loud = z(prosody["speed_wpm"], SPEED_SCALE), z(prosody["amplitude"], AMPLITUDE_SCALE)
    pitch = z(prosody["pitch"], PITCH_SCALE)
    words = {"specific": VALENCE_WORDS[label][0], "shared": VALENCE_WORDS[label][1], "plain": 0.0}[cue]
    noise = rng.normal(0.0, RATER_NOISE_SD, size=3)
    values = (
        4.0 + 0.9 * speed + 0.9 * loud + noise[0],
        4.0 + words + RANGE_VALENCE[str(prosody["pitch_range"])] + noise[1],
        4.0 + 1.0 * loud - 0.4 * pitch + noise[2],
    )
    return {
        name: round(float(np.clip(v, 1.0, 7.0)), 2)
        for name, v in zip(("arousal", "valence", "dominance"), values, strict=True)
    }


def _draw_prosody(
    label: str, speed_offset: int, pitch_offset: int, rng: np.random.Generator
) -> dict[str, object]:
    spec = PROSODY[label]
    speed = int(np.clip(round(rng.normal(*spec.speed_wpm)) + speed_offset, 90, 240))
    pitch = int(np.clip(round(rng.normal(*spec.pitch)) + pitch_offset, 5, 95))
    amplitude = int(np.clip(round(rng.normal(*spec.amplitude)), 40, 200))
    pitch_range = str(rng.choice(RANGES, p=list(spec.range_probs)))
    pause_ms = int(rng.integers(500, 900)) if rng.random() < spec.pause_prob else 0
    return {
        "speed_wpm": speed,
        "pitch": pitch,
        "amplitude": amplitude,
        "pitch_range": pitch_range,
        "pause_ms": pause_ms,
    }


def _ssml(sentence: str, pitch_range: str, pause_ms: int) -> str:
    words = sentence.split()
    if pause_ms and len(words) >= 4:
        cut = len(words) // 2
        words = [*words[:cut], f'<break time="{pause_ms}ms"/>', *words[cut:]]
    return f'<speak><prosody range="{pitch_range}">{" ".join(words)}</prosody></speak>'


def plan_demo_corpus(
    n_speakers: int = 8, utterances_per_speaker_per_class: int = 6, seed: int = 0
) -> list[dict[str, object]]:
    """The utterances of a demo corpus (text, voice, prosody, label), without synthesising anything.

    Deterministic for ``seed``; each utterance draws from its own stream (seed, speaker, class, index), so an
    utterance id names the same sentence and prosody in a smaller and in a larger corpus with the same seed
    (its ``split``, which depends on the number of speakers, is added by :func:`make_demo_corpus`).
    """
    if not 1 <= n_speakers <= len(SPEAKERS):
        raise CorpusError(
            f"n_speakers must be between 1 and {len(SPEAKERS)} (distinct espeak-ng voices), got {n_speakers}"
        )
    if utterances_per_speaker_per_class < 1:
        raise CorpusError(
            f"utterances_per_speaker_per_class must be >= 1, got {utterances_per_speaker_per_class}"
        )
    plan: list[dict[str, object]] = []
    for s_index, (speaker, voice, gender, speed_off, pitch_off) in enumerate(SPEAKERS[:n_speakers]):
        for l_index, label in enumerate(LABELS):
            for k in range(utterances_per_speaker_per_class):
                rng = np.random.default_rng([seed, s_index, l_index, k])
                sentence, cue, cue_word = _draw_text(label, rng)
                prosody = _draw_prosody(label, speed_off, pitch_off, rng)
                script = script_of(s_index, k)
                if script is not None:
                    sentence, cue, cue_word = _script_line(script, label, seed)
                plan.append(
                    {
                        "utterance_id": f"demo_{speaker}_{label}_{k:02d}",
                        "speaker": speaker,
                        "voice": voice,
                        "gender": gender,
                        "label": label,
                        "transcript": sentence,
                        "text_cue": cue,
                        "cue_word": cue_word,
                        "session": session_of(s_index),
                        "script": script,
                        **prosody,
                        **avd_of(label, cue, prosody, rng),
                    }
                )
    return plan


def speak_planned(item: dict[str, object], ssml: str, wav_path: Path, sample_rate_hz: int) -> None:
    """Speak ``ssml`` into ``wav_path`` with a planned utterance's voice, speed, pitch and amplitude
    (:func:`emofuse.synth.speak` writes atomically); both demo corpora synthesise through it."""
    speak(
        ssml,
        wav_path,
        voice=str(item["voice"]),
        speed_wpm=int(item["speed_wpm"]),  # type: ignore[call-overload]
        pitch=int(item["pitch"]),  # type: ignore[call-overload]
        amplitude=int(item["amplitude"]),  # type: ignore[call-overload]
        ssml=True,
        sample_rate_hz=sample_rate_hz,
    )


def _synthesise(item: dict[str, object], wav_path: Path, sample_rate_hz: int) -> None:
    """Speak one planned utterance into ``wav_path``, its pitch range and pause as SSML."""
    ssml = _ssml(str(item["transcript"]), str(item["pitch_range"]), int(item["pause_ms"]))  # type: ignore[call-overload]
    speak_planned(item, ssml, wav_path, sample_rate_hz)


def make_demo_corpus(
    out_dir: str | os.PathLike[str],
    n_speakers: int = 8,
    utterances_per_speaker_per_class: int = 6,
    seed: int = 0,
    *,
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    progress: bool = True,
) -> Path:
    """Build (or reuse) the demo corpus in ``out_dir`` and return the path of its utterance table (``demo.jsonl``).

    Resumable: WAVs already written are kept, and a finished corpus with the same parameters is returned as is.

    Raises:
        CorpusError: bad parameters, or ``out_dir`` holds another kind of demo corpus. EmofuseError: espeak-ng is
            not installed.
    """
    config = DemoConfig(n_speakers, utterances_per_speaker_per_class, seed, sample_rate_hz)
    return build_spoken_corpus(
        Path(out_dir),
        asdict(config),
        lambda: plan_demo_corpus(n_speakers, utterances_per_speaker_per_class, seed),
        lambda item, wav_path: _synthesise(item, wav_path, sample_rate_hz),
        columns=DEMO_COLUMNS,
        n_speakers=n_speakers,
        corpus="demo",
        progress=progress,
    )


#: Columns of a planned utterance that go into the demo corpus's table (beside ``audio_path`` and ``split``).
DEMO_COLUMNS = tuple(c for c in COLUMNS if c not in ("audio_path", "start_s", "end_s", "split", "corpus"))


def build_spoken_corpus(
    out: Path,
    config: dict[str, object],
    plan: Callable[[], list[dict[str, object]]],
    speak_item: Callable[[dict[str, object], Path], None],
    *,
    columns: Sequence[str],
    n_speakers: int,
    corpus: str,
    progress: bool,
) -> Path:
    """Build (or reuse) a corpus of planned espeak-ng utterances in ``out``: the steps every demo corpus shares.

    ``config`` (the builder's parameters) is stored beside the corpus with its hash; a finished corpus with the
    same config and all its WAVs is returned as is; other parameters remove the stale files first (never reuse a
    WAV under the same id); a config of another ``kind`` (the ``kind`` key) is refused. Missing WAVs are spoken
    by ``speak_item(item, wav_path)`` with a progress bar; then the table (``columns`` of each planned item,
    ``audio_path``, ``split`` from the speaker's index), ``manifest.csv`` and ``design.jsonl`` are written.

    Returns: the table's path (``demo.jsonl``).
    """
    table_path, config_path = out / TABLE_NAME, out / CONFIG_NAME
    wanted = {**config, "hash": config_hash(config)}
    stored = read_json(config_path) if config_path.is_file() else None
    if stored is not None and stored.get("kind") != wanted.get("kind"):
        raise CorpusError(
            f"{out} holds another demo corpus ({config_path}, kind {stored.get('kind') or 'demo'!r}); build "
            "each demo corpus in its own directory"
        )
    same = stored is not None and {k: v for k, v in stored.items() if k != "complete"} == wanted
    finished = same and stored.get("complete") and table_path.is_file()
    if finished and all(os.path.isfile(p) for p in read_table(table_path)["audio_path"]):
        return table_path
    items = plan()
    if not espeak_available():
        from emofuse.errors import EmofuseError

        raise EmofuseError("the demo corpus needs espeak-ng; install it with `apt-get install espeak-ng`")
    out.mkdir(parents=True, exist_ok=True)
    if stored is not None and not same:  # other parameters: stale WAVs must not be reused under the same ids
        for stale in (out / "wav").glob("*.wav"):
            stale.unlink()
        for name in (TABLE_NAME, MANIFEST_NAME, DESIGN_NAME, CONFIG_NAME):
            (out / name).unlink(missing_ok=True)
    atomic_write_json(config_path, {**wanted, "complete": False})
    wav_dir = out / "wav"
    todo = [item for item in items if not (wav_dir / f"{item['utterance_id']}.wav").is_file()]
    if todo:
        from rich.progress import Progress

        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task(
                f"{corpus} corpus: speaking", total=len(items), completed=len(items) - len(todo)
            )
            for item in todo:
                speak_item(item, wav_dir / f"{item['utterance_id']}.wav")
                bar.advance(task)
    _write_corpus_files(out, items, columns, n_speakers, corpus)
    atomic_write_json(config_path, {**wanted, "complete": True})
    return table_path


def _write_corpus_files(
    out: Path, plan: list[dict[str, object]], columns: Sequence[str], n_speakers: int, corpus: str
) -> None:
    """The utterance table, ``manifest.csv`` (relative paths) and ``design.jsonl`` (the whole plan)."""
    speaker_index = {s[0]: i for i, s in enumerate(SPEAKERS)}
    records = [
        {
            **{k: item[k] for k in columns},
            "audio_path": str((out / "wav" / f"{item['utterance_id']}.wav").resolve()),
            "split": split_of(speaker_index[str(item["speaker"])], n_speakers),
        }
        for item in plan
    ]
    table = make_table(records, corpus=corpus)
    manifest = pd.DataFrame(
        {
            "utterance_id": table["utterance_id"],
            "audio_path": [f"wav/{u}.wav" for u in table["utterance_id"]],
            "speaker": table["speaker"],
            "gender": table["gender"],
            "transcript": table["transcript"],
            "label": table["label"],
        }
    )
    atomic_write_text(out / MANIFEST_NAME, manifest.to_csv(index=False))
    atomic_write_text(out / DESIGN_NAME, "".join(json.dumps(item) + "\n" for item in plan))
    write_table(table, out / TABLE_NAME)


def read_design(out_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The per-utterance design (voice, prosody drawn, text cue kind) of a demo corpus built in ``out_dir``."""
    path = Path(out_dir) / DESIGN_NAME
    if not path.is_file():
        raise CorpusError(
            f"{path} not found; build the demo corpus with make_demo_corpus({str(out_dir)!r}) first"
        )
    with open(path, encoding="utf-8") as handle:
        return pd.DataFrame([json.loads(line) for line in handle if line.strip()])
