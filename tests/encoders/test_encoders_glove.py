"""The glove encoder on tiny vectors files the tests write (dim 4): shapes, OOV, [SIL], ids, errors."""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emofuse.encoders import FeatureStore, build_encoder, encoder_id_of, extract_features
from emofuse.encoders import glove as glove_mod
from emofuse.encoders.glove import SIL_TOKEN, GloveEncoder, tokenize
from emofuse.errors import ConfigError

VECTORS = {
    "the": [0.1, 0.2, 0.3, 0.4],
    "i": [1.0, 0.0, 0.0, 0.0],
    "do": [0.0, 1.0, 0.0, 0.0],
    "n't": [0.0, 0.0, 1.0, 0.0],
    "feel": [0.0, 0.0, 0.0, 1.0],
    "sad": [-1.0, -2.0, 3.5, 0.25],
    ",": [0.5, 0.5, 0.5, 0.5],
    "happy": [2.0, 2.0, -2.0, 1.0],
}


def _lines(vectors: dict[str, list[float]]) -> str:
    return "".join(f"{w} {' '.join(repr(v) for v in vec)}\n" for w, vec in vectors.items())


@pytest.fixture
def vectors_file(tmp_path: Path) -> Path:
    path = tmp_path / "glove.tiny.4d.txt"
    path.write_text(_lines(VECTORS), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _fresh_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with an empty per-process table cache (the tests share contents)."""
    monkeypatch.setattr(glove_mod, "_TABLES", {})


def _glove(path: Path, **options: object) -> GloveEncoder:
    return build_encoder({"kind": "glove", "vectors_path": str(path), **options})  # type: ignore[return-value]


def test_tokenizer_splits_clitics_punctuation_and_keeps_sil() -> None:
    assert tokenize("I don't feel SAD [sil] it's well-known, can\u2019t") == [
        "i", "do", "n't", "feel", "sad", SIL_TOKEN, "it", "'s", "well", "-", "known", ",", "ca", "n't",
    ]  # fmt: skip
    assert tokenize("Sad [SIL]!", lowercase=False) == ["Sad", SIL_TOKEN, "!"]
    assert tokenize("   ") == []


def test_frames_are_the_words_vectors_with_zero_for_oov_and_sil(vectors_file: Path) -> None:
    enc = _glove(vectors_file)
    assert (enc.modality, enc.output, enc.dim) == ("text", "frames", 4)
    out = enc.encode("I don't feel sad, [SIL] zebra the")
    assert out.dtype == np.float32 and out.shape == (9, 4)
    expected = [VECTORS[w] for w in ("i", "do", "n't", "feel", "sad", ",")]
    np.testing.assert_allclose(out[:6], np.asarray(expected, dtype=np.float32))
    assert not out[6].any() and not out[7].any()  # [SIL] and the OOV "zebra" are zero frames
    np.testing.assert_allclose(out[8], VECTORS["the"])
    assert enc.tokens("I don't") == ["i", "do", "n't"]
    empty = enc.encode("")
    assert empty.shape == (1, 4) and not empty.any()


def test_oov_skip_drops_unknown_words_but_keeps_sil(vectors_file: Path) -> None:
    enc = _glove(vectors_file, oov="skip")
    out = enc.encode("zebra happy [sil] quokka sad")
    assert enc.tokens("zebra happy [sil] quokka sad") == ["happy", SIL_TOKEN, "sad"]
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out[0], VECTORS["happy"])
    assert not out[1].any()
    np.testing.assert_allclose(out[2], VECTORS["sad"])
    only_oov = enc.encode("zebra quokka")
    assert only_oov.shape == (1, 4) and not only_oov.any()


def test_lowercase_option_and_cased_files(tmp_path: Path) -> None:
    path = tmp_path / "cased.txt"
    path.write_text("Sad 1 1 1 1\nsad 2 2 2 2\nthe 3 3 3 3\n", encoding="utf-8")
    lower = _glove(path)
    np.testing.assert_allclose(lower.encode("SAD"), [[1, 1, 1, 1]])  # first (most frequent) spelling wins
    cased = _glove(path, lowercase=False)
    np.testing.assert_allclose(cased.encode("Sad sad The"), [[1, 1, 1, 1], [2, 2, 2, 2], [0, 0, 0, 0]])
    assert lower.encoder_id != cased.encoder_id


def test_encoding_is_deterministic_and_ids_are_stable(vectors_file: Path, tmp_path: Path) -> None:
    a, b = _glove(vectors_file), _glove(vectors_file)
    text = "i feel happy, the sad [SIL] do"
    np.testing.assert_array_equal(a.encode(text), b.encode(text))
    np.testing.assert_array_equal(a.encode_batch([text, "sad"])[0], a.encode(text))
    assert a.encoder_id == b.encoder_id and a.encoder_id.startswith("glove-")
    alias = build_encoder({"kind": "glove", "vectors": str(vectors_file), "dim": 4})
    assert alias.encoder_id == a.encoder_id  # recipe spelling `vectors`, and dim given or inferred
    assert encoder_id_of({"kind": "glove", "vectors_path": str(vectors_file)}) == (a.encoder_id, "text")
    moved = tmp_path / "elsewhere" / "copy.txt"
    moved.parent.mkdir()
    shutil.copy(vectors_file, moved)
    assert _glove(moved).encoder_id == a.encoder_id  # content, not path: portable across machines
    assert _glove(vectors_file, oov="skip").encoder_id != a.encoder_id
    assert _glove(vectors_file, max_words=3).encoder_id != a.encoder_id


def test_id_changes_when_the_vectors_file_changes(vectors_file: Path) -> None:
    before = _glove(vectors_file).encoder_id
    text = vectors_file.read_text(encoding="utf-8")
    vectors_file.write_text(text.replace("-2.0", "-3.0"), encoding="utf-8")  # same size, one value differs
    assert len(vectors_file.read_text(encoding="utf-8")) == len(text)
    changed = _glove(vectors_file)
    assert changed.encoder_id != before
    assert changed.encode("sad")[0, 1] == -3.0
    vectors_file.write_text(text + "zebra 1 2 3 4\n", encoding="utf-8")
    assert _glove(vectors_file).encoder_id not in (before, changed.encoder_id)


def test_vectors_stream_once_per_process_and_lazily(
    vectors_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    real = glove_mod._stream_table

    def counting(path: Path, *args: object) -> glove_mod.GloveTable:
        calls.append(path)
        return real(path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(glove_mod, "_stream_table", counting)
    first = _glove(vectors_file)
    encoder_id_of({"kind": "glove", "vectors_path": str(vectors_file)})
    assert calls == []  # building the encoder and asking for its id read no vectors
    first.encode("sad")
    _glove(vectors_file).encode("happy")  # a second encoder with the same file shares the table
    first.encode("the")
    assert calls == [vectors_file]
    _glove(vectors_file, max_words=2).encode("the")
    assert len(calls) == 2


def test_max_words_keeps_the_first_words(vectors_file: Path) -> None:
    enc = _glove(vectors_file, max_words=2)
    assert len(enc.table) == 2
    out = enc.encode("the i do")
    np.testing.assert_allclose(out[:2], [VECTORS["the"], VECTORS["i"]])
    assert not out[2].any()


def test_gz_zip_header_and_spaced_words_are_read(vectors_file: Path, tmp_path: Path) -> None:
    text = vectors_file.read_text(encoding="utf-8")
    gz = tmp_path / "v.txt.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    zipped = tmp_path / "glove.42B.300d.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("glove.tiny.4d.txt", text)
    w2v = tmp_path / "w2v.txt"
    w2v.write_text(f"{len(VECTORS) + 1} 4\n" + text + ". . . 9 9 9 9\n", encoding="utf-8")
    sentence = "i don't feel happy, the sad"
    reference = _glove(vectors_file).encode(sentence)
    for path in (gz, zipped, w2v):
        enc = _glove(path)
        assert enc.dim == 4
        np.testing.assert_array_equal(enc.encode(sentence), reference)
    assert "9" not in _glove(w2v).table.vocab and ". . ." in _glove(w2v).table.vocab
    assert _glove(gz).encoder_id != _glove(vectors_file).encoder_id  # other bytes, other fingerprint


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "glove"}, r"no `vectors_path`.*glove\.42B\.300d\.zip.*never downloads"),
        (
            {"kind": "glove", "vectors": "/no/such/glove.txt"},
            r"/no/such/glove\.txt does not exist.*never downloads",
        ),
        ({"kind": "glove", "vectors_path": "/no/such/glove.txt", "oov": "drop"}, "oov"),
        ({"kind": "glove", "vectors_path": "x", "vector_path": "y"}, "vector_path"),
    ],
)
def test_missing_or_bad_spec_is_a_clear_config_error(spec: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_encoder(spec)
    with pytest.raises(ConfigError, match=message):
        encoder_id_of(spec)


def test_bad_files_name_the_file_and_line(vectors_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a file"):
        _glove(tmp_path)
    with pytest.raises(ConfigError, match=r"dim=300 but .*glove\.tiny\.4d\.txt holds 4-d"):
        _glove(vectors_file, dim=300)
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("the 1 2 3 4\nsad 1 2 3\n", encoding="utf-8")
    enc = _glove(ragged)
    with pytest.raises(ConfigError, match=r"ragged\.txt line 2: expected a word and 4 numbers"):
        enc.encode("sad")
    not_numbers = tmp_path / "words.txt"
    not_numbers.write_text("hello world and more\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"words\.txt line 1 is not a GloVe vector line"):
        _glove(not_numbers)
    bad_value = tmp_path / "nan.txt"
    bad_value.write_text("the 1 2 3 4\nsad 1 2 x 4\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"nan\.txt line 2: a vector value is not a number"):
        _glove(bad_value).encode("sad")
    empty_zip = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty_zip, "w") as archive:
        archive.writestr("README", "no vectors here")
    with pytest.raises(ConfigError, match=r"empty\.zip holds no \.txt file"):
        _glove(empty_zip)
    fake_gz = tmp_path / "fake.txt.gz"
    fake_gz.write_bytes(b"not gzip at all")
    with pytest.raises(ConfigError, match=r"cannot read GloVe vectors file .*fake\.txt\.gz"):
        _glove(fake_gz)
    with pytest.raises(ConfigError, match="takes strings"):
        _glove(vectors_file).encode(np.zeros(3))  # type: ignore[arg-type]


def _tiny_table(tmp_path: Path):
    from emofuse.audio import write_wav
    from emofuse.corpus.table import make_table

    texts = {"u0": "I feel sad", "u1": "happy [SIL] happy", "u2": "I feel sad"}
    rows = []
    for uid, text in texts.items():
        wav = tmp_path / f"{uid}.wav"
        write_wav(wav, np.zeros(1600, dtype=np.float32), 16_000)
        rows.append({"utterance_id": uid, "audio_path": str(wav), "transcript": text, "speaker": "s"})
    return make_table(rows, corpus="glove-test"), texts


def test_extract_features_and_cli_fill_the_store(vectors_file: Path, tmp_path: Path) -> None:
    from emofuse.cli.main import app
    from emofuse.corpus.table import write_table

    table, texts = _tiny_table(tmp_path)
    enc = _glove(vectors_file)
    store = FeatureStore(tmp_path / "store")
    keys = extract_features(table, enc, store, texts=texts, progress=False)
    assert keys["u0"] == keys["u2"]  # same text, one entry
    np.testing.assert_allclose(
        store.get(enc.encoder_id, keys["u0"]), [VECTORS["i"], VECTORS["feel"], VECTORS["sad"]]
    )
    assert store.get(enc.encoder_id, keys["u1"]).shape == (3, 4)

    corpus = tmp_path / "corpus.jsonl"
    write_table(table, corpus)
    cli_store = tmp_path / "cli_store"
    spec = json.dumps({"kind": "glove", "vectors": str(vectors_file)})
    result = CliRunner().invoke(
        app, ["extract", spec, "--corpus", str(corpus), "--store", str(cli_store), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert FeatureStore(cli_store).encoder_ids() == [enc.encoder_id]
    np.testing.assert_array_equal(
        FeatureStore(cli_store).get(enc.encoder_id, keys["u1"]), store.get(enc.encoder_id, keys["u1"])
    )
    missing = json.dumps({"kind": "glove"})
    failed = CliRunner().invoke(app, ["extract", missing, "--corpus", str(corpus), "--store", str(cli_store)])
    assert isinstance(failed.exception, ConfigError)  # `emofuse` (cli.main.main) prints it, exit code 2
    assert "glove.42B.300d.zip" in str(failed.exception)


def test_the_pepino2020_glove_recipe_spec_builds(vectors_file: Path) -> None:
    recipes = pytest.importorskip("emofuse.recipes")
    reference = _glove(vectors_file).encoder_id
    for key in ("vectors_path", "vectors"):  # the recipe's key, and the alias over a `vectors_path: null`
        recipe = recipes.load_recipe("pepino2020/text_glove", [f"features.text.encoder.{key}={vectors_file}"])
        enc = build_encoder(recipe.encoder_specs()["text"])
        assert enc.encoder_id == reference
        assert enc.encode("sad").shape == (1, 4)


def test_vectors_alias_conflicts_are_rejected(vectors_file: Path, tmp_path: Path) -> None:
    same = {"kind": "glove", "vectors_path": str(vectors_file), "vectors": str(vectors_file)}
    assert build_encoder(same).encoder_id == _glove(vectors_file).encoder_id
    with pytest.raises(ConfigError, match="differ; give one of them"):
        build_encoder({**same, "vectors": str(tmp_path / "other.txt")})
