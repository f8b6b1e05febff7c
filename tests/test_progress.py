"""Progress in a log: plain lines at most every few seconds, always the last one, nothing when disabled."""

from __future__ import annotations

import io

from emofuse.progress import PlainProgress, progress


def test_plain_lines_are_periodic_and_the_last_is_always_printed(monkeypatch) -> None:  # noqa: ANN001
    clock = iter(float(t) for t in range(0, 1000, 3))  # every call to perf_counter is 3 s later
    monkeypatch.setattr("emofuse.progress.time.perf_counter", lambda: next(clock))
    out = io.StringIO()
    with PlainProgress(every_s=10.0, stream=out) as bar:
        task = bar.add_task("transcribing", total=12)
        for _ in range(12):
            bar.advance(task)
    lines = out.getvalue().splitlines()
    assert 2 <= len(lines) < 12, lines  # not one per item, but not silent either
    assert lines[-1].startswith("transcribing: 12/12 (100%)")
    assert "left" in lines[0] and "left" not in lines[-1]


def test_disabled_prints_nothing_and_log_output_gets_plain_lines(capsys) -> None:  # noqa: ANN001
    with progress(enabled=False) as bar:
        task = bar.add_task("quiet", total=2)
        bar.advance(task, 2)
    with progress() as bar:  # pytest's captured stderr is not a terminal
        assert isinstance(bar, PlainProgress)
        task = bar.add_task("runs", total=2)
        bar.update(task, advance=2, description="runs (ef_pt seed 0 fold1)")
    err = capsys.readouterr().err
    assert "quiet" not in err and "runs (ef_pt seed 0 fold1): 2/2 (100%)" in err
