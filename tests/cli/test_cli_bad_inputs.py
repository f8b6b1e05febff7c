"""The bad-input corpus: every case ends in one line naming the file or key, exit code 2, no traceback, and no
output file corrupted or half-written. The bad files are built here, in ``tmp_path``."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emofuse.audio import write_wav

SR_HZ = 16_000
SENTINEL = "previous content: must survive a failed command\n"


def _wav(path: Path, dur_s: float = 1.0, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    write_wav(path, (0.1 * rng.standard_normal(int(SR_HZ * dur_s))).astype(np.float32), SR_HZ)
    return path


def _manifest(folder: Path, rows: list[dict[str, str]], name: str = "m.csv") -> Path:
    import csv

    path = folder / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _good_rows(folder: Path, n: int = 8, **extra: str) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        _wav(folder / f"u{i}.wav", seed=i)
        rows.append({"path": f"u{i}.wav", "speaker": f"s{i % 4}", "label": ("happy", "sad")[i % 2], **extra})
    return rows


@dataclass
class Case:
    """One bad input: ``build(tmp) -> (argv, names)``; the error line must contain every one of ``names``."""

    build: Callable[[Path, pytest.MonkeyPatch], tuple[list[str], list[str]]]
    outputs: tuple[str, ...] = ()  # files (relative to tmp) pre-filled with SENTINEL that must survive


# ------------------------------------------------------------------------------------------------ cases


def empty_csv(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    (tmp / "m.csv").write_bytes(b"")
    return ["corpus", "inspect", "manifest", str(tmp / "m.csv")], ["m.csv"]


def empty_jsonl(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    (tmp / "m.jsonl").write_bytes(b"")
    return ["corpus", "inspect", "manifest", str(tmp / "m.jsonl")], ["m.jsonl"]


def binary_csv(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    (tmp / "m.csv").write_bytes(bytes(range(256)) * 8)
    return ["corpus", "inspect", "manifest", str(tmp / "m.csv")], ["m.csv"]


def binary_jsonl(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    (tmp / "m.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    return ["corpus", "inspect", "manifest", str(tmp / "m.jsonl")], ["m.jsonl"]


def latin1_csv(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    rows = _good_rows(tmp)
    path = _manifest(tmp, rows)
    path.write_bytes(path.read_bytes().replace(b"happy", b"h\xe4ppy"))
    return ["corpus", "inspect", "manifest", str(path)], ["m.csv"]


def no_audio_column(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    path = _manifest(tmp, [{"name": "x.wav", "label": "happy"}])
    return ["corpus", "inspect", "manifest", str(path)], ["m.csv", "--map"]


def missing_audio(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    rows = _good_rows(tmp)
    rows[3]["path"] = "gone.wav"
    return ["corpus", "inspect", "manifest", str(_manifest(tmp, rows))], ["gone.wav"]


def empty_label(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    rows = _good_rows(tmp)
    rows[2]["label"] = ""
    return ["corpus", "inspect", "manifest", str(_manifest(tmp, rows))], ["m.csv", "label"]


def mistyped_label(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    rows = _good_rows(tmp)
    rows[5]["label"] = "angyr"
    return ["corpus", "inspect", "manifest", str(_manifest(tmp, rows))], ["angyr", "--label-map"]


def truncated_wav(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    rows = _good_rows(tmp)
    data = (tmp / "u4.wav").read_bytes()
    (tmp / "u4.wav").write_bytes(data[: len(data) // 2])  # header promises 1 s, half of it is there
    return ["corpus", "inspect", "manifest", str(_manifest(tmp, rows))], ["u4.wav", "truncated"]


def header_only_wav(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    rows = _good_rows(tmp)
    (tmp / "u1.wav").write_bytes((tmp / "u1.wav").read_bytes()[:44])
    return ["corpus", "inspect", "manifest", str(_manifest(tmp, rows))], ["u1.wav"]


def text_as_wav(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    rows = _good_rows(tmp)
    (tmp / "u2.wav").write_text("this is not audio\n")
    return ["corpus", "inspect", "manifest", str(_manifest(tmp, rows))], ["u2.wav"]


def non_utf8_name(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    rows = _good_rows(tmp)
    raw = os.fsencode(tmp) + b"/bad\xff.csv"
    with open(raw, "wb") as handle:
        handle.write(_manifest(tmp, rows).read_bytes())
    return ["corpus", "inspect", "manifest", os.fsdecode(raw)], ["bad"]


def bad_start(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    rows = _good_rows(tmp, start="0.0")
    rows[1]["start"] = "soon"
    return ["corpus", "inspect", "manifest", str(_manifest(tmp, rows))], ["m.csv:3", "start_s"]


def duplicate_ids(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    rows = _good_rows(tmp)
    rows = [dict(r, id="same" if i < 2 else f"u{i}") for i, r in enumerate(rows)]
    return ["corpus", "inspect", "manifest", str(_manifest(tmp, rows))], ["same"]


def kfold_without_speakers(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    rows = [{k: v for k, v in r.items() if k != "speaker"} for r in _good_rows(tmp)]
    argv = ["corpus", "split", "manifest", str(_manifest(tmp, rows)), "--out", str(tmp / "folds.json")]
    return [*argv, "--protocol", "speaker-kfold", "--folds", "2"], ["speaker"]


def script_without_scripts(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    argv = [
        "corpus",
        "split",
        "manifest",
        str(_manifest(tmp, _good_rows(tmp))),
        "--out",
        str(tmp / "folds.json"),
    ]
    return [*argv, "--protocol", "speaker-script", "--folds", "2"], ["script"]


def split_out_under_file(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    (tmp / "afile").write_text("x")
    argv = [
        "corpus",
        "split",
        "manifest",
        str(_manifest(tmp, _good_rows(tmp))),
        "--out",
        str(tmp / "afile/f.json"),
    ]
    return [*argv, "--folds", "2"], ["afile"]


def _fail_writes(mp: pytest.MonkeyPatch, code: int) -> None:
    """Make every atomic write fail as on a full disk (ENOSPC) or a read-only folder (EROFS)."""
    import tempfile

    real = tempfile.mkstemp

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        fd, name = real(*args, **kwargs)  # type: ignore[arg-type]
        if code == errno.ENOSPC:
            os.close(fd)
            fd = os.open("/dev/full", os.O_WRONLY)
            return fd, name
        os.close(fd)
        os.unlink(name)
        raise OSError(code, os.strerror(code), name)

    mp.setattr(tempfile, "mkstemp", mkstemp)


def split_full_disk(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    argv = [
        "corpus",
        "split",
        "manifest",
        str(_manifest(tmp, _good_rows(tmp))),
        "--out",
        str(tmp / "folds.json"),
    ]
    (tmp / "folds.json").write_text(SENTINEL)
    _fail_writes(mp, errno.ENOSPC)
    return [*argv, "--folds", "2"], ["folds.json", "disk is full"]


def export_read_only(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    argv = [
        "corpus",
        "export",
        "manifest",
        str(_manifest(tmp, _good_rows(tmp))),
        "--out",
        str(tmp / "t.jsonl"),
    ]
    (tmp / "t.jsonl").write_text(SENTINEL)
    _fail_writes(mp, errno.EROFS)
    return argv, ["t.jsonl", "read-only"]


def _table(tmp: Path) -> Path:
    from emofuse.corpus import read_corpus
    from emofuse.corpus.table import write_table

    table, _ = read_corpus("manifest", _manifest(tmp, _good_rows(tmp)))
    write_table(table, tmp / "table.jsonl")
    return tmp / "table.jsonl"


BOMB_ENCODER = """
features:
  audio:
    input: audio
    encoder:
      kind: spectral
      a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
      b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
      c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
      d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
      e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
      f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
      g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
