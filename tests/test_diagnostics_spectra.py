"""Spectra of layer Jacobians: analytic cases, ARPACK against dense LAPACK, step maps."""

import numpy as np
import pytest
import torch
from torch import nn

import odenets
from odenets.blocks import AdaptiveBlock, ImplicitBlock, StateLayout
from odenets.diagnostics import LinearizedMap, block_operators, eigenvalues, singular_values
from odenets.stability import CharacteristicPolynomial

DT = torch.float64


def linear_field(matrix: np.ndarray) -> nn.Linear:
    layer = nn.Linear(matrix.shape[0], matrix.shape[0], bias=False).to(DT)
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(matrix))
    return layer


def matrix_with_eigenvalues(values, seed=0) -> np.ndarray:
    """A real non-normal matrix with the given (conjugate-closed) eigenvalues."""
    blocks, i, values = [], 0, list(values)
    while i < len(values):
        v = values[i]
        if abs(v.imag) > 0:
            blocks.append(np.array([[v.real, v.imag], [-v.imag, v.real]]))
            i += 2  # v and its conjugate
        else:
            blocks.append(np.array([[v.real]]))
            i += 1
    d = np.zeros((len(values), len(values)))
    at = 0
    for b in blocks:
        d[at : at + len(b), at : at + len(b)] = b
        at += len(b)
    q = np.random.default_rng(seed).standard_normal(d.shape) + 3 * np.eye(len(values))
    return q @ d @ np.linalg.inv(q)


def close_sets(a, b, rtol):
    a, b = np.asarray(a), np.asarray(b)
    dist = np.abs(a[:, None] - b[None, :]).min(axis=1)
    return np.all(dist <= rtol * np.abs(a).clip(min=1e-12))


@pytest.mark.parametrize("method", ["dense", "arpack"])
def test_linear_field_known_complex_eigenvalues(method):
    known = [-1 + 2j, -1 - 2j, -0.5, 0.3 + 0.1j, 0.3 - 0.1j, -3.0, 0.05]
    rest = list(np.linspace(-0.2, 0.02, 33))  # small real ones below the top-k
    field = linear_field(matrix_with_eigenvalues(known + rest))
    spectrum = eigenvalues(LinearizedMap(field, torch.zeros(1, 40, dtype=DT)), 4, method)
    assert spectrum.method == method
    assert close_sets(spectrum.largest_modulus, [-3.0, -1 + 2j, -1 - 2j, -0.5], 1e-8)
    assert close_sets(spectrum.largest_real, [0.3 + 0.1j, 0.3 - 0.1j, 0.05, 0.02], 1e-8)


def test_parabolic_layer_real_nonpositive_eigenvalues():
    torch.manual_seed(1)
    block = odenets.create_block("parabolic", h=0.5, channels=3, ndim=2).to(DT).eval()
    y = torch.randn(1, 3, 5, 5, dtype=DT)
    values = eigenvalues(block_operators(block, y, False).argument, 6, "dense").all
    scale = np.abs(values).max()
    assert scale > 0
    assert np.abs(values.imag).max() <= 1e-10 * scale
    assert values.real.max() <= 1e-10 * scale


def test_antisymmetric_layer_gamma_zero_purely_imaginary():
    torch.manual_seed(2)
    field = odenets.create_field("antisymmetric", 4, 2, gamma=0.0)
    block = odenets.create_block("antisymmetric", field, h=0.1).to(DT)
    y = torch.randn(1, 4, 4, 4, dtype=DT)
    values = eigenvalues(block_operators(block, y, False).argument, 6, "dense").all
    scale = np.abs(values).max()
    assert scale > 0.1
    assert np.abs(values.real).max() <= 1e-10 * scale


def test_hamiltonian_verlet_step_map_on_unit_circle_for_small_h():
    torch.manual_seed(3)
    block = odenets.create_block("hamiltonian", h=0.05, channels=4, ndim=2).to(DT).eval()
    state = block.init(torch.randn(1, 4, 4, 4, dtype=DT))
    ops = block_operators(block, state, True)
    mu = eigenvalues(ops.argument, 4, "dense").all
    assert np.abs(mu.imag).max() <= 1e-8 * np.abs(mu).max()  # −(PSD)(PSD): real, ≤ 0
    assert mu.real.max() <= 1e-8 * np.abs(mu).max()
    assert block.h**2 * np.abs(mu).max() < 4  # inside the declared interval
    moduli = np.abs(eigenvalues(ops.step, 4, "dense").all)
    np.testing.assert_allclose(moduli, 1.0, atol=1e-7)


def test_arpack_matches_dense_on_a_conv_layer_of_1024_dims():
    torch.manual_seed(4)
    field = odenets.create_field("residual", 16, 2).to(DT).eval()
    op = LinearizedMap(field, torch.randn(1, 16, 8, 8, dtype=DT))
    dense = np.linalg.eigvals(op.dense().numpy())
    arpack = eigenvalues(op, 6, "arpack")
    assert arpack.n == 1024 and arpack.method == "arpack"
    for found, key in ((arpack.largest_modulus, np.abs), (arpack.largest_real, np.real)):
        reference = dense[np.argsort(-key(dense))][:6]
        assert close_sets(found, dense, 1e-6)  # each is an eigenvalue ...
        assert close_sets(reference[:5], found, 1e-6)  # ... and they are the top ones
    sigma_dense = np.linalg.svd(op.dense().numpy(), compute_uv=False)[:4]
    sigma, how = singular_values(op, 4, "arpack")
    assert how == "arpack"
    np.testing.assert_allclose(sigma, sigma_dense, rtol=1e-6)


