"""Shared test fixtures. Real speech comes from espeak-ng through :func:`emofuse.synth.speak`."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from emofuse.audio import write_wav
from emofuse.synth import espeak_available, speak

# Tests never reach a model hub: everything they load is local (packaged weights or tiny models in tmp).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Caches (transcripts, features) go to a fresh folder per test session, never the user's ~/.cache.
os.environ.setdefault("EMOFUSE_CACHE_DIR", tempfile.mkdtemp(prefix="emofuse-test-cache-"))

requires_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")


@pytest.fixture
def emofuse_cli(capsys: pytest.CaptureFixture[str]) -> Callable[[list[str]], tuple[int, str]]:
    """Run the ``emofuse`` CLI in this process as a user would: ``emofuse_cli(argv) -> (exit code, stderr)``.

    An exception that escapes the CLI's error boundary (what a user would see as a traceback) comes back as exit
    code 1 with the traceback appended to stderr, so a test can show it.
    """

    def run(argv: list[str]) -> tuple[int, str]:
        import traceback

        from emofuse.cli.main import main

        old = sys.argv
        sys.argv = ["emofuse", *argv]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code) if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception as exc:
            return 1, capsys.readouterr().err + "".join(traceback.format_exception(exc))
        finally:
            sys.argv = old
        return code, capsys.readouterr().err

    return run


@pytest.fixture
def write_text_run() -> Callable[[Path, dict], Path]:
    """``write_text_run(run_dir, encoder_spec) -> run_dir``: a finished run directory (seeded, untrained head, two
    classes) whose one branch reads the given transcript through that text encoder (for package tests)."""

    def write(run_dir: Path, spec: dict) -> Path:
        import torch

        from emofuse.encoders import build_encoder
        from emofuse.train.model import ModelConfig, build_model
        from emofuse.train.rundir import BranchRecord, RunConfig, RunDir
        from emofuse.transcribe.source import TextSource

        encoder = build_encoder(spec)
        model_config = ModelConfig.model_validate(
            {"branches": {"text": {"type": "mean_max", "params": {"proj_dim": 8}}}, "fusion": "none"}
        )
        torch.manual_seed(0)
        network = build_model(model_config, {"text": encoder.dim}, 2, task="classes")
        config = RunConfig(
            model=model_config,
            input_dims={"text": encoder.dim},
            task="classes",
            labels=["happy", "sad"],
            branches={"text": BranchRecord(encoder=spec, encoder_id=encoder.encoder_id, input="transcript")},
            text_source=TextSource(),
            recipe={"name": run_dir.parent.parent.name},
            system=run_dir.parent.parent.name,
            seed=0,
            fold="f",
        )
        RunDir(run_dir).write(config, network.state_dict(), config_hash="text-run-test")
        return run_dir

    return write


@pytest.fixture
def speech_wav(tmp_path: Path) -> Path:
    """A short real utterance at 16 kHz."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    return speak("the weather is lovely today and I feel great", tmp_path / "speech.wav")


@pytest.fixture
def silent_wav(tmp_path: Path) -> Path:
    """Two seconds of digital silence at 16 kHz."""
    path = tmp_path / "silent.wav"
    write_wav(path, np.zeros(16_000 * 2, dtype=np.float32), 16_000)
    return path


def _save_tiny_whisper(out: Path, seed: int = 2) -> Path:
    """A random WhisperModel (2 encoder layers, d_model 32, 50 positions = 1 s windows) saved with save_pretrained."""
    import torch
    from transformers import WhisperConfig, WhisperModel

    torch.manual_seed(seed)
    cfg = WhisperConfig(
        d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=50, max_target_positions=16,
        vocab_size=100, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
    )  # fmt: skip
    WhisperModel(cfg).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random WhisperModel directory (the real transformers class; Whisper's encoder through transformers)."""
    return _save_tiny_whisper(tmp_path_factory.mktemp("tiny_whisper"))


#: The vocabulary of :func:`tiny_bert` (``[SIL]`` is added by the encoder or the MLM stage).
TINY_BERT_WORDS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "i",
    "feel",
    "sad",
    "happy",
    "the",
    "table",
    "today",
]


def _save_tiny_bert(out: Path, words: list[str], hidden_size: int, seed: int) -> Path:
    """A random BERT (2 layers, 2 heads, ``hidden_size``; feed-forward and positions twice that) with the
    wordpiece vocabulary ``words``, saved to ``out`` like a hub model, without an MLM head."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    torch.manual_seed(seed)
    (out / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    # positional: vocab_file= is ignored in transformers 5 (OFFLINE.md)
    BertTokenizer(str(out / "vocab.txt")).save_pretrained(out)
    cfg = BertConfig(vocab_size=len(words), hidden_size=hidden_size, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=2 * hidden_size, max_position_embeddings=2 * hidden_size)  # fmt: skip
    BertModel(cfg).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def save_tiny_bert() -> Callable[[Path, list[str], int, int], Path]:
    """``save_tiny_bert(out, words, hidden_size, seed)``: the one way the tests build a tiny BERT directory."""
    return _save_tiny_bert


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random BERT (2 layers, hidden 16) saved without an MLM head."""
    return _save_tiny_bert(tmp_path_factory.mktemp("bert"), TINY_BERT_WORDS, hidden_size=16, seed=0)
