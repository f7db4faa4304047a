"""Projection ROMs: reproduction with a complete trial space, LSPG normal equations."""

import math

import pytest
import torch

from odenets.reduction.errors import NewtonDidNotConverge
from odenets.reduction.fom import BurgersFOM
from odenets.reduction.pod import compute_pod
from odenets.reduction.roms import LinearTrial, ManifoldTrial, relative_error, solve_rom


@pytest.fixture(scope="module")
def small_burgers():
    fom = BurgersFOM(n_dofs=60, n_steps=30, t_final=0.3, newton_tol=1e-14)
    traj = fom.solve(1 + 0.4 * torch.sin(math.pi * fom.x) ** 2)
    return fom, traj


@pytest.mark.parametrize("method", ["galerkin", "lspg"])
def test_pod_rom_with_all_modes_reproduces_the_fom(small_burgers, method):
    fom, traj = small_burgers
    basis = torch.linalg.qr(torch.randn(fom.n_dofs, fom.n_dofs, dtype=torch.float64))[
        0
    ]  # any complete basis
    trial = LinearTrial(basis, traj[0])
    sol = solve_rom(fom, trial, method, tol=1e-13, max_iter=10)
    assert relative_error(traj, sol.states) < 1e-13


def test_pod_galerkin_reproduces_its_training_trajectory(small_burgers):
    fom, traj = small_burgers
    pod = compute_pod(traj[1:] - traj[0])
    trial = LinearTrial(pod.basis(fom.n_steps), traj[0])  # all snapshots: solution in the span
    sol = solve_rom(fom, trial, "galerkin", tol=1e-12, max_iter=10)
    assert relative_error(traj, sol.states) < 1e-10


def test_truncated_pod_rom_has_a_real_error(small_burgers):
    fom, traj = small_burgers
    pod = compute_pod(traj[1:] - traj[0])
    sol = solve_rom(fom, LinearTrial(pod.basis(2), traj[0]), "galerkin")
    assert relative_error(traj, sol.states) > 1e-4


class _TinyDecoder(torch.nn.Module):
    latent = 3

    def __init__(self, n):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.a = torch.nn.Parameter(0.3 * torch.randn(3, 16, generator=g, dtype=torch.float64))
        self.b = torch.nn.Parameter(0.5 * torch.randn(16, n, generator=g, dtype=torch.float64))

    def forward(self, z):
        return torch.tanh(z @ self.a) @ self.b


def test_manifold_lspg_satisfies_its_normal_equations(small_burgers):
    fom, traj = small_burgers
    trial = ManifoldTrial(_TinyDecoder(fom.n_dofs), traj[0])
    sol = solve_rom(fom, trial, "lspg", tol=1e-10, max_iter=30)
    # independent check by autograd: ∇_z ½‖R(g(z); ũ_n)‖² = 0 at every returned state
    for n in (1, 10, fom.n_steps):
        z = sol.latent[n].clone().requires_grad_(True)
        u = trial.reference + trial.decoder(z[None])[0] - trial.offset
        loss = 0.5 * fom.residual(u, sol.states[n - 1]).pow(2).sum()
        (grad,) = torch.autograd.grad(loss, z)
        z_start = sol.latent[n - 1].clone().requires_grad_(True)
        u0 = trial.reference + trial.decoder(z_start[None])[0] - trial.offset
        (grad0,) = torch.autograd.grad(
            0.5 * fom.residual(u0, sol.states[n - 1]).pow(2).sum(), z_start
        )
        assert float(grad.norm()) < 1e-6 * float(grad0.norm())
        # and it is a minimum along random directions
        with torch.no_grad():
            base = fom.residual(u, sol.states[n - 1]).norm()
            for _ in range(3):
                zp = z + 1e-3 * torch.randn(3)
                up = trial.reference + trial.decoder(zp[None])[0] - trial.offset
                assert fom.residual(up, sol.states[n - 1]).norm() >= base


def test_rom_errors_are_clear(small_burgers):
    fom, traj = small_burgers
    trial = LinearTrial(torch.eye(fom.n_dofs)[:, :3], traj[0])
    with pytest.raises(NewtonDidNotConverge, match="galerkin ROM Newton did not converge"):
        solve_rom(fom, trial, "galerkin", tol=1e-30, max_iter=2)
    with pytest.raises(ValueError, match="unknown ROM method"):
        solve_rom(fom, trial, "petrov")
    other = BurgersFOM(n_dofs=50, n_steps=3)
    with pytest.raises(ValueError, match="grids of the FOM and the ROM must match"):
        solve_rom(other, trial, "lspg")
