"""``emofuse adapt-text``: perez2022's masked-LM adaptation with the ``[SIL]`` token, on transcript tables in order.

    emofuse transcribe corpus.jsonl --recipe perez2022/bert_sil_ccc --out transcripts.jsonl
    emofuse adapt-text conversations.jsonl transcripts.jsonl --out models/minilm-sil

writes a Hugging Face directory (``save_pretrained``) that a recipe names by path:
``--set features.text.encoder.model=models/minilm-sil``. A killed run picks up at its last finished epoch when
started again with the same ``--out`` (the progress lives in ``<out>.partial/``). Recipes can also run the stage
themselves (``features.text.encoder.adapt``, see the perez2022 README).
"""

from __future__ import annotations

from pathlib import Path

import typer


def adapt_text(
    tables: list[Path] = typer.Argument(
        ..., help="Transcripts tables (.jsonl/.csv from `emofuse transcribe`), adapted on in this order."
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Directory to write the adapted model to (must not exist)."
    ),
    model: str = typer.Option(
        "minilm", "--model", help="Base model: a local directory, a Hub id, or minilm."
    ),
    column: str = typer.Option("text_with_sil", "--column", help="Column of the tables holding the texts."),
    epochs: int = typer.Option(30, "--epochs", min=1, help="Most epochs per table."),
    patience: int = typer.Option(
        10, "--patience", min=1, help="Epochs without a lower validation loss to stop."
    ),
    lr: float = typer.Option(5e-5, "--lr", help="AdamW learning rate."),
    mask_prob: float = typer.Option(0.15, "--mask-prob", help="Share of tokens masked."),
    val_fraction: float = typer.Option(
        0.1, "--val-fraction", help="Share of each table held out for early stopping."
    ),
    batch_size: int = typer.Option(16, "--batch-size", min=1),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(0, "--threads", min=0, help="torch CPU threads (0: torch's default)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress."),
) -> None:
    """Adapt a BERT-family model with [SIL] by masked-LM on transcript tables (perez2022)."""
    from pydantic import ValidationError
    from rich.console import Console

    from emofuse.encoders.text_adapt import AdaptConfig, adapt_text_model, texts_of_table
    from emofuse.errors import ConfigError

    try:
        config = AdaptConfig(
            column=column, epochs=epochs, lr=lr, mask_prob=mask_prob, patience=patience,
            val_fraction=val_fraction, batch_size=batch_size, seed=seed,
        )  # fmt: skip
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None
    if out.exists():
        raise ConfigError(f"{out} exists; choose a new --out directory (or delete it)")
    stages = [(str(t), texts_of_table(t, column)) for t in tables]
    if threads:
        import torch

        torch.set_num_threads(threads)
    console = Console(stderr=True)
    partial = out.with_name(out.name + ".partial")
    if partial.is_dir():
        console.print(f"resuming the adaptation in {partial}")
    base = None if model.strip().lower() == "minilm" else model
    result = adapt_text_model(stages, out, model=base, config=config, progress=progress)
    for stage in result.stages:
        best = stage.get("best_epoch")
        val = stage["val_loss"][best - 1] if best else float("nan")
        console.print(
            f"{stage['name']}: {stage['n_train']} texts (+{stage['n_val']} validation), "
            f"{len(stage['val_loss'])} epoch(s), best epoch {best} (validation loss {val:.3f})"
        )
    console.print(f"[SIL] id {result.sil_id}; MLM head: {result.head_init}; wrote {result.out_dir}")
