"""Rank detection for DDP jobs without importing Lightning in the report step."""

from __future__ import annotations

import subprocess
import sys

import pytest

from emofuse.train.rank import RANK_ENV_VARS, is_rank_zero


def test_rank_from_the_environment_when_lightning_is_not_loaded() -> None:
    code = (
        "import sys; from emofuse.train.rank import is_rank_zero; "
        "print(is_rank_zero(), 'lightning' in sys.modules)"
    )
    env_base = {k: v for k, v in __import__("os").environ.items() if k not in RANK_ENV_VARS}
    outs = [
        subprocess.run(
            [sys.executable, "-c", code],
            env={**env_base, **extra},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        for extra in ({}, {"LOCAL_RANK": "1"}, {"SLURM_PROCID": "0"}, {"RANK": "2", "LOCAL_RANK": "0"})
    ]
    assert outs == [["True", "False"], ["False", "False"], ["True", "False"], ["False", "False"]]


def test_lightning_rank_wins_once_lightning_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    for key in RANK_ENV_VARS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(rank_zero_only, "rank", 1, raising=False)
    assert is_rank_zero() is False
    monkeypatch.setattr(rank_zero_only, "rank", 0, raising=False)
    assert is_rank_zero() is True
