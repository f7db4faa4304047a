"""``linear_advection``: a dynamics dataset for ``train.py --dataset linear_advection``.

Exact solutions of ``u_t + a u_x = 0`` on ``[0, L)`` periodic, as cell averages on ``size``
cells: random Fourier initial states (``modes`` modes, ``A_k ~ N(0, 1)/k``) shifted by
``a t`` in closed form, sampled every ``dt``. The Courant number of the data is
``C = a·dt·size/L`` (0.5 with the defaults).
"""

from __future__ import annotations

import numpy as np
import torch

from ..dynamics.datasets import DatasetSpec, register_dataset
from .problems import advected_fourier, random_modes


def generate_linear_advection(settings, seed, group):
    count = settings["n_train" if group == "train" else "n_test"]
    gen = torch.Generator().manual_seed(int(seed) * 2 + (0 if group == "train" else 1))
    amp, phase = random_modes(count, int(settings["modes"]), gen)
    times = settings["dt"] * np.arange(round(settings["duration"] / settings["dt"]))
    frames = [
        advected_fourier(amp, phase, int(settings["size"]), settings["a"] * t, settings["length"])
        for t in times
    ]
    return torch.stack(frames, 1).unsqueeze(2).numpy()


register_dataset(
    DatasetSpec(
        name="linear_advection",
        equation="linear advection ∂ₜu + a ∂ₓu = 0 on [0, L) periodic, cell averages",
        generate=generate_linear_advection,
        state_shape=lambda s: (1, int(s["size"])),
        ndim=1,
        sizes=dict(n_train=16, n_test=4, duration=1.0, horizon=0.5, dt=1 / 64),
        params=dict(a=1.0, size=32, length=1.0, modes=4),
        solver="exact: the initial Fourier modes shifted by a·t, cell averages in closed form",
        positive_params=("size", "length", "modes"),
    )
)
