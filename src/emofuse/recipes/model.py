"""The model part of a recipe: :class:`ModelConfig` (branches + fusion + head), plain data validated on load.

It lives with the recipe schema (not in ``train``) so that reading a recipe imports nothing of the stages that
use it; :func:`emofuse.train.model.build_model` turns it into a network.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FusionKind = Literal["none", "early", "late", "late_scalar", "score"]
TaskKind = Literal["classes", "avd"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BranchConfig(_Strict):
    """One modality branch: ``type`` is a branch of :mod:`emofuse.nn`, ``params`` its keyword arguments.

    ``inputs``: further inputs of a multi-input branch, ``{role: feature name}`` (each a ``features`` entry of
    the recipe), e.g. makiuchi2021's ``{speaker: speaker, phones: phones, mel: mel}`` for a ``crossrep``
    branch; the branch class names the roles it accepts (``extra_roles``).
    """

    type: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, str] = Field(default_factory=dict)


class HeadConfig(_Strict):
    """The output head: ``classes`` (logits ``[B, C]``) or ``avd`` (``[B, 3]``).

    Binned classes (perez2022) are ``classes`` over bin targets: set ``data.bins`` in the recipe.
    """

    type: Literal["classes", "avd"] = "classes"
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

    def input_names(self) -> set[str]:
        """Every feature the model reads: the branches and their further ``inputs``."""
        return set(self.branches) | {f for b in self.branches.values() for f in b.inputs.values()}

    def single_branch(self, name: str) -> ModelConfig:
        """The config of branch ``name`` trained alone with its own head (fusion ``none``)."""
        return ModelConfig(branches={name: self.branches[name]}, fusion="none", head=self.head)


__all__ = ["BranchConfig", "FusionKind", "HeadConfig", "ModelConfig", "TaskKind"]
