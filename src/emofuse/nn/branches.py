"""Per-modality branches: frames in, a pooled embedding out.

Every branch takes ``x: [B, T, D]`` (``[B, L, T, D]`` for :class:`MeanMaxBranch` with layer weighting) and
``mask: [B, T]`` (True = real frame) and returns ``{"embedding": [B, E], "frames": [B, T', H],
"mask": [B, T']}``. It exposes ``out_dim`` (``E``) and ``pre_pool_modules()`` (the layers right before
pooling: what pepino2020's warm start unfreezes). Padding never changes an output: convolutions see zeros
past the real frames exactly as 'same' padding of the unpadded sequence would, batch norm takes its
statistics over real frames only, pooling ignores padding, recurrent layers use packed sequences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from emofuse.nn.crossrep import CrossRepBranch
from emofuse.nn.dropout import FrameDropout
from emofuse.nn.layer_weighting import LayerWeighting, LayerWeightMode
from emofuse.nn.masking import (
    MaskedBatchNorm1d,
    check_inputs,
    lengths_from_mask,
    masked_mean,
    zero_padding,
)
from emofuse.nn.packing import FramePacking, conv_frames
from emofuse.nn.pooling import Pooling, PoolingKind

__all__ = [
    "BRANCHES",
    "Activation",
    "BranchOutput",
    "CNNTextBranch",
    "Conv1dBranch",
    "ConvBlock",
    "DenseBranch",
    "FrameDense",
    "GRUAttentionBranch",
    "LSTMBranch",
    "MeanMaxBranch",
    "PepinoAudioBranch",
    "PepinoTextBranch",
    "make_activation",
]

Activation = Literal["relu", "tanh", "linear", "gelu"]
BranchOutput = dict[str, Tensor]


def make_activation(name: Activation) -> nn.Module:
    """``"relu"`` / ``"tanh"`` / ``"gelu"`` / ``"linear"`` (identity) as a module."""
    table: dict[str, type[nn.Module]] = {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "gelu": nn.GELU,
        "linear": nn.Identity,
    }
    if name not in table:
        raise ValueError(f"activation must be one of {sorted(table)}; got {name!r}")
    return table[name]()


def _as_tuple(value: float | Sequence[float], n: int, what: str) -> tuple[float, ...]:
    if isinstance(value, int | float):
        return (float(value),) * n
    values = tuple(float(v) for v in value)
    if len(values) != n:
        raise ValueError(f"{what} needs {n} values (one per layer); got {len(values)}")
    return values


class FrameDense(nn.Module):
    """A dense layer applied to each frame: dropout -> Linear -> [masked batch norm] -> activation.

    ``x: [B, T, D_in]``, ``mask: [B, T]`` -> ``[B, T, D_out]`` (padded frames zeroed).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        batch_norm: bool = False,
        activation: Activation = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_dim, out_dim)
        self.norm = MaskedBatchNorm1d(out_dim) if batch_norm else None
        self.activation = make_activation(activation)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        y = self.linear(self.dropout(x))
        if self.norm is not None:
            y = self.norm(y, mask)
        return zero_padding(self.activation(y), mask)

    def forward_values(self, values: Tensor) -> Tensor:
        """The real frames only: ``values: [N_real, D_in]`` (as ``x[mask]``) -> ``[N_real, D_out]``."""
        y = self.linear(self.dropout(values))
        if self.norm is not None:
            y = self.norm(y)
        return self.activation(y)


