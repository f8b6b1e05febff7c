"""``emofuse explain tokens`` and ``emofuse explain silence``: perez2022's token attributions and Sec. 6 analyses.

* ``tokens MODEL_OR_RUN AUDIO``: integrated gradients of one output over the text branch's tokens, ``[SIL]``
  included. A BERT-family text branch (fine-tuned end to end or not) is explained over its *input embeddings*
  (:mod:`emofuse.explain.text_ig`: the encoder runs inside the explained function, so the per-token
  attributions exist even when the branch reads one pooled ``[CLS]`` vector); other text branches over their
  stored frames (:mod:`emofuse.explain.tokens`). Attributions are summed over the embedding dimension and
  divided by their L2 norm over the tokens; ``|a| > 0.3`` is perez2022's "high". A terminal gets a coloured
  line and a table, ``--json`` prints the JSON, ``--out`` writes ``tokens.json`` and ``tokens.png``.
* ``silence RUN --transcripts T``: the same attributions over the run's test utterances (text-only models),
  then the distance of high-attribution tokens to the nearest ``[SIL]`` and the attributions by silence-ratio bin
  (:mod:`emofuse.explain.silence_analysis`); ``silence_analysis.json`` in ``--out``. With ``--reference-run REF``
  (the reference system's run of the same seed and fold, e.g. BERT without ``[SIL]``) also Sec. 6.1's
  correlation of the per-utterance ``[SIL]`` measure with the improvement over REF and Sec. 6.2's performance
  by silence-ratio bin of both (:mod:`emofuse.explain.reference_comparison`).

``MODEL_OR_RUN`` is a packaged model directory or a run directory (``<out>/<system>/seed<k>/fold<f>``, exported
to a temporary package first).
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from emofuse.cli.options import allow_model_option


@contextlib.contextmanager
def package_of(path: Path, allow_models: list[str]) -> Iterator[Any]:
    """The :class:`~emofuse.serve.package.PackagedModel` of a package directory or of a run directory."""
    from emofuse.errors import ConfigError
    from emofuse.serve.package import CONFIG_FILE, export_from_run, load_model
    from emofuse.train.rundir import RunDir

    if not path.is_dir():
        raise ConfigError(f"{path} is not a directory: pass a packaged model or a run directory")
    run = RunDir(path)
    if (path / CONFIG_FILE).is_file() or not run.config_path.is_file():
        yield load_model(path, allow_models=allow_models)
        return
    with tempfile.TemporaryDirectory(prefix="emofuse-explain-") as scratch:
        exported = export_from_run(path, Path(scratch) / "model")
        yield load_model(exported, allow_models=allow_models)


def _text_branch(packaged: Any, branch: str | None, where: Path) -> str:
    from emofuse.errors import ConfigError

    branches = packaged.config.branches
    if branch is None:
        text = [n for n, b in branches.items() if b.input not in ("audio", "audio_transcript")]
        if not text:
            raise ConfigError(
                f"{where}: the model has no text branch (branches: {sorted(branches)}); nothing to attribute"
            )
        return text[0]
    if branch not in branches:
        raise ConfigError(f"{where}: no branch {branch!r}; branches: {sorted(branches)}")
    return branch


def _trainable(encoder: Any) -> Any | None:
    """A :class:`TrainableEncoder` around a BERT-family text encoder, else None."""
    from emofuse.encoders.text import TextEncoder
    from emofuse.encoders.trainable import TrainableEncoder

    return TrainableEncoder(encoder) if isinstance(encoder, TextEncoder) else None


def explain_text(
    packaged: Any,
    branch: str,
    texts: dict[str, str],
    features: dict[str, Any],
    target: int | None,
    n_steps: int,
) -> dict[str, Any]:
    """Attributions of output ``target`` (None: the predicted class, or the first A/V/D dimension) over the
    tokens of ``branch``; ``texts``: what each text branch reads; ``features``: the other branches' arrays."""
    import numpy as np
    import torch

    from emofuse.explain.tokens import branch_attributions, frame_tokens
    from emofuse.train.collate import collate

    encoders = packaged.encoders()
    names = packaged.labels if packaged.task == "classes" else packaged.avd_names
    trainable = _trainable(encoders[branch])
    others = {n: a for n, a in features.items() if n != branch or trainable is None}
    batch = (
        collate([{"utterance_id": "x", "features": others, "target": np.zeros((), np.int64)}])
        if others
        else None
    )
    inputs, masks = (batch["inputs"], batch["masks"]) if batch else ({}, {})
    if target is None and packaged.task == "classes":
        with torch.no_grad():
            if trainable is None:
                out = packaged.network(inputs, masks)["output"]
            else:
                states, keep = trainable(*trainable.pad([trainable.prepare(texts[branch])]))
                std = packaged.standardizers.get(branch)
                if std is not None:
                    states = (states - torch.as_tensor(std.mean_)) / torch.as_tensor(std.std_)
                out = packaged.network({**inputs, branch: states.float()}, {**masks, branch: keep})["output"]
        target = int(out[0].argmax())
    target = 0 if target is None else target
    if trainable is not None:
        from emofuse.explain.text_ig import text_token_attributions

        result = text_token_attributions(
            trainable, packaged.network, branch, texts[branch], target, inputs, masks, n_steps,
            standardizer=packaged.standardizers.get(branch),
        ).to_dict()  # fmt: skip
        result["tokens_mapped"] = True
        result["method"] = "integrated gradients over the input embeddings"
    else:
        frames = branch_attributions(
            packaged.network, inputs, masks, branch, target, n_steps=n_steps
        ).to_dict()
        toks = frame_tokens(encoders[branch], texts[branch], len(frames["attributions"]))
        result = {**frames, "tokens": toks or [f"frame {t}" for t in range(len(frames["attributions"]))]}
        result["tokens_mapped"] = toks is not None
        result["high"] = [abs(v) > 0.3 for v in frames["attributions"]]
        result["method"] = "integrated gradients over the branch's stored frames"
    result["target_name"] = names[target]
    return result


