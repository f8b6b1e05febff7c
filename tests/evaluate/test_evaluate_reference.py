"""Paired t-tests against a named reference system (perez2022: every system against BERT), in the report and
through `emofuse report --reference`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from emofuse.evaluate import write_report
from emofuse.evaluate.errors import EvaluationError
from emofuse.evaluate.reference import reference_comparisons

SEEDS = 10


def _per_seed() -> pd.DataFrame:
    """``bert`` around .40; ``better`` = bert + .03 (+ small noise): significant; ``same`` = bert + symmetric
    noise with mean 0: not significant; ``fusion`` far better; ``audio`` a single-modality system."""
    rng = np.random.default_rng(3)
    bert = 0.40 + 0.02 * rng.standard_normal(SEEDS)
    noise = 0.002 * rng.standard_normal(SEEDS)
    wobble = 0.01 * np.array([1, -1] * (SEEDS // 2))
    systems = {
        "bert": bert,
        "better": bert + 0.03 + noise,
        "same": bert + wobble,
        "fusion": bert + 0.2 + noise,
        "audio": 0.3 + 0.02 * rng.standard_normal(SEEDS),
    }
    return pd.DataFrame(
        [
            {"system": s, "seed": k, "ccc": v[k], "ccc_arousal": v[k]}
            for s, v in systems.items()
            for k in range(SEEDS)
        ]
    )


def test_each_system_against_the_named_reference() -> None:
    per_seed = _per_seed()
    found = {c["system"]: c for c in reference_comparisons(per_seed, "bert", ["ccc"])}
    assert set(found) == {"better", "same", "fusion", "audio"} and all(
        c["baseline"] == "bert" for c in found.values()
    )
    assert found["better"]["significant"] is True and found["better"]["mean_difference"] == pytest.approx(
        0.03, abs=0.002
    )
    assert found["same"]["significant"] is False and found["same"]["mean_difference"] == pytest.approx(0.0)
    assert found["audio"]["significant"] is True and found["audio"]["mean_difference"] < 0
    by_seed = per_seed.pivot(index="seed", columns="system", values="ccc")
    assert found["better"]["p"] == pytest.approx(stats.ttest_rel(by_seed["better"], by_seed["bert"]).pvalue)
    assert found["better"]["n"] == SEEDS
    with pytest.raises(EvaluationError, match="reference system 'BERT' is not in the results"):
        reference_comparisons(per_seed, "BERT", ["ccc"])


def test_seeds_are_matched_not_positions() -> None:
    """Shuffling the rows changes nothing; a reference missing a seed is a note, not a wrong pairing."""
    per_seed = _per_seed()
    shuffled = per_seed.sample(frac=1.0, random_state=0)
    a = reference_comparisons(per_seed, "bert", ["ccc"])
    b = reference_comparisons(shuffled, "bert", ["ccc"])
    assert [(c["system"], c["p"]) for c in sorted(a, key=lambda c: c["system"])] == [
        (c["system"], c["p"]) for c in sorted(b, key=lambda c: c["system"])
    ]
    fewer = per_seed[~((per_seed["system"] == "bert") & (per_seed["seed"] == 0))]
    notes = {c["system"]: c for c in reference_comparisons(fewer, "bert", ["ccc"])}
    assert notes["better"]["p"] is None and "different seeds" in notes["better"]["note"]


def test_report_has_both_sections(tmp_path: Path) -> None:
    rep = write_report(_per_seed(), tmp_path, single_modality=["bert", "audio"], reference="bert")
    md = rep.markdown_path.read_text()
    assert "## Paired t-tests against the best single modality" in md  # the default section stays
    section = md.split("## Paired t-tests against bert", 1)[1].split("## Plots", 1)[0]
    rows = {
        line.split("|")[1].strip(): line
        for line in section.splitlines()
        if line.startswith("| ") and "ccc |" in line
    }
    assert "▲" in rows["better"] and " *" in rows["better"]
    assert "▲" not in rows["same"] and "*" not in rows["same"].split("|")[5]
    assert "▼" in rows["audio"]
    saved = json.loads(rep.json_path.read_text())
    assert (
        saved["reference"] == "bert" and len(saved["reference_comparisons"]) == 2 * 4
    )  # ccc_arousal and ccc
    without = write_report(_per_seed(), tmp_path / "plain", single_modality=["bert"])
    assert "against bert" not in without.markdown_path.read_text().split("## Plots")[0].replace(
        "Baseline: **bert**", ""
    )


def _write_runs(out: Path) -> None:
    """A finished-looking run output: predictions.csv per system/seed (A/V/D), bert's predictions noisier."""
    rng = np.random.default_rng(0)
    truth = rng.standard_normal(40)
    for system, noise in (("bert", 1.0), ("bert_sil", 0.5)):
        for seed in range(4):
            pred = truth + noise * rng.standard_normal(40)
            run = out / system / f"seed{seed}" / "fold1"
            run.mkdir(parents=True)
            pd.DataFrame(
                {
                    "system": system,
                    "seed": seed,
                    "fold": "fold1",
                    "utterance_id": [f"u{i}" for i in range(40)],
                    "true_arousal": truth,
                    "pred_arousal": pred,
                }
            ).to_csv(run / "predictions.csv", index=False)


def test_report_command_with_a_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from emofuse.cli.main import app, main

    _write_runs(tmp_path / "runs")
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(tmp_path / "runs"), "--reference", "bert"])
    assert result.exit_code == 0, result.output
    assert "paired t-tests against bert" in result.output
    saved = json.loads((tmp_path / "runs" / "report.json").read_text())
    ccc = next(c for c in saved["reference_comparisons"] if c["metric"] == "ccc")
    assert ccc["system"] == "bert_sil" and ccc["mean_difference"] > 0 and ccc["n"] == 4

    # through the CLI's error boundary: one line, exit code 2
    monkeypatch.setattr(sys, "argv", ["emofuse", "report", str(tmp_path / "runs"), "--reference", "nope"])
    with pytest.raises(SystemExit) as stop:
        main()
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "reference system 'nope' is not in the results" in err
    assert "Traceback" not in err
