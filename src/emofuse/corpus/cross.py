"""Cross-corpus evaluation: train on one corpus, test on another (as EmoBox's cross-corpus track does).

:func:`cross_corpus_split` joins the two utterance tables into one (the test corpus's utterance and speaker ids
get a ``<corpus>:`` prefix so that they never collide with the training corpus's) and makes one fold: train =
the whole training corpus minus a dev part carved by speaker, test = the whole test corpus. ``label_map``
renames the test corpus's labels onto the training labels (e.g. ``{"bored": "neutral"}``, or a label to drop
by mapping it to a name the recipe does not learn).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from emofuse.corpus.protocols import Fold, carve_dev
from emofuse.corpus.table import validate_table
from emofuse.errors import CorpusError


def cross_corpus_split(
    train_table: pd.DataFrame,
    test_table: pd.DataFrame,
    *,
    label_map: Mapping[str, str] | None = None,
    dev_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[pd.DataFrame, list[Fold]]:
    """One table holding both corpora and the single fold train-on-one / test-on-the-other."""
    if not len(train_table) or not len(test_table):
        raise CorpusError("cross-corpus evaluation needs utterances in both the training and the test corpus")
    test = test_table.copy()
    names = sorted({str(c) for c in test["corpus"].dropna()}) or ["test"]
    prefix = f"{names[0] if len(names) == 1 else 'test'}:"
    test["utterance_id"] = prefix + test["utterance_id"].astype(str)
    test["speaker"] = [None if s is None else prefix + str(s) for s in test["speaker"]]
    mapping = {k.lower(): v.lower() for k, v in (label_map or {}).items()}
    test["label"] = [
        None if v is None else mapping.get(str(v).lower(), str(v).lower()) for v in test["label"]
    ]
    joined = validate_table(pd.concat([train_table, test], ignore_index=True))
    train_ids, dev_ids = carve_dev(train_table, dev_fraction, seed)
    fold = Fold(
        name=f"test_{prefix[:-1]}",
        train=tuple(train_ids),
        dev=tuple(dev_ids),
        test=tuple(test["utterance_id"]),
        test_groups=(prefix[:-1],),
    )
    return joined, [fold]


__all__ = ["cross_corpus_split"]
