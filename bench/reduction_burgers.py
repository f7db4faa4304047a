"""Kim et al.'s 1-D Burgers table: POD-/NM-Galerkin and -LSPG vs the FOM at a = 1.0.

Protocol (``LLNL/NM-ROM``, ``1DBurgersEqn/test_red-dim``): FOM on [0, 2], 1,000 periodic dofs,
500 backward-Euler steps to T = 0.5, upwind, Newton (relative residual < 1e-8); snapshots
``u^n − u^0`` (n = 1 … 500) at a ∈ {0.9, 1.1}, stored in float32; the ROMs start from
``u^0(a = 1.0)`` with ``ẑ₀ = 0``. POD ROMs: Newton / Gauss–Newton with tolerance 1e-8 on the
reduced residual, at most 4 iterations. NM ROMs (Kim's masked shallow AE): 4 iterations, no
tolerance. Error: ``(Σ_n ‖u_n − ũ_n‖²)^{1/2} / (Σ_n ‖u_n‖²)^{1/2}`` in %, over the 501 states
with the periodic copy of dof 0 (their 1,001-point arrays). Wall times: this machine, one
thread, the FOM solve of the same run as baseline.

    python bench/reduction_burgers.py                       # POD rows + NM rows (trains AEs)
    python bench/reduction_burgers.py --latents 2 5 --ae-epochs 40
    python bench/reduction_burgers.py --properties   # reproduction, estimator, latent ROM
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from odenets.reduction.autoencoders import MaskedShallowAE, train_autoencoder
from odenets.reduction.estimate import (
    error_transport_estimate,
    residual_estimate,
    trajectory_errors,
)
from odenets.reduction.fom import BurgersFOM
from odenets.reduction.latent import LatentDynamicsROM, fit_latent_rom
from odenets.reduction.pod import compute_pod
from odenets.reduction.roms import LinearTrial, ManifoldTrial, relative_error, solve_rom

KIM = {  # Kim et al. 2022, Table (1-D Burgers, a = 1.0), average relative error in %
    "POD-Galerkin": [9.44, 3.60, 1.47, 0.66, 0.30, 0.137, 0.069, 0.023],
    "POD-LSPG": [9.41, 3.57, 1.44, 0.64, 0.29, 0.133, 0.067, 0.023],
    "NM-Galerkin": [0.19, 0.15, 0.21, 0.24, 0.19, 0.19, 0.22, 0.23],
    "NM-LSPG": [0.28, 0.22, 0.15, 0.13, 0.12, 0.12, 0.12, 0.11],
}
KIM_LATENTS = [2, 5, 10, 15, 20, 25, 30, 40]
TRAIN_AMPLITUDES, TEST_AMPLITUDE = (0.9, 1.1), 1.0


def with_periodic_copy(traj):
    return torch.cat([traj, traj[:, :1]], dim=1)


def burgers_data(fom):
    trains = [fom.solve(fom.initial_state(a)) for a in TRAIN_AMPLITUDES]
    start = time.perf_counter()
    test = fom.solve(fom.initial_state(TEST_AMPLITUDE))
    fom_time = time.perf_counter() - start
    snapshots = torch.cat([t[1:] - t[0] for t in trains]).float().double()  # their float32 pickle
    return trains, snapshots, test, fom_time


def percent_error(test, states):
    return 100 * relative_error(with_periodic_copy(test), with_periodic_copy(states))


def pod_rows(fom, snapshots, test, latents):
    pod = compute_pod(snapshots)
    rows = {}
    for p in latents:
        trial = LinearTrial(pod.basis(p), test[0])
        for method, label in (("galerkin", "POD-Galerkin"), ("lspg", "POD-LSPG")):
            sol = solve_rom(fom, trial, method, tol=1e-8, max_iter=4)
            rows.setdefault(label, {})[p] = (percent_error(test, sol.states), sol.wall_time)
    return pod, rows


def trained_autoencoder(p, snapshots, epochs, cache: Path, time_limit):
    path = cache / f"kim_ae_p{p}_e{epochs}.pt"
    model = MaskedShallowAE(snapshots.shape[1], p)
    if path.exists():
        saved = torch.load(path)
        model.load_state_dict(saved["state"])
        return model, saved["record"]
    torch.manual_seed(p)
    record = train_autoencoder(model, snapshots, epochs=epochs, seed=p, time_limit=time_limit)
    record = dict(vars(record))
    cache.mkdir(parents=True, exist_ok=True)
    torch.save({"state": model.state_dict(), "record": record}, path)
    return model, record


def nm_rows(fom, snapshots, test, latents, epochs, cache, time_limit):
    rows, records = {}, {}
    centred = test[1:] - test[0]
    for p in latents:
        model, record = trained_autoencoder(p, snapshots, epochs, cache, time_limit)
        with torch.no_grad():
            rec = model(centred.float()).double()
        record["test_projection_error_%"] = float(
            100 * torch.linalg.norm(centred - rec) / torch.linalg.norm(test[1:])
        )
        records[p] = record
        trial = ManifoldTrial(model.decoder, test[0])
        for method, label in (("galerkin", "NM-Galerkin"), ("lspg", "NM-LSPG")):
            sol = solve_rom(fom, trial, method, tol=None, max_iter=4)
            rows.setdefault(label, {})[p] = (percent_error(test, sol.states), sol.wall_time)
        model.float()
    return rows, records


def table(rows, latents, fom_time):
    head = "| ROM | " + " | ".join(f"p = {p}" for p in latents) + " |"
    lines = [head, "|---|" + "---|" * len(latents)]
    for label, vals in rows.items():
        kim = dict(zip(KIM_LATENTS, KIM[label], strict=True))
        cells = [f"{vals[p][0]:.4g} ({kim.get(p, float('nan')):.3g})" for p in latents]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Wall time of the ROM run (s), FOM on the same machine in the same run: "
        f"{fom_time:.2f} s (speed-up FOM/ROM in brackets)",
        "",
        head,
        "|---|" + "---|" * len(latents),
    ]
    for label, vals in rows.items():
        cells = [f"{vals[p][1]:.2f} ({fom_time / vals[p][1]:.1f}×)" for p in latents]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def estimator_rows(fom, label, states, reference):
    """True 2-norm error, the Varah-bound estimate and the transported estimate at 3 times."""
    err = trajectory_errors(reference, states)
    bound = residual_estimate(fom, states)
    transported = torch.linalg.vector_norm(error_transport_estimate(fom, states), dim=1)
    cells = []
    for t in (0.1, 0.25, 0.5):
        n = round(t / fom.dt)
        cells.append(
            f"{err[n]:.3g} / {bound.estimate[n]:.3g} ({bound.estimate[n] / err[n]:.3g}) / "
            f"{transported[n]:.3g} ({transported[n] / err[n]:.3g})"
        )
    return f"| {label} | " + " | ".join(cells) + " |"


def properties(args, fom, trains, snapshots, test):
    pod = compute_pod(snapshots)
    trajs = dict(zip(TRAIN_AMPLITUDES, trains, strict=True)) | {TEST_AMPLITUDE: test}
    out = [
        "# Reduction properties on Kim et al.'s Burgers problem\n",
        f"Commands: `python bench/reduction_burgers.py --properties` (after the table run, "
        f"which trains and caches the autoencoders; {args.ae_epochs} epochs).\n",
        "## Reproduction\n",
        "A ROM whose trial space contains the solution should return it. POD of one "
        "training trajectory's own 500 snapshots ``u^n − u^0`` with all 500 modes, run at "
        "that amplitude; the NM ROMs at the training amplitudes, beside the autoencoder's "
        "projection error of the same trajectory (the best the manifold can do).\n",
        "| trial space | a | ROM | relative error (%) | projection error (%) |",
        "|---|---|---|---|---|",
    ]
    for a, traj in zip(TRAIN_AMPLITUDES, trains, strict=True):
        own = compute_pod(traj[1:] - traj[0])
        trial = LinearTrial(own.basis(fom.n_steps), traj[0])
        for method in ("galerkin", "lspg"):
            sol = solve_rom(fom, trial, method, tol=1e-8, max_iter=6)
            out.append(
                f"| POD of a = {a}, all 500 modes | {a} | POD-{method} | "
                f"{percent_error(traj, sol.states):.2e} | 0 (in the span) |"
            )
    models = {}
    for p in args.property_latents:
        models[p], _ = trained_autoencoder(p, snapshots, args.ae_epochs, args.cache, None)
        for a in TRAIN_AMPLITUDES:
            traj = trajs[a]
            with torch.no_grad():
                rec = models[p](traj[1:].sub(traj[0]).float()).double()
            proj = 100 * float(
                torch.linalg.norm(traj[1:] - traj[0] - rec) / torch.linalg.norm(traj)
            )
            trial = ManifoldTrial(models[p].decoder, traj[0])
            for method in ("galerkin", "lspg"):
                sol = solve_rom(fom, trial, method, tol=None, max_iter=4)
                out.append(
                    f"| Kim AE, p = {p} | {a} | NM-{method} | "
                    f"{percent_error(traj, sol.states):.3g} | {proj:.3g} |"
                )
            models[p].float()
    out += [
        "\n## A-posteriori error estimate\n",
        "Per cell: true error ‖u_n − ũ_n‖₂ / residual bound Δ_n (effectivity) / linearised "
        "error transport ‖ê_n‖₂ (effectivity), at t = 0.1, 0.25 and 0.5 (the shock forms "
        "at t ≈ 1/π ≈ 0.32 for a = 1). Δ_n = γ_n(Δ_{n−1} + ‖ρ_n‖₂) with Varah's bound γ_n "
        "at the ROM state (see `odenets/reduction/estimate.py`).\n",
        "| ROM, p, a | t = 0.1 | t = 0.25 | t = 0.5 |",
        "|---|---|---|---|",
    ]
    for p in args.property_latents:
        for a, traj in trajs.items():
            lin = LinearTrial(pod.basis(p), traj[0])
            for method in ("galerkin", "lspg"):
                sol = solve_rom(fom, lin, method, tol=1e-8, max_iter=4)
                out.append(estimator_rows(fom, f"POD-{method}, {p}, {a}", sol.states, traj))
            trial = ManifoldTrial(models[p].decoder, traj[0])
            for method in ("galerkin", "lspg"):
                sol = solve_rom(fom, trial, method, tol=None, max_iter=4)
                out.append(estimator_rows(fom, f"NM-{method}, {p}, {a}", sol.states, traj))
            models[p].float()
    out += latent_rom_section(args, fom, pod, trains, test)
    path = args.out.parent / "reduction_properties.md"
    path.write_text("\n".join(out) + "\n")
    print("\n".join(out))


def latent_rom_section(args, fom, pod, trains, test):
    p = args.latent_rom_size
    basis = pod.basis(p)
    latent = torch.stack([(t - t[0]) @ basis for t in trains])
    mu = torch.tensor([[a] for a in TRAIN_AMPLITUDES])
    lines = [
        "\n## Non-intrusive latent-dynamics ROM\n",
        f"POD coordinates (p = {p}) of the two training trajectories; latent ODE "
        f"dẑ/dt = F_θ(ẑ, a) (MLP 64-64, tanh) stepped by the scheme with h = Δt, fitted on "
        f"{args.latent_iterations} Adam steps of 10-step rollouts; predicted at a = 1.0 "
        f"from ẑ₀ = 0 and decoded u = u⁰ + Φẑ. The FOM is never called.\n",
        "| scheme | relative error at a = 1.0 (%) | POD projection floor (%) | "
        "fit time (s) | ROM wall time (s) | FOM wall time (s) |",
        "|---|---|---|---|---|---|",
    ]
    floor = 100 * float(
        torch.linalg.norm((test - test[0]) - (test - test[0]) @ basis @ basis.T)
        / torch.linalg.norm(test)
    )
    for scheme in args.latent_schemes:
        torch.manual_seed(0)
        rom = LatentDynamicsROM(p, 1, fom.dt, scheme=scheme)
        fit = fit_latent_rom(rom, latent, mu, iterations=args.latent_iterations, horizon=10)
        start = time.perf_counter()
        with torch.no_grad():
            z = rom.rollout(torch.zeros(1, p), torch.tensor([[TEST_AMPLITUDE]]), fom.n_steps)[0]
            states = test[0] + z.double() @ basis.T
        wall = time.perf_counter() - start
        lines.append(
            f"| {scheme} | {percent_error(test, states):.3g} | {floor:.3g} | "
            f"{fit['wall_time']:.0f} | {wall:.2f} | {args.fom_time:.2f} |"
        )
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latents", type=int, nargs="+", default=KIM_LATENTS)
    ap.add_argument("--nm-latents", type=int, nargs="+", default=None)
    ap.add_argument("--ae-epochs", type=int, default=60)
    ap.add_argument("--ae-time-limit", type=float, default=None, help="seconds per AE")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/reduction/ae"))
    ap.add_argument("--skip-nm", action="store_true")
    ap.add_argument("--properties", action="store_true", help="write reduction_properties.md")
    ap.add_argument("--property-latents", type=int, nargs="+", default=[5, 20])
    ap.add_argument("--latent-rom-size", type=int, default=10)
    ap.add_argument("--latent-schemes", nargs="+", default=["euler", "rk4"])
    ap.add_argument("--latent-iterations", type=int, default=600)
    ap.add_argument("--out", type=Path, default=Path("results/reduction_burgers.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    fom = BurgersFOM()
    trains, snapshots, test, fom_time = burgers_data(fom)
    if args.properties:
        args.fom_time = fom_time
        properties(args, fom, trains, snapshots, test)
        return
    pod, rows = pod_rows(fom, snapshots, test, args.latents)
    text = [
        f"# Kim et al.'s 1-D Burgers table, reproduced\n\n{__doc__}\n",
        "## POD rows (deterministic)\n",
        "Average relative error in % at a = 1.0 (Kim et al.'s number in brackets).\n",
        table(rows, args.latents, fom_time),
    ]
    if not args.skip_nm:
        nm_latents = args.nm_latents or args.latents
        nm, records = nm_rows(
            fom, snapshots, test, nm_latents, args.ae_epochs, args.cache, args.ae_time_limit
        )
        text += [
            "\n## NM rows (Kim's masked shallow autoencoder)\n",
            f"Training budget cut: at most {args.ae_epochs} epochs per autoencoder "
            f"(Kim et al.: up to 10,000 with early stopping, ~1,200 in their log for "
            f"p = 5), single CPU thread; everything else as theirs.\n",
            table(nm, nm_latents, fom_time),
            "\nAutoencoder training records:\n",
            "| p | epochs | best epoch | best held-out MSE | train MSE | AE projection "
            "error on the test trajectory (%) | stopped by | wall (s) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for p, r in records.items():
            text.append(
                f"| {p} | {r['epochs']} | {r['best_epoch']} | "
                f"{r['best_validation_mse']:.3g} | {r['train_mse']:.3g} | "
                f"{r['test_projection_error_%']:.3g} | {r['stopped_by']} | "
                f"{r['wall_time']:.0f} |"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text) + "\n")
    print("\n".join(text))
    json_out = args.out.with_suffix(".json")
    json_out.write_text(json.dumps({"pod": rows, "fom_time": fom_time}, indent=1))


if __name__ == "__main__":
    main()
