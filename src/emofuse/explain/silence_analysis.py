"""perez2022 Sec. 6's analyses of token attributions around silence.

Given per-utterance token attributions (:class:`emofuse.explain.text_ig.TokenAttributions`) and the utterance's
silence ratio (the transcripts table's ``silence_ratio``: the share of the recording between words):

* :func:`sil_distances`: for every high-attribution word token (``|attribution| > 0.3``, neither ``[SIL]`` nor
  a special token), its distance in tokens to the nearest ``[SIL]`` (1 = right next to a pause);
  :func:`distance_table` counts them per distance, with the count expected if high tokens sat anywhere in the
  utterance (every word token's distance, scaled to the same total), so that "high attributions cluster next to
  pauses" can be read off;
* :func:`attribution_by_silence_ratio`: utterances in quantile bins of their silence ratio
  (:func:`emofuse.binning.quantile_edges`, the one binning rule), per bin the mean ``|attribution|`` of
  ``[SIL]`` tokens and of word tokens and the share of ``[SIL]`` tokens that are high.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emofuse.binning import BinningError, assign_bins, quantile_edges
from emofuse.explain.attributions import HIGH_ATTRIBUTION
from emofuse.explain.intersection import ExplainError
from emofuse.explain.text_ig import SIL_TOKEN

__all__ = ["UtteranceAttributions", "attribution_by_silence_ratio", "distance_table", "sil_distances"]

_SPECIAL = frozenset({"[CLS]", "[SEP]", "[PAD]", "<s>", "</s>", "<pad>"})


@dataclass(frozen=True)
class UtteranceAttributions:
    """One utterance: its tokens ``[T]``, their normalised attributions ``[T]`` and its silence ratio (0..1)."""

    utterance_id: str
    tokens: Sequence[str]
    attributions: Sequence[float]
    silence_ratio: float


def _word_positions(tokens: Sequence[str]) -> list[int]:
    return [i for i, t in enumerate(tokens) if t != SIL_TOKEN and t not in _SPECIAL]


def _distance(i: int, sils: Sequence[int]) -> int:
    return min(abs(i - s) for s in sils)


def sil_distances(
    tokens: Sequence[str], attributions: Sequence[float], threshold: float = HIGH_ATTRIBUTION
) -> list[int]:
    """Distance in tokens from each high-attribution word token to the nearest ``[SIL]`` (empty without ``[SIL]``)."""
    if len(tokens) != len(attributions):
        raise ExplainError(f"{len(tokens)} tokens but {len(attributions)} attributions")
    sils = [i for i, t in enumerate(tokens) if t == SIL_TOKEN]
    if not sils:
        return []
    return [_distance(i, sils) for i in _word_positions(tokens) if abs(attributions[i]) > threshold]


def distance_table(
    utterances: Sequence[UtteranceAttributions], threshold: float = HIGH_ATTRIBUTION
) -> list[dict[str, float]]:
    """Rows ``{distance, high_tokens, expected}`` over the utterances that hold a ``[SIL]``: ``high_tokens``
    counts high-attribution word tokens at that distance, ``expected`` the count if the same number of high tokens
    were spread like all word tokens."""
    high: Counter[int] = Counter()
    every: Counter[int] = Counter()
    for u in utterances:
        sils = [i for i, t in enumerate(u.tokens) if t == SIL_TOKEN]
        if not sils:
            continue
        high.update(sil_distances(u.tokens, u.attributions, threshold))
        every.update(_distance(i, sils) for i in _word_positions(u.tokens))
    n_high, n_every = sum(high.values()), sum(every.values())
    return [
        {
            "distance": d,
            "high_tokens": int(high[d]),
            "expected": float(n_high * every[d] / n_every) if n_every else 0.0,
        }
        for d in sorted(every)
    ]


def attribution_by_silence_ratio(
    utterances: Sequence[UtteranceAttributions], n_bins: int = 4, threshold: float = HIGH_ATTRIBUTION
) -> list[dict[str, float]]:
    """Per quantile bin of the silence ratio: ``low``/``high`` (bin bounds), ``n_utterances``, ``n_sil``,
    ``mean_abs_sil`` / ``mean_abs_words`` (mean ``|attribution|`` of ``[SIL]`` / word tokens, NaN when none) and
    ``share_sil_high`` (share of ``[SIL]`` tokens above ``threshold``).

    Raises:
        ExplainError: too few distinct silence ratios for ``n_bins`` bins.
    """
    ratios = [float(u.silence_ratio) for u in utterances]
    try:
        edges = quantile_edges(ratios, n_bins)
    except BinningError as exc:
        raise ExplainError(f"silence-ratio bins: {exc}; use fewer bins or more utterances") from None
    bins = assign_bins(ratios, edges)
    bounds = [min(ratios), *[float(e) for e in edges], max(ratios)]
    rows = []
    for b in range(n_bins):
        members = [u for u, k in zip(utterances, bins, strict=True) if int(k) == b]
        sil = [
            abs(a) for u in members for t, a in zip(u.tokens, u.attributions, strict=True) if t == SIL_TOKEN
        ]
        words = [abs(u.attributions[i]) for u in members for i in _word_positions(u.tokens)]
        rows.append(
            {
                "bin": b,
                "low": bounds[b],
                "high": bounds[b + 1],
                "n_utterances": len(members),
                "n_sil": len(sil),
                "mean_abs_sil": float(np.mean(sil)) if sil else float("nan"),
                "mean_abs_words": float(np.mean(words)) if words else float("nan"),
                "share_sil_high": float(np.mean([a > threshold for a in sil])) if sil else float("nan"),
            }
        )
    return rows
