"""The packaged model: a directory anyone can load, with no pickles anywhere.

A package holds two files (and its model card, ``README.md``, see :mod:`emofuse.serve.model_card`):

* ``config.json``: what is needed to rebuild and feed the network: the model configuration
  (:class:`emofuse.train.model.ModelConfig` dump), the per-branch input dimensions, the task and its label set
  (class names in output order, or the A/V/D names), per branch the encoder spec and its ``encoder_id``, the
  branch input (``audio`` / ``transcript`` / ``asr`` / ``asr_sil``) and the normalisation statistics
  (:class:`emofuse.encoders.Standardizer` state), the text source (:class:`emofuse.transcribe.source.TextSource`:
  the ASR backend, decoding options and ``[SIL]`` settings the training transcripts were made with), the recipe,
  the emofuse version, and the SHA-256 of the weights file;
* ``model.safetensors``: the state dict (tensors only; safetensors cannot carry code).

:func:`export_from_run` turns a run directory (read through :class:`emofuse.train.rundir.RunDir`) into a package;
:func:`load_model` reads one back. Every way a directory can be wrong (missing file, bad JSON, unknown key,
weights whose names or shapes do not match the configuration, a weights file changed after export, an
encoder id that does not match its spec) is a :class:`~emofuse.errors.ModelLoadError` naming the file and
what to do. Nothing in a package is ever executed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from emofuse.errors import EmofuseError, ModelLoadError, short_repr
from emofuse.hashing import file_sha256
from emofuse.io import atomic_write_bytes, atomic_write_json
from emofuse.train.rundir import ENCODERS_DIR, BranchRecord, RunDir
from emofuse.train.target_norm import TargetScaling
from emofuse.transcribe.source import TextSource

if TYPE_CHECKING:
    import torch

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT_NAME = "emofuse.packaged-model"
#: 2: ``text_source`` is the typed :class:`TextSource` the training transcripts were made with (1 held an untyped
#: copy of the recipe's block, which could differ from what the model was trained on)
FORMAT_VERSION = 2
MAX_CONFIG_BYTES = 64 * 1024 * 1024


class WeightsInfo(BaseModel):
    """The weights file and its checksum (detects a file changed after export)."""

    model_config = ConfigDict(extra="forbid")

    file: Literal["model.safetensors"] = WEIGHTS_FILE
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class PackageConfig(BaseModel):
    """The schema of ``config.json`` (unknown keys are an error naming them)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["emofuse.packaged-model"] = FORMAT_NAME
    format_version: int = FORMAT_VERSION
    emofuse_version: str
    task: Literal["classes", "avd"]
    labels: list[str] | None = None
    avd_names: list[str] | None = None
    n_outputs: int = Field(gt=0)
    model: dict[str, Any]
    input_dims: dict[str, int]
    branches: dict[str, BranchRecord]
    text_source: TextSource
    #: A/V/D models trained on normalised targets (``data.target_norm``): the training fold's statistics;
    #: the network's outputs are mapped back to label units with them (:meth:`PackagedModel.to_label_units`)
    target_scaling: TargetScaling | None = None
    recipe: Any = None
    source: dict[str, Any] | None = None
    #: per branch whose frozen encoder reads a local model directory (e.g. the adapted ``[SIL]`` model of the
    #: MLM stage): the path its ``encoder_id`` was computed with at training; the files are copied into
    #: ``encoders/<branch>/model/`` and the branch's spec names that folder, relative to the package
    bundled_models: dict[str, str] = Field(default_factory=dict)
    weights: WeightsInfo

    @field_validator("format_version")
    @classmethod
    def _supported_version(cls, value: int) -> int:
        if value != FORMAT_VERSION:
            raise ValueError(
                f"format_version {value} is not supported by this emofuse (it reads version {FORMAT_VERSION}); "
                "re-export the model from its run directory with this emofuse (`export_from_run`)"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PackageConfig:
        if not self.branches:
            raise ValueError("branches is empty: a model needs at least one input branch")
        unknown = sorted(set(self.bundled_models) - set(self.branches))
        if unknown:
            raise ValueError(f"bundled_models names branches {unknown} that are not in branches")
        if set(self.input_dims) != set(self.branches):
            raise ValueError(
                f"input_dims names branches {sorted(self.input_dims)} but branches are {sorted(self.branches)}"
            )
        bad_dims = {k: v for k, v in self.input_dims.items() if v <= 0}
        if bad_dims:
            raise ValueError(f"input_dims must be positive: {bad_dims}")
        if self.task == "classes":
            if not self.labels:
                raise ValueError("task 'classes' needs 'labels' (class names in output order)")
            if len(set(self.labels)) != len(self.labels):
                raise ValueError(f"labels hold duplicates: {self.labels}")
            if len(self.labels) != self.n_outputs:
                raise ValueError(f"{len(self.labels)} labels but n_outputs is {self.n_outputs}")
        else:
            if not self.avd_names:
                raise ValueError("task 'avd' needs 'avd_names' (e.g. arousal, valence, dominance)")
            if len(self.avd_names) != self.n_outputs:
                raise ValueError(f"{len(self.avd_names)} avd_names but n_outputs is {self.n_outputs}")
        return self

    @property
    def output_names(self) -> list[str]:
        """Names of the model's outputs, in order."""
        return list(self.labels if self.task == "classes" else self.avd_names or [])

    @property
    def needs_text(self) -> bool:
        """True when some branch reads a transcript (given or recognised)."""
        return any(b.input != "audio" for b in self.branches.values())


@dataclass
class PackagedModel:
    """A loaded package: its directory, validated configuration, the network (eval mode) and standardizers.

    Attributes:
        directory: the package directory.
        config: the validated ``config.json``.
        network: the :class:`emofuse.nn.FusionModel`, weights loaded, in eval mode. Its ``forward(inputs, masks)``
            takes ``inputs[branch]: [B, T, D]`` and ``masks[branch]: [B, T]`` and returns ``{"output": [B, C]}``.
        standardizers: per branch the fitted :class:`~emofuse.encoders.Standardizer` (or None).
    """

    directory: Path
    config: PackageConfig
    network: torch.nn.Module
    standardizers: dict[str, Any] = field(default_factory=dict)
    _encoders: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def labels(self) -> list[str]:
        """Class names in output order (empty for an A/V/D model)."""
        return list(self.config.labels or [])

    @property
    def avd_names(self) -> list[str]:
        return list(self.config.avd_names or [])

    @property
    def encoder_ids(self) -> dict[str, str]:
        return {name: b.encoder_id for name, b in self.config.branches.items()}

    def to_label_units(self, output: np.ndarray) -> np.ndarray:
        """A/V/D network outputs ``[..., K]`` in label units (the training fold's ``target_scaling`` undone;
        unchanged for a model trained on the labels as they are, and for class logits)."""
        scaling = self.config.target_scaling
        if scaling is None or self.task != "avd":
            return output
        return scaling.to_label_units(output)

    def encoders(self) -> dict[str, Any]:
        """Per branch the built encoder, built once on first use and checked against the stored ``encoder_id``."""
        if self._encoders is None:
            self._encoders = build_branch_encoders(self.config, self.directory)
        return self._encoders

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str],
        *,
        build_encoders: bool = True,
        allow_models: Sequence[str] = (),
    ) -> PackagedModel:
        """Load a package from a local directory or, with network access, a Hub repository id
        (:func:`emofuse.serve.hub.resolve_model_dir`); ``allow_models`` as for :func:`load_model`."""
        from emofuse.serve.hub import resolve_model_dir

        return load_model(
            resolve_model_dir(name_or_path), build_encoders=build_encoders, allow_models=allow_models
        )

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Copy the package (every file of its folder: weights, model card, ONNX graph, bundled files) to
        ``directory``, each file atomically and ``config.json`` last; the copy is loaded back (allowed the
        models this loaded package names) before this returns. The folder can be pushed to the Hub as it is
        (``huggingface_hub.upload_folder``). Returns the directory.
        """
        from emofuse.serve.model_card import CARD_FILE, write_model_card
        from emofuse.serve.trust import named_models

        out = Path(directory)
        if out.resolve() == self.directory.resolve():
            return out
        files = sorted(p for p in self.directory.rglob("*") if p.is_file() and p.name != CONFIG_FILE)
        for source in [*files, self.directory / CONFIG_FILE]:
            atomic_write_bytes(out / source.relative_to(self.directory), source.read_bytes())
        own = [str(v) for _, v in named_models(self.config.model_dump(mode="json"))]
        load_model(out, build_encoders=False, allow_models=own)
        if not (out / CARD_FILE).is_file():
            write_model_card(out)
        return out

    def describe(self) -> dict[str, Any]:
        """A JSON-safe summary (for ``/health`` and the CLI)."""
        return {
            "task": self.task,
            "labels": self.labels,
            "avd_names": self.avd_names,
            "branches": {
                name: {"encoder_id": b.encoder_id, "input": b.input}
                for name, b in self.config.branches.items()
            },
            "emofuse_version": self.config.emofuse_version,
            "source": self.config.source,
        }


def emofuse_version() -> str:
    """The installed emofuse version (from the package metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("emofuse")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "0+unknown"


def _read_json_file(path: Path, what: str) -> Any:
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing: {what}. Re-export the model with `export_from_run`.")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ModelLoadError(
            f"{path} is {size} bytes, more than a model configuration can be; it is not a config"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(
            f"{path} is not valid JSON ({exc}); the file is damaged, re-export the model"
        ) from exc


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:8]:
        loc = ".".join(str(p) for p in err["loc"]) or "<top level>"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _parse_config(raw: Any, path: Path) -> PackageConfig:
    if not isinstance(raw, dict):
        raise ModelLoadError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    if raw.get("format") != FORMAT_NAME:
        raise ModelLoadError(
            f"{path}: 'format' is {raw.get('format')!r}, expected {FORMAT_NAME!r}; this is not an emofuse packaged "
            "model (a run directory? use `emofuse.serve.package.export_from_run(run_dir, out_dir)` first)"
        )
    try:
        return PackageConfig.model_validate(raw)
    except ValidationError as exc:
        raise ModelLoadError(f"{path} is invalid: {_validation_message(exc)}") from exc


