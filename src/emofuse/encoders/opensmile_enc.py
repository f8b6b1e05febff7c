"""openSMILE features (optional extra ``emofuse[opensmile]``; audEERING research licence, non-commercial).

Feature sets (``feature_set`` in the config):

* ``"egemaps"``: eGeMAPSv02 functionals, ``[88]`` per utterance (perez2022's acoustic branch).
* ``"compare"``: ComParE_2016 functionals, ``[6373]`` per utterance.
* ``"pepino_lld"``: the pepino2020 frame set, ``[T, 36]`` at 10 ms hop: 18 low-level descriptors and their
  first-order deltas. openSMILE has no single config with exactly these, so they are the matching columns of
  the ComParE_2016 ``LowLevelDescriptors`` and ``LowLevelDescriptors_Deltas`` levels (same frames):

  ====================  ==================================  =======================================
  pepino2020            ComParE_2016 LLD column             note
  ====================  ==================================  =======================================
  pitch                 ``F0final_sma``                     Hz, 0 in unvoiced frames (60 ms window)
  jitter                ``jitterLocal_sma``
  shimmer               ``shimmerLocal_sma``
  logHNR                ``logHNR_sma``
  loudness              ``audspec_lengthL1norm_sma``        sum of the auditory spectrum (ComParE's
                                                            loudness descriptor)
  MFCC 1-13             ``mfcc_sma[1]`` .. ``mfcc_sma[13]``
  deltas of the above   the same names with ``_sma_de``     first-order deltas from openSMILE
  ====================  ==================================  =======================================

  Column order: the 18 LLDs, then their 18 deltas (``PEPINO_LLD_COLUMNS``). Both levels come from **one**
  openSMILE pass (:func:`pepino_lld_config`: ComParE_2016's LLD part without its 6373 functionals, the two
  levels joined by one ``cVectorConcat``): the same numbers as two ``Smile`` runs at the two levels, in 40 %
  of the time. pepino2020 z-scores with global
  statistics before taking deltas; emofuse keeps raw values here and z-scores all 36 dimensions with a
  :class:`~emofuse.encoders.normalize.Standardizer` fitted on the training fold (a delta of a z-scored
  series equals the raw delta divided by the std, so this differs only in the deltas' scale).
  ComParE's LLD windows are 20 ms (energy/spectral) and 60 ms (pitch/voice quality) at a 10 ms hop;
  pepino2020 names 32 ms windows: the hop matches, the windows are openSMILE's standard ones.
* ``"pepino_lld_32ms"``: the paper's own setting, ``[T, 18]`` at 10 ms hop: the 18 LLDs over **32 ms windows**
  from emofuse's openSMILE config ``opensmile_configs/pepino2020_lld.conf`` (``PEPINO_32MS_LLDS``: ``F0``
  (autocorrelation + cepstrum pitch, 0 when unvoiced), ``jitterLocal``, ``shimmerLocal``, ``logHNR`` (-100 when
  unvoiced), ``pcm_loudness``, ``mfcc[1]`` .. ``mfcc[13]``), no smoothing and **no deltas**: a recipe sets
  ``standardize: true`` and ``deltas: 1`` on the feature, so the LLDs are z-scored with the training fold's
  statistics and the first-order differences of the z-scored values are appended (36 dims), as pepino2020
  does ("normalized ... Finally, first-order differences were added").
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from pathlib import Path
from typing import Any, Literal

import numpy as np

from emofuse.encoders.base import Encoder, EncoderConfig
from emofuse.errors import ConfigError, EmofuseError
from emofuse.hashing import file_sha256
from emofuse.io import atomic_write_text

PEPINO_LLDS: tuple[str, ...] = (
    "F0final_sma",
    "jitterLocal_sma",
    "shimmerLocal_sma",
    "logHNR_sma",
    "audspec_lengthL1norm_sma",
    *(f"mfcc_sma[{i}]" for i in range(1, 14)),
)
PEPINO_DELTAS: tuple[str, ...] = tuple(
    name.replace("_sma[", "_sma_de[") if "[" in name else f"{name}_de" for name in PEPINO_LLDS
)
PEPINO_LLD_COLUMNS: tuple[str, ...] = PEPINO_LLDS + PEPINO_DELTAS
#: the 18 columns of ``pepino2020_lld.conf`` (32 ms windows), in output order
PEPINO_32MS_LLDS: tuple[str, ...] = (
    "F0",
    "jitterLocal",
    "shimmerLocal",
    "logHNR",
    "pcm_loudness",
    *(f"mfcc[{i}]" for i in range(1, 14)),
)
#: emofuse's openSMILE config of pepino2020's LLDs with 32 ms windows (package data)
PEPINO_32MS_CONFIG = Path(__file__).parent / "opensmile_configs" / "pepino2020_lld.conf"
FRAME_HOP_S = 0.01

_DIMS = {"egemaps": 88, "compare": 6373, "pepino_lld": 36, "pepino_lld_32ms": 18}
_FRAME_SETS = ("pepino_lld", "pepino_lld_32ms")


#: ComParE_2016's LLD part with both levels in one output level (``lld_both``); ``{include}`` is the absolute
#: path of opensmile-python's own ``ComParE_2016_core.lld.conf.inc`` (audEERING's file, not copied here)
_PEPINO_LLD_CONFIG = """\
[componentInstances:cComponentManager]
instance[dataMemory].type=cDataMemory

