"""Significance tests between systems: the paired t-test over per-seed scores (perez2022: "repeated paired t-test",
p < 0.05, 10 seeds).

Pairing is by seed: run k of system A and run k of system B share the seed (and so the folds and, where the
runner seeds them, the data order), and the test looks at the per-seed differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from emofuse.evaluate.errors import EvaluationError

__all__ = ["PairedTTest", "paired_ttest", "paired_ttest_by_seed"]


@dataclass(frozen=True)
class PairedTTest:
    """Result of a two-sided paired t-test of ``a`` against ``b``.

    ``t`` and ``p`` are NaN when every difference is the same (zero variance: the test is undefined).
    ``mean_difference`` is ``mean(a - b)``: positive when ``a`` scores higher.
    """

    t: float
    p: float
    mean_difference: float
    n: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def paired_ttest(a: Sequence[float], b: Sequence[float]) -> PairedTTest:
    """Two-sided paired t-test (``scipy.stats.ttest_rel``) of per-seed scores ``a [n]`` against ``b [n]``.

    Raises :class:`EvaluationError` when the lengths differ, fewer than 2 pairs are given, or a score is NaN.
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise EvaluationError(
            f"paired t-test needs one score per seed from each system; got {x.size} and {y.size} scores: "
            "run both systems over the same seeds"
        )
    if x.size < 2:
        raise EvaluationError(f"paired t-test needs at least 2 paired scores; got {x.size}: run more seeds")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise EvaluationError(
            "paired t-test got NaN/inf scores: a metric was undefined in some run; drop that seed"
        )
    diff = x - y
    if np.all(diff == diff[0]):
        t_stat, p_value = float("nan"), float("nan")
    else:
        result = stats.ttest_rel(x, y)
        t_stat, p_value = float(result.statistic), float(result.pvalue)
    return PairedTTest(t=t_stat, p=p_value, mean_difference=float(diff.mean()), n=int(x.size))


def paired_ttest_by_seed(per_seed: pd.DataFrame, system_a: str, system_b: str, metric: str) -> PairedTTest:
    """Paired t-test of ``metric`` between two systems of a per-(system, seed) metrics table, matched by seed.

    Raises :class:`EvaluationError` naming the unmatched seeds when the two systems were not run on the same seeds.
    """
    for col in ("system", "seed", metric):
        if col not in per_seed.columns:
            raise EvaluationError(f"per-seed metrics lack column {col!r}; have {list(per_seed.columns)}")
    parts = {}
    for name in (system_a, system_b):
        part = per_seed[per_seed["system"] == name]
        if part.empty:
            raise EvaluationError(
                f"system {name!r} is not in the per-seed metrics ({sorted(pd.unique(per_seed['system']))})"
            )
        if part["seed"].duplicated().any():
            raise EvaluationError(
                f"system {name!r} has repeated seeds {part['seed'][part['seed'].duplicated()].tolist()}"
            )
        parts[name] = part.set_index("seed")[metric]
    seeds_a, seeds_b = set(parts[system_a].index), set(parts[system_b].index)
    if seeds_a != seeds_b:
        raise EvaluationError(
            f"{system_a!r} and {system_b!r} were run on different seeds (only in {system_a!r}: {sorted(seeds_a - seeds_b)}, "
            f"only in {system_b!r}: {sorted(seeds_b - seeds_a)}): a paired test needs the same seeds"
        )
    seeds = sorted(seeds_a)
    return paired_ttest(parts[system_a].loc[seeds].to_numpy(), parts[system_b].loc[seeds].to_numpy())
