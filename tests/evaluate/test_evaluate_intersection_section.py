"""The report's kumar2021 section renders the summary file: values, skipped layers, only the report's systems."""

from __future__ import annotations

import json
from pathlib import Path

from emofuse.evaluate.intersection_section import intersection_section


def test_section_renders_summary_and_says_why_a_layer_is_missing(tmp_path: Path) -> None:
    assert intersection_section(tmp_path, ["a"]) == []  # no summary file: no section
    entry = {
        "classes": ["x", "y"],
        "matrix": [[1.0, 0.25], [0.25, 1.0]],
        "mean_off_diagonal": 0.25,
        "n_folds": 3,
        "dim": 4,
        "plots": {
            "pca": "plots/intersection/a/output_pca.png",
            "matrix": "plots/intersection/a/output_matrix.png",
        },
    }
    summary = {
        "a": {
            "seed": 0,
            "layers": {"hidden": {"skipped": "no layer 'hidden' in this model"}, "output": entry},
        },
        "old": {"seed": 1, "layers": {"output": entry}},
        "broken": {"seed": None, "layers": {}, "skipped": "a feature is missing from the store"},
    }
    (tmp_path / "intersection_summary.json").write_text(json.dumps(summary))
    text = "\n".join(intersection_section(tmp_path, ["a", "b", "broken"]))
    assert "| a | 0 | - | 0.250 |" in text  # hidden skipped, output's mean off-diagonal overlap
    assert "Not computed: no layer 'hidden' in this model." in text
    assert "| x | 1.000 | 0.250 |" in text and "plots/intersection/a/output_pca.png" in text
    assert "| broken | - | - | - |" in text and "Not computed: a feature is missing from the store" in text
    assert "| old |" not in text  # a system that is not in this report is not shown
