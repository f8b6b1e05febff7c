"""Corpus transcription speed: the demo corpus through Whisper tiny.en, clips packed into shared windows vs one
window per clip (Whisper pads every input to 30 s), and packed windows decoded two at once (``decode_workers``
2), round after round in one process (``--variants`` to choose), wall time and this process's CPU time
(CTranslate2's threads included); written to ``benchmarks/results/corpus_transcribe.json``.

Real-time factor = transcription wall time / seconds of audio, over ``transcribe_table`` exactly as the
quickstart runs it (VAD-refined word times and ``[SIL]`` annotation included; no transcript cache). The word-hit
rate (share of each sentence's words found in its transcript, averaged) shows that packing does not cost words.

    .venv/bin/python benchmarks/bench_corpus_transcribe.py [--speakers 8] [--per-class 6] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "corpus_transcribe.json"


def _hits(reference: str, hypothesis: str) -> float:
    ref = reference.lower().split()
    hyp = set(re.sub(r"[^a-z0-9' ]+", " ", hypothesis.lower()).split())
    return sum(w in hyp for w in ref) / max(1, len(ref))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--speakers", type=int, default=8)
    parser.add_argument("--per-class", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2, help="A/B rounds (packed, then one window per clip)")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument(
        "--variants",
        default="packed,packed_2_workers,one_per_window",
        help="comma-separated: packed, packed_2_workers, one_per_window",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from emofuse.corpus.demo import make_demo_corpus
    from emofuse.corpus.table import duration_s, read_table
    from emofuse.transcribe import transcribe_table
    from emofuse.transcribe.source import TextSource

    work = Path(tempfile.mkdtemp(prefix="emofuse-bench-transcribe-"))
    table = read_table(
        make_demo_corpus(
            work / "corpus",
            n_speakers=args.speakers,
            utterances_per_speaker_per_class=args.per_class,
            progress=False,
        )
    )
    audio_s = float(duration_s(table).sum())
    sources = {
        "packed": TextSource(beam_size=args.beam_size),
        "one_per_window": TextSource(beam_size=args.beam_size, options={"pack_s": 0}),
        # two windows at once, one CTranslate2 worker and thread each (the same words as "packed")
        "packed_2_workers": TextSource(beam_size=args.beam_size, options={"decode_workers": 2}),
    }
    chosen = args.variants.split(",")
    variants = {name: source.build() for name, source in sources.items() if name in chosen}
    from emofuse.audio import load_audio

    first = load_audio(table["audio_path"].iloc[0])
    for t in variants.values():  # load the model (shared) and silero-vad before timing
        t.transcribe(first, 16_000)
    rounds: list[dict[str, object]] = []
    for r in range(args.rounds):
        for name, transcriber in variants.items():
            out = work / f"{name}_{r}.jsonl"
            load = [round(v, 2) for v in os.getloadavg()]
            start, cpu = time.perf_counter(), time.process_time()
            frame = transcribe_table(
                table, transcriber, out, progress=False, cache=False, text_source=sources[name]
            )
            wall_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu
            merged = table.merge(frame, on="utterance_id")
            hit = sum(_hits(a, b) for a, b in zip(merged["transcript"], merged["text"], strict=True)) / len(
                merged
            )
            rounds.append(
                {"variant": name, "round": r, "wall_s": round(wall_s, 2), "rtf": round(wall_s / audio_s, 4),
                 "cpu_s": round(cpu_s, 2), "cpu_per_audio_s": round(cpu_s / audio_s, 4),
                 "word_hit_rate": round(hit, 4), "load_avg_before": load}
            )  # fmt: skip
            print(rounds[-1], flush=True)

    def median(name: str, key: str) -> float:
        values = sorted(float(x[key]) for x in rounds if x["variant"] == name)  # type: ignore[arg-type]
        return values[len(values) // 2]

    def median_or_none(name: str, key: str) -> float | None:
        return median(name, key) if name in variants else None

    result = {
        "utterances": len(table),
        "audio_s": round(audio_s, 1),
        "cpus": os.cpu_count(),
        "beam_size": args.beam_size,
        "rounds": rounds,
        "rtf_packed": median_or_none("packed", "rtf"),
        "cpu_per_audio_s_packed": median_or_none("packed", "cpu_per_audio_s"),
        "rtf_packed_2_workers": median_or_none("packed_2_workers", "rtf"),
        "cpu_per_audio_s_packed_2_workers": median_or_none("packed_2_workers", "cpu_per_audio_s"),
        "rtf_one_per_window": median_or_none("one_per_window", "rtf"),
        "speedup_packed": round(median("one_per_window", "wall_s") / median("packed", "wall_s"), 2)
        if {"packed", "one_per_window"} <= set(variants)
        else None,
        "word_hit_rate_packed": median_or_none("packed", "word_hit_rate"),
        "word_hit_rate_one_per_window": median_or_none("one_per_window", "word_hit_rate"),
        "load_avg_after": [round(v, 2) for v in os.getloadavg()],
        "target_rtf": 0.05,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rounds"}, indent=2))


if __name__ == "__main__":
    main()
