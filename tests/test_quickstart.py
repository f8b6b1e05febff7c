"""The quickstart end to end on a reduced setting: real espeak-ng speech, Whisper tiny.en, openSMILE, MiniLM, the
six pepino2020 systems, the report with plots and the packaged model; a rerun reuses every stage.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from emofuse.synth import espeak_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed"),
]
pytest.importorskip("opensmile")

# the text system runs MiniLM (offline), so the quickstart names it text_minilm
SYSTEMS = ("audio", "text_minilm", "ef_cs", "ef_pt", "ef_ws", "lf_pt")


@pytest.fixture(scope="module")
def tiny_settings():  # type: ignore[no-untyped-def]
    from emofuse.cli.quickstart import QuickstartSettings

    # 4 speakers x 4 classes x 2 = 32 utterances, 2 speaker folds, 1 seed, 2 epochs: 12 runs.
    return QuickstartSettings(
        n_speakers=4, utterances_per_speaker_per_class=2, seeds=1, n_folds=2, max_epochs=2, batch_size=16
    )


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory, tiny_settings):  # type: ignore[no-untyped-def]
    from emofuse.cli.quickstart import run_quickstart

    out = tmp_path_factory.mktemp("quickstart")
    return run_quickstart(out, tiny_settings, progress=False)


def test_quickstart_writes_report_plots_and_model(quick) -> None:  # type: ignore[no-untyped-def]
    from emofuse.serve.package import load_model

    assert quick.report_path.is_file()
    text = quick.report_path.read_text()
    for system in SYSTEMS:
        assert system in text
    assert set(quick.summary) == set(SYSTEMS)
    for per_metric in quick.summary.values():
        assert {"accuracy", "uar", "av_auc"} <= set(per_metric)
        assert 0.0 <= per_metric["uar"]["median"] <= 1.0
    pngs = sorted(quick.plots_dir.glob("*.png"))
    assert pngs, f"no plots in {quick.plots_dir}"
    assert all(p.stat().st_size > 1000 for p in pngs)
    # Every run of every system, seed and fold is finished.
    for system in SYSTEMS:
        assert len(list((quick.runs_dir / system).glob("seed0/fold*/done.json"))) == 2
    # The exported system was chosen without a test fold (the demo folds have no dev part, so by the
    # cross-validated score, which the model card says) and retrained on all utterances; the package loads.
    assert quick.best_system in quick.summary
    assert quick.best_run.parent.parent.name == quick.best_system
    assert quick.best_run.parent.parent.parent.name == "_final"
    card = (quick.model_dir / "README.md").read_text()
    assert f"{quick.best_system} (chosen)" in card and "cross-validated" in card
    model = load_model(quick.model_dir)
    assert sorted(model.config.labels) == ["angry", "happy", "neutral", "sad"]
    # Whisper transcribed the espeak-ng speech: most words of the planted sentences come back.
    transcripts = pd.read_json(quick.transcripts_path, lines=True)
    table = pd.read_json(quick.corpus_table, lines=True)
    merged = table.merge(transcripts, on="utterance_id")
    hits = [
        len(set(t.lower().split()) & set(h.lower().replace(",", "").replace(".", "").split()))
        / len(t.split())
        for t, h in zip(merged["transcript"], merged["text"], strict=True)
    ]
    # Whisper decodes at temperature 0 without sampling fallback, so these words are the same on every run
    # (tests/transcribe/test_transcribe_packing.py checks a second process); packed clips score about 0.85 here.
    assert sum(hits) / len(hits) > 0.7
    timings = json.loads((quick.out_dir / "timings.json").read_text())
    assert set(timings["stage_s"]) == {"corpus", "transcribe", "extract", "train", "export", "total"}
    assert timings["runs_trained"] == len(SYSTEMS) * 2


def test_rerun_reuses_every_stage(quick, tiny_settings) -> None:  # type: ignore[no-untyped-def]
    from emofuse.cli.quickstart import run_quickstart

    wav = next((quick.corpus_table.parent / "wav").glob("*.wav"))
    wav_mtime = wav.stat().st_mtime_ns
    transcripts_mtime = quick.transcripts_path.stat().st_mtime_ns
    done = quick.runs_dir / "ef_ws" / "seed0" / "fold1" / "done.json"
    done_mtime = done.stat().st_mtime_ns
    again = run_quickstart(quick.out_dir, tiny_settings, progress=False)
    assert again.n_trained == 0 and again.n_skipped == len(SYSTEMS) * 2
    assert wav.stat().st_mtime_ns == wav_mtime
    assert done.stat().st_mtime_ns == done_mtime
    for system in SYSTEMS:
        assert again.summary[system]["uar"]["median"] == quick.summary[system]["uar"]["median"]
    # Transcripts come back from the table (the file may be rewritten with the same rows, never recomputed).
    assert again.stage_s["transcribe"] < max(5.0, quick.stage_s["transcribe"] / 2)
    assert quick.transcripts_path.stat().st_mtime_ns >= transcripts_mtime


def test_cli_prints_the_table_and_where_things_are(quick, tiny_settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The Typer command on the finished directory: everything reused, the table and paths printed."""
    from typer.testing import CliRunner

    import emofuse.cli.quickstart as qs
    from emofuse.cli.main import app

    # The command's default settings replaced by the reduced ones of this module (same corpus, same runs).
    monkeypatch.setattr(qs, "QuickstartSettings", lambda seeds=3: tiny_settings)
    result = CliRunner().invoke(app, ["quickstart", "--out", str(quick.out_dir), "--no-progress"])
    assert result.exit_code == 0, result.output
    for system in SYSTEMS:
        assert system in result.output
    assert "report:" in result.output and "plots:" in result.output and "model:" in result.output
    assert "0 trained" in result.output


