"""Seeding and RNG-state capture, so that a resumed run draws the same random numbers.

RNG states are stored as tensors and plain lists, which ``torch.load(weights_only=True)``
accepts: a checkpoint that carries them still loads without executing code.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and all GPUs)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the global generator third-party code uses
    torch.manual_seed(seed)  # also seeds every CUDA device


def capture_rng_state() -> dict:
    """The state of every global generator, as tensors and plain Python values."""
    version, mt_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    state = {
        "python": [version, list(mt_state), gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Restore the generators captured by :func:`capture_rng_state`."""
    version, mt_state, gauss = state["python"]
    random.setstate((version, tuple(mt_state), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def batch_generator(seed: int, epoch: int, step: int, rank: int) -> torch.Generator:
    """A generator for one batch's augmentation, a pure function of (seed, epoch, step, rank).

    Deriving it instead of drawing from a running generator means a resumed run, which
    skips the batches already consumed, augments the remaining ones exactly as before.
    """
    mixed = np.random.SeedSequence([seed, epoch, step, rank]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(mixed) & (2**63 - 1))
