"""``diagnose`` over the whole live model registry, at each model's tiniest valid size.

Every registered model is rebuilt with its own layout (number of stages, scheme, field,
step ``h``) but two channels per stage, two steps per stage (so a scheme's starter and its
step are both seen), no pooling and a 3-pixel (or 3-sample) input: the smallest input
every stage of every model accepts (IMEX's periodic 3-point operator needs 3). The
diagnostics must give every block a verdict or a stated reason, and where both paths are
feasible the matrix-free verdict (ARPACK on the step map) must agree with the dense one.
"""

from __future__ import annotations

import math

import pytest
import torch

import odenets
from odenets import ODENet, VectorODENet
from odenets.blocks import AdaptiveBlock, Block, ImplicitBlock
from odenets.checkpoint import load_model, save_checkpoint
from odenets.cli import main
from odenets.diagnostics import diagnose, max_amplification
from odenets.models.continuous import ContinuousNet

MODELS = odenets.list_models()
#: block verdicts only: the network-level parts are exercised once per model family below
CHEAP = dict(
    k=1,
    num_points=1,
    stage_maps=False,
    growth=False,
    gradients=False,
    input_output=False,
    consistency=False,
    clamp_k=True,
)


def tiny_model(name: str, steps: int = 2, stages: int | None = None):
    """``name`` at its smallest: 2 channels, ``steps`` per stage at the registered ``h``
    (``stages``: keep only the first ones); returns ``(model, input)``."""
    base = odenets.create_model(name)
    if isinstance(base, VectorODENet):
        model = odenets.create_model(name, hidden=2, steps=steps, horizon=steps * base.stage.h)
        return model, torch.randn(1, model.dim)
    if isinstance(base, ContinuousNet):
        model = odenets.create_model(name, width=2, downsample=0, norm_groups=1)
        return model, torch.randn((1, model.in_chans) + (3,) * model.ndim)
    if isinstance(base, ODENet):
        kept = base.stages[:stages]
        horizon = tuple(steps * stage.h for stage in kept)
        model = odenets.create_model(
            name, widths=(2,) * len(kept), steps=steps, horizon=horizon, pool=False
        )
        return model, torch.randn((1, model.in_chans) + (3,) * model.ndim)
    pytest.fail(f"{type(base).__name__}: teach tiny_model() the smallest layout of this model")


def assert_every_block_judged(report) -> None:
    """A verdict (amplification, margin, h* or 'unbounded') or a stated reason per block."""
    assert report.blocks
    for b in report.blocks:
        where = f"stage {b.stage} step {b.step} ({b.scheme})"
        if b.stability is None or not b.certified:
            assert b.notes, f"{where}: no verdict and no reason"
            continue
        assert b.judged_at and b.verdict_method, where
        assert math.isfinite(b.max_amplification) and b.max_amplification >= 0, where
        assert b.margin == pytest.approx(1 - b.max_amplification, abs=1e-15), where
        assert b.h_star_unbounded or (b.h_star is not None and b.h_star >= 0), where
        if b.h_star is not None and b.h_star > 0 and b.judged_h < b.h_star * (1 - 1e-6):
            assert b.max_amplification <= 1 + 1e-9, f"{where}: h < h* but amplifies"


@pytest.mark.parametrize("name", MODELS)
def test_diagnose_every_registered_model(name):
    torch.manual_seed(0)
    model, x = tiny_model(name)
    report = diagnose(model, x, **CHEAP)
    assert_every_block_judged(report)
    assert {b.scheme for b in report.blocks} <= set(odenets.list_schemes())


# ------------------------------------------------------------- matrix-free against dense
def vector_model(scheme: str, **overrides) -> tuple[torch.nn.Module, torch.Tensor]:
    """``{scheme}_vector`` on a 10-dimensional state (ARPACK needs n > 8), hidden width 4."""
    model = odenets.create_model(f"{scheme}_vector", dim=10, hidden=4, **overrides)
    return model, torch.randn(1, 10)


#: one model per block kind, each block seen once: Runge–Kutta (polynomial R), the adaptive
#: block at its fixed solver step, the companion maps of history schemes (leapfrog: z = h²λ;
#: midpoint after its forward-Euler starter; Momentum; reversible Heun), two-field maps
#: (dense vectors, and the 3-stage conv Hamiltonian that crashed), the IMEX FFT solve
MATRIX_FREE = {
    "rk4": lambda: vector_model("rk4", steps=1),
    "node": lambda: vector_model("node", steps=1),
    "leapfrog": lambda: vector_model("leapfrog", steps=1),
    "midpoint": lambda: vector_model("midpoint", steps=2),
    "momentum_resnet": lambda: vector_model("momentum_resnet", steps=1),
    "reversible_heun": lambda: vector_model("reversible_heun", steps=1),
    "revnet": lambda: vector_model("revnet", steps=1),
    "chang_hamiltonian74": lambda: tiny_model("chang_hamiltonian74", steps=1, stages=1),
    "imex_digits": lambda: tiny_model("imex_digits", steps=1, stages=1),
}


