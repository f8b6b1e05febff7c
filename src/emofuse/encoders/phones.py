"""Per-frame phone ids from forced alignment of the transcript with pocketsphinx (makiuchi2021's phone input).

makiuchi2021 aligns each utterance's transcript with the Gentle aligner (Kaldi) and gives every frame the id of
its longest phone, with ids for silence, not-identified phones and special tokens: 128 ids in all. Gentle needs
a Kaldi install; emofuse aligns offline with pocketsphinx (CMU en-us acoustic model and dictionary, the same
aligner as ``emofuse transcribe --align``) and keeps the paper's per-frame rule.

Phone set (:data:`PHONES`, ids in this order): ``0`` silence and padding (pocketsphinx ``SIL``, and frames no
phone covers), ``1..39`` the 39 ARPAbet phones of the CMU dictionary without stress marks (Gentle's Kaldi
phones are the same ARPAbet phones with word-position suffixes, ``ah_B`` / ``ah_I`` / ``ah_E`` / ``ah_S``,
which emofuse folds into one id), ``40`` a not-identified phone (pocketsphinx noise phones such as ``+NSN+``).
The model keeps the paper's one-hot size (``n_phones: 128``); ids 41..127 stay unused. Words missing from the
dictionary are skipped (their frames get the id of whatever the aligner put there, usually silence).

Output: ``[T, 1]`` float32 phone ids at ``frame_rate_hz`` (50 Hz = 20 ms, wav2vec2's frame rate), ``T =
ceil(duration_s * frame_rate_hz)``. Frame ``i`` covers ``[i / rate, (i + 1) / rate)`` and takes the phone
that overlaps it longest (makiuchi2021: "determining the longest phone for each frame").
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from emofuse.encoders.base import Encoder, EncoderConfig
from emofuse.errors import ModelLoadError, TranscriptionError

#: ids: 0 silence/padding, 1..39 ARPAbet, 40 not identified
PHONES: tuple[str, ...] = (
    "SIL",
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH", "IY",
    "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y",
    "Z", "ZH",
    "UNK",
)  # fmt: skip
PHONE_IDS: dict[str, int] = {p: i for i, p in enumerate(PHONES)}
SILENCE_ID = 0
UNKNOWN_ID = PHONE_IDS["UNK"]
POCKETSPHINX_FRAME_S = 0.01


def phone_id(name: str) -> int:
    """The id of a pocketsphinx phone name (stress digits dropped; ``SIL`` -> 0; anything else unknown -> 40)."""
    base = name.strip().upper().rstrip("012")
    return PHONE_IDS.get(base, UNKNOWN_ID)


@dataclass(frozen=True)
class PhoneSpan:
    """One aligned phone: ARPAbet name, its word, start and end in seconds."""

    phone: str
    word: str
    start_s: float
    end_s: float


@functools.lru_cache(maxsize=2)
def _decoder(dictionary: str | None) -> Any:
    """A pocketsphinx decoder of its own (phone alignment changes the decoder's search; the word aligner of
    ``emofuse.transcribe.align`` keeps its own)."""
    from pocketsphinx import Decoder

    from emofuse.transcribe.align import ALIGN_SEARCH
    from emofuse.transcribe.base import MODEL_SAMPLE_RATE_HZ

    kwargs: dict[str, Any] = {"samprate": MODEL_SAMPLE_RATE_HZ, "loglevel": "FATAL", **ALIGN_SEARCH}
    if dictionary is not None:
        kwargs["dict"] = dictionary
    try:
        return Decoder(**kwargs)
    except Exception as exc:
        raise ModelLoadError(f"cannot start pocketsphinx: {exc}") from exc


def align_phones(
    wave: np.ndarray, sample_rate_hz: int, text: str, dictionary: str | None = None
) -> list[PhoneSpan]:
    """Force-align ``text`` to ``wave`` ``[N]`` and return every phone (silences included) in time order.

    When pocketsphinx cannot finish the phone pass, the phones come from the word alignment (or the whole
    utterance) shared evenly (see :func:`_fallback_spans`).

    Raises:
        TranscriptionError: silent audio with words to align.
    """
    from emofuse.transcribe.align import tokenize
    from emofuse.transcribe.base import MODEL_SAMPLE_RATE_HZ, prepare_wave

    audio = prepare_wave(wave, sample_rate_hz)
    decoder = _decoder(dictionary)
    words = [norm for _, norm in tokenize(str(text)) if decoder.lookup_word(norm) is not None]
    duration_s = audio.size / MODEL_SAMPLE_RATE_HZ
    if not words or audio.size == 0:
        return [PhoneSpan("SIL", "<sil>", 0.0, duration_s)] if duration_s > 0 else []
    if float(np.max(np.abs(audio))) == 0.0:
        raise TranscriptionError(f"cannot align {len(words)} word(s) to silent audio ({duration_s:.2f} s)")
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()
    segments: list[Any] = []
    try:
        decoder.set_align_text(" ".join(words))
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        segments = list(decoder.seg() or [])
        decoder.set_alignment()  # the phone/state alignment pass over the same audio
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        return [
            PhoneSpan(
                phone.name,
                word.name,
                phone.start * POCKETSPHINX_FRAME_S,
                (phone.start + phone.duration) * POCKETSPHINX_FRAME_S,
            )
            for word in decoder.get_alignment()
            for phone in word
        ]
    except Exception:
        _decoder.cache_clear()  # a failed search may leave the decoder unusable: start afresh
    return _fallback_spans(decoder, words, segments, duration_s)


def _pronunciation(decoder: Any, word: str) -> list[str]:
    pron = decoder.lookup_word(word) if word else None
    return str(pron).split() if pron else []


def _fallback_spans(
    decoder: Any, words: list[str], segments: list[Any], duration_s: float
) -> list[PhoneSpan]:
    """When pocketsphinx's phone pass fails (about 1 espeak-ng utterance in 40): each aligned word's dictionary
    phones share its time span evenly; without a word alignment, the transcript's phones share the whole
    utterance evenly (a crude alignment rather than none, so that one utterance never stops a corpus)."""
    from emofuse.transcribe.align import _ALT_PRON

    timed = [
        (
            _ALT_PRON.sub("", s.word),
            s.start_frame * POCKETSPHINX_FRAME_S,
            (s.end_frame + 1) * POCKETSPHINX_FRAME_S,
        )
        for s in segments
    ]
    if not any(w not in ("<s>", "</s>", "<sil>") for w, _, _ in timed):
        timed = [(" ".join(words), 0.0, duration_s)]
    spans = []
    for word, start_s, end_s in timed:
        if word in ("<s>", "</s>", "<sil>") or word.startswith("["):
            spans.append(PhoneSpan("SIL", word, start_s, end_s))
            continue
        phones = [p for w in word.split() for p in _pronunciation(decoder, w)]
        step = (end_s - start_s) / max(len(phones), 1)
        spans.extend(
            PhoneSpan(p, word, start_s + i * step, start_s + (i + 1) * step) for i, p in enumerate(phones)
        )
    return spans


def frame_phone_ids(spans: list[PhoneSpan], n_frames: int, frame_rate_hz: float) -> np.ndarray:
    """``[n_frames]`` int64: per frame the id of the phone overlapping it longest (silence where none does)."""
    ids = np.full(n_frames, SILENCE_ID, dtype=np.int64)
    best = np.zeros(n_frames, dtype=np.float64)
    hop_s = 1.0 / frame_rate_hz
    for span in spans:
        first = max(int(math.floor(span.start_s / hop_s)), 0)
        last = min(int(math.ceil(span.end_s / hop_s)), n_frames)
        for i in range(first, last):
            overlap = min(span.end_s, (i + 1) * hop_s) - max(span.start_s, i * hop_s)
            if overlap > best[i]:
                best[i] = overlap
                ids[i] = phone_id(span.phone)
    return ids


class PhonesConfig(EncoderConfig):
    """Config of :class:`PhoneEncoder`: frame rate of the ids (wav2vec2's 50 Hz) and an optional CMU-format
    pronunciation dictionary (for a corpus's rare words)."""

    kind: Literal["phones"] = "phones"
    frame_rate_hz: float = 50.0
    dictionary: str | None = None


class PhoneEncoder(Encoder):
    """``(waveform [N], transcript)`` -> phone ids ``[T, 1]`` float32 (see the module docstring)."""

    modality: ClassVar[Literal["audio_text"]] = "audio_text"  # type: ignore[assignment]
    output = "frames"

    def __init__(self, config: PhonesConfig) -> None:
        super().__init__(config)
        self.config: PhonesConfig = config

    @property
    def dim(self) -> int:
        return 1

    def encode(self, item: Any, sample_rate_hz: int = 16000) -> np.ndarray:
        """``item``: ``(waveform [N] at sample_rate_hz, transcript)``."""
        if not isinstance(item, tuple) or len(item) != 2:
            raise TranscriptionError("the phones encoder reads (waveform, transcript) pairs")
        wave, text = item
        wave = self._at_own_rate(wave, sample_rate_hz)
        return self._encode((wave, str(text)))

    def _encode(self, item: Any) -> np.ndarray:
        wave, text = item
        spans = align_phones(wave, self.sample_rate_hz, text, self.config.dictionary)
        duration_s = len(wave) / self.sample_rate_hz
        n_frames = max(int(math.ceil(duration_s * self.config.frame_rate_hz)), 1)
        ids = frame_phone_ids(spans, n_frames, self.config.frame_rate_hz)
        return ids.astype(np.float32)[:, None]


__all__ = [
    "PHONES",
    "PHONE_IDS",
    "PhoneEncoder",
    "PhoneSpan",
    "PhonesConfig",
    "align_phones",
    "frame_phone_ids",
    "phone_id",
]