def _safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from a safetensors header (reads no tensor data, runs no code)."""
    from safetensors import safe_open

    if not path.is_file():
        raise ModelLoadError(f"{path} is missing: the package has no weights. Re-export the model.")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises SafetensorError / OSError on damaged headers
        raise ModelLoadError(
            f"{path} is not a valid safetensors file ({exc}); the weights are damaged"
        ) from exc


def _build_network(config: PackageConfig, where: Path) -> torch.nn.Module:
    from emofuse.train.model import ModelConfig, build_model

    try:
        model_config = ModelConfig.model_validate(config.model)
    except ValidationError as exc:
        raise ModelLoadError(
            f"{where}: 'model' is not a valid model configuration: {_validation_message(exc)}"
        ) from exc
    try:
        return build_model(model_config, dict(config.input_dims), config.n_outputs, task=config.task)
    except EmofuseError as exc:
        raise ModelLoadError(f"{where}: cannot build the model from its configuration: {exc}") from exc
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise ModelLoadError(f"{where}: cannot build the model from its configuration: {exc!r}") from exc


def _check_weights_match(network: torch.nn.Module, shapes: dict[str, tuple[int, ...]], path: Path) -> None:
    expected = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    wrong = sorted(k for k in set(expected) & set(shapes) if expected[k] != shapes[k])
    if missing or unexpected or wrong:
        details = []
        if missing:
            details.append(f"missing tensors {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            details.append(f"unexpected tensors {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if wrong:
            details.append(
                "wrong shapes "
                + ", ".join(f"{k}: file {shapes[k]} vs model {expected[k]}" for k in wrong[:5])
            )
        raise ModelLoadError(
            f"{path} does not match the model described by config.json ({'; '.join(details)}); "
            "the weights and the configuration come from different models: re-export the run"
        )


def _load_standardizers(config: PackageConfig, where: Path) -> dict[str, Any]:
    from emofuse.encoders.normalize import Standardizer

    out: dict[str, Any] = {}
    for name, branch in config.branches.items():
        if branch.standardizer is None:
            out[name] = None
            continue
        try:
            out[name] = Standardizer.from_dict(branch.standardizer)
        except EmofuseError as exc:
            raise ModelLoadError(f"{where}: branches.{name}.standardizer is damaged: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(f"{where}: branches.{name}.standardizer is damaged: {exc!r}") from exc
    return out


def _fine_tuned_encoder(name: str, branch: BranchRecord, where: Path) -> Any:
    """Build a fine-tuned encoder from the package's ``encoders/<branch>/`` (its weights checked by checksum)."""
    from emofuse.encoders import build_encoder
    from emofuse.train.rundir import ENCODER_WEIGHTS_FILE

    directory = where / ENCODERS_DIR / name
    weights = directory / ENCODER_WEIGHTS_FILE
    if not weights.is_file():
        raise ModelLoadError(
            f"{where}: branch {name!r} holds a fine-tuned encoder but {weights} is missing; re-export the model"
        )
    expected = branch.encoder_id.rsplit("-finetuned-", 1)[-1]
    if not file_sha256(weights).startswith(expected):
        raise ModelLoadError(
            f"{weights} does not match the checksum in config.json: the fine-tuned encoder was changed after "
            "training. Re-export the model from its run directory."
        )
    spec = {**dict(branch.encoder), "model": str(directory)}  # type: ignore[arg-type]
    try:
        return build_encoder(spec)
    except EmofuseError as exc:
        raise ModelLoadError(f"{where}: branch {name!r}: cannot build the fine-tuned encoder: {exc}") from exc


