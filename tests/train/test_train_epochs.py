"""The grid's progress display: runs and epochs, an epoch budget per run, plain lines in a log."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from emofuse.train.epochs import GridProgress, epoch_listener, planned_epochs, report_epoch


def test_epochs_advance_per_epoch_and_a_run_that_ends_early_counts_its_budget(
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b, c = ("audio", 0, 0), ("audio", 0, 1), ("ef_cs", 0, 0)
    with GridProgress({a: 3, b: 3, c: 4}, enabled=True, every_s=3600) as bar:  # captured stderr: plain lines
        assert bar.total_epochs == 10
        for epoch in (1, 2, 3):
            bar.epoch(a, epoch)
        bar.epoch(a, 4)  # beyond the budget (never counted twice)
        bar.epoch(c, 1, "pretrain_audio")  # pre-training epochs are not in the budget
        assert bar._bar.tasks[bar._epochs].completed == 3
        bar.finished(a, {"system": "audio", "seed": 0, "fold": "fold1", "status": "trained", "uar": 0.5})
        bar.epoch(c, 1)
        bar.finished(c, {"system": "ef_cs", "seed": 0, "fold": "fold1", "status": "trained"})  # stopped early
        assert bar._bar.tasks[bar._epochs].completed == 7
        bar.finished(b, {"system": "audio", "seed": 0, "fold": "fold2", "status": "skipped"})
    err = capsys.readouterr().err.splitlines()
    assert any(line.startswith("runs: 3/3 (100%)") for line in err), err
    assert any(line.startswith("epochs: 10/10 (100%)") for line in err), err


def test_no_epoch_row_when_a_budget_is_unknown_and_fits_report_to_the_innermost_listener() -> None:
    with GridProgress({("m", 0, 0): None, ("m", 0, 1): 5}, enabled=False) as bar:
        assert bar.total_epochs is None and bar._epochs is None
        bar.epoch(("m", 0, 0), 1)  # nothing to show, nothing fails
    heard: list[tuple[str, int, str]] = []
    with epoch_listener(lambda e, phase: heard.append(("outer", e, phase))):
        report_epoch(1, "train")
        with epoch_listener(lambda e, phase: heard.append(("inner", e, phase))):
            report_epoch(2, "train")
        report_epoch(3, "pretrain_text")
    report_epoch(4, "train")  # no listener: ignored
    assert heard == [("outer", 1, "train"), ("inner", 2, "train"), ("outer", 3, "pretrain_text")]
    training = SimpleNamespace(max_epochs=30, max_steps=None)
    assert planned_epochs(SimpleNamespace(estimator=None, training=training)) == 30
    assert planned_epochs(SimpleNamespace(estimator=object(), training=training)) == 0
    steps = SimpleNamespace(max_epochs=30, max_steps=1000)
    assert planned_epochs(SimpleNamespace(estimator=None, training=steps)) is None
