"""Training data: utterance ids -> per-branch feature arrays from the FeatureStore -> padded batches.

* :func:`branch_texts` / :func:`branch_keys`: which text or audio each branch reads for an utterance and its
  feature-store key (the same keys ``emofuse.encoders.extract_features`` writes: :func:`emofuse.hashing.audio_key`
  of the audio span, :func:`emofuse.hashing.text_key` of the text).
* :class:`FeatureCache`: reads each store entry once per process (many seeds, folds and systems share it).
* :class:`EmotionDataset`: a torch Dataset over utterance ids; each item holds one array per branch
  (standardised with statistics of the fold's training ids only, see :func:`fit_standardizers`) and the target.
* :func:`emofuse.train.collate.collate` (re-exported here): pads per-branch arrays into ``inputs[name]: [B, T, D]`` (``[B, L, T, D]`` for all-layer
  ``[L, T, D]`` features; ``[D]`` pooled features become ``[B, 1, D]``) and ``masks[name]: [B, T]`` (True =
  real frame).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from torch.utils.data import Dataset

from emofuse.encoders.normalize import Standardizer
from emofuse.errors import ConfigError, CorpusError, FeatureStoreError
from emofuse.hashing import audio_key, text_key
from emofuse.train.collate import collate

__all__ = [
    "BranchSource",
    "EmotionDataset",
    "FeatureCache",
    "branch_keys",
    "branch_texts",
    "collate",
    "encode_targets",
    "fit_standardizers",
]

AVD_NAMES = ("arousal", "valence", "dominance")
#: inputs read from the transcripts table -> its column
ASR_TEXT_COLUMNS = {"asr": "text", "asr_sil": "text_with_sil", "asr_silence_ratio": "silence_ratio"}


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# ---------------------------------------------------------------------------------------------------------
# which input each branch reads
def branch_texts(
    table: pd.DataFrame, input_kind: str, transcripts: pd.DataFrame | None = None
) -> dict[str, str]:
    """``{utterance_id: text}`` for a text branch.

    ``transcript``: the table's human transcript; ``asr``: the transcripts table's ``text``; ``asr_sil``: its
    ``text_with_sil``; ``asr_silence_ratio``: its word-gap ``silence_ratio`` written as text (what the
    ``word_gap_ratio`` encoder reads). A missing text is an error naming the utterances.
    """
    if input_kind == "transcript":
        texts = dict(zip(table["utterance_id"], table["transcript"], strict=True))
        what = "the utterance table's transcript column"
    elif input_kind in ASR_TEXT_COLUMNS:
        if transcripts is None:
            raise ConfigError(
                f"a branch reads input {input_kind!r} but no transcripts table was given; "
                "run `emofuse transcribe` and pass --transcripts"
            )
        column = ASR_TEXT_COLUMNS[input_kind]
        if column not in transcripts.columns:
            raise CorpusError(
                f"the transcripts table has no {column!r} column (columns: {list(transcripts.columns)})"
            )
        by_id = dict(zip(transcripts["utterance_id"].astype(str), transcripts[column], strict=True))
        texts = {u: by_id.get(u) for u in table["utterance_id"]}
        what = f"the transcripts table's {column} column"
        if input_kind == "asr_silence_ratio":
            from emofuse.encoders.word_gaps import ratio_text

            texts = {
                u: None if _missing(v) else ratio_text(v, f"transcripts table, utterance {u}")
                for u, v in texts.items()
            }
    else:
        raise ConfigError(
            f"input {input_kind!r} is not a text input (transcript, asr, asr_sil, asr_silence_ratio)"
        )
    missing = [u for u, t in texts.items() if _missing(t)]
    if missing:
        raise CorpusError(
            f"{len(missing)} utterance(s) have no text in {what} (e.g. {missing[:5]}); "
            "transcribe them or drop them from the table"
        )
    return {u: str(t) for u, t in texts.items()}


def branch_keys(
    table: pd.DataFrame,
    input_kind: str,
    transcripts: pd.DataFrame | None = None,
    _audio_cache: dict[str, str] | None = None,
) -> dict[str, str]:
    """``{utterance_id: feature-store key}`` for a branch reading ``input_kind``.

    ``_audio_cache`` (``{utterance_id: key}``) lets callers hash each audio file once for several branches.
    """
    if input_kind == "audio_transcript":  # (audio, human transcript) pairs: forced phone alignment
        from emofuse.encoders.extract import paired_key

        audio = branch_keys(table, "audio", transcripts, _audio_cache)
        texts = branch_texts(table, "transcript")
        return {u: paired_key(k, texts[u]) for u, k in audio.items()}
    if input_kind == "audio":
        out: dict[str, str] = {}
        for row in table.itertuples(index=False):
            uid = row.utterance_id
            if row.audio_path is None:  # a text-only row: audio branches skip it
                continue
            if _audio_cache is not None and uid in _audio_cache:
                out[uid] = _audio_cache[uid]
                continue
            start = None if row.start_s is None or math.isnan(row.start_s) else float(row.start_s)
            end = None if row.end_s is None or math.isnan(row.end_s) else float(row.end_s)
            try:
                out[uid] = audio_key(row.audio_path, start, end)
            except OSError as exc:
                raise CorpusError(f"utterance {uid}: cannot read audio {row.audio_path}: {exc}") from exc
            if _audio_cache is not None:
                _audio_cache[uid] = out[uid]
        return out
    return {u: text_key(t) for u, t in branch_texts(table, input_kind, transcripts).items()}


# ---------------------------------------------------------------------------------------------------------
# labels
def encode_targets(
    table: pd.DataFrame,
    task: str,
    labels: Sequence[str] | None,
    label_map: Mapping[str, str],
    avd_names: Sequence[str] = AVD_NAMES,
) -> dict[str, np.ndarray]:
    """Targets of the utterances that can be learned: ``{utterance_id: target}``.

    ``classes``: the class index (int64 scalar array) of ``label_map(label)`` in ``labels``; utterances whose
    mapped label is not a class are left out. ``avd``: float32 ``[len(avd_names)]``; rows with a missing
    value are left out.
    """
    out: dict[str, np.ndarray] = {}
    if task == "classes":
        if not labels:
            raise ConfigError("task 'classes' needs labels")
        index = {lab: i for i, lab in enumerate(labels)}
        for uid, lab in zip(table["utterance_id"], table["label"], strict=True):
            if lab is None:
                continue
            mapped = label_map.get(str(lab).lower(), str(lab).lower())
            if mapped in index:
                out[uid] = np.asarray(index[mapped], dtype=np.int64)
        return out
    values = table[list(avd_names)].to_numpy(dtype=np.float32)
    for uid, row in zip(table["utterance_id"], values, strict=True):
        if np.all(np.isfinite(row)):
            out[uid] = row
    return out


# ---------------------------------------------------------------------------------------------------------
# features
class FeatureCache:
    """Memoises ``store.get(encoder_id, key)`` (float32 arrays) for the life of a runner call."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._arrays: dict[tuple[str, str], np.ndarray] = {}

    def get(self, encoder_id: str, key: str, utterance_id: str | None = None) -> np.ndarray:
        k = (encoder_id, key)
        if k not in self._arrays:
            try:
                self._arrays[k] = np.asarray(self.store.get(encoder_id, key), dtype=np.float32)
            except FeatureStoreError as exc:
                who = f"utterance {utterance_id}: " if utterance_id else ""
                raise FeatureStoreError(f"{who}{exc}") from None
        return self._arrays[k]

    def clear(self) -> None:
        self._arrays.clear()