BUNDLED_MODEL_DIR = "model"


def _bundled_encoder_id(spec: dict[str, Any], trained_model: str, model_dir: Path) -> str:
    """The encoder id of ``spec`` as computed at training, when the model was at ``trained_model``, taken from
    the files in ``model_dir`` (their fingerprint, not their path: the id does not change when they move)."""
    from emofuse.encoders.hf import fingerprinted_id
    from emofuse.encoders.registry import encoder_class, make_config

    config = make_config({**spec, "model": trained_model})
    return fingerprinted_id(config, encoder_class(config.kind).code_version, str(model_dir))


def _bundled_encoder(name: str, branch: BranchRecord, trained_model: str, where: Path) -> Any:
    """Build a frozen encoder from the model directory the package carries (``encoders/<branch>/model/``)."""
    from emofuse.encoders import build_encoder
    from emofuse.encoders.registry import spec_to_dict

    directory = where / ENCODERS_DIR / name / BUNDLED_MODEL_DIR
    if not directory.is_dir():
        raise ModelLoadError(
            f"{where}: branch {name!r} carries its encoder's model but {directory} is missing; re-export the model"
        )
    spec = spec_to_dict(branch.encoder)
    try:
        found = _bundled_encoder_id(spec, trained_model, directory)
    except EmofuseError as exc:
        raise ModelLoadError(f"{where}: branch {name!r}: bad encoder spec {short_repr(spec)}: {exc}") from exc
    if found != branch.encoder_id:
        raise ModelLoadError(
            f"{where}: branch {name!r}: the model in {directory} gives encoder id {found!r}, but the model was "
            f"trained on {branch.encoder_id!r}; its files or the spec were changed after export. Re-export the model."
        )
    try:
        return build_encoder({**spec, "model": str(directory)})
    except EmofuseError as exc:
        raise ModelLoadError(f"{where}: branch {name!r}: cannot build the bundled encoder: {exc}") from exc


