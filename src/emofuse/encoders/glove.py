"""Static GloVe word vectors from a local file: pepino2020's "Glove" text baseline (Sec. 2.1, footnote 1).

emofuse never downloads GloVe. pepino2020 used the 300-d Common Crawl vectors,
http://nlp.stanford.edu/data/glove.42B.300d.zip (about 1.9 GB zipped, 5 GB of text, 1.9 M uncased words);
give the path of a local copy: ``{"kind": "glove", "vectors_path": "/data/glove.42B.300d.txt"}`` (``vectors``
is accepted for ``vectors_path``; both at once must agree). Accepted files: GloVe text (``word v1 ... vD``
per line), the same gzipped (``.gz``) or the ``.zip`` as distributed (its first ``.txt`` member is read); a
word2vec-style ``"<count> <dim>"`` header line is skipped; words that hold spaces (glove.840B) are read
correctly, since the last ``D`` fields of a line are the vector.

Output: ``[T, D]`` float32 frames, one per kept token, ``D`` = the file's dimension (300 for glove.42B).

Tokeniser (:func:`tokenize`, a small regex approximation of the Stanford/PTB tokenisation GloVe was trained
on): ``[SIL]`` (any case) is one token; words are runs of letters/digits/underscore; the English clitics
``n't``, ``'s``, ``'re``, ``'ll``, ``'ve``, ``'m``, ``'d`` are split off (``don't`` -> ``do n't``,
``can't`` -> ``ca n't``, ``it's`` -> ``it 's``, as in GloVe's vocabulary); every other non-space character
(punctuation) is a token of its own. Hyphenated words are split (``well-known`` -> ``well - known``). With
``lowercase: true`` (default; glove.42B is uncased) tokens and vocabulary are lower-cased; for a cased file
(glove.840B) the first (most frequent) spelling of each lower-cased word is kept.

Frames: a word in the vocabulary gets its vector; an out-of-vocabulary word gets a zero vector
(``oov: "zero"``, default, so ``T`` = number of tokens) or no frame (``oov: "skip"``). ``[SIL]`` always gets
a frame, the zero vector (GloVe has no silence word and this encoder learns nothing): with ``oov: "skip"``
a zero frame therefore means exactly a pause; with ``oov: "zero"`` a pause looks like an unknown word.
A text with no frame left (empty, or only OOV words under ``skip``) gives one zero frame ``[1, D]``.

Loading and memory: the file is read once per process, streamed line by line (never read twice, never held
as text), lazily on the first :meth:`GloveEncoder.encode` (building the encoder or asking for its id only
reads the first line and fingerprints the file). The table is kept in float32 blocks: about
``words x D x 4`` bytes plus ~100 bytes per word for the vocabulary, i.e. ~2.3 GB + ~0.2 GB for all of
glove.42B, ~0.5 GB with ``max_words: 400000`` (GloVe files are sorted by frequency, so ``max_words`` keeps the
most frequent words; the rest become OOV). Encoders with the same file, ``lowercase`` and ``max_words``
share one loaded table. Streaming 42B takes minutes on one core; a rich progress bar shows it.

Encoder id: the config (without the path) plus a fingerprint of the file's content (size and SHA-256 of its
first and last MiB) and its dimension, so a different vectors file never reuses stored features, while the
same file at another path (another machine, a packaged model) keeps its id. ``dim: None`` and ``dim: 300``
for a 300-d file give the same id.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from emofuse.encoders.base import Encoder, EncoderConfig
from emofuse.errors import ConfigError
from emofuse.hashing import config_hash
from emofuse.transcribe.silence import SIL_TOKEN

GLOVE_URL = "http://nlp.stanford.edu/data/glove.42B.300d.zip"
_TOKEN_RE = re.compile(r"\[sil\]|n't\b|'(?:s|re|ll|ve|m|d)\b|[^\W_]+?(?=n't\b)|\w+|[^\w\s]", re.IGNORECASE)
_FINGERPRINT_BYTES = 1 << 20
_BLOCK_ROWS = 1 << 16
_PROGRESS_MIN_BYTES = 64 << 20


class GloveConfig(EncoderConfig):
    """Config of :class:`GloveEncoder` (see the module doc).

    ``vectors_path`` (alias ``vectors``): local GloVe file (.txt, .gz or .zip), required.
    ``dim``: expected dimension (checked against the file; None = the file's).
    ``max_words``: keep only the first (most frequent) N words of the file (None = all).
    """

    kind: Literal["glove"] = "glove"
    vectors_path: str | None = None
    dim: int | None = Field(default=None, ge=1)
    lowercase: bool = True
    oov: Literal["zero", "skip"] = "zero"
    max_words: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _vectors_alias(cls, data: Any) -> Any:
        # `vectors` stands for `vectors_path` (a recipe may hold `vectors_path: null` and `--set ..vectors=`)
        if isinstance(data, dict) and "vectors" in data:
            data = dict(data)
            alias, path = data.pop("vectors"), data.get("vectors_path")
            if path is not None and alias is not None and str(path) != str(alias):
                raise ValueError(f"`vectors` ({alias}) and `vectors_path` ({path}) differ; give one of them")
            data["vectors_path"] = path if path is not None else alias
        return data


GloveEncoderConfig = GloveConfig  # the name used in the issue


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Split a text into GloVe word tokens (see the module doc); ``[SIL]`` in any case becomes ``"[SIL]"``."""
    tokens = []
    for match in _TOKEN_RE.finditer(text.replace("\u2019", "'")):
        tok = match.group(0)
        if tok.lower() == "[sil]":
            tokens.append(SIL_TOKEN)
        else:
            tokens.append(tok.lower() if lowercase else tok)
    return tokens


def _missing_file_message(what: str) -> str:
    return (
        f"{what}. The glove encoder needs a local GloVe vectors file: pepino2020 used glove.42B.300d; download "
        f"{GLOVE_URL} yourself (emofuse never downloads it), unzip it or keep the .zip, and give its path as "
        '{"kind": "glove", "vectors_path": "/data/glove.42B.300d.txt"} '
        "(in a recipe: --set features.text.encoder.vectors=/data/glove.42B.300d.txt)"
    )


def _check_path(vectors_path: str | None) -> Path:
    if not vectors_path:
        raise ConfigError(_missing_file_message("glove encoder spec has no `vectors_path` (or `vectors`)"))
    path = Path(vectors_path).expanduser()
    if not path.exists():
        raise ConfigError(_missing_file_message(f"GloVe vectors file {path} does not exist"))
    if not path.is_file():
        raise ConfigError(_missing_file_message(f"GloVe vectors path {path} is not a file"))
    if not os.access(path, os.R_OK):
        raise ConfigError(_missing_file_message(f"GloVe vectors file {path} is not readable (permissions)"))
    return path


@contextmanager
def _open_lines(path: Path) -> Iterator[tuple[Iterator[str], Any]]:
    """Yield (line iterator, progress function -> (done, total) bytes) for a .txt, .gz or .zip GloVe file."""
    raw = open(path, "rb")  # noqa: SIM115 - closed below
    try:
        size = os.fstat(raw.fileno()).st_size
        if path.suffix.lower() == ".zip":
            try:
                archive = zipfile.ZipFile(raw)
            except zipfile.BadZipFile as exc:
                raise ConfigError(f"GloVe vectors file {path} is not a valid zip archive: {exc}") from exc
            members = [m for m in archive.infolist() if m.filename.endswith(".txt") and not m.is_dir()]
            if not members:
                raise ConfigError(
                    f"GloVe zip {path} holds no .txt file (members: {archive.namelist()[:5]}); "
                    "give the GloVe text file inside it"
                )
            handle: Any = io.TextIOWrapper(archive.open(members[0]), encoding="utf-8", errors="replace")
            total = members[0].file_size
            counted = [0]

            def lines_zip() -> Iterator[str]:
                for line in handle:
                    counted[0] += len(line)
                    yield line

            yield lines_zip(), lambda: (counted[0], total)
        elif path.suffix.lower() == ".gz":
            handle = io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8", errors="replace")
            yield iter(handle), lambda: (raw.tell(), size)
        else:
            handle = io.TextIOWrapper(raw, encoding="utf-8", errors="replace")
            counted_txt = [0]

            def lines_txt() -> Iterator[str]:
                for line in handle:
                    counted_txt[0] += len(line)
                    yield line

            yield lines_txt(), lambda: (counted_txt[0], size)
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"cannot read GloVe vectors file {path}: {type(exc).__name__}: {exc}") from exc
    finally:
        raw.close()


