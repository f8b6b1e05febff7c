"""The model card: ``README.md`` in every package (the file the Hugging Face Hub shows as a model's page).

Written at export from the package's configuration and, when the package comes from a run directory, from what
the run recorded: the corpora, speakers and labels the weights were trained on (``metrics.json``'s ``data``),
the protocol, this run's test and dev figures, and the system's figures over seeds with their spread from the
experiment's ``report.json`` (``<out>/report.json`` beside ``<out>/<system>/seed<k>/fold<f>/``). Other exports
add their own sections (e.g. how the system was chosen: ``sections=[as_section(text, "How this model was
chosen")]``) through ``sections``. One card per package.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emofuse.io import atomic_write_text, read_json

if TYPE_CHECKING:
    from emofuse.serve.package import PackageConfig

CARD_FILE = "README.md"

#: corpus (adapter name) -> what its licence says about use; checked against each distributor's terms
DATA_LICENCES: dict[str, str] = {
    "iemocap": "IEMOCAP release agreement (USC SAIL): academic research only, no redistribution",
    "msp_podcast": "MSP-Podcast academic licence (UT Dallas): research only; commercial use needs a separate licence",
    "ravdess": "CC BY-NC-SA 4.0 (non-commercial, share alike)",
    "crema_d": "Open Database License (ODbL) 1.0 / Database Contents License",
    "emodb": "Berlin Database of Emotional Speech: see its distributor's terms (used here for research only)",
    "demo": "synthetic speech made with espeak-ng by emofuse (no recorded people)",
}
UNKNOWN_LICENCE = "not known to emofuse: check the licence of the data set you trained on"


def _fmt(metric: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    v = float(value)
    return f"{100 * v:.1f} %" if metric in ("accuracy", "uar") else f"{v:.3f}"


def _metric_rows(block: Mapping[str, Any]) -> list[tuple[str, Any]]:
    return [
        (k, v)
        for k, v in block.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k not in ("n", "n_utterances")
    ]


def _experiment_figures(run_dir: Path, system: str | None) -> list[str]:
    """Median ± IQR and mean ± std over seeds of the system, from the experiment's report.json."""
    # <out>/report.json, or <out>/../report.json for a run retrained on all data inside <out>/_final/
    candidates = [run_dir.parents[i] / "report.json" for i in (2, 3) if len(run_dir.parents) > i]
    report_path = next((p for p in candidates if p.is_file()), None)
    if system is None or report_path is None:
        return []
    try:
        summary = read_json(report_path).get("summary", {}).get(system)
    except (OSError, ValueError, AttributeError):
        return []
    if not isinstance(summary, dict) or not summary:
        return []
    lines = [
        "",
        f"Over seeds (test predictions pooled over folds; from `{report_path.name}` of the experiment):",
        "",
        "| metric | median ± IQR | mean ± std | seeds |",
        "| --- | ---: | ---: | ---: |",
    ]
    for metric, s in summary.items():
        if not isinstance(s, dict):
            continue
        lines.append(
            f"| {metric} | {_fmt(metric, s.get('median'))} ± {_fmt(metric, s.get('iqr'))} | "
            f"{_fmt(metric, s.get('mean'))} ± {_fmt(metric, s.get('std'))} | {int(s.get('n', 0))} |"
        )
    return lines


def as_section(markdown: str, title: str) -> str:
    """Another export's Markdown as a ``## title`` section of the card (its own ``#`` title line dropped)."""
    lines = markdown.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join([f"## {title}", *lines]).strip()


