"""Everything ``emofuse run RECIPE --demo`` needs: the demo corpus and, for ASR inputs, its transcripts.

The demo corpus (:mod:`emofuse.corpus.demo`) has sessions, scripts, a predefined split and A/V/D labels, so
every shipped recipe's protocol and task run on it; the recipes' hub models are replaced by offline stand-ins
when they are loaded (``load_recipes(..., offline_substitutes=True)``). Recipes that read ASR text
(``asr`` / ``asr_sil``) get the corpus transcribed with their own ``text_source`` (offline Whisper tiny.en),
once, cached beside the corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from emofuse.errors import ConfigError
from emofuse.recipes.schema import Recipe

ASR_INPUTS = ("asr", "asr_sil", "asr_silence_ratio")


@dataclass(frozen=True)
class DemoData:
    """The demo corpus table, its path, and the transcripts (None when no recipe reads ASR text)."""

    table_path: Path
    table: pd.DataFrame
    transcripts: pd.DataFrame | None


def demo_dir() -> Path:
    """Where ``--demo`` builds the corpus: ``<cache root>/demo`` (``EMOFUSE_CACHE_DIR``)."""
    from emofuse.paths import cache_root

    return Path(cache_root()) / "demo"


def prepare_demo(
    recipes: Sequence[Recipe],
    out_dir: str | Path | None = None,
    *,
    n_speakers: int = 8,
    utterances_per_speaker_per_class: int = 6,
    seed: int = 0,
    progress: bool = True,
) -> DemoData:
    """Build (or reuse) the demo corpus in ``out_dir`` (default :func:`demo_dir`) and transcribe it if needed.

    Raises:
        ConfigError: the recipes read ASR text made with different text sources (run them separately).
    """
    from emofuse.corpus.demo import make_demo_corpus
    from emofuse.corpus.table import read_table

    out = Path(out_dir) if out_dir is not None else demo_dir()
    table_path = make_demo_corpus(
        out,
        n_speakers=n_speakers,
        utterances_per_speaker_per_class=utterances_per_speaker_per_class,
        seed=seed,
        progress=progress,
    )
    table = read_table(table_path)
    asr = [r for r in recipes if any(f.input in ASR_INPUTS for f in r.features.values())]
    if not asr:
        return DemoData(table_path, table, None)
    sources = {r.text_source.model_dump_json() for r in asr}
    if len(sources) > 1:
        raise ConfigError(
            "the recipes read ASR transcripts made with different text_source settings "
            f"({', '.join(r.name for r in asr)}); run them in separate `emofuse run --demo` calls"
        )
    from emofuse.hashing import config_hash
    from emofuse.transcribe import transcribe_table

    source = asr[0].text_source
    path = out / f"transcripts-{config_hash(source.model_dump(mode='json'))[:12]}.jsonl"
    transcripts = transcribe_table(
        table,
        source.build(for_corpus=True),
        path,
        progress=progress,
        text_source=source,
        cache=out / "transcript_cache",
    )
    return DemoData(table_path, table, transcripts)


__all__ = ["DemoData", "demo_dir", "prepare_demo"]
