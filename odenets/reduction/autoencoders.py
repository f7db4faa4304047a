"""Autoencoders as nonlinear trial manifolds, and their training.

* :class:`MaskedShallowAE`: Kim, Choi, Widemann & Zohdi (JCP 2022, ``LLNL/NM-ROM``,
  ``train_NM-ROM_v2_swish_red-dim_*.ipynb``): encoder ``N → 2N → p`` (swish, the last layer
  without bias), decoder ``p → M₂ → N`` without biases, swish, whose output layer is sparse:
  output ``i`` sees only the hidden units ``i·δb … i·δb + b − 1`` (``b = 36``, ``δb = 12``,
  ``M₂ = b + (N − 1) δb``). With no biases and ``swish(0) = 0``, ``d(0) = 0``. The sparse
  layer is stored as its ``N × b`` band (the same function as their pruned dense layer,
  initialised like it: ``U(±1/√M₂)``); its Jacobian ``J_d = W₂ diag(swish'(W₁ẑ)) W₁`` is
  computed band by band in ``O(N b p)``.
* :class:`ConvAE`: a deep convolutional autoencoder in the style of Lee & Carlberg (JCP 2020):
  periodic strided 1-D convolutions (ELU) to a dense latent layer, mirrored by transposed
  convolutions; its Jacobian is taken by ``torch.func.jacfwd``.

:func:`train_autoencoder` follows Kim et al.'s settings (Adam, lr 1e-3, ReduceLROnPlateau with
patience 10, batch 20, MSE, a random 10 % of the snapshots held out for model selection, best
held-out weights kept, early stop after ``patience = 200`` epochs without improvement, their
``10000 // 50``) with the number of epochs and an optional wall-time limit as arguments.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .errors import check_latent_size, check_snapshots


class MaskedShallowAE(nn.Module):
    """Kim et al.'s shallow masked autoencoder (sparse decoder, swish)."""

    def __init__(
        self,
        n_dofs: int,
        latent: int,
        *,
        bandwidth: int = 36,
        shift: int = 12,
        encoder_width: int | None = None,
    ):
        super().__init__()
        check_latent_size(latent, n_dofs, n_dofs)
        self.n_dofs, self.latent = n_dofs, latent
        width = encoder_width or 2 * n_dofs
        hidden = bandwidth + (n_dofs - 1) * shift
        self.encoder = nn.Sequential(
            nn.Linear(n_dofs, width), nn.SiLU(), nn.Linear(width, latent, bias=False)
        )
        self.decoder = _MaskedDecoder(latent, n_dofs, hidden, bandwidth, shift)

    def forward(self, u):
        return self.decoder(self.encoder(u))


class _MaskedDecoder(nn.Module):
    def __init__(self, latent, n_dofs, hidden, bandwidth, shift):
        super().__init__()
        self.latent = latent
        self.first = nn.Linear(latent, hidden, bias=False)
        bound = 1 / math.sqrt(hidden)  # torch's Linear init for the full (pruned) layer
        self.band = nn.Parameter(torch.empty(n_dofs, bandwidth).uniform_(-bound, bound))
        self.bandwidth, self.shift = bandwidth, shift
        index = torch.arange(n_dofs)[:, None] * shift + torch.arange(bandwidth)[None, :]
        self.register_buffer("index", index, persistent=False)

    def forward(self, z):
        h = F.silu(self.first(z))
        return (h.unfold(-1, self.bandwidth, self.shift) * self.band).sum(-1)

    def forward_with_jacobian(self, z):
        """``(d(z), J_d(z))`` for one latent vector ``z`` ``(p,)``."""
        pre = self.first(z)
        sig = torch.sigmoid(pre)
        act = pre * sig
        slope = sig + act * (1 - sig)  # swish'
        out = (act[self.index] * self.band).sum(-1)
        rows = (slope[:, None] * self.first.weight)[self.index]  # (N, b, p)
        return out, torch.einsum("nb,nbp->np", self.band, rows)


