"""Fuzz test of the manifest reader: whatever bytes a manifest holds, reading it gives a table or a clear
:class:`EmofuseError` naming the file, never another exception (fixed budget, derandomized: it cannot flake)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emofuse.corpus.manifest import read_manifest
from emofuse.errors import EmofuseError

_PIECES = st.sampled_from(
    [
        "path,label,speaker\n",
        "audio,emotion\n",
        '{"path": "a.wav", "label": "happy"}\n',
        '{"path": ["a"], "label": {"x": 1}}\n',
        "a.wav,happy,s1\n",
        ",,\n",
        '"unclosed,quote\n',
        "\x00\x01",
        "\ufeff",
        "[[[[[[[[[[",
        "start,end\n1,x\n",
        "h\xe4ppy",
    ]
)


@settings(
    max_examples=200, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)
@given(
    pieces=st.lists(st.one_of(_PIECES, st.text(max_size=30)), max_size=10),
    raw=st.binary(max_size=64),
    use_raw=st.booleans(),
    suffix=st.sampled_from([".csv", ".tsv", ".jsonl"]),
    encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]),
)
def test_fuzz_manifest_reader_gives_a_table_or_a_clear_error(
    pieces: list[str], raw: bytes, use_raw: bool, suffix: str, encoding: str
) -> None:
    data = raw if use_raw else "".join(pieces).encode(encoding, "replace")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"m{suffix}"
        path.write_bytes(data)
        try:
            result = read_manifest(path, verify_audio=False)
        except EmofuseError as exc:
            assert str(exc).strip()
            return
        assert len(result.table) >= 1  # a table came back: every row has its audio path resolved
        assert result.table["audio_path"].map(lambda p: Path(p).is_absolute()).all()
