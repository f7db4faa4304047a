"""A synthetic 1-D classification dataset generated in code: ``waveforms`` (no download).

Ten classes of waveforms of length 40 (the layout of the ``*_signal`` models), each drawn
with a random amplitude, frequency, phase, offset and position and buried in white Gaussian
noise, so that no single feature separates them:

====  ==========================  =====================================================
 0    sine                        ``a sin(2π f t + φ)``
 1    square                      ``a sign(sin(2π f t + φ))``
 2    sawtooth                    ``a (2 frac(f t + φ/2π) − 1)``
 3    triangle                    ``a (2 |2 frac(f t + φ/2π) − 1| − 1)``
 4    rising chirp                ``a sin(2π (f t + k t²) + φ)``, ``k > 0``
 5    falling chirp               the same with ``k < 0`` (and a higher start frequency)
 6    Gaussian pulse              ``a exp(−(t − c)² / 2w²)``
 7    two pulses                  two Gaussian pulses at random, separated centres
 8    step                        ``a tanh((t − c)/w)``, a smoothed step up or down
 9    damped oscillation          ``a exp(−d t) sin(2π f t + φ)``
====  ==========================  =====================================================

with ``t ∈ [0, 1)`` on 40 samples, frequencies 1.5–4 cycles per signal, amplitudes 0.6–1.4,
a random offset in ±0.3 and noise of standard deviation ``noise`` (default 0.35). The set is
a function of its seed only: 1,200 / 400 / 400 signals (train / validation / test, balanced),
inputs ``(N, 1, 40)``.
"""

from __future__ import annotations

import numpy as np

from .images import ImageDataset, Split, channel_stats

LENGTH = 40
CLASSES = ("sine", "square", "sawtooth", "triangle", "rising_chirp", "falling_chirp", "pulse",
           "two_pulses", "step", "damped")  # fmt: skip
SIZES = {"train": 1200, "val": 400, "test": 400}
SEED = 1234  # the dataset is fixed: it does not move with the training seed


def waveform(label: int, rng: np.random.Generator, length: int = LENGTH) -> np.ndarray:
    """One clean waveform of class ``label`` (see the module docstring), length ``length``."""
    t = np.arange(length) / length
    a = rng.uniform(0.6, 1.4)
    f = rng.uniform(1.5, 4.0)
    phi = rng.uniform(0, 2 * np.pi)
    phase = f * t + phi / (2 * np.pi)
    frac = phase - np.floor(phase)
    if label == 0:
        x = a * np.sin(2 * np.pi * phase)
    elif label == 1:
        x = a * np.sign(np.sin(2 * np.pi * phase))
    elif label == 2:
        x = a * (2 * frac - 1)
    elif label == 3:
        x = a * (2 * np.abs(2 * frac - 1) - 1)
    elif label == 4:
        k = rng.uniform(1.5, 3.0)
        x = a * np.sin(2 * np.pi * (f * t + k * t**2) + phi)
    elif label == 5:
        k = rng.uniform(1.5, 3.0)
        x = a * np.sin(2 * np.pi * ((f + 2 * k) * t - k * t**2) + phi)
    elif label == 6:
        c, w = rng.uniform(0.2, 0.8), rng.uniform(0.04, 0.1)
        x = a * np.exp(-((t - c) ** 2) / (2 * w**2))
    elif label == 7:
        c1 = rng.uniform(0.15, 0.45)
        c2 = c1 + rng.uniform(0.25, 0.4)
        w = rng.uniform(0.03, 0.07)
        x = a * (np.exp(-((t - c1) ** 2) / (2 * w**2)) + np.exp(-((t - c2) ** 2) / (2 * w**2)))
    elif label == 8:
        c, w = rng.uniform(0.25, 0.75), rng.uniform(0.02, 0.08)
        x = a * rng.choice([-1.0, 1.0]) * np.tanh((t - c) / w)
    elif label == 9:
        d = rng.uniform(3.0, 6.0)
        x = a * np.exp(-d * t) * np.sin(2 * np.pi * phase) * 2.0
    else:
        raise ValueError(f"label must be in 0..{len(CLASSES) - 1}, got {label!r}")
    return x + rng.uniform(-0.3, 0.3)


def make_waveforms(n: int, seed: int, noise: float = 0.35, length: int = LENGTH):
    """``n`` noisy waveforms ``(n, 1, length)`` (float32) and labels (balanced, shuffled)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(CLASSES))
    x = np.stack([waveform(int(label), rng, length) for label in y])
    x = x + noise * rng.standard_normal(x.shape)
    return x[:, None].astype(np.float32), y.astype(np.int64)


def load_waveforms(val_fraction: float | None = None, **_) -> ImageDataset:
    """The ``waveforms`` dataset: fixed 1,200 / 400 / 400 split, seed :data:`SEED`."""
    import torch

    splits = {}
    for i, (name, n) in enumerate(SIZES.items()):
        x, y = make_waveforms(n, SEED + i)
        splits[name] = Split(torch.from_numpy(x), torch.from_numpy(y))
    mean, std = channel_stats(splits["train"].x, 1.0)
    return ImageDataset("waveforms", splits["train"], splits["val"], splits["test"],
                        len(CLASSES), 1.0, mean, std, 0, CLASSES)  # fmt: skip
