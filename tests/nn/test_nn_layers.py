"""Layer weighting, pooling and masked batch norm."""

from __future__ import annotations

import pytest
import torch

from emofuse.nn import LayerWeighting, MaskedBatchNorm1d, Pooling
from emofuse.nn.masking import lengths_from_mask


@pytest.mark.parametrize("mode", ["softmax", "sum_normalized"])
def test_layer_weighting_weights_sum_to_one_and_match_formula(mode: str) -> None:
    lw = LayerWeighting(5, mode=mode)
    with torch.no_grad():
        lw.raw_weights.copy_(torch.tensor([0.3, 1.2, 2.0, 0.5, 1.0]))
    w = lw.weights().detach()
    assert w.shape == (5,)
    assert float(w.sum()) == pytest.approx(1.0, abs=1e-6)
    x = torch.randn(2, 5, 7, 3)
    out = lw(x)
    assert out.shape == (2, 7, 3)
    raw = lw.raw_weights.detach()
    if mode == "softmax":
        expected = (torch.softmax(raw, 0)[None, :, None, None] * x).sum(1)
    else:  # makiuchi2021 Eq. 1: sum_i a_i h_i / sum_i a_i
        expected = (raw[None, :, None, None] * x).sum(1) / raw.sum()
    torch.testing.assert_close(out, expected)


def test_layer_weighting_initially_averages_and_learns() -> None:
    lw = LayerWeighting(4, "sum_normalized")
    x = torch.randn(3, 4, 6, 2)
    torch.testing.assert_close(lw(x), x.mean(1))
    # a target equal to layer 2 pulls the weights towards layer 2
    opt = torch.optim.SGD(lw.parameters(), lr=0.5)
    for _ in range(50):
        opt.zero_grad()
        loss = ((lw(x) - x[:, 2]) ** 2).mean()
        loss.backward()
        opt.step()
    assert int(lw.weights().argmax()) == 2


def test_layer_weighting_rejects_wrong_layer_count() -> None:
    with pytest.raises(ValueError, match="L=3"):
        LayerWeighting(3)(torch.randn(2, 4, 5, 6))


def _ragged(lengths, dim=4, pad_to=9):
    x = 100 * torch.randn(len(lengths), pad_to, dim)
    mask = torch.zeros(len(lengths), pad_to, dtype=torch.bool)
    for i, n in enumerate(lengths):
        mask[i, :n] = True
        x[i, :n] = torch.randn(n, dim)
    return x, mask


@pytest.mark.parametrize("kind", ["mean", "max", "mean_max", "attention"])
def test_pooling_ignores_padding(kind: str) -> None:
    pool = Pooling(kind, dim=4)
    x, mask = _ragged([9, 3, 6])
    out = pool(x, mask)
    assert out.shape == (3, pool.out_dim)
    assert pool.out_dim == (8 if kind == "mean_max" else 4)
    for i, n in enumerate([9, 3, 6]):
        alone = pool(x[i : i + 1, :n], torch.ones(1, n, dtype=torch.bool))
        torch.testing.assert_close(out[i : i + 1], alone)
    if kind == "mean":
        torch.testing.assert_close(out[1], x[1, :3].mean(0))
    if kind == "max":
        torch.testing.assert_close(out[1], x[1, :3].max(0).values)


def test_attention_pooling_weights_are_zero_on_padding_and_sum_to_one() -> None:
    pool = Pooling("attention", dim=4)
    x, mask = _ragged([9, 3, 6])
    pool(x, mask)
    alpha = pool.attention.last_weights
    assert alpha is not None
    assert torch.all(alpha[~mask] == 0)
    torch.testing.assert_close(alpha.sum(1), torch.ones(3))


def test_pooling_all_padding_row_gives_zeros_not_nan() -> None:
    x, mask = _ragged([4, 0])
    for kind in ("mean", "max", "attention"):
        out = Pooling(kind, dim=4)(x, mask)
        assert torch.isfinite(out).all()
        assert torch.all(out[1] == 0)


def test_masked_batch_norm_statistics_use_real_frames_only() -> None:
    bn = MaskedBatchNorm1d(4)
    x, mask = _ragged([9, 3, 6])
    out = bn(x, mask)
    real = out[mask]
    torch.testing.assert_close(real.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(real.var(0, unbiased=False), torch.ones(4), atol=1e-3, rtol=0)
    frames = x[mask]
    torch.testing.assert_close(bn.running_mean, 0.1 * frames.mean(0))
    bn.eval()
    y = torch.randn(2, 5, 4)
    expected = (y - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(bn(y), expected)


def test_lengths_from_mask_requires_left_aligned_when_asked() -> None:
    mask = torch.tensor([[True, True, False], [False, True, True]])
    assert lengths_from_mask(mask).tolist() == [2, 2]
    with pytest.raises(ValueError, match="left-aligned"):
        lengths_from_mask(mask, require_prefix=True)


def test_pooling_rejects_bad_shapes_and_kinds() -> None:
    with pytest.raises(ValueError, match="pooling kind"):
        Pooling("median", dim=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"mask"):
        Pooling("mean", dim=3)(torch.randn(2, 5, 3), torch.ones(2, 4, dtype=torch.bool))