def build_branch_encoders(config: PackageConfig, where: Path | str = "<package>") -> dict[str, Any]:
    """Build each branch's encoder from its spec and check that it has the stored ``encoder_id`` (a model
    directory the package carries is read from the package, its id checked on its files, not its path).

    Raises:
        ModelLoadError: an encoder cannot be built, or its id differs from the packaged one (the spec was
            edited, or this emofuse computes that encoder differently from the one that trained the model).
    """
    from emofuse.encoders import build_encoder

    encoders: dict[str, Any] = {}
    for name, branch in config.branches.items():
        if branch.fine_tuned:
            encoders[name] = _fine_tuned_encoder(name, branch, Path(where))
            continue
        if name in config.bundled_models:
            encoders[name] = _bundled_encoder(name, branch, config.bundled_models[name], Path(where))
            continue
        try:
            encoder = build_encoder(branch.encoder)
        except EmofuseError as exc:
            raise ModelLoadError(
                f"{where}: branch {name!r}: cannot build encoder {short_repr(branch.encoder)}: {exc}"
            ) from exc
        if encoder.encoder_id != branch.encoder_id:
            raise ModelLoadError(
                f"{where}: branch {name!r}: encoder spec {short_repr(branch.encoder)} gives encoder id {encoder.encoder_id!r}, "
                f"but the model was trained on {branch.encoder_id!r}; the spec was edited or this emofuse computes "
                "that encoder differently. Use the emofuse version that trained the model, or re-train."
            )
        encoders[name] = encoder
    return encoders


