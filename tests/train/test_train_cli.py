"""``emofuse run`` end to end on real espeak-ng speech with real cheap encoders (MFCC, offline MiniLM)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emofuse.cli.main import app
from emofuse.corpus.protocols import Fold, SplitFile, write_splits
from emofuse.corpus.table import make_table, write_table
from emofuse.errors import ConfigError
from emofuse.synth import espeak_available, speak
from emofuse.train.rundir import RunDir

SENTENCES = {
    "angry": "I am furious about this",
    "happy": "what a wonderful day",
    "sad": "I miss her so much",
    "neutral": "the bus leaves at nine",
}


@pytest.mark.slow
@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_emofuse_run_extracts_missing_features_trains_and_reports(tmp_path: Path) -> None:
    records = []
    for s, voice in enumerate(["en-us", "en-gb", "en-us+f3", "en-gb+m3"]):
        for j, (label, text) in enumerate(SENTENCES.items()):
            if (s + j) % 2:
                continue
            wav = speak(text, tmp_path / f"s{s}_{label}.wav", voice=voice)
            records.append(
                dict(
                    utterance_id=f"s{s}_{label}",
                    audio_path=str(wav),
                    speaker=f"s{s}",
                    transcript=text,
                    label=label,
                )
            )
    table = make_table(records, corpus="espeak")
    write_table(table, tmp_path / "corpus.jsonl")
    ids = {s: [r["utterance_id"] for r in records if r["speaker"] == s] for s in ("s0", "s1", "s2", "s3")}
    folds = [
        Fold("f0", tuple(ids["s0"] + ids["s1"]), (), tuple(ids["s2"] + ids["s3"])),
        Fold("f1", tuple(ids["s2"] + ids["s3"]), (), tuple(ids["s0"] + ids["s1"])),
    ]
    write_splits(tmp_path / "folds.json", SplitFile("speaker-kfold", 0, folds))
    args = [
        "run",
        "pepino2020/audio",
        "pepino2020/text_bert",
        "--corpus",
        str(tmp_path / "corpus.jsonl"),
        "--splits",
        str(tmp_path / "folds.json"),
        "--store",
        str(tmp_path / "store"),
        "--out",
        str(tmp_path / "out"),
        "--seeds",
        "1",
        "--no-progress",
        "--threads",
        "1",
        "--set",
        "features.audio.encoder=spectral.mfcc40",
        "--set",
        "features.audio.standardize=true",
        "--set",
        "features.text.encoder.model=minilm",
        "--set",
        "model.branches.audio.params={filters: [8, 6], kernel_sizes: [3, 3]}",
        "--set",
        "model.branches.text.params={proj_dim: 8, filters: [8, 8], kernel_sizes: [3, 3]}",
        "--set",
        "training.max_epochs=1",
    ]
    result = CliRunner().invoke(app, [*args, "--logger", "csv,tensorboard"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "audio" in result.output and "text_bert" in result.output and "report:" in result.output
    assert "runs: 4 trained, 0 already finished" in result.output
    cfg = RunDir(tmp_path / "out" / "text_bert" / "seed0" / "fold1").read_config().model_dump(mode="json")
    assert cfg["branches"]["text"]["encoder_id"].startswith("text-")
    assert (tmp_path / "out" / "report.md").is_file() and list((tmp_path / "out" / "plots").glob("*.png"))
    logs = tmp_path / "out" / "text_bert" / "seed0" / "fold1" / "logs" / "train"
    assert (logs / "metrics.csv").is_file() and list(logs.glob("events.out.tfevents.*"))
    # the same grid asked again answers from its files, in a fresh process without importing torch
    code = (
        "import sys\n"
        "from emofuse.cli.main import main\n"
        "sys.argv = ['emofuse', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print('torch imported:', 'torch' in sys.modules)\n"
    )
    fresh = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "runs: 0 trained, all already finished" in fresh.stdout and "text_bert" in fresh.stdout
    assert "torch imported: False" in fresh.stdout
    # a run that is gone is redone by the runner; the others are reused
    (tmp_path / "out" / "audio" / "seed0" / "fold2" / "done.json").unlink()
    # --reference: the report t-tests every other system against the named one (one seed: n/a, but named)
    again = CliRunner().invoke(app, [*args, "--reference", "audio"])
    assert again.exit_code == 0 and "runs: 1 trained, 3 already finished" in again.output
    assert "paired t-tests against audio" in again.output
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["reference"] == "audio"
    assert {c["system"] for c in saved["reference_comparisons"]} == {"text_bert"}


def test_emofuse_run_rejects_an_unknown_reference_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from emofuse.cli.main import main

    args = [
        "emofuse",
        "run",
        "pepino2020/audio",
        "pepino2020/text_bert",
        "--corpus",
        str(tmp_path / "c.jsonl"),
    ]
    monkeypatch.setattr(sys, "argv", [*args, "--out", str(tmp_path / "o"), "--reference", "bert"])
    with pytest.raises(SystemExit) as stop:
        main()
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "--reference 'bert' is not a system of this run: use one of ['audio', 'text_bert']" in err
    assert not (tmp_path / "o").exists()  # stopped before the corpus was read or anything trained
    # a system of an earlier run in the same --out counts: the check passes and the missing corpus stops it
    (tmp_path / "o" / "bert" / "seed0" / "fold0").mkdir(parents=True)
    (tmp_path / "o" / "bert" / "seed0" / "fold0" / "done.json").write_text("{}")
    monkeypatch.setattr(sys, "argv", [*args, "--out", str(tmp_path / "o"), "--reference", "bert"])
    with pytest.raises(SystemExit) as stop:
        main()
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--reference" not in err and "c.jsonl" in err


def test_emofuse_run_rejects_a_bad_recipe_before_any_work(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "run",
            "pepino2020/ef_cs",
            "--corpus",
            str(tmp_path / "missing.jsonl"),
            "--out",
            str(tmp_path / "o"),
            "--set",
            "model.fusion=eraly",
        ],
    )
    assert isinstance(result.exception, ConfigError)
    assert "model.fusion: 'eraly' is not one of" in str(result.exception)
    assert not (tmp_path / "o").exists()
    typo = CliRunner().invoke(
        app,
        [
            "run",
            "pepino2020/audio",
            "--corpus",
            str(tmp_path / "c.jsonl"),
            "--out",
            str(tmp_path / "o"),
            "--set",
            "features.txt.input=asr",
        ],
    )
    assert isinstance(typo.exception, ConfigError) and "branch 'txt', which none of the recipes has" in str(
        typo.exception
    )


def test_emofuse_run_starts_no_worker_server_for_a_recipe_it_rejects(tmp_path: Path) -> None:
    """A branch parameter the model check refuses stops the command before the grid's worker server starts
    (the server would hold the command's output open while it imports torch)."""
    pytest.importorskip("psutil")
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"utterance_id": "a", "audio_path": "a.wav", "speaker": "s1", "label": "angry"}\n')
    script = (
        "import sys, psutil\n"
        "from emofuse.cli.main import main\n"
        f"sys.argv = ['emofuse', 'run', 'pepino2020/audio', '--corpus', {str(corpus)!r}, '--out', "
        f"{str(tmp_path / 'o')!r}, '--workers', '2', '--set', 'model.branches.audio.params.filtrs=[8]']\n"
        "try:\n    main()\nexcept SystemExit as stop:\n    code = stop.code\n"
        "print(code, len(psutil.Process().children(recursive=True)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "filtrs" in done.stderr
    assert done.stdout.split() == ["2", "0"]
