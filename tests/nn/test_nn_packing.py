"""Packed convolutions (emofuse.nn.packing): a branch on the real frames only gives the padded batch's outputs
and gradients; channels-last convolution equals conv1d; FrameDropout is dropout."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from emofuse.nn.branches import Conv1dBranch, PepinoAudioBranch, PepinoTextBranch
from emofuse.nn.dropout import FrameDropout
from emofuse.nn.packing import FramePacking, conv_frames

LENGTHS = [37, 5, 22, 1, 30, 9]  # mixed lengths: packing saves far more than MIN_SAVING


def _branches() -> dict[str, Conv1dBranch]:
    torch.manual_seed(0)
    return {
        "pepino_audio": PepinoAudioBranch(in_dim=6, filters=(8, 7), dropout=0.0),
        "pepino_text_bn": PepinoTextBranch(in_dim=6, proj_dim=5, filters=(8, 7)),  # dense + batch norm
        "even_kernels": Conv1dBranch(6, filters=(8, 7), kernel_sizes=(4, 2)),  # asymmetric 'same' padding
        "mixed_kernels": Conv1dBranch(6, filters=(8, 7, 3), kernel_sizes=(1, 7, 3)),
    }


def _padded_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Conv1dBranch, "_packing", lambda self, mask: None)


@pytest.mark.parametrize("name", list(_branches()))
@pytest.mark.parametrize("train", [False, True])
def test_packed_branch_equals_padded_outputs_and_gradients(name, train, monkeypatch, nnh) -> None:
    x, mask, _ = nnh.ragged_batch(LENGTHS, dim=6, pad_to=40)
    results = []
    for packed in (True, False):
        branch = _branches()[name]
        branch.train(train)
        with monkeypatch.context() as m:
            if not packed:
                _padded_only(m)
            else:  # the branch does pack this batch
                assert branch._packing(mask) is not None
            out = branch(x, mask)
            (out["embedding"].square().sum() + out["frames"].sum()).backward()
        grads = {k: p.grad.clone() for k, p in branch.named_parameters()}
        results.append((out["embedding"].detach(), out["frames"].detach(), grads))
    (emb_p, frames_p, grads_p), (emb_d, frames_d, grads_d) = results
    torch.testing.assert_close(emb_p, emb_d, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(frames_p, frames_d, rtol=1e-4, atol=1e-5)
    assert torch.all(frames_p[~mask] == 0)
    assert grads_p.keys() == grads_d.keys()
    for key in grads_p:
        torch.testing.assert_close(grads_p[key], grads_d[key], rtol=1e-3, atol=1e-4, msg=key)


def test_packed_frames_equal_each_utterance_alone(nnh) -> None:
    """A real frame's output is that of its utterance run alone (no padding, no neighbours)."""
    branch = _branches()["even_kernels"].eval()
    x, mask, rows = nnh.ragged_batch(LENGTHS, dim=6, pad_to=40)
    with torch.no_grad():
        frames = branch(x, mask)["frames"]
        for i, row in enumerate(rows):
            alone = branch(row.unsqueeze(0))["frames"][0]
            torch.testing.assert_close(frames[i, : len(row)], alone, rtol=1e-4, atol=1e-5)


def test_plan_packs_only_when_it_pays_and_applies(nnh) -> None:
    _, mask, _ = nnh.ragged_batch(LENGTHS, dim=2, pad_to=40)
    plan = FramePacking.plan(mask, 2, 2)
    assert plan is not None
    # every utterance, then max(left, right) zeros: starts at 2, 2+37+2, ...
    assert plan.length == 2 + sum(LENGTHS) + 2 * (len(LENGTHS) - 1) + 2
    assert plan.positions[:3].tolist() == [2, 3, 4] and plan.positions[37].item() == 2 + 37 + 2
    assert plan.frames.tolist() == mask.reshape(-1).nonzero().squeeze(1).tolist()
    same_length = torch.ones(4, 30, dtype=torch.bool)
    assert FramePacking.plan(same_length, 2, 2) is None  # nothing to save
    assert FramePacking.plan(mask[:1], 2, 2) is None  # one row
    holes = mask.clone()
    holes[0, 3] = False  # a row whose real frames are not all at its start
    assert FramePacking.plan(holes, 2, 2) is None


def test_packed_branch_with_an_empty_row(nnh) -> None:
    branch = _branches()["pepino_audio"].eval()
    x, mask, _ = nnh.ragged_batch([25, 0, 3], dim=6, pad_to=25)
    with torch.no_grad():
        out = branch(x, mask)
    assert torch.all(out["embedding"][1] == 0) and torch.all(out["frames"][1] == 0)
    assert torch.isfinite(out["embedding"]).all()


@pytest.mark.parametrize(("kernel", "stride", "dilation"), [(5, 1, 1), (4, 1, 1), (3, 2, 1), (3, 1, 2)])
def test_conv_frames_equals_conv1d(kernel, stride, dilation) -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(6, 9, kernel, stride=stride, dilation=dilation)
    x = torch.randn(3, 20, 6)
    expected = F.conv1d(x.transpose(1, 2), conv.weight, conv.bias, stride, 0, dilation).transpose(1, 2)
    torch.testing.assert_close(conv_frames(x, conv), expected, rtol=1e-5, atol=1e-6)


def test_frame_dropout_is_dropout() -> None:
    drop = FrameDropout(0.25)
    x = torch.ones(200, 500)
    assert drop.eval()(x) is x
    drop.train()
    torch.manual_seed(3)
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.75) < 0.01  # 100,000 draws: the kept fraction is 0.75 +- 0.004
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / 0.75))  # scaled: the mean is unchanged
    torch.manual_seed(3)
    assert torch.equal(drop(x), y)  # seeded: the same mask
    assert torch.equal(FrameDropout(0.0).train()(x), x)
    assert torch.all(FrameDropout(1.0).train()(x) == 0)
    assert not dict(drop.state_dict())  # no parameters: checkpoints of nn.Dropout load unchanged
    z = torch.ones(50, 40, requires_grad=True)
    torch.manual_seed(4)
    out = drop(z)
    out.sum().backward()
    assert torch.equal(z.grad, out.detach())  # gradient = the mask times the scale


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_a_trace_keeps_the_padded_path(nnh) -> None:
    """A trace (the ONNX export) of a ragged batch must not bake that batch's frame positions into the graph."""
    branch = _branches()["pepino_audio"].eval()
    x, mask, _ = nnh.ragged_batch(LENGTHS, dim=6, pad_to=40)

    class Embedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.branch = branch

        def forward(self, a: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
            return self.branch(a, m)["embedding"]

    with torch.no_grad():
        traced = torch.jit.trace(Embedding(), (x, mask), check_trace=False)
        other_x, other_mask, _ = nnh.ragged_batch([3, 40, 12, 7, 18, 25], dim=6, pad_to=40, seed=5)
        torch.testing.assert_close(
            traced(other_x, other_mask), branch(other_x, other_mask)["embedding"], rtol=1e-4, atol=1e-5
        )