\\{{\\cm[source{{?}}:include external source]}}

\\{{{include}}}

[componentInstances:cComponentManager]
instance[is13_lldconcat].type=cVectorConcat
instance[is13_llddeconcat].type=cVectorConcat
instance[emofuse_pepino_concat].type=cVectorConcat

[is13_lldconcat:cVectorConcat]
reader.dmLevel = is13_lld_nzsmo;is13_lldA_smo;is13_lldB_smo
writer.dmLevel = lld
includeSingleElementFields = 1

[is13_llddeconcat:cVectorConcat]
reader.dmLevel = is13_lld_nzsmo_de;is13_lldA_smo_de;is13_lldB_smo_de
writer.dmLevel = lld_de
includeSingleElementFields = 1

[emofuse_pepino_concat:cVectorConcat]
reader.dmLevel = lld;lld_de
writer.dmLevel = lld_both
includeSingleElementFields = 1

\\{{\\cm[sink{{?}}:include external sink]}}
"""


def pepino_lld_config(opensmile: Any) -> Path:
    """The one-pass ``pepino_lld`` config (ComParE_2016 LLDs and their deltas in level ``lld_both``), written
    once per openSMILE install into the temp directory (it names opensmile-python's include by absolute path)."""
    include = (
        Path(opensmile.__file__).parent / "core" / "config" / "compare" / "ComParE_2016_core.lld.conf.inc"
    )
    if not include.is_file():
        raise ConfigError(f"this openSMILE install lacks {include.name}, which the pepino2020 LLDs need")
    text = _PEPINO_LLD_CONFIG.format(include=include)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"emofuse-pepino-lld-{digest}.conf"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        atomic_write_text(path, text)
    return path


def _import_opensmile() -> Any:
    try:
        import opensmile
    except ImportError as exc:
        raise EmofuseError(
            "the openSMILE encoders need the optional package opensmile: pip install emofuse[opensmile] "
            "(note: openSMILE is under audEERING's research licence, non-commercial use only)"
        ) from exc
    return opensmile


class OpenSmileConfig(EncoderConfig):
    """Config of :class:`OpenSmileEncoder`."""

    kind: Literal["opensmile"] = "opensmile"
    feature_set: Literal["pepino_lld", "pepino_lld_32ms", "egemaps", "compare"] = "pepino_lld"


class OpenSmileEncoder(Encoder):
    """openSMILE through opensmile-python's ``Smile``.

    Output: ``[T, 36]`` frames at 10 ms (``pepino_lld``), ``[T, 18]`` (``pepino_lld_32ms``), ``[88]``
    (``egemaps``) or ``[6373]`` (``compare``).
    """

    modality = "audio"
    parallel_processes = True  # one openSMILE per process: extraction uses every core

    @classmethod
    def id_for(cls, config: EncoderConfig) -> str:
        """As every encoder's; ``pepino_lld_32ms`` adds a fingerprint of its config file (an edit re-extracts)."""
        base = super().id_for(config)
        if getattr(config, "feature_set", None) != "pepino_lld_32ms":
            return base
        return f"{base}-{file_sha256(PEPINO_32MS_CONFIG)[:12]}"

    def __init__(self, config: OpenSmileConfig) -> None:
        super().__init__(config)
        self.config: OpenSmileConfig = config
        self._opensmile = _import_opensmile()
        self._local = threading.local()  # one Smile per thread: extraction may run several worker threads
        if config.feature_set == "pepino_lld":
            have = set(self._smiles[0].feature_names)
            missing = [c for c in PEPINO_LLD_COLUMNS if c not in have]
            if missing:
                raise ConfigError(f"this openSMILE version lacks the pepino2020 LLD columns {missing}")

    @property
    def _smiles(self) -> list[Any]:
        smiles = getattr(self._local, "smiles", None)
        if smiles is None:
            opensmile = self._opensmile
            fs, lvl = opensmile.FeatureSet, opensmile.FeatureLevel
            if self.config.feature_set == "pepino_lld":
                smiles = [
                    opensmile.Smile(feature_set=str(pepino_lld_config(opensmile)), feature_level="lld_both")
                ]
            elif self.config.feature_set == "pepino_lld_32ms":
                smiles = [opensmile.Smile(feature_set=str(PEPINO_32MS_CONFIG), feature_level="lld")]
            elif self.config.feature_set == "egemaps":
                smiles = [opensmile.Smile(feature_set=fs.eGeMAPSv02, feature_level=lvl.Functionals)]
            else:
                smiles = [opensmile.Smile(feature_set=fs.ComParE_2016, feature_level=lvl.Functionals)]
            self._local.smiles = smiles
        return smiles

    @property
    def output(self) -> str:  # type: ignore[override]
        return "frames" if self.config.feature_set in _FRAME_SETS else "pooled"

    @property
    def dim(self) -> int:
        return _DIMS[self.config.feature_set]

    @property
    def feature_names(self) -> list[str]:
        """Names of the output dimensions, in order."""
        if self.config.feature_set == "pepino_lld":
            return list(PEPINO_LLD_COLUMNS)
        if self.config.feature_set == "pepino_lld_32ms":
            return list(PEPINO_32MS_LLDS)
        return list(self._smiles[0].feature_names)

    def _encode(self, item: np.ndarray | str) -> np.ndarray:
        """Waveform ``[N]`` float32 at 16 kHz -> ``[T, 36]``, ``[T, 18]`` or ``[D]`` float32.

        Calls the ``Smile`` object itself (``[channels, features, frames]`` as a NumPy array): the same values
        as ``process_signal`` without building its pandas frame and time index.
        """
        wave = np.asarray(item, dtype=np.float32)
        smile = self._smiles[0]
        values = smile(wave, self.sample_rate_hz)[0]  # [features, frames]
        if self.config.feature_set in _FRAME_SETS:
            return np.nan_to_num(values[self._columns(smile)].T.astype(np.float32))  # [frames, selected]
        return np.nan_to_num(values[:, 0].astype(np.float32))

    def _columns(self, smile: Any) -> list[int]:
        """Positions of the frame set's columns among ``smile``'s outputs."""
        wanted = PEPINO_LLD_COLUMNS if self.config.feature_set == "pepino_lld" else PEPINO_32MS_LLDS
        names = list(smile.feature_names)
        return [names.index(name) for name in wanted]