def card_text(
    config: PackageConfig,
    *,
    run_metrics: Mapping[str, Any] | None = None,
    run_dir: Path | None = None,
    sections: Sequence[str] = (),
) -> str:
    """The card's Markdown (YAML front matter for the Hub, then the sections)."""
    recipe = config.recipe if isinstance(config.recipe, dict) else {}
    source = config.source or {}
    system = source.get("system") or recipe.get("name")
    metrics = dict(run_metrics or {})
    data = metrics.get("data") if isinstance(metrics.get("data"), dict) else {}
    corpora = list(data.get("corpora") or [])
    outputs = config.labels if config.task == "classes" else config.avd_names
    front = [
        "---",
        "library_name: emofuse",
        "license: other",
        "tags:",
        "- speech-emotion-recognition",
        "- audio-classification" if config.task == "classes" else "- audio-regression",
        "- emofuse",
        "---",
        "",
        f"# emofuse model: {system or 'unnamed'}",
        "",
        "A speech emotion recognition model made with [emofuse](https://pypi.org/project/emofuse/): "
        + (
            f"it gives the probabilities of {len(outputs or [])} classes ({', '.join(outputs or [])})"
            if config.task == "classes"
            else f"it predicts {', '.join(outputs or [])} on the training corpus's scale"
        )
        + " from how a recording sounds"
        + (" and what is said in it." if config.needs_text else "."),
        "",
        "## Inputs",
        "",
        "| branch | encoder | reads |",
        "| --- | --- | --- |",
    ]
    for name, branch in config.branches.items():
        front.append(f"| {name} | `{json.dumps(branch.encoder)}` | {branch.input} |")
    if config.needs_text:
        ts = config.text_source
        sil = any(b.input == "asr_sil" for b in config.branches.values())
        front += [
            "",
            f"Transcripts: `{ts.backend}` ({ts.model or 'its default model'})"
            + (f", `[SIL]` at pauses of at least {ts.silence.threshold_s} s" if sil else "")
            + "; the Predictor uses the same settings.",
        ]
    front += ["", "## Training data", ""]
    if corpora:
        front.append(f"* Corpora: {', '.join(corpora)}.")
    if "n_train" in metrics:
        parts = [f"{metrics['n_train']} utterances for training"]
        if metrics.get("n_dev"):
            parts.append(f"{metrics['n_dev']} for development (early stopping, choices)")
        if metrics.get("n_test"):
            parts.append(f"{metrics['n_test']} for testing")
        front.append("* " + ", ".join(parts) + ".")
    if data.get("n_speakers"):
        front.append(f"* Training speakers: {data['n_speakers']}.")
    if data.get("labels"):
        front.append("* Training labels: " + ", ".join(f"{k} {v}" for k, v in data["labels"].items()) + ".")
    protocol = recipe.get("protocol") if isinstance(recipe.get("protocol"), dict) else None
    if protocol:
        front.append(
            f"* The recipe's protocol: `{protocol.get('kind')}`"
            + (f", {protocol['k']} folds" if protocol.get("k") else "")
            + f", dev fraction {protocol.get('dev_fraction')} (folds given by a split file replace it)."
        )
    if recipe.get("paper") or recipe.get("name"):
        front.append(
            f"* Recipe: `{recipe.get('paper') or '?'}/{recipe.get('name') or '?'}` (emofuse's recipes)."
        )
    if source:
        front.append(
            f"* These weights: system `{source.get('system')}`, seed {source.get('seed')}, fold `{source.get('fold')}`."
        )
    if not corpora and "n_train" not in metrics:
        front.append("* Not recorded with the weights (an older run, or a package not exported from a run).")

    front += ["", "## Results", ""]
    test = metrics.get("test") if isinstance(metrics.get("test"), dict) else {}
    dev = metrics.get("dev") if isinstance(metrics.get("dev"), dict) else {}
    from emofuse.train.selection import FINAL_DIR

    spread = _experiment_figures(run_dir, source.get("system")) if run_dir is not None else []

    retrained = run_dir is not None and len(run_dir.parents) > 2 and run_dir.parents[2].name == FINAL_DIR
    if retrained:  # its "test" part is its own training data: no figure of it is shown
        front.append(
            "These weights were retrained on all labelled utterances, so no held-out figure of them exists"
            + (
                "; the figures below are the system's, over the experiment's folds and seeds."
                if spread
                else "."
            )
        )
    elif test or dev:
        front += ["This run (one seed, one fold):", "", "| metric | test | dev |", "| --- | ---: | ---: |"]
        for metric, value in _metric_rows(test or dev):
            front.append(
                f"| {metric} | {_fmt(metric, value if test else None)} | {_fmt(metric, dev.get(metric))} |"
            )
    front += spread
    if not (test or dev or spread) or (retrained and not spread):
        front.append("No figures were recorded with this package.")

    front += [
        "",
        "## Intended use and limits",
        "",
        "* Research on speech emotion recognition, and demonstrations. Not for decisions about people "
        "(hiring, health, policing, credit): emotion labels are what annotators perceived, often in acted or "
        "elicited speech, and do not tell what a person feels.",
        "* Expect lower figures on other speakers, languages, microphones and spontaneous speech than on the "
        "test folds above; check on your own data first.",
        "* Text branches depend on the speech recogniser; its errors (accents, noise) change the predictions.",
        "",
        "## Licences",
        "",
        "The licence of the data a model was trained on may restrict how the model can be used:",
        "",
    ]
    for corpus in corpora or ["(unrecorded)"]:
        front.append(f"* {corpus}: {DATA_LICENCES.get(corpus, UNKNOWN_LICENCE)}.")
    front.append(
        "* emofuse is Apache-2.0; the encoders' licences are those of their models (see the emofuse README)."
    )
    for section in sections:
        front += ["", section.strip()]
    front += [
        "",
        "## How to use",
        "",
        "```python",
        "from emofuse import Predictor",
        'predictor = Predictor.from_pretrained("<this folder or Hub repository id>")',
        'print(predictor.predict_file("recording.wav").to_dict())',
        "```",
        "",
        "Or `emofuse predict recording.wav --model <folder>`; `emofuse model onnx <folder>` exports the network "
        "(without the encoders) to ONNX for onnxruntime.",
        "",
    ]
    return "\n".join(front)


def write_model_card(
    package_dir: str | os.PathLike[str],
    *,
    run_dir: str | os.PathLike[str] | None = None,
    sections: Sequence[str] = (),
) -> Path:
    """Write (or rewrite) ``README.md`` in ``package_dir``; ``run_dir``: the run the weights come from."""
    from emofuse.serve.package import CONFIG_FILE, _parse_config, _read_json_file

    root = Path(package_dir)
    config = _parse_config(_read_json_file(root / CONFIG_FILE, "the model configuration"), root / CONFIG_FILE)
    metrics: dict[str, Any] = {}
    run = Path(run_dir) if run_dir is not None else None
    if run is not None and (run / "metrics.json").is_file():
        loaded = read_json(run / "metrics.json")
        metrics = loaded if isinstance(loaded, dict) else {}
    path = root / CARD_FILE
    atomic_write_text(path, card_text(config, run_metrics=metrics, run_dir=run, sections=sections))
    return path


__all__ = ["CARD_FILE", "DATA_LICENCES", "as_section", "card_text", "write_model_card"]
