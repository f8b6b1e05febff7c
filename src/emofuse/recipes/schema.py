"""The recipe schema: one YAML file per system of a paper, validated on load.

Every block is strict (``extra="forbid"``): an unknown key or a bad value fails when the recipe is read,
before any work, with a message naming the key path (``model.fusion: 'eraly' is not one of ...``).

Layout of a recipe (see ``src/emofuse/recipes/pepino2020/`` for complete examples)::

    name: ef_ws                         # system name: the run directory <out>/<name>/...
    paper: pepino2020
    data:      {task: classes, labels: [angry, happy, neutral, sad], label_map: {excited: happy}}
    features:  {audio: {encoder: opensmile.pepino_lld, input: audio, standardize: true},
                text:  {encoder: {kind: text, model: bert-base-uncased, layers: sum_last4}, input: transcript}}
    model:     {branches: {audio: {type: pepino_audio}, text: {type: pepino_text}}, fusion: early,
                fusion_params: {hidden: 128}, head: {type: classes}}
    training:  {strategy: warm_start, optimizer: adam, lr: 0.0001, warmup_steps: 40, batch_size: 32,
                max_epochs: 30, early_stopping: null, class_weighting: inverse_frequency, seeds: 10,
                epoch_selection: {metric: av_auc, seeds: 5, statistic: median},   # optional (pepino2020 Sec. 3)
                pretrain: {from_systems: {audio: audio, text: text_bert}}}
    protocol:  iemocap                  # a name from `protocols`, or a block
    protocols: {iemocap: {kind: speaker-script, k: 5}, msp_podcast: {kind: predefined}}
    text_source: {backend: faster-whisper, beam_size: 5, silence: {threshold_s: 0.25}}   # ASR + [SIL] (optional)
    trainer:   {accelerator: gpu, devices: 4, strategy: ddp, precision: bf16-mixed}          # optional

End-to-end encoder fine-tuning (deoliveira2023 FT and FT=>FRZ, perez2022's fine-tuned BERT)::

    training:  {mode: end_to_end, encoder_tuning: {audio: {freeze: [feature_encoder], encoder_lr: 1.0e-5,
                freeze_after_epochs: 5}}}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emofuse.recipes.estimator import EstimatorConfig, check_estimator_model
from emofuse.recipes.model import ModelConfig
from emofuse.transcribe.source import TextSource

InputKind = Literal["audio", "transcript", "asr", "asr_sil", "asr_silence_ratio", "audio_transcript"]
Strategy = Literal["cold_start", "pretrained", "warm_start", "finetune"]
#: encoder kinds that ``training.mode: end_to_end`` runs inside the model (Hugging Face SSL, text and Whisper models)
END_TO_END_KINDS = ("ssl", "text", "whisper_hf")
Monitor = Literal["uar", "accuracy", "av_auc", "ccc", "loss"]
#: target normalisation on the training fold (A/V/D): none, z-score (perez2022) or min-max to [0, 1] (deoliveira2023)
TargetNorm = Literal["none", "zscore", "unit"]

#: the dev metrics of each task (``loss`` fits both)
_TASK_METRICS = {"classes": ("uar", "accuracy", "av_auc"), "avd": ("ccc",)}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BinsConfig(_Strict):
    """Classes over quantile bins of one continuous dimension (perez2022's binned activation / valence).

    The inner edges are the ``n_bins``-quantiles of ``dim`` over the fold's training utterances only; the
    class names are ``data.labels`` (default ``low, mid, high`` for 3 bins).
    """

    dim: Literal["arousal", "valence", "dominance"]
    n_bins: int = Field(default=3, ge=2)


class DataConfig(_Strict):
    """Which labels the model learns.

    ``task: classes`` learns ``labels`` (class names in output order) after ``label_map`` (e.g. IEMOCAP's
    ``excited -> happy``); utterances whose mapped label is not in ``labels`` are left out. ``task: avd``
    regresses ``avd_names`` (columns of the utterance table). ``task: classes`` with ``bins`` learns classes
    over quantile bins of one A/V/D column instead of the ``label`` column (perez2022).
    ``target_norm`` (A/V/D): ``zscore`` (perez2022) or ``unit`` ([0, 1], deoliveira2023) with statistics of
    the fold's training utterances; predictions and metrics stay in label units (:mod:`emofuse.train.target_norm`).
    """

    task: Literal["classes", "avd"] = "classes"
    labels: list[str] | None = None
    bins: BinsConfig | None = None
    label_map: dict[str, str] = Field(default_factory=dict)
    avd_names: list[Literal["arousal", "valence", "dominance"]] = Field(
        default_factory=lambda: ["arousal", "valence", "dominance"]
    )
    target_norm: TargetNorm = "none"

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.target_norm != "none" and self.task != "avd":
            raise ValueError(
                f"data.target_norm {self.target_norm!r} normalises A/V/D values; it needs task: avd (use none)"
            )
        if self.bins is not None:
            if self.task != "classes":
                raise ValueError("data.bins turns a dimension into classes; it needs task: classes")
            if self.labels is None:
                n = self.bins.n_bins
                self.labels = ["low", "mid", "high"] if n == 3 else [f"bin{i}" for i in range(n)]
            if len(self.labels) != self.bins.n_bins:
                raise ValueError(
                    f"data.bins.n_bins is {self.bins.n_bins} but labels name {len(self.labels)} classes"
                )
        if self.task == "classes":
            if not self.labels or len(self.labels) < 2:
                raise ValueError("task 'classes' needs `labels`: at least two class names in output order")
            if len(set(self.labels)) != len(self.labels):
                raise ValueError(f"labels {self.labels} repeat a name")
            self.labels = [s.lower() for s in self.labels]
            self.label_map = {k.lower(): v.lower() for k, v in self.label_map.items()}
        return self


class FeatureConfig(_Strict):
    """One branch's input: an encoder spec (string or dict, see ``emofuse.encoders.build_encoder``) and its source.

    ``input``: ``audio`` (the utterance's audio), ``transcript`` (the human transcript of the table),
    ``asr`` (the ASR transcript), ``asr_sil`` (the ASR transcript with ``[SIL]`` tokens), ``asr_silence_ratio``
    (the transcripts table's word-gap ``silence_ratio``, read by the ``word_gap_ratio`` encoder only).
    ``standardize``: z-score the features with statistics of the fold's training utterances only;
    ``then_deltas``: z-score, then append the first-order differences of the z-scored frames (pepino2020's order;
    ``[T, D]`` -> ``[T, 2 D]``, for frame encoders such as ``opensmile.pepino_lld_32ms``).
    ``audio_transcript``: the utterance's audio with the table's transcript (forced phone alignment).
    ``per_speaker: mean``: each utterance gets the mean of its speaker's features (makiuchi2021's speaker
    embedding), over that speaker's utterances in the same part of the fold (training speakers from training
    data; a test speaker from its own test utterances, as the paper does); at prediction, the recording's own.
    ``training_only``: an input used only while training (makiuchi2021's phone ids and log-mel target): a
    packaged model neither records nor computes it.
    """

    encoder: str | dict[str, Any]
    input: InputKind
    standardize: bool | Literal["then_deltas"] = False
    per_speaker: Literal["none", "mean"] = "none"
    training_only: bool = False

    @field_validator("encoder")
    @classmethod
    def _check_encoder(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("encoder spec is empty")
            return value
        kind = value.get("kind")
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"encoder dict needs a `kind` (e.g. text, ssl, glove); got keys {sorted(value)}")
        if kind == "glove":
            vectors = value.get("vectors_path") or value.get("vectors")
            if not vectors:
                raise ValueError(
                    "GloVe needs a local vectors file: set `vectors_path` to the path of glove.42B.300d.txt "
                    "(e.g. --set features.text.encoder.vectors_path=/data/glove.42B.300d.txt); it is never downloaded"
                )
            if not Path(str(vectors)).expanduser().is_file():
                raise ValueError(
                    f"GloVe vectors file {vectors} does not exist; give the path of a local file"
                )
        return value

    @property
    def kind(self) -> str:
        """The encoder family (``text``, ``opensmile``, ``spectral``, ...)."""
        raw = self.encoder if isinstance(self.encoder, str) else str(self.encoder["kind"])
        return raw.split(".", 1)[0]

    @model_validator(mode="after")
    def _check_modality(self) -> FeatureConfig:
        from emofuse.encoders.registry import KINDS, encoder_class

        if self.kind not in KINDS:  # e.g. a test's stand-in whose features sit in the store already
            return self
        cls = encoder_class(self.kind)
        modality = cls.modality  # from the encoder class: no second table
        required = getattr(cls, "required_input", None)
        if required is not None and self.input != required:
            raise ValueError(
                f"encoder {self.kind!r} reads the transcripts' silence ratio; use input: {required}"
            )
        if required is None and self.input == "asr_silence_ratio":
            raise ValueError(
                f"input asr_silence_ratio is the transcripts' word-gap silence ratio; read it with "
                f"encoder {{kind: word_gap_ratio}}, not {self.kind!r}"
            )
        if modality == "audio_text" and self.input != "audio_transcript":
            raise ValueError(f"encoder {self.kind!r} aligns audio to text; use input: audio_transcript")
        if modality == "audio" and self.input != "audio":
            raise ValueError(
                f"encoder {self.kind!r} reads audio, but input is {self.input!r}; use input: audio"
            )
        if modality == "text" and self.input in ("audio", "audio_transcript"):
            raise ValueError(f"encoder {self.kind!r} reads text; use input: transcript, asr or asr_sil")
        return self


class EarlyStoppingConfig(_Strict):
    """Stop when the dev metric ``monitor`` has not improved for ``patience`` epochs; the best epoch is kept."""

    monitor: Monitor = "uar"
    patience: int = Field(default=5, ge=1)
    min_delta: float = Field(default=0.0, ge=0.0)


class EpochSelectionConfig(_Strict):
    """pepino2020's epoch choice (Sec. 3): "the number of epochs for training each model was selected by optimizing
    the median AvAUC value on IEMOCAP over 5 seeds".

    Each system first trains ``training.max_epochs`` epochs for each of the first ``seeds`` seeds on every fold's
    training part; after every epoch its ``metric`` is measured on the fold's *development* part (never the test
    part), averaged over the folds per seed, and summarised over the seeds by ``statistic``. The epoch count with
    the best summary (the smallest count on ties) is then the fixed length of the system's final runs
    (:mod:`emofuse.train.epoch_selection`).
    """

    metric: Monitor = "av_auc"
    seeds: int = Field(default=5, ge=1)
    statistic: Literal["median", "mean"] = "median"


class AnalysesConfig(_Strict):
    """Analyses the report adds for a system (they read finished runs; they never change training).

    ``intersection_layers``: kumar2021's intersection matrix (Sec. 2.2) of these layers of the test embeddings
    (``embedding`` = the concatenation, the third-last layer; ``hidden`` = the second-last; ``output`` = the
    softmax layer), averaged over the folds of the smallest seed, with the embedding plot on the three principal
    components, as a report section per system (``emofuse run`` computes it; the Python API takes
    :func:`emofuse.explain.ablation.intersection_analysis` as ``run_experiment(..., analyses=...)``).
    """

    intersection_layers: list[str] = Field(default_factory=list)


class PretrainConfig(_Strict):
    """How branches are pre-trained for the ``pretrained`` / ``warm_start`` / ``finetune`` strategies.

    ``from_systems`` maps a branch to a single-modality system of the same run (same output directory): its
    trained model of the same seed and fold initialises the branch (pepino2020 2.3.3). Branches not listed
    are trained alone with their own head first, inside the run, with ``max_epochs`` / ``lr`` /
    ``warmup_steps`` (defaults: pepino2020's); ``null`` takes the value of the ``training`` block (and its
    ``max_steps``), so that ``--set training.max_epochs=...`` also shortens that pre-training (makiuchi2021).
    """

    from_systems: dict[str, str] = Field(default_factory=dict)
    max_epochs: int | None = Field(default=20, ge=1)
    lr: float | None = Field(default=7e-4, gt=0)
    warmup_steps: int | None = Field(default=40, ge=0)


class EncoderTuning(_Strict):
    """How one branch's encoder trains when ``training.mode: end_to_end`` (encoder fine-tuning).

    This is *encoder fine-tuning*: the encoder (an SSL speech model or a BERT-family text model) sits inside
    the model and its weights change. It is unrelated to ``training.strategy: finetune``, pepino2020's
    strategy in which pre-trained *branches* (over frozen, cached features) train on with the fusion layers.

    * ``trainable``: False keeps the encoder frozen (it still runs inside the model, on waveforms / tokens).
    * ``freeze``: parts kept frozen while the rest trains: ``feature_encoder`` (the CNN front end of
      wav2vec2 / HuBERT / WavLM, frozen as deoliveira2023 does) or ``embeddings`` (a text model's token,
      position and type embeddings).
    * ``freeze_layers``: indices of transformer layers kept frozen (``[0, 1]``: the two lowest).
    * ``encoder_lr``: the encoder's own learning rate (default: ``training.lr``).
    * ``freeze_after_epochs``: FT=>FRZ (deoliveira2023 Fig. 3): the encoder trains for this many epochs, then
      is frozen and only the rest of the model (layer weights, branches, fusion, head) trains on.
    * ``gradient_checkpointing``: recompute the encoder's activations in the backward pass (less memory).
    """

    trainable: bool = True
    freeze: list[Literal["feature_encoder", "embeddings"]] = Field(default_factory=list)
    freeze_layers: list[int] = Field(default_factory=list)
    encoder_lr: float | None = Field(default=None, gt=0)
    freeze_after_epochs: int | None = Field(default=None, ge=1)
    gradient_checkpointing: bool = False


class LrSchedule(_Strict):
    """A learning-rate schedule over epochs (``training.lr_schedule``).

    ``kind: reduce_on_rise`` (perez2022: "reduce the learning rate by a factor of 0.75 whenever the validation
    loss increases"): after every epoch whose dev ``monitor`` (the dev loss) is above the previous epoch's, every
    learning rate (encoder groups included) is multiplied by ``factor``. It needs dev data; without a dev set
    the rate stays constant. See :mod:`emofuse.train.lr_schedule`.
    """

    kind: Literal["reduce_on_rise"] = "reduce_on_rise"
    factor: float = Field(default=0.75, gt=0, lt=1)
    monitor: Literal["loss"] = "loss"


class TrainerConfig(_Strict):
    """Where and how Lightning trains (Lightning's own ``Trainer`` arguments; no home-made launcher).

    ``accelerator`` (``cpu``, ``gpu``, ``auto``), ``devices`` (a count, ``auto``, or ``-1`` for all), ``strategy``
    (``auto``, ``ddp``, ``ddp_spawn``, ...), ``num_nodes``, ``precision`` (``32-true``, ``bf16-mixed``,
    ``16-mixed``: mixed precision where the accelerator supports it). Under ``torchrun`` or SLURM, set
    ``strategy: ddp`` and the device/node counts of the job, as Lightning documents. Override from the CLI with
    ``--set trainer.devices=8``.
    """

    accelerator: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = Field(default=1, ge=1)
    precision: str = "32-true"


class TrainingConfig(_Strict):
    """Optimisation.

    ``mode``: ``cached`` (encoders frozen, features read from the store) or ``end_to_end`` (the encoders of
    ``ssl`` / ``whisper_hf`` / ``text`` branches run inside the model on waveforms / token ids, and train as
    ``encoder_tuning[branch]`` says; branches not listed keep a frozen encoder). ``length_bucketing``:
    training batches hold utterances of similar length (less padding; frames of the stored features in cached
    mode, samples or tokens in end_to_end mode), in an order shuffled per epoch; unset: on for end_to_end, off
    for cached.

    Strategies (pepino2020 2.3.3): ``cold_start`` (Xavier-uniform init, everything trained jointly),
    ``pretrained`` (branches from single-modality models, frozen; only the layers after merging train),
    ``warm_start`` (as ``pretrained``, but each branch's ``pre_pool_modules()`` train too), ``finetune``
    (branches from single-modality models, everything trains; pre-trained *branches*, not encoder fine-tuning,
    which is ``mode: end_to_end`` with ``encoder_tuning``). ``early_stopping: null`` trains a fixed
    ``max_epochs`` (pepino2020 on IEMOCAP); otherwise the best dev epoch is kept. ``max_steps`` (optimiser
    steps, makiuchi2021's "iterations") replaces ``max_epochs`` as the length of training when set. ``seeds``:
    a count (seeds
    0..n-1) or an explicit list. ``score_weights: tune_dev`` (score fusion, classes): after training, pick the
    fusion weights that maximise dev ``uar`` (makiuchi2021 Eq. 4, weights tuned on held-out data); with
    ``strategy: pretrained`` and score fusion nothing is left to train, so the run only tunes the weights.
    ``lr_schedule``: ``null`` (constant rate after the warm-up) or ``{kind: reduce_on_rise, factor: 0.75}``
    (:class:`LrSchedule`, perez2022).
    ``loggers``: Lightning loggers writing per-epoch losses and dev metrics under ``<run dir>/logs/<name>/``
    (``csv``: ``metrics.csv``; ``tensorboard``: event files, needs ``emofuse[tensorboard]``); ``[]`` for none.
    They do not change results, so they are not part of a run's config hash.
    """

    strategy: Strategy = "cold_start"
    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = Field(default=7e-4, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_steps: int = Field(default=0, ge=0)
    batch_size: int = Field(default=32, ge=1)
    max_epochs: int = Field(default=30, ge=1)
    max_steps: int | None = Field(default=None, ge=1)
    early_stopping: EarlyStoppingConfig | None = None
    class_weighting: Literal["inverse_frequency", "none"] = "inverse_frequency"
    init: Literal["xavier_uniform", "default"] = "xavier_uniform"
    gradient_clip: float | None = Field(default=None, gt=0)
    seeds: int | list[int] = 10
    pretrain: PretrainConfig | None = None
    score_weights: Literal["fixed", "tune_dev"] = "fixed"
    loggers: list[Literal["csv", "tensorboard"]] = Field(default_factory=lambda: ["csv"])
    epoch_selection: EpochSelectionConfig | None = None
    mode: Literal["cached", "end_to_end"] = "cached"
    encoder_tuning: dict[str, EncoderTuning] = Field(default_factory=dict)
    length_bucketing: bool | None = None
    lr_schedule: LrSchedule | None = None

    @field_validator("seeds")
    @classmethod
    def _check_seeds(cls, value: int | list[int]) -> int | list[int]:
        if isinstance(value, int) and value < 1:
            raise ValueError("seeds must be a positive count or a list of integers")
        if isinstance(value, list) and (not value or len(set(value)) != len(value)):
            raise ValueError("seeds list must be non-empty without repeats")
        return value

    @model_validator(mode="after")
    def _check_pretrain(self) -> TrainingConfig:
        if self.strategy != "cold_start" and self.pretrain is None:
            self.pretrain = PretrainConfig()
        return self

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


class ProtocolConfig(_Strict):
    """How utterances are split into folds (see ``emofuse.corpus``).

    ``predefined`` (the corpus's train/dev/test column, e.g. MSP-Podcast), ``speaker-kfold`` (k folds, no
    speaker in two parts), ``loso`` (leave one session out), ``speaker-script`` (IEMOCAP as in pepino2020:
    test speakers and test scripts never seen in training). ``dev_fraction`` of the training speakers form the
    dev set. ``strict_leaks``: a fold sharing speakers (or scripts) across parts is an error, not a warning.
    ``test_split`` (``predefined``): the ``split`` value to test on, e.g. MSP-Podcast's ``test2`` (unseen
    podcasts); default ``test``, else the first split named ``test...`` (MSP-Podcast: ``test1``).
    """

    kind: str
    k: int | None = Field(default=5, ge=2)
    dev_fraction: float = Field(default=0.1, ge=0.0, lt=0.5)
    test_scripts: list[str] | None = None
    test_split: str | None = None
    strict_leaks: bool = True
    seed: int = 0

    @field_validator("kind")
    @classmethod
    def _known_protocol(cls, value: str) -> str:
        from emofuse.corpus.protocols import PROTOCOLS  # the registry is the one list of protocol names

        if value not in PROTOCOLS:
            raise ValueError(f"{value!r} is not one of the protocols {list(PROTOCOLS)}")
        return value


class Recipe(_Strict):
    """One system of one paper. ``name`` is the system's directory under the runner's output."""

    name: str
    paper: str | None = None
    description: str = ""
    data: DataConfig
    features: dict[str, FeatureConfig]
    model: ModelConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    protocol: ProtocolConfig
    protocols: dict[str, ProtocolConfig] = Field(default_factory=dict)
    protocol_name: str | None = None
    text_source: TextSource = Field(default_factory=TextSource)
    estimator: EstimatorConfig | None = None
    analyses: AnalysesConfig = Field(default_factory=AnalysesConfig)

    @model_validator(mode="before")
    @classmethod
    def _resolve_protocol(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("protocol"), str):
            name = data["protocol"]
            named = data.get("protocols") or {}
            if name not in named:
                raise ValueError(
                    f"protocol {name!r} is not one of the recipe's protocols {sorted(named)}; "
                    "name one of them or give a protocol block"
                )
            data = {**data, "protocol": named[name], "protocol_name": name}
        return data

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(f"name {value!r} must be letters, digits, '_', '.', '-' (it names a directory)")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Recipe:
        if set(self.features) != self.model.input_names():
            raise ValueError(
                f"features {sorted(self.features)} and model.branches {sorted(self.model.branches)} (with "
                f"their inputs) must name the same features: model reads {sorted(self.model.input_names())}"
            )
        head = self.model.head.type
        if self.data.task == "avd" and head != "avd":
            raise ValueError(f"data.task 'avd' needs model.head.type 'avd', got {head!r}")
        if self.data.task == "classes" and head == "avd":
            raise ValueError("model.head.type 'avd' needs data.task 'avd'")
        pre = self.training.pretrain
        if pre is not None:
            unknown = sorted(set(pre.from_systems) - set(self.model.branches))
            if unknown:
                raise ValueError(f"training.pretrain.from_systems names unknown branch(es) {unknown}")
        if self.training.strategy != "cold_start" and self.model.fusion == "none":
            raise ValueError(f"strategy {self.training.strategy!r} needs a fusion model; use cold_start")
        if self.training.score_weights == "tune_dev" and (
            self.model.fusion != "score" or self.data.task != "classes"
        ):
            raise ValueError(
                "training.score_weights: tune_dev needs model.fusion: score and data.task: classes"
            )
        if self.estimator is not None:
            check_estimator_model(self.model, self.data.task)
        tr = self.training
        if tr.encoder_tuning and tr.mode != "end_to_end":
            raise ValueError("training.encoder_tuning needs training.mode: end_to_end")
        unknown = sorted(set(tr.encoder_tuning) - set(self.features))
        if unknown:
            raise ValueError(f"training.encoder_tuning names unknown branch(es) {unknown}")
        if tr.mode == "end_to_end":
            if self.estimator is not None:
                raise ValueError(
                    "training.mode: end_to_end trains a neural model; an estimator system is cached"
                )
            for name in tr.encoder_tuning:
                if self.features[name].kind not in END_TO_END_KINDS:
                    raise ValueError(
                        f"training.encoder_tuning.{name}: encoder {self.features[name].kind!r} cannot run inside "
                        f"the model; end_to_end mode trains encoders of kind {list(END_TO_END_KINDS)}"
                    )
            inside = [n for n, f in self.features.items() if f.kind in END_TO_END_KINDS and f.standardize]
            if inside:
                raise ValueError(
                    f"features.{inside[0]}.standardize: an encoder that runs inside the model (mode: end_to_end) "
                    "is not standardised; set standardize: false"
                )
            if tr.strategy != "cold_start":
                raise ValueError(
                    f"training.strategy {tr.strategy!r} (pepino2020's pre-trained branches) works on cached "
                    "features; with mode: end_to_end use strategy: cold_start"
                )
            if tr.score_weights == "tune_dev":
                raise ValueError("training.score_weights: tune_dev is not available with mode: end_to_end")
        sel = tr.epoch_selection
        if sel is not None and (tr.early_stopping is not None or tr.max_steps is not None or self.estimator):
            raise ValueError(
                "training.epoch_selection chooses a fixed epoch count of a neural model; set "
                "training.early_stopping and training.max_steps to null (and use no estimator)"
            )
        if sel is not None and sel.metric != "loss" and sel.metric not in _TASK_METRICS[self.data.task]:
            raise ValueError(
                f"training.epoch_selection.metric {sel.metric!r} does not fit task {self.data.task!r}"
            )
        es = self.training.early_stopping
        if es is not None:
            ok = {"classes": {"uar", "accuracy", "av_auc", "loss"}, "avd": {"ccc", "loss"}}[self.data.task]
            if es.monitor not in ok:
                raise ValueError(
                    f"early_stopping.monitor {es.monitor!r} does not fit task {self.data.task!r}"
                )
        return self

    # ---------------------------------------------------------------------------------------------------
    def encoder_specs(self) -> dict[str, str | dict[str, Any]]:
        """``{branch_name: encoder spec}`` for ``emofuse extract`` and the runner."""
        return {name: feat.encoder for name, feat in self.features.items()}

    @property
    def n_outputs(self) -> int:
        return len(self.data.labels or []) if self.data.task == "classes" else len(self.data.avd_names)

    def resolved(self) -> dict[str, Any]:
        """The fully resolved recipe as JSON-safe data (what a run directory records).

        Options added later are left out while they hold their default (``training.lr_schedule: null``,
        ``data.target_norm: none``), so that the config hashes of runs finished before they existed still match.
        """
        data = self.model_dump(mode="json")
        if data["training"].get("lr_schedule") is None:
            data["training"].pop("lr_schedule", None)
        if data["data"].get("target_norm") == "none":
            data["data"].pop("target_norm", None)
        return data
