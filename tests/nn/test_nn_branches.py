"""Branches: shapes, gradients, padding invariance (eval and train mode), pre-pool layers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from emofuse.nn import (
    CNNTextBranch,
    Conv1dBranch,
    DenseBranch,
    GRUAttentionBranch,
    LSTMBranch,
    MeanMaxBranch,
    PepinoAudioBranch,
    PepinoTextBranch,
)

LENGTHS = [11, 4, 7]

# name -> (factory, input dim, layers or None)
BRANCHES: dict[str, tuple[Callable[[], nn.Module], int, int | None]] = {
    "pepino_text": (lambda: PepinoTextBranch(in_dim=24, proj_dim=16, filters=(16, 12)), 24, None),
    "pepino_audio": (lambda: PepinoAudioBranch(in_dim=36, filters=(16, 10), dropout=0.0), 36, None),
    "cnn_text": (lambda: CNNTextBranch(in_dim=20, filters=(16, 16, 8, 6)), 20, None),
    "gru_attention": (lambda: GRUAttentionBranch(in_dim=12, hidden=10, out_dim=9), 12, None),
    "gru_bidirectional": (lambda: GRUAttentionBranch(in_dim=12, hidden=6, bidirectional=True), 12, None),
    "dense": (lambda: DenseBranch(in_dim=8, out_dim=16), 8, None),
    "dense_frames": (lambda: DenseBranch(in_dim=8, hidden=6, out_dim=5), 8, None),  # kumar2021 baseline
    "lstm": (lambda: LSTMBranch(in_dim=12, hidden=10, out_dim=9), 12, None),
    "lstm_bidirectional": (
        lambda: LSTMBranch(in_dim=12, hidden=6, num_layers=2, bidirectional=True),
        12,
        None,
    ),
    "mean_max": (lambda: MeanMaxBranch(in_dim=10), 10, None),
    "mean_max_layers": (lambda: MeanMaxBranch(in_dim=10, num_layers=4, proj_dim=6), 10, 4),
}


@pytest.mark.parametrize("name", sorted(BRANCHES))
def test_branch_shapes_and_gradients(name: str, nnh) -> None:
    factory, dim, layers = BRANCHES[name]
    branch = factory()
    x, mask, _ = nnh.ragged_batch(LENGTHS, dim, pad_to=12, layers=layers)
    out = branch(x, mask)
    assert set(out) >= {"embedding", "frames", "mask"}
    assert out["embedding"].shape == (3, branch.out_dim)
    assert out["frames"].shape[0] == 3 and out["mask"].shape == out["frames"].shape[:2]
    assert torch.isfinite(out["embedding"]).all()
    if any(p.requires_grad for p in branch.parameters()):
        out["embedding"].pow(2).sum().backward()
        assert nnh.params_without_grad(branch) == []
    pre_pool = branch.pre_pool_modules()
    assert isinstance(pre_pool, list)
    assert all(isinstance(m, nn.Module) for m in pre_pool)


@pytest.mark.parametrize("name", sorted(BRANCHES))
def test_branch_padding_does_not_change_outputs_eval(name: str, nnh) -> None:
    factory, dim, layers = BRANCHES[name]
    branch = factory().eval()
    x, mask, rows = nnh.ragged_batch(LENGTHS, dim, pad_to=12, layers=layers)
    with torch.no_grad():
        batched = branch(x, mask)["embedding"]
        for i, row in enumerate(rows):
            n = LENGTHS[i]
            alone = branch(row.unsqueeze(0), torch.ones(1, n, dtype=torch.bool))["embedding"]
            torch.testing.assert_close(batched[i : i + 1], alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(BRANCHES))
def test_branch_padding_does_not_change_outputs_train(name: str, nnh) -> None:
    """In training mode (batch statistics) more padding must not change anything either."""
    factory, dim, layers = BRANCHES[name]
    branch = factory().train()
    x, mask, _ = nnh.ragged_batch(LENGTHS, dim, pad_to=12, layers=layers)
    x2, mask2 = nnh.repad(x, mask, extra=9)
    a = branch(x, mask)
    b = branch(x2, mask2)
    torch.testing.assert_close(a["embedding"], b["embedding"], atol=1e-5, rtol=1e-4)
    frames_a, frames_b = a["frames"], b["frames"][:, : a["frames"].shape[1]]
    torch.testing.assert_close(frames_a[a["mask"]], frames_b[a["mask"]], atol=1e-5, rtol=1e-4)


def test_pepino_text_branch_matches_paper_structure() -> None:
    branch = PepinoTextBranch()
    assert branch.proj is not None and branch.proj.linear.in_features == 768
    assert branch.proj.linear.out_features == 128  # L_T1: 768 -> 128 per token
    assert len(branch.convs) == 2  # L_T2, L_T3
    # batch norm in all layers
    assert branch.proj.norm is not None and all(block.norm is not None for block in branch.convs)
    assert branch.pre_pool_modules() == [branch.convs[1]]  # L_T3
    audio = PepinoAudioBranch()
    assert audio.convs[0].conv.in_channels == 36 and len(audio.convs) == 2
    assert audio.convs[1].dropout.p == 0.5 and audio.convs[0].dropout.p == 0.0  # dropout at input of L_A2
    assert audio.pre_pool_modules() == [audio.convs[1]]  # L_A2
    assert branch.out_dim + audio.out_dim == 232  # the paper's fused embedding size


def test_cnn_text_branch_follows_makiuchi_sizes() -> None:
    branch = CNNTextBranch()
    sizes = [(b.conv.in_channels, b.conv.out_channels, b.conv.kernel_size[0]) for b in branch.convs]
    assert sizes == [(1024, 256, 1), (256, 256, 1), (256, 128, 8), (128, 64, 4)]
    assert branch.out_dim == 64


def test_conv_branch_with_even_kernel_keeps_length_and_masks() -> None:
    branch = Conv1dBranch(5, filters=(4,), kernel_sizes=(4,))
    out = branch(torch.randn(2, 7, 5), torch.ones(2, 7, dtype=torch.bool))
    assert out["frames"].shape == (2, 7, 4)


def test_conv_branch_validates_arguments() -> None:
    with pytest.raises(ValueError, match="same non-zero length"):
        Conv1dBranch(5, filters=(4, 4), kernel_sizes=(3,))
    with pytest.raises(ValueError, match="one per layer"):
        Conv1dBranch(5, filters=(4, 4), kernel_sizes=(3, 3), dropout=(0.1,))
    with pytest.raises(ValueError, match=r"\[B, T, D\]"):
        Conv1dBranch(5, filters=(4,), kernel_sizes=(3,))(torch.randn(7, 5))


def test_gru_branch_rejects_holes_in_mask() -> None:
    branch = GRUAttentionBranch(in_dim=3, hidden=4)
    mask = torch.tensor([[True, False, True]])
    with pytest.raises(ValueError, match="left-aligned"):
        branch(torch.randn(1, 3, 3), mask)


def test_dense_branch_pass_through_and_pooled_input() -> None:
    branch = DenseBranch(in_dim=6, out_dim=None)
    x = torch.randn(4, 1, 6)
    out = branch(x, torch.ones(4, 1, dtype=torch.bool))
    torch.testing.assert_close(out["embedding"], x[:, 0])
    assert branch.out_dim == 6 and branch.pre_pool_modules() == []


def test_mean_max_branch_layer_weights_and_errors() -> None:
    branch = MeanMaxBranch(in_dim=4, num_layers=3)
    weights = branch.layer_weights()
    assert weights is not None and float(weights.detach().sum()) == pytest.approx(1.0)
    x = torch.randn(2, 3, 5, 4)
    out = branch(x, torch.ones(2, 5, dtype=torch.bool))
    mean_layers = x.mean(1)  # equal initial weights
    expected = torch.cat([mean_layers.mean(1), mean_layers.max(1).values], -1)
    torch.testing.assert_close(out["embedding"], expected)
    with pytest.raises(ValueError, match="num_layers"):
        MeanMaxBranch(in_dim=4)(x, torch.ones(2, 5, dtype=torch.bool))


def test_lstm_branch_embedding_is_the_last_real_state(nnh) -> None:
    """kumar2021's baseline text model reads the LSTM state after the last real token, never after padding."""
    branch = LSTMBranch(in_dim=5, hidden=4, out_dim=None).eval()
    x, mask, _ = nnh.ragged_batch(LENGTHS, 5, pad_to=12)
    with torch.no_grad():
        out = branch(x, mask)
    last = torch.stack([out["frames"][i, n - 1] for i, n in enumerate(LENGTHS)])
    torch.testing.assert_close(out["embedding"], last)
    assert branch.out_dim == 4