def _is_header(fields: list[str]) -> bool:
    return len(fields) == 2 and all(f.isdigit() for f in fields)


def read_dim(path: Path) -> int:
    """The vector dimension of a GloVe file, from its first data line (a word2vec header is skipped)."""
    with _open_lines(path) as (lines, _):
        for lineno, line in enumerate(lines, start=1):
            fields = line.rstrip().split(" ")
            if lineno == 1 and _is_header(fields):
                return int(fields[1])
            if len(fields) < 2:
                break
            try:
                np.asarray(fields[1:], dtype=np.float32)
            except ValueError:
                break
            return len(fields) - 1
    raise ConfigError(
        f"{path} line 1 is not a GloVe vector line ('word v1 v2 ... vD' separated by spaces); "
        "give a GloVe text file such as glove.42B.300d.txt"
    )


def file_fingerprint(path: Path) -> str:
    """Content fingerprint: size + SHA-256 of the first and last MiB (cheap even for a 5 GB file)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            digest.update(f"{size}|".encode())
            digest.update(handle.read(_FINGERPRINT_BYTES))
            if size > _FINGERPRINT_BYTES:
                handle.seek(max(_FINGERPRINT_BYTES, size - _FINGERPRINT_BYTES))
                digest.update(handle.read())
    except OSError as exc:
        raise ConfigError(f"cannot read GloVe vectors file {path}: {exc}") from exc
    return digest.hexdigest()[:16]


@dataclass
class GloveTable:
    """A loaded GloVe table: ``vocab`` word -> row, the rows in float32 blocks of ``[<=65536, D]``."""

    vocab: dict[str, int]
    blocks: list[np.ndarray]
    dim: int

    def __len__(self) -> int:
        return len(self.vocab)

    def vector(self, row: int) -> np.ndarray:
        """Row ``row`` as a ``[D]`` view."""
        return self.blocks[row // _BLOCK_ROWS][row % _BLOCK_ROWS]


_TABLES: dict[tuple[str, bool, int | None], GloveTable] = {}
_TABLES_LOCK = threading.Lock()


def load_table(
    path: Path, dim: int, lowercase: bool, max_words: int | None, progress: bool = True
) -> GloveTable:
    """Stream a GloVe file into a :class:`GloveTable` (once per process for the same file and options)."""
    key = (file_fingerprint(path), lowercase, max_words)
    with _TABLES_LOCK:
        if key not in _TABLES:
            _TABLES[key] = _stream_table(path, dim, lowercase, max_words, progress)
        return _TABLES[key]


def _stream_table(path: Path, dim: int, lowercase: bool, max_words: int | None, progress: bool) -> GloveTable:
    vocab: dict[str, int] = {}
    blocks: list[np.ndarray] = []
    block = np.empty((0, dim), dtype=np.float32)
    n_rows = 0
    bar = None
    with _open_lines(path) as (lines, position):
        if progress and position()[1] >= _PROGRESS_MIN_BYTES:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

            bar = Progress(
                TextColumn(f"[bold]reading GloVe {path.name}"),
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
            )
            bar.start()
            task = bar.add_task("glove", total=position()[1])
        try:
            for lineno, line in enumerate(lines, start=1):
                if max_words is not None and n_rows >= max_words:
                    break
                text = line.rstrip("\r\n").rstrip(" ")
                if not text:
                    continue
                fields = text.rsplit(" ", dim)
                if lineno == 1 and _is_header(text.split(" ")):
                    continue
                if len(fields) != dim + 1 or not fields[0]:
                    raise ConfigError(
                        f"{path} line {lineno}: expected a word and {dim} numbers, got {len(fields) - 1} fields; "
                        "is this a GloVe text file with one dimension throughout?"
                    )
                word = fields[0].lower() if lowercase else fields[0]
                if word in vocab:
                    continue  # a cased file lower-cased: keep the first (most frequent) spelling
                row = n_rows % _BLOCK_ROWS
                if row == 0:
                    block = np.empty((_BLOCK_ROWS, dim), dtype=np.float32)
                    blocks.append(block)
                try:
                    block[row] = list(map(float, fields[1:]))  # faster than np.asarray(list of str)
                except ValueError as exc:
                    raise ConfigError(
                        f"{path} line {lineno}: a vector value is not a number ({exc})"
                    ) from exc
                vocab[word] = n_rows
                n_rows += 1
                if bar is not None and lineno % 20_000 == 0:
                    bar.update(task, completed=position()[0])
        finally:
            if bar is not None:
                bar.stop()
    if blocks and n_rows % _BLOCK_ROWS:
        blocks[-1] = blocks[-1][: n_rows % _BLOCK_ROWS].copy()
    if not vocab:
        raise ConfigError(f"GloVe vectors file {path} holds no vectors")
    return GloveTable(vocab=vocab, blocks=blocks, dim=dim)


class GloveEncoder(Encoder):
    """Static GloVe word vectors per token: a string -> ``[T, D]`` float32 (see the module doc)."""

    modality: ClassVar[Literal["text"]] = "text"  # type: ignore[misc]
    output: ClassVar[Literal["frames"]] = "frames"  # type: ignore[misc]
    code_version: ClassVar[str] = "1"

    def __init__(self, config: GloveConfig, progress: bool = True) -> None:
        super().__init__(config)
        self.config: GloveConfig = config
        self.path = _check_path(config.vectors_path)
        self._dim = read_dim(self.path)
        if config.dim is not None and config.dim != self._dim:
            raise ConfigError(
                f"glove encoder: dim={config.dim} but {self.path} holds {self._dim}-d vectors; "
                f"set dim: {self._dim} or null, or give the {config.dim}-d file"
            )
        self.fingerprint = file_fingerprint(self.path)
        self.progress = progress
        self._table: GloveTable | None = None
        self._lock = threading.Lock()

    @classmethod
    def id_for(cls, config: EncoderConfig) -> str:
        """Options (not the file's path), the vectors' dimension and a fingerprint of the file (cheap: no vectors
        are loaded), so the same vectors anywhere on disk share features."""
        path = _check_path(config.vectors_path)  # type: ignore[attr-defined]
        options = config.model_dump(mode="json", exclude={"vectors_path", "dim"})
        payload = {
            "config": options,
            "dim": read_dim(path),
            "vectors_fingerprint": file_fingerprint(path),
            "code_version": cls.code_version,
        }
        return f"glove-{config_hash(payload)}"

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def table(self) -> GloveTable:
        """The loaded vectors (streamed from the file on first use)."""
        with self._lock:
            if self._table is None:
                self._table = load_table(
                    self.path, self._dim, self.config.lowercase, self.config.max_words, self.progress
                )
            return self._table

    def tokens(self, text: str) -> list[str]:
        """The tokens of ``text``, one per output frame (OOV words dropped when ``oov: skip``)."""
        words = tokenize(self._check(text), self.config.lowercase)
        if self.config.oov == "zero":
            return words
        vocab = self.table.vocab
        return [w for w in words if w == SIL_TOKEN or w in vocab]

    @staticmethod
    def _check(text: Any) -> str:
        if not isinstance(text, str):
            raise ConfigError(f"the glove encoder takes strings, got {type(text).__name__}")
        return text

    def _encode(self, item: np.ndarray | str) -> np.ndarray:
        """A string -> ``[T, D]`` float32: one frame per token (``T >= 1``)."""
        table = self.table
        frames = self.tokens(item)  # type: ignore[arg-type]
        out = np.zeros((max(len(frames), 1), self._dim), dtype=np.float32)
        for t, word in enumerate(frames):
            row = table.vocab.get(word) if word != SIL_TOKEN else None
            if row is not None:
                out[t] = table.vector(row)
        return out
