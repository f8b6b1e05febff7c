"""`emofuse corpus inspect | split | check-leaks | export` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from emofuse.cli.corpus import app
from emofuse.corpus import read_table
from emofuse.corpus.protocols import read_splits

runner = CliRunner(env={"COLUMNS": "220"})


def test_inspect_shows_counts_and_drops(iemocap_root: Path) -> None:
    result = runner.invoke(
        app,
        ["inspect", "iemocap", str(iemocap_root), "--merge-excited", "--classes", "angry,happy,sad,neutral"],
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "utterances found" in out and "45" in out and "utterances kept" in out and "30" in out
    assert "happy" in out and "Ses05M" in out and "Session3" in out
    assert "label 'frustrated' not in classes" in out
    assert "0:00:03" in out  # 30 turns of 0.1 s


def test_split_writes_folds_and_strict_fails_on_leaks(iemocap_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "folds.json"
    args = ["split", "iemocap", str(iemocap_root), "--out", str(out), "--seed", "3"]
    result = runner.invoke(app, [*args, "--protocol", "speaker-script", "--strict"])
    assert result.exit_code == 0, result.output
    split = read_splits(out)
    assert split.protocol == "speaker-script" and split.seed == 3 and len(split.folds) == 5
    assert "No leaks" in result.output

    leaky = tmp_path / "leaky.json"
    result = runner.invoke(
        app,
        [
            "split",
            "iemocap",
            str(iemocap_root),
            "--out",
            str(leaky),
            "--protocol",
            "speaker-kfold",
            "--strict",
        ],
    )
    assert result.exit_code == 1 and not leaky.exists()
    result = runner.invoke(
        app, ["split", "iemocap", str(iemocap_root), "--out", str(leaky), "--protocol", "speaker-kfold"]
    )
    assert result.exit_code == 0 and leaky.exists() and "The split leaks" in result.output

    check = ["check-leaks", "iemocap", str(iemocap_root)]
    assert runner.invoke(app, [*check, "--splits", str(out), "--strict"]).exit_code == 0
    result = runner.invoke(app, [*check, "--splits", str(leaky), "--strict"])
    assert result.exit_code == 1 and "script01" in result.output
    assert runner.invoke(app, [*check, "--splits", str(leaky)]).exit_code == 0


def test_errors_are_one_line_and_exit_2(iemocap_root: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["inspect", "iemocap", str(tmp_path)])
    assert result.exit_code == 2 and "no Session1..Session5" in result.output
    result = runner.invoke(app, ["inspect", "ravdess", str(tmp_path), "--merge-excited"])
    assert result.exit_code == 2 and "--merge-excited does not apply" in result.output
    result = runner.invoke(
        app,
        [
            "split",
            "iemocap",
            str(iemocap_root),
            "--out",
            str(tmp_path / "f.json"),
            "--protocol",
            "predefined",
        ],
    )
    assert result.exit_code == 2 and "needs a 'train' split" in result.output
    result = runner.invoke(
        app, ["check-leaks", "iemocap", str(iemocap_root), "--splits", str(tmp_path / "x.json")]
    )
    assert result.exit_code == 2 and "split file not found" in result.output


def test_export_writes_a_readable_table(crema_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "table.jsonl"
    report = tmp_path / "report.json"
    result = runner.invoke(
        app,
        [
            "export",
            "crema_d",
            str(crema_root),
            "--out",
            str(out),
            "--report",
            str(report),
            "--classes",
            "angry",
        ],
    )
    assert result.exit_code == 0, result.output
    table = read_table(out)
    assert sorted(table["utterance_id"]) == ["1001_DFA_ANG_XX", "1003_ITH_ANG_MD"]
    assert table["gender"].tolist() == ["M", "M"] and table["speaker"].tolist() == ["1001", "1003"]
    assert json.loads(report.read_text())["n_kept"] == 2


def test_manifest_map_option(tmp_path: Path, crema_root: Path) -> None:
    wavs = sorted((crema_root / "AudioWAV").glob("*.wav"))[:3]
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "file,emo\n" + "".join(f"{w},{e}\n" for w, e in zip(wavs, ["a", "b", "a"], strict=True))
    )
    args = ["inspect", "manifest", str(manifest), "--map", "audio=file,label=emo"]
    result = runner.invoke(
        app, args
    )  # 'a' and 'b' are not emofuse labels: an error unless the user names them
    assert result.exit_code == 2 and "unknown label(s) in column 'emo'" in result.output
    result = runner.invoke(app, [*args, "--classes", "a,b"])
    assert result.exit_code == 0, result.output
    assert "utterances kept" in result.output


def test_strict_transcripts_flag(tmp_path: Path, crema_root: Path) -> None:
    # two speakers who say the same sentence, no script column: a transcript-only leak
    wavs = sorted((crema_root / "AudioWAV").glob("*.wav"))[:4]
    manifest = tmp_path / "m.csv"
    rows = [(w, f"spk{i % 2}", "we will meet again at noon") for i, w in enumerate(wavs)]
    manifest.write_text("audio,speaker,text\n" + "".join(f"{w},{s},{t}\n" for w, s, t in rows))
    base = [
        "split",
        "manifest",
        str(manifest),
        "--protocol",
        "speaker-kfold",
        "--folds",
        "2",
        "--dev-fraction",
        "0",
    ]
    result = runner.invoke(app, [*base, "--out", str(tmp_path / "a.json"), "--strict"])
    assert result.exit_code == 0, result.output
    assert "we will meet again at noon" in result.output
    result = runner.invoke(
        app, [*base, "--out", str(tmp_path / "b.json"), "--strict", "--strict-transcripts"]
    )
    assert result.exit_code == 1 and not (tmp_path / "b.json").exists()


def test_split_writes_random_kfold(iemocap_root: Path, tmp_path: Path) -> None:
    """random-kfold (kumar2021) is a protocol like the others: `corpus split` writes it (and reports the leak)."""
    out = tmp_path / "random.json"
    args = [
        "split",
        "iemocap",
        str(iemocap_root),
        "--out",
        str(out),
        "--protocol",
        "random-kfold",
        "--folds",
        "3",
    ]
    result = runner.invoke(app, [*args, "--merge-excited", "--classes", "angry,happy,sad,neutral"])
    assert result.exit_code == 0, result.output
    split = read_splits(out)
    assert split.protocol == "random-kfold" and len(split.folds) == 3 and "The split leaks" in result.output
    tests = sorted(u for f in split.folds for u in f.test)
    assert len(tests) == len(set(tests)) == 30  # every kept utterance tested exactly once


def test_every_corpus_command_takes_the_corpus_options() -> None:
    import typer.main

    from emofuse.cli.corpus import _CORPUS_OPTIONS

    group = typer.main.get_group(app)
    for name in ("inspect", "split", "check-leaks", "export"):
        params = {p.name for p in group.commands[name].params}
        assert {n for n, _, _ in _CORPUS_OPTIONS} <= params, name