def _show(console: Any, result: dict[str, Any], branch: str, what: str) -> None:
    from rich.table import Table
    from rich.text import Text

    line = Text()
    for tok, value in zip(result["tokens"], result["attributions"], strict=True):
        strength = min(abs(value) / 0.3, 1.0)  # perez2022's "high" threshold saturates the colour
        colour = "green" if value >= 0 else "red"
        line.append(tok, style=f"bold {colour}" if strength >= 1.0 else colour if strength > 0.3 else "dim")
        line.append(f"({value:+.2f}) ")
    console.print(
        f"[bold]{branch}[/] branch, attributions to {what} ({result['method']}, {result['n_steps']} steps):"
    )
    console.print(line)
    table = Table(title="tokens (attribution / L2 norm over tokens; * |a| > 0.3)")
    for col in ("#", "token", "attribution", "raw"):
        table.add_column(col, justify="right" if col != "token" else "left")
    for i, (tok, a, raw, high) in enumerate(
        zip(result["tokens"], result["attributions"], result["raw_attributions"], result["high"], strict=True)
    ):
        table.add_row(str(i), tok, f"{a:+.3f}{' *' if high else ''}", f"{raw:+.4f}")
    console.print(table)
    console.print(
        f"sum of raw attributions {sum(result['raw_attributions']):+.4f} vs output change "
        f"{result['output_at_input'] - result['output_at_baseline']:+.4f} (convergence delta "
        f"{result['convergence_delta']:+.2e})"
    )
    if not result["tokens_mapped"]:
        console.print(
            f"[yellow]the {branch} encoder's frames could not be matched to tokens; shown by frame index[/]"
        )


