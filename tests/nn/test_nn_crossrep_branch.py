"""makiuchi2021's model as a FusionModel branch: 96-frame random crops in training, the mean of per-segment
probabilities at inference, and the loss L_r1 + L_r2 + L_e."""

from __future__ import annotations

import pytest
import torch

from emofuse.nn import BRANCHES, FusionModel
from emofuse.nn.crossrep import CrossRepBranch, crop_frames, fit_length, segment_frames

SIZES = dict(
    num_layers=3, speaker_dim=8, n_phones=10, segment_frames=12, dim_neck=4, freq=6, conv_dim=16,
    phone_conv_dim=8, dim_phone_emb=4, dim_pre=16, decoder_lstm_dim=16, postnet_dim=8, n_mels=6,
    classifier_hidden=8, classifier_dropout=0.0,
)  # fmt: skip


def _model(**kwargs: object) -> FusionModel:
    branch = CrossRepBranch(5, **{**SIZES, **kwargs})
    branch.extra_inputs = {"speaker": "spk", "phones": "ph", "mel": "mel"}
    return FusionModel({"speech": branch}, fusion="none", n_outputs=3)


def _batch(lengths: list[int], t_max: int, seed: int = 0) -> tuple[dict, dict]:
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(t_max).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    x = torch.randn(len(lengths), 3, t_max, 5, generator=g) * mask[:, None, :, None]
    inputs = {
        "speech": x,
        "spk": torch.randn(len(lengths), 1, 8, generator=g),
        "ph": torch.randint(0, 10, (len(lengths), t_max + 1, 1), generator=g).float(),  # one frame more: cut
        "mel": torch.randn(len(lengths), t_max - 1, 6, generator=g),  # one frame fewer: padded
    }
    masks = {
        "speech": mask,
        "spk": torch.ones(len(lengths), 1, dtype=torch.bool),
        "ph": torch.ones(len(lengths), t_max + 1, dtype=torch.bool),
        "mel": mask[:, : t_max - 1],
    }
    return inputs, masks


def test_registered_as_a_branch() -> None:
    assert BRANCHES["crossrep"] is CrossRepBranch
    assert set(CrossRepBranch.extra_roles) == {"speaker", "phones", "mel"}


def test_crops_lie_inside_the_utterance_and_vary() -> None:
    torch.manual_seed(0)
    lengths = torch.tensor([300, 96, 40])
    starts = set()
    for _ in range(50):
        index = crop_frames(lengths, 96)
        assert index.shape == (3, 96)
        assert bool((index[:, 1:] - index[:, :-1] == 1).all())  # contiguous
        assert int(index[0, -1]) < 300 and int(index[0, 0]) >= 0
        assert int(index[1, 0]) == 0 and int(index[2, 0]) == 0  # no room: from the start, padding masked
        starts.add(int(index[0, 0]))
    assert len(starts) > 10  # random over 0..204


def test_fit_length_cuts_and_pads() -> None:
    x = torch.arange(10.0).reshape(1, 5, 2)
    assert fit_length(x, 3).shape == (1, 3, 2)
    padded = fit_length(x, 7)
    assert padded.shape == (1, 7, 2) and bool((padded[:, 5:] == 0).all())


def test_inference_averages_the_probabilities_of_the_segments() -> None:
    model = _model().eval()
    inputs, masks = _batch([30, 12], 30)
    out = model(inputs, masks)
    probs = torch.softmax(out["output"], dim=-1)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2))
    # by hand: cut utterance 0 (30 frames) into 3 segments of 12 (the last zero-padded), classify each
    branch, head = model.branches["speech"], model.branch_heads["speech"]
    segs, seg_mask = segment_frames(inputs["speech"][0, :, :30], 12)
    assert segs.shape[0] == 3
    with torch.no_grad():
        codes = branch.model.encode(segs, inputs["spk"][0, 0].expand(3, -1), seg_mask)
        per_segment = torch.softmax(head(branch.model.classifier(codes.flatten(1))), dim=-1)
    torch.testing.assert_close(probs[0], per_segment.mean(0), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(per_segment[0], per_segment[1])  # the mean is not one segment's answer
    # padding of the batch never changes an utterance's answer
    alone, alone_masks = ({k: v[1:2, ..., :12, :] if k == "speech" else v[1:2] for k, v in inputs.items()},
                          {k: v[1:2, :12] if k == "speech" else v[1:2] for k, v in masks.items()})  # fmt: skip
    torch.testing.assert_close(
        torch.softmax(model(alone, alone_masks)["output"], -1)[0], probs[1], atol=1e-5, rtol=1e-4
    )
    assert "aux_losses" not in out


def test_training_loss_is_recon_plus_postnet_plus_emotion() -> None:
    from emofuse.train.module import EmotionLightningModule

    torch.manual_seed(0)
    model = _model(recon_weight=2.0).train()
    inputs, masks = _batch([30, 20], 30)
    targets = torch.tensor([0, 2])
    torch.manual_seed(1)
    out = model(inputs, masks)
    assert set(out["aux_losses"]) == {"speech.recon", "speech.recon_postnet"}
    assert out["output"].shape == (2, 3)
    module = EmotionLightningModule(model, "classes", ["a", "b", "c"])
    module.log = lambda *a, **k: None  # type: ignore[method-assign]
    torch.manual_seed(1)  # the same crops
    loss, logits = module._loss(
        {"inputs": inputs, "masks": masks, "targets": targets, "utterance_id": ["u", "v"]}
    )
    emotion = torch.nn.functional.cross_entropy(logits, targets)
    torch.testing.assert_close(
        loss, emotion + out["aux_losses"]["speech.recon"] + out["aux_losses"]["speech.recon_postnet"]
    )
    # recon_weight scales the reconstruction terms only
    torch.manual_seed(0)
    half = _model(recon_weight=1.0).train()
    torch.manual_seed(1)
    out_half = half(inputs, masks)
    torch.testing.assert_close(out["aux_losses"]["speech.recon"], 2 * out_half["aux_losses"]["speech.recon"])
    loss.backward()
    decoder_grad = model.branches["speech"].model.mel_out.weight.grad
    assert decoder_grad is not None and float(decoder_grad.abs().sum()) > 0


def test_reconstruction_loss_falls_with_training() -> None:
    torch.manual_seed(0)
    model = _model().train()
    inputs, masks = _batch([30, 24, 18, 26], 30, seed=3)
    # a learnable target: each frame's mel is a fixed vector of its phone (what the decoder is told)
    table = torch.randn(10, 6, generator=torch.Generator().manual_seed(5))
    inputs["mel"] = table[inputs["ph"][:, :30, 0].long()]
    masks["mel"] = masks["speech"]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    recon = []
    for _ in range(150):
        out = model(inputs, masks)
        loss = sum(out["aux_losses"].values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        recon.append(float(out["aux_losses"]["speech.recon"].detach()))
    # seeded: the first ten steps average about 1.25, the last ten about 0.98
    assert sum(recon[-10:]) / 10 < 0.85 * sum(recon[:10]) / 10


def test_a_speaker_input_is_required() -> None:
    model = _model().eval()
    inputs, masks = _batch([20], 20)
    del inputs["spk"]
    with pytest.raises(ValueError, match="speaker"):
        model(inputs, masks)
