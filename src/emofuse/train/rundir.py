"""One run directory of the training runner, typed: its files, its configuration and the done marker.

Layout (``<out>/<system>/seed<k>/fold<f>/``, f = fold index from 0)::

    recipe.json          the resolved recipe of the system
    run_config.json      :class:`RunConfig`: model config, input dims, task, labels, branches, text source, recipe
    model.safetensors    the trained state dict
    predictions.csv      system, seed, fold, utterance_id, label, pred, p_<class>... (A/V/D: true_<dim>, pred_<dim>)
    metrics.json         test (and dev) metrics of the fold, epochs, history, timings
    done.json            written last, atomically: the run is complete (with its config hash)

The runner writes a run directory only through :class:`RunDir`; ``serve`` export and ``explain`` read it only
through :meth:`RunDir.read_config`, and tests build one with :meth:`RunDir.write` too, so a format change shows up
in one place.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from emofuse.errors import ModelLoadError
from emofuse.io import atomic_write_json, read_json
from emofuse.recipes.model import ModelConfig
from emofuse.recipes.schema import InputKind
from emofuse.train.target_norm import TargetScaling
from emofuse.transcribe.source import TextSource

if TYPE_CHECKING:
    import torch

RUN_CONFIG_FILE = "run_config.json"
WEIGHTS_FILE = "model.safetensors"
RECIPE_FILE = "recipe.json"
PREDICTIONS_FILE = "predictions.csv"
METRICS_FILE = "metrics.json"
ENCODERS_DIR = "encoders"
ENCODER_WEIGHTS_FILE = "model.safetensors"  # inside encoders/<branch>/ (save_pretrained's name)
DONE_FILE = "done.json"
RUN_FILES = (RECIPE_FILE, RUN_CONFIG_FILE, WEIGHTS_FILE, PREDICTIONS_FILE, METRICS_FILE)


class BranchRecord(BaseModel):
    """One input branch of a trained model: which encoder feeds it (spec and id), from what, normalised how."""

    model_config = ConfigDict(extra="forbid")

    encoder: str | dict[str, Any]
    encoder_id: str = Field(min_length=1)
    input: InputKind
    standardizer: dict[str, Any] | None = None
    #: the encoder was fine-tuned (end_to_end mode): its weights are in ``encoders/<branch>/`` beside the
    #: model, ``encoder``'s ``model`` names that directory relative to the run directory / package, and
    #: ``encoder_id`` is ``<id of the original encoder>-finetuned-<SHA-256 of its model.safetensors, 16 hex>``
    fine_tuned: bool = False
    per_speaker: Literal["none", "mean"] = "none"  # "mean": a speaker's mean (a new recording: its own)


class RunConfig(BaseModel):
    """``run_config.json``: everything needed to rebuild, feed and package the trained network.

    ``text_source`` is the one the transcripts were actually made with (the runner checks it against the recipe).
    """

    model_config = ConfigDict(extra="forbid")

    model: ModelConfig
    input_dims: dict[str, int]
    task: Literal["classes", "avd"]
    labels: list[str] | None = None
    avd_names: list[str] | None = None
    branches: dict[str, BranchRecord]
    text_source: TextSource
    #: ``data.target_norm``'s training-fold statistics: the network's A/V/D outputs are normalised values
    target_scaling: TargetScaling | None = None
    recipe: dict[str, Any]
    system: str
    seed: int
    fold: str

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        names = self.labels if self.task == "classes" else self.avd_names
        if not names:
            raise ValueError(
                f"task {self.task!r} needs {'labels' if self.task == 'classes' else 'avd_names'}"
            )
        # branches: every model branch, plus the further inputs a package computes (makiuchi2021's speaker
        # embedding); training-only inputs (phone ids, log-mel target) are not recorded
        recorded = set(self.branches)
        if (
            set(self.input_dims) != recorded
            or not set(self.model.branches) <= recorded
            or not recorded <= self.model.input_names()
        ):
            raise ValueError(
                f"input_dims {sorted(self.input_dims)}, branches {sorted(self.branches)} and model.branches "
                f"{sorted(self.model.branches)} (with inputs {sorted(self.model.input_names())}) must name the "
                "same branches"
            )
        return self

    @property
    def output_names(self) -> list[str]:
        """Class names (classes) or A/V/D names (avd), in output order."""
        return list((self.labels if self.task == "classes" else self.avd_names) or [])


class RunDir:
    """The directory of one run (seed x fold of one system) and the only code that knows its file names."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @classmethod
    def of(cls, out_dir: str | os.PathLike[str], system: str, seed: int, fold_index: int) -> RunDir:
        """``<out_dir>/<system>/seed<seed>/fold<n>``, ``n = fold_index + 1``: directories count folds from 1, as
        folds are named (``fold1`` holds ``fold1``)."""
        return cls(Path(out_dir) / system / f"seed{seed}" / f"fold{fold_index + 1}")

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # ---- paths ------------------------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / RUN_CONFIG_FILE

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS_FILE

    @property
    def predictions_path(self) -> Path:
        return self.path / PREDICTIONS_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS_FILE

    @property
    def recipe_path(self) -> Path:
        return self.path / RECIPE_FILE

    def write_encoder(self, branch: str, save: Callable[[Path], None]) -> str:
        """Write a fine-tuned encoder with ``save(directory)`` into a temporary directory, renamed to
        ``encoders/<branch>/`` when complete. Returns the SHA-256 of its ``model.safetensors``."""
        from emofuse.hashing import file_sha256

        final = self.encoder_dir(branch)
        tmp_dir = final.parent / f".{branch}.tmp"
        shutil.rmtree(tmp_dir, ignore_errors=True)
        tmp_dir.mkdir(parents=True)
        save(tmp_dir)
        shutil.rmtree(final, ignore_errors=True)
        tmp_dir.replace(final)
        return file_sha256(final / ENCODER_WEIGHTS_FILE)

    def encoder_dir(self, branch: str) -> Path:
        """``encoders/<branch>/``: a fine-tuned encoder (Hugging Face ``save_pretrained`` layout, safetensors)."""
        return self.path / ENCODERS_DIR / branch

    @property
    def done_path(self) -> Path:
        return self.path / DONE_FILE

    # ---- state --------------------------------------------------------------------------------------------------
    def done_hash(self) -> str | None:
        """The config hash in the done marker when every run file is there, else None (unfinished)."""
        if not self.done_path.is_file() or any(not (self.path / f).is_file() for f in RUN_FILES):
            return None
        try:
            data = read_json(self.done_path)
        except (OSError, ValueError):
            return None
        return str(data.get("config_hash")) if isinstance(data, dict) else None

    def is_complete(self, expected_hash: str | None = None) -> bool:
        """True when the run finished (and, if given, with config hash ``expected_hash``)."""
        found = self.done_hash()
        return found is not None and (expected_hash is None or found == expected_hash)

    def clear(self) -> None:
        """Remove what a killed run left behind (never called on a finished run), then make the directory."""
        if self.path.exists():
            for p in self.path.iterdir():
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        self.path.mkdir(parents=True, exist_ok=True)

    # ---- reading and writing -------------------------------------------------------------------------------------
    def read_config(self) -> RunConfig:
        """The validated ``run_config.json``.

        Raises:
            ModelLoadError: missing (the run did not finish), not JSON, or of another format (re-run the training).
        """
        path = self.config_path
        if not path.is_file():
            raise ModelLoadError(
                f"{path} is missing: {self.path} is not a finished run (re-run `emofuse run`)"
            )
        try:
            raw = read_json(path)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"{path} is not valid JSON ({exc}); re-run the training to rewrite it"
            ) from None
        try:
            return RunConfig.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<top level>'}: {e['msg']}" for e in exc.errors()[:6]
            )
            raise ModelLoadError(
                f"{path} is not a run configuration of this emofuse ({problems}); re-run the training"
            ) from None

    def write(
        self,
        config: RunConfig,
        state_dict: dict[str, torch.Tensor],
        *,
        predictions_csv: str = "",
        metrics: dict[str, Any] | None = None,
        config_hash: str = "",
    ) -> None:
        """Write every file of a finished run, the done marker last (each file atomically).

        Fine-tuned encoders are written before, with :meth:`write_encoder`.
        """
        from safetensors.torch import save_file

        from emofuse.io import atomic_write_text

        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.recipe_path, config.recipe)
        atomic_write_json(self.config_path, config.model_dump(mode="json"))
        state = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
        tmp = self.path / f".{WEIGHTS_FILE}.tmp"
        save_file(state, str(tmp), metadata={"format": "pt", "system": config.system})
        tmp.replace(self.weights_path)
        atomic_write_text(self.predictions_path, predictions_csv)
        atomic_write_json(self.metrics_path, metrics or {})
        atomic_write_json(
            self.done_path, {"config_hash": config_hash, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        )


__all__ = ["BranchRecord", "RUN_FILES", "RunConfig", "RunDir"]