def tokens(
    source: Path = typer.Argument(
        ..., metavar="MODEL_OR_RUN", help="Packaged model or run directory (or, with --model, the recording)."
    ),
    audio: Path | None = typer.Argument(
        None, metavar="AUDIO", help="The recording (any format emofuse reads)."
    ),
    model: Path | None = typer.Option(
        None, "--model", help="Packaged model (then the one argument is AUDIO)."
    ),
    transcript: str | None = typer.Option(None, "--transcript", help="What was said (else ASR)."),
    out: Path | None = typer.Option(None, "--out", help="Write tokens.json and tokens.png here."),
    as_json: bool = typer.Option(False, "--json", help="Print the attributions as JSON (nothing else)."),
    branch: str | None = typer.Option(
        None, "--branch", help="Text branch to attribute (default: the text one)."
    ),
    target: str | None = typer.Option(
        None, "--target", help="Class (or A/V/D dimension) to explain; default: the predicted class."
    ),
    n_steps: int = typer.Option(64, "--steps", min=2, help="Integrated-gradients steps."),
    allow_model: list[str] = allow_model_option(),
) -> None:
    """Integrated-gradients attributions of the prediction over the transcript's tokens, [SIL] included."""
    import numpy as np

    from emofuse.audio import SAMPLE_RATE_HZ, load_audio
    from emofuse.errors import ConfigError
    from emofuse.io import atomic_write_json
    from emofuse.serve.predictor import Predictor

    if model is not None:
        if audio is not None:
            raise ConfigError("give the model either as --model or as the first argument, not both")
        source, audio = model, source
    if audio is None:
        raise ConfigError("give the recording: emofuse explain tokens MODEL_OR_RUN AUDIO")
    with package_of(source, allow_model) as packaged:
        predictor = Predictor(packaged)
        name = _text_branch(packaged, branch, source)
        names = packaged.labels if packaged.task == "classes" else packaged.avd_names
        if target is not None and target not in names:
            raise ConfigError(f"--target {target!r} is not an output of the model; outputs: {names}")
        prediction = predictor.predict_file(audio, transcript=transcript)
        wave = load_audio(audio, sample_rate_hz=SAMPLE_RATE_HZ)
        encoders = packaged.encoders()
        texts: dict[str, str] = {}
        features: dict[str, Any] = {}
        for n, b in packaged.config.branches.items():
            if b.input == "audio":
                item: Any = wave
            else:
                item = texts[n] = prediction.text_with_sil if b.input == "asr_sil" else prediction.text
            if n == name and _trainable(encoders[n]) is not None:
                continue  # encoded inside the explained function
            array = np.asarray(encoders[n].encode(item, SAMPLE_RATE_HZ), dtype=np.float32)
            std = packaged.standardizers.get(n)
            features[n] = std.transform(array) if std is not None else array
        index = names.index(target) if target is not None else None
        if index is None and packaged.task == "classes":
            index = names.index(str(prediction.top_class))
        result = explain_text(packaged, name, texts, features, index, n_steps)
    payload = {
        "audio": str(audio),
        "model": str(source),
        "branch": name,
        "text": texts.get(name, ""),
        **result,
    }
    payload["prediction"] = prediction.to_dict()
    if out is not None:
        from emofuse.explain.tokens import plot_token_attributions

        out.mkdir(parents=True, exist_ok=True)
        plot_token_attributions(
            payload["tokens"],
            payload["attributions"],
            out / "tokens.png",
            title=f"{name} -> {payload['target_name']}",
        )
        atomic_write_json(out / "tokens.json", payload)
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    from rich.console import Console

    console = Console()
    top = packaged.task == "classes" and payload["target_name"] == prediction.top_class
    _show(console, payload, name, f"predicted {payload['target_name']}" if top else payload["target_name"])
    if out is not None:
        console.print(f"files in {out}")


