"""Spread plots people read: dots and a median for few seeds, boxes from five, a chance line, percent units."""

from __future__ import annotations

import numpy as np

from emofuse.evaluate.plots import MIN_SEEDS_FOR_BOX, spread_figure
from emofuse.evaluate.report import chance_level, format_table, no_negative_zero


def test_three_seeds_are_dots_and_a_median_without_a_box() -> None:
    fig = spread_figure({"audio": [0.60, 0.62, 0.70], "text": [0.5, 0.52, 0.55]}, "uar", percent=True)
    ax = fig.axes[0]
    assert len(ax.lines) == 0, "a box (whiskers, caps, median line) was drawn from three points"
    medians = [c for c in ax.collections if c.__class__.__name__ == "LineCollection"]
    assert [float(m.get_segments()[0][0][1]) for m in medians] == [62.0, 52.0]
    dots = np.concatenate(
        [c.get_offsets()[:, 1] for c in ax.collections if c.__class__.__name__ == "PathCollection"]
    )
    assert sorted(np.round(dots, 6)) == [50.0, 52.0, 55.0, 60.0, 62.0, 70.0]  # percent, every seed
    assert ax.get_ylabel() == "uar (%)"


def test_five_seeds_get_a_box_and_chance_is_drawn() -> None:
    seeds = [0.6, 0.61, 0.63, 0.65, 0.7]
    assert len(seeds) == MIN_SEEDS_FOR_BOX
    fig = spread_figure({"audio": seeds}, "uar", chance=0.25, percent=True)
    ax = fig.axes[0]
    ys = [tuple(np.round(line.get_ydata(), 6)) for line in ax.lines]
    assert (25.0, 25.0) in ys, "no chance line at 25 %"
    assert len(ax.lines) > 1, "no box for five seeds"


def test_chance_levels_and_signs() -> None:
    labels = ["angry", "happy", "neutral", "sad"]
    assert chance_level("uar", labels) == 0.25
    assert chance_level("av_auc", labels) == 0.5
    assert chance_level("accuracy", labels, ["sad", "sad", "sad", "happy"]) == 0.75
    assert chance_level("ccc_valence", labels) == 0.0
    assert [no_negative_zero(t) for t in ("-0.000", "+0.0", "-0.001", "0.000")] == [
        "0.000",
        "0.0",
        "-0.001",
        "0.000",
    ]
    summary = {"avd": {"ccc": {"median": -0.0001, "iqr": 0.02, "mean": -0.0002, "std": 0.01, "n": 3}}}
    table = format_table(summary, ["ccc"])
    assert "-0.000" not in table and "0.000 ± 0.020" in table
