"""The encoder interface: frozen models that turn an utterance's audio or text into arrays.

Every encoder has

* ``config``: a pydantic model (unknown keys rejected) that fully determines its output;
* ``encoder_id``: ``"<kind>-<hash of config and code version>"``, stable across runs and machines; it keys the
  feature store, so changing the config or bumping ``code_version`` never serves stale features;
* ``modality``: ``"audio"`` or ``"text"``;
* ``output``: the shape of what :meth:`encode` returns, one of
  ``"frames"`` (``[T, D]``), ``"layers"`` (``[L, T, D]``, all hidden states) or ``"pooled"`` (``[D]``).

Audio encoders take a mono float32 waveform ``[N]`` and its rate: ``encode(wave, sample_rate_hz)`` resamples it
to the rate the encoder declares (its class variable ``sample_rate_hz``, :data:`emofuse.audio.SAMPLE_RATE_HZ`
unless it says otherwise); text encoders take a string (which may hold ``[SIL]`` tokens).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from emofuse.audio import SAMPLE_RATE_HZ
from emofuse.hashing import config_hash

Modality = Literal[
    "audio", "text", "audio_text"
]  # audio_text: (waveform, transcript) pairs (phone alignment)
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
    sample_rate_hz: ClassVar[int] = SAMPLE_RATE_HZ
    #: extraction runs this encoder in worker processes, not threads: single-threaded native code that holds the
    #: GIL between calls or has no model worth sharing (openSMILE); each process builds its own from the config
    parallel_processes: ClassVar[bool] = False

    def __init__(self, config: EncoderConfig) -> None:
        self.config = config

    @classmethod
    def id_for(cls, config: EncoderConfig) -> str:
        """The encoder id of ``config`` without building the encoder (no model is loaded).

        ``"<kind>-<hash of config and code version>"``; encoders whose output also depends on files (a local
        model directory, a vectors file) override this and add a fingerprint of them. It is the one definition:
        :attr:`encoder_id` and :func:`emofuse.encoders.registry.encoder_id_of` both call it.
        """
        payload: dict[str, Any] = {"config": config.model_dump(mode="json"), "code_version": cls.code_version}
        return f"{config.kind}-{config_hash(payload)}"

    @property
    def encoder_id(self) -> str:
        """This encoder's id (:meth:`id_for` of its config, computed once)."""
        cached = self.__dict__.get("_encoder_id")
        if cached is None:
            cached = self.__dict__["_encoder_id"] = type(self).id_for(self.config)
        return cached

    @property
    @abstractmethod
    def dim(self) -> int:
        """Feature dimension D of the output."""

    def encode(self, item: np.ndarray | str, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
        """Encode one utterance: a mono waveform ``[N]`` at ``sample_rate_hz`` (audio encoders; resampled to the
        encoder's declared :attr:`sample_rate_hz` when they differ) or a string (text encoders). Returns float32 of
        ``output`` shape."""
        if self.modality == "audio":
            item = self._at_own_rate(item, sample_rate_hz)
        return self._encode(item)

    def encode_batch(
        self, items: list[np.ndarray] | list[str], sample_rate_hz: int = SAMPLE_RATE_HZ
    ) -> list[np.ndarray]:
        """Encode several utterances (waveforms at ``sample_rate_hz``); subclasses with real batching override this."""
        return [self.encode(item, sample_rate_hz) for item in items]

    def _at_own_rate(self, item: np.ndarray | str, sample_rate_hz: int) -> np.ndarray:
        from emofuse.audio import resample
        from emofuse.errors import AudioError

        if isinstance(item, str):
            raise AudioError(f"the {self.config.kind} encoder reads audio: give a waveform [N], not a string")
        wave = np.asarray(item, dtype=np.float32)
        if int(sample_rate_hz) != self.sample_rate_hz:
            wave = resample(wave, int(sample_rate_hz), self.sample_rate_hz)
        return wave

    @abstractmethod
    def _encode(self, item: np.ndarray | str) -> np.ndarray:
        """One utterance: a waveform ``[N]`` already at :attr:`sample_rate_hz` (audio) or a string (text)."""

    def describe(self) -> dict[str, Any]:
        return {
            "encoder_id": self.encoder_id,
            "modality": self.modality,
            "output": self.output,
            "dim": self.dim,
            "config": self.config.model_dump(mode="json"),
        }
