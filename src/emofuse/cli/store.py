"""``emofuse store``: inspect, consolidate and prune the feature store."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, help="Inspect, pack and prune the feature store.")

_STORE = typer.Option(None, "--store", help="Feature store directory (default: the emofuse cache).")


def _human(n_bytes: int) -> str:
    size = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} GiB"


@app.command()
def info(store: Path | None = _STORE) -> None:
    """Entries and size per encoder."""
    from rich.console import Console
    from rich.table import Table

    from emofuse.encoders import FeatureStore

    fs = FeatureStore(store)
    table = Table(title=f"feature store {fs.root}")
    for col in ("encoder id", "kind", "output", "dim", "dtype", "entries", "size"):
        table.add_column(col)
    for enc in fs.encoder_ids():
        m = fs.manifest(enc) or {}
        cfg = m.get("config", {})
        table.add_row(
            enc,
            str(cfg.get("kind", "?")),
            str(m.get("output", "?")),
            str(m.get("dim", "?")),
            str(m.get("storage_dtype", "?")),
            str(fs.count(enc)),
            _human(fs.size_bytes(enc)),
        )
    Console().print(table)
    Console().print(f"total {_human(fs.size_bytes())}; leftover temporary files: {len(fs.temp_files())}")


@app.command()
def prune(
    store: Path | None = _STORE,
    encoder: str | None = typer.Option(
        None, "--encoder", help="Encoder id to drop (all of it, or with --keep-corpus)."
    ),
    keep_corpus: Path | None = typer.Option(
        None, "--keep-corpus", help="Keep only audio entries of this utterance table (audio encoders)."
    ),
) -> None:
    """Remove an encoder's entries, entries not used by a corpus, and leftover temporary/damaged files."""
    from rich.console import Console

    from emofuse.encoders import FeatureStore, utterance_keys

    fs = FeatureStore(store)
    keep = None
    if keep_corpus is not None:
        from emofuse.corpus.table import read_table

        keep = set(utterance_keys(read_table(keep_corpus), "audio").values())
    if encoder is not None and encoder not in fs.encoder_ids():
        from emofuse.errors import FeatureStoreError

        raise FeatureStoreError(f"no encoder {encoder!r} in {fs.root}; see `emofuse store info`")
    if keep is None:
        removed = fs.prune(encoder_id=encoder)
    else:
        # audio keys say nothing about text entries: only audio encoders are pruned against a corpus
        targets = [encoder] if encoder else fs.encoder_ids()
        audio = [e for e in targets if (fs.manifest(e) or {}).get("modality") == "audio"]
        removed = sum(fs.prune(encoder_id=e, keep_keys=keep) for e in audio)
    Console().print(
        f"removed {removed} entr{'y' if removed == 1 else 'ies'}; store now {_human(fs.size_bytes())}"
    )


@app.command()
def pack(
    store: Path | None = _STORE, encoder: str = typer.Option(..., "--encoder", help="Encoder id to pack.")
) -> None:
    """Consolidate one encoder's entries into one memory-mapped array for faster training reads."""
    from rich.console import Console

    from emofuse.encoders import FeatureStore

    n = FeatureStore(store).pack(encoder)
    Console().print(f"packed {n} entries of {encoder}")
