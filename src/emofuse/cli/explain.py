"""``emofuse explain``: explain what a trained model learned and why it predicted what it did.

Examples::

    emofuse explain embeddings runs/ --system multimodal --corpus iemocap.jsonl --store features/ --out explain/
    emofuse explain layers runs/fusion_distilhubert/seed0/fold1 --out explain/
    emofuse explain tokens model/ talk.wav --transcript "I am so tired" --out explain/
    emofuse explain silence runs/bert_sil_ft_ccc/seed0/fold1 --transcripts transcripts.jsonl --out explain/

* ``embeddings``: kumar2021's intersection matrix (how much the classes' embedding clusters overlap in the
  first 3 principal components; lower = better separated) and the PCA plot of the embeddings, recomputed on
  the test utterances of a run (or of every fold of one system and seed; the matrix is then averaged).
* ``layers``: the learned layer weights of layer-weighting branches (makiuchi2021, deoliveira2023).
* ``speaker-probe``: makiuchi2021's speaker-identification probe (Table 3) on the bottleneck features of
  cross-representation models (e.g. ``runs/speech/seed0/fold1 runs/speech_large/seed0/fold1``).
* ``tokens``: integrated-gradients attributions of the predicted class over the text branch's tokens,
  ``[SIL]`` included (perez2022; a BERT-family branch over its input embeddings), of a package or a run directory.
* ``silence``: perez2022 Sec. 6 over a run's test utterances: distance of high-attribution tokens to ``[SIL]``
  and attributions by silence-ratio bin (:mod:`emofuse.cli.explain_tokens`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

app = typer.Typer(no_args_is_help=True, help="Explain a trained model: embeddings, layer weights, tokens.")


def _console() -> Any:
    from rich.console import Console

    return Console()


def _matrix_table(matrix: Any, classes: list[str], title: str) -> Any:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("")
    for c in classes:
        table.add_column(c, justify="right")
    for i, c in enumerate(classes):
        cells = []
        for j in range(len(classes)):
            v = float(matrix[i, j])
            style = "dim" if i == j else ("red" if v > 0.5 else "yellow" if v > 0.2 else "green")
            cells.append(f"[{style}]{v:.3f}[/]")
        table.add_row(c, *cells)
    return table


def _write_matrix_csv(path: Path, matrix: Any, classes: list[str]) -> None:
    import pandas as pd

    from emofuse.io import atomic_write_text

    frame = pd.DataFrame(matrix, index=classes, columns=classes)
    atomic_write_text(path, frame.to_csv(index_label="class", float_format="%.6f"))


@app.command("embeddings")
def embeddings(
    run: Path = typer.Argument(
        ..., help="A run directory, or an `emofuse run --out` directory (then --system)."
    ),
    corpus: Path = typer.Option(..., "--corpus", help="The utterance table the run was trained on."),
    store: Path | None = typer.Option(None, "--store", help="Feature store directory (default: the cache)."),
    transcripts: Path | None = typer.Option(
        None, "--transcripts", help="Transcripts table (for branches reading asr/asr_sil text)."
    ),
    out: Path = typer.Option(..., "--out", help="Output directory for the PNG/CSV/JSON files."),
    system: str | None = typer.Option(None, "--system", help="System to explain in an experiment directory."),
    seed: int | None = typer.Option(None, "--seed", help="Seed to explain (default: the smallest)."),
    layer: str = typer.Option(
        "embedding",
        "--layer",
        help="Which representation: embedding (the fused branch embeddings: kumar2021's third-last layer), hidden "
        "(the fusion head's hidden layer: the second-last), output (the softmax layer), or a branch name.",
    ),
) -> None:
    """kumar2021's intersection matrix and the PCA plot of a run's test embeddings."""
    import numpy as np

    from emofuse.corpus.table import read_table
    from emofuse.encoders import FeatureStore
    from emofuse.errors import ConfigError
    from emofuse.explain import intersection_matrix, plot_embeddings_pca, plot_intersection_matrix
    from emofuse.explain.runs import find_runs, mean_matrix, run_embeddings
    from emofuse.io import atomic_write_json

    console = _console()
    runs = find_runs(run, system, seed)
    table = read_table(corpus)
    trans = None
    if transcripts is not None:
        from emofuse.transcribe import read_transcripts

        trans = read_transcripts(transcripts)
    feature_store = FeatureStore(store) if store is not None else FeatureStore()
    out.mkdir(parents=True, exist_ok=True)
    matrices = []
    summary: dict[str, Any] = {"layer": layer, "runs": []}
    classes: list[str] = []
    for run_dir in runs:
        emb = run_embeddings(run_dir, table, feature_store, trans)
        if layer not in emb.layers:
            raise ConfigError(f"{run_dir}: no layer {layer!r}; this model offers {sorted(emb.layers)}")
        x = emb.layers[layer]
        present = [c for c in emb.classes if c in set(emb.labels)]
        if len(present) < 2:
            raise ConfigError(f"{run_dir}: the test utterances hold fewer than two classes ({present})")
        if classes and present != classes:
            raise ConfigError(f"{run_dir}: its test classes {present} differ from the other folds' {classes}")
        classes = present
        matrix = intersection_matrix(x, emb.labels, classes)
        matrices.append(matrix)
        tag = f"{emb.fold}" if len(runs) > 1 else ""
        suffix = f"_{tag}" if tag else ""
        plot_embeddings_pca(
            x,
            emb.labels,
            out / f"embeddings_pca{suffix}.png",
            classes=classes,
            title=f"{layer} {emb.fold}".strip(),
        )
        if len(runs) > 1:
            _write_matrix_csv(out / f"intersection_matrix{suffix}.csv", matrix, classes)
        summary["runs"].append(
            {
                "run_dir": str(run_dir),
                "fold": emb.fold,
                "n_utterances": len(emb.labels),
                "dim": int(x.shape[1]),
            }
        )
    final = mean_matrix(matrices)
    what = f"mean over {len(runs)} folds" if len(runs) > 1 else "one run"
    _write_matrix_csv(out / "intersection_matrix.csv", final, classes)
    plot_intersection_matrix(
        final, classes, out / "intersection_matrix.png", title=f"{layer}: intersection ({what})"
    )
    off = final[~np.eye(len(classes), dtype=bool)]
    summary.update({"classes": classes, "matrix": final.tolist(), "mean_off_diagonal": float(off.mean())})
    atomic_write_json(out / "intersection_matrix.json", summary)
    console.print(
        _matrix_table(final, classes, f"intersection matrix, {layer} ({what}; lower = better separated)")
    )
    console.print(f"mean off-diagonal overlap: {float(off.mean()):.3f}; files in {out}")


@app.command("layers")
def layers(
    model_dir: Path = typer.Argument(..., help="A run directory or a packaged model directory."),
    out: Path = typer.Option(..., "--out", help="Output directory for layer_weights.png/.json."),
) -> None:
    """Plot the learned layer weights of the model's layer-weighting branches."""
    from rich.table import Table

    from emofuse.explain import plot_layer_weights
    from emofuse.explain.runs import load_network, network_layer_weights
    from emofuse.io import atomic_write_json

    console = _console()
    network, _ = load_network(model_dir)
    weights = network_layer_weights(network)
    if not weights:
        console.print(
            f"[yellow]{model_dir}: the model has no learnable layer weighting[/] (no branch weighs an encoder's "
            "layers; layer weights come with all-layer features, e.g. the deoliveira2023 and makiuchi2021 recipes)"
        )
        raise typer.Exit(0)
    out.mkdir(parents=True, exist_ok=True)
    plot_layer_weights(
        weights, out / "layer_weights.png", title=f"learned layer weights: {Path(model_dir).name}"
    )
    atomic_write_json(out / "layer_weights.json", {name: w.tolist() for name, w in weights.items()})
    for name, w in weights.items():
        table = Table(title=f"branch {name}", caption="normalised weights (sum to 1); bold = heaviest")
        table.add_column("layer", justify="right")
        table.add_column("weight", justify="right")
        top = int(w.argmax())
        for k, v in enumerate(w):
            table.add_row(str(k), f"[bold]{v:.4f}[/]" if k == top else f"{v:.4f}")
        console.print(table)
    console.print(f"files in {out}")


