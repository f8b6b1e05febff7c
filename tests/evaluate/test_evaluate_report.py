"""Reports: markdown + JSON + PNG plots from a synthetic predictions table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from emofuse.evaluate import (
    EvaluationError,
    metrics_from_predictions,
    paired_ttest_by_seed,
    summarise_systems,
)
from emofuse.evaluate.report import format_table, write_report

LABELS = ["ang", "hap", "neu", "sad"]


def _png_ok(path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_report_from_predictions(tmp_path, predictions_factory) -> None:
    # text is the better single modality; the fusion systems are better still
    df = predictions_factory(
        {"audio": 0.6, "text": 1.2, "EF-CS": 2.4, "LF-PT": 2.0}, seeds=5, folds=3, per_fold=20
    )
    report = write_report(df, tmp_path / "rep", single_modality=["audio", "text"], title="pepino2020 demo")
    assert report.task == "classes"
    assert report.metrics == ["accuracy", "uar", "av_auc"]
    per_seed = metrics_from_predictions(df)
    medians = per_seed.groupby("system")["uar"].median()
    assert report.best_single == ("text" if medians["text"] >= medians["audio"] else "audio") == "text"

    data = json.loads(report.json_path.read_text())
    assert data["best_single_modality"] == "text"
    assert list(data["summary"]) == ["audio", "text", "EF-CS", "LF-PT"]
    assert data["summary"]["EF-CS"]["uar"]["median"] == pytest.approx(
        per_seed[per_seed.system == "EF-CS"]["uar"].median()
    )
    comparisons = {(c["system"], c["metric"]): c for c in data["comparisons"]}
    assert set(comparisons) == {(s, m) for s in ("EF-CS", "LF-PT") for m in ("accuracy", "uar", "av_auc")}
    expected = paired_ttest_by_seed(per_seed, "EF-CS", "text", "uar")
    assert comparisons[("EF-CS", "uar")]["p"] == pytest.approx(expected.p)
    assert comparisons[("EF-CS", "uar")]["mean_difference"] > 0
    assert len(data["per_seed"]) == 4 * 5

    md = report.markdown_path.read_text()
    assert "# pepino2020 demo" in md
    assert "| system | accuracy (%) | uar (%) | av_auc | seeds |" in md
    ef_median = 100 * per_seed[per_seed.system == "EF-CS"]["uar"].median()
    assert f"{ef_median:.1f} ±" in md
    assert "Baseline: **text**" in md

    names = sorted(p.name for p in (tmp_path / "rep" / "plots").iterdir())
    assert names == sorted(
        ["spread_accuracy.png", "spread_uar.png", "spread_av_auc.png", "per_class_recall.png"]
        + [f"confusion_{s}.png" for s in ("audio", "text", "EF-CS", "LF-PT")]
    )
    for kind_paths in report.plots.values():
        for path in kind_paths:
            _png_ok(path)
            assert f"]({path.relative_to(tmp_path / 'rep').as_posix()})" in md
    assert (tmp_path / "rep" / "per_seed.csv").exists() and (tmp_path / "rep" / "per_fold.csv").exists()


def test_report_from_per_seed_metrics_and_avd(tmp_path) -> None:
    rng = np.random.default_rng(0)
    rows = []
    for system, level in (("text", 0.3), ("audio+text", 0.5)):
        for seed in range(4):
            a, v = level + rng.normal(scale=0.02), level - 0.1 + rng.normal(scale=0.02)
            rows.append(
                {"system": system, "seed": seed, "ccc_arousal": a, "ccc_valence": v, "ccc": (a + v) / 2}
            )
    report = write_report(pd.DataFrame(rows), tmp_path / "avd", single_modality=["text"])
    assert report.task == "avd"
    assert report.metrics == ["ccc_arousal", "ccc_valence", "ccc"]
    assert report.best_single == "text"
    assert all(c["mean_difference"] > 0.1 for c in report.comparisons)
    assert not report.plots["confusion"]
    for path in report.plots["spread"]:
        _png_ok(path)


def test_report_rejects_unknown_single_modality(tmp_path, predictions_factory) -> None:
    df = predictions_factory({"audio": 1.0, "fusion": 2.0}, seeds=2, folds=1, per_fold=12)
    with pytest.raises(EvaluationError, match=r"\['txt'\]"):
        write_report(df, tmp_path, single_modality=["txt"])


def test_report_with_one_seed_notes_instead_of_failing(tmp_path, predictions_factory) -> None:
    df = predictions_factory({"audio": 1.0, "fusion": 2.0}, seeds=1, folds=2, per_fold=12)
    report = write_report(df, tmp_path, single_modality=["audio"])
    assert all(c["p"] is None and "at least 2" in c["note"] for c in report.comparisons)
    assert "Note: paired t-test needs at least 2" in report.markdown_path.read_text()


def test_format_table_hand_worked() -> None:
    per_seed = pd.DataFrame(
        {
            "system": ["a"] * 4,
            "seed": range(4),
            "uar": [0.5, 0.6, 0.7, 0.8],
            "av_auc": [0.70, 0.72, 0.74, 0.76],
        }
    )
    summary = summarise_systems(per_seed)
    table = format_table(summary)
    lines = table.splitlines()
    assert lines[0] == "| system | uar (%) | av_auc | seeds |"
    # uar: median 0.65, IQR 0.725 - 0.575 = 0.15 -> 65.0 ± 15.0 (percent); av_auc: median .73, IQR .03
    assert lines[2] == "| a | 65.0 ± 15.0 | 0.730 ± 0.030 | 4 |"
    mean_table = format_table(summary, center="mean")
    assert "| a | 65.0 ± 12.9 |" in mean_table  # std ddof=1 of .5,.6,.7,.8 = .129
