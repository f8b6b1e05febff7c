"""The encoder interface: frozen models that turn an utterance's audio or text into arrays.

Every encoder has

* ``config``: a pydantic model (unknown keys rejected) that fully determines its output;
* ``encoder_id``: ``"<kind>-<hash of config and code version>"``, stable across runs and machines; it keys the
  feature store, so changing the config or bumping ``code_version`` never serves stale features;
* ``modality``: ``"audio"`` or ``"text"``;
* ``output``: the shape of what :meth:`encode` returns, one of
  ``"frames"`` (``[T, D]``), ``"layers"`` (``[L, T, D]``, all hidden states) or ``"pooled"`` (``[D]``).

Audio encoders take a mono float32 waveform ``[N]`` at ``sample_rate_hz`` (16 kHz); text encoders take a
string (which may hold ``[SIL]`` tokens).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from emofuse.hashing import config_hash

Modality = Literal["audio", "text"]
OutputKind = Literal["frames", "layers", "pooled"]


class EncoderConfig(BaseModel):
    """Base of every encoder config: strict (an unknown key is an error naming it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str


class Encoder(ABC):
    """A frozen feature extractor. Subclasses set the class variables and implement :meth:`encode`."""

    modality: ClassVar[Modality]
    output: ClassVar[OutputKind]
    code_version: ClassVar[str] = "1"
    sample_rate_hz: ClassVar[int] = 16_000

    def __init__(self, config: EncoderConfig) -> None:
        self.config = config

    @property
    def encoder_id(self) -> str:
        payload: dict[str, Any] = {
            "config": self.config.model_dump(mode="json"),
            "code_version": self.code_version,
        }
        return f"{self.config.kind}-{config_hash(payload)}"

    @property
    @abstractmethod
    def dim(self) -> int:
        """Feature dimension D of the output."""

    @abstractmethod
    def encode(self, item: np.ndarray | str) -> np.ndarray:
        """Encode one utterance: a waveform ``[N]`` (audio) or a string (text). Returns float32 of ``output`` shape."""

    def encode_batch(self, items: list[np.ndarray] | list[str]) -> list[np.ndarray]:
        """Encode several utterances; subclasses with real batching override this."""
        return [self.encode(item) for item in items]

    def describe(self) -> dict[str, Any]:
        return {
            "encoder_id": self.encoder_id,
            "modality": self.modality,
            "output": self.output,
            "dim": self.dim,
            "config": self.config.model_dump(mode="json"),
        }