def block_kind(cls) -> tuple[str, str, bool, bool]:
    """What selects a verdict route: state layout, declared stability type, implicit, adaptive."""
    stability = type(cls.declared_stability()).__name__
    return (cls.state_layout.name, stability, issubclass(cls, ImplicitBlock),
            issubclass(cls, AdaptiveBlock))  # fmt: skip


def test_every_block_kind_is_covered_by_the_matrix_free_check():
    kinds = {block_kind(odenets.get_scheme(s)) for s in odenets.list_schemes()}
    seen = set()
    for build in MATRIX_FREE.values():
        torch.manual_seed(0)
        model, _ = build()
        seen |= {block_kind(type(m)) for m in model.modules() if isinstance(m, Block)}
    assert kinds <= seen, f"block kinds without a matrix-free check: {kinds - seen}"


def assert_agree(d, f) -> None:
    """Matrix-free ``f`` and dense ``d`` verdicts of one block: the same ρ(S(h)) and h*.

    ``h*`` agrees to 1e-6 where ``ρ`` crosses 1 transversally. Where it creeps up (on the
    dense spectrum ``ρ(h*(1 + 1e-6)) ≤ 1 + 1e-9``, e.g. forward Euler on a near-imaginary
    spectrum) the two stated tolerances (ρ ≤ 1 + 1e-9 matrix-free, 1 + 1e-12 dense) give
    different ``h*``: then the matrix-free one must be a step where the dense ρ is within
    the matrix-free tolerance.
    """
    where = f"stage {d.stage} step {d.step} ({d.scheme}, {f.verdict_method})"
    assert f.certified and d.certified, where
    assert "matrix-free" in f.verdict_method or "exact" in f.verdict_method, where
    assert f.max_amplification == pytest.approx(d.max_amplification, rel=1e-6), where
    assert f.h_star_unbounded == d.h_star_unbounded, where
    if d.h_star_unbounded or d.h_star == 0:
        assert f.h_star == d.h_star, where
        return
    if f.h_star == pytest.approx(d.h_star, rel=1e-6):
        return
    assert d.implicit_eigenvalues is None, f"{where}: h* {f.h_star} vs dense {d.h_star}"
    lam = d.relevant_eigenvalues
    creeping = max_amplification(d.stability, lam, d.h_star * (1 + 1e-6)) <= 1 + 1e-9
    assert creeping, f"{where}: h* {f.h_star} vs dense {d.h_star} at a transversal crossing"
    assert f.h_star >= d.h_star * (1 - 1e-6), where
    assert max_amplification(d.stability, lam, f.h_star) <= 1 + 2e-9, where


@pytest.mark.parametrize("name", sorted(MATRIX_FREE))
def test_matrix_free_verdicts_agree_with_dense(name):
    torch.manual_seed(0)
    model, x = MATRIX_FREE[name]()
    dense = diagnose(model, x, **CHEAP)
    free = diagnose(model, x, dense_threshold=2, **CHEAP)  # every block matrix-free
    assert_every_block_judged(free)
    assert len(dense.blocks) == len(free.blocks)
    for d, f in zip(dense.blocks, free.blocks, strict=True):
        assert_agree(d, f)


def test_the_midpoint_starter_is_judged_as_forward_euler():
    """Block 0 of a midpoint stage is its starter y₁ = y₀ + hF(y₀): R(z) = 1 + z, said so."""
    torch.manual_seed(0)
    model, x = vector_model("midpoint", steps=2)
    report = diagnose(model, x.double(), **CHEAP)
    first, second = report.blocks
    assert first.formula == "R(z) = 1 + z" and second.formula == "ρ(r) = r² − 2z r − 1"
    assert any("starter" in n and "forward Euler" in n for n in first.notes), first.notes
    stage = model.double().stage
    y0 = x.double()
    jac = torch.autograd.functional.jacobian(stage.block_at(0).field, y0)[0, :, 0, :]
    lam = torch.linalg.eigvals(jac).numpy()
    h = stage.block_at(0).h
    assert first.max_amplification == pytest.approx(abs(1 + h * lam).max(), rel=1e-12)


# --------------------------------------------------------------------- dynamics checkpoints
@pytest.fixture
def dynamics_checkpoint(tmp_path):
    """A checkpoint with the payload a dynamics run writes (``DynamicsTask.model_payload``)."""
    from types import SimpleNamespace

    from odenets.dynamics import list_dynamics_models
    from odenets.dynamics.train import DynamicsTask

    name = list_dynamics_models()[0]
    task = SimpleNamespace(cfg=SimpleNamespace(model=name), model=torch.nn.Linear(2, 2))
    payload = DynamicsTask.model_payload(task)
    return save_checkpoint(tmp_path / "checkpoint_last.pt", payload), name


def test_a_dynamics_checkpoint_is_a_one_line_error(dynamics_checkpoint, tmp_path, capsys):
    path, name = dynamics_checkpoint
    with pytest.raises(ValueError, match=f"is a 'dynamics' run \\(model '{name}'\\)") as err:
        load_model(path)
    assert "\n" not in str(err.value)
    with pytest.raises(SystemExit) as exit_info:
        main(["diagnose", "--checkpoint", str(path), "--out", str(tmp_path / "d")])
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "is a 'dynamics' run" in lines[0], lines
