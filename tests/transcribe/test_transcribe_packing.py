"""Whisper on many short clips: packed into shared windows, words mapped back to their clip, deterministic."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from emofuse.audio import load_audio
from emofuse.synth import espeak_available, speak

PHRASES = (
    "it was a long day at work",
    "but the evening was calm and quiet",
    "my brother called me yesterday",
    "he sounded happy",
)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    root = tmp_path_factory.mktemp("pack")
    return [speak(p, root / f"clip{i}.wav") for i, p in enumerate(PHRASES)]


def test_packed_clips_get_their_own_words_inside_their_own_span(whisper, clips, norm, wer) -> None:  # noqa: ANN001
    waves = [load_audio(p) for p in clips]
    decoded: list[float] = []
    decode = whisper._decode

    def counting(audio: np.ndarray, offset_s: float, duration_s: float):  # noqa: ANN202
        decoded.append(duration_s)
        return decode(audio, offset_s, duration_s)

    whisper._decode = counting
    try:
        packed = whisper.transcribe_many(waves, 16_000)
    finally:
        del whisper._decode
    assert len(decoded) == 1, "four short clips should share one 30 s window"
    assert len(packed) == len(PHRASES)
    for transcript, wave, phrase in zip(packed, waves, PHRASES, strict=True):
        duration_s = wave.size / 16_000
        assert transcript.duration_s == pytest.approx(duration_s)
        assert wer(norm(phrase), norm(transcript.text)) <= 0.2, (phrase, transcript.text)
        assert all(0 <= w.start_s <= w.end_s <= duration_s for w in transcript.words)
        # the first word starts where this clip's speech starts, not where its neighbour's would
        first_loud = np.flatnonzero(np.abs(wave) > 0.02)[0] / 16_000
        assert abs(transcript.words[0].start_s - first_loud) < 0.5


def test_a_clip_alone_is_decoded_like_a_packed_one(whisper, clips, norm, wer) -> None:  # noqa: ANN001
    wave = load_audio(clips[2])
    alone = whisper.transcribe(wave, 16_000)
    assert wer(norm(PHRASES[2]), norm(alone.text)) <= 0.2, alone.text
    assert whisper.transcribe(wave, 16_000) == alone  # greedy/beam at temperature 0: the same every call


def test_another_process_transcribes_the_same_words(whisper, clips) -> None:  # noqa: ANN001
    """Temperature 0 with no sampling fallback: a fresh process gets identical words and times."""
    here = [
        [(w.text, w.start_s, w.end_s) for w in t.words]
        for t in whisper.transcribe_many([load_audio(p) for p in clips], 16_000)
    ]
    code = (
        "import json, sys\n"
        "from emofuse.audio import load_audio\n"
        "from emofuse.transcribe import build_transcriber\n"
        "t = build_transcriber('faster-whisper', cpu_threads=2)\n"
        "out = t.transcribe_many([load_audio(p) for p in sys.argv[1:]], 16000)\n"
        "print(json.dumps([[(w.text, w.start_s, w.end_s) for w in x.words] for x in out]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, clips)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    there = json.loads(done.stdout.strip().splitlines()[-1])
    assert there == [[list(w) for w in clip] for clip in here]


def test_a_long_recording_is_cut_into_speech_chunks_and_times_come_back(whisper, clips, norm, wer) -> None:  # noqa: ANN001
    """Four phrases twice with 3 s pauses and 6 s of leading silence (about 40 s): too long to pack as one clip,
    so it is cut at the pauses by silero-vad; words and times come back on the whole recording's clock."""
    waves = [load_audio(p) for p in clips]
    pause = np.zeros(3 * 16_000, np.float32)
    pieces, starts_s, position = [np.zeros(6 * 16_000, np.float32)], [], 6 * 16_000
    for wave in waves + waves:
        starts_s.append(position / 16_000 + np.flatnonzero(np.abs(wave) > 0.02)[0] / 16_000)
        pieces += [wave, pause]
        position += wave.size + pause.size
    recording = np.concatenate(pieces)
    assert recording.size / 16_000 > whisper.pack_s
    decoded: list[float] = []
    decode = whisper._decode

    def counting(audio: np.ndarray, offset_s: float, duration_s: float):  # noqa: ANN202
        decoded.append(duration_s)
        return decode(audio, offset_s, duration_s)

    whisper._decode = counting
    try:
        result = whisper.transcribe(recording, 16_000)
    finally:
        del whisper._decode
    expected = norm(" ".join(PHRASES + PHRASES))
    assert wer(expected, norm(result.text)) <= 0.15, result.text
    assert len(decoded) <= 3 and sum(decoded) < recording.size / 16_000  # silence is not decoded
    # each phrase's first word starts where that phrase starts in the recording
    firsts = [p.split()[0] for p in PHRASES + PHRASES]
    words = list(result.words)
    for first, start_s in zip(firsts, starts_s, strict=True):
        near = [w for w in words if abs(w.start_s - start_s) < 0.6]
        assert any(norm(w.text) == [first] for w in near), (
            first,
            start_s,
            [(w.text, w.start_s) for w in near],
        )


def test_a_long_recording_runs_silero_vad_once_not_again_per_chunk(whisper, clips, monkeypatch) -> None:  # noqa: ANN001
    """The chunks of a long recording reuse the frames of the pass that cut it to refine their word times."""
    import emofuse.transcribe.vad as vad

    waves = [load_audio(p) for p in clips]
    pause = np.zeros(2 * 16_000, np.float32)
    recording = np.concatenate([x for w in waves + waves for x in (w, pause)])
    assert recording.size / 16_000 > whisper.pack_s
    passes: list[int] = []
    many = vad.speech_probabilities_many

    def counting(waves_: list[np.ndarray], sample_rate_hz: int) -> list[np.ndarray]:
        passes.append(len(waves_))
        return many(waves_, sample_rate_hz)

    monkeypatch.setattr(vad, "speech_probabilities_many", counting)
    result = whisper.transcribe(recording, 16_000)
    assert passes == [1] and result.words  # the one block's pass; none per chunk
    assert all(0 <= w.start_s < w.end_s <= recording.size / 16_000 for w in result.words)


def test_two_decode_workers_give_the_words_of_one(clips) -> None:  # noqa: ANN001
    """Windows decoded at once by two CTranslate2 workers: each window is still decoded alone, so the words and
    times are those of one worker (small windows force several)."""
    from emofuse.transcribe import build_transcriber

    waves = [load_audio(p) for p in clips] * 2
    one = build_transcriber("faster-whisper", cpu_threads=1, pack_s=8.0, chunk_s=5.0)
    two = build_transcriber("faster-whisper", cpu_threads=1, pack_s=8.0, chunk_s=5.0, decode_workers=2)
    assert one.backend_id == two.backend_id
    windows: list[str] = []
    decode = two._decode

    def counting(audio: np.ndarray, offset_s: float, duration_s: float):  # noqa: ANN202
        windows.append(threading.current_thread().name)
        return decode(audio, offset_s, duration_s)

    two._decode = counting
    assert two.transcribe_many(waves, 16_000) == one.transcribe_many(waves, 16_000)
    assert len(windows) >= 3 and all(name.startswith("emofuse-whisper") for name in windows)
