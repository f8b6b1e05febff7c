"""perez2022 Sec. 6 against a reference run: predictions joined by utterance id, the improvement per utterance,
its correlation with a per-utterance measure (synthetic data where the correlation is known), performance by
silence-ratio bin, and `emofuse explain silence --reference-run`'s one-line errors (exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr, spearmanr

from emofuse.evaluate.metrics import ccc
from emofuse.explain.intersection import ExplainError
from emofuse.explain.reference_comparison import (
    correlate,
    improvement,
    performance_by_bin,
    read_paired_predictions,
    reference_section,
)


def _avd_run(
    path: Path, ids: list[str], true: np.ndarray, pred: np.ndarray, dims: tuple[str, ...] = ("arousal",)
) -> Path:
    path.mkdir(parents=True)
    frame = pd.DataFrame({"system": "s", "seed": 0, "fold": "fold1", "utterance_id": ids})
    for k, d in enumerate(dims):
        frame[f"true_{d}"] = true if k == 0 else true + k
        frame[f"pred_{d}"] = pred if k == 0 else pred + k
    frame.to_csv(path / "predictions.csv", index=False)
    return path


def _class_run(path: Path, ids: list[str], label: list[str], pred: list[str]) -> Path:
    path.mkdir(parents=True)
    pd.DataFrame({"utterance_id": ids, "label": label, "pred": pred}).to_csv(
        path / "predictions.csv", index=False
    )
    return path


@pytest.fixture
def avd_pair(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 40
    ids = [f"u{i:02d}" for i in range(n)]
    true = rng.uniform(0, 1, n)
    err_sys = rng.uniform(-0.3, 0.3, n)
    err_ref = rng.uniform(-0.5, 0.5, n)
    system = _avd_run(tmp_path / "sys", ids, true, true + err_sys, ("arousal", "valence"))
    # the reference lists the utterances in another order: the join is by id, not by row
    order = rng.permutation(n)
    reference = _avd_run(
        tmp_path / "ref",
        [ids[i] for i in order],
        true[order],
        (true + err_ref)[order],
        ("arousal", "valence"),
    )
    return system, reference, true, err_sys, err_ref


def test_improvement_is_reference_error_minus_system_error(avd_pair: tuple) -> None:
    system, reference, _, err_sys, err_ref = avd_pair
    paired = read_paired_predictions(system, reference / "predictions.csv")  # a run dir or its csv
    assert paired.task == "avd" and paired.targets == ("arousal", "valence")
    gain = improvement(paired)
    expected = np.abs(err_ref) - np.abs(err_sys)
    assert [gain[f"u{i:02d}"] for i in range(len(expected))] == pytest.approx(expected)
    assert improvement(paired, "valence") == pytest.approx(gain)  # valence = arousal + 1 in both runs
    with pytest.raises(ExplainError, match="dominance"):
        improvement(paired, "dominance")


def test_correlation_of_a_measure_with_the_improvement(avd_pair: tuple) -> None:
    system, reference, _, err_sys, err_ref = avd_pair
    gain = improvement(read_paired_predictions(system, reference))
    ids = sorted(gain)
    g = np.asarray([gain[u] for u in ids])
    # a linear function of the improvement: r = rho = 1; a decreasing monotone one: rho = -1, |r| < 1
    linear = correlate({u: 2.0 * gain[u] + 1.0 for u in ids}, gain)
    assert linear["n"] == len(ids)
    assert linear["pearson_r"] == pytest.approx(1.0) and linear["spearman_rho"] == pytest.approx(1.0)
    assert linear["pearson_p"] < 1e-10
    monotone = correlate({u: -np.exp(5 * gain[u]) for u in ids}, gain)
    assert monotone["spearman_rho"] == pytest.approx(-1.0) and -1.0 < monotone["pearson_r"] < -0.5
    # an unrelated measure: scipy's values; None measures (no [SIL]) and ids without a gain are left out
    rng = np.random.default_rng(1)
    noise = rng.normal(size=len(ids))
    measure: dict[str, float | None] = dict(zip(ids, noise.tolist(), strict=True))
    measure["u00"] = None
    measure["not_in_the_runs"] = 3.0
    keep = [i for i, u in enumerate(ids) if u != "u00"]
    result = correlate(measure, gain)
    assert result["n"] == len(ids) - 1
    assert result["pearson_r"] == pytest.approx(pearsonr(noise[keep], g[keep]).statistic)
    assert result["spearman_p"] == pytest.approx(spearmanr(noise[keep], g[keep]).pvalue)
    # undefined: fewer than 3 pairs, or a constant series
    assert correlate({"u01": 1.0, "u02": 2.0}, gain)["pearson_r"] is None
    assert correlate(dict.fromkeys(ids, 0.5), gain)["spearman_rho"] is None


def test_performance_by_bin_scores_each_system_on_its_bin(avd_pair: tuple) -> None:
    system, reference, true, err_sys, err_ref = avd_pair
    paired = read_paired_predictions(system, reference)
    ids = [f"u{i:02d}" for i in range(len(true))]
    ratios = {u: i / len(ids) for i, u in enumerate(ids)}  # the first half below 0.5
    rows = performance_by_bin(paired, ratios, [0.5])
    half = len(ids) // 2
    assert [r["n_utterances"] for r in rows] == [half, len(ids) - half]
    assert rows[0]["metric"] == "ccc"
    assert rows[0]["system"] == pytest.approx(ccc(true[:half] + err_sys[:half], true[:half]))
    assert rows[1]["reference"] == pytest.approx(ccc(true[half:] + err_ref[half:], true[half:]))
    lonely = performance_by_bin(paired, {"u00": 0.1, "u01": 0.9, "u02": 0.95}, [0.5])
    assert lonely[0]["system"] is None and lonely[1]["system"] is not None  # a bin of one has no CCC
    section = reference_section(paired, reference, dict.fromkeys(ids[:3], 1.0), ratios, [0.5])
    assert section["target"] == "arousal" and set(section["improvement_per_utterance"]) == set(ids)


def test_classes_improvement_and_uar_by_bin(tmp_path: Path) -> None:
    ids = ["a", "b", "c", "d"]
    label = ["hi", "lo", "hi", "lo"]
    system = _class_run(tmp_path / "sys", ids, label, ["hi", "lo", "lo", "lo"])
    reference = _class_run(tmp_path / "ref", ids, label, ["lo", "lo", "hi", "hi"])
    paired = read_paired_predictions(system, reference)
    assert paired.task == "classes"
    assert improvement(paired) == {"a": 1.0, "b": 0.0, "c": -1.0, "d": 1.0}
    rows = performance_by_bin(paired, {"a": 0.0, "b": 0.1, "c": 0.5, "d": 0.6}, [0.3])
    assert [r["metric"] for r in rows] == ["uar", "uar"]
    assert rows[0]["system"] == pytest.approx(1.0) and rows[0]["reference"] == pytest.approx(0.5)
    assert rows[1]["system"] == pytest.approx(0.5) and rows[1]["reference"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("ids", "utterance ids differ"),
        ("targets", "true targets differ"),
        ("dims", "predicts ['valence']"),
        ("task", "predicts classes"),
        ("missing", "no predictions.csv for the reference run"),
    ],
)
def test_mismatched_reference_is_one_line_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: str,
    message: str,
) -> None:
    from emofuse.cli.main import main

    ids = ["u0", "u1", "u2"]
    true = np.asarray([0.1, 0.5, 0.9])
    system = _avd_run(tmp_path / "sys", ids, true, true + 0.1)
    reference = tmp_path / "ref"
    if change == "ids":
        _avd_run(reference, ["u0", "u1", "u9"], true, true)
    elif change == "targets":
        _avd_run(reference, ids, true[::-1].copy(), true)
    elif change == "dims":
        _avd_run(reference, ids, true, true, ("valence",))
    elif change == "task":
        _class_run(reference, ids, ["a", "b", "a"], ["a", "a", "a"])
    # the reference is checked before the transcripts are read or a model is loaded
    monkeypatch.setattr(
        sys,
        "argv",
        ["emofuse", "explain", "silence", str(system), "--transcripts", str(tmp_path / "none.jsonl"),
         "--out", str(tmp_path / "out"), "--reference-run", str(reference)],
    )  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    assert exc.value.code == 2
    assert message in " ".join(captured.err.split()), captured.err
    assert "Traceback" not in captured.err and len(captured.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
