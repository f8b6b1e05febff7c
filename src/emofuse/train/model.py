""":func:`build_model` turns the model part of a recipe (:class:`emofuse.recipes.model.ModelConfig`) into a FusionModel.

A model is branches + fusion + head (see ``docs/contracts.md``). The config names each branch's ``type`` (a
branch class of :mod:`emofuse.nn`, e.g. ``pepino_text``, ``pepino_audio``) and its keyword ``params``; the
input dimension of each branch comes from the features, not from the recipe. This module imports torch only
inside :func:`build_model`, so reading a recipe stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emofuse.recipes.model import BranchConfig, HeadConfig, ModelConfig, TaskKind

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


def resolve_layer_counts(config: ModelConfig, input_layers: dict[str, int]) -> ModelConfig:
    """Fill ``num_layers`` of layer-weighting branches from the features' shape.

    ``input_layers[name] = L`` for a branch whose features are all-layer ``[L, T, D]`` hidden states
    (deoliveira2023, makiuchi2021). A branch type with a ``num_layers`` parameter that the recipe leaves out
    gets ``L``; an explicit value that disagrees with the features is a :class:`ConfigError`. Returns a new
    config (the run directory records it, so a packaged model rebuilds the same layers).
    """
    import inspect

    from emofuse.errors import ConfigError
    from emofuse.train._nn_adapter import branch_class

    branches = {}
    for name, branch in config.branches.items():
        params = dict(branch.params)
        n_layers = input_layers.get(name)
        cls = branch_class(branch.type, f"model.branches.{name}")
        weighs_layers = hasattr(cls, "layer_weights")  # not GRUAttentionBranch's num_layers (GRU depth)
        if (
            n_layers is not None
            and weighs_layers
            and "num_layers" in inspect.signature(cls.__init__).parameters
        ):
            given = params.get("num_layers")
            if given is None:
                params["num_layers"] = int(n_layers)
            elif int(given) != int(n_layers):
                raise ConfigError(
                    f"model.branches.{name}.params.num_layers is {given} but the features hold {n_layers} "
                    "layers; leave num_layers out to take it from the features"
                )
        branches[name] = BranchConfig(type=branch.type, params=params, inputs=branch.inputs)
    return config.model_copy(update={"branches": branches})


def build_model(
    config: ModelConfig, input_dims: dict[str, int], n_outputs: int, task: TaskKind = "classes"
) -> nn.Module:
    """Build the :class:`emofuse.nn.FusionModel` that ``config`` describes.

    Args:
        config: the model part of a recipe.
        input_dims: feature dimension ``D`` of each branch's input ``[B, T, D]``.
        n_outputs: number of classes (``classes``) or of A/V/D dimensions (``avd``).
        task: ``"classes"`` or ``"avd"``.
    """
    from emofuse.train._nn_adapter import make_branch, make_fusion_model

    missing = sorted(set(config.branches) - set(input_dims))
    if missing:
        from emofuse.errors import ConfigError

        raise ConfigError(
            f"no input dimension for branch(es) {missing}; the features block must feed every branch"
        )
    branches = {
        name: make_branch(branch.type, input_dims[name], branch.params, name, branch.inputs)
        for name, branch in config.branches.items()
    }
    return make_fusion_model(branches, config, task=task, n_outputs=n_outputs)


__all__ = ["BranchConfig", "HeadConfig", "ModelConfig", "build_model", "resolve_layer_counts"]
