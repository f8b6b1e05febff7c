"""Leak checker: planted speaker, script and transcript leaks are caught; a clean split passes."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest

from emofuse.corpus import read_corpus
from emofuse.corpus.leaks import LeakWarning, check_leaks, normalise_transcript, script_family
from emofuse.corpus.protocols import Fold, make_folds
from emofuse.errors import CorpusError


@pytest.fixture(scope="module")
def table(iemocap_root: Path) -> pd.DataFrame:
    return read_corpus("iemocap", iemocap_root, verify_audio=False).table


def clean_folds(table: pd.DataFrame) -> list[Fold]:
    return make_folds(table, "speaker-script", seed=0, check=False)


def test_clean_split_passes(table: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = check_leaks(table, clean_folds(table), strict=True)
    assert not report.has_leaks and report.summary() == "no leaks in 5 fold(s)"


def test_planted_speaker_leak(table: pd.DataFrame) -> None:
    folds = clean_folds(table)
    planted = "Ses01F_impro01_F001"  # a test speaker of fold Session1 (improvised: no script, unique text)
    assert planted in folds[0].test
    leaky = Fold(
        name=folds[0].name,
        train=(*folds[0].train, planted),
        dev=folds[0].dev,
        test=tuple(u for u in folds[0].test if u != planted),
    )
    with pytest.warns(LeakWarning, match="Session1: train and test share 1 speakers \\('Ses01F'\\)"):
        report = check_leaks(table, [leaky, *folds[1:]])
    assert report.folds[0].speakers == ["Ses01F"]
    assert report.folds[0].scripts == [] and report.folds[0].transcripts == []
    assert [f.fold for f in report.leaking_folds] == ["Session1"]
    with pytest.raises(CorpusError, match="Ses01F"):
        check_leaks(table, [leaky], strict=True)


def test_planted_script_leak(table: pd.DataFrame) -> None:
    folds = clean_folds(table)
    planted = "Ses02M_script03_2_F000"  # script 3, spoken in session 2: not a test speaker of fold Session1
    assert planted in folds[0].excluded
    leaky = Fold(name="Session1", train=(*folds[0].train, planted), dev=folds[0].dev, test=folds[0].test)
    report = check_leaks(table, [leaky], warn=False)
    assert report.folds[0].scripts == ["script03"]
    assert report.folds[0].speakers == []
    assert report.folds[0].transcripts == ["let us walk along the beach tonight"]  # same script line
    with pytest.raises(CorpusError, match="1 scripts \\('script03'\\)"):
        check_leaks(table, [leaky], strict=True)


def test_speaker_kfold_on_iemocap_leaks_scripts(table: pd.DataFrame) -> None:
    with pytest.warns(LeakWarning):
        folds = make_folds(table, "speaker-kfold", n_folds=5, seed=0)
    report = check_leaks(table, folds, warn=False)
    assert all(f.speakers == [] for f in report.folds)
    assert all(set(f.scripts) == {"script01", "script03"} for f in report.folds)
    with pytest.raises(CorpusError, match="speaker-script"):
        make_folds(table, "speaker-kfold", n_folds=5, seed=0, strict=True)


def test_same_utterance_both_sides_and_unknown_ids(table: pd.DataFrame) -> None:
    uid = table["utterance_id"].iloc[0]
    report = check_leaks(table, [Fold("f", train=(uid,), dev=(), test=(uid,))], warn=False)
    assert report.folds[0].utterances == [uid]
    with pytest.raises(CorpusError, match="missing from the table"):
        check_leaks(table, [Fold("f", train=("nope",), dev=(), test=(uid,))])


def test_transcript_normalisation_and_short_lines() -> None:
    assert normalise_transcript("[LAUGHTER] Well,  you NEVER call anyway!") == "well you never call anyway"
    assert normalise_transcript("Don't") == normalise_transcript("dont")
    assert (
        script_family("script01_2") == "script01"
        and script_family("DFA") == "DFA"
        and script_family(None) is None
    )
    t = pd.DataFrame(
        {
            "utterance_id": ["a", "b", "c", "d"],
            "speaker": ["x", "y", "x", "y"],
            "script": [None] * 4,
            "transcript": ["Yeah.", "yeah", "I really do not know that", "i really do NOT know that!"],
        }
    )
    fold = Fold("f", train=("a", "c"), dev=(), test=("b", "d"))
    report = check_leaks(t, [fold], warn=False)
    assert report.folds[0].transcripts == ["i really do not know that"]
    assert report.has_leaks and not report.is_fatal() and report.is_fatal(strict_transcripts=True)
    with pytest.warns(LeakWarning, match="1 transcripts"):
        check_leaks(t, [fold], strict=True)  # shared transcripts alone only warn under strict
    with pytest.raises(CorpusError, match="i really do not know that"):
        check_leaks(t, [fold], strict=True, strict_transcripts=True)
    report = check_leaks(
        t, [Fold("f", train=("a",), dev=(), test=("b",))], warn=False, min_transcript_words=1
    )
    assert report.folds[0].transcripts == ["yeah"]