def load_model(
    directory: str | os.PathLike[str],
    *,
    build_encoders: bool = True,
    allow_models: Sequence[str] = (),
    check_asr: bool = True,
) -> PackagedModel:
    """Load a packaged model directory (``config.json`` + ``model.safetensors``).

    Args:
        directory: the package directory.
        build_encoders: build the branch encoders now and check that each has its packaged ``encoder_id`` (an id
            depends on the encoder's code version and, for pretrained encoders, on the model files, so this needs
            the encoders' libraries); False defers that to the first :meth:`PackagedModel.encoders` call.
        allow_models: models the user allows the package to name beyond emofuse's offline ones and its own
            files (``--allow-model``); see :mod:`emofuse.serve.trust`.
        check_asr: also check the package's ASR model (False when the user chose their own).

    Raises:
        ModelLoadError: the directory is missing, tampered or inconsistent (message names the file and key).
    """
    from safetensors.torch import load_file

    root = Path(directory)
    if not root.is_dir():
        raise ModelLoadError(f"model directory not found: {root} (pass the folder holding config.json)")
    config_path = root / CONFIG_FILE
    raw_config = _read_json_file(config_path, "the model configuration")
    config = _parse_config(raw_config, config_path)
    if isinstance(raw_config, dict):
        from emofuse.serve.trust import check_model_sources

        if not check_asr:
            raw_config = {k: v for k, v in raw_config.items() if k != "text_source"}
        check_model_sources(raw_config, root, allowed=allow_models, where=str(config_path))
    weights_path = root / config.weights.file
    shapes = _safetensors_shapes(weights_path)
    actual_sha = file_sha256(weights_path)
    if actual_sha != config.weights.sha256:
        raise ModelLoadError(
            f"{weights_path} has SHA-256 {actual_sha[:16]}..., config.json expects {config.weights.sha256[:16]}...: "
            "the weights were changed after export. Re-export the model from its run directory."
        )
    network = _build_network(config, config_path)
    _check_weights_match(network, shapes, weights_path)
    try:
        state = load_file(str(weights_path))
        network.load_state_dict(state, strict=True)
    except Exception as exc:
        raise ModelLoadError(f"{weights_path}: cannot load the weights into the model: {exc}") from exc
    network.eval()
    for param in network.parameters():
        param.requires_grad_(False)
    packaged = PackagedModel(root, config, network, _load_standardizers(config, config_path))
    if build_encoders:
        packaged.encoders()
    return packaged


def save_package(
    out_dir: str | os.PathLike[str],
    *,
    state_dict: dict[str, Any],
    task: str,
    model: dict[str, Any],
    input_dims: dict[str, int],
    branches: dict[str, dict[str, Any]],
    n_outputs: int,
    labels: list[str] | None = None,
    avd_names: list[str] | None = None,
    text_source: TextSource,
    recipe: Any = None,
    source: dict[str, Any] | None = None,
    target_scaling: TargetScaling | None = None,
    bundled_models: dict[str, str] | None = None,
) -> Path:
    """Write a package: weights first, then ``config.json`` (written last, atomically, so a killed export
    never leaves a directory that loads). Returns the package directory.

    Args:
        state_dict: name -> tensor (saved with safetensors; tensors are made contiguous CPU copies).
        source: provenance of the weights (the run's ``system``, ``seed``, ``fold``), informative only.
        bundled_models: see :attr:`PackageConfig.bundled_models` (the files must already be in place).
    """
    from safetensors.torch import save

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    atomic_write_bytes(out / WEIGHTS_FILE, save(tensors, metadata={"format": "pt"}))
    raw = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "emofuse_version": emofuse_version(),
        "task": task,
        "labels": labels,
        "avd_names": avd_names,
        "n_outputs": n_outputs,
        "model": model,
        "input_dims": input_dims,
        "branches": branches,
        "text_source": text_source.model_dump(mode="json"),
        "target_scaling": target_scaling.model_dump(mode="json") if target_scaling is not None else None,
        "recipe": recipe,
        "source": source,
        "bundled_models": bundled_models or {},
        "weights": {"file": WEIGHTS_FILE, "sha256": file_sha256(out / WEIGHTS_FILE)},
    }
    try:
        config = PackageConfig.model_validate(raw)
    except ValidationError as exc:
        raise ModelLoadError(f"cannot package the model: {_validation_message(exc)}") from exc
    atomic_write_json(out / CONFIG_FILE, config.model_dump(mode="json"))
    return out


