"""Per-frame phone ids from pocketsphinx forced alignment (makiuchi2021's phone input) on real espeak-ng speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emofuse.audio import load_audio
from emofuse.encoders.phones import (
    PHONE_IDS,
    PHONES,
    SILENCE_ID,
    PhoneSpan,
    align_phones,
    frame_phone_ids,
    phone_id,
)
from emofuse.synth import espeak_available, speak

TEXT = "the quick brown fox jumps over the lazy dog"
# CMU dictionary pronunciations, stress dropped, word by word
EXPECTED = [
    ["DH", "AH"], ["K", "W", "IH", "K"], ["B", "R", "AW", "N"], ["F", "AA", "K", "S"], ["JH", "AH", "M", "P", "S"],
    ["OW", "V", "ER"], ["DH", "AH"], ["L", "EY", "Z", "IY"], ["D", "AO", "G"],
]  # fmt: skip
FRAME_S = 0.02


@pytest.fixture(scope="module")
def fox(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, Path]:
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    path = speak(TEXT, tmp_path_factory.mktemp("phones") / "fox.wav")
    return load_audio(path), path


def _runs(ids: np.ndarray) -> list[tuple[int, int]]:
    """``[(id, first frame)]`` of the runs of equal ids, silence left out."""
    out = []
    for i, v in enumerate(ids.tolist()):
        if i == 0 or v != ids[i - 1]:
            out.append((int(v), i))
    return [(v, i) for v, i in out if v != SILENCE_ID]


def test_phone_set_is_silence_arpabet_unknown() -> None:
    assert PHONES[0] == "SIL" and PHONES[-1] == "UNK" and len(PHONES) == 41 < 128
    assert phone_id("AH0") == phone_id("AH") == PHONE_IDS["AH"]
    assert phone_id("SIL") == SILENCE_ID and phone_id("+NSN+") == PHONE_IDS["UNK"]


def test_frames_take_the_longest_phone() -> None:
    spans = [
        PhoneSpan("K", "w", 0.0, 0.025),
        PhoneSpan("AE", "w", 0.025, 0.07),
        PhoneSpan("T", "w", 0.07, 0.08),
    ]
    ids = frame_phone_ids(spans, 5, 50.0)
    # frame 1 [0.02, 0.04): K 5 ms, AE 15 ms -> AE; frame 3 [0.06, 0.08): AE 10 ms, T 10 ms -> the first (AE)
    assert ids.tolist() == [PHONE_IDS["K"], PHONE_IDS["AE"], PHONE_IDS["AE"], PHONE_IDS["AE"], SILENCE_ID]


def test_phones_of_real_speech_in_order_and_aligned_with_word_times(fox: tuple[np.ndarray, Path]) -> None:
    from emofuse.encoders import build_encoder
    from emofuse.transcribe import build_transcriber

    wave, _ = fox
    spans = align_phones(wave, 16_000, TEXT)
    assert [phone_id(s.phone) for s in spans if phone_id(s.phone) != SILENCE_ID] == [
        PHONE_IDS[p] for word in EXPECTED for p in word
    ]
    encoder = build_encoder("phones")
    ids = encoder.encode((wave, TEXT), 16_000)
    assert ids.shape == (int(np.ceil(len(wave) / 16_000 / FRAME_S)), 1) and ids.dtype == np.float32
    runs = _runs(ids[:, 0].astype(np.int64))
    flat = [PHONE_IDS[p] for word in EXPECTED for p in word]
    assert [v for v, _ in runs] == flat  # every phone keeps at least one 20 ms frame, in the spoken order
    # each word's first phone starts within 30 ms of pocketsphinx's word start (and the last word ends so)
    words = build_transcriber("align").transcribe(wave, 16_000, text=TEXT).words
    assert [w.text for w in words] == TEXT.split()
    first_run = 0
    for word, phones in zip(words, EXPECTED, strict=True):
        start_s = runs[first_run][1] * FRAME_S
        assert abs(start_s - word.start_s) <= 0.03, (word.text, start_s, word.start_s)
        first_run += len(phones)
    last_voiced = int(np.nonzero(ids[:, 0] != SILENCE_ID)[0][-1])
    assert abs((last_voiced + 1) * FRAME_S - words[-1].end_s) <= 0.03


def test_silent_audio_without_words_is_all_silence() -> None:
    from emofuse.encoders import build_encoder

    ids = build_encoder("phones").encode((np.zeros(16_000, np.float32), ""), 16_000)
    assert ids.shape == (50, 1) and not ids.any()
