"""Benchmark of the transcription backends: real-time factor (cold and warm) and peak memory on 2 CPU cores.

Speech: espeak-ng reading a paragraph with SSML pauses, tiled to at least ``--seconds`` (default 65 s).
Each backend runs in a fresh subprocess pinned to 2 cores:
- cold: imports + model load + the first transcription of the whole clip, from a fresh process;
- warm: a second transcription of the same clip in the same process (model loaded, caches warm);
- peak memory: the subprocess's maximum resident set size.
Backends: faster-whisper (offline Whisper tiny.en, int8), transformers (a tiny RANDOM Whisper, 2+2 layers, width 32:
it measures the pipeline's overhead, not a real model's speed), and pocketsphinx forced alignment of the known text.
The long-audio check runs faster-whisper over ``--long-minutes`` (default 10) of speech and reports its peak memory.

    .venv/bin/python benchmarks/bench_transcribe.py            # writes benchmarks/results/transcribe.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PARAGRAPH = (
    "it was a long day at work <break time='800ms'/> but the evening was calm and quiet. "
    "my brother called me yesterday <break time='1200ms'/> he sounded happy. "
    "please open the window <break time='600ms'/> it is very warm in this room. "
    "we should take the train tomorrow morning <break time='1000ms'/> because the roads will be busy. "
    "i do not know what to say <break time='1500ms'/> maybe we can talk about it later. "
    "the children played in the garden until the sun went down."
)
RESULTS = Path(__file__).resolve().parent / "results" / "transcribe.json"


def _pin(threads: int) -> None:
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, cpus[:threads])
    except (AttributeError, OSError):
        pass


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the parent's peak across fork+exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB -> MiB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _wer(reference: list[str], hypothesis: list[str]) -> float:
    """Word error rate (substitutions + deletions + insertions over reference words): emofuse's own (jiwer)."""
    from emofuse.transcribe.wer import word_error_rate

    return word_error_rate([" ".join(reference)], [" ".join(hypothesis)]).wer


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def worker(backend: str, wav: Path, text: str, model_dir: str | None, threads: int, repeats: int) -> dict:
    """Run in a fresh process: cold (imports + load + first run) and warm timings of one backend."""
    t_start = time.perf_counter()
    import numpy as np

    from emofuse.audio import load_audio
    from emofuse.transcribe import build_transcriber

    wave = load_audio(wav)
    if repeats > 1:
        wave = np.tile(wave, repeats)
        text = " ".join([text] * repeats)
    duration_s = len(wave) / 16_000
    rss_before_mb = _peak_rss_mb()
    if backend == "faster-whisper":
        transcriber = build_transcriber("faster-whisper", cpu_threads=threads)
    elif backend == "transformers":
        import torch

        torch.set_num_threads(threads)
        transcriber = build_transcriber("transformers", model=model_dir, max_new_tokens=48)
    else:
        transcriber = build_transcriber("align")
    given = text if transcriber.needs_text else None
    t0 = time.perf_counter()
    first = transcriber.transcribe(wave, 16_000, text=given)
    cold_s = time.perf_counter() - t_start
    first_call_s = time.perf_counter() - t0
    result = {
        "backend": backend,
        "backend_id": transcriber.backend_id,
        "audio_s": round(duration_s, 2),
        "cold_s": round(cold_s, 3),
        "cold_rtf": round(cold_s / duration_s, 4),
        "first_call_s": round(first_call_s, 3),
        "words": len(first.words),
    }
    if repeats == 1:
        t0 = time.perf_counter()
        transcriber.transcribe(wave, 16_000, text=given)
        warm_s = time.perf_counter() - t0
        result.update({"warm_s": round(warm_s, 3), "warm_rtf": round(warm_s / duration_s, 4)})
    result["peak_rss_mb"] = round(_peak_rss_mb(), 1)  # before the WER import (torchmetrics pulls in torch)
    if backend == "faster-whisper":
        result["wer"] = round(_wer(_words(text), _words(first.text)), 4)
    result["rss_before_transcribe_mb"] = round(rss_before_mb, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=65.0, help="minimum length of the speech clip")
    parser.add_argument("--long-minutes", type=float, default=10.0, help="long-audio check length (0 = skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--wav", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--text", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _pin(args.threads)
    if args.worker:
        print(
            json.dumps(worker(args.worker, args.wav, args.text, args.model_dir, args.threads, args.repeats))
        )
        return

    import importlib.util

    import numpy as np

    from emofuse.audio import load_audio, write_wav
    from emofuse.synth import speak

    # a test helper (not part of the library): tests/transcribe/tiny_whisper.py
    helper_path = Path(__file__).resolve().parents[1] / "tests" / "transcribe" / "tiny_whisper.py"
    spec = importlib.util.spec_from_file_location("tiny_whisper", helper_path)
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)  # type: ignore[union-attr]
    save_tiny_random_whisper = helper.save_tiny_random_whisper

    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_transcribe_") as tmp:
        root = Path(tmp)
        piece = load_audio(speak(PARAGRAPH, root / "paragraph.wav", ssml=True))
        repeats = int(np.ceil(args.seconds / (len(piece) / 16_000)))
        clip = root / "clip.wav"
        write_wav(clip, np.tile(piece, repeats), 16_000)
        text = " ".join(" ".join(re.sub(r"<[^>]+>", " ", PARAGRAPH).split()) for _ in range(repeats))
        model_dir = save_tiny_random_whisper(root / "tiny_random_whisper")

        one_text = " ".join(re.sub(r"<[^>]+>", " ", PARAGRAPH).split())

        def run(backend: str, wav: Path, reps: int = 1) -> dict:
            spoken = text if reps == 1 else one_text  # the worker repeats the text with the audio
            cmd = [sys.executable, __file__, "--worker", backend, "--wav", str(wav), "--text", spoken]
            cmd += ["--model-dir", str(model_dir), "--threads", str(args.threads), "--repeats", str(reps)]
            t0 = time.perf_counter()
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            out = json.loads(done.stdout.strip().splitlines()[-1])
            out["process_wall_s"] = round(time.perf_counter() - t0, 3)  # includes interpreter start-up
            print(json.dumps(out), flush=True)
            return out

        backends = {name: run(name, clip) for name in ("faster-whisper", "transformers", "align")}
        long_result = None
        if args.long_minutes > 0:
            long_reps = int(np.ceil(args.long_minutes * 60 / (len(piece) / 16_000)))
            long_result = run("faster-whisper", root / "paragraph.wav", reps=long_reps)
    results = {
        "machine": {
            "cpus_used": args.threads,
            "cpus_total": os.cpu_count(),
            "loadavg_start": [round(x, 2) for x in load_start],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "note": "shared development machine: other developers ran tests at the same time, so timings are noisy",
        },
        "speech": {
            "source": "espeak-ng en-us 150 wpm with SSML pauses",
            "clip_s": backends["align"]["audio_s"],
        },
        "backends": backends,
        "transformers_model": (
            "tiny RANDOM Whisper (2+2 layers, d_model 32) that never emits end-of-text, so it decodes"
            " max_new_tokens=48 per 30 s window: pipeline overhead only, not a real model's speed or accuracy"
        ),
        "long_audio_faster_whisper": long_result,
    }
    from emofuse.io import atomic_write_json

    atomic_write_json(args.out, results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