@dataclass
class BranchSource:
    """Where one branch's arrays come from: ``encoder_id`` + ``{utterance_id: key}``, and its standardizer."""

    name: str
    encoder_id: str
    keys: dict[str, str]
    #: True, or ``"then_deltas"`` (z-score, then append first-order differences: pepino2020)
    standardize: bool | str = False
    standardizer: Standardizer | None = field(default=None, repr=False)

    def raw(self, cache: FeatureCache, uid: str) -> np.ndarray:
        if uid not in self.keys:
            raise FeatureStoreError(f"branch {self.name!r}: no feature key for utterance {uid}")
        return cache.get(self.encoder_id, self.keys[uid], uid)


def fit_standardizers(
    sources: Mapping[str, BranchSource], cache: FeatureCache, train_ids: Iterable[str]
) -> None:
    """Fit each standardising branch's :class:`Standardizer` on the fold's training ids only (in place)."""
    ids = list(train_ids)
    for src in sources.values():
        deltas = 1 if src.standardize == "then_deltas" else 0
        src.standardizer = (
            Standardizer(deltas=deltas).fit([src.raw(cache, u) for u in ids])
            if src.standardize and ids
            else None
        )


class EmotionDataset(Dataset):
    """Utterances of one part of a fold. Item ``i``: ``{"utterance_id", "features": {branch: array}, "target"}``.

    Arrays are float32 ``[T, D]``, ``[L, T, D]`` or ``[D]`` as the encoder stored them, standardised when the
    branch asks for it.
    """

    def __init__(
        self,
        ids: Sequence[str],
        sources: Mapping[str, BranchSource],
        cache: FeatureCache,
        targets: Mapping[str, np.ndarray],
    ) -> None:
        missing = [u for u in ids if u not in targets]
        if missing:
            raise ConfigError(f"{len(missing)} utterance(s) have no target (e.g. {missing[:5]})")
        self.ids = list(ids)
        self.sources = dict(sources)
        self.cache = cache
        self.targets = targets

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        uid = self.ids[i]
        feats = {}
        for name, src in self.sources.items():
            arr = src.raw(self.cache, uid)
            feats[name] = src.standardizer.transform(arr) if src.standardizer is not None else arr
        return {"utterance_id": uid, "features": feats, "target": self.targets[uid]}

    def lengths(self) -> list[int]:
        """Per utterance the longest stored sequence over its branches, in frames (``T`` of ``[T, D]`` /
        ``[L, T, D]``; a pooled ``[D]`` counts 1): what length-bucketed batches sort by."""
        out = []
        for uid in self.ids:
            arrays = [src.raw(self.cache, uid) for src in self.sources.values()]
            out.append(max((int(a.shape[-2]) if a.ndim >= 2 else 1 for a in arrays), default=1))
        return out

    def input_dims(self) -> dict[str, int]:
        """``{branch: D}`` read from the first utterance's arrays."""
        if not self.ids:
            raise ConfigError("cannot infer input dimensions from an empty dataset")
        item = self[0]
        return {name: int(arr.shape[-1]) for name, arr in item["features"].items()}

    def input_layers(self) -> dict[str, int]:
        """``{branch: L}`` for branches whose features are all-layer ``[L, T, D]`` arrays."""
        if not self.ids:
            raise ConfigError("cannot infer layer counts from an empty dataset")
        item = self[0]
        return {name: int(arr.shape[0]) for name, arr in item["features"].items() if arr.ndim == 3}
