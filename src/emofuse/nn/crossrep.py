"""makiuchi2021 cross-representation speech model: an AutoVC-like encoder/decoder that reconstructs an 80-bin
log-mel spectrogram from wav2vec 2.0 features, with an emotion classifier on the bottleneck (Sec. 3.1).

Shapes (per fixed-length segment, ``T = segment_frames`` = 96 in the paper, about 2 s at 20 ms):

- ``features``: ``[B, L, T, D]`` all SSL layers (learnable weighted average, Eq. 1) or ``[B, T, D]``;
- ``speaker``: ``[B, S]`` speaker embedding (Resemblyzer, S = 256, averaged per speaker in the paper);
- ``phones``: ``[B, T]`` phone ids (< ``n_phones`` = 128, one-hot inside) or ``[B, T, n_phones]`` floats;
- ``mask``: ``[B, T]`` real frames (the last segment of an utterance is zero-padded, as in the paper;
  the mask keeps padded frames out of the reconstruction loss).

Layer sizes follow the authors' released code (``speech/models.py``): encoder 3 x (Conv1d k=5 + BN + ReLU)
with ``conv_dim`` channels (2048 for wav2vec input) -> 2-layer BLSTM with ``dim_neck`` units -> downsampling
every ``freq`` frames (codes ``[B, T/freq, 2 * dim_neck]``; "Small": d = 8, f = 48; "Large": 128, 2);
phone encoder 3 x (Conv1d 512 k=5 + BN + ReLU) -> 2-layer BLSTM; decoder LSTM(dim_pre = 512) ->
3 x (Conv1d k=5 + BN + ReLU) -> 2-layer LSTM(1024) -> Linear(80); postnet 5 x Conv1d k=5 with tanh;
classifier 2 x Linear(128) on the flattened codes. Difference: ReLU between the classifier's layers (the
released code stacks them without an activation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emofuse.nn.layer_weighting import LayerWeighting, LayerWeightMode
from emofuse.nn.losses import WeightedCrossEntropy

__all__ = [
    "CrossRepBranch",
    "CrossRepresentationLoss",
    "CrossRepresentationModel",
    "crop_frames",
    "fit_length",
    "segment_frames",
]


def _conv_stack(in_dim: int, dim: int, n: int = 3, kernel_size: int = 5) -> nn.ModuleList:
    return nn.ModuleList(
        nn.Sequential(
            nn.Conv1d(in_dim if i == 0 else dim, dim, kernel_size, padding=kernel_size // 2),
            nn.BatchNorm1d(dim),
            nn.ReLU(),
        )
        for i in range(n)
    )


def _run_convs(convs: nn.ModuleList, x: Tensor) -> Tensor:
    """``x: [B, T, C]`` -> ``[B, T, C']`` through channel-first convolutions."""
    h = x.transpose(1, 2)
    for block in convs:
        h = block(h)
    return h.transpose(1, 2)


def segment_frames(x: Tensor, segment_frames: int = 96) -> tuple[Tensor, Tensor]:
    """Cut an utterance into non-overlapping segments, zero-padding the last (makiuchi2021 inference).

    ``x: [T, D]`` or ``[L, T, D]`` -> (segments ``[S, T_seg, D]`` or ``[S, L, T_seg, D]``, mask
    ``[S, T_seg]``) with ``S = ceil(T / T_seg)``. Average the segments' probabilities for the utterance.
    """
    time_axis = x.dim() - 2
    n_frames = x.shape[time_axis]
    if n_frames == 0:
        raise ValueError("segment_frames got an empty utterance (0 frames)")
    n_seg = -(-n_frames // segment_frames)
    pad = n_seg * segment_frames - n_frames
    pad_spec = [0, 0, 0, pad]  # last dim (D) no pad, time axis padded at the end
    padded = F.pad(x, pad_spec)
    if x.dim() == 2:
        segments = padded.reshape(n_seg, segment_frames, x.shape[-1])
    else:
        segments = padded.reshape(x.shape[0], n_seg, segment_frames, x.shape[-1]).transpose(0, 1)
    mask = (torch.arange(n_seg * segment_frames, device=x.device) < n_frames).reshape(n_seg, segment_frames)
    return segments, mask


class CrossRepresentationModel(nn.Module):
    """Encoder (SSL features + speaker -> bottleneck codes), classifier on the codes, and a decoder
    (codes + speaker + phone encoding -> 80-bin log-mel) with a postnet. See the module docstring."""

    def __init__(
        self,
        feature_dim: int = 1024,
        n_classes: int | None = 4,
        num_layers: int | None = 25,
        layer_mode: LayerWeightMode = "sum_normalized",
        speaker_dim: int = 256,
        n_phones: int = 128,
        segment_frames: int = 96,
        dim_neck: int = 8,
        freq: int = 48,
        conv_dim: int = 2048,
        phone_conv_dim: int = 512,
        dim_phone_emb: int = 32,
        dim_pre: int = 512,
        decoder_lstm_dim: int = 1024,
        postnet_dim: int = 512,
        n_mels: int = 80,
        classifier_hidden: int = 128,
        classifier_dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if segment_frames % freq != 0:
            raise ValueError(f"segment_frames ({segment_frames}) must be a multiple of freq ({freq})")
        self.segment_frames = segment_frames
        self.freq = freq
        self.dim_neck = dim_neck
        self.n_phones = n_phones
        self.n_mels = n_mels
        self.layer_weighting = LayerWeighting(num_layers, layer_mode) if num_layers else None
        self.encoder_convs = _conv_stack(feature_dim + speaker_dim, conv_dim)
        self.encoder_lstm = nn.LSTM(conv_dim, dim_neck, 2, batch_first=True, bidirectional=True)
        self.code_dim = 2 * dim_neck * (segment_frames // freq)
        self.classifier_hidden = classifier_hidden
        layers: list[nn.Module] = [
            nn.Linear(self.code_dim, classifier_hidden),
            nn.ReLU(),
            nn.Linear(classifier_hidden, classifier_hidden),
            nn.ReLU(),
            nn.Dropout(classifier_dropout),
        ]
        if n_classes is not None:  # None: the last layer is the caller's head (CrossRepBranch)
            layers.append(nn.Linear(classifier_hidden, n_classes))
        self.classifier = nn.Sequential(*layers)
        self.phone_convs = _conv_stack(n_phones, phone_conv_dim)
        self.phone_lstm = nn.LSTM(phone_conv_dim, dim_phone_emb, 2, batch_first=True, bidirectional=True)
        self.decoder_lstm1 = nn.LSTM(
            2 * dim_neck + speaker_dim + 2 * dim_phone_emb, dim_pre, 1, batch_first=True
        )
        self.decoder_convs = _conv_stack(dim_pre, dim_pre)
        self.decoder_lstm2 = nn.LSTM(dim_pre, decoder_lstm_dim, 2, batch_first=True)
        self.mel_out = nn.Linear(decoder_lstm_dim, n_mels)
        dims = [n_mels, postnet_dim, postnet_dim, postnet_dim, postnet_dim, n_mels]
        self.postnet = nn.ModuleList(
            nn.Sequential(nn.Conv1d(dims[i], dims[i + 1], 5, padding=2), nn.BatchNorm1d(dims[i + 1]))
            for i in range(5)
        )

    @property
    def out_dim(self) -> int:
        """Size of the flattened bottleneck (the classifier's input)."""
        return self.code_dim

    def pre_pool_modules(self) -> list[nn.Module]:
        """The encoder BLSTM (the layer right before downsampling)."""
        return [self.encoder_lstm]

    def layer_weights(self) -> Tensor | None:
        """Normalised SSL layer weights ``[L]`` or None."""
        return None if self.layer_weighting is None else self.layer_weighting.weights()

    def encode(self, features: Tensor, speaker: Tensor, mask: Tensor | None = None) -> Tensor:
        """Bottleneck codes ``[B, T/freq, 2 * dim_neck]`` for ``features [B, (L,) T, D]``, ``speaker [B, S]``."""
        if self.layer_weighting is not None:
            features = self.layer_weighting(features)
        if features.dim() != 3 or features.shape[1] != self.segment_frames:
            raise ValueError(
                f"CrossRepresentationModel expects segments of {self.segment_frames} frames "
                f"([B, T, D] after layer weighting); got {tuple(features.shape)}. Cut with segment_frames()."
            )
        if mask is not None:
            features = features * mask.unsqueeze(-1).to(features.dtype)
        n_frames = features.shape[1]
        spk = speaker.unsqueeze(1).expand(-1, n_frames, -1)
        h = _run_convs(self.encoder_convs, torch.cat([features, spk], dim=-1))
        out, _ = self.encoder_lstm(h)
        forward, backward = out[..., : self.dim_neck], out[..., self.dim_neck :]
        # AutoVC downsampling: forward state at the end of each block, backward state at its start
        fwd = forward[:, self.freq - 1 :: self.freq]
        bwd = backward[:, :: self.freq]
        return torch.cat([fwd, bwd], dim=-1)

    def decode(self, codes: Tensor, speaker: Tensor, phones: Tensor) -> tuple[Tensor, Tensor]:
        """(mel ``[B, T, n_mels]``, mel after postnet ``[B, T, n_mels]``) from codes, speaker and phones."""
        n_frames = codes.shape[1] * self.freq
        if phones.dim() == 2:
            if bool((phones < 0).any()) or bool((phones >= self.n_phones).any()):
                raise ValueError(f"phone ids must lie in 0..{self.n_phones - 1}")
            phones = F.one_hot(phones.long(), self.n_phones).to(codes.dtype)
        if phones.shape[:2] != (codes.shape[0], n_frames) or phones.shape[-1] != self.n_phones:
            raise ValueError(
                f"phones must be [B, {n_frames}] ids or [B, {n_frames}, {self.n_phones}]; got {tuple(phones.shape)}"
            )
        phone_emb, _ = self.phone_lstm(_run_convs(self.phone_convs, phones))
        up = codes.repeat_interleave(self.freq, dim=1)
        spk = speaker.unsqueeze(1).expand(-1, n_frames, -1)
        h, _ = self.decoder_lstm1(torch.cat([up, spk, phone_emb], dim=-1))
        h = _run_convs(self.decoder_convs, h)
        h, _ = self.decoder_lstm2(h)
        mel = self.mel_out(h)
        p = mel.transpose(1, 2)
        for i, block in enumerate(self.postnet):
            p = block(p)
            if i < len(self.postnet) - 1:
                p = torch.tanh(p)
        return mel, mel + p.transpose(1, 2)

    def forward(
        self,
        features: Tensor,
        speaker: Tensor,
        phones: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """``{"logits": [B, C], "embedding": [B, out_dim], "codes": [B, T/freq, 2d]}`` plus ``"mel"`` and
        ``"mel_postnet"`` ``[B, T, n_mels]`` when ``phones`` are given (training). Built with
        ``n_classes=None``, ``"logits"`` holds the classifier's last hidden layer ``[B, classifier_hidden]``."""
        codes = self.encode(features, speaker, mask)
        flat = codes.flatten(1)
        out = {"logits": self.classifier(flat), "embedding": flat, "codes": codes}
        if phones is not None:
            out["mel"], out["mel_postnet"] = self.decode(codes, speaker, phones)
        return out


class CrossRepresentationLoss(nn.Module):
    """makiuchi2021 objective: ``L_r1 + L_r2 + L_e`` (Sec. 3.1.7).

    ``L_r1`` / ``L_r2``: mean squared error of the decoder output before / after the postnet against the
    target log-mel ``[B, T, n_mels]`` over real frames (``mask [B, T]``); ``L_e``: cross-entropy of the
    classifier's logits (optionally class-weighted). Returns ``{"loss", "recon", "recon_postnet", "emotion"}``.
    """

    def __init__(
        self,
        class_weights: Tensor | None = None,
        recon_weight: float = 1.0,
        emotion_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.ce = WeightedCrossEntropy(class_weights)
        self.recon_weight = recon_weight
        self.emotion_weight = emotion_weight

    @staticmethod
    def _masked_mse(pred: Tensor, target: Tensor, mask: Tensor | None) -> Tensor:
        err = (pred - target) ** 2
        if mask is None:
            return err.mean()
        w = mask.unsqueeze(-1).to(err.dtype)
        return (err * w).sum() / (w.sum() * err.shape[-1]).clamp_min(1.0)

    def forward(
        self, out: dict[str, Tensor], mel_target: Tensor, labels: Tensor, mask: Tensor | None = None
    ) -> dict[str, Tensor]:
        if "mel" not in out:
            raise ValueError("model output has no mel: call the model with phones for training")
        r1 = self._masked_mse(out["mel"], mel_target, mask)
        r2 = self._masked_mse(out["mel_postnet"], mel_target, mask)
        emotion = self.ce(out["logits"], labels)
        loss = self.recon_weight * (r1 + r2) + self.emotion_weight * emotion
        return {"loss": loss, "recon": r1, "recon_postnet": r2, "emotion": emotion}


def fit_length(x: Tensor, n_frames: int, time_axis: int = 1) -> Tensor:
    """Cut or zero-pad ``x`` along ``time_axis`` to ``n_frames`` (aligns an auxiliary frame sequence, e.g. the
    log-mel target or the phone ids, whose frame count differs by a frame or two from the SSL features')."""
    have = x.shape[time_axis]
    if have >= n_frames:
        return x.narrow(time_axis, 0, n_frames)
    pad = [0, 0] * (x.dim() - 1 - time_axis) + [0, n_frames - have]
    return F.pad(x, pad)


def crop_frames(lengths: Tensor, segment_frames: int, generator: torch.Generator | None = None) -> Tensor:
    """Random crop starts for training (makiuchi2021: "segments are randomly cropped from the utterances").

    ``lengths: [B]`` real frames per utterance -> frame indices ``[B, segment_frames]`` (``start + 0..S-1``,
    ``start`` uniform in ``0..max(length - S, 0)``). Indices past an utterance's end point at padding, which
    the caller masks (an utterance shorter than a segment is zero-padded, as at inference).
    """
    room = (lengths - segment_frames).clamp_min(0) + 1
    starts = (torch.rand(lengths.shape, generator=generator, device=lengths.device) * room).long()
    starts = torch.minimum(starts, room - 1)
    return starts.unsqueeze(1) + torch.arange(segment_frames, device=lengths.device).unsqueeze(0)


def _gather_time(x: Tensor, index: Tensor) -> Tensor:
    """``x: [B, T, D]`` or ``[B, L, T, D]``, ``index: [B, S]`` (clamped to ``T - 1``) -> ``[B, (L,) S, D]``."""
    index = index.clamp(max=x.shape[-2] - 1)
    if x.dim() == 3:
        return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    idx = index.unsqueeze(1).unsqueeze(-1).expand(-1, x.shape[1], -1, x.shape[-1])
    return torch.gather(x, 2, idx)


class CrossRepBranch(nn.Module):
    """makiuchi2021's SER model as a branch of a ``FusionModel`` (registered as ``crossrep``).

    Inputs: ``x: [B, L, T, D]`` (all SSL layers, ``num_layers = L``) or ``[B, T, D]`` (one layer, or log-mel for
    the paper's mel-input ablation), ``mask: [B, T]``, and ``extras`` ``{role: (tensor, mask)}`` from the
    branch's other inputs: ``speaker`` ``[B, 1, S]`` (the speaker's mean embedding; required), and, for
    training only, ``phones`` ``[B, T', 1]`` (phone ids as floats) and ``mel`` ``[B, T', n_mels]`` (the
    reconstruction target), at the same frame rate as ``x`` (``T'`` is cut or padded to ``T``).

    * Training (``self.training``): one random ``segment_frames`` crop per utterance (the same frames of every
      input); returns ``{"embedding": [B, H]}`` (the classifier's last hidden layer; the ``FusionModel``'s
      branch head is the classifier's output layer) and, when ``phones`` and ``mel`` are given,
      ``"aux_losses": {"recon": w * L_r1, "recon_postnet": w * L_r2}`` (masked MSE, ``w = recon_weight``).
    * Evaluation: every utterance is cut into non-overlapping segments (the last zero-padded); returns
      ``"segments": [N_seg, H]`` with ``"segment_index": [N_seg]`` (utterance of each segment): the
      ``FusionModel`` averages the per-segment probabilities of its head; ``"embedding"`` is the mean of
      the utterance's segment embeddings ``[B, H]``; ``"codes"`` the bottleneck codes ``[N_seg, code_dim]``.
    """

    extra_roles: tuple[str, ...] = ("speaker", "phones", "mel")

    def __init__(
        self,
        in_dim: int,
        num_layers: int | None = None,
        layer_mode: LayerWeightMode = "sum_normalized",
        speaker_dim: int = 256,
        n_phones: int = 128,
        segment_frames: int = 96,
        dim_neck: int = 8,
        freq: int = 48,
        conv_dim: int = 2048,
        phone_conv_dim: int = 512,
        dim_phone_emb: int = 32,
        dim_pre: int = 512,
        decoder_lstm_dim: int = 1024,
        postnet_dim: int = 512,
        n_mels: int = 80,
        classifier_hidden: int = 128,
        classifier_dropout: float = 0.5,
        recon_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.model = CrossRepresentationModel(
            feature_dim=in_dim, n_classes=None, num_layers=num_layers, layer_mode=layer_mode,
            speaker_dim=speaker_dim, n_phones=n_phones, segment_frames=segment_frames, dim_neck=dim_neck,
            freq=freq, conv_dim=conv_dim, phone_conv_dim=phone_conv_dim, dim_phone_emb=dim_phone_emb,
            dim_pre=dim_pre, decoder_lstm_dim=decoder_lstm_dim, postnet_dim=postnet_dim, n_mels=n_mels,
            classifier_hidden=classifier_hidden, classifier_dropout=classifier_dropout,
        )  # fmt: skip
        self.segment_frames = segment_frames
        self.recon_weight = float(recon_weight)
        self.out_dim = classifier_hidden

    def pre_pool_modules(self) -> list[nn.Module]:
        return self.model.pre_pool_modules()

    def layer_weights(self) -> Tensor | None:
        return self.model.layer_weights()

    @staticmethod
    def _speaker(extras: dict[str, tuple[Tensor, Tensor]]) -> Tensor:
        if "speaker" not in extras:
            raise ValueError("CrossRepBranch needs a speaker embedding input (role 'speaker')")
        spk = extras["speaker"][0]
        return spk.reshape(spk.shape[0], -1) if spk.dim() == 3 and spk.shape[1] == 1 else spk.mean(dim=1)

    def forward(
        self, x: Tensor, mask: Tensor | None = None, extras: dict[str, tuple[Tensor, Tensor]] | None = None
    ) -> dict[str, Tensor | dict[str, Tensor]]:
        extras = dict(extras or {})
        n_frames = x.shape[-2]
        if mask is None:
            mask = torch.ones(x.shape[0], n_frames, dtype=torch.bool, device=x.device)
        speaker = self._speaker(extras)
        lengths = mask.sum(dim=1).clamp_min(1)
        if self.training:
            return self._train_forward(x, mask, lengths, speaker, extras)
        return self._eval_forward(x, lengths, speaker)

    def _train_forward(
        self,
        x: Tensor,
        mask: Tensor,
        lengths: Tensor,
        speaker: Tensor,
        extras: dict[str, tuple[Tensor, Tensor]],
    ) -> dict[str, Tensor | dict[str, Tensor]]:
        n_frames = x.shape[-2]
        index = crop_frames(lengths, self.segment_frames)
        crop_mask = index < lengths.unsqueeze(1)
        seg = _gather_time(x, index)
        codes = self.model.encode(seg, speaker, crop_mask)
        hidden = self.model.classifier(codes.flatten(1))
        out: dict[str, Tensor | dict[str, Tensor]] = {"embedding": hidden, "codes": codes.flatten(1)}
        if "phones" in extras and "mel" in extras and self.recon_weight > 0:
            phones, phone_mask = (fit_length(t, n_frames) for t in extras["phones"])
            mel, mel_mask = (fit_length(t, n_frames) for t in extras["mel"])
            ids = _gather_time(phones, index)[..., 0].round().long().clamp(0, self.model.n_phones - 1)
            target = _gather_time(mel, index)
            recon_mask = crop_mask & torch.gather(mel_mask & phone_mask, 1, index.clamp(max=n_frames - 1))
            mel_pred, mel_post = self.model.decode(codes, speaker, ids)
            w = self.recon_weight
            r1 = CrossRepresentationLoss._masked_mse(mel_pred, target, recon_mask)
            r2 = CrossRepresentationLoss._masked_mse(mel_post, target, recon_mask)
            out["aux_losses"] = {"recon": w * r1, "recon_postnet": w * r2}
        return out

    def _eval_forward(
        self, x: Tensor, lengths: Tensor, speaker: Tensor
    ) -> dict[str, Tensor | dict[str, Tensor]]:
        segments, masks, owners = [], [], []
        for b in range(x.shape[0]):
            real = x[b].narrow(-2, 0, int(lengths[b]))
            seg, seg_mask = segment_frames(real, self.segment_frames)
            segments.append(seg)
            masks.append(seg_mask)
            owners.append(torch.full((seg.shape[0],), b, dtype=torch.long, device=x.device))
        seg_x, seg_mask, owner = torch.cat(segments), torch.cat(masks), torch.cat(owners)
        codes = self.model.encode(seg_x, speaker[owner], seg_mask)
        hidden = self.model.classifier(codes.flatten(1))
        counts = torch.bincount(owner, minlength=x.shape[0]).clamp_min(1).unsqueeze(1).to(hidden.dtype)
        embedding = torch.zeros(x.shape[0], hidden.shape[1], dtype=hidden.dtype, device=hidden.device)
        embedding = embedding.index_add(0, owner, hidden) / counts
        return {"embedding": embedding, "segments": hidden, "segment_index": owner, "codes": codes.flatten(1)}
