"""``emofuse report``: rebuild the report of a finished ``emofuse run`` output, optionally against a named system.

Example (perez2022: every system against BERT)::

    emofuse report runs/perez2022 --reference bert_ccc
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer


def _systems_of(out: Path) -> dict[str, str]:
    """``{system: fusion}`` from the first run directory of each system under ``out`` (its ``run_config.json``)."""
    found: dict[str, str] = {}
    for path in sorted(out.glob("*/seed*/fold*/run_config.json")):
        system = path.parents[2].name
        if system not in found:
            try:
                found[system] = str(json.loads(path.read_text())["model"]["fusion"])
            except (OSError, ValueError, KeyError, TypeError):
                found[system] = "unknown"
    return found


def report(
    out: Path = typer.Argument(
        ..., help="The output directory of `emofuse run` (its runs' predictions.csv)."
    ),
    reference: str | None = typer.Option(
        None,
        "--reference",
        help="System every other one is paired-t-tested against (perez2022: --reference bert_ccc); "
        "the report keeps its best-single-modality section too.",
    ),
    metric: str | None = typer.Option(
        None, "--metric", help="Metric that picks the best single-modality system (default uar, or ccc)."
    ),
) -> None:
    """Rewrite report.md / report.json / plots of a finished run output, with paired t-tests over seeds."""
    from rich.console import Console

    from emofuse.errors import ConfigError
    from emofuse.evaluate import write_report

    if not out.is_dir():
        raise ConfigError(f"{out} is not a directory: pass the --out directory of `emofuse run`")
    systems = _systems_of(out)
    previous = out / "report.json"
    title, notes = "emofuse results", []
    if previous.is_file():
        try:
            earlier = json.loads(previous.read_text())
            title, notes = str(earlier.get("title", title)), list(earlier.get("notes") or [])
        except ValueError:
            pass
    rep = write_report(  # an unknown --reference is an EvaluationError naming the systems (one line, exit 2)
        out,
        out,
        single_modality=[s for s, fusion in systems.items() if fusion == "none"],
        primary_metric=metric,
        title=title,
        notes=notes,
        reference=reference,
    )
    console = Console()
    if rep.reference_comparisons:
        console.print(reference_table(rep.reference_comparisons, str(reference)))
    console.print(f"report: {rep.markdown_path}  ({rep.json_path.name})")


def reference_table(comparisons: list[dict[str, Any]], reference: str) -> Any:
    """The rich table of the report's paired t-tests against ``reference`` (``Report.reference_comparisons``)."""
    from rich.table import Table

    table = Table(title=f"paired t-tests against {reference} (over seeds; * p < .05)")
    for col in ("system", "metric", "mean difference", "p"):
        table.add_column(col, justify="left" if col in ("system", "metric") else "right")
    for c in comparisons:
        if c["n"] is None:
            table.add_row(c["system"], c["metric"], "n/a", "n/a")
            continue
        star = " *" if c["significant"] else ""
        table.add_row(c["system"], c["metric"], f"{c['mean_difference']:+.4f}", f"{c['p']:.3g}{star}")
    return table
