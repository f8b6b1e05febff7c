"""The report's section of kumar2021's intersection matrices (Sec. 2.2, 4.1; Tables 1-5).

It renders ``<out>/intersection_summary.json`` (written by :mod:`emofuse.explain.ablation` after training, for
the systems whose recipe lists ``analyses.intersection_layers``): a table of each system's mean off-diagonal
overlap per layer (the ablation at a glance), then per system each layer's matrix and its two plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emofuse.io import read_json

#: what each layer name is in kumar2021's terms
LAYER_NAMES = {
    "embedding": "third-last: the concatenation",
    "hidden": "second-last",
    "output": "last: softmax",
}


def _matrix_lines(classes: list[str], matrix: list[list[float]]) -> list[str]:
    lines = ["| | " + " | ".join(classes) + " |", "| --- |" + " ---: |" * len(classes)]
    lines += [
        f"| {c} | " + " | ".join(f"{v:.3f}" for v in row) + " |"
        for c, row in zip(classes, matrix, strict=True)
    ]
    return lines


def intersection_section(out_dir: Path, systems: Sequence[str]) -> list[str]:
    """Markdown lines of the section for the report's ``systems`` (none without a summary file or entries)."""
    path = out_dir / "intersection_summary.json"
    data: dict[str, Any] = read_json(path) if path.is_file() else {}
    shown = [s for s in systems if s in data]
    if not shown:
        return []
    layers = list(dict.fromkeys(layer for s in shown for layer in data[s]["layers"]))
    head = [LAYER_NAMES.get(layer, layer) for layer in layers]
    lines = [
        "## Intersection matrices (kumar2021)",
        "",
        "Overlap of the classes' spreads (mean ± 2 std) on the first three principal components of each layer's "
        "test embeddings, multiplied over the components (kumar2021 Eqs. 6-9); averaged over the folds of one "
        "seed, over the classes every fold tests. Lower = better separated classes. Mean off-diagonal overlap:",
        "",
        "| system | seed | "
        + " | ".join(f"{layer} ({h})" for layer, h in zip(layers, head, strict=True))
        + " |",
        "| --- | ---: |" + " ---: |" * len(layers),
    ]
    for s in shown:
        entries = [data[s]["layers"].get(layer, {}) for layer in layers]
        cells = [f"{e['mean_off_diagonal']:.3f}" if "mean_off_diagonal" in e else "-" for e in entries]
        seed = "-" if data[s].get("seed") is None else data[s]["seed"]
        lines.append(f"| {s} | {seed} | " + " | ".join(cells) + " |")
    for s in shown:
        if data[s].get("skipped"):
            lines += ["", f"### {s}", "", f"Not computed: {data[s]['skipped']}"]
        for layer, entry in data[s]["layers"].items():
            if "skipped" in entry:
                lines += ["", f"### {s}: {layer}", "", f"Not computed: {entry['skipped']}."]
                continue
            lines += [
                "",
                f"### {s}: {layer} ({LAYER_NAMES.get(layer, layer)}), {entry['n_folds']} fold(s)",
                "",
            ]
            lines += _matrix_lines(entry["classes"], entry["matrix"])
            lines += [
                "",
                f"![{s} {layer} PCA]({entry['plots']['pca']}) ![{s} {layer}]({entry['plots']['matrix']})",
            ]
    return [*lines, ""]


__all__ = ["LAYER_NAMES", "intersection_section"]
