"""Learning the ``[SIL]`` token by masked-language-model adaptation (perez2022, Sec. 4.1 and 4.3).

perez2022 adds a silence token to BERT's tokenizer and embedding matrix and adapts the whole model with MLM
(15 % of tokens masked, lr 5e-5, up to 30 epochs; Switchboard then MSP-Podcast, both with ``[SIL]`` inserted at
ASR word gaps). :func:`adapt_sil_token_mlm` does the same on the texts you give it (for example the
``text_with_sil`` column of the training part of a corpus) and saves a model directory that the text encoder
loads with ``{"kind": "text", "model": DIR, "sil_token": true}`` (a quick single pass: the stage with several
tables, validation, early stopping and resume is :mod:`emofuse.encoders.text_adapt`, ``emofuse adapt-text``). Unlike the stock masking collator it lets
``[SIL]`` itself be masked and predicted, so its input and output embedding rows are both trained.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emofuse.encoders.hf import load_pretrained, resolve_model
from emofuse.encoders.text import _SIL_RE, SIL_TOKEN, add_sil_token
from emofuse.errors import ConfigError


def mask_tokens(
    input_ids: Any, maskable: Any, tokenizer: Any, prob: float, generator: Any
) -> tuple[Any, Any]:
    """BERT masking: of the chosen ``prob`` positions, 80 % -> [MASK], 10 % -> random token, 10 % unchanged.

    ``input_ids`` / ``maskable``: ``[B, T]``. Returns ``(inputs [B, T], labels [B, T])`` (-100 where not chosen).
    """
    import torch

    labels = input_ids.clone()
    chosen = (torch.rand(input_ids.shape, generator=generator) < prob) & maskable
    labels[~chosen] = -100
    inputs = input_ids.clone()
    to_mask = chosen & (torch.rand(input_ids.shape, generator=generator) < 0.8)
    inputs[to_mask] = tokenizer.mask_token_id
    to_random = chosen & ~to_mask & (torch.rand(input_ids.shape, generator=generator) < 0.5)
    inputs[to_random] = torch.randint(len(tokenizer), input_ids.shape, generator=generator)[to_random]
    return inputs, labels


def mlm_batch_loss(
    mlm: Any, tokenizer: Any, texts: Sequence[str], mask_prob: float, max_tokens: int, generator: Any
) -> Any:
    """Masked-LM loss (a scalar tensor) of one batch of texts, every token but the special ones (except ``[SIL]``)
    maskable; None when no token was chosen."""
    sil_id = tokenizer.convert_tokens_to_ids(SIL_TOKEN) if SIL_TOKEN in tokenizer.get_vocab() else None
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
    ids = enc["input_ids"]
    maskable = enc["attention_mask"].bool()
    for s in set(tokenizer.all_special_ids) - {sil_id}:
        maskable &= ids != s
    inputs, labels = mask_tokens(ids, maskable, tokenizer, mask_prob, generator)
    if (labels != -100).sum() == 0:
        return None
    return mlm(input_ids=inputs, attention_mask=enc["attention_mask"], labels=labels).loss


def adapt_sil_token_mlm(
    texts: Sequence[str],
    out_dir: str | os.PathLike[str],
    *,
    model: str | None = None,
    epochs: int = 3,
    lr: float = 5e-5,
    mask_prob: float = 0.15,
    batch_size: int = 16,
    max_tokens: int = 128,
    sil_init: str = "mean",
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Add ``[SIL]`` to ``model`` (id, local dir, or None for MiniLM), adapt it with MLM on ``texts``, save it.

    Args:
        texts: training sentences; ``[SIL]`` / ``[sil]`` marks pauses. Use training utterances only.
        out_dir: where the adapted model and tokenizer are saved (written to a temporary directory first and
            moved into place, so an interrupted run leaves nothing half-written).

    Returns:
        ``{"out_dir", "sil_id", "losses" (mean loss per epoch)}``.
    """
    import torch
    import transformers

    if not texts:
        raise ConfigError("adapt_sil_token_mlm needs training texts")
    target = Path(out_dir)
    if target.exists():
        raise ConfigError(f"{target} exists; choose a new directory for the adapted model")
    name = resolve_model(model)
    tokenizer = load_pretrained(transformers.AutoTokenizer, name, "tokenizer")
    mlm = load_pretrained(transformers.AutoModelForMaskedLM, name, "masked language model")
    if tokenizer.mask_token_id is None:
        raise ConfigError(
            f"{name}: the tokenizer has no [MASK] token; MLM adaptation needs a BERT-like model"
        )
    sil_id = add_sil_token(tokenizer, mlm, sil_init)
    prepared = [_SIL_RE.sub(SIL_TOKEN, t) for t in texts]

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(mlm.parameters(), lr=lr)
    mlm.train()
    losses: list[float] = []
    from rich.progress import Progress

    with Progress(disable=not progress) as bar:
        task = bar.add_task(
            "MLM adaptation ([SIL])", total=epochs * ((len(prepared) + batch_size - 1) // batch_size)
        )
        for _ in range(epochs):
            order = torch.randperm(len(prepared), generator=generator).tolist()
            epoch_losses = []
            for i in range(0, len(order), batch_size):
                batch = [prepared[j] for j in order[i : i + batch_size]]
                loss = mlm_batch_loss(mlm, tokenizer, batch, mask_prob, max_tokens, generator)
                if loss is None:
                    bar.advance(task)
                    continue
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                epoch_losses.append(float(loss.detach()))
                bar.advance(task)
            losses.append(sum(epoch_losses) / max(1, len(epoch_losses)))
    mlm.eval()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        mlm.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"out_dir": str(target), "sil_id": sil_id, "losses": losses}