"""


def bomb_under_encoder(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    from emofuse.recipes import resolve_recipe_path

    audio = resolve_recipe_path("pepino2020/audio")
    (tmp / "_base.yaml").write_text(audio.with_name("_base.yaml").read_text(encoding="utf-8"))
    recipe = audio.read_text(encoding="utf-8") + BOMB_ENCODER
    (tmp / "bomb.yaml").write_text(recipe)
    return ["extract", str(tmp / "bomb.yaml"), "--corpus", str(_table(tmp)), "--no-progress"], ["bomb.yaml"]


def bad_table_for_extract(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    (tmp / "table.jsonl").write_bytes(b"\x00\x01\x02 not json\n")
    return ["extract", "spectral.mfcc40", "--corpus", str(tmp / "table.jsonl"), "--no-progress"], [
        "table.jsonl"
    ]


def extract_read_only_store(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    table = _table(tmp)
    _fail_writes(mp, errno.EROFS)
    argv = [
        "extract",
        "spectral.mfcc40",
        "--corpus",
        str(table),
        "--store",
        str(tmp / "store"),
        "--no-progress",
    ]
    return argv, ["store", "read-only"]


def extract_full_disk(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    table = _table(tmp)
    _fail_writes(mp, errno.ENOSPC)
    argv = [
        "extract",
        "spectral.mfcc40",
        "--corpus",
        str(table),
        "--store",
        str(tmp / "store"),
        "--no-progress",
    ]
    return argv, ["store", "disk is full"]


def run_bomb(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    argv, _ = bomb_under_encoder(tmp, mp)
    return ["run", str(tmp / "bomb.yaml"), "--corpus", argv[3], "--out", str(tmp / "runs")], ["bomb.yaml"]


def predict_no_package(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    return ["predict", str(_wav(tmp / "a.wav")), "--model", str(tmp / "nopkg")], ["nopkg"]


def predict_package_not_json(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    (tmp / "pkg").mkdir()
    (tmp / "pkg/config.json").write_bytes(b"\xff\xfe garbage")
    (tmp / "pkg/model.safetensors").write_bytes(b"\x00" * 16)
    return ["predict", str(_wav(tmp / "a.wav")), "--model", str(tmp / "pkg")], ["config.json"]


def split_bad_folds_number(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    argv = ["corpus", "split", "manifest", str(_manifest(tmp, _good_rows(tmp))), "--out", str(tmp / "f.json")]
    return [*argv, "--folds", "20"], ["20"]


def check_leaks_bad_splits(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    (tmp / "folds.json").write_bytes(b'{"format": "emofuse.splits", "version": 1, "folds": [{"x": 1}]}')
    argv = ["corpus", "check-leaks", "manifest", str(_manifest(tmp, _good_rows(tmp)))]
    return [*argv, "--splits", str(tmp / "folds.json")], ["folds.json"]


def serve_exposed_without_key(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    return ["serve", "--model", str(tmp / "pkg"), "--host", "0.0.0.0"], ["--host 0.0.0.0", "--api-key-file"]


def serve_short_key(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    (tmp / "key.txt").write_text("short\n")
    return ["serve", "--model", str(tmp / "pkg"), "--api-key-file", str(tmp / "key.txt")], ["key.txt", "16"]


def serve_missing_key_file(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    return ["serve", "--model", str(tmp / "pkg"), "--api-key-file", str(tmp / "nokey.txt")], ["nokey.txt"]


def predict_tiny_wav(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    from emofuse.audio import write_wav

    write_wav(tmp / "tiny.wav", np.full(10, 0.1, dtype=np.float32), SR_HZ)
    mp.setattr("emofuse.serve.predictor.Predictor.from_pretrained", _stub_from_pretrained)
    return ["predict", str(tmp / "tiny.wav"), "--model", str(tmp / "pkg")], ["tiny.wav", "0.6 ms"]


def _stub_from_pretrained(directory: object, *args: object, **kwargs: object) -> object:
    """A Predictor around nothing: the duration check comes before any model is used."""
    from emofuse.serve.predictor import Predictor

    predictor = Predictor.__new__(Predictor)
    return predictor


def transcribe_read_only(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    _wav(tmp / "a.wav")
    _fail_writes(mp, errno.EROFS)
    argv = ["transcribe", str(tmp / "a.wav"), "--out", str(tmp / "t.jsonl"), "--no-cache", "--no-progress"]
    return [*argv, "--no-vad"], ["t.jsonl", "read-only"]


def run_read_only(tmp: Path, mp: pytest.MonkeyPatch) -> tuple[list[str], list[str]]:
    table = _table(tmp)
    _fail_writes(mp, errno.EROFS)
    argv = ["run", "pepino2020/audio", "--corpus", str(table), "--out", str(tmp / "runs")]
    kfold = ["--set", "protocols.iemocap.kind=speaker-kfold", "--set", "protocols.iemocap.k=2"]
    return [*argv, "--set", "features.audio.encoder=spectral.mfcc40", *kfold], ["read-only"]


CASES: dict[str, Case] = {
    "empty_csv": Case(empty_csv),
    "empty_jsonl": Case(empty_jsonl),
    "binary_csv": Case(binary_csv),
    "binary_jsonl": Case(binary_jsonl),
    "latin1_csv": Case(latin1_csv),
    "no_audio_column": Case(no_audio_column),
    "missing_audio": Case(missing_audio),
    "empty_label": Case(empty_label),
    "mistyped_label": Case(mistyped_label),
    "truncated_wav": Case(truncated_wav),
    "header_only_wav": Case(header_only_wav),
    "text_as_wav": Case(text_as_wav),
    "bad_start": Case(bad_start),
    "duplicate_ids": Case(duplicate_ids),
    "kfold_without_speakers": Case(kfold_without_speakers),
    "script_without_scripts": Case(script_without_scripts),
    "split_out_under_file": Case(split_out_under_file),
    "split_full_disk": Case(split_full_disk, outputs=("folds.json",)),
    "export_read_only": Case(export_read_only, outputs=("t.jsonl",)),
    "bomb_under_encoder": Case(bomb_under_encoder),
    "bad_table_for_extract": Case(bad_table_for_extract),
    "extract_read_only_store": Case(extract_read_only_store),
    "extract_full_disk": Case(extract_full_disk),
    "run_bomb": Case(run_bomb),
    "predict_no_package": Case(predict_no_package),
    "predict_package_not_json": Case(predict_package_not_json),
    "split_bad_folds_number": Case(split_bad_folds_number),
    "check_leaks_bad_splits": Case(check_leaks_bad_splits),
    "serve_exposed_without_key": Case(serve_exposed_without_key),
    "serve_short_key": Case(serve_short_key),
    "serve_missing_key_file": Case(serve_missing_key_file),
    "predict_tiny_wav": Case(predict_tiny_wav),
    "transcribe_read_only": Case(transcribe_read_only),
    "run_read_only": Case(run_read_only),
}


def _leftover_temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*.tmp")]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_clear_line_and_exit_2(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    emofuse_cli: Any,
) -> None:
    case = CASES[name]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EMOFUSE_CACHE_DIR", str(tmp_path / "cache"))
    argv, names = case.build(tmp_path, monkeypatch)
    capsys.readouterr()
    code, err = emofuse_cli(argv)
    flat = " ".join(err.split())
    outcome = "silent accept" if code == 0 else "traceback" if "Traceback" in err else f"exit {code}"
    assert code == 2 and "Traceback" not in err, f"{name}: {outcome}: {err[-2000:]}"
    assert flat.startswith("error:"), err
    for needle in names:
        assert needle in flat, f"{name}: the message does not name {needle!r}: {flat}"
    for rel in case.outputs:
        assert (tmp_path / rel).read_text() == SENTINEL, f"{name}: {rel} was overwritten"
    assert not _leftover_temp_files(tmp_path), f"{name}: half-written files left behind"


def test_debug_prints_the_traceback(tmp_path: Path, emofuse_cli: Any) -> None:
    (tmp_path / "m.csv").write_bytes(b"")
    code, err = emofuse_cli(["--debug", "corpus", "inspect", "manifest", str(tmp_path / "m.csv")])
    assert code == 2 and "Traceback" in err and err.rstrip().splitlines()[-1].startswith("error:")


def test_skip_missing_lists_truncated_audio(tmp_path: Path, emofuse_cli: Any) -> None:
    rows = _good_rows(tmp_path)
    data = (tmp_path / "u4.wav").read_bytes()
    (tmp_path / "u4.wav").write_bytes(data[: len(data) // 2])
    out = tmp_path / "t.jsonl"
    argv = [
        "corpus",
        "export",
        "manifest",
        str(_manifest(tmp_path, rows)),
        "--out",
        str(out),
        "--skip-missing",
    ]
    code, _ = emofuse_cli(argv)
    assert code == 0
    ids = [json.loads(line)["utterance_id"] for line in out.read_text().splitlines()]
    assert "u4" not in ids and len(ids) == 7


def test_a_file_name_that_is_not_utf8_is_read_and_shown_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emofuse_cli: Any
) -> None:
    argv, _ = non_utf8_name(tmp_path, monkeypatch)
    code, _ = emofuse_cli(argv)
    assert code == 0
    out = tmp_path / "t.jsonl"
    code, err = emofuse_cli(["corpus", "export", "manifest", argv[-1], "--out", str(out)])
    assert code == 0, err
    assert len(out.read_text(encoding="utf-8").splitlines()) == 8
