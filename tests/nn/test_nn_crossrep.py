"""makiuchi2021 cross-representation model (tiny sizes)."""

from __future__ import annotations

import pytest
import torch

from emofuse.nn import CrossRepresentationLoss, CrossRepresentationModel, segment_frames


def _tiny(**kwargs) -> CrossRepresentationModel:
    sizes = dict(
        feature_dim=12,
        n_classes=4,
        num_layers=3,
        speaker_dim=8,
        n_phones=10,
        segment_frames=96,
        dim_neck=4,
        freq=48,
        conv_dim=16,
        phone_conv_dim=8,
        dim_phone_emb=4,
        dim_pre=16,
        decoder_lstm_dim=16,
        postnet_dim=8,
        n_mels=80,
        classifier_hidden=8,
    )
    sizes.update(kwargs)
    return CrossRepresentationModel(**sizes)


def test_shapes_and_bottleneck() -> None:
    model = _tiny()
    out = model(torch.randn(2, 3, 96, 12), torch.randn(2, 8), torch.randint(0, 10, (2, 96)))
    assert out["logits"].shape == (2, 4)
    assert out["codes"].shape == (2, 96 // 48, 2 * 4)  # "Small": [2d, 96/f]
    assert out["embedding"].shape == (2, model.out_dim) == (2, 16)
    assert out["mel"].shape == out["mel_postnet"].shape == (2, 96, 80)
    inference = model(torch.randn(2, 3, 96, 12), torch.randn(2, 8))
    assert "mel" not in inference
    weights = model.layer_weights()
    assert weights is not None and float(weights.detach().sum()) == pytest.approx(1.0)


def test_loss_trains_every_part() -> None:
    model = _tiny(classifier_hidden=16, classifier_dropout=0.0).train()
    mask = torch.ones(2, 96, dtype=torch.bool)
    mask[1, 60:] = False
    out = model(torch.randn(2, 3, 96, 12), torch.randn(2, 8), torch.randint(0, 10, (2, 96)), mask)
    losses = CrossRepresentationLoss()(out, torch.randn(2, 96, 80), torch.tensor([1, 3]), mask)
    assert set(losses) == {"loss", "recon", "recon_postnet", "emotion"}
    total = losses["recon"] + losses["recon_postnet"] + losses["emotion"]
    torch.testing.assert_close(losses["loss"], total)
    losses["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or float(p.grad.abs().sum()) == 0]
    assert missing == []


def test_reconstruction_loss_ignores_padded_frames() -> None:
    loss_fn = CrossRepresentationLoss()
    mel = torch.randn(1, 96, 80)
    out = {"mel": mel.clone(), "mel_postnet": mel.clone(), "logits": torch.zeros(1, 4)}
    mask = torch.zeros(1, 96, dtype=torch.bool)
    mask[0, :50] = True
    target = mel.clone()
    target[0, 50:] = 1e3  # padding: different target there must not matter
    assert float(loss_fn(out, target, torch.tensor([0]), mask)["recon"]) == 0.0
    assert float(loss_fn(out, target, torch.tensor([0]))["recon"]) > 0.0


def test_segment_frames_pads_the_last_segment() -> None:
    x = torch.arange(200.0).unsqueeze(1).repeat(1, 3)
    segments, mask = segment_frames(x, 96)
    assert segments.shape == (3, 96, 3) and mask.shape == (3, 96)
    assert int(mask.sum()) == 200 and bool(mask[2, 7]) and not bool(mask[2, 8])
    torch.testing.assert_close(segments[1, 0], x[96])
    assert torch.all(segments[2, 8:] == 0)
    layers, _ = segment_frames(torch.randn(5, 100, 4), 96)
    assert layers.shape == (2, 5, 96, 4)


def test_rejects_wrong_segment_length_and_phone_ids() -> None:
    model = _tiny()
    with pytest.raises(ValueError, match="96 frames"):
        model(torch.randn(1, 3, 90, 12), torch.randn(1, 8))
    with pytest.raises(ValueError, match="phone ids"):
        model(torch.randn(1, 3, 96, 12), torch.randn(1, 8), torch.full((1, 96), 10))
    with pytest.raises(ValueError, match="multiple of freq"):
        _tiny(freq=50)
