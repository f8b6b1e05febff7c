"""Emotions over time on a long recording: ``emofuse predict FILE --segments`` on ``--minutes`` (default 60) of
speech, wall time, real-time factor, the process's CPU time (a fairer figure on a shared machine) and its
peak memory; written to ``benchmarks/results/segments.json``.

The recording is the demo corpus's clips in a shuffled order with pauses of 0.3-2.0 s between them, written
block by block (never held whole), until it is ``--minutes`` long. The model is a quickstart package
(``--quickstart DIR``; made with ``emofuse quickstart --fast`` into a temporary directory when not given).
Peak memory is the maximum resident set size of the ``predict`` process (``getrusage`` of the child); a whole
hour of 16 kHz float32 audio alone would take 230 MB.

    .venv/bin/python benchmarks/bench_segments.py [--quickstart emofuse-quickstart] [--minutes 60]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "segments.json"
EMOFUSE = [sys.executable, "-c", "from emofuse.cli.main import console_main; console_main()"]


def make_recording(clips: list[Path], minutes: float, path: Path, seed: int = 0) -> float:
    """Write clips in random order with random pauses to ``path`` (16 kHz mono WAV) until ``minutes`` long."""
    import soundfile as sf

    from emofuse.audio import load_audio

    rng = np.random.default_rng(seed)
    waves = [load_audio(p) for p in clips]
    target = int(minutes * 60 * 16_000)
    written = 0
    with sf.SoundFile(str(path), "w", samplerate=16_000, channels=1, subtype="PCM_16") as out:
        while written < target:
            for k in rng.permutation(len(waves)):
                pause = np.zeros(int(rng.uniform(0.3, 2.0) * 16_000), dtype=np.float32)
                piece = np.concatenate([waves[k], pause])[: target - written]
                out.write(piece)
                written += piece.size
                if written >= target:
                    break
    return written / 16_000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quickstart", type=Path, help="a finished quickstart directory")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emofuse-bench-segments-"))
    qs = args.quickstart
    if qs is None:
        qs = work / "quickstart"
        subprocess.run([*EMOFUSE, "quickstart", "--fast", "--out", str(qs), "--no-progress"], check=True)
    clips = sorted((qs / "corpus" / "wav").glob("*.wav"))
    recording = work / "long.wav"
    audio_s = make_recording(clips, args.minutes, recording)
    print(f"{audio_s / 60:.1f} min recording: {recording}", flush=True)
    seg_csv, seg_png = work / "segments.csv", work / "timeline.png"
    load = [round(v, 2) for v in os.getloadavg()]
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [*EMOFUSE, "predict", str(recording), "--model", str(qs / "model"), "--segments",
         "--out", str(seg_csv), "--plot", str(seg_png)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall_s = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"predict --segments failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mb = after.ru_maxrss / 1024  # Linux: KiB
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime  # the predict process
    rows = list(csv.DictReader(seg_csv.open()))
    speech_s = sum(float(r["end_s"]) - float(r["start_s"]) for r in rows)
    result = {
        "audio_s": round(audio_s, 1),
        "segments": len(rows),
        "segment_speech_s": round(speech_s, 1),
        "clips_in_recording": "demo corpus, shuffled, 0.3-2.0 s pauses",
        "wall_s": round(wall_s, 1),
        "rtf": round(wall_s / audio_s, 4),
        "cpu_s": round(cpu_s, 1),
        "cpu_per_audio_s": round(cpu_s / audio_s, 4),
        "peak_rss_mb": round(peak_mb, 1),
        "load_avg_before": load,
        "load_avg_after": [round(v, 2) for v in os.getloadavg()],
        "timeline_png_bytes": seg_png.stat().st_size if seg_png.exists() else 0,
        "cpus": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