def _copy_tree(source: Path, target: Path) -> None:
    """Copy a directory into a temporary sibling, then rename it to ``target`` (no half-copied directory)."""
    import shutil

    if not source.is_dir():
        raise ModelLoadError(
            f"{source} is missing: the run's fine-tuned encoder was not written; re-run training"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.replace(target)


def _carried_model_dir(branch: BranchRecord) -> str | None:
    """The local model directory a frozen branch's encoder reads (its spec's ``model``, as written) when the
    package can carry it, else None (no model, a built-in offline model, a Hugging Face id).

    Any local directory is carried, not only the MLM stage's ``<cache>/adapted_text/<hash>``: a package that
    named a path on the exporting machine would load nowhere else, and a package may load only built-in models
    and its own files (:mod:`emofuse.serve.trust`). A directory is carried only when the branch's encoder id
    comes from its files (text and SSL encoders: :func:`emofuse.encoders.hf.fingerprinted_id`), so the id can be
    checked on the copy; a folder whose id is its path (a CTranslate2 Whisper folder), or that no longer gives
    the run's id, stays named as it is (loading it needs ``--allow-model``, and the id check names a change).
    """
    from emofuse.encoders.registry import spec_to_dict
    from emofuse.serve.trust import BUILTIN_MODELS

    try:
        spec = spec_to_dict(branch.encoder)
        model = spec.get("model")
        if not isinstance(model, str) or model.strip().lower() in BUILTIN_MODELS:
            return None
        directory = Path(model).expanduser()
        if not directory.is_dir() or _bundled_encoder_id(spec, model, directory) != branch.encoder_id:
            return None
    except EmofuseError:  # a spec this emofuse cannot read: left for load_model to name
        return None
    return model


def export_from_run(run_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Turn a finished run directory (``model.safetensors`` + ``run_config.json``) into a package in ``out_dir``.

    The package is loaded back (weights checked against the rebuilt model) and its model card (``README.md``, see
    :mod:`emofuse.serve.model_card`) is written before this returns; encoder ids are
    checked when the package is loaded for use (:func:`load_model`), not here, so that exporting needs no
    encoder libraries.

    Raises:
        ModelLoadError: the run directory is incomplete or its configuration is inconsistent.
    """
    from safetensors.torch import load_file

    from emofuse.encoders.registry import spec_to_dict

    run = RunDir(run_dir)
    if not run.path.is_dir():
        raise ModelLoadError(f"run directory not found: {run.path} (pass <out>/<system>/seed<k>/fold<f>/)")
    config = run.read_config()
    _safetensors_shapes(run.weights_path)
    try:
        state = load_file(str(run.weights_path))
    except Exception as exc:
        raise ModelLoadError(f"{run.weights_path}: cannot read the weights: {exc}") from exc
    branches = {name: b.model_dump(mode="json") for name, b in config.branches.items()}
    bundled: dict[str, str] = {}
    for name, branch in config.branches.items():  # fine-tuned encoders travel with the package
        if branch.fine_tuned:
            _copy_tree(run.encoder_dir(name), Path(out_dir) / ENCODERS_DIR / name)
            continue
        local = _carried_model_dir(branch)
        if local is not None:  # so does a local model directory (the adapted [SIL] model of the MLM stage)
            rel = Path(ENCODERS_DIR) / name / BUNDLED_MODEL_DIR
            _copy_tree(Path(local).expanduser(), Path(out_dir) / rel)
            spec = spec_to_dict(branch.encoder)
            if _bundled_encoder_id(spec, local, Path(out_dir) / rel) != branch.encoder_id:
                raise ModelLoadError(
                    f"{run.config_path}: branch {name!r}: the model directory {local} changed while it was copied "
                    "into the package; export again"
                )
            bundled[name] = local
            branches[name] = {**branches[name], "encoder": {**spec, "model": rel.as_posix()}}
    out = save_package(
        out_dir,
        state_dict=state,
        task=config.task,
        model=config.model.model_dump(mode="json"),
        input_dims=dict(config.input_dims),
        branches=branches,
        n_outputs=len(config.output_names),
        labels=config.labels if config.task == "classes" else None,
        avd_names=config.avd_names if config.task == "avd" else None,
        text_source=config.text_source,
        recipe=config.recipe,
        source={"system": config.system, "seed": config.seed, "fold": config.fold},
        target_scaling=config.target_scaling,
        bundled_models=bundled,
    )
    from emofuse.serve.trust import named_models

    # the run's own models: whoever exports a run trained with them (loading the package elsewhere is checked)
    own = [str(v) for _, v in named_models(_read_json_file(out / CONFIG_FILE, "the model configuration"))]
    load_model(out, build_encoders=False, allow_models=own)
    from emofuse.serve.model_card import write_model_card

    write_model_card(out, run_dir=run.path)
    return out
