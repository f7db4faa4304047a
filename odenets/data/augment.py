"""Batch augmentation for CIFAR/STL: random crop after zero padding, and horizontal flips.

Done on whole batches on the training device, with an explicit ``torch.Generator``, so a
batch is augmented the same way whenever it is replayed (exact resume).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_crop_flip(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Random ``H×W`` crop of each image zero-padded by ``padding``, then a flip with p = 1/2.

    The standard CIFAR augmentation (He et al. 2016: pad 4, crop 32, flip). Padding is
    applied to the normalised images, so the border is the mean colour.
    """
    b, _, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, b), generator=generator).to(x.device)
    flips = (torch.rand(b, generator=generator) < 0.5).to(x.device)
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = offsets[0][:, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = offsets[1][:, None] + torch.arange(w, device=x.device)  # (B, W)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