class ConvBlock(nn.Module):
    """One Conv1D layer over time: dropout -> Conv1d ('same' length) -> [masked batch norm] -> activation.

    ``x: [B, T, C_in]``, ``mask: [B, T]`` -> ``[B, T, C_out]``. The input's padded frames are zeroed first,
    so a real frame's output equals that of the unpadded sequence with zero 'same' padding.
    :meth:`forward_values` computes the same on the real frames only (:mod:`emofuse.nn.packing`).
    """

    def __init__(
        self,
        in_dim: int,
        filters: int,
        kernel_size: int,
        batch_norm: bool = False,
        activation: Activation = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.dropout = FrameDropout(dropout)
        self.conv = nn.Conv1d(in_dim, filters, kernel_size)
        # 'same' length, also for even kernels: (k - 1) // 2 zeros before, the rest after (as torch/Keras)
        self.pad = ((kernel_size - 1) // 2, kernel_size - 1 - (kernel_size - 1) // 2)
        self.norm = MaskedBatchNorm1d(filters) if batch_norm else None
        self.activation = make_activation(activation)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = self.dropout(zero_padding(x, mask))
        y = conv_frames(F.pad(x, (0, 0, *self.pad)), self.conv)
        if self.norm is not None:
            y = self.norm(y, mask)
        return zero_padding(self.activation(y), mask)

    def forward_values(self, values: Tensor, packing: FramePacking) -> Tensor:
        """The real frames only: ``values: [N_real, C_in]`` (as ``x[mask]``) -> ``[N_real, C_out]``, the same
        outputs as :meth:`forward` on those frames. ``packing`` must leave at least ``self.pad`` zeros around
        each utterance (:meth:`FramePacking.plan` with this block's or larger reaches)."""
        y = packing.gather(conv_frames(packing.pack(self.dropout(values)), self.conv), self.pad[0])
        if self.norm is not None:
            y = self.norm(y)
        return self.activation(y)


class Conv1dBranch(nn.Module):
    """Generic convolutional branch: [per-frame dense] -> Conv1D layers -> pooling over time.

    ``x: [B, T, in_dim]``, ``mask: [B, T]`` -> ``{"embedding": [B, out_dim], "frames": [B, T, filters[-1]],
    "mask": [B, T]}``. On a CPU, a batch of mixed lengths runs on its real frames only, packed end to end
    (:mod:`emofuse.nn.packing`; about 40 % less time per pepino2020 audio training step on the demo corpus),
    with the same outputs.

    Args:
        in_dim: input feature size ``D``.
        filters / kernel_sizes: one entry per Conv1D layer (number of filters ``N_F``, kernel size ``S``).
        proj_dim: size of a per-frame dense layer before the convolutions (pepino2020 ``L_T1``), or None.
        batch_norm: masked batch norm after every layer (dense and conv).
        dropout: dropout at the input of each Conv1D layer (a number for all, or one per layer).
        activation: activation of every layer.
        pooling: ``"mean"`` (pepino2020, makiuchi2021), ``"max"``, ``"mean_max"`` or ``"attention"``.
    """

    def __init__(
        self,
        in_dim: int,
        filters: Sequence[int],
        kernel_sizes: Sequence[int],
        proj_dim: int | None = None,
        batch_norm: bool = False,
        dropout: float | Sequence[float] = 0.0,
        activation: Activation = "relu",
        pooling: PoolingKind = "mean",
    ) -> None:
        super().__init__()
        if len(filters) == 0 or len(filters) != len(kernel_sizes):
            raise ValueError(
                f"filters and kernel_sizes need the same non-zero length; got {list(filters)} and {list(kernel_sizes)}"
            )
        self.in_dim = in_dim
        self.proj = FrameDense(in_dim, proj_dim, batch_norm, activation) if proj_dim else None
        drops = _as_tuple(dropout, len(filters), "dropout")
        dims = [proj_dim or in_dim, *filters]
        self.convs = nn.ModuleList(
            ConvBlock(dims[i], filters[i], kernel_sizes[i], batch_norm, activation, drops[i])
            for i in range(len(filters))
        )
        self.pool = Pooling(pooling, dims[-1])

    @property
    def out_dim(self) -> int:
        return self.pool.out_dim

    def pre_pool_modules(self) -> list[nn.Module]:
        """The last Conv1D block (conv + its batch norm and input dropout): pepino2020 ``L_T3`` / ``L_A2``."""
        return [self.convs[-1]]

    def forward(self, x: Tensor, mask: Tensor | None = None) -> BranchOutput:
        mask = check_inputs(x, mask)
        packing = self._packing(mask) if x.device.type == "cpu" and not torch.jit.is_tracing() else None
        if (
            packing is not None
        ):  # a batch of mixed lengths on a CPU: its real frames only (emofuse.nn.packing)
            values = x[mask]
            if self.proj is not None:
                values = self.proj.forward_values(values)
            for block in self.convs:
                values = block.forward_values(values, packing)
            h = packing.scatter(values)
        else:
            h = zero_padding(x, mask)
            if self.proj is not None:
                h = self.proj(h, mask)
            for block in self.convs:
                h = block(h, mask)
        return {"embedding": self.pool(h, mask), "frames": h, "mask": mask}

    def _packing(self, mask: Tensor) -> FramePacking | None:
        """One packing for every block: zeros enough for the widest kernel's 'same' padding. Never while
        tracing (ONNX export): a trace would keep this batch's frame positions as constants."""
        left = max(block.pad[0] for block in self.convs)
        right = max(block.pad[1] for block in self.convs)
        return FramePacking.plan(mask, left, right)


class PepinoTextBranch(Conv1dBranch):
    """pepino2020 text model (Sec. 2.1, Fig. 1 left) on BERT word embeddings (sum of the last 4 layers).

    From the paper: "The first layer (L_T1) ... operates on each embedding in the sequence reducing its
    dimensionality from 768 to 128. Then, 2 convolutional layers (L_T2 and L_T3) ... Finally, an average over
    time" and "We applied batch normalization in all layers."; the fused embedding is "232 dimensions".

    Not in the text we have (they are in Fig. 1, which the text extraction lost): the filters ``N_F`` and
    kernel sizes ``S`` of L_T2/L_T3 and the activations. Our defaults: 128 filters each (text embedding 128,
    audio 104 so that audio + text = 232 as the paper states), kernel size 3, ReLU. All are arguments.
    """

    def __init__(
        self,
        in_dim: int = 768,
        proj_dim: int = 128,
        filters: Sequence[int] = (128, 128),
        kernel_sizes: Sequence[int] = (3, 3),
        batch_norm: bool = True,
        dropout: float | Sequence[float] = 0.0,
        activation: Activation = "relu",
    ) -> None:
        super().__init__(
            in_dim,
            filters,
            kernel_sizes,
            proj_dim=proj_dim,
            batch_norm=batch_norm,
            dropout=dropout,
            activation=activation,
            pooling="mean",
        )


class PepinoAudioBranch(Conv1dBranch):
    """pepino2020 audio model (Sec. 2.2, Fig. 1 right) on 36-dim openSMILE LLDs + deltas at 100 frames/s.

    From the paper: "two convolutional layers L_A1 and L_A2 ... followed by mean-pooling over time" and
    "We applied dropout with 0.5 probability at the input of layer L_A2 only for the audio branch"
    (so ``dropout=(0.0, 0.5)``). The paper states batch norm for the text model only, so it is off here.

    Not in the text (Fig. 1): filters and kernel sizes. Our defaults: 128 then 104 filters (audio embedding
    104 + text 128 = the paper's 232-dim fused embedding), kernel size 5 (50 ms at 10 ms hop), ReLU.
    """

    def __init__(
        self,
        in_dim: int = 36,
        filters: Sequence[int] = (128, 104),
        kernel_sizes: Sequence[int] = (5, 5),
        batch_norm: bool = False,
        dropout: float | Sequence[float] = (0.0, 0.5),
        activation: Activation = "relu",
    ) -> None:
        super().__init__(
            in_dim,
            filters,
            kernel_sizes,
            proj_dim=None,
            batch_norm=batch_norm,
            dropout=dropout,
            activation=activation,
            pooling="mean",
        )


class CNNTextBranch(Conv1dBranch):
    """makiuchi2021 text (TER) model on transformer token features (Sec. 3.2, Fig. 1).

    Layer sizes follow the authors' released code (``text/txt_model.py``): Conv1D 256 filters kernel 1,
    256 kernel 1, 128 kernel 8, 64 kernel 4, ReLU after each, mean over time (embedding 64), then a linear
    output layer (the fusion model's branch head). Difference: our convolutions keep the length ('same'
    padding) so that masks stay aligned; theirs pad 1 frame on each side.
    """

    def __init__(
        self,
        in_dim: int = 1024,
        filters: Sequence[int] = (256, 256, 128, 64),
        kernel_sizes: Sequence[int] = (1, 1, 8, 4),
        batch_norm: bool = False,
        dropout: float | Sequence[float] = 0.0,
        activation: Activation = "relu",
    ) -> None:
        super().__init__(
            in_dim,
            filters,
            kernel_sizes,
            proj_dim=None,
            batch_norm=batch_norm,
            dropout=dropout,
            activation=activation,
            pooling="mean",
        )


def _dense_out(in_dim: int, out_dim: int | None, activation: Activation) -> tuple[nn.Module, int]:
    """The recurrent branches' output layer: ``(Linear + activation, out_dim)``, or ``(Identity, in_dim)`` when
    ``out_dim`` is 0/None (the pooled vector is the embedding)."""
    if out_dim:
        return nn.Sequential(nn.Linear(in_dim, out_dim), make_activation(activation)), out_dim
    return nn.Identity(), in_dim


class GRUAttentionBranch(nn.Module):
    """kumar2021 speech branch (Sec. 2.1.1, Eqs. 1-4): GRU over frames, attention pooling, dense layer.

    ``x: [B, T, in_dim]`` (mel 128, MFCC 40 or chroma 12), left-aligned ``mask: [B, T]`` ->
    ``{"embedding": [B, out_dim], "frames": [B, T, H], "mask": [B, T]}`` with ``H = hidden`` (x2 when
    bidirectional). The paper gives neither the GRU size nor the dense size; defaults 128 / 128 with ReLU.
    """

    def __init__(
        self,
        in_dim: int,
        hidden: int = 128,
        out_dim: int | None = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        attention_dim: int | None = None,
        activation: Activation = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.gru = nn.GRU(
            in_dim, hidden, num_layers=num_layers, batch_first=True, bidirectional=bidirectional
        )
        frame_dim = hidden * (2 if bidirectional else 1)
        self.pool = Pooling("attention", frame_dim, attention_dim)
        self.dropout = nn.Dropout(dropout)
        self.dense, self._out_dim = _dense_out(frame_dim, out_dim, activation)

    @property
    def out_dim(self) -> int:
        return self._out_dim

    def pre_pool_modules(self) -> list[nn.Module]:
        """The GRU (the layer right before attention pooling)."""
        return [self.gru]

    def forward(self, x: Tensor, mask: Tensor | None = None) -> BranchOutput:
        mask = check_inputs(x, mask)
        frames, _ = _run_packed(self.gru, x, mask)
        pooled = self.pool(frames, mask)
        return {"embedding": self.dense(self.dropout(pooled)), "frames": frames, "mask": mask}


class LSTMBranch(nn.Module):
    """kumar2021's baseline text model (Sec. 4.3: "Long Short Term Memory (LSTM) based DNN for the TER phase"):
    an LSTM over token vectors, its last hidden state, a dense layer.

    ``x: [B, T, in_dim]`` (token vectors), left-aligned ``mask: [B, T]`` -> ``{"embedding": [B, out_dim],
    "frames": [B, T, H], "mask": [B, T]}`` with ``H = hidden`` (x2 when bidirectional: both directions' last
    states are concatenated). The sizes are not given in the paper (its supplement holds them): 128 / 128, ReLU.
    """

    def __init__(
        self,
        in_dim: int,
        hidden: int = 128,
        out_dim: int | None = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        activation: Activation = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            in_dim, hidden, num_layers=num_layers, batch_first=True, bidirectional=bidirectional
        )
        state_dim = hidden * (2 if bidirectional else 1)
        self.dropout = nn.Dropout(dropout)
        self.dense, self._out_dim = _dense_out(state_dim, out_dim, activation)

    @property
    def out_dim(self) -> int:
        return self._out_dim

    def pre_pool_modules(self) -> list[nn.Module]:
        """The LSTM (its last state is the pooled vector)."""
        return [self.lstm]

    def forward(self, x: Tensor, mask: Tensor | None = None) -> BranchOutput:
        mask = check_inputs(x, mask)
        frames, (h_n, _) = _run_packed(self.lstm, x, mask)
        directions = 2 if self.lstm.bidirectional else 1
        last = h_n[-directions:].transpose(0, 1).reshape(x.shape[0], -1)  # the top layer's last state(s)
        embedding = self.dense(self.dropout(last))
        return {"embedding": embedding, "frames": frames, "mask": mask}


def _run_packed(rnn: nn.GRU | nn.LSTM, x: Tensor, mask: Tensor) -> tuple[Tensor, Any]:
    """Run ``rnn`` over the real frames only (packed by the left-aligned ``mask``).

    ``x: [B, T, D]`` -> (frames ``[B, T, H]`` with padding zeroed, the RNN's final state as it returns it).
    """
    lengths = lengths_from_mask(mask, require_prefix=True)
    packed = pack_padded_sequence(x, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False)
    out, state = rnn(packed)
    frames, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return zero_padding(frames, mask), state


class DenseBranch(nn.Module):
    """A branch for already-pooled vectors (a BERT sentence vector, eGeMAPS functionals, a silence ratio).

    ``x: [B, 1, in_dim]`` (or ``[B, T, in_dim]``, mean-pooled over real frames first), ``mask: [B, T]`` ->
    ``{"embedding": [B, out_dim], "frames": [B, 1, H], "mask": [B, 1]}``. With ``out_dim=None`` the
    vector passes through unchanged (perez2022 concatenates the CLS vector and silence ratio as they are);
    otherwise dropout -> Linear -> activation (kumar2021 turns each speech vector into C_i, M_i, F_i so).
    ``hidden``: a dense layer of that many units on every frame first (``H = hidden``, else ``H = in_dim``):
    kumar2021's baseline speech model, "dense layers without attention".
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int | None = 128,
        activation: Activation = "relu",
        dropout: float = 0.0,
        hidden: int | None = None,
    ) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.frame_dense = (
            FrameDense(in_dim, hidden, activation=activation, dropout=dropout) if hidden else None
        )
        width = hidden or in_dim
        if out_dim:
            self.dense: nn.Module = nn.Sequential(
                nn.Dropout(dropout), nn.Linear(width, out_dim), make_activation(activation)
            )
            self._out_dim = out_dim
        else:
            self.dense = nn.Identity()
            self._out_dim = width

    @property
    def out_dim(self) -> int:
        return self._out_dim

    def pre_pool_modules(self) -> list[nn.Module]:
        """The dense layers (empty when the branch passes the vector through)."""
        layers = [self.frame_dense, None if isinstance(self.dense, nn.Identity) else self.dense]
        return [m for m in layers if m is not None]

    def forward(self, x: Tensor, mask: Tensor | None = None) -> BranchOutput:
        mask = check_inputs(x, mask)
        if self.frame_dense is not None:
            x = self.frame_dense(x, mask)
        vector = masked_mean(x, mask)
        frames = vector.unsqueeze(1)
        one = mask.any(dim=1, keepdim=True)
        return {"embedding": self.dense(vector), "frames": frames, "mask": one}


class MeanMaxBranch(nn.Module):
    """deoliveira2023 branch over SSL hidden states: [layer weighting] -> [projection] -> mean+max pooling.

    ``x: [B, L, T, in_dim]`` when ``num_layers`` is given (learnable layer weights, Fig. 2), else
    ``[B, T, in_dim]``; ``mask: [B, T]`` -> ``{"embedding": [B, 2 * H], "frames": [B, T, H], "mask"}`` with
    ``H = proj_dim or in_dim``. ``layer_weights()`` returns the normalised weights ``[L]`` for plotting.
    """

    def __init__(
        self,
        in_dim: int,
        num_layers: int | None = None,
        layer_mode: LayerWeightMode = "softmax",
        proj_dim: int | None = None,
        dropout: float = 0.0,
        pooling: PoolingKind = "mean_max",
    ) -> None:
        super().__init__()
        self.layer_weighting = LayerWeighting(num_layers, layer_mode) if num_layers else None
        self.proj = FrameDense(in_dim, proj_dim, activation="relu", dropout=dropout) if proj_dim else None
        self.dropout = nn.Dropout(dropout)
        self.pool = Pooling(pooling, proj_dim or in_dim)

    @property
    def out_dim(self) -> int:
        return self.pool.out_dim

    def layer_weights(self) -> Tensor | None:
        """Normalised layer weights ``[L]`` or None without layer weighting."""
        return None if self.layer_weighting is None else self.layer_weighting.weights()

    def pre_pool_modules(self) -> list[nn.Module]:
        """Layer weighting and projection (whichever exist): the trainable layers before pooling."""
        return [m for m in (self.layer_weighting, self.proj) if m is not None]

    def forward(self, x: Tensor, mask: Tensor | None = None) -> BranchOutput:
        if self.layer_weighting is not None:
            x = self.layer_weighting(x, mask)
        elif x.dim() == 4:
            raise ValueError(
                f"MeanMaxBranch got layers {tuple(x.shape)} but was built without num_layers; "
                "pass num_layers=L or feed [B, T, D]"
            )
        mask = check_inputs(x, mask)
        h = zero_padding(x, mask)
        if self.proj is not None:
            h = self.proj(h, mask)
        return {"embedding": self.dropout(self.pool(h, mask)), "frames": h, "mask": mask}


#: branch ``type`` (a recipe's ``model.branches.<name>.type``) -> class: the one table of branches
BRANCHES: dict[str, type[nn.Module]] = {
    "pepino_text": PepinoTextBranch,  # pepino2020 Sec. 2.1
    "pepino_audio": PepinoAudioBranch,  # pepino2020 Sec. 2.2
    "conv1d": Conv1dBranch,
    "cnn_text": CNNTextBranch,  # makiuchi2021 text model
    "gru_attention": GRUAttentionBranch,  # kumar2021 speech branches
    "dense": DenseBranch,  # pooled vectors (BERT CLS, eGeMAPS, silence ratio)
    "lstm": LSTMBranch,  # kumar2021's baseline text model
    "mean_max": MeanMaxBranch,  # deoliveira2023 SSL branch with layer weighting
    "crossrep": CrossRepBranch,  # makiuchi2021 cross-representation SER model (multi-input)
}


def branch_output_dims(branches: dict[str, nn.Module]) -> dict[str, int]:
    """``{name: out_dim}``, with a clear error for a module that is not a branch."""
    dims = {}
    for name, branch in branches.items():
        dim = getattr(branch, "out_dim", None)
        if not isinstance(dim, int) or not hasattr(branch, "pre_pool_modules"):
            raise TypeError(f"branch {name!r} ({type(branch).__name__}) needs out_dim and pre_pool_modules()")
        dims[name] = dim
    return dims
