"""The model part of a recipe (:class:`ModelConfig`) and :func:`build_model`, which turns it into a FusionModel.

A model is branches + fusion + head (see ``docs/contracts.md``). The config names each branch's ``type`` (a
branch class of :mod:`emofuse.nn`, e.g. ``pepino_text``, ``pepino_audio``) and its keyword ``params``; the
input dimension of each branch comes from the features, not from the recipe. This module imports torch only
inside :func:`build_model`, so reading a recipe stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

FusionKind = Literal["none", "early", "late", "score"]
TaskKind = Literal["classes", "avd"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BranchConfig(_Strict):
    """One modality branch: ``type`` is a branch of :mod:`emofuse.nn`, ``params`` its keyword arguments."""

    type: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class HeadConfig(_Strict):
    """The output head: ``classes`` (logits ``[B, C]``), ``avd`` (``[B, 3]``) or ``binned`` classes."""

    type: Literal["classes", "avd", "binned"] = "classes"
    params: dict[str, Any] = Field(default_factory=dict)


class ModelConfig(_Strict):
    """Branches + fusion + head.

    * ``fusion: none`` -- a single-modality model (exactly one branch).
    * ``early`` -- concatenate the pooled branch embeddings, hidden dense layer(s), output (pepino2020 EF).
    * ``late`` -- concatenate the branches' logits, one dense layer to the outputs (pepino2020 LF).
    * ``score`` -- ``w1 * p_1 + w2 * p_2`` over branch probabilities (makiuchi2021).
    ``fusion_params`` go to the fusion module (e.g. ``hidden: 128``).
    """

    branches: dict[str, BranchConfig]
    fusion: FusionKind = "none"
    fusion_params: dict[str, Any] = Field(default_factory=dict)
    head: HeadConfig = Field(default_factory=HeadConfig)

    @model_validator(mode="after")
    def _check_branch_count(self) -> ModelConfig:
        if not self.branches:
            raise ValueError("model.branches is empty; give at least one branch")
        if self.fusion == "none" and len(self.branches) != 1:
            raise ValueError(
                f"fusion 'none' takes exactly one branch, got {sorted(self.branches)}; choose early, late or score"
            )
        if self.fusion != "none" and len(self.branches) < 2:
            raise ValueError(
                f"fusion {self.fusion!r} needs at least two branches, got {sorted(self.branches)}"
            )
        return self

    def single_branch(self, name: str) -> ModelConfig:
        """The config of branch ``name`` trained alone with its own head (fusion ``none``)."""
        return ModelConfig(branches={name: self.branches[name]}, fusion="none", head=self.head)


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
        branches[name] = BranchConfig(type=branch.type, params=params)
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
        name: make_branch(branch.type, input_dims[name], branch.params, name)
        for name, branch in config.branches.items()
    }
    return make_fusion_model(branches, config, task=task, n_outputs=n_outputs)
