"""One recording in, emotions out: recording -> transcript -> features -> model -> emotions.

:class:`Predictor` loads a packaged model (see :mod:`emofuse.serve.package`), its branch encoders and the ASR
backend once, then answers :meth:`Predictor.predict_file` / :meth:`Predictor.predict_wave` with a
:class:`Prediction`: the transcript with ``[SIL]`` marks, class probabilities and the top class (or
arousal/valence/dominance), and the wall time of every stage.

Stages, in order (names of :attr:`Prediction.timings_s`):

* ``asr``: the packaged text source's ASR backend on the waveform (:attr:`Predictor.text_source`, the typed
  settings the training transcripts were made with; nothing else is read); with a given transcript, forced alignment
  of that text instead (word times are needed for ``[SIL]``); falls back to the plain given text when the
  alignment fails;
* ``silence``: ``[SIL]`` insertion at long gaps between words (:func:`emofuse.transcribe.silence.annotate`);
* ``encoder:<branch>``: that branch's encoder on the audio or on the text its ``input`` names, then its
  standardizer;
* ``model``: the fusion network, then softmax (classes) or the raw A/V/D outputs;
* ``total``: the whole call.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emofuse.audio import SAMPLE_RATE_HZ
from emofuse.errors import EmofuseError, ModelLoadError, TranscriptionError, short_repr
from emofuse.serve.package import PackagedModel, load_model
from emofuse.transcribe.source import TextSource
from emofuse.transcribe.types import Transcript


@dataclass
class Prediction:
    """What the model says about one recording.

    Attributes:
        text: the transcript the model read (plain words; empty for silent audio).
        text_with_sil: the same with ``[SIL]`` at long pauses.
        words: ``[{text, start_s, end_s, confidence}]``.
        transcript_source: ``"asr"``, ``"given"`` (the caller's text, aligned), ``"given-unaligned"`` or
            ``"none"`` (a package whose branches all read audio runs no ASR).
        duration_s: length of the recording.
        silence_ratio: part of the recording not covered by words, in [0, 1] (None when unknown).
        task: ``"classes"`` or ``"avd"``.
        probabilities: class name -> probability (classes; sums to 1), in the model's label order.
        top_class: the most probable class (classes).
        avd: dimension name -> predicted value (A/V/D models).
        timings_s: stage name -> wall time in seconds (see the module docstring).
    """

    text: str
    text_with_sil: str
    words: list[dict[str, Any]]
    transcript_source: str
    duration_s: float
    silence_ratio: float | None
    task: str
    probabilities: dict[str, float] | None = None
    top_class: str | None = None
    avd: dict[str, float] | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (the ``POST /predict`` answer and ``emofuse predict --json`` line)."""
        return asdict(self)


def _batch_of_one(features: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One utterance's branch features as a batch of one, padded exactly as training collates them.

    ``[D]`` -> ``[1, 1, D]``; ``[T, D]`` -> ``[1, T, D]``; ``[L, T, D]`` -> ``[1, L, T, D]``; masks ``[1, T]``.
    """
    from emofuse.train.collate import collate

    batch = collate(
        [{"utterance_id": "request", "features": features, "target": np.zeros((), dtype=np.int64)}]
    )
    return batch["inputs"], batch["masks"]


class Predictor:
    """Runs a packaged model on recordings. Encoders and the ASR backend are loaded once.

    Args:
        packaged: a loaded package (:func:`emofuse.serve.package.load_model`).
        asr_backend: override the ASR backend the model was trained with (``"faster-whisper"``,
            ``"transformers"``); None keeps the packaged text source. The ``[SIL]`` settings always stay the
            packaged ones.
        asr_model: the ASR model (a local directory or id) for that backend; None keeps the packaged one (or the
            backend's offline default).
        transcriber: an already-built transcriber (anything with ``transcribe(wave, sample_rate_hz)``) to use
            instead of building one from the package (e.g. to share one between predictors).
        speaker_reference: for inputs trained on a speaker's mean (makiuchi2021's speaker embedding,
            ``per_speaker: mean``): a recording of the speaker to encode instead of the recording itself. By
            default an unknown speaker is represented by the recording's own embedding.
        background: build the branch encoders in a background thread (their libraries, e.g. transformers,
            take seconds to import) while the caller goes on, e.g. to speech recognition; the first use of
            :attr:`encoders` waits for them and raises what building them raised.

    A package whose branches all read audio needs no transcript: :attr:`needs_asr` is False, no ASR backend is
    built and predictions carry an empty transcript (``transcript_source`` ``"none"``, or ``"given-unaligned"``
    for a given one).
    """

    def __init__(
        self,
        packaged: PackagedModel,
        *,
        asr_backend: str | None = None,
        asr_model: str | None = None,
        transcriber: Any = None,
        speaker_reference: str | os.PathLike[str] | None = None,
        background: bool = False,
    ) -> None:
        self.packaged = packaged
        self._speaker_reference: np.ndarray | None = None
        if speaker_reference is not None:
            self.set_speaker_reference(speaker_reference)
        self._encoders = _Background(packaged.encoders, "building the branch encoders")
        if not background:
            self._encoders.result()  # a bad encoder fails here
        self.text_source = self._text_source(packaged.config.text_source, asr_backend, asr_model)
        # tokenizers and some feature extractors are not safe to call from two threads at once
        self._encoder_locks = {name: threading.Lock() for name in packaged.config.branches}
        self._transcriber = transcriber
        self._aligner: Any = None
        self._lock = threading.Lock()
        self._align_lock = threading.Lock()  # pocketsphinx's cached decoder is not safe across threads

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        directory: str | os.PathLike[str],
        asr_backend: str | None = None,
        *,
        asr_model: str | None = None,
        warmup: bool = False,
        allow_models: Sequence[str] = (),
        speaker_reference: str | os.PathLike[str] | None = None,
        background: bool = False,
    ) -> Predictor:
        """Load the package in ``directory`` (a local folder or, with network access, a Hugging Face Hub
        repository id: :func:`emofuse.serve.hub.resolve_model_dir`) and build its encoders and ASR backend (a bad
        package or encoder fails here; with ``background=True`` a bad encoder fails at the first prediction,
        and the encoders are built while the first recording is decoded and transcribed, which is what a
        one-shot ``emofuse predict`` wants). Backends that load weights lazily do so on the first call, or now
        with ``warmup=True``. ``allow_models``: models the package may name beyond emofuse's offline ones
        (:mod:`emofuse.serve.trust`)."""
        from emofuse.serve.hub import resolve_model_dir

        own_asr = asr_backend is None and asr_model is None
        packaged = load_model(
            resolve_model_dir(directory), build_encoders=False, allow_models=allow_models, check_asr=own_asr
        )
        predictor = cls(
            packaged,
            asr_backend=asr_backend,
            asr_model=asr_model,
            speaker_reference=speaker_reference,
            background=background,
        )
        if predictor.needs_asr:
            predictor.transcriber()  # imports its library before the encoders' thread imports theirs
        if background:
            predictor._encoders.start()
        if warmup:
            predictor.warmup()
        return predictor

    @property
    def encoders(self) -> dict[str, Any]:
        """Per branch the built encoder (waits for the background build; raises what it raised)."""
        return self._encoders.result()  # type: ignore[no-any-return]

    @property
    def needs_asr(self) -> bool:
        """Whether a branch reads the transcript (False for audio-only packages: no ASR is run)."""
        return any(b.input != "audio" for b in self.packaged.config.branches.values())

    def set_speaker_reference(self, path: str | os.PathLike[str] | None) -> None:
        """Use a recording of the speaker for per-speaker inputs (None: each recording's own); see the class."""
        if path is None:
            self._speaker_reference = None
            return
        from emofuse.audio import load_audio
        from emofuse.errors import AudioError

        wave = load_audio(Path(path), sample_rate_hz=SAMPLE_RATE_HZ)
        if wave.size == 0:
            raise AudioError(f"{path}: the speaker reference recording holds no samples")
        self._speaker_reference = wave

    @staticmethod
    def _text_source(packaged: TextSource, backend: str | None, model: str | None) -> TextSource:
        """The packaged text source, with the ASR backend / model replaced when the caller asks."""
        if backend is None and model is None:
            return packaged
        update: dict[str, Any] = {}
        if backend is not None and backend != packaged.backend:
            update.update(backend=backend, model=None, options={})
        if model is not None:
            update["model"] = model
        try:
            return TextSource.model_validate({**packaged.model_dump(), **update})
        except ValueError as exc:
            raise ModelLoadError(f"cannot use ASR backend {backend!r} with model {model!r}: {exc}") from None

    @property
    def asr_backend(self) -> str:
        return self.text_source.backend

    def transcriber(self) -> Any:
        """The ASR backend (built once)."""
        if self._transcriber is None:
            with self._lock:
                if self._transcriber is None:
                    try:
                        self._transcriber = self.text_source.build()
                    except EmofuseError:
                        raise
                    except Exception as exc:
                        raise ModelLoadError(
                            f"cannot build the ASR backend {self.asr_backend!r} "
                            f"with options {short_repr(self.text_source.transcriber_options())}: {exc}"
                        ) from exc
        return self._transcriber

    def aligner(self) -> Any:
        """The forced aligner for given transcripts (built on first use)."""
        if self._aligner is None:
            with self._lock:
                if self._aligner is None:
                    from emofuse.transcribe import build_transcriber

                    self._aligner = build_transcriber("align", oov="error")
        return self._aligner

    def warmup(self) -> float:
        """Run the whole pipeline once on a second of a quiet tone (loads lazy weights, compiles librosa's
        kernels) so that the first real request is not the slow one. Returns the seconds it took."""
        start = time.perf_counter()
        t = np.arange(SAMPLE_RATE_HZ, dtype=np.float32) / SAMPLE_RATE_HZ
        self.predict_wave(0.05 * np.sin(2 * np.pi * 220.0 * t).astype(np.float32), SAMPLE_RATE_HZ)
        return time.perf_counter() - start

    def describe(self) -> dict[str, Any]:
        """JSON-safe description of the model and the ASR backend."""
        return {**self.packaged.describe(), "asr_backend": self.asr_backend}

    # ---- prediction ---------------------------------------------------------------------------------------
    def predict_file(self, path: str | os.PathLike[str], transcript: str | None = None) -> Prediction:
        """Predict from an audio file (any format/rate/channels :func:`emofuse.audio.load_audio` reads)."""
        from emofuse.audio import load_audio

        start = time.perf_counter()
        wave = load_audio(Path(path), sample_rate_hz=SAMPLE_RATE_HZ)
        decode_s = time.perf_counter() - start
        prediction = self.predict_wave(wave, SAMPLE_RATE_HZ, transcript=transcript, source=str(path))
        prediction.timings_s = {"decode": decode_s, **prediction.timings_s}
        prediction.timings_s["total"] += decode_s
        return prediction

    def predict_wave(
        self,
        wave: np.ndarray,
        sample_rate_hz: int,
        transcript: str | None = None,
        *,
        source: str = "<waveform>",
        asr: Transcript | None = None,
    ) -> Prediction:
        """Predict from a waveform ``[N]`` (or ``[N, channels]``) at ``sample_rate_hz``.

        Args:
            transcript: what was said, if known; used instead of ASR (aligned for ``[SIL]`` marks).
            asr: this wave's ASR transcript when already recognised (e.g. in a batch with others); skips ASR.
        """
        from emofuse.audio import check_min_duration, check_waveform, resample

        start = time.perf_counter()
        timings: dict[str, float] = {}
        wave = resample(check_waveform(wave, sample_rate_hz, source), int(sample_rate_hz), SAMPLE_RATE_HZ)
        check_min_duration(wave, SAMPLE_RATE_HZ, source)
        if transcript is not None and not transcript.strip():
            transcript = None

        t0 = time.perf_counter()
        text_result, transcript_source = (
            (asr, "asr") if asr is not None else self._transcribe(wave, transcript)
        )
        timings["asr"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        text_result = self._annotate(text_result, wave)
        timings["silence"] = time.perf_counter() - t0
        text_with_sil = (
            text_result.text_with_sil if text_result.text_with_sil is not None else text_result.text
        )

        features: dict[str, np.ndarray] = {}
        for name, branch in self.packaged.config.branches.items():
            t0 = time.perf_counter()
            if (
                branch.input == "audio"
                and branch.per_speaker == "mean"
                and self._speaker_reference is not None
            ):
                item: np.ndarray | str = self._speaker_reference
            elif branch.input == "audio":
                item = wave
            elif branch.input == "asr_sil":
                item = text_with_sil
            elif branch.input == "asr_silence_ratio":  # the word-gap ratio (word_gap_ratio encoder)
                item = repr(text_result.silence_ratio)
            else:
                item = text_result.text
            with self._encoder_locks[name]:
                array = np.asarray(self.encoders[name].encode(item, SAMPLE_RATE_HZ), dtype=np.float32)
            standardizer = self.packaged.standardizers.get(name)
            features[name] = standardizer.transform(array) if standardizer is not None else array
            timings[f"encoder:{name}"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        output = self._run_network(*_batch_of_one(features))
        timings["model"] = time.perf_counter() - t0

        prediction = Prediction(
            text=text_result.text,
            text_with_sil=text_with_sil,
            words=[asdict(w) for w in text_result.words],
            transcript_source=transcript_source,
            duration_s=float(wave.size / SAMPLE_RATE_HZ),
            silence_ratio=text_result.silence_ratio,
            task=self.packaged.task,
        )
        if self.packaged.task == "classes":
            probs = _softmax(output)
            labels = self.packaged.labels
            prediction.probabilities = {label: float(p) for label, p in zip(labels, probs, strict=True)}
            prediction.top_class = labels[int(np.argmax(probs))]
        else:
            values = self.packaged.to_label_units(output)  # normalised targets (data.target_norm) undone
            prediction.avd = {n: float(v) for n, v in zip(self.packaged.avd_names, values, strict=True)}
        timings["total"] = time.perf_counter() - start
        prediction.timings_s = timings
        return prediction

    def _transcribe(self, wave: np.ndarray, transcript: str | None) -> tuple[Transcript, str]:
        duration_s = float(wave.size / SAMPLE_RATE_HZ)
        if not self.needs_asr:  # no branch reads words: neither ASR nor alignment
            text = " ".join((transcript or "").split())
            source = "given-unaligned" if text else "none"
            return Transcript(text=text, words=[], duration_s=duration_s, backend=source), source
        if transcript is None:
            try:
                return self.transcriber().transcribe(wave, SAMPLE_RATE_HZ), "asr"
            except EmofuseError:
                raise
            except Exception as exc:
                raise TranscriptionError(
                    f"ASR backend {self.asr_backend!r} failed on the recording: {exc}"
                ) from exc
        text = " ".join(transcript.split())
        try:
            aligner = self.aligner()
            with self._align_lock:
                return aligner.transcribe(wave, SAMPLE_RATE_HZ, text=text), "given"
        except Exception:  # alignment is best effort: the given words still feed the model
            return Transcript(text=text, words=[], duration_s=duration_s, backend="given"), "given-unaligned"

    def _annotate(self, transcript: Transcript, wave: np.ndarray) -> Transcript:
        if not transcript.words:
            silence_ratio = 1.0 if not transcript.text else transcript.silence_ratio
            transcript.text_with_sil = transcript.text_with_sil or transcript.text
            transcript.silence_ratio = silence_ratio
            return transcript
        from emofuse.transcribe.silence import annotate

        return annotate(transcript, wave, SAMPLE_RATE_HZ, **self.text_source.silence.model_dump())

    def _run_network(self, inputs: dict[str, Any], masks: dict[str, Any]) -> np.ndarray:
        """Network outputs of a batch of one: logits ``[C]`` or A/V/D ``[3]``."""
        import torch

        with torch.inference_mode():
            out = self.packaged.network(inputs, masks)
        tensor = out["output"] if isinstance(out, dict) else out
        return tensor.detach().to(torch.float64).cpu().numpy()[0]


class _Background:
    """A call run once, in a daemon thread once started (or in the caller's thread when :meth:`result` comes
    first); :meth:`result` waits for it and re-raises what it raised."""

    def __init__(self, call: Any, what: str, *, start: bool = False) -> None:
        self._call = call
        self._what = what
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None
        if start:
            self.start()

    def start(self) -> None:
        with self._lock:
            if self._thread is None and not self._done:
                self._thread = threading.Thread(target=self._run, name=self._what, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:  # handed to the thread that asks for the result
            self._error = exc
        self._done = True

    def result(self) -> Any:
        with self._lock:
            if self._thread is None and not self._done:
                self._run()
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - np.max(logits)
    exp = np.exp(shifted)
    return exp / exp.sum()
