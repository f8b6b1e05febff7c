"""perez2022 Sec. 6's analyses of token attributions around silence.

Given per-utterance token attributions (:class:`emofuse.explain.text_ig.TokenAttributions`):

* :func:`max_sil_per_distance` (the paper's measure, Sec. 6: "we collect the maximally attributed silence token
  in a sentence and its distance to the nearest highly attributed token ... the maximal silence attribution per
  unit distance"): per utterance the ``[SIL]`` with the largest ``|attribution|``, its distance in tokens to
  the nearest high-attribution (``|a| > 0.3``) word token, and ``|attribution| / distance``. The paper correlates
  that value with each utterance's improvement over BERT without ``[SIL]``; that needs the paired predictions of
  the two systems and is left to the user (``utterances`` in the JSON carry the values per utterance id);
* :func:`sil_distances` / :func:`distance_table`: the other direction, every high-attribution word token's
  distance to the nearest ``[SIL]``, counted per distance beside the count expected if high tokens were spread
  like all word tokens;
* :func:`attribution_by_silence_ratio`: utterances in bins of their silence ratio, by default the paper's
  "ratio of silence tokens to non-silence tokens" (``by="tokens"``; the paper splits at 0.18: ``edges=[0.18]``),
  or the transcripts' time ratio (``by="time"``, the share of the recording between words); quantile bins
  (:func:`emofuse.binning.quantile_edges`, the one binning rule) unless ``edges`` are given. Per bin: the mean
  ``|attribution|`` of ``[SIL]`` and of word tokens and the share of high ``[SIL]`` tokens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from emofuse.binning import BinningError, assign_bins, quantile_edges
from emofuse.explain.attributions import HIGH_ATTRIBUTION
from emofuse.explain.intersection import ExplainError
from emofuse.explain.text_ig import SIL_TOKEN

__all__ = [
    "UtteranceAttributions",
    "attribution_by_silence_ratio",
    "distance_table",
    "max_sil_per_distance",
    "sil_distances",
    "sil_token_ratio",
]

_SPECIAL = frozenset({"[CLS]", "[SEP]", "[PAD]", "<s>", "</s>", "<pad>"})


@dataclass(frozen=True)
class UtteranceAttributions:
    """One utterance: its tokens ``[T]``, their normalised attributions ``[T]`` and its silence ratio in time
    (the transcripts' ``silence_ratio``, 0..1)."""

    utterance_id: str
    tokens: Sequence[str]
    attributions: Sequence[float]
    silence_ratio: float


def _word_positions(tokens: Sequence[str]) -> list[int]:
    return [i for i, t in enumerate(tokens) if t != SIL_TOKEN and t not in _SPECIAL]


def _distance(i: int, sils: Sequence[int]) -> int:
    return min(abs(i - s) for s in sils)


def sil_token_ratio(tokens: Sequence[str]) -> float:
    """``[SIL]`` tokens over word tokens (specials left out): perez2022's "ratio of silence tokens"."""
    words = len(_word_positions(tokens))
    return sum(t == SIL_TOKEN for t in tokens) / words if words else 0.0


def max_sil_per_distance(
    tokens: Sequence[str], attributions: Sequence[float], threshold: float = HIGH_ATTRIBUTION
) -> dict[str, float | int] | None:
    """The maximally attributed ``[SIL]`` (by ``|a|``), its distance in tokens to the nearest high-attribution word
    token and ``|a| / distance``: ``{sil_index, sil_attribution, distance, per_unit_distance}``; None without a
    ``[SIL]``; ``distance`` / ``per_unit_distance`` None when no word token is high."""
    sils = [i for i, t in enumerate(tokens) if t == SIL_TOKEN]
    if not sils:
        return None
    top = max(sils, key=lambda i: abs(attributions[i]))
    high = [i for i in _word_positions(tokens) if abs(attributions[i]) > threshold]
    distance = min(abs(i - top) for i in high) if high else None
    return {
        "sil_index": top,
        "sil_attribution": float(attributions[top]),
        "distance": distance,
        "per_unit_distance": float(abs(attributions[top]) / distance) if distance else None,
    }


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
    utterances: Sequence[UtteranceAttributions],
    n_bins: int = 4,
    threshold: float = HIGH_ATTRIBUTION,
    by: Literal["tokens", "time"] = "tokens",
    edges: Sequence[float] | None = None,
) -> list[dict[str, float]]:
    """Per bin of the silence ratio (``by``: :func:`sil_token_ratio` or the time ratio; quantile bins, or the
    inner ``edges`` given): ``low``/``high`` (bin bounds), ``n_utterances``, ``n_sil``, ``mean_abs_sil`` /
    ``mean_abs_words`` (mean ``|attribution|`` of ``[SIL]`` / word tokens, NaN when none) and ``share_sil_high``
    (share of ``[SIL]`` tokens above ``threshold``).

    Raises:
        ExplainError: too few distinct silence ratios for ``n_bins`` bins.
    """
    if not utterances:
        raise ExplainError("no utterances to bin by silence ratio")
    ratios = [sil_token_ratio(u.tokens) if by == "tokens" else float(u.silence_ratio) for u in utterances]
    if edges is None:
        try:
            edges = [float(e) for e in quantile_edges(ratios, n_bins)]
        except BinningError as exc:
            raise ExplainError(f"silence-ratio bins: {exc}; use fewer bins or more utterances") from None
    n_bins = len(edges) + 1
    bins = assign_bins(ratios, np.asarray(sorted(edges), dtype=np.float64))
    inner = sorted(float(e) for e in edges)
    bounds = [min([*ratios, *inner]), *inner, max([*ratios, *inner])]
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
