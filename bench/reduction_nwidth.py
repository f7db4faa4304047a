"""Measured Kolmogorov n-widths of advection snapshot sets: POD vs a convolutional autoencoder.

Snapshot sets ``{u₀(· − s)}`` of exact cell averages (``odenets.reduction.snapshots``) for a
step (box, two jumps), a hat (kinks), a wide and a narrow Gaussian, over one period of shifts.
POD gives the best linear n-dimensional space; its relative RMS projection error ``ε_n`` (the
L²(μ)-averaged n-width of the discrete set) is fitted to ``C n^{−α}`` on ``n ∈ [8, 64]`` and
set beside the theory (``α = 1/2`` for a jump, ``3/2`` for a kink; Ohlberger & Rave 2016,
Greif & Urban 2019; super-algebraic for a Gaussian). The convolutional autoencoder (Lee &
Carlberg style) is trained at latent sizes 1 and 2: the manifold has one parameter (the shift)
but is a closed curve, so a continuous encoder needs 2 latent coordinates. The AE error is
measured on unseen snapshots (shifts half-way between the training shifts).

    python bench/reduction_nwidth.py              # results/reduction_nwidth.md + .png
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from odenets.reduction.autoencoders import (  # noqa: E402
    ConvAE,
    reconstruction_error,
    train_autoencoder,
)
from odenets.reduction.pod import compute_pod  # noqa: E402
from odenets.reduction.snapshots import advection_snapshots, cell_averages  # noqa: E402

SETS = {  # name: (profile, width, theoretical rate)
    "step": ("step", 0.25, "n^-1/2"),
    "hat": ("hat", 0.25, "n^-3/2"),
    "wide Gaussian (σ = 0.1)": ("gaussian", 0.1, "super-algebraic"),
    "narrow Gaussian (σ = 0.02)": ("gaussian", 0.02, "super-algebraic"),
}
FIT_RANGE = (8, 64)


def fitted_rate(ns, errs):
    pts = [
        (math.log(n), math.log(e))
        for n, e in zip(ns, errs, strict=True)
        if FIT_RANGE[0] <= n <= FIT_RANGE[1] and e > 1e-13
    ]
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)
    return -slope


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-dofs", type=int, default=256)
    ap.add_argument("--ae-epochs", type=int, default=150)
    ap.add_argument("--ae-latents", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", type=Path, default=Path("results/reduction_nwidth.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    ns = list(range(1, args.n_dofs // 2 + 1))
    fig, ax = plt.subplots(figsize=(7, 5))
    rows = []
    for i, (name, (profile, width, theory)) in enumerate(SETS.items()):
        snaps = advection_snapshots(profile, args.n_dofs, args.n_dofs, width=width)
        unseen_shifts = (torch.arange(args.n_dofs, dtype=torch.float64) + 0.5) / args.n_dofs
        unseen = cell_averages(profile, args.n_dofs, unseen_shifts, width=width)
        pod = compute_pod(snaps)
        errs = [pod.relative_error(n) for n in ns]
        rate = fitted_rate(ns, errs)
        colour = f"C{i}"
        shown = [(n, e) for n, e in zip(ns, errs, strict=True) if e > 1e-12]
        ax.loglog(*zip(*shown, strict=True), "-", color=colour, label=f"POD, {name}")
        ae = {}
        for p in args.ae_latents:
            torch.manual_seed(p)
            model = ConvAE(args.n_dofs, p)
            record = train_autoencoder(model, snaps, epochs=args.ae_epochs, seed=p)
            ae[p] = (reconstruction_error(model, unseen), record)
        ax.loglog(
            list(ae),
            [v[0] for v in ae.values()],
            "o--",
            color=colour,
            ms=7,
            label=f"conv AE, {name}",
        )
        rows.append((name, rate, theory, errs, ae, pod.energy_size(0.99), pod.energy_size(0.9999)))
        print(name, f"rate {rate:.3f}", {p: f"{v[0]:.3g}" for p, v in ae.items()}, flush=True)
    ns_ref = [4, 128]
    ax.loglog(
        ns_ref, [0.9 * (n / 4) ** -0.5 for n in ns_ref], "k:", label="slope -1/2 (theory, jump)"
    )
    ax.loglog(
        ns_ref, [0.9 * (n / 4) ** -1.5 for n in ns_ref], "k-.", label="slope -3/2 (theory, kink)"
    )
    ax.set_xlabel("dimension n of the trial space (POD modes / AE latent size)")
    ax.set_ylabel("relative RMS error (POD: snapshot set; AE: unseen shifts)")
    ax.set_title(f"Advection snapshot sets ({args.n_dofs} cells, {args.n_dofs} shifts)")
    ax.set_ylim(1e-6, 2)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    png = args.out.with_suffix(".png")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    write_markdown(args, rows, png)


def _rate_cell(rate, theory):
    if theory.startswith("super"):
        return f"n/a (local slope {rate:.1f}: no power law)"
    return f"{rate:.3f}"


def write_markdown(args, rows, png):
    probe = [1, 2, 4, 8, 16, 32, 64]
    lat = args.ae_latents
    lines = [
        f"# Measured n-widths of advection snapshot sets\n\n{__doc__}\n",
        f"![POD and AE errors]({png.name})\n",
        "| snapshot set | fitted POD rate α (n ∈ [8, 64]) | theory | "
        + " | ".join(f"POD ε_{n}" for n in probe)
        + " | "
        + " | ".join(f"AE, latent {p}" for p in lat)
        + " | POD modes for 99 % / 99.99 % energy |",
        "|---|---|---|" + "---|" * (len(probe) + len(lat) + 1),
    ]
    for name, rate, theory, errs, ae, n99, n9999 in rows:
        lines.append(
            f"| {name} | {_rate_cell(rate, theory)} | {theory} | "
            + " | ".join(f"{errs[n - 1]:.3g}" for n in probe)
            + " | "
            + " | ".join(f"{ae[p][0]:.3g}" for p in lat)
            + f" | {n99} / {n9999} |"
        )
    lines.append(
        f"\nAE training: Adam lr 1e-3, batch 20, {args.ae_epochs} epochs, best of a 10 % "
        "held-out split; best held-out MSE / epoch:\n"
    )
    for name, _, _, _, ae, _, _ in rows:
        lines.append(
            f"- {name}: "
            + ", ".join(
                f"latent {p}: {r.best_validation_mse:.3g} at epoch {r.best_epoch}"
                for p, (_, r) in ae.items()
            )
        )
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
