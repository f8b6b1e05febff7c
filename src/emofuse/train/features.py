"""Make sure the feature store holds every branch's features: encoder ids, keys, and extraction of what is missing."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from emofuse.recipes.schema import Recipe
from emofuse.train.data import BranchSource, branch_keys, branch_texts


def spec_key(spec: str | Mapping[str, Any]) -> str:
    """A stable string for an encoder spec (dict specs as sorted JSON)."""
    return spec if isinstance(spec, str) else json.dumps(dict(spec), sort_keys=True)


class FeaturePlan:
    """Per-call bookkeeping: encoder ids by spec and utterance keys by input kind, each computed once.

    Args:
        table / transcripts: the utterances and (for ``asr``/``asr_sil`` inputs) their transcripts.
        store: the FeatureStore.
        encoder_ids: ``{spec_key(spec): encoder_id}`` known up front (skips building those encoders).
        extract_missing: compute features that the store lacks with ``extract_features`` (progress bar).
    """

    def __init__(
        self,
        table: pd.DataFrame,
        store: Any,
        transcripts: pd.DataFrame | None = None,
        encoder_ids: Mapping[str, str] | None = None,
        extract_missing: bool = True,
        progress: bool = True,
    ) -> None:
        self.table = table
        self.store = store
        self.transcripts = transcripts
        self.encoder_ids: dict[str, str] = dict(encoder_ids or {})
        self.extract_missing = extract_missing
        self.progress = progress
        self._keys: dict[str, dict[str, str]] = {}
        self._audio_keys: dict[str, str] = {}
        self._checked: set[tuple[str, str]] = set()

    def keys(self, input_kind: str) -> dict[str, str]:
        if input_kind not in self._keys:
            self._keys[input_kind] = branch_keys(self.table, input_kind, self.transcripts, self._audio_keys)
        return self._keys[input_kind]

    def sources(self, recipe: Recipe) -> dict[str, BranchSource]:
        """``{branch: BranchSource}`` for ``recipe``, extracting missing features when allowed (not for the
        branches whose encoder runs inside the model in end_to_end mode)."""
        from emofuse.train.end_to_end import end_to_end_branches

        inside = set(end_to_end_branches(recipe))  # encoders that run inside the model: nothing to extract
        out = {}
        for name, feat in recipe.features.items():
            keys = self.keys(feat.input)
            if name in inside:
                from emofuse.encoders.registry import encoder_id_of

                out[name] = BranchSource(name, encoder_id_of(feat.encoder)[0], keys)
                continue
            enc_id = self._ensure(feat.encoder, feat.input, keys)
            if feat.per_speaker == "mean":  # makiuchi2021: the speaker's mean embedding (per part of a fold)
                from emofuse.train.speaker_mean import SpeakerMeanSource, speaker_column

                out[name] = SpeakerMeanSource(
                    name, enc_id, keys, standardize=feat.standardize, speakers=speaker_column(self.table)
                )
                continue
            out[name] = BranchSource(name, enc_id, keys, standardize=feat.standardize)
        return out

    def _ensure(self, spec: str | Mapping[str, Any], input_kind: str, keys: Mapping[str, str]) -> str:
        sk = spec_key(spec)
        encoder = None
        if sk not in self.encoder_ids:
            from emofuse.encoders import build_encoder

            encoder = build_encoder(spec)
            self.encoder_ids[sk] = encoder.encoder_id
        enc_id = self.encoder_ids[sk]
        if (enc_id, input_kind) in self._checked:
            return enc_id
        missing = [u for u, k in keys.items() if not self.store.has(enc_id, k)]
        if missing:
            if not self.extract_missing:
                from emofuse.errors import FeatureStoreError

                raise FeatureStoreError(
                    f"the store {getattr(self.store, 'root', '')} lacks {len(missing)} feature(s) of encoder {enc_id} "
                    f"(e.g. utterance {missing[0]}); run `emofuse extract` or allow extraction"
                )
            from emofuse.encoders import build_encoder, extract_features
            from emofuse.encoders.extract import default_workers

            encoder = encoder or build_encoder(spec)
            todo = self.table[self.table["utterance_id"].isin(set(missing))]
            text_kind = "transcript" if input_kind == "audio_transcript" else input_kind
            texts = None if input_kind == "audio" else branch_texts(todo, text_kind, self.transcripts)
            extract_features(
                todo,
                encoder,
                self.store,
                texts=texts,
                workers=default_workers(encoder),
                progress=self.progress,
            )
        self._checked.add((enc_id, input_kind))
        return enc_id
