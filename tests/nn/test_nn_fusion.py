"""FusionModel: fusion variants, heads, score weights, freezing for the pepino2020 training strategies."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from emofuse.nn import (
    AVDHead,
    ClassHead,
    DenseBranch,
    FusionModel,
    PepinoAudioBranch,
    PepinoTextBranch,
    xavier_init,
)

AUDIO_LENGTHS = [30, 12, 21]
TEXT_LENGTHS = [6, 9, 3]


def _branches(audio_dropout: float = 0.5) -> dict[str, nn.Module]:
    return {
        "audio": PepinoAudioBranch(in_dim=36, filters=(16, 10), dropout=(0.0, audio_dropout)),
        "text": PepinoTextBranch(in_dim=24, proj_dim=16, filters=(16, 12)),
    }


def _batch(nnh):
    xa, ma, _ = nnh.ragged_batch(AUDIO_LENGTHS, 36, pad_to=30, seed=1)
    xt, mt, _ = nnh.ragged_batch(TEXT_LENGTHS, 24, pad_to=9, seed=2)
    return {"audio": xa, "text": xt}, {"audio": ma, "text": mt}


@pytest.mark.parametrize("fusion", ["early", "late", "late_scalar", "score"])
@pytest.mark.parametrize("task", ["classes", "avd"])
def test_fusion_shapes(fusion: str, task: str, nnh) -> None:
    n_out = 4 if task == "classes" else 3
    model = FusionModel(_branches(), fusion=fusion, task=task, n_outputs=n_out)
    inputs, masks = _batch(nnh)
    out = model(inputs, masks)
    assert out["output"].shape == (3, n_out)
    assert set(out["branch_outputs"]) == {"audio", "text"}
    assert all(v.shape == (3, n_out) for v in out["branch_outputs"].values())
    assert out["embedding"].shape == (3, 10 + 12)
    if fusion == "early":
        assert out["hidden"].shape == (3, 128)


def test_none_fusion_is_branch_plus_its_head(nnh) -> None:
    branch = PepinoAudioBranch(in_dim=36, filters=(16, 10))
    model = FusionModel({"audio": branch}, fusion="none", n_outputs=4).eval()
    inputs, masks = _batch(nnh)
    out = model({"audio": inputs["audio"]}, {"audio": masks["audio"]})
    expected = model.branch_heads["audio"](branch(inputs["audio"], masks["audio"])["embedding"])
    torch.testing.assert_close(out["output"], expected)
    with pytest.raises(ValueError, match="exactly one branch"):
        FusionModel(_branches(), fusion="none", n_outputs=4)


def test_early_fusion_follows_pepino_head() -> None:
    model = FusionModel(_branches(), fusion="early", n_outputs=4, hidden=128)
    head = model.fuse.head
    assert isinstance(head, ClassHead)
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(22, 128), (128, 4)]
    assert any(isinstance(m, nn.ReLU) for m in head.modules())
    assert model.fusion_modules() == [head]


def test_late_fusion_is_a_dense_layer_over_concatenated_logits(nnh) -> None:
    model = FusionModel(_branches(), fusion="late", n_outputs=4).eval()
    inputs, masks = _batch(nnh)
    out = model(inputs, masks)
    logits = torch.cat([out["branch_outputs"]["audio"], out["branch_outputs"]["text"]], -1)
    assert model.fuse.combiner.in_features == 8  # pepino2020: "an 8-dimensional vector"
    torch.testing.assert_close(out["output"], model.fuse.combiner(logits))


def test_scalar_late_fusion_weighs_each_system_by_one_scalar(nnh) -> None:
    model = FusionModel(_branches(), fusion="late_scalar", n_outputs=4).eval()
    inputs, masks = _batch(nnh)
    with torch.no_grad():
        model.fuse.weights.copy_(torch.tensor([0.3, 1.7]))
        model.fuse.bias.copy_(torch.tensor([0.1, -0.2, 0.0, 0.5]))
    out = model(inputs, masks)
    expected = 0.3 * out["branch_outputs"]["audio"] + 1.7 * out["branch_outputs"]["text"] + model.fuse.bias
    torch.testing.assert_close(out["output"], expected)
    assert (
        sum(p.numel() for p in model.fuse.parameters()) == 2 + 4
    )  # one weight per system, one bias per class


def test_score_fusion_outputs_log_of_weighted_probabilities(nnh) -> None:
    model = FusionModel(_branches(), fusion="score", n_outputs=4, score_weights={"audio": 3, "text": 1})
    model.eval()
    assert model.get_score_weights() == pytest.approx({"audio": 0.75, "text": 0.25})
    assert model.output_kind == "log_probs"
    inputs, masks = _batch(nnh)
    out = model(inputs, masks)
    p = 0.75 * out["branch_outputs"]["audio"].softmax(-1) + 0.25 * out["branch_outputs"]["text"].softmax(-1)
    torch.testing.assert_close(out["output"].exp(), p)
    torch.testing.assert_close(out["output"].softmax(-1), p)  # softmax(output) is the fused probability
    # cross-entropy on the output is the NLL of the fused probabilities
    y = torch.tensor([0, 2, 3])
    nll = -torch.log(p[torch.arange(3), y]).mean()
    torch.testing.assert_close(nn.functional.cross_entropy(out["output"], y), nll)
    model.set_score_weights([0.0, 2.0])
    torch.testing.assert_close(
        model(inputs, masks)["output"].softmax(-1), out["branch_outputs"]["text"].softmax(-1)
    )
    with pytest.raises(ValueError, match="missing"):
        model.set_score_weights({"audio": 1.0})
    with pytest.raises(ValueError, match="non-negative"):
        model.set_score_weights([-1.0, 2.0])


def test_gradients_reach_every_trained_parameter(nnh) -> None:
    for fusion in ("early", "late"):
        model = FusionModel(_branches(), fusion=fusion, n_outputs=4).train()
        inputs, masks = _batch(nnh)
        out = model(inputs, masks)
        out["output"].pow(2).sum().backward()
        names = [
            n for n, _ in model.named_parameters() if fusion == "late" or not n.startswith("branch_heads")
        ]
        assert nnh.params_without_grad(model, names) == []


def test_model_output_is_padding_invariant(nnh) -> None:
    # training mode (batch statistics over real frames); dropout off so two passes are comparable
    model = FusionModel(_branches(audio_dropout=0.0), fusion="early", n_outputs=4).train()
    inputs, masks = _batch(nnh)
    a = model(inputs, masks)["output"]
    more = {k: nnh.repad(inputs[k], masks[k], extra=5) for k in inputs}
    b = model({k: v[0] for k, v in more.items()}, {k: v[1] for k, v in more.items()})["output"]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before: dict[str, torch.Tensor], module: nn.Module) -> set[str]:
    after = module.state_dict()
    return {k for k, v in before.items() if v.dtype.is_floating_point and not torch.equal(v, after[k])}


def _one_step(model: FusionModel, nnh) -> None:
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    inputs, masks = _batch(nnh)
    loss = nn.functional.cross_entropy(model(inputs, masks)["output"], torch.tensor([0, 1, 2]))
    opt.zero_grad()
    loss.backward()
    opt.step()


def test_pre_trained_strategy_keeps_branches_frozen(nnh) -> None:
    model = FusionModel(_branches(), fusion="early", n_outputs=4)
    model.freeze_branches("all")
    before = _snapshot(model)
    _one_step(model, nnh)
    changed = _changed(before, model)
    assert changed, "the fusion layers should train"
    assert all(k.startswith("fuse.head.") for k in changed), sorted(changed)
    # batch-norm running statistics of frozen layers stay too
    assert not any(".running_" in k for k in changed)


def test_warm_start_trains_only_the_layers_before_pooling(nnh) -> None:
    model = FusionModel(_branches(), fusion="early", n_outputs=4)
    model.freeze_branches("except_pre_pool")
    before = _snapshot(model)
    _one_step(model, nnh)
    changed = {k for k in _changed(before, model) if k.startswith("branches.")}
    prefixes = ("branches.audio.convs.1.", "branches.text.convs.1.")  # L_A2 and L_T3
    assert changed and all(k.startswith(prefixes) for k in changed), sorted(changed)
    assert any(k.startswith("branches.audio.convs.1.conv") for k in changed)
    assert any(k.startswith("branches.text.convs.1.conv") for k in changed)
    untouched = [
        k
        for k in before
        if k.startswith(("branches.text.proj", "branches.text.convs.0", "branches.audio.convs.0"))
    ]
    assert untouched and not (set(untouched) & _changed(before, model))


def test_late_fusion_pre_trained_freezes_branch_heads_and_unfreeze_all_restores(nnh) -> None:
    model = FusionModel(_branches(), fusion="late", n_outputs=4)
    model.freeze_branches("all")
    assert model.trainable_parameter_names() == ["fuse.combiner.weight", "fuse.combiner.bias"]
    before = _snapshot(model)
    _one_step(model, nnh)
    assert {".".join(k.split(".")[:2]) for k in _changed(before, model)} == {"fuse.combiner"}
    model.unfreeze_all()
    assert all(p.requires_grad for p in model.parameters())
    model.train()
    assert all(m.training for m in model.modules())


def test_branch_pretrained_alone_loads_into_fusion_model(nnh) -> None:
    alone = FusionModel({"audio": PepinoAudioBranch(in_dim=36, filters=(16, 10))}, fusion="none", n_outputs=4)
    opt = torch.optim.SGD(alone.parameters(), lr=0.1)
    inputs, masks = _batch(nnh)
    alone({"audio": inputs["audio"]}, {"audio": masks["audio"]})["output"].sum().backward()
    opt.step()
    fused = FusionModel(_branches(), fusion="late", n_outputs=4)
    fused.load_branch_state("audio", alone.state_dict())
    branch_keys = [k for k in alone.state_dict() if k.startswith(("branches.", "branch_heads."))]
    assert len(branch_keys) > 4
    for key in branch_keys:
        torch.testing.assert_close(fused.state_dict()[key], alone.state_dict()[key])
    with pytest.raises(KeyError, match="branches.text"):
        fused.load_branch_state("text", alone.state_dict())


def test_missing_input_names_the_branch(nnh) -> None:
    model = FusionModel(_branches(), fusion="early", n_outputs=4)
    inputs, masks = _batch(nnh)
    with pytest.raises(KeyError, match="text"):
        model({"audio": inputs["audio"]}, masks)
    with pytest.raises(ValueError, match="n_outputs"):
        FusionModel(_branches(), fusion="early", task="classes")


def test_avd_head_is_ffn_with_tanh() -> None:
    head = AVDHead(10, hidden=6)
    assert [type(m) for m in head.hidden] == [nn.Linear, nn.Tanh, nn.Dropout]
    assert head(torch.randn(5, 10)).shape == (5, 3)
    model = FusionModel(_branches(), fusion="early", task="avd")
    assert model.n_outputs == 3 and isinstance(model.fuse.head, AVDHead)
    assert model.output_kind == "values"


def test_xavier_init_matches_glorot_uniform_bounds() -> None:
    model = FusionModel(_branches(), fusion="early", n_outputs=4)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(7.0)
    xavier_init(model)
    lin = model.fuse.head.out
    bound = math.sqrt(6 / (lin.in_features + lin.out_features))
    assert (
        float(lin.weight.detach().abs().max()) <= bound
        and float(lin.weight.detach().abs().max()) > 0.5 * bound
    )
    assert torch.all(lin.bias == 0)
    conv = model.branches["audio"].convs[0].conv
    fan_in, fan_out = conv.in_channels * conv.kernel_size[0], conv.out_channels * conv.kernel_size[0]
    assert float(conv.weight.detach().abs().max()) <= math.sqrt(6 / (fan_in + fan_out))
    norm = model.branches["text"].proj.norm
    assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)


def test_paper_compositions_build_and_run() -> None:
    """The other papers' models are compositions of the same parts."""
    from emofuse.nn import GRUAttentionBranch, MeanMaxBranch

    ones = lambda b, t: torch.ones(b, t, dtype=torch.bool)  # noqa: E731
    # kumar2021: GRU + attention over mel / MFCC / chroma, BERT vector, concat, dense 600, softmax
    kumar = FusionModel(
        {
            "mel": GRUAttentionBranch(128, hidden=8, out_dim=8),
            "mfcc": GRUAttentionBranch(40, hidden=8, out_dim=8),
            "chroma": GRUAttentionBranch(12, hidden=8, out_dim=8),
            "bert": DenseBranch(32, out_dim=None),
        },
        fusion="early",
        n_outputs=4,
        hidden=600,
    )
    out = kumar(
        {
            "mel": torch.randn(2, 9, 128),
            "mfcc": torch.randn(2, 9, 40),
            "chroma": torch.randn(2, 9, 12),
            "bert": torch.randn(2, 1, 32),
        },
        {"mel": ones(2, 9), "mfcc": ones(2, 9), "chroma": ones(2, 9), "bert": ones(2, 1)},
    )
    assert out["output"].shape == (2, 4) and out["hidden"].shape == (2, 600)
    # deoliveira2023: layer-weighted SSL audio + text, mean+max pooling, FFN with tanh, 3 outputs
    deo = FusionModel(
        {"audio": MeanMaxBranch(16, num_layers=3), "text": MeanMaxBranch(8)},
        fusion="early",
        task="avd",
        hidden=32,
        dropout=0.1,
    )
    out = deo(
        {"audio": torch.randn(2, 3, 7, 16), "text": torch.randn(2, 5, 8)},
        {"audio": ones(2, 7), "text": ones(2, 5)},
    )
    assert out["output"].shape == (2, 3) and out["embedding"].shape == (2, 2 * 16 + 2 * 8)
    # perez2022: CLS vector + silence ratio + eGeMAPS, layer norm, dense of the same size + ReLU, dropout 0.5
    perez = FusionModel(
        {"cls": DenseBranch(32, None), "silence": DenseBranch(1, None), "egemaps": DenseBranch(88, None)},
        fusion="early",
        task="avd",
        n_outputs=1,
        hidden="same",
        dropout=0.5,
        fusion_norm=True,
        hidden_activation="relu",
    )
    assert perez.fuse.norm is not None and perez.fuse.head.hidden[0].out_features == 32 + 1 + 88
    assert isinstance(perez.fuse.head.hidden[1], nn.ReLU)
    out = perez(
        {"cls": torch.randn(2, 1, 32), "silence": torch.rand(2, 1, 1), "egemaps": torch.randn(2, 1, 88)},
        {"cls": ones(2, 1), "silence": ones(2, 1), "egemaps": ones(2, 1)},
    )
    assert out["output"].shape == (2, 1)