@app.command("speaker-probe")
def speaker_probe_cmd(
    model_dirs: list[Path] = typer.Argument(
        ...,
        help="Run or package directories of cross-representation models (e.g. makiuchi2021 speech and speech_large).",
    ),
    corpus: Path = typer.Option(..., "--corpus", help="Utterance table (with speakers) the models read."),
    store: Path | None = typer.Option(None, "--store", help="Feature store directory (default: the cache)."),
    out: Path = typer.Option(..., "--out", help="Output directory for speaker_probe.json."),
    folds: int = typer.Option(5, "--folds", min=2, help="Speaker-dependent folds (80/20 per speaker for 5)."),
    hidden: str = typer.Option("2048,1024,1024", "--hidden", help="Hidden layer sizes of the 4-layer probe."),
    max_iter: int = typer.Option(200, "--max-iter", min=1, help="Training iterations of the probe."),
) -> None:
    """makiuchi2021 Table 3: speaker identification from the bottleneck features of each model."""
    from rich.table import Table

    from emofuse.corpus.table import read_table
    from emofuse.encoders.store import FeatureStore
    from emofuse.errors import ConfigError
    from emofuse.explain.speaker_probe import bottleneck_features, speaker_probe
    from emofuse.io import atomic_write_json
    from emofuse.paths import feature_store_dir

    try:
        sizes = [int(v) for v in hidden.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--hidden must be comma-separated integers, got {hidden!r}") from None
    table = read_table(corpus)
    feature_store = FeatureStore(store or feature_store_dir())
    results = {}
    view = Table(title="speaker identification from bottleneck features (makiuchi2021 Table 3)")
    for column in ("model", "dim", "accuracy", "uar", "chance"):
        view.add_column(column, justify="left" if column == "model" else "right")
    for model_dir in model_dirs:
        feats = bottleneck_features(model_dir, table, feature_store)
        result = speaker_probe(feats.features, feats.speakers, n_folds=folds, hidden=sizes, max_iter=max_iter)
        results[str(model_dir)] = result
        view.add_row(
            str(model_dir), str(result["feature_dim"]), f"{result['accuracy']:.3f}", f"{result['uar']:.3f}",
            f"{result['chance']:.3f}",
        )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "speaker_probe.json", results)
    console = _console()
    console.print(view)
    console.print(f"written {out / 'speaker_probe.json'}")


from emofuse.cli.explain_tokens import silence, tokens  # noqa: E402  (commands of their own module)

app.command("tokens")(tokens)
app.command("silence")(silence)
