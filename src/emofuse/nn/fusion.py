"""Branches + fusion + head as one model (pepino2020 Sec. 2.3, kumar2021, deoliveira2023, makiuchi2021, perez2022)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from emofuse.nn.branches import Activation, branch_output_dims
from emofuse.nn.heads import AVDHead, ClassHead
from emofuse.nn.init import freeze, set_frozen_norms_eval, unfreeze

__all__ = [
    "FUSIONS",
    "EarlyFusion",
    "Fusion",
    "FusionModel",
    "LateFusion",
    "NoFusion",
    "ScalarLateFusion",
    "ScoreFusion",
    "TaskKind",
]

TaskKind = Literal["classes", "avd"]


class Fusion(nn.Module):
    """The one interface of a fusion: ``forward(embedding [B, E], branch_outputs {name: [B, C]})`` returns
    ``{"output": [B, C]}`` (and ``"hidden": [B, H]`` when it has a hidden layer).

    Subclasses are listed in :data:`FUSIONS` (name -> class); :class:`FusionModel` builds one by name. Every
    fusion takes the same constructor arguments (``branch_names``, ``embedding_dim``, ``task``, ``n_outputs``,
    ``make_head``, and the fusion options of :class:`FusionModel`) and ignores those it does not need.
    """

    #: what ``output`` holds for classes: logits, or log-probabilities (``softmax(output)`` is always p)
    class_output: Literal["logits", "log_probs"] = "logits"

    def __init__(self, branch_names: Sequence[str], **_: object) -> None:
        super().__init__()
        self.branch_names = list(branch_names)

    def forward(self, embedding: Tensor, branch_outputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        raise NotImplementedError


class NoFusion(Fusion):
    """``none``: one branch and its own head (a single-modality model)."""

    def __init__(self, branch_names: Sequence[str], **options: object) -> None:
        super().__init__(branch_names)
        if len(self.branch_names) != 1:
            raise ValueError(f"fusion 'none' takes exactly one branch; got {sorted(self.branch_names)}")

    def forward(self, embedding: Tensor, branch_outputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {"output": branch_outputs[self.branch_names[0]]}


class EarlyFusion(Fusion):
    """``early``: the concatenated embeddings [-> LayerNorm] -> the fusion head (pepino2020 EF, kumar2021,
    deoliveira2023, perez2022)."""

    def __init__(
        self,
        branch_names: Sequence[str],
        *,
        embedding_dim: int,
        make_head: Callable[[int, int | None, float], nn.Module],
        hidden: int | None,
        dropout: float,
        fusion_norm: bool,
        **_: object,
    ) -> None:
        super().__init__(branch_names)
        self.norm = nn.LayerNorm(embedding_dim) if fusion_norm else None
        self.head = make_head(embedding_dim, hidden, dropout)

    def forward(self, embedding: Tensor, branch_outputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        fused = self.norm(embedding) if self.norm is not None else embedding
        output, hidden = self.head.forward_hidden(fused)
        return {"output": output} if hidden is None else {"output": output, "hidden": hidden}


class LateFusion(Fusion):
    """``late`` (pepino2020 LF): the branches' logits concatenated (``[B, K*C]``) -> one dense layer."""

    def __init__(self, branch_names: Sequence[str], *, n_outputs: int, **_: object) -> None:
        super().__init__(branch_names)
        self.combiner = nn.Linear(len(self.branch_names) * n_outputs, n_outputs)

    def forward(self, embedding: Tensor, branch_outputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return {"output": self.combiner(torch.cat([branch_outputs[n] for n in self.branch_names], dim=-1))}


class ScalarLateFusion(Fusion):
    """``late_scalar`` (the late-fusion variant pepino2020 tried, Sec. 2.3.2): one learned scalar weight per
    branch, ``output = sum_k w_k * logits_k + b`` (``w`` ``[K]``, initialised to 1/K; ``b`` ``[C]``), so each
    system's vote counts as a whole rather than class by class as in ``late``'s dense layer."""

    def __init__(self, branch_names: Sequence[str], *, n_outputs: int, **_: object) -> None:
        super().__init__(branch_names)
        k = len(self.branch_names)
        self.weights = nn.Parameter(torch.full((k,), 1.0 / k))
        self.bias = nn.Parameter(torch.zeros(n_outputs))

    def forward(self, embedding: Tensor, branch_outputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        stacked = torch.stack([branch_outputs[n] for n in self.branch_names], dim=0)  # [K, B, C]
        return {"output": (self.weights.view(-1, 1, 1) * stacked).sum(dim=0) + self.bias}


class ScoreFusion(Fusion):
    """``score`` (makiuchi2021 Eq. 4): ``p = sum_k w_k softmax(logits_k)`` with fixed weights (a buffer, sum 1).

    For classes ``output`` is ``log p``; for avd ``sum_k w_k pred_k``. It has no trainable parameters.
    """

    class_output = "log_probs"

    def __init__(self, branch_names: Sequence[str], *, task: TaskKind, **_: object) -> None:
        super().__init__(branch_names)
        self.task = task
        self.register_buffer("weights", torch.full((len(self.branch_names),), 1.0 / len(self.branch_names)))

    def forward(self, embedding: Tensor, branch_outputs: Mapping[str, Tensor]) -> dict[str, Tensor]:
        stacked = torch.stack([branch_outputs[n] for n in self.branch_names], dim=0)  # [K, B, C]
        w = self.weights.to(stacked.dtype).view(-1, 1, 1)
        if self.task == "avd":
            return {"output": (w * stacked).sum(dim=0)}
        return {"output": torch.logsumexp(torch.log(w) + torch.log_softmax(stacked, dim=-1), dim=0)}


#: fusion name -> implementation: the one table of fusions (recipes' ``model.fusion`` names these)
FUSIONS: dict[str, type[Fusion]] = {
    "none": NoFusion,
    "early": EarlyFusion,
    "late": LateFusion,
    "late_scalar": ScalarLateFusion,
    "score": ScoreFusion,
}


class FusionModel(nn.Module):
    """Per-modality branches, a fusion and an output head.

    ``forward(inputs, masks)`` with ``inputs[name]: [B, T, D]`` (``[B, L, T, D]`` for layer-weighted branches)
    and ``masks[name]: [B, T]`` returns::

        {"output": [B, C] (classes) or [B, n_outputs] (avd),
         "branch_outputs": {name: [B, C]}  # each branch's own head (logits / A/V/D), always computed
         "embedding": [B, E]               # concatenated branch embeddings (the single one for "none")
         "hidden": [B, H]}                 # only when the fusion head has a hidden layer ("early")
         "aux_losses": {"<branch>.<term>": scalar}  # only from branches with auxiliary losses (training)

    A branch that returns per-segment embeddings (``"segments"``, ``"segment_index"``: makiuchi2021's
    96-frame segments at inference) gets as its output the mean of its head's per-segment probabilities.

    What ``"output"`` is, by fusion (``output_kind``):

    - ``"none"``: one branch and its head (``branch_heads[name]``); logits. Pre-train a branch alone so and
      move it into a fusion model with :meth:`load_branch_state`.
    - ``"early"`` (pepino2020 EF, kumar2021, deoliveira2023, perez2022): concatenate the pooled embeddings
      [-> LayerNorm if ``fusion_norm``, perez2022] -> dense ``hidden`` + ReLU -> dropout -> output (classes);
      for avd the deoliveira2023 FFN (dense ``hidden`` + tanh -> dropout -> 3). Logits.
    - ``"late"`` (pepino2020 LF): each branch's head gives logits; they are concatenated (``[B, K*C]``) and a
      dense layer maps them to the classes. Logits.
    - ``"score"`` (makiuchi2021 Eq. 4): ``p = sum_k w_k softmax(logits_k)`` with fixed weights (a buffer,
      normalised to sum to 1; see :meth:`set_score_weights` and :func:`emofuse.train.outputs.tune_score_weights`). For classes
      ``"output"`` is ``log p`` (log-probabilities); since they are normalised, ``softmax(output) = p`` and
      cross-entropy on them is the NLL of the fused probabilities, so the same loss code works. For avd it is
      ``sum_k w_k pred_k``.

    For every fusion ``softmax(output)`` is the class probability vector.

    Args:
        branches: ``{name: branch}``; each branch has ``out_dim`` and ``pre_pool_modules()``.
        fusion: a name of :data:`FUSIONS` (``none``, ``early``, ``late``, ``score``).
        task: ``"classes"`` (logits over ``n_outputs`` classes) or ``"avd"`` (``n_outputs`` values, default 3).
        n_outputs: number of classes, or of regression outputs.
        hidden: hidden size of the early-fusion head (pepino2020: 128; kumar2021: 600; a list ``[600, 400]``: one
            dense layer per size, kumar2021's ablation; ``"same"``: the size
            of the concatenated embedding, perez2022's "dense layer that has the same input/output shape";
            None: no hidden layer).
        dropout: dropout after that hidden layer (perez2022: 0.5; deoliveira2023: 0.1).
        hidden_activation: activation of the heads' hidden layers; default ReLU for classes (pepino2020,
            perez2022), tanh for avd (deoliveira2023).
        score_weights: initial score-fusion weights, ``{name: w}`` or a sequence in branch order
            (default equal).
        head_hidden / head_dropout: branch heads' hidden layer (None = one linear layer, pepino2020 L_T5 /
            L_A4) and dropout; avd branch heads always have a hidden layer (``head_hidden or hidden``).
        fusion_norm: LayerNorm over the concatenated embeddings before the early-fusion head (perez2022).
    """

    def __init__(
        self,
        branches: Mapping[str, nn.Module],
        fusion: str = "early",
        task: TaskKind = "classes",
        n_outputs: int | None = None,
        hidden: int | Sequence[int] | Literal["same"] | None = 128,
        dropout: float = 0.0,
        score_weights: Mapping[str, float] | Sequence[float] | None = None,
        head_hidden: int | None = None,
        head_dropout: float = 0.0,
        fusion_norm: bool = False,
        hidden_activation: Activation | None = None,
    ) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {sorted(FUSIONS)}; got {fusion!r}")
        if task not in ("classes", "avd"):
            raise ValueError(f"task must be 'classes' or 'avd'; got {task!r}")
        if not branches:
            raise ValueError("FusionModel needs at least one branch")
        if n_outputs is None:
            if task == "classes":
                raise ValueError("n_outputs (the number of classes) is required for task 'classes'")
            n_outputs = 3
        self.fusion = fusion
        self.task: TaskKind = task
        self.n_outputs = n_outputs
        self.branch_names = list(branches)
        self.branches = nn.ModuleDict(dict(branches))
        dims = branch_output_dims(self.branches)
        self.embedding_dim = sum(dims.values())

        if isinstance(hidden, str) and hidden != "same":
            raise ValueError(f"hidden must be an int, a list of ints, 'same' or None; got {hidden!r}")
        if task == "avd" and isinstance(hidden, Sequence) and not isinstance(hidden, str):
            raise ValueError(
                "a list of hidden sizes is for class heads only; the A/V/D FFN has one hidden layer"
            )
        fusion_hidden = self.embedding_dim if hidden == "same" else hidden

        def make_head(in_dim: int, hid: int | None, drop: float) -> nn.Module:
            if task == "avd":
                act = hidden_activation or "tanh"
                return AVDHead(in_dim, hid or fusion_hidden, n_outputs, drop, activation=act)
            act = hidden_activation or "relu"
            return ClassHead(in_dim, n_outputs, hidden=hid, dropout=drop, activation=act)

        self.branch_heads = nn.ModuleDict(
            {name: make_head(dims[name], head_hidden, head_dropout) for name in self.branch_names}
        )
        self.fuse: Fusion = FUSIONS[fusion](
            self.branch_names,
            embedding_dim=self.embedding_dim,
            task=task,
            n_outputs=n_outputs,
            make_head=make_head,
            hidden=fusion_hidden,
            dropout=dropout,
            fusion_norm=fusion_norm,
        )
        if score_weights is not None:
            self.set_score_weights(score_weights)

    # ----------------------------------------------------------------------------------------- forward
    @property
    def output_kind(self) -> Literal["logits", "log_probs", "values"]:
        """What ``forward(...)["output"]`` holds: logits, log-probabilities (score fusion) or values (avd)."""
        return "values" if self.task == "avd" else self.fuse.class_output

    def forward(
        self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor] | None = None
    ) -> dict[str, Tensor | dict[str, Tensor]]:
        masks = masks or {}
        embeddings: dict[str, Tensor] = {}
        branch_outputs: dict[str, Tensor] = {}
        aux_losses: dict[str, Tensor] = {}
        for name in self.branch_names:
            if name not in inputs:
                raise KeyError(f"input for branch {name!r} is missing; got inputs for {sorted(inputs)}")
            result = self._run_branch(name, inputs, masks)
            embeddings[name] = result["embedding"]
            if "segments" in result:  # per-segment embeddings: average the head's per-segment outputs
                branch_outputs[name] = self._segment_average(
                    name, result["segments"], result["segment_index"], result["embedding"].shape[0]
                )
            else:
                branch_outputs[name] = self.branch_heads[name](result["embedding"])
            for key, value in result.get("aux_losses", {}).items():
                aux_losses[f"{name}.{key}"] = value
        embedding = torch.cat([embeddings[n] for n in self.branch_names], dim=-1)
        out: dict[str, Tensor | dict[str, Tensor]] = {
            "branch_outputs": branch_outputs,
            "embedding": embedding,
        }
        if aux_losses:
            out["aux_losses"] = aux_losses
        out.update(self.fuse(embedding, branch_outputs))
        return out

    def _run_branch(
        self, name: str, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]
    ) -> dict[str, Any]:
        """One branch on its input; a branch with ``extra_inputs`` (``{role: input name}``, set by the model
        builder) also gets ``extras={role: (tensor, mask)}`` for the inputs present (makiuchi2021's speaker
        embedding, phone ids and log-mel target)."""
        branch = self.branches[name]
        extra_names: Mapping[str, str] = getattr(branch, "extra_inputs", None) or {}
        if not extra_names:
            return branch(inputs[name], masks.get(name))
        extras = {}
        for role, source in extra_names.items():
            if source in inputs:
                t = inputs[source]
                m = masks.get(source)
                if m is None:
                    m = torch.ones(t.shape[0], t.shape[-2], dtype=torch.bool, device=t.device)
                extras[role] = (t, m)
        return branch(inputs[name], masks.get(name), extras=extras)

    def _segment_average(self, name: str, segments: Tensor, owner: Tensor, n_utt: int) -> Tensor:
        """Utterance outputs from per-segment embeddings ``[N_seg, E]`` (``owner [N_seg]``: utterance index):
        classes: ``log`` of the mean of the segments' softmax probabilities (makiuchi2021 inference; a
        softmax of it is that mean); avd: the mean of the segments' values. ``[B, C]``."""
        seg_out = self.branch_heads[name](segments)
        values = torch.softmax(seg_out, dim=-1) if self.task == "classes" else seg_out
        total = torch.zeros(n_utt, values.shape[1], dtype=values.dtype, device=values.device)
        total = total.index_add(0, owner, values)
        counts = torch.bincount(owner, minlength=n_utt).clamp_min(1).unsqueeze(1).to(values.dtype)
        mean = total / counts
        return torch.log(mean.clamp_min(1e-12)) if self.task == "classes" else mean

    # ----------------------------------------------------------------------------- score-fusion weights
    def set_score_weights(self, weights: Mapping[str, float] | Sequence[float] | Tensor) -> None:
        """Set score-fusion weights (``{name: w}`` or a sequence in ``branch_names`` order); they are
        normalised to sum to 1. Non-negative, not all zero. Only a ``score`` fusion has them."""
        if not isinstance(self.fuse, ScoreFusion):
            raise ValueError(f"fusion {self.fusion!r} has no score weights; only 'score' fusion does")
        if isinstance(weights, Mapping):
            unknown = set(weights) - set(self.branch_names)
            missing = set(self.branch_names) - set(weights)
            if unknown or missing:
                raise ValueError(
                    f"score weights must name the branches {self.branch_names}; "
                    f"unknown {sorted(unknown)}, missing {sorted(missing)}"
                )
            values = [float(weights[n]) for n in self.branch_names]
        else:
            values = [float(v) for v in torch.as_tensor(weights).flatten().tolist()]
        w = torch.tensor(values, dtype=torch.float32)
        if w.numel() != len(self.branch_names) or bool((w < 0).any()) or float(w.sum()) <= 0:
            raise ValueError(
                f"score weights must be {len(self.branch_names)} non-negative values, not all 0; got {values}"
            )
        self.fuse.weights.copy_(w / w.sum())

    def get_score_weights(self) -> dict[str, float]:
        """``{name: w}`` (normalised) of a score fusion; empty for other fusions."""
        if not isinstance(self.fuse, ScoreFusion):
            return {}
        return {n: float(w) for n, w in zip(self.branch_names, self.fuse.weights.tolist(), strict=True)}

    def layer_weights(self) -> dict[str, Tensor]:
        """``{branch: normalised layer weights [L]}`` for branches with learnable layer weighting (detached),
        for the layer-importance plots of deoliveira2023 Fig. 2."""
        out = {}
        for name, branch in self.branches.items():
            getter = getattr(branch, "layer_weights", None)
            weights = getter() if callable(getter) else None
            if weights is not None:
                out[name] = weights.detach().clone()
        return out

    # ---------------------------------------------------------------------------- training strategies
    def fusion_modules(self) -> list[nn.Module]:
        """The layers after the merging point (pepino2020: initialised with Xavier uniform and trained in
        PT/WS): the early-fusion norm and head, or the late-fusion dense layer. Empty for none/score."""
        return [m for m in self.fuse.children() if m is not None]

    def freeze_branches(self, mode: Literal["all", "except_pre_pool"] = "all") -> None:
        """Freeze the branches and their heads (pepino2020 PT: "keeping the layers up to the merging point
        frozen"); with ``"except_pre_pool"`` the branches' ``pre_pool_modules()`` stay trainable (WS:
        L_T3 and L_A2). Frozen norm layers also keep their running statistics (they stay in eval mode,
        even after ``model.train()``). Undo with :meth:`unfreeze_all`."""
        if mode not in ("all", "except_pre_pool"):
            raise ValueError(f"mode must be 'all' or 'except_pre_pool'; got {mode!r}")
        freeze(self.branches.values())
        freeze(self.branch_heads.values())
        if mode == "except_pre_pool":
            for branch in self.branches.values():
                unfreeze(branch.pre_pool_modules())
        self.train(self.training)

    def unfreeze_all(self) -> None:
        """Make every parameter trainable again."""
        unfreeze(self)
        self.train(self.training)

    def train(self, mode: bool = True) -> FusionModel:
        """As ``nn.Module.train``, but norm layers whose parameters are all frozen stay in eval mode."""
        super().train(mode)
        if mode:
            set_frozen_norms_eval(self)
        return self

    def trainable_parameter_names(self) -> list[str]:
        """Names of the parameters with ``requires_grad`` (handy in logs and tests)."""
        return [n for n, p in self.named_parameters() if p.requires_grad]

    def load_branch_state(
        self, name: str, state_dict: Mapping[str, Tensor], source_name: str | None = None
    ) -> None:
        """Load branch ``name`` and its head from the state dict of a model that trained it alone
        (``FusionModel({source_name: branch}, fusion="none")``; keys ``branches.<source_name>.*`` and
        ``branch_heads.<source_name>.*``). Strict: a key or shape mismatch raises."""
        if name not in self.branches:
            raise KeyError(f"no branch {name!r}; branches are {self.branch_names}")
        src = source_name or name
        for prefix, target in (("branches", self.branches[name]), ("branch_heads", self.branch_heads[name])):
            head = f"{prefix}.{src}."
            sub = {k[len(head) :]: v for k, v in state_dict.items() if k.startswith(head)}
            if not sub:
                raise KeyError(f"state dict has no keys under {head!r} (for branch {name!r})")
            target.load_state_dict(sub, strict=True)
