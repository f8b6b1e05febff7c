"""Every hidden state of the Whisper encoder (offline default: tiny.en), optionally pooled to mean + std.

The CTranslate2 runtime of :mod:`emofuse.encoders.whisper` returns only the last encoder layer, so this encoder
runs the encoder itself in torch, with the weights read from the same CTranslate2 ``model.bin`` (float16 or
float32; no download, no conversion step). The architecture is Whisper's (Radford et al., "Robust Speech
Recognition via Large-Scale Weak Supervision", ICML 2023, arXiv:2212.04356): two GELU Conv1d layers (the
second with stride 2), sinusoidal positions, pre-LayerNorm transformer blocks, a final LayerNorm.
``tests/encoders`` checks that its last layer equals CTranslate2's output.

Output: ``[L, T, D]`` hidden states (``L = n_layers + 1``: the input to the first block, then each block's
output; the last after the final LayerNorm, as in transformers' ``output_hidden_states``), ``T = ceil(N / 320)``
frames of 20 ms that cover real audio (like ``whisper``). ``layer_norm: true`` (default) normalises each frame of
each layer to zero mean and unit variance over ``D`` without learned parameters (as the s3prl featurizer does
before its learned layer weights: Yang et al., "SUPERB: Speech processing Universal PERformance Benchmark",
Interspeech 2021, arXiv:2105.01051), so that layers of very different scale can be mixed. ``pooling: mean_std`` gives ``[L, 1, 2 D]`` (mean and
standard deviation over those frames, per layer), which is small enough to cache for a whole corpus and lets a
small head with learned layer weights train in seconds.

``pad_to_window: true`` (default) feeds the 30 s window Whisper was trained on (zero-padded log-mel), so the
states of the real frames are exactly Whisper's; ``false`` runs on the real length only (about 10x less work on
short utterances, but the real frames then attend to a shorter context than in training, so the states
differ; the encoder id differs too, so the two never mix in the store).
"""

from __future__ import annotations

import math
import os
import re
import struct
from pathlib import Path
from typing import Any, Literal

import numpy as np

from emofuse.encoders.base import Encoder, EncoderConfig, OutputKind
from emofuse.encoders.whisper import MEL_FRAMES, SAMPLES_PER_FRAME, WINDOW_S, default_model_path
from emofuse.errors import ModelLoadError

_CT2_DTYPES: dict[int, Any] = {0: np.float32, 4: np.float16}


def read_ct2_encoder_weights(model_dir: str | Path) -> tuple[dict[str, np.ndarray], int]:
    """The ``encoder/...`` variables of a CTranslate2 Whisper ``model.bin`` as float32 arrays, and the head count.

    Raises ModelLoadError for a file that is not a float16/float32 CTranslate2 Whisper model.
    """
    path = Path(model_dir) / "model.bin"
    if not path.is_file():
        raise ModelLoadError(f"{path} not found; give a CTranslate2 Whisper model directory")
    out: dict[str, np.ndarray] = {}
    n_heads = 0
    try:
        with open(path, "rb") as f:

            def read(fmt: str) -> Any:
                size = struct.calcsize(fmt)
                return struct.unpack(fmt, f.read(size))[0]

            def string() -> str:
                n = read("<H")
                return f.read(n)[:-1].decode("utf-8")

            read("<i")  # binary version
            spec = string()
            if "Whisper" not in spec:
                raise ModelLoadError(f"{path} holds a {spec}, not a Whisper model")
            read("<i")  # revision
            for _ in range(read("<I")):
                name = string()
                rank = read("<B")
                dims = [read("<I") for _ in range(rank)]
                dtype_id = read("<B")
                n_bytes = read("<I")
                if not name.startswith("encoder/"):
                    f.seek(n_bytes, 1)
                    continue
                raw = f.read(n_bytes)
                if name == "encoder/num_heads":
                    n_heads = int(np.frombuffer(raw, dtype=np.int16 if n_bytes == 2 else np.int32)[0])
                    continue
                if dtype_id not in _CT2_DTYPES:
                    raise ModelLoadError(
                        f"{path}: variable {name} is quantized (type {dtype_id}); use a float16/float32 model"
                    )
                out[name[len("encoder/") :]] = (
                    np.frombuffer(raw, dtype=_CT2_DTYPES[dtype_id]).reshape(dims).astype(np.float32)
                )
    except (OSError, struct.error, ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"cannot read {path} as a CTranslate2 model: {exc}") from exc
    if not n_heads or "conv1/weight" not in out:
        raise ModelLoadError(f"{path}: no Whisper encoder weights found")
    return out, n_heads


def _count_blocks(weights: dict[str, np.ndarray]) -> int:
    return len({k.split("/")[0] for k in weights if re.fullmatch(r"layer_\d+", k.split("/")[0])})