def test_a_finished_quickstart_answers_from_its_files(quick, tiny_settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Asked again with the same settings, the command prints the table from the files: no stage runs, and in a
    fresh process torch is never imported; other settings or a changed package do the work again."""
    import dataclasses

    from typer.testing import CliRunner

    import emofuse.cli.quickstart as qs
    from emofuse.cli.main import app
    from emofuse.cli.quickstart_finished import finished_quickstart

    def no_stage(*args: object, **kwargs: object) -> None:
        raise AssertionError("run_quickstart was called for a finished quickstart")

    monkeypatch.setattr(qs, "QuickstartSettings", lambda seeds=3: tiny_settings)
    monkeypatch.setattr(qs, "run_quickstart", no_stage)
    result = CliRunner().invoke(
        app, ["quickstart", "--out", str(quick.out_dir), "--no-progress", "--workers", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "0 trained, all 12 already finished" in result.output
    for system in SYSTEMS:
        assert system in result.output
    # a fresh process (the module's reduced settings through the same functions) imports no torch
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from rich.console import Console\n"
        "from emofuse.cli.quickstart import QuickstartSettings, _answer_finished\n"
        f"settings = QuickstartSettings(**{dataclasses.asdict(tiny_settings)!r})\n"
        "assert _answer_finished(Console(), Path(sys.argv[1]), settings)\n"
        "print('torch imported:', 'torch' in sys.modules)\n"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", code, str(quick.out_dir)], capture_output=True, text=True, timeout=120
    )
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "torch imported: False" in fresh.stdout and "already finished" in fresh.stdout
    # other settings are not answered from these files
    recipes = qs._recipes(tiny_settings)
    assert finished_quickstart(quick.out_dir, tiny_settings, recipes) is not None
    other = dataclasses.replace(tiny_settings, max_epochs=3)
    assert finished_quickstart(quick.out_dir, other, qs._recipes(other)) is None
    # nor is a package whose weights changed after the quickstart recorded them
    weights = quick.model_dir / "model.safetensors"
    saved = weights.read_bytes()
    try:
        weights.write_bytes(saved + b" ")
        assert finished_quickstart(quick.out_dir, tiny_settings, recipes) is None
    finally:
        weights.write_bytes(saved)
    assert finished_quickstart(quick.out_dir, tiny_settings, recipes) is not None


def test_unknown_system_is_a_clear_error(tmp_path: Path) -> None:
    from emofuse.cli.quickstart import QuickstartSettings, run_quickstart
    from emofuse.errors import ConfigError

    with pytest.raises(ConfigError, match="ef_xx"):
        run_quickstart(tmp_path, QuickstartSettings(systems=("audio", "ef_xx")), progress=False)
    assert not (tmp_path / "corpus").exists()
