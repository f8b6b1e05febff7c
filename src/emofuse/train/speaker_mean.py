"""Per-speaker mean features for a fold (makiuchi2021's speaker identity input).

makiuchi2021 represents each speaker by the mean Resemblyzer embedding of 100 randomly chosen utterances of that
speaker. :class:`SpeakerMeanSource` (a :class:`~emofuse.train.data.BranchSource` for features with
``per_speaker: mean``) gives every utterance the mean over its speaker's utterances **in the same part of the
fold**: a training speaker's mean comes from training utterances only, a dev speaker's from dev utterances, and
a test speaker's from its own test utterances (as the paper does at test time; the test labels are never
read). An utterance without a speaker, or outside the fold's parts, keeps its own embedding, which is also
what a packaged model uses for a new recording (or a given reference recording of the speaker).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from emofuse.encoders.speaker import speaker_averages
from emofuse.train.data import BranchSource, FeatureCache


@dataclass
class SpeakerMeanSource(BranchSource):
    """``speakers``: utterance id -> speaker (None when unknown); means are set by :meth:`prepare_fold`."""

    speakers: dict[str, str | None] = field(default_factory=dict)
    max_utterances: int = 100
    seed: int = 0
    means: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def prepare_fold(self, fold: Any, cache: FeatureCache) -> None:
        """Means per (part, speaker) over the part's utterances (train, dev, test separately)."""
        self.means = {}
        for part in (fold.train, fold.dev, fold.test):
            rows = [(u, self.speakers.get(u)) for u in part if u in self.keys and self.speakers.get(u)]
            if not rows:
                continue
            table = pd.DataFrame(rows, columns=["utterance_id", "speaker"])
            embeddings = {u: BranchSource.raw(self, cache, u) for u, _ in rows}
            by_speaker = speaker_averages(
                table, embeddings, max_utterances=self.max_utterances, seed=self.seed
            )
            for u, spk in rows:
                self.means[u] = by_speaker[str(spk)]

    def raw(self, cache: FeatureCache, uid: str) -> np.ndarray:
        if uid in self.means:
            return self.means[uid]
        return super().raw(cache, uid)


def speaker_column(table: pd.DataFrame) -> dict[str, str | None]:
    """``{utterance_id: speaker or None}`` from the utterance table."""
    out: dict[str, str | None] = {}
    for uid, spk in zip(table["utterance_id"], table["speaker"], strict=True):
        missing = spk is None or (isinstance(spk, float) and np.isnan(spk)) or str(spk) == ""
        out[str(uid)] = None if missing else str(spk)
    return out


__all__ = ["SpeakerMeanSource", "speaker_column"]
