"""Length-bucketed training batches (deoliveira2023: "batched with batch size 16, using buckets sorted by
length in order to reduce the amount of padding").

* :class:`LengthBucketSampler`: a batch sampler over per-utterance lengths; batches hold utterances of similar
  length and come in a shuffled order, the same for the same seed.
* :func:`uses_length_buckets`: whether a recipe's training batches are bucketed (``training.length_bucketing``;
  unset: on for ``end_to_end``, off for ``cached``).

Lengths come from the dataset's ``lengths()``: frames of the stored sequence features in cached mode
(:meth:`emofuse.train.data.EmotionDataset.lengths`), samples or tokens of the raw inputs in end_to_end mode.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from emofuse.recipes.schema import TrainingConfig


def uses_length_buckets(training: TrainingConfig) -> bool:
    """``training.length_bucketing`` when set; unset: True for ``mode: end_to_end``, False for ``cached``."""
    if training.length_bucketing is None:
        return training.mode == "end_to_end"
    return bool(training.length_bucketing)


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of utterances of similar length: sort by length, cut into batches, shuffle the batches (and
    the order inside the sorted pool by a per-epoch seed), so padding stays small and every epoch differs.

    Epoch ``e`` (the ``e``-th iteration, from 0) draws from ``numpy.random.default_rng(seed + e)``: the same
    seed gives the same batches in the same order.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int) -> None:
        self.lengths = list(lengths)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng(self.seed + self.epoch)
        self.epoch += 1
        jitter = rng.permutation(len(self.lengths))  # ties broken at random
        order = sorted(range(len(self.lengths)), key=lambda i: (self.lengths[i], jitter[i]))
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        for j in rng.permutation(len(batches)):
            yield batches[j]


__all__ = ["LengthBucketSampler", "uses_length_buckets"]
