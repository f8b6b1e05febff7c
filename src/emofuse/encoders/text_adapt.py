"""perez2022's MLM adaptation as a stage: a BERT-family model learns ``[SIL]`` on transcript tables, in sequence.

perez2022 (Perez et al., "Mind the gap: On the value of silence representations to lexical-based speech emotion
recognition", Interspeech 2022, Sec. 4.3) adds ``[SIL]`` to BERT and adapts the whole model with masked-LM on
spoken text with ``[SIL]`` at the ASR word gaps: Switchboard first, then the target corpus (MSP-Podcast); 15 %
masking, lr 5e-5, up to 30 epochs, with checkpointing and early stopping. :func:`adapt_text_model` does that on
one or more stages (``[(name, texts), ...]``, each a transcripts table's ``text_with_sil`` column):

* each stage holds out ``val_fraction`` of its texts (seeded) and stops when their masked-LM loss has not improved
  for ``patience`` epochs; the next stage starts from the best weights of the one before (a fresh AdamW);
* masking is BERT's (:func:`emofuse.encoders.text_mlm.mask_tokens`: 80 % ``[MASK]``, 10 % random, 10 % kept) and
  lets ``[SIL]`` itself be masked and predicted, so its input row is trained; the validation masks are drawn
  from one fixed seed, so the losses of two epochs compare;
* **resumable**: after every epoch the weights, the optimiser moments and the progress are written to
  ``<out_dir>.partial/`` (safetensors and JSON, never a pickle; each file atomically); a killed run continues
  from the last finished epoch;
* **heads**: a checkpoint without a masked-LM head (all-MiniLM-L6-v2, the offline stand-in, is a sentence
  encoder saved without one) gets the head initialised from the model itself: the decoder is tied to the input
  embeddings (so a token is predicted by similarity to its own embedding row), its bias is zero, and the transform
  (dense + LayerNorm) starts as the identity; never a random decoder. :attr:`AdaptResult.head_init` says which.

The result is a Hugging Face directory (``save_pretrained``: model with its MLM head, tokenizer with ``[SIL]``,
``emofuse_adaptation.json`` with the settings and losses) that a recipe's text encoder loads by path with
``sil_token: true``; the text encoder's ``AutoModel`` ignores the head.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from emofuse.errors import ConfigError
from emofuse.hashing import config_hash, text_key
from emofuse.io import atomic_write_json, read_json

STATE_NAME = "state.json"
WEIGHTS_NAME = "current.safetensors"
BEST_NAME = "best.safetensors"
OPTIMIZER_NAME = "optimizer.safetensors"
INFO_NAME = "emofuse_adaptation.json"


class AdaptConfig(BaseModel):
    """Settings of an adaptation (the defaults are perez2022's where the paper gives them).

    ``column``: the transcripts-table column the texts come from. ``val_fraction``: share of each stage's texts
    held out for early stopping (at least one text). ``max_tokens``: longer texts are truncated.
    """

    model_config = ConfigDict(extra="forbid")

    column: str = "text_with_sil"
    epochs: int = Field(default=30, ge=1, le=1000)
    lr: float = Field(default=5e-5, gt=0.0)
    mask_prob: float = Field(default=0.15, gt=0.0, lt=1.0)
    patience: int = Field(default=10, ge=1)
    val_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
    batch_size: int = Field(default=16, ge=1)
    max_tokens: int = Field(default=128, ge=8)
    sil_init: Literal["mean", "sep", "pad"] = "mean"
    seed: int = 0


@dataclass
class AdaptResult:
    """What :func:`adapt_text_model` did: the output directory, ``[SIL]``'s id, the losses per stage and epoch."""

    out_dir: str
    sil_id: int
    head_init: str  # "checkpoint" (the model's own MLM head) or "tied-embeddings"
    stages: list[dict[str, Any]] = field(
        default_factory=list
    )  # {name, n_train, n_val, train_loss, val_loss, best_epoch}


def texts_of_table(path: str | os.PathLike[str], column: str) -> list[str]:
    """The non-empty texts of ``column`` in a transcripts table (``emofuse transcribe``'s .jsonl, or .csv).

    Raises:
        ConfigError: the file is missing, unreadable, lacks the column, or holds no text (the message names it).
    """
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise ConfigError(
            f"{file}: no such transcripts table; give a .jsonl/.csv written by `emofuse transcribe`"
        )
    try:
        frame = pd.read_csv(file) if file.suffix == ".csv" else pd.read_json(file, lines=True)
    except ValueError as exc:
        raise ConfigError(
            f"{file}: not a transcripts table (.jsonl, one JSON object a line, or .csv): {exc}"
        ) from None
    if column not in frame.columns:
        raise ConfigError(
            f"{file} has no {column!r} column (columns: {list(frame.columns)}); set the column to read"
        )
    texts = [str(t).strip() for t in frame[column] if isinstance(t, str) and t.strip()]
    if len(texts) < 2:
        raise ConfigError(
            f"{file}: column {column!r} holds {len(texts)} text(s); adaptation needs at least 2"
        )
    return texts


def _init_missing_head(mlm: Any, missing: Sequence[str]) -> str:
    """Initialise a masked-LM head the checkpoint lacked from the model itself (module doc); returns how."""
    import torch

    if not any(k.startswith(("cls.", "lm_head", "predictions")) for k in missing):
        return "checkpoint"
    head = getattr(getattr(mlm, "cls", None), "predictions", None)
    if head is None:
        raise ConfigError(
            f"{type(mlm).__name__}: the checkpoint has no masked-LM head and this architecture's head is not "
            "BERT-like; adapt a BERT-family model"
        )
    with torch.no_grad():
        dense = head.transform.dense
        dense.weight.copy_(torch.eye(dense.weight.shape[0], dense.weight.shape[1]))
        dense.bias.zero_()
        head.transform.LayerNorm.weight.fill_(1.0)
        head.transform.LayerNorm.bias.zero_()
        head.decoder.weight = mlm.get_input_embeddings().weight  # tied to the input embeddings
        head.bias.zero_()
    return "tied-embeddings"


def _split(texts: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(texts))
    n_val = min(len(texts) - 1, max(1, int(round(fraction * len(texts)))))
    return [texts[i] for i in order[n_val:]], [texts[i] for i in order[:n_val]]


class _Checkpoint:
    """The ``.partial`` directory of a running adaptation: progress JSON + safetensors weights and moments."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def state(self) -> dict[str, Any] | None:
        path = self.root / STATE_NAME
        return read_json(path) if path.is_file() else None

    def save_weights(self, mlm: Any, name: str) -> None:
        from safetensors.torch import save_model

        tmp = self.root / f".{name}.tmp"
        save_model(mlm, str(tmp))
        os.replace(tmp, self.root / name)

    def load_weights(self, mlm: Any, name: str) -> None:
        from safetensors.torch import load_model

        load_model(mlm, str(self.root / name))

    def save_optimizer(self, optimizer: Any) -> None:
        from safetensors.torch import save_file

        flat = {
            f"{index}.{key}": value.detach().clone().contiguous()
            for index, moments in optimizer.state_dict()["state"].items()
            for key, value in moments.items()
        }
        tmp = self.root / f".{OPTIMIZER_NAME}.tmp"
        save_file(flat, str(tmp))
        os.replace(tmp, self.root / OPTIMIZER_NAME)

    def load_optimizer(self, optimizer: Any) -> None:
        from safetensors.torch import load_file

        path = self.root / OPTIMIZER_NAME
        if not path.is_file():
            return
        state: dict[int, dict[str, Any]] = {}
        for name, value in load_file(str(path)).items():
            index, key = name.split(".", 1)
            state.setdefault(int(index), {})[key] = value
        current = optimizer.state_dict()
        optimizer.load_state_dict({"state": state, "param_groups": current["param_groups"]})

    def save_state(self, state: dict[str, Any]) -> None:
        atomic_write_json(self.root / STATE_NAME, state)


def _mean_loss(
    mlm: Any, tokenizer: Any, texts: Sequence[str], config: AdaptConfig, seed: int, train: Any = None
) -> float:
    """Mean masked-LM loss over ``texts`` in batches; with ``train`` (an optimiser), one training epoch."""
    import torch

    from emofuse.encoders.text_mlm import mlm_batch_loss

    generator = torch.Generator().manual_seed(seed)
    order = (
        torch.randperm(len(texts), generator=generator).tolist() if train is not None else range(len(texts))
    )
    items = [texts[i] for i in order]
    losses: list[float] = []
    mlm.train(train is not None)
    for start in range(0, len(items), config.batch_size):
        batch = items[start : start + config.batch_size]
        with torch.set_grad_enabled(train is not None):
            loss = mlm_batch_loss(mlm, tokenizer, batch, config.mask_prob, config.max_tokens, generator)
        if loss is None:
            continue
        if train is not None:
            train.zero_grad()
            loss.backward()
            train.step()
        losses.append(float(loss.detach()))
    return sum(losses) / len(losses) if losses else math.nan


def adapt_text_model(
    stages: Sequence[tuple[str, Sequence[str]]],
    out_dir: str | os.PathLike[str],
    *,
    model: str | None = None,
    config: AdaptConfig | None = None,
    progress: bool = True,
) -> AdaptResult:
    """Adapt ``model`` (id, local directory, None = MiniLM) with ``[SIL]`` on ``stages`` in order; save it.

    Args:
        stages: ``[(name, texts)]``; texts mark pauses with ``[SIL]`` (any case).
        out_dir: the Hugging Face directory to write (must not exist; written in one move at the end).

    Raises:
        ConfigError: ``out_dir`` exists, a stage has fewer than 2 texts, or the model has no ``[MASK]`` token.
        ModelLoadError: the model cannot be loaded.
    """
    import transformers

    from emofuse.encoders.hf import load_pretrained, resolve_model
    from emofuse.encoders.text import _SIL_RE, SIL_TOKEN, add_sil_token

    cfg = config or AdaptConfig()
    target = Path(out_dir)
    if target.exists():
        raise ConfigError(f"{target} exists; choose a new directory for the adapted model (or delete it)")
    if not stages:
        raise ConfigError("adaptation needs at least one stage of texts")
    for name, texts in stages:
        if len(texts) < 2:
            raise ConfigError(f"stage {name!r} holds {len(texts)} text(s); adaptation needs at least 2")
    ckpt = _Checkpoint(target.with_name(target.name + ".partial"))
    ckpt.root.mkdir(parents=True, exist_ok=True)
    state = ckpt.state()
    texts_key = [[name, text_key("\n".join(texts))] for name, texts in stages]
    inputs = config_hash({"model": model, "config": cfg.model_dump(mode="json"), "stages": texts_key})
    if state is not None and state.get("inputs") != inputs:
        raise ConfigError(
            f"{ckpt.root} holds an unfinished adaptation of other tables or settings; delete it to start "
            "again, or choose another output directory"
        )
    source = str(ckpt.root) if state is not None else resolve_model(model)
    tokenizer = load_pretrained(transformers.AutoTokenizer, source, "tokenizer")
    mlm, info = load_pretrained(
        transformers.AutoModelForMaskedLM, source, "masked language model", output_loading_info=True
    )
    if tokenizer.mask_token_id is None:
        raise ConfigError(
            f"{source}: the tokenizer has no [MASK] token; MLM adaptation needs a BERT-like model"
        )
    if state is None:
        head_init = _init_missing_head(mlm, info.get("missing_keys", []))
        sil_id = add_sil_token(tokenizer, mlm, cfg.sil_init)
        mlm.tie_weights()
        tokenizer.save_pretrained(ckpt.root)
        mlm.save_pretrained(ckpt.root)  # the starting point, so a resume rebuilds the same architecture
        state = {
            "stage": 0,
            "epoch": 0,
            "best_val": None,
            "bad_epochs": 0,
            "head_init": head_init,
            "stages": [],
            "inputs": inputs,
        }
        ckpt.save_weights(mlm, BEST_NAME)
        ckpt.save_state(state)
    else:
        sil_id = add_sil_token(tokenizer, mlm, cfg.sil_init)  # already there: returns its id
        ckpt.load_weights(mlm, WEIGHTS_NAME if (ckpt.root / WEIGHTS_NAME).is_file() else BEST_NAME)
    prepared = [(name, [_SIL_RE.sub(SIL_TOKEN, t) for t in texts]) for name, texts in stages]
    _run_stages(mlm, tokenizer, prepared, cfg, ckpt, state, progress)
    return _save(mlm, tokenizer, ckpt, target, cfg, state, sil_id, model)


def _run_stages(
    mlm: Any,
    tokenizer: Any,
    stages: Sequence[tuple[str, list[str]]],
    cfg: AdaptConfig,
    ckpt: _Checkpoint,
    state: dict[str, Any],
    progress: bool,
) -> None:
    import torch

    from emofuse.progress import progress as make_progress

    torch.manual_seed(cfg.seed)
    with make_progress(enabled=progress) as bar:
        task = bar.add_task("MLM adaptation ([SIL])", total=len(stages) * cfg.epochs)
        bar.update(task, completed=state["stage"] * cfg.epochs + state["epoch"])
        while state["stage"] < len(stages):
            index = state["stage"]
            name, texts = stages[index]
            train, val = _split(texts, cfg.val_fraction, cfg.seed + index)
            optimizer = torch.optim.AdamW(mlm.parameters(), lr=cfg.lr)
            if state["epoch"] > 0:
                ckpt.load_optimizer(optimizer)
            if len(state["stages"]) <= index:
                state["stages"].append(
                    {"name": name, "n_train": len(train), "n_val": len(val), "train_loss": [], "val_loss": []}
                )
            record = state["stages"][index]
            while state["epoch"] < cfg.epochs and state["bad_epochs"] < cfg.patience:
                seed = cfg.seed + 1000 * index + state["epoch"]
                record["train_loss"].append(_mean_loss(mlm, tokenizer, train, cfg, seed, optimizer))
                val_loss = _mean_loss(mlm, tokenizer, val, cfg, cfg.seed)
                record["val_loss"].append(val_loss)
                state["epoch"] += 1
                if state["best_val"] is None or val_loss < state["best_val"]:
                    state["best_val"], state["bad_epochs"] = val_loss, 0
                    record["best_epoch"] = state["epoch"]
                    ckpt.save_weights(mlm, BEST_NAME)
                else:
                    state["bad_epochs"] += 1
                ckpt.save_weights(mlm, WEIGHTS_NAME)
                ckpt.save_optimizer(optimizer)
                ckpt.save_state(state)
                bar.update(task, description=f"MLM adaptation: {name} epoch {state['epoch']}", advance=1)
            bar.update(task, completed=(index + 1) * cfg.epochs)
            ckpt.load_weights(mlm, BEST_NAME)  # the next stage (and the result) start from the best epoch
            ckpt.save_weights(mlm, WEIGHTS_NAME)
            (ckpt.root / OPTIMIZER_NAME).unlink(missing_ok=True)
            state.update(stage=index + 1, epoch=0, best_val=None, bad_epochs=0)
            ckpt.save_state(state)
    mlm.eval()


def _save(
    mlm: Any,
    tokenizer: Any,
    ckpt: _Checkpoint,
    target: Path,
    cfg: AdaptConfig,
    state: dict[str, Any],
    sil_id: int,
    model: str | None,
) -> AdaptResult:
    result = AdaptResult(str(target), sil_id, str(state["head_init"]), list(state["stages"]))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        mlm.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        info = {"base_model": model or "minilm", "config": cfg.model_dump(mode="json"), **asdict(result)}
        (tmp / INFO_NAME).write_text(json.dumps(info, indent=1), encoding="utf-8")
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(ckpt.root, ignore_errors=True)
    return result
