"""perez2022 Sec. 6 against a reference system: per-utterance improvement over it, its correlation with the
silence measure, and performance by silence-ratio bin.

The paper (Perez, Mou, Sapru, Jurgens, Provost, "Mind the gap: On the value of silence representations to
lexical-based speech emotion recognition", Interspeech 2022, doi:10.21437/Interspeech.2022-10896) correlates,
per utterance, the maximally attributed ``[SIL]`` per unit distance to the nearest high-attribution token with
the utterance's improvement over BERT without ``[SIL]`` (Sec. 6.1), and compares the two systems by silence
ratio (Sec. 6.2). Here:

* :func:`read_paired_predictions`: the test predictions (``predictions.csv``) of the explained run and of the
  reference run, joined by utterance id; the ids and the true targets must agree;
* :func:`improvement`: ``|err_ref| - |err_sys|`` per utterance for A/V/D regression (positive: the system is
  closer), ``correct_sys - correct_ref`` (-1, 0, 1) for classes;
* :func:`correlate`: Pearson and Spearman correlation (scipy) of a per-utterance measure with the improvement,
  with p-values and n;
* :func:`performance_by_bin`: CCC (regression) or UAR (classes) of system and reference per silence-ratio bin.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from emofuse.binning import assign_bins
from emofuse.explain.intersection import ExplainError

__all__ = [
    "PairedPredictions",
    "correlate",
    "improvement",
    "performance_by_bin",
    "read_paired_predictions",
    "reference_section",
]

_PREDICTIONS = "predictions.csv"


@dataclass(frozen=True)
class PairedPredictions:
    """Test predictions of a system and a reference on the same utterances.

    ``frame`` has one row per utterance id (index ``utterance_id``) and, for ``task == "avd"``, the columns
    ``true_<dim>``, ``sys_<dim>``, ``ref_<dim>`` per dimension of ``targets``; for ``task == "classes"`` the
    columns ``label``, ``sys_pred``, ``ref_pred`` (``targets`` then lists the classes seen in either).
    """

    task: Literal["avd", "classes"]
    targets: tuple[str, ...]
    frame: pd.DataFrame


def _csv_of(path: Path, what: str) -> Path:
    csv = path / _PREDICTIONS if path.is_dir() else path
    if not csv.is_file():
        raise ExplainError(
            f"{path}: no {_PREDICTIONS} for the {what}; pass a finished run directory "
            "(<out>/<system>/seed<k>/fold<f>) or its predictions.csv"
        )
    return csv


def _read(csv: Path) -> tuple[Literal["avd", "classes"], pd.DataFrame]:
    try:
        frame = pd.read_csv(csv, dtype={"utterance_id": str, "label": str, "pred": str})
    except (ValueError, pd.errors.ParserError) as exc:
        raise ExplainError(f"{csv}: not a readable predictions table ({exc})") from None
    if "utterance_id" not in frame.columns:
        raise ExplainError(f"{csv}: no utterance_id column; pass the predictions.csv of an emofuse run")
    if frame["utterance_id"].duplicated().any():
        dup = frame.loc[frame["utterance_id"].duplicated(), "utterance_id"].iloc[0]
        raise ExplainError(f"{csv}: utterance {dup!r} occurs twice; pass the predictions of one fold's run")
    if "label" in frame.columns and "pred" in frame.columns:
        return "classes", frame.set_index("utterance_id")
    dims = [c[len("true_") :] for c in frame.columns if c.startswith("true_")]
    if dims and all(f"pred_{d}" in frame.columns for d in dims):
        return "avd", frame.set_index("utterance_id")
    raise ExplainError(
        f"{csv}: neither label/pred nor true_<dim>/pred_<dim> columns; not an emofuse predictions table"
    )


def read_paired_predictions(system: Path, reference: Path) -> PairedPredictions:
    """Join the explained run's and the reference run's ``predictions.csv`` by utterance id.

    Args:
        system: the explained run directory (or its ``predictions.csv``).
        reference: the reference run directory (or its ``predictions.csv``).

    Raises:
        ExplainError: a file is missing or unreadable, the utterance ids differ, or the two runs predict
            different targets (task, dimensions or true values differ).
    """
    sys_csv, ref_csv = _csv_of(system, "explained run"), _csv_of(reference, "reference run")
    sys_task, sys_frame = _read(sys_csv)
    ref_task, ref_frame = _read(ref_csv)
    if sys_task != ref_task:
        raise ExplainError(
            f"{ref_csv}: the reference predicts {ref_task} but {sys_csv} predicts {sys_task}; "
            "pass a reference run of the same task"
        )
    only_sys = sorted(set(sys_frame.index) - set(ref_frame.index))
    only_ref = sorted(set(ref_frame.index) - set(sys_frame.index))
    if only_sys or only_ref:
        example = only_sys[0] if only_sys else only_ref[0]
        raise ExplainError(
            f"{ref_csv}: the utterance ids differ from {sys_csv} ({len(only_sys)} only in the system, "
            f"{len(only_ref)} only in the reference, e.g. {example!r}); pass the reference run of the same seed "
            "and fold"
        )
    ref_frame = ref_frame.loc[sys_frame.index]
    if sys_task == "classes":
        differ = sys_frame["label"] != ref_frame["label"]
        frame = pd.DataFrame(
            {"label": sys_frame["label"], "sys_pred": sys_frame["pred"], "ref_pred": ref_frame["pred"]}
        )
        targets = tuple(sorted({*sys_frame["label"], *sys_frame["pred"], *ref_frame["pred"]}))
    else:
        dims = [c[len("true_") :] for c in sys_frame.columns if c.startswith("true_")]
        ref_dims = [c[len("true_") :] for c in ref_frame.columns if c.startswith("true_")]
        if sorted(dims) != sorted(ref_dims):
            raise ExplainError(
                f"{ref_csv}: the reference predicts {sorted(ref_dims)} but {sys_csv} predicts {sorted(dims)}; "
                "pass a reference run of the same dimensions"
            )
        true_sys = sys_frame[[f"true_{d}" for d in dims]].to_numpy(np.float64)
        true_ref = ref_frame[[f"true_{d}" for d in dims]].to_numpy(np.float64)
        differ = pd.Series(~np.isclose(true_sys, true_ref, atol=1e-6).all(axis=1), index=sys_frame.index)
        columns: dict[str, pd.Series] = {}
        for d in dims:
            columns[f"true_{d}"] = sys_frame[f"true_{d}"].astype(np.float64)
            columns[f"sys_{d}"] = sys_frame[f"pred_{d}"].astype(np.float64)
            columns[f"ref_{d}"] = ref_frame[f"pred_{d}"].astype(np.float64)
        frame = pd.DataFrame(columns)
        targets = tuple(dims)
    if bool(differ.any()):
        uid = differ[differ].index[0]
        raise ExplainError(
            f"{ref_csv}: the true targets differ from {sys_csv} for {int(differ.sum())} utterance(s), "
            f"e.g. {uid!r}; pass a reference run on the same corpus and targets"
        )
    return PairedPredictions(sys_task, targets, frame)


def improvement(paired: PairedPredictions, dimension: str | None = None) -> dict[str, float]:
    """Per utterance id: ``|err_ref| - |err_sys|`` on ``dimension`` (A/V/D; default the first) or
    ``correct_sys - correct_ref`` (classes). Positive: the system does better than the reference."""
    f = paired.frame
    if paired.task == "classes":
        gain = (f["sys_pred"] == f["label"]).astype(float) - (f["ref_pred"] == f["label"]).astype(float)
    else:
        d = _dimension(paired, dimension)
        gain = (f[f"ref_{d}"] - f[f"true_{d}"]).abs() - (f[f"sys_{d}"] - f[f"true_{d}"]).abs()
    return {str(u): float(v) for u, v in gain.items()}


def _dimension(paired: PairedPredictions, dimension: str | None) -> str:
    d = paired.targets[0] if dimension is None else dimension
    if d not in paired.targets:
        raise ExplainError(f"dimension {d!r}: the predictions hold {list(paired.targets)}")
    return d


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def correlate(
    measure: Mapping[str, float | None], gain: Mapping[str, float]
) -> dict[str, float | int | None]:
    """Pearson and Spearman correlation of ``measure`` with ``gain`` over the utterance ids that have both
    (a None measure is left out): ``{n, pearson_r, pearson_p, spearman_rho, spearman_p}``; the coefficients are
    None with fewer than 3 pairs or a constant series."""
    from scipy.stats import pearsonr, spearmanr

    ids = [u for u, m in measure.items() if m is not None and u in gain and math.isfinite(m)]
    x = np.asarray([measure[u] for u in ids], dtype=np.float64)
    y = np.asarray([gain[u] for u in ids], dtype=np.float64)
    result: dict[str, float | int | None] = {
        "n": len(ids),
        "pearson_r": None,
        "pearson_p": None,
        "spearman_rho": None,
        "spearman_p": None,
    }
    if len(ids) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return result
    pearson = pearsonr(x, y)
    spearman = spearmanr(x, y)
    result.update(
        pearson_r=_finite(float(pearson.statistic)),
        pearson_p=_finite(float(pearson.pvalue)),
        spearman_rho=_finite(float(spearman.statistic)),
        spearman_p=_finite(float(spearman.pvalue)),
    )
    return result


def performance_by_bin(
    paired: PairedPredictions,
    ratios: Mapping[str, float],
    edges: Sequence[float],
    dimension: str | None = None,
) -> list[dict[str, float | int | str | None]]:
    """Per silence-ratio bin (``ratios`` per utterance id, binned at the inner ``edges`` by
    :func:`emofuse.binning.assign_bins`, the rule of the attribution table): ``{bin, n_utterances, metric,
    system, reference}`` with ``metric`` ``ccc`` (on ``dimension``, A/V/D) or ``uar`` (classes); None in a bin of
    fewer than 2 utterances."""
    from emofuse.evaluate.metrics import MetricWarning, ccc, uar

    ids = [u for u in ratios if u in paired.frame.index]
    bins = assign_bins([ratios[u] for u in ids], np.asarray(sorted(edges), dtype=np.float64))
    metric = "uar" if paired.task == "classes" else "ccc"
    d = None if paired.task == "classes" else _dimension(paired, dimension)
    rows: list[dict[str, float | int | str | None]] = []
    for b in range(len(edges) + 1):
        f = paired.frame.loc[[u for u, k in zip(ids, bins, strict=True) if int(k) == b]]
        scores: dict[str, float | None] = {"system": None, "reference": None}
        if len(f) >= 2:
            for who, col in (("system", "sys"), ("reference", "ref")):
                if d is None:
                    with warnings.catch_warnings():
                        warnings.simplefilter(
                            "ignore", MetricWarning
                        )  # classes absent from a bin are skipped
                        scores[who] = uar(list(f["label"]), list(f[f"{col}_pred"]), list(paired.targets))
                else:
                    scores[who] = ccc(f[f"{col}_{d}"].to_numpy(), f[f"true_{d}"].to_numpy())
        rows.append({"bin": b, "n_utterances": len(f), "metric": metric, **scores})
    return rows


def reference_section(
    paired: PairedPredictions,
    reference: Path,
    measure: Mapping[str, float | None],
    ratios: Mapping[str, float],
    edges: Sequence[float],
    dimension: str | None = None,
) -> dict[str, object]:
    """The ``reference`` block of ``silence_analysis.json``: the reference run, the improvement's definition,
    :func:`correlate` of ``measure`` with :func:`improvement`, :func:`performance_by_bin` and the improvement per
    utterance id."""
    d = None if paired.task == "classes" else _dimension(paired, dimension)
    gain = improvement(paired, d)
    return {
        "run": str(reference),
        "target": d if d is not None else "class",
        "improvement": "correct_sys - correct_ref" if d is None else "|err_ref| - |err_sys|",
        "correlation": correlate(measure, gain),
        "by_silence_ratio": performance_by_bin(paired, ratios, edges, d),
        "improvement_per_utterance": {u: gain[u] for u in ratios if u in gain},
    }