def _two_bit_task(n: int = 64, seed: int = 5):
    """Class = 2 * text_bit + audio_bit: each modality carries one bit, only fusion can get all four classes.
    Sequences have random lengths and garbage in the padding."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    audio_bit, text_bit = (y % 2).float(), (y // 2).float()
    la = torch.randint(5, 20, (n,), generator=gen)
    lt = torch.randint(2, 8, (n,), generator=gen)
    xa = 100 * torch.randn(n, 20, 6, generator=gen)
    xt = 100 * torch.randn(n, 8, 5, generator=gen)
    ma = torch.arange(20)[None] < la[:, None]
    mt = torch.arange(8)[None] < lt[:, None]
    real_a = torch.randn(n, 20, 6, generator=gen) + 1.5 * (2 * audio_bit - 1)[:, None, None]
    real_t = torch.randn(n, 8, 5, generator=gen) + 1.5 * (2 * text_bit - 1)[:, None, None]
    xa = torch.where(ma[..., None], real_a, xa)
    xt = torch.where(mt[..., None], real_t, xt)
    return {"audio": xa, "text": xt}, {"audio": ma, "text": mt}, y


def _test_accuracy(model: FusionModel, names: list[str], steps: int = 40) -> float:
    """Train on one sample of the two-bit task, return accuracy on another."""
    (xi, mi, yi), (xo, mo, yo) = _two_bit_task(64, seed=5), _two_bit_task(32, seed=6)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=0.01)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        out = model({k: xi[k] for k in names}, {k: mi[k] for k in names})["output"]
        nn.functional.cross_entropy(out, yi).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model({k: xo[k] for k in names}, {k: mo[k] for k in names})["output"]
    return float((out.argmax(-1) == yo).float().mean())


def test_fusion_learns_what_no_single_modality_can() -> None:

    def branches():
        return {
            "audio": PepinoAudioBranch(in_dim=6, filters=(8, 8), dropout=0.0),
            "text": PepinoTextBranch(in_dim=5, proj_dim=8, filters=(8, 8)),
        }

    for fusion in ("early", "late"):
        acc = _test_accuracy(
            FusionModel(branches(), fusion=fusion, n_outputs=4, hidden=16), ["audio", "text"]
        )
        assert acc >= 0.9, (fusion, acc)
    audio_only = FusionModel({"audio": branches()["audio"]}, fusion="none", n_outputs=4)
    acc = _test_accuracy(audio_only, ["audio"])
    assert 0.3 <= acc <= 0.65, acc  # one bit of two: half the classes at best


def test_fusions_are_one_table_that_the_recipe_schema_names() -> None:
    from typing import get_args

    from emofuse.nn.fusion import FUSIONS, Fusion
    from emofuse.recipes.model import FusionKind

    assert set(FUSIONS) == set(get_args(FusionKind))  # a fusion added to one and not the other fails here
    assert all(issubclass(cls, Fusion) for cls in FUSIONS.values())
    for name in FUSIONS:
        n_branches = 1 if name == "none" else 2
        branches = dict(list(_branches().items())[:n_branches])
        model = FusionModel(branches, fusion=name, n_outputs=4).eval()
        dims = {"audio": 36, "text": 24}
        inputs = {n: torch.randn(3, 12, dims[n]) for n in branches}
        assert model(inputs)["output"].shape == (3, 4), name


def test_early_fusion_with_several_dense_layers(nnh) -> None:
    """kumar2021's ablation: dense layers after the concatenation, one per size; `hidden` is the last of them."""
    model = FusionModel(_branches(), fusion="early", n_outputs=4, hidden=[12, 7]).eval()
    inputs, masks = _batch(nnh)
    out = model(inputs, masks)
    linears = [m for m in model.fuse.head.hidden if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(model.embedding_dim, 12), (12, 7)]
    assert out["hidden"].shape == (3, 7) and out["output"].shape == (3, 4)
    with pytest.raises(ValueError, match="class heads only"):
        FusionModel(_branches(), fusion="early", task="avd", hidden=[12, 7])
