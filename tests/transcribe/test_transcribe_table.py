"""transcribe_table over an utterance table: formats, bad files, the cache and resuming after a kill."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from emofuse.audio import audio_info, load_audio, write_wav
from emofuse.corpus.table import make_table
from emofuse.errors import AudioError, TranscriptionError
from emofuse.transcribe import (
    TRANSCRIPT_COLUMNS,
    SilenceConfig,
    TextSource,
    TranscriptCache,
    read_transcripts,
    text_source_of,
    transcribe_table,
)
from emofuse.transcribe.types import Transcript


def ALIGN_AT(threshold_s: float) -> TextSource:  # noqa: N802 - reads like the constant below
    return TextSource(backend="align", silence=SilenceConfig(threshold_s=threshold_s))


ALIGN = ALIGN_AT(0.25)


class Counting:
    """Wraps a real transcriber, counts calls and can stop (like a kill) on a given call."""

    def __init__(self, inner, stop_on_call: int | None = None) -> None:  # noqa: ANN001
        self.inner, self.calls, self.stop_on_call = inner, 0, stop_on_call
        self.backend_id, self.needs_text = inner.backend_id, inner.needs_text

    def transcribe(self, wave: np.ndarray, sample_rate_hz: int, text: str | None = None) -> Transcript:
        self.calls += 1
        if self.stop_on_call is not None and self.calls == self.stop_on_call:
            raise KeyboardInterrupt
        return self.inner.transcribe(wave, sample_rate_hz, text=text)


@pytest.fixture(scope="module")
def phrase_files(planted, tmp_path_factory) -> tuple[list[Path], list[str]]:  # noqa: ANN001
    """One 16 kHz WAV per phrase of the planted clip (cut at the middle of each pause) and its words."""
    root = tmp_path_factory.mktemp("phrases")
    cuts = [0] + [int((s + e) / 2 * 16_000) for s, e in planted.pauses_s] + [len(planted.wave)]
    paths = []
    for i, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False)):
        paths.append(root / f"p{i}.wav")
        write_wav(paths[-1], planted.wave[a:b], 16_000)
    return paths, list(planted.phrases)


def _table(paths: list[Path], texts: list[str]):  # noqa: ANN202
    return make_table(
        [
            {"utterance_id": f"u{i}", "audio_path": str(p), "transcript": t}
            for i, (p, t) in enumerate(zip(paths, texts, strict=True))
        ]
    )


def test_formats_rates_channels_and_depths_are_read(aligner, phrase_files, tmp_path) -> None:  # noqa: ANN001
    src, texts = phrase_files
    variants = {
        "rate8k.wav": ["-r", "8000"],
        "stereo.wav": ["-c", "2"],
        "depth24.wav": ["-b", "24"],
        "flac.flac": [],
        "ogg.ogg": [],
        "mp3.mp3": [],
        "all.flac": ["-r", "8000", "-c", "2", "-b", "24"],
    }
    paths = []
    for name, args in variants.items():
        paths.append(tmp_path / name)
        subprocess.run(["sox", str(src[2]), *args, str(paths[-1])], check=True, capture_output=True)
    assert (
        audio_info(tmp_path / "all.flac").channels == 2
        and audio_info(tmp_path / "all.flac").sample_rate_hz == 8000
    )
    frame = transcribe_table(
        _table(paths, [texts[2]] * len(paths)),
        aligner,
        tmp_path / "out.jsonl",
        progress=False,
        text_source=ALIGN,
        cache=False,
    )
    reference_s = len(load_audio(src[2])) / 16_000
    assert len(frame) == len(variants)
    for path, row in zip(paths, frame.itertuples(index=False), strict=True):
        assert [w["text"] for w in row.words] == texts[2].split(), row.utterance_id
        assert row.duration_s == pytest.approx(reference_s, abs=0.15)  # mp3 adds an encoder delay of ~0.1 s
        onset_s, offset_s = _sound_span_s(load_audio(path))
        assert abs(row.words[0]["start_s"] - onset_s) <= 0.15, row.utterance_id
        assert abs(row.words[-1]["end_s"] - offset_s) <= 0.15, row.utterance_id


def _sound_span_s(wave: np.ndarray) -> tuple[float, float]:
    """Where the sound of a 16 kHz clip starts and ends (10 ms frames with RMS above 1e-3)."""
    loud = np.flatnonzero(
        np.sqrt(np.mean(wave[: len(wave) // 160 * 160].reshape(-1, 160) ** 2, axis=1)) > 1e-3
    )
    return loud[0] / 100, (loud[-1] + 1) / 100


def test_corrupt_file_is_named(aligner, phrase_files, tmp_path) -> None:  # noqa: ANN001
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    paths, texts = phrase_files
    table = _table([paths[0], bad], texts[:2])
    out = tmp_path / "out.jsonl"
    with pytest.raises(AudioError, match=r"u1 .*broken\.wav"):
        transcribe_table(table, aligner, out, progress=False, text_source=ALIGN, cache=False)
    assert not out.exists()  # only whole files: the finished row waits in a part file
    assert [p.name for p in (tmp_path / "out.jsonl.parts").iterdir()] == ["part-000000.jsonl"]
    frame = transcribe_table(
        table, aligner, out, progress=False, text_source=ALIGN, cache=False, skip_errors=True
    )
    assert frame["utterance_id"].tolist() == ["u0"]
    assert "broken.wav" in frame.attrs["errors"][0]


def test_missing_transcript_for_alignment_is_named(aligner, phrase_files, tmp_path) -> None:  # noqa: ANN001
    paths, texts = phrase_files
    with pytest.raises(TranscriptionError, match="u1"):
        transcribe_table(
            _table(paths[:2], [texts[0], None]),
            aligner,
            tmp_path / "o.jsonl",
            progress=False,
            text_source=ALIGN,
        )


def test_killed_run_resumes_without_redoing_work(aligner, phrase_files, tmp_path) -> None:  # noqa: ANN001
    paths, texts = phrase_files
    table = _table(paths, texts)
    out = tmp_path / "transcripts.jsonl"
    first = Counting(aligner, stop_on_call=3)
    with pytest.raises(KeyboardInterrupt):
        transcribe_table(table, first, out, progress=False, text_source=ALIGN, cache=False, flush_every=1)
    assert not out.exists()
    leftovers = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert leftovers == ["part-000000.jsonl", "part-000001.jsonl"]  # whole part files, no temporary files

    second = Counting(aligner)
    frame = transcribe_table(
        table, second, out, progress=False, text_source=ALIGN, cache=False, flush_every=1
    )
    assert second.calls == len(paths) - 2
    assert frame["utterance_id"].tolist() == [f"u{i}" for i in range(len(paths))]
    assert not (tmp_path / "transcripts.jsonl.parts").exists()
    again = read_transcripts(out)
    assert list(again.columns) == list(TRANSCRIPT_COLUMNS)
    assert again["text"].tolist() == texts
    assert isinstance(again.loc[0, "words"], list) and set(again.loc[0, "words"][0]) == {
        "text",
        "start_s",
        "end_s",
        "confidence",
    }
    assert text_source_of(again) == ALIGN  # the full settings, read back typed
    assert set(again["backend"]) == {aligner.backend_id}
    # a finished table is not redone; other silence settings are (from the cache when there is one)
    third = Counting(aligner)
    transcribe_table(table, third, out, progress=False, text_source=ALIGN, cache=False)
    assert third.calls == 0
    transcribe_table(table, third, out, progress=False, text_source=ALIGN_AT(0.5), cache=False)
    assert third.calls == len(paths)
    assert text_source_of(read_transcripts(out)).silence.threshold_s == 0.5


def test_text_source_of_refuses_old_and_mixed_tables(tmp_path) -> None:  # noqa: ANN001
    old = tmp_path / "old.jsonl"
    old.write_text(
        json.dumps({"utterance_id": "a", "text": "hi", "words": [], "settings": "0123456789ab"}) + "\n"
    )
    with pytest.raises(TranscriptionError, match="utterance a records no text source.*emofuse transcribe"):
        text_source_of(read_transcripts(old), str(old))
    mixed = tmp_path / "mixed.jsonl"
    rows = [
        {"utterance_id": u, "text": "hi", "words": [], "text_source": ALIGN_AT(t).model_dump(mode="json")}
        for u, t in (("a", 0.25), ("b", 0.5))
    ]
    mixed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(TranscriptionError, match="mixes text sources.*a and b"):
        text_source_of(read_transcripts(mixed), str(mixed))


def test_interrupt_keeps_the_unflushed_batch(aligner, phrase_files, tmp_path) -> None:  # noqa: ANN001
    paths, texts = phrase_files
    out = tmp_path / "t.jsonl"
    with pytest.raises(KeyboardInterrupt):
        transcribe_table(
            _table(paths, texts),
            Counting(aligner, stop_on_call=4),
            out,
            progress=False,
            text_source=ALIGN,
            cache=False,
        )
    (part,) = (tmp_path / "t.jsonl.parts").iterdir()
    assert [json.loads(line)["utterance_id"] for line in part.read_text().splitlines()] == ["u0", "u1", "u2"]


def test_cache_is_keyed_by_audio_content_and_backend(aligner, phrase_files, tmp_path) -> None:  # noqa: ANN001
    paths, texts = phrase_files
    copy = tmp_path / "renamed_copy.wav"
    copy.write_bytes(paths[0].read_bytes())
    cache = TranscriptCache(tmp_path / "cache")
    first = Counting(aligner)
    transcribe_table(
        _table(paths[:2], texts[:2]),
        first,
        tmp_path / "a.csv",
        progress=False,
        text_source=ALIGN,
        cache=cache,
    )
    assert first.calls == 2 and len(cache) == 2
    second = Counting(aligner)
    frame = transcribe_table(
        _table([copy], texts[:1]), second, tmp_path / "b.csv", progress=False, text_source=ALIGN, cache=cache
    )
    assert second.calls == 0  # same content under another name: served from the cache
    assert frame.loc[0, "text"] == texts[0]
    assert read_transcripts(tmp_path / "a.csv").loc[1, "words"][0]["text"] == texts[1].split()[0]
    from emofuse.transcribe import build_transcriber

    other = Counting(build_transcriber("align", oov="skip"))
    transcribe_table(
        _table([copy], texts[:1]), other, tmp_path / "c.csv", progress=False, text_source=ALIGN, cache=cache
    )
    assert other.calls == 1  # another backend configuration is transcribed afresh


def test_read_transcripts_names_bad_files(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(TranscriptionError, match="not found"):
        read_transcripts(tmp_path / "none.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"utterance_id": "a"}\n{not json\n')
    with pytest.raises(TranscriptionError, match="line 2"):
        read_transcripts(bad)


def test_truncated_file_is_reported_and_with_skip_errors_listed(aligner, phrase_files, tmp_path) -> None:  # noqa: ANN001
    paths, texts = phrase_files
    cut = tmp_path / "cut.wav"
    data = paths[1].read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # the header still promises the whole phrase
    table = _table([paths[0], cut], texts[:2])
    out = tmp_path / "out.jsonl"
    with pytest.raises(AudioError, match=r"u1 .*cut\.wav.*truncated"):
        transcribe_table(table, aligner, out, progress=False, text_source=ALIGN, cache=False)
    frame = transcribe_table(
        table, aligner, out, progress=False, text_source=ALIGN, cache=False, skip_errors=True
    )
    assert frame["utterance_id"].tolist() == ["u0"]
    assert "cut.wav" in frame.attrs["errors"][0] and "truncated" in frame.attrs["errors"][0]
