"""Long recordings run in bounded memory (a 2-minute version; the 10-minute check is in the benchmark)."""

from __future__ import annotations

import threading
import time

import numpy as np
import psutil
import pytest

from emofuse.audio import write_wav
from emofuse.corpus.table import make_table
from emofuse.transcribe import SilenceConfig, TextSource, transcribe_table

pytestmark = pytest.mark.slow


class PeakRss:
    """Samples this process's resident memory every 20 ms; ``growth_mb`` is the peak above the start."""

    def __enter__(self) -> PeakRss:
        self.proc = psutil.Process()
        self.base = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 1e6


def test_two_minutes_align_and_vad_in_bounded_memory(aligner, planted, tmp_path) -> None:  # noqa: ANN001
    repeats = int(np.ceil(120 / (len(planted.wave) / 16_000)))
    long_wave = np.tile(planted.wave, repeats)  # >= 2 minutes of real speech with 3 planted pauses per repeat
    path = tmp_path / "long.wav"
    write_wav(path, long_wave, 16_000)
    table = make_table(
        [{"utterance_id": "long", "audio_path": str(path), "transcript": " ".join([planted.text] * repeats)}]
    )
    aligner.transcribe(planted.wave[:16_000], 16_000, text=planted.phrases[0].split()[0])  # warm the decoder
    with PeakRss() as rss:
        frame = transcribe_table(
            table,
            aligner,
            tmp_path / "out.jsonl",
            progress=False,
            cache=False,
            text_source=TextSource(backend="align", silence=SilenceConfig(vad=True)),
        )
    row = frame.iloc[0]
    assert len(row["words"]) == len(planted.text.split()) * repeats
    # 3 planted pauses per repeat, plus at most one where one repeat's end meets the next one's start
    assert 3 * repeats <= row["text_with_sil"].count("[SIL]") <= 4 * repeats
    assert row["duration_s"] >= 120
    # the audio itself is 2 min x 16 kHz x 4 B = 7.7 MB; alignment search and VAD must not scale far beyond it
    assert rss.growth_mb < 400, f"peak RSS grew by {rss.growth_mb:.0f} MB"