def _build_torch_encoder(weights: dict[str, np.ndarray], n_heads: int) -> Any:
    """A torch module: log-mel ``[1, 80, M]`` -> list of hidden states, each ``[1, M // 2, D]``."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    def t(name: str) -> torch.Tensor:
        return torch.from_numpy(weights[name].copy())

    n_layers = _count_blocks(weights)

    class Block(nn.Module):
        def __init__(self, prefix: str) -> None:
            super().__init__()
            self.ln1 = (
                t(f"{prefix}/self_attention/layer_norm/gamma"),
                t(f"{prefix}/self_attention/layer_norm/beta"),
            )
            self.qkv = (
                t(f"{prefix}/self_attention/linear_0/weight"),
                t(f"{prefix}/self_attention/linear_0/bias"),
            )
            self.o = (
                t(f"{prefix}/self_attention/linear_1/weight"),
                t(f"{prefix}/self_attention/linear_1/bias"),
            )
            self.ln2 = (t(f"{prefix}/ffn/layer_norm/gamma"), t(f"{prefix}/ffn/layer_norm/beta"))
            self.fc1 = (t(f"{prefix}/ffn/linear_0/weight"), t(f"{prefix}/ffn/linear_0/bias"))
            self.fc2 = (t(f"{prefix}/ffn/linear_1/weight"), t(f"{prefix}/ffn/linear_1/bias"))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, n, d = x.shape
            h = F.layer_norm(x, (d,), *self.ln1, eps=1e-5)
            q, k, v = F.linear(h, *self.qkv).split(d, dim=-1)
            q, k, v = (z.view(b, n, n_heads, d // n_heads).transpose(1, 2) for z in (q, k, v))
            a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
            x = x + F.linear(a, *self.o)
            h = F.layer_norm(x, (d,), *self.ln2, eps=1e-5)
            return x + F.linear(F.gelu(F.linear(h, *self.fc1)), *self.fc2)

    class WhisperEncoderTorch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = (t("conv1/weight"), t("conv1/bias"))
            self.conv2 = (t("conv2/weight"), t("conv2/bias"))
            self.positions = t("position_encodings/encodings")
            self.blocks = [Block(f"layer_{i}") for i in range(n_layers)]
            self.ln = (t("layer_norm/gamma"), t("layer_norm/beta"))

        def forward(self, mel: torch.Tensor) -> list[torch.Tensor]:
            x = F.gelu(F.conv1d(mel, *self.conv1, padding=1))
            x = F.gelu(F.conv1d(x, *self.conv2, stride=2, padding=1)).transpose(1, 2)
            x = x + self.positions[: x.shape[1]]
            states = [x]
            for block in self.blocks:
                x = block(x)
                states.append(x)
            states[-1] = F.layer_norm(x, (x.shape[-1],), *self.ln, eps=1e-5)
            return states

    return WhisperEncoderTorch()


class WhisperLayersConfig(EncoderConfig):
    """Config of :class:`WhisperLayersEncoder`. ``model``: a CTranslate2 Whisper directory (None = offline tiny.en)."""

    kind: Literal["whisper_layers"] = "whisper_layers"
    model: str | None = None
    pooling: Literal["none", "mean_std"] = "mean_std"
    pad_to_window: bool = True
    layer_norm: bool = True


class WhisperLayersEncoder(Encoder):
    """All Whisper encoder hidden states: waveform ``[N]`` -> ``[L, T, D]`` or (mean_std) ``[L, 1, 2 D]``."""

    modality = "audio"
    output: OutputKind = "layers"

    def __init__(self, config: WhisperLayersConfig) -> None:
        super().__init__(config)
        self.config: WhisperLayersConfig = config
        import torch
        from faster_whisper.feature_extractor import FeatureExtractor

        path = config.model or default_model_path()
        if not os.path.isdir(path):
            raise ModelLoadError(
                f"Whisper model directory {path} does not exist; pass a CTranslate2 model directory "
                "or leave model unset for tiny.en"
            )
        weights, n_heads = read_ct2_encoder_weights(path)
        self._width = int(weights["conv1/bias"].shape[0])
        self.n_layers = _count_blocks(weights) + 1
        self._net = _build_torch_encoder(weights, n_heads)
        self._torch = torch
        self._features = FeatureExtractor()

    @property
    def dim(self) -> int:
        return 2 * self._width if self.config.pooling == "mean_std" else self._width

    def _window(self, wave: np.ndarray) -> np.ndarray:
        torch = self._torch
        mel = self._features(wave, padding=0)[:, :MEL_FRAMES]  # [80, n]
        target = MEL_FRAMES if self.config.pad_to_window else mel.shape[1] + mel.shape[1] % 2
        if mel.shape[1] < target:
            mel = np.pad(mel, ((0, 0), (0, target - mel.shape[1])))
        with torch.inference_mode():
            states = self._net(torch.from_numpy(np.ascontiguousarray(mel[None], dtype=np.float32)))
        n_real = max(1, math.ceil(wave.shape[0] / SAMPLES_PER_FRAME))
        hidden = torch.stack([s[0, :n_real] for s in states])  # [L, T, D]
        if self.config.layer_norm:
            hidden = torch.nn.functional.layer_norm(hidden, (hidden.shape[-1],))
        return hidden.numpy()

    def _encode(self, item: np.ndarray | str) -> np.ndarray:
        """Waveform ``[N]`` at 16 kHz -> ``[L, ceil(N / 320), D]`` (or ``[L, 1, 2 D]`` with mean_std)."""
        wave = np.asarray(item, dtype=np.float32)
        step = int(WINDOW_S * self.sample_rate_hz)
        parts = [self._window(wave[i : i + step]) for i in range(0, max(1, wave.shape[0]), step)]
        hidden = np.concatenate(parts, axis=1)
        if self.config.pooling == "mean_std":
            hidden = np.concatenate([hidden.mean(axis=1), hidden.std(axis=1)], axis=-1)[:, None, :]
        return np.ascontiguousarray(hidden, dtype=np.float32)
