"""``emofuse export RUN --out DIR``: a run becomes a packaged model (for ``predict``, ``serve``, ``Predictor``).

``RUN`` is either

* one run directory (``<out>/<system>/seed<k>/fold<f>/``): exported as it is
  (:func:`emofuse.serve.package.export_from_run`); or
* the output directory of ``emofuse run`` (with ``--corpus``): the honest export of ``emofuse run --export``
  (:func:`emofuse.serve.honest_export.export_chosen`): the system with the best DEV score (never a test fold),
  retrained on all labelled utterances, with ``MODEL_CARD.md``. The recipes are read back from the runs'
  ``recipe.json``; ``--system`` restricts the choice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer


def export(
    run: Path = typer.Argument(
        ..., help="A run directory (<out>/<system>/seed<k>/fold<f>) or an `emofuse run` --out."
    ),
    out: Path = typer.Option(..., "--out", help="Package directory to write."),
    corpus: Path | None = typer.Option(
        None, "--corpus", help="With an `emofuse run` output: the utterance table it was trained on."
    ),
    transcripts: Path | None = typer.Option(
        None, "--transcripts", help="With an `emofuse run` output: its transcripts table (ASR inputs)."
    ),
    store: Path | None = typer.Option(None, "--store", help="Feature store (default: the cache)."),
    systems: list[str] = typer.Option(
        [], "--system", help="Choose among these systems only (repeatable; default: every system in RUN)."
    ),
) -> None:
    """Package a run directory, or the dev-chosen system of an `emofuse run` output, as a model."""
    from rich.console import Console

    from emofuse.errors import ConfigError
    from emofuse.train.rundir import RunDir

    console = Console()
    if RunDir(run).config_path.is_file():
        from emofuse.serve.package import export_from_run

        package = export_from_run(run, out)
        console.print(f"model: {package}  (from the run directory {run})")
        return
    if not run.is_dir():
        raise ConfigError(f"{run} is not a directory; pass a run directory or the --out of `emofuse run`")
    recipes = _recipes_of(run, systems)
    if corpus is None:
        raise ConfigError(
            f"{run} is the output of `emofuse run` (not one run directory): pass --corpus TABLE (the table it "
            "was trained on) so the chosen system can be retrained on all of it, or pass one run directory "
            f"such as {run}/<system>/seed0/fold1"
        )
    try:
        from emofuse.serve.honest_export import export_chosen
    except ImportError:  # pragma: no cover - before the honest export lands
        raise ConfigError(
            "this emofuse has no honest export; pass one run directory (<out>/<system>/seed<k>/fold<f>)"
        ) from None
    from emofuse.corpus.table import read_table
    from emofuse.encoders import FeatureStore

    trans = None
    if transcripts is not None:
        from emofuse.transcribe import read_transcripts

        trans = read_transcripts(transcripts)
    package, selection = export_chosen(
        recipes,
        read_table(corpus),
        FeatureStore(store) if store is not None else FeatureStore(),
        run,
        out,
        transcripts=trans,
    )
    console.print(f"model: {package}  (chosen: {selection.system}, by {selection.by}; retrained on all data)")


def _recipes_of(runs_dir: Path, systems: list[str]) -> list[Any]:
    """The recipes of an `emofuse run` output, read from each system's first finished run (``recipe.json``)."""
    from emofuse.errors import ConfigError
    from emofuse.recipes import load_recipe
    from emofuse.train.rundir import RunDir

    found = {}
    for path in sorted(runs_dir.glob("*/seed*/fold*")):
        rd = RunDir(path)
        system = path.parent.parent.name
        if system in found or not rd.is_complete():
            continue
        from emofuse.io import read_json

        found[system] = load_recipe(read_json(rd.recipe_path))
    if systems:
        unknown = sorted(set(systems) - set(found))
        if unknown:
            raise ConfigError(
                f"--system {', '.join(unknown)}: no finished run in {runs_dir} (found {sorted(found)})"
            )
        found = {k: v for k, v in found.items() if k in systems}
    if not found:
        raise ConfigError(
            f"{runs_dir} holds no finished run (<system>/seed<k>/fold<f>/done.json); train with `emofuse run` first"
        )
    return list(found.values())
