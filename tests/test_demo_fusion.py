"""On the demo corpus, fusion beats both single modalities in uar (issue 5).

The setting is the quickstart's corpus (8 espeak-ng speakers x 4 classes x 6 = 192 utterances) under pepino2020's own
folds, by speaker and script (4 sessions; the demo's scripted lines repeat across speakers as IEMOCAP's do, so plain
speaker folds would let the text model learn the test lines), and the pepino2020 recipes with the offline MiniLM text
encoder, trained 10 epochs of batch 16, one seed. To keep CI short the text branch reads the corpus's own transcripts
(as pepino2020 does on IEMOCAP) instead of Whisper's, which saves the two minutes of ASR.

Measured (demo version 2, seed 0, 288 s at load 6-8 on 2 shared cores): uar audio 0.539, text 0.633, EF-CS 0.711,
LF-PT 0.688, i.e. +0.078 / +0.055 over the best single modality; the assertion asks for +0.03. (With speaker folds
instead: text 0.812, EF-CS 0.823, LF-PT 0.828: the memorised script lines leave fusion little to add.)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from emofuse.synth import espeak_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed"),
]
pytest.importorskip("opensmile")

MARGIN = 0.03


def test_fusion_beats_both_single_modalities_on_the_demo_corpus(tmp_path: Path) -> None:
    from emofuse.corpus.demo import make_demo_corpus
    from emofuse.corpus.leaks import LeakWarning, check_leaks
    from emofuse.corpus.protocols import make_folds
    from emofuse.corpus.table import read_table
    from emofuse.encoders import FeatureStore
    from emofuse.recipes import load_recipe
    from emofuse.train.runner import run_experiment

    table = read_table(
        make_demo_corpus(
            tmp_path / "corpus", n_speakers=8, utterances_per_speaker_per_class=6, seed=0, progress=False
        )
    )
    with warnings.catch_warnings():
        # pepino2020's own folds (SP&SC): by session, script 3 only tested, the other scripts only trained, so the
        # text models cannot learn the test scripts' lines (speaker folds would let them: the demo's scripted lines
        # repeat across speakers as IEMOCAP's do); template sentences still repeat (a warning, not an error)
        warnings.simplefilter("ignore", LeakWarning)
        folds = make_folds(table, "speaker-script", seed=0, dev_fraction=0.0, check=True, strict=True)
    assert len(folds) == 4 and not any(
        f.speakers or f.scripts for f in check_leaks(table, folds, warn=False).folds
    )
    train = ["training.max_epochs=10", "training.batch_size=16"]
    text = ["features.text.encoder.model=minilm", "features.text.input=transcript"]
    recipes = [
        load_recipe("pepino2020/audio", train),
        load_recipe("pepino2020/text_bert", train + text),
        load_recipe("pepino2020/ef_cs", train + text),
        load_recipe("pepino2020/lf_pt", train + text),
    ]
    result = run_experiment(
        recipes, table, folds, FeatureStore(tmp_path / "features"), tmp_path / "runs", seeds=1, progress=False
    )
    uar = {system: m["uar"]["median"] for system, m in result.report.summary.items()}
    best_single = max(uar["audio"], uar["text_bert"])
    print(
        f"demo corpus uar: {uar}; margins over the best single modality: "
        f"EF-CS {uar['ef_cs'] - best_single:+.3f}, LF-PT {uar['lf_pt'] - best_single:+.3f}"
    )
    # each modality carries the label only in part...
    assert 0.35 < uar["audio"] < 0.9 and 0.35 < uar["text_bert"] < 0.9
    # ...and both fusions beat both single modalities
    assert uar["ef_cs"] > best_single + MARGIN
    assert uar["lf_pt"] > best_single + MARGIN
