"""The pause demo corpus (perez2022's evidence): arousal is carried by pauses between words, not by the words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emofuse.corpus.demo_pauses import LEVELS, make_pause_demo_corpus, pause_ssml, plan_pause_demo
from emofuse.corpus.table import read_table
from emofuse.errors import CorpusError
from emofuse.synth import espeak_available


def test_plan_is_deterministic_and_pauses_carry_arousal() -> None:
    plan = plan_pause_demo(n_speakers=6, utterances_per_speaker_per_level=10, seed=0)
    assert plan == plan_pause_demo(n_speakers=6, utterances_per_speaker_per_level=10, seed=0)
    assert len(plan) == 6 * len(LEVELS) * 10 and len({p["utterance_id"] for p in plan}) == len(plan)
    arousal = np.array([p["arousal"] for p in plan])
    pauses = np.array([len(p["pauses_ms"]) for p in plan])
    speed = np.array([p["speed_wpm"] for p in plan])
    n_words = np.array([len(str(p["transcript"]).split()) for p in plan])
    r_pause = np.corrcoef(arousal, pauses)[0, 1]
    assert r_pause < -0.5  # low arousal: more pauses
    assert abs(np.corrcoef(arousal, speed)[0, 1]) < abs(r_pause)  # the other cue is weaker
    assert abs(np.corrcoef(arousal, n_words)[0, 1]) < 0.2
    by_level = {lv: np.mean([len(p["pauses_ms"]) for p in plan if p["label"] == lv]) for lv in LEVELS}
    assert by_level["low"] > by_level["mid"] > by_level["high"]
    # the words do not tell the level: every sentence frame is used at every level
    frames = {lv: {str(p["transcript"]).split()[0] for p in plan if p["label"] == lv} for lv in LEVELS}
    assert frames["low"] == frames["mid"] == frames["high"]
    with pytest.raises(CorpusError, match="n_speakers"):
        plan_pause_demo(n_speakers=0)


def test_ssml_puts_breaks_at_the_word_gaps() -> None:
    assert pause_ssml("a b c", {0: 500, 1: 700}) == (
        '<speak>a <break time="500ms"/> b <break time="700ms"/> c</speak>'
    )


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_cli_builds_it_and_keeps_corpora_apart(tmp_path: Path) -> None:
    from emofuse.cli.corpus import app
    from emofuse.corpus.demo import make_demo_corpus

    result = CliRunner().invoke(
        app, ["demo", str(tmp_path / "p"), "--pauses", "--speakers", "2", "--per-class", "1"]
    )
    assert result.exit_code == 0, result.output
    table = read_table(tmp_path / "p" / "demo.jsonl")
    assert len(table) == 6 and set(table["corpus"]) == {"demo_pauses"}
    assert set(table["label"]) == set(LEVELS) and table["audio_path"].map(lambda p: Path(p).is_file()).all()
    assert make_pause_demo_corpus(tmp_path / "p", 2, 1, progress=False) == tmp_path / "p" / "demo.jsonl"
    make_demo_corpus(tmp_path / "main", n_speakers=1, utterances_per_speaker_per_class=1, progress=False)
    with pytest.raises(CorpusError, match="another demo corpus"):
        make_pause_demo_corpus(tmp_path / "main", 1, 1, progress=False)
