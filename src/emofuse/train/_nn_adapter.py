"""Recipe names -> :mod:`emofuse.nn` classes (branch ``type`` via :data:`emofuse.nn.branches.BRANCHES`,
FusionModel keyword arguments).

Bad params fail with a :class:`ConfigError` naming the recipe key (``model.branches.<name>.params``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from emofuse.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from emofuse.train.model import ModelConfig

#: head params in a recipe -> FusionModel keyword arguments
_HEAD_KEYS = {"hidden": "head_hidden", "dropout": "head_dropout"}


def branch_class(type_name: str, where: str = "model.branches") -> type:
    from emofuse.nn.branches import BRANCHES

    if type_name not in BRANCHES:
        raise ConfigError(f"{where}.type: {type_name!r} is not one of {sorted(BRANCHES)}")
    return BRANCHES[type_name]


def _check_kwargs(fn: Any, params: Mapping[str, Any], where: str, skip: tuple[str, ...] = ()) -> None:
    sig = inspect.signature(fn)
    allowed = [p for p in sig.parameters if p not in ("self", *skip)]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {', '.join(allowed)}")


def check_model_config(config: ModelConfig) -> None:
    """Check branch types and every params key against the nn classes, without building anything."""
    from emofuse.nn.fusion import FusionModel

    for name, branch in config.branches.items():
        cls = branch_class(branch.type, f"model.branches.{name}")
        _check_kwargs(cls.__init__, branch.params, f"model.branches.{name}.params", skip=("in_dim",))
        _check_roles(cls, branch.inputs, name)
    skip = ("branches", "fusion", "task", "n_outputs", "head_hidden", "head_dropout")
    _check_kwargs(FusionModel.__init__, config.fusion_params, "model.fusion_params", skip=skip)
    unknown = sorted(set(config.head.params) - set(_HEAD_KEYS))
    if unknown:
        raise ConfigError(f"model.head.params: unknown key(s) {unknown}; allowed: {', '.join(_HEAD_KEYS)}")


def _check_roles(cls: type, inputs: Mapping[str, str], name: str) -> None:
    roles = tuple(getattr(cls, "extra_roles", ()))
    unknown = sorted(set(inputs) - set(roles))
    if unknown:
        allowed = ", ".join(roles) if roles else "none (this branch reads one input)"
        raise ConfigError(f"model.branches.{name}.inputs: unknown role(s) {unknown}; allowed: {allowed}")


def make_branch(
    type_name: str,
    in_dim: int,
    params: Mapping[str, Any],
    name: str = "?",
    inputs: Mapping[str, str] | None = None,
) -> nn.Module:
    """Build branch ``name``; a multi-input branch gets ``extra_inputs = {role: input name}`` (what
    ``FusionModel`` passes it as ``extras``)."""
    cls = branch_class(type_name, f"model.branches.{name}")
    _check_kwargs(cls.__init__, params, f"model.branches.{name}.params", skip=("in_dim",))
    _check_roles(cls, inputs or {}, name)
    try:
        branch = cls(in_dim=in_dim, **params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model.branches.{name}.params: {exc}") from exc
    if inputs:
        branch.extra_inputs = dict(inputs)
    return branch


def make_fusion_model(
    branches: dict[str, nn.Module], config: ModelConfig, task: str, n_outputs: int
) -> nn.Module:
    from emofuse.nn.fusion import FusionModel

    head_kwargs = {_HEAD_KEYS[k]: v for k, v in config.head.params.items() if k in _HEAD_KEYS}
    try:
        return FusionModel(
            branches,
            fusion=config.fusion,
            task=task,
            n_outputs=n_outputs,
            **config.fusion_params,
            **head_kwargs,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model.fusion_params: {exc}") from exc
