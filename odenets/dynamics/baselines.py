"""Next-frame baselines for the warping model: persistence, a U-Net, a ConvLSTM.

All map the last ``k`` frames ``(B, k, H, W)`` to the next one ``(B, 1, H, W)`` and are iterated
by :func:`odenets.dynamics.warping.rollout`. The U-Net and the ConvLSTM predict the increment
``Î_{t+1} − I_t`` (so that both start at persistence).

* :class:`Persistence`: ``Î_{t+1} = I_t``.
* :class:`UNetPredictor`: the encoder–decoder of the warping model with one output channel, the
  "plain conv / U-Net next-frame" baseline.
* :class:`ConvLSTMPredictor`: a ConvLSTM cell (Shi et al. 2015: gates ``i, f, o, g`` from 3×3
  convolutions of ``[x_t, h_{t−1}]``, ``c_t = f c_{t−1} + i g``, ``h_t = o tanh c_t``) run over the
  ``k`` input frames, the next frame read from ``h_k`` by a 1×1 convolution. The state is rebuilt
  from the last ``k`` frames at every prediction (a sliding window, like the other models).
"""

from __future__ import annotations

import torch
from torch import nn

from .._validation import check_positive_int
from .warping import UNet, check_frames


class Persistence(nn.Module):
    def __init__(self, frames: int = 4):
        super().__init__()
        self.frames = check_positive_int(frames, "frames")

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        check_frames(frames, self.frames)
        return frames[:, -1:]


class UNetPredictor(nn.Module):
    def __init__(self, frames: int = 4, width: int = 16, levels: int = 3):
        super().__init__()
        self.frames = check_positive_int(frames, "frames")
        self.net = UNet(frames, 1, width, levels)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        check_frames(frames, self.frames)
        return frames[:, -1:] + self.net(frames)


class ConvLSTMCell(nn.Module):
    def __init__(self, in_channels: int, hidden: int, kernel_size: int = 3):
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel_size,
                               padding=kernel_size // 2)  # fmt: skip

    def forward(self, x, state):
        h, c = state
        i, f, o, g = self.gates(torch.cat([x, h], 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class ConvLSTMPredictor(nn.Module):
    """Two stacked ConvLSTM cells (``hidden`` channels) on frames downsampled ×2, read out at full
    resolution by a transposed convolution."""

    def __init__(self, frames: int = 4, hidden: int = 32):
        super().__init__()
        self.frames = check_positive_int(frames, "frames")
        self.encode = nn.Sequential(nn.Conv2d(1, hidden, 3, stride=2, padding=1), nn.LeakyReLU(0.1))
        self.cells = nn.ModuleList([ConvLSTMCell(hidden, hidden), ConvLSTMCell(hidden, hidden)])
        self.decode = nn.Sequential(
            nn.ConvTranspose2d(2 * hidden, hidden, 4, stride=2, padding=1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(hidden + 1, 1, 3, padding=1),
        )

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        check_frames(frames, self.frames)
        b, k, h, w = frames.shape
        states = None
        for t in range(k):
            x = self.encode(frames[:, t : t + 1])
            if states is None:
                zeros = x.new_zeros(b, self.cells[0].hidden, *x.shape[-2:])
                states = [(zeros, zeros) for _ in self.cells]
            outs = []
            for n, cell in enumerate(self.cells):
                states[n] = cell(x, states[n])
                x = states[n][0]
                outs.append(x)
        hidden = torch.cat(outs, 1)
        up = self.decode[1](self.decode[0](hidden))
        return frames[:, -1:] + self.decode[2](torch.cat([up, frames[:, -1:]], 1))
