"""Runs reproducible for a seed on one machine: fixed threads and deterministic algorithms in every run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from emofuse.train.determinism import deterministic_runs
from emofuse.train.runner import run_experiment


def _metrics(out: Path) -> dict[str, Any]:
    return {
        p.relative_to(out).as_posix(): json.loads(p.read_text())["test"]
        for p in sorted(out.glob("*/seed*/fold*/metrics.json"))
    }


def test_two_runs_with_the_same_seed_give_identical_metrics(tiny_corpus: Any, tmp_path: Path) -> None:
    """The same grid twice in this process (a fusion model with dropout, shuffled batches, two folds): the
    same metrics to the last bit and the same predictions; during each run torch has the asked thread count
    and deterministic algorithms, and both are restored afterwards."""
    torch.use_deterministic_algorithms(False)
    seen: list[tuple[int, bool, bool]] = []

    def check(row: dict[str, Any]) -> None:
        seen.append(
            (
                torch.get_num_threads(),
                torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
            )
        )

    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        run_experiment(
            [tiny_corpus.recipe("pepino2020/ef_cs")],
            tiny_corpus.table,
            tiny_corpus.folds,
            tiny_corpus.store,
            out,
            seeds=1,
            encoder_ids=tiny_corpus.encoder_ids,
            extract_missing=False,
            progress=False,
            torch_threads=2,
            on_run_done=check,
        )
    first, second = _metrics(outs[0]), _metrics(outs[1])
    assert len(first) == 2 and first == second
    for name in first:
        run = Path(name).parent
        a = (outs[0] / run / "predictions.csv").read_text()
        assert a == (outs[1] / run / "predictions.csv").read_text()
    assert seen == [(2, True, True)] * 4
    assert torch.get_num_threads() == 1  # the test's own setting (conftest), restored
    assert not torch.are_deterministic_algorithms_enabled()


def test_deterministic_runs_restores_what_it_changed() -> None:
    torch.use_deterministic_algorithms(True)  # strict, as a caller may have set it
    try:
        with deterministic_runs(None) as threads:
            assert threads == torch.get_num_threads() == 1  # no count asked: the one torch uses now
            assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