class ConvAE(nn.Module):
    """Periodic 1-D convolutional autoencoder (Lee & Carlberg style), ``n_dofs`` divisible by 8."""

    def __init__(self, n_dofs: int, latent: int, *, channels=(8, 16, 32), kernel: int = 5):
        super().__init__()
        check_latent_size(latent, n_dofs, n_dofs)
        factor = 2 ** len(channels)
        if n_dofs % factor:
            raise ValueError(f"ConvAE needs n_dofs divisible by {factor}, got {n_dofs}")
        self.n_dofs, self.latent, self.kernel = n_dofs, latent, kernel
        self.coarse = n_dofs // factor
        chans = (1, *channels)
        self.down = nn.ModuleList(
            nn.Conv1d(a, b, kernel, stride=2) for a, b in zip(chans[:-1], chans[1:], strict=True)
        )
        flat = channels[-1] * self.coarse
        self.to_latent = nn.Linear(flat, latent)
        self.from_latent = nn.Linear(latent, flat)
        self.up = nn.ModuleList(
            nn.Conv1d(b, a * 2, kernel) for a, b in zip(chans[:-1], chans[1:], strict=True)
        )
        self.channels = channels

    def encode(self, u):
        h = u[:, None, :]
        for conv in self.down:
            pad = (self.kernel // 2, self.kernel // 2 - 1)  # stride 2 halves the length
            h = F.elu(conv(F.pad(h, pad, mode="circular")))
        return self.to_latent(h.flatten(1))

    def decode(self, z):
        h = F.elu(self.from_latent(z)).view(-1, self.channels[-1], self.coarse)
        for i, conv in reversed(list(enumerate(self.up))):
            h = conv(F.pad(h, (self.kernel // 2, self.kernel // 2), mode="circular"))
            h = _pixel_shuffle_1d(h)  # (B, 2a, L) -> (B, a, 2L): a transposed conv, periodic
            if i > 0:
                h = F.elu(h)
        return h[:, 0, :]

    def forward(self, u):
        return self.decode(self.encode(u))

    @property
    def decoder(self):
        return _ConvDecoder(self)


class _ConvDecoder(nn.Module):
    def __init__(self, ae):
        super().__init__()
        self.ae = ae
        self.latent = ae.latent

    def forward(self, z):
        return self.ae.decode(z)


def _pixel_shuffle_1d(h):
    b, c2, length = h.shape
    return h.view(b, c2 // 2, 2, length).permute(0, 1, 3, 2).reshape(b, c2 // 2, 2 * length)


def encoder_of(model: nn.Module):
    return model.encoder if hasattr(model, "encoder") else model.encode


@dataclass
class TrainingRecord:
    epochs: int
    best_epoch: int
    best_validation_mse: float
    train_mse: float
    wall_time: float
    stopped_by: str


def train_autoencoder(
    model: nn.Module,
    snapshots,
    *,
    epochs: int,
    batch_size: int = 20,
    lr: float = 1e-3,
    validation_fraction: float = 0.1,
    seed: int = 0,
    patience: int = 200,
    time_limit: float | None = None,
) -> TrainingRecord:
    """Train ``model`` (``forward(u) ≈ u``) on ``snapshots`` ``(m, N)`` in float32, in place."""
    data = check_snapshots(snapshots).float()
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(data), generator=gen)
    n_val = max(1, int(validation_fraction * len(data)))
    val, train = data[perm[:n_val]], data[perm[n_val:]]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=10)
    best, best_state, best_epoch, stale = math.inf, copy.deepcopy(model.state_dict()), 0, 0
    start, stopped, epoch = time.perf_counter(), "epochs", 0
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=gen)
        total = 0.0
        for i in range(0, len(train), batch_size):
            batch = train[order[i : i + batch_size]]
            opt.zero_grad()
            loss = F.mse_loss(model(batch), batch)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
        sched.step(total / len(train))
        model.eval()
        with torch.no_grad():
            val_mse = float(F.mse_loss(model(val), val))
        if val_mse < best:
            best, best_epoch, stale = val_mse, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
            if stale >= patience:
                stopped = "early stop"
                break
        if time_limit is not None and time.perf_counter() - start > time_limit:
            stopped = "time limit"
            break
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        train_mse = float(F.mse_loss(model(train), train))
    return TrainingRecord(epoch, best_epoch, best, train_mse, time.perf_counter() - start, stopped)


def reconstruction_error(model: nn.Module, snapshots) -> float:
    """Relative RMS reconstruction error ``‖S − d(e(S))‖_F / ‖S‖_F`` (float32 model)."""
    s = check_snapshots(snapshots).float()
    with torch.no_grad():
        rec = model(s)
    return float(torch.linalg.norm(s - rec) / torch.linalg.norm(s))