def test_matvec_and_rmatvec_are_the_jacobian_and_its_transpose():
    torch.manual_seed(5)
    field = odenets.create_field("symmetric", 2, 1).to(DT).eval()
    op = LinearizedMap(field, torch.randn(1, 2, 6, dtype=DT))
    jac = torch.autograd.functional.jacobian(field, op.point).reshape(12, 12)
    v = torch.randn(12, dtype=DT)
    torch.testing.assert_close(op.matvec(v), jac @ v)
    torch.testing.assert_close(op.rmatvec(v), jac.T @ v)
    torch.testing.assert_close(op.dense(), jac)


def _declared_moduli(stability, values, h):
    z = h**stability.step_power * np.asarray(values)
    if isinstance(stability, CharacteristicPolynomial):
        return np.concatenate([np.abs(stability.roots(v)) for v in z])
    return stability.amplification(z)


@pytest.mark.parametrize("scheme", odenets.list_schemes())
def test_step_map_spectrum_is_the_declared_amplification(scheme):
    """For a linear field the one-step map's eigenvalue moduli are exactly the declared
    |R(z)| (one-step) or characteristic root moduli (two-field, history), z = h^p λ."""
    cls = odenets.get_scheme(scheme)
    if issubclass(cls, (ImplicitBlock, AdaptiveBlock)):
        pytest.skip("implicit/adaptive steps: R pairs explicit and implicit parts / substeps")
    n = 6
    two = cls.state_layout is StateLayout.TWO_FIELD
    m = n // 2 if two else n
    rng = np.random.default_rng(6)
    fields = tuple(linear_field(0.8 * rng.standard_normal((m, m))) for _ in range(cls.num_fields))
    block = odenets.create_block(scheme, fields, h=0.3).to(DT)
    # any state of the scheme's own layout: the step map of a linear field is constant
    state = block.init(torch.randn(1, n, dtype=DT))
    ops = block_operators(block, state, True)
    lam = eigenvalues(ops.argument, m, "dense").all
    step = np.abs(eigenvalues(ops.step, ops.step.n_in, "dense").all)
    declared = _declared_moduli(block.stability, lam, block.h)
    np.testing.assert_allclose(np.sort(step), np.sort(declared), rtol=1e-8, atol=1e-10)


def test_bad_input_k_and_method():
    op = LinearizedMap(nn.Identity(), torch.zeros(1, 5, dtype=DT))
    with pytest.raises(ValueError, match=r"k=6 eigenvalues requested but the state dimension is"):
        eigenvalues(op, 6)
    with pytest.raises(ValueError, match=r"ARPACK computes at most n - 2 = 3"):
        eigenvalues(op, 4, "arpack")
    with pytest.raises(ValueError, match=r"Unknown spectrum method 'lapack'"):
        eigenvalues(op, 2, "lapack")
    with pytest.raises(TypeError, match="k \\(number of eigenvalues\\) must be a positive"):
        eigenvalues(op, 2.5)


def test_autograd_fallback_products_equal_torch_func():
    """Modules torch.func cannot transform (torchdiffeq's adaptive solvers) use autograd."""
    torch.manual_seed(7)
    field = odenets.create_field("residual", 2, 1).to(DT).eval()
    point = torch.randn(1, 2, 5, dtype=DT)
    reference, fallback = LinearizedMap(field, point), LinearizedMap(field, point)
    fallback._fall_back(RuntimeError("forced for the test"))
    v = torch.randn(10, dtype=DT)
    torch.testing.assert_close(fallback.matvec(v), reference.matvec(v))
    torch.testing.assert_close(fallback.rmatvec(v), reference.rmatvec(v))
    torch.testing.assert_close(fallback.dense(), reference.dense())
    assert "autograd" in fallback.note


def test_singular_values_survive_arpack_non_convergence(monkeypatch):
    """Clustered singular values can stall ARPACK: fall back to dense, or keep what converged."""
    from scipy.sparse.linalg import ArpackNoConvergence

    from odenets.diagnostics import spectra

    torch.manual_seed(0)
    conv = nn.Conv2d(4, 4, 3, padding=1).to(DT)
    op = LinearizedMap(conv, torch.randn(1, 4, 8, 8, dtype=DT))  # n = 256
    dense = torch.linalg.svdvals(op.dense()).numpy()[:3]

    def stalled(*args, **kwargs):
        raise ArpackNoConvergence("no convergence", np.array([]), np.array([]))

    monkeypatch.setattr(spectra, "svds", stalled)
    values, method = singular_values(op, k=3, method="arpack", dense_threshold=100)
    assert method == "dense (ARPACK did not converge)"
    np.testing.assert_allclose(values, dense, rtol=1e-10)
    values, method = singular_values(op, k=3, method="arpack", dense_threshold=10)
    assert method == "arpack (partial)"
    np.testing.assert_allclose(values, dense, rtol=1e-6)
