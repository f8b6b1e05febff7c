"""deoliveira2023's frozen systems as the paper describes them: the main systems pool the encoder output without
layer weights (Table 1); the layer-importance recipes (Fig. 2) weigh every layer with weights that sum to one,
one model per encoder and dimension."""

from __future__ import annotations

import pytest
import torch

from emofuse.recipes import list_recipes, load_recipe
from emofuse.train.model import build_model, resolve_layer_counts

MODELS = ("distilhubert", "hubert", "w2v2")
DIMS = ("arousal", "valence", "dominance")
MAIN = [f"deoliveira2023/{kind}_{m}" for kind in ("audio", "fusion") for m in MODELS]


@pytest.mark.parametrize("name", MAIN)
def test_main_systems_pool_the_encoder_output_without_layer_weights(name: str) -> None:
    recipe = load_recipe(name)
    assert recipe.features["audio"].encoder["layers"] == [-1]
    assert recipe.training.mode == "cached" and recipe.data.avd_names == list(DIMS)
    model = build_model(recipe.model, {n: 8 for n in recipe.features}, 3, task="avd")
    assert model.layer_weights() == {}  # nothing weighs layers
    x = {n: torch.randn(2, 5, 8) for n in recipe.features}
    masks = {n: torch.ones(2, 5, dtype=torch.bool) for n in recipe.features}
    assert model(x, masks)["output"].shape == (2, 3)


def test_layer_recipes_one_model_per_encoder_and_dimension_weights_sum_to_one() -> None:
    names = sorted(n for n in list_recipes() if n.startswith("deoliveira2023/layers_"))
    assert names == sorted(f"deoliveira2023/layers_{m}_{d}" for m in MODELS for d in DIMS)
    for name in names:
        recipe = load_recipe(name)
        dim = name.rsplit("_", 1)[1]
        assert recipe.data.avd_names == [dim] and recipe.features["audio"].encoder["layers"] == "all"
        config = resolve_layer_counts(recipe.model, {"audio": 13})  # L is read from the features
        model = build_model(config, {"audio": 8}, 1, task="avd")
        with torch.no_grad():  # any raw weights: the normalised ones stay a distribution
            for p in model.parameters():
                if p.ndim == 1 and p.shape[0] == 13:
                    p.copy_(torch.linspace(-3.0, 2.0, 13))
        weights = model.layer_weights()["audio"]
        assert weights.shape == (13,) and bool((weights >= 0).all()) and weights[-1] > weights[0]
        assert float(weights.sum()) == pytest.approx(1.0, abs=1e-6)
        out = model({"audio": torch.randn(2, 13, 5, 8)}, {"audio": torch.ones(2, 5, dtype=torch.bool)})
        assert out["output"].shape == (2, 1)