def silence(
    run: Path = typer.Argument(
        ..., metavar="MODEL_OR_RUN", help="A run directory (its test utterances) or package."
    ),
    transcripts: Path = typer.Option(
        ..., "--transcripts", help="The transcripts table (`emofuse transcribe`)."
    ),
    out: Path = typer.Option(..., "--out", help="Where silence_analysis.json goes."),
    ids: Path | None = typer.Option(
        None, "--ids", help="Utterance ids, one a line (default: the run's test utterances, predictions.csv)."
    ),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many utterances (IG is costly)."),
    n_bins: int = typer.Option(4, "--bins", min=2, help="Quantile bins of the silence ratio."),
    by: str = typer.Option(
        "tokens",
        "--by",
        help="Silence ratio: tokens ([SIL] / word tokens, the paper's) or time (transcripts').",
    ),
    edges: list[float] = typer.Option(
        [], "--edge", help="Inner bin edge instead of quantile bins (repeatable; the paper: --edge 0.18)."
    ),
    n_steps: int = typer.Option(32, "--steps", min=2, help="Integrated-gradients steps."),
    allow_model: list[str] = allow_model_option(),
    reference_run: Path | None = typer.Option(
        None,
        "--reference-run",
        help="Run directory of the reference system (e.g. runs/bert_ft_ccc/seed0/fold1): correlate the "
        "[SIL] measure with the improvement over it, and compare both by silence-ratio bin.",
    ),
) -> None:
    """perez2022 Sec. 6: distance of high-attribution tokens to [SIL], and attributions by silence ratio."""
    import numpy as np
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from emofuse.audio import SAMPLE_RATE_HZ
    from emofuse.errors import ConfigError
    from emofuse.explain.reference_comparison import read_paired_predictions, reference_section
    from emofuse.explain.silence_analysis import (
        UtteranceAttributions,
        attribution_by_silence_ratio,
        distance_table,
        max_sil_per_distance,
        sil_token_ratio,
    )
    from emofuse.io import atomic_write_json
    from emofuse.train.rundir import RunDir
    from emofuse.transcribe import read_transcripts

    if by not in ("tokens", "time"):
        raise ConfigError(f"--by {by!r}: use tokens or time")
    paired = read_paired_predictions(run, reference_run) if reference_run is not None else None
    table = read_transcripts(transcripts).set_index("utterance_id")
    if ids is not None:
        wanted = [line.strip() for line in ids.read_text().splitlines() if line.strip()]
    elif RunDir(run).predictions_path.is_file():
        wanted = [
            str(u)
            for u in pd.read_csv(RunDir(run).predictions_path, dtype={"utterance_id": str})["utterance_id"]
        ]
    else:
        raise ConfigError(f"{run}: no predictions.csv to take test utterances from; pass --ids FILE")
    missing = [u for u in wanted if u not in table.index]
    if missing:
        raise ConfigError(
            f"{transcripts}: no transcript for {len(missing)} utterance(s), e.g. {missing[0]!r}"
        )
    wanted = list(dict.fromkeys(wanted))[:limit]
    rows: list[UtteranceAttributions] = []
    with package_of(run, allow_model) as packaged:
        audio = [n for n, b in packaged.config.branches.items() if b.input in ("audio", "audio_transcript")]
        if audio:
            raise ConfigError(
                f"{run}: branches {audio} read audio; the silence analysis explains text-only models"
            )
        name = _text_branch(packaged, None, run)
        encoders = packaged.encoders()
        for uid in wanted:
            row = table.loc[uid]
            texts = {
                n: str(row["text_with_sil"] if b.input == "asr_sil" else row["text"])
                for n, b in packaged.config.branches.items()
            }
            features = {}
            for n in texts:
                if n != name or _trainable(encoders[n]) is None:
                    array = np.asarray(encoders[n].encode(texts[n], SAMPLE_RATE_HZ), dtype=np.float32)
                    std = packaged.standardizers.get(n)
                    features[n] = std.transform(array) if std is not None else array
            result = explain_text(packaged, name, texts, features, None, n_steps)
            rows.append(
                UtteranceAttributions(
                    uid, result["tokens"], result["attributions"], float(row["silence_ratio"])
                )
            )
    distances = distance_table(rows)
    by_ratio = attribution_by_silence_ratio(rows, n_bins, by=by, edges=edges or None)  # type: ignore[arg-type]
    per_utt = {r.utterance_id: max_sil_per_distance(r.tokens, r.attributions) for r in rows}
    units = [m["per_unit_distance"] for m in per_utt.values() if m and m["per_unit_distance"] is not None]
    reference = None
    if paired is not None and reference_run is not None:
        ratios = {
            r.utterance_id: sil_token_ratio(r.tokens) if by == "tokens" else r.silence_ratio for r in rows
        }
        measure = {u: (m["per_unit_distance"] if m else None) for u, m in per_utt.items()}
        dimension = None if packaged.task == "classes" else packaged.avd_names[0]  # the explained output
        inner = [float(b["high"]) for b in by_ratio[:-1]]
        reference = reference_section(paired, reference_run, measure, ratios, inner, dimension)
    payload = {
        "model": str(run),
        "branch": name,
        "n_utterances": len(rows),
        "high_threshold": 0.3,
        "normalisation": "sum over the embedding dimension, then divided by the L2 norm over the tokens",
        "max_sil_per_unit_distance": {
            "n_utterances": len(units),
            "mean": float(np.mean(units)) if units else None,
            "median": float(np.median(units)) if units else None,
        },
        "distance_to_sil": distances,
        "silence_ratio_by": by,
        "by_silence_ratio": by_ratio,
        "reference": reference,
        "utterances": [
            {
                "utterance_id": r.utterance_id,
                "silence_ratio": r.silence_ratio,
                "sil_token_ratio": sil_token_ratio(r.tokens),
                "max_sil": per_utt[r.utterance_id],
                "tokens": list(r.tokens),
                "attributions": list(r.attributions),
            }
            for r in rows
        ],  # fmt: skip
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "silence_analysis.json", payload)
    console = Console()
    if units:
        console.print(
            f"maximally attributed [SIL] per unit distance to the nearest high-attribution token: mean "
            f"{np.mean(units):.3f}, median {np.median(units):.3f} over {len(units)} utterance(s) "
            "(per utterance in the JSON; --reference-run correlates it with the improvement over that run)"
        )
    dist = Table(title="high-attribution word tokens (|a| > 0.3) by distance to the nearest [SIL]")
    for col in ("distance (tokens)", "high tokens", "expected if spread like all words"):
        dist.add_column(col, justify="right")
    for d in distances:
        dist.add_row(str(d["distance"]), str(d["high_tokens"]), f"{d['expected']:.1f}")
    console.print(dist)
    kind = f"edges {sorted(edges)}" if edges else f"{n_bins} quantile bins"
    ratio = Table(title=f"attributions by silence-ratio bin ({by} ratio, {kind})")
    for col in (
        "silence ratio",
        "utterances",
        "[SIL] tokens",
        "mean |a| [SIL]",
        "mean |a| words",
        "[SIL] high",
    ):
        ratio.add_column(col, justify="right")

    def f(v: float) -> str:
        return "-" if math.isnan(v) else f"{v:.3f}"

    for b in by_ratio:
        ratio.add_row(
            f"{b['low']:.2f}-{b['high']:.2f}", str(b["n_utterances"]), str(b["n_sil"]),
            f(b["mean_abs_sil"]), f(b["mean_abs_words"]), f(b["share_sil_high"]),
        )  # fmt: skip
    console.print(ratio)
    if reference is not None:
        _show_reference(console, reference)
    console.print(f"written {out / 'silence_analysis.json'}")


def _show_reference(console: Any, reference: dict[str, Any]) -> None:
    """Print the ``reference`` block of ``silence_analysis.json`` (Sec. 6.1's correlation, Sec. 6.2's bins)."""
    from rich.table import Table

    def f(v: float | None, spec: str = ".3f") -> str:
        return "-" if v is None else format(v, spec)

    c = reference["correlation"]
    console.print(
        f"max [SIL] per unit distance vs improvement over {reference['run']} ({reference['improvement']}, "
        f"{reference['target']}): Pearson r {f(c['pearson_r'])} (p {f(c['pearson_p'], '.3g')}), Spearman rho "
        f"{f(c['spearman_rho'])} (p {f(c['spearman_p'], '.3g')}), n {c['n']}"
    )
    bins = reference["by_silence_ratio"]
    table = Table(title=f"{bins[0]['metric']} by silence-ratio bin: system vs reference")
    for col in ("bin", "utterances", "system", "reference"):
        table.add_column(col, justify="right")
    for b in bins:
        table.add_row(str(b["bin"]), str(b["n_utterances"]), f(b["system"]), f(b["reference"]))
    console.print(table)
