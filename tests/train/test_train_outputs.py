"""Score-fusion weights tuned on dev (makiuchi2021 Eq. 4), with the project's one ``uar``."""

from __future__ import annotations

import pytest
import torch

from emofuse.nn import DenseBranch, FusionModel
from emofuse.train.outputs import tune_score_weights


def test_tune_score_weights_hand_worked_case() -> None:
    # "good" is right with probability 0.65, "bad" is confidently wrong (0.9). Fused class 0 wins iff
    # 0.65 w + 0.1 (1 - w) > 0.35 w + 0.9 (1 - w), i.e. w > 0.727: the smallest grid value is 0.8.
    y = torch.tensor([0, 0, 1, 1])
    good = torch.tensor([[0.65, 0.35], [0.65, 0.35], [0.35, 0.65], [0.35, 0.65]])
    bad = torch.tensor([[0.1, 0.9], [0.1, 0.9], [0.9, 0.1], [0.9, 0.1]])
    weights = tune_score_weights({"good": good.numpy(), "bad": bad.numpy()}, y.numpy())
    assert weights == pytest.approx({"good": 0.8, "bad": 0.2})
    model = FusionModel(
        {"good": DenseBranch(2, None), "bad": DenseBranch(2, None)}, fusion="score", n_outputs=2
    )
    model.set_score_weights(weights)
    assert model.get_score_weights() == pytest.approx(weights)
