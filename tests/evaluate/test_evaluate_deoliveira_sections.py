"""deoliveira2023's report sections: relative valence improvement over audio-only (Fig. 3) and the
transcripts / WER table beside the CCCs (Table 2), from per-seed metrics whose values are known."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from matplotlib.image import imread

from emofuse.evaluate.relative_gain import plot_relative_improvement, relative_improvements
from emofuse.evaluate.report import write_report

# median valence CCC over seeds: audio .25, fusion .40 (+60 %), audio_ft .50, fusion_ft .55 (+10 %)
VALENCE = {
    "audio": [0.20, 0.25, 0.30],
    "fusion": [0.40, 0.38, 0.45],
    "audio_ft": [0.50, 0.52, 0.47],
    "fusion_ft": [0.55, 0.60, 0.50],
}
BASELINES = {"fusion": "audio", "fusion_ft": "audio_ft"}


def _per_seed() -> pd.DataFrame:
    rows = []
    for system, values in VALENCE.items():
        for seed, v in enumerate(values):
            a, d = 0.6 + 0.01 * seed, 0.5
            rows.append(
                {"system": system, "seed": seed, "ccc_arousal": a, "ccc_valence": v, "ccc_dominance": d}
                | {"ccc": (a + v + d) / 3}
            )
    return pd.DataFrame(rows)


def test_relative_improvements_are_median_ratios() -> None:
    summary = {s: {"ccc_valence": {"median": float(pd.Series(v).median())}} for s, v in VALENCE.items()}
    rows = {r["system"]: r for r in relative_improvements(summary, {**BASELINES, "ghost": "audio"})}
    assert set(rows) == {"fusion", "fusion_ft"}  # a system not in the results is left out
    assert rows["fusion"]["relative_pct"] == pytest.approx(100 * (0.40 - 0.25) / 0.25)
    assert rows["fusion_ft"]["relative_pct"] == pytest.approx(100 * (0.55 - 0.50) / 0.50)
    zero = {"a": {"ccc_valence": {"median": 0.0}}, "f": {"ccc_valence": {"median": 0.1}}}
    assert math.isnan(relative_improvements(zero, {"f": "a"})[0]["relative_pct"])


def test_plot_bars_carry_the_values(tmp_path) -> None:
    rows = [
        {"system": "f1", "baseline": "a1", "metric": "ccc_valence", "relative_pct": 60.0},
        {"system": "f2", "baseline": "a2", "metric": "ccc_valence", "relative_pct": -5.0},
    ]
    fig = plot_relative_improvement(rows, tmp_path / "rel.png")
    assert [p.get_height() for p in fig.axes[0].patches] == [60.0, -5.0]
    assert (tmp_path / "rel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_writes_fig3_and_table2(tmp_path) -> None:
    quality = {
        "fusion": {"transcripts": "human", "wer": None, "n_utterances": 30},
        "fusion_ft": {"transcripts": "ASR: faster-whisper base", "wer": 0.241, "n_utterances": 30},
    }
    report = write_report(
        _per_seed(),
        tmp_path / "rep",
        single_modality=["audio", "audio_ft"],
        audio_baselines=BASELINES,
        transcript_quality=quality,
    )
    (plot,) = report.plots["relative_improvement"]
    assert plot == tmp_path / "rep" / "plots" / "relative_ccc_valence.png"
    assert imread(plot)[..., :3].std() > 0.05
    data = json.loads(report.json_path.read_text())
    rel = {r["system"]: r["relative_pct"] for r in data["relative_improvement"]}
    assert rel == pytest.approx({"fusion": 60.0, "fusion_ft": 10.0})
    assert {r["system"]: r["wer"] for r in data["transcripts"]} == {"fusion": None, "fusion_ft": 0.241}
    assert data["transcripts"][1]["scores"]["ccc_valence"] == pytest.approx(0.55)
    md = report.markdown_path.read_text()
    assert "| fusion | audio | 0.400 | 0.250 | +60.0% |" in md
    assert "| fusion_ft | ASR: faster-whisper base | 24.1% | 0.610 | 0.500 | 0.550 | 0.550 |" in md
    assert "| fusion | human | - |" in md
    assert md.index("Table 2") < md.index("## Plots") and "relative_ccc_valence.png" in md


def test_report_without_pairs_has_no_extra_sections(tmp_path) -> None:
    report = write_report(_per_seed(), tmp_path / "rep", single_modality=["audio"])
    assert "relative_improvement" not in report.plots
    data = json.loads(report.json_path.read_text())
    assert "relative_improvement" not in data and "transcripts" not in data
    assert "Fig. 3" not in report.markdown_path.read_text()
