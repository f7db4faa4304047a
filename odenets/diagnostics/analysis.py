"""``diagnose(model, batch)``: every block of every stage seen as a numerical analyst would.

For each stage the state entering every block is reconstructed at a few data points
(one example each, BatchNorm in eval mode, float64 by default, on a private copy of the
model). Per block: the spectrum of the operator its declared stability reads, the
amplification ``max|R(h^p λ)|``, the margin and the largest stable step ``h*``, and for
two-field, history and implicit blocks the spectrum of the one-step map itself. Per stage
and for the network: singular values, perturbation growth, gradient norms, reversibility
and consistency under depth refinement.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch import nn

from .._validation import check_positive_int
from ..blocks.base import (
    AdaptiveBlock,
    Block,
    ImplicitBlock,
    ReversibleBlock,
    StateLayout,
    state_argument,
)
from ..stability import StabilityFunction
from .network import (
    find_stages,
    gradient_norms,
    perturbation_growth,
    refinement_consistency,
    reversibility_error,
)
from .operators import LinearizedMap, flatten_state
from .report import BlockReport, NetworkReport, Report, StageReport
from .spectra import (
    DENSE_THRESHOLD,
    block_operators,
    block_progress,
    check_k,
    eigenvalues,
    estimate_seconds,
    pinned_threads,
    singular_values,
)
from .stability import open_points_hit, smallest_resolved_step
from .stepmap import (
    Radius,
    Verdict,
    affine_in_z,
    argument_scale,
    companion_radius_at,
    declared_step_operator,
    dense_verdict,
    matrix_free_verdict,
)

DTYPES = {"float64": torch.float64, "float32": torch.float32}


# ------------------------------------------------------------------------------ input
def split_batch(batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``x`` and optional labels from a tensor, an ``(x, y)`` pair or a ``{"x", "y"}`` dict."""
    if isinstance(batch, dict):
        if "x" not in batch:
            raise ValueError(f"a batch dict needs an 'x' entry, got keys {sorted(batch)}")
        x, y = batch["x"], batch.get("y")
    elif isinstance(batch, (tuple, list)):
        if len(batch) != 2:
            raise ValueError(f"a batch sequence must be (inputs, labels), got {len(batch)} items")
        x, y = batch
    else:
        x, y = batch, None
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"the batch inputs must be a torch.Tensor, got {type(x).__name__}")
    if y is not None and not isinstance(y, torch.Tensor):
        raise TypeError(f"the batch labels must be a torch.Tensor, got {type(y).__name__}")
    if y is not None and y.shape[:1] != x.shape[:1]:
        raise ValueError(f"{x.shape[0]} inputs but {y.shape[0]} labels")
    return x, y


def working_copy(model: nn.Module, dtype: torch.dtype | str | None) -> nn.Module:
    """A private copy in eval mode (BatchNorm uses its running statistics) and ``dtype``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"diagnose needs a torch.nn.Module, got {type(model).__name__}")
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(f"Unknown dtype {dtype!r}; allowed: {sorted(DTYPES)}")
        dtype = DTYPES[dtype]
    work = copy.deepcopy(model)
    if dtype is not None:
        work = work.to(dtype)
    return work.eval()


def model_label(model: nn.Module) -> str:
    return getattr(model, "model_name", None) or type(model).__name__


def stage_inputs(model: nn.Module, x: torch.Tensor) -> dict[int, torch.Tensor]:
    """The input of every stage (by ``id``) for the batch ``x`` (first call of each)."""
    stages = find_stages(model)
    if not stages:
        raise ValueError(
            f"model {model_label(model)!r} has no odenets blocks: diagnostics read the "
            f"odenets.Stage modules of a model (e.g. ODENet.stages), and it has none"
        )
    seen: dict[int, torch.Tensor] = {}

    def hook(stage, args):
        seen.setdefault(id(stage), args[0].detach())

    handles = [stage.register_forward_pre_hook(hook) for _, stage in stages]
    try:
        with torch.no_grad():
            model(x)
    except (ValueError, RuntimeError) as err:
        raise ValueError(
            f"the batch of shape {tuple(x.shape)} does not fit model {model_label(model)!r}: {err}"
        ) from err
    finally:
        for handle in handles:
            handle.remove()
    return seen


# ----------------------------------------------------------------------------- blocks
def _capabilities(block: Block) -> list[str]:
    kinds = [
        ("reversible", ReversibleBlock),
        ("implicit", ImplicitBlock),
        ("adaptive", AdaptiveBlock),
    ]
    return [name for name, cls in kinds if isinstance(block, cls)]


def _declared_stability(block: Block, notes: list[str]):
    try:
        return block.stability
    except NotImplementedError:
        notes.append("the scheme declares no stability function: amplification and h* skipped")
        return None


def _implicit_eigenvalues(block: Block, y: torch.Tensor, notes: list[str]):
    """Eigenvalues of an implicit block's implicit operator, if the block exposes them."""
    if not isinstance(block, ImplicitBlock):
        return None
    provider = getattr(block, "implicit_eigenvalues", None)  # optional capability method
    if provider is None:
        notes.append("implicit block exposes no implicit_eigenvalues: explicit part only")
        return None
    with torch.no_grad():
        values = provider(tuple(y.shape[2:]))
    values = torch.as_tensor(values).detach().cpu().numpy().astype(complex).ravel()
    notes.append("implicit part: worst case over pairings (the implicit eigenvalue nearest 0)")
    return values


def judged_step(block: Block) -> tuple[float, str]:
    """The step the stability verdict is taken at, and what it is.

    A block whose solver takes a fixed internal step (``options["step_size"]`` smaller
    than ``h``, declared by adaptive blocks) is judged at that step; otherwise at ``h``.
    """
    options = getattr(block, "options", None) or {}
    step = options.get("step_size") if isinstance(block, AdaptiveBlock) else None
    if step is not None and 0 < step < block.h:
        return float(step), f"the solver's fixed step step_size={step:g} (block h={block.h:g})"
    if isinstance(block, AdaptiveBlock):
        return block.h, (
            f"one step of the solver's method of size h={block.h:g} (an adaptive solve takes "
            "its own, smaller steps; this bounds the step a stiff spectrum allows)"
        )
    return block.h, f"the block's step h={block.h:g}"


def _step_at(block: Block, h: float):
    """``block.step`` taken with step ``h`` (the block's own ``h`` restored after)."""

    def step(state):
        old = block.h
        block.h = h
        try:
            return block.step(state)
        finally:
            block.h = old

    return step


def _verdict(block, stability, state, ops, spectrum, h, dense_threshold, seed) -> Verdict:
    """``ρ(S(h))``, the margin and ``h*`` of the step map at one state (see stepmap).

    Dense (the whole spectrum of ``J``) when it is known, except for implicit blocks; else
    matrix-free: ``J = 0`` is recognised from one product (``J v = 0`` for a random ``v``
    happens only for ``J = 0``, with probability 1) and read exactly; a characteristic
    polynomial's companion map has its Ritz values mapped back to ``z``
    (:func:`~odenets.diagnostics.stepmap.companion_radius_at`: multiple roots do not
    read as growth); an implicit block goes to :func:`_implicit_verdict`.
    """
    implicit = isinstance(block, ImplicitBlock)
    if spectrum.all is not None and not implicit:
        return _with_weak_note(dense_verdict(stability, spectrum.all, h), stability, spectrum.all)
    p = getattr(stability, "step_power", 1)
    linear = ops.argument.as_linear_operator()
    n = ops.argument.n_in
    zero = _is_zero_operator(linear.matvec, n, seed)
    if zero and not implicit:
        verdict = dense_verdict(stability, np.zeros(1), h)
        verdict.method = "exact: J = 0 (J v = 0 for a random v)"
        return _with_weak_note(verdict, stability, np.zeros(1))
    scale = math.inf if zero else argument_scale(linear.matvec, n, p, seed)
    if implicit:
        return _implicit_verdict(block, stability, state, ops, h, scale, dense_threshold, seed)
    if affine_in_z(stability):
        radius = companion_radius_at(stability, linear.matvec, n, scale, seed)
        verdict = matrix_free_verdict(None, h, scale, seed, radius_at=radius)
        verdict.method = "matrix-free (ARPACK on the companion step map, roots mapped back to z)"
    else:
        verdict = matrix_free_verdict(
            lambda s: declared_step_operator(stability, linear.matvec, n, s), h, scale, seed
        )
    return _resolved(verdict, scale, p)


def _resolved(verdict: Verdict, scale, p: int) -> Verdict:
    """``h*`` below the smallest resolved step is ``0``, as on the dense path (whose scan
    starts there): ``ρ(S) − 1`` is below the eigen-solvers' accuracy at such steps."""
    if scale is None or not math.isfinite(scale) or not verdict.h_star:
        return verdict
    floor = smallest_resolved_step(scale, p)
    if verdict.h_star < floor:
        verdict.notes.append(
            f"h* = {verdict.h_star:.3g} is below the smallest resolved step "
            f"10^(-8/p)/ρ(J)^(1/p) = {floor:.3g}: reported as h* = 0 (unstable for every h)"
        )
        verdict.h_star = 0.0
    return verdict


def _with_weak_note(verdict: Verdict, stability, eigenvalues) -> Verdict:
    """Say when the step puts an eigenvalue on a multiple unit root (``open_at``)."""
    points = open_points_hit(stability, eigenvalues, verdict.h)
    if points:
        verdict.notes.append(
            "weakly unstable: a multiple unit root at z = "
            + ", ".join(f"{z:.6g}" for z in points)
            + " (ρ = 1 but the powers of the step grow linearly; the region is open there)"
        )
    return verdict


def _is_zero_operator(matvec, n: int, seed: int) -> bool:
    v = np.random.default_rng(seed + 1).standard_normal(n)
    return not np.any(matvec(v))


# ------------------------------------------------------------------- implicit (IMEX) blocks
def _solve_at(block: Block, h: float):
    """The implicit block's exact solve ``Q_i(hA)⁻¹`` at step ``h`` (``None``: not exposed)."""
    solve = getattr(block, "solve", None)
    if solve is None or isinstance(block, AdaptiveBlock):
        return None

    def at(rhs: torch.Tensor) -> torch.Tensor:
        old = block.h
        block.h = h
        try:
            with torch.no_grad():
                return solve(rhs)
        finally:
            block.h = old

    return at


def _explicit_part(stability) -> StabilityFunction:
    """The explicit factor ``P(z_e)/Q(z_e)`` of an implicit–explicit stability."""
    return StabilityFunction(tuple(stability.numerator), tuple(stability.denominator))


def _implicit_step_operator(block, stability, state, linear, n: int):
    """``h ↦ S(h) = Q_i(hA)⁻¹ R_e(hJ)`` as a LinearOperator: ``R_e(hJ)`` by JVPs of the field
    (traced once), ``Q_i(hA)⁻¹`` by the block's own exact solve. ``None`` when the block has
    no ``solve`` or its step is not of that form (checked on one product at the block's h)."""
    y = state_argument(state)
    explicit = _explicit_part(stability)

    def operator_at(s: float) -> LinearOperator:
        e = declared_step_operator(explicit, linear.matvec, n, s)
        solve = _solve_at(block, s)

        def matvec(v):
            rhs = torch.as_tensor(e.matvec(v).reshape(y.shape), dtype=y.dtype, device=y.device)
            return solve(rhs).reshape(-1).cpu().numpy().astype(np.float64)

        return LinearOperator((n, n), matvec=matvec, dtype=np.float64)

    if _solve_at(block, block.h) is None or not isinstance(y, torch.Tensor) or y.numel() != n:
        return None
    v = np.random.default_rng(7).standard_normal(n)
    mine = operator_at(block.h).matvec(v)
    own = LinearizedMap(block.step, state).as_linear_operator().matvec(v)
    if not np.allclose(mine, own, rtol=1e-9, atol=1e-12 * np.linalg.norm(own)):
        return None
    return operator_at


def _implicit_verdict(block, stability, state, ops, h, scale, dense_threshold, seed) -> Verdict:
    """An implicit block's step map ``S(h) = Q_i(hA)⁻¹ R_e(hJ)`` (IMEX Euler:
    ``(I + hLᵀL)⁻¹(I + hJ)``), the exact solve included.

    ``J`` is formed (dense) or traced (matrix-free) once; at every ``h`` of the search only
    the block's solve is applied: dense, ``S(h) = T(h) R_e(hJ)`` with ``T(h)`` the solve of
    the ``n`` unit vectors in one batch, one ``eigvals`` of an ``n × n`` matrix; above the
    threshold, ARPACK on the operator. A block whose step is not of this form (or without
    ``solve``) is judged by the Jacobian of its own step at every ``h`` instead.
    """
    linear = ops.argument.as_linear_operator()
    n = linear.shape[0]
    operator_at = _implicit_step_operator(block, stability, state, linear, n)
    if operator_at is not None and n <= dense_threshold:
        with torch.no_grad():
            jac = ops.argument.dense().cpu().numpy().astype(np.float64)
        y = state_argument(state)
        explicit = _explicit_part(stability)

        def radius(s: float) -> Radius:
            eye = torch.eye(n, dtype=y.dtype, device=y.device).reshape((n,) + tuple(y.shape[1:]))
            t = _solve_at(block, s)(eye).reshape(n, n).T.cpu().numpy()
            z = s * jac
            e = np.linalg.solve(_matrix_poly(explicit.denominator, z),
                                _matrix_poly(explicit.numerator, z))  # fmt: skip
            return Radius(s, float(np.max(np.abs(np.linalg.eigvals(t @ e)))), True, "dense")

        verdict = matrix_free_verdict(None, h, scale, seed, radius_at=radius)
        verdict.method = "dense step map T(h)·R_e(hJ): J formed once, the block's solve per h"
        return verdict
    if operator_at is not None:
        verdict = matrix_free_verdict(operator_at, h, scale, seed)
        verdict.method = "matrix-free (ARPACK on T(h)·R_e(hJ): the block's solve, JVPs of F)"
        return verdict
    if n <= dense_threshold:
        return _implicit_recompute_verdict(block, state, h, scale, seed)
    return matrix_free_verdict(
        lambda s: LinearizedMap(_step_at(block, s), state).as_linear_operator(), h, scale, seed
    )


def _implicit_recompute_verdict(block, state, h, scale, seed) -> Verdict:
    """The reference route: the dense Jacobian of the block's own step at every ``h``."""

    def radius(s):
        with torch.no_grad():
            jac = LinearizedMap(_step_at(block, s), state).dense()
            mu = torch.linalg.eigvals(jac).cpu().numpy()
        return Radius(s, float(np.max(np.abs(mu))), True, "dense")

    verdict = matrix_free_verdict(None, h, scale, seed, radius_at=radius)
    verdict.method = "dense step-map Jacobian at every h of the search"
    return verdict


def _matrix_poly(coeffs, z: np.ndarray) -> np.ndarray:
    """``Σ_k coeffs[k] Z^k`` by Horner for a square matrix ``Z``."""
    out = coeffs[-1] * np.eye(z.shape[0])
    for c in reversed(coeffs[:-1]):
        out = z @ out + c * np.eye(z.shape[0])
    return out


def _eig_pairs(spectrum) -> dict:
    return {"largest_modulus": spectrum.largest_modulus, "largest_real": spectrum.largest_real}


def _analyse_block(stage_index, j, block, states, k, method, threshold, step_map, seed):
    """Spectra and stability of one block from the states entering it at every point."""
    notes: list[str] = []
    want_step = (
        step_map
        if step_map is not None
        else (block.state_layout is not StateLayout.ONE or isinstance(block, ImplicitBlock))
    )
    stability = _declared_stability(block, notes)
    starter = block.starter if j == 0 and block.has_own_starter else None
    if stability is not None and starter is not None:
        stability = starter.stability
        notes.append(
            f"first step of the stage: the starter {starter.formula}, judged with its own "
            f"stability {stability.formula}, not the scheme's ρ (it is taken once per stage)"
        )
    spectra, step_spectra, rev, verdicts = [], [], [], []
    implicit = None
    judged_h, judged = judged_step(block)
    for state in states:
        ops = block_operators(block, state, want_step, first=j == 0)
        spectra.append(eigenvalues(ops.argument, k, method, threshold, seed))
        if stability is not None:
            verdicts.append(
                _verdict(block, stability, state, ops, spectra[-1], judged_h, threshold, seed)
            )
        fallback = getattr(ops.argument, "note", "")  # e.g. torch.func → autograd
        if fallback and fallback not in notes:
            notes.append(fallback)
        if ops.step is not None:
            # one-step maps of reversible/symplectic blocks have all |μ| ≈ 1: Arnoldi cannot
            # separate them, so they stay dense up to twice the usual threshold
            step_k = min(k, ops.step.n_in)
            step_spectra.append(eigenvalues(ops.step, step_k, method, 2 * threshold, seed))
        elif ops.step_note and ops.step_note not in notes:
            notes.append(ops.step_note)
        err = reversibility_error(block, state, first=j == 0)
        if err is not None:
            rev.append(err)
        if implicit is None:
            implicit = _implicit_eigenvalues(block, state_argument(state), notes)
    for s in spectra + step_spectra:
        if s.note and s.note not in notes:
            notes.append(s.note)
    lam = np.concatenate([s.relevant for s in spectra])
    first = states[0]
    report = BlockReport(
        stage=stage_index,
        step=j,
        scheme=block.name,
        state_layout=block.state_layout.name,
        ode_form=block.ode_form.name,
        capabilities=_capabilities(block),
        h=block.h,
        state_dim=flatten_state(first).numel(),
        argument=getattr(stability, "argument", ""),
        formula=getattr(stability, "formula", ""),
        step_power=getattr(stability, "step_power", 1),
        method=spectra[0].method,
        eigenvalues=[_eig_pairs(s) for s in spectra],
        spectral_radius=float(np.max(np.abs(lam))) if lam.size else math.nan,
        max_real=float(np.max(lam.real)) if lam.size else math.nan,
        reversibility_error=max(rev) if rev else None,
        notes=notes,
        stability=stability,
        implicit_eigenvalues=implicit,
        relevant_eigenvalues=lam,
    )
    if stability is not None:
        report.judged_h = judged_h
        _fill_verdict(report, verdicts, judged)
    if step_spectra:
        report.step_map_radius = max(s.spectral_radius for s in step_spectra)
        report.step_map_eigenvalues = [s.largest_modulus for s in step_spectra]
    return report


def _fill_verdict(report: BlockReport, verdicts: list[Verdict], judged: str) -> None:
    """Worst case over the data points; nothing claimed where a point is not certified."""
    report.judged_at = judged
    report.verdict_method = verdicts[0].method
    report.certified = all(v.certified for v in verdicts)
    for v in verdicts:
        for note in v.notes:
            if note not in report.notes:
                report.notes.append(note)
    if report.certified:
        report.max_amplification = max(v.rho for v in verdicts)
        report.margin = 1.0 - report.max_amplification
        h_star = min(v.h_star for v in verdicts)
        report.h_star_unbounded = math.isinf(h_star)
        report.h_star = None if math.isinf(h_star) else h_star
        report.h_star_rtol = max(v.h_rtol for v in verdicts)
    else:
        report.notes.append("verdict not certified (ARPACK did not converge): none claimed")


# ----------------------------------------------------------------------------- driver
def diagnose(
    model: nn.Module,
    batch,
    *,
    k: int = 6,
    num_points: int | None = None,
    dtype: torch.dtype | str | None = torch.float64,
    method: str = "auto",
    dense_threshold: int = DENSE_THRESHOLD,
    step_map: bool | None = None,
    stage_maps: bool = True,
    growth: bool = True,
    gradients: bool = True,
    input_output: bool = True,
    consistency: bool = True,
    seed: int = 0,
    clamp_k: bool = False,
    threads: int | None = 1,
    progress: bool | None = None,
) -> Report:
    """Stability diagnostics of ``model`` on ``batch`` (a tensor, ``(x, y)`` or ``{"x", "y"}``).

    ``k`` eigenvalues of largest modulus and of largest real part are computed per block at
    each of the first ``num_points`` examples (default: 4, or fewer in a smaller batch);
    dense up to ``dense_threshold`` state dimensions, ARPACK above. ``step_map`` forces
    (``True``) or suppresses (``False``) the one-step-map spectra, which by default are
    computed for two-field, history and implicit blocks. ``k`` larger than a state's
    dimension is an error unless ``clamp_k``. The other flags switch the
    network-level parts on or off. The model is not modified: a copy in eval mode and
    ``dtype`` is analysed.

    ``threads``: BLAS/LAPACK and torch threads for the analysis (default 1, restored on
    return or error; ``None`` keeps the caller's setting). One thread is the default because
    the solves are small products and ``O(n³)`` factorisations that extra threads slow down
    on a loaded machine (``results/bench_diagnose.md``). ``progress``: a tqdm bar over the
    blocks and, before a run estimated to take a minute or more, a line with the estimate
    (``None``: when stderr is a terminal; ``False``: never).
    """
    with pinned_threads(threads):
        return _diagnose_pinned(
            model,
            batch,
            k=k,
            num_points=num_points,
            dtype=dtype,
            method=method,
            dense_threshold=dense_threshold,
            step_map=step_map,
            stage_maps=stage_maps,
            growth=growth,
            gradients=gradients,
            input_output=input_output,
            consistency=consistency,
            seed=seed,
            clamp_k=clamp_k,
            progress=progress,
        )


def _diagnose_pinned(
    model, batch, *, k, num_points, dtype, method, dense_threshold, step_map, stage_maps,
    growth, gradients, input_output, consistency, seed, clamp_k, progress
) -> Report:  # fmt: skip
    """The body of :func:`diagnose`, run with the threads pinned."""
    x, labels = split_batch(batch)
    num_points = min(4, x.shape[0]) if num_points is None else num_points
    check_positive_int(num_points, "num_points")
    check_positive_int(k, "k (number of eigenvalues)")
    if num_points > x.shape[0]:
        raise ValueError(f"num_points={num_points} but the batch has only {x.shape[0]} examples")
    work = working_copy(model, dtype)
    param = next(work.parameters(), None)
    work_dtype = x.dtype if param is None else param.dtype
    x = x.to(work_dtype) if x.is_floating_point() else x
    if param is not None:  # the batch goes where the model lives (CPU or GPU)
        x = x.to(param.device)
        labels = None if labels is None else labels.to(param.device)
    inputs = stage_inputs(work, x)
    notes: list[str] = []
    stage_reports = []
    total, estimate, dims = 0, 0.0, []
    for _, stage in find_stages(work):  # the plan, for the estimate and the bar
        if id(stage) in inputs:
            y0 = inputs[id(stage)][:1]
            n = _argument_dim(stage, y0)
            block = stage.blocks[0]
            two = block.state_layout is not StateLayout.ONE or isinstance(block, ImplicitBlock)
            with torch.no_grad():
                m = flatten_state(block.init(y0)).numel()
            step_dim = m if (two if step_map is None else step_map) else None
            dense = method == "dense" or (method == "auto" and n <= dense_threshold)
            total += stage.steps
            dims.append(n)
            estimate += stage.steps * num_points * estimate_seconds(n, dense, step_dim)
    bar = block_progress(total, estimate, dims, progress)
    for i, (name, stage) in enumerate(find_stages(work)):
        if id(stage) not in inputs:
            notes.append(f"stage {name!r} is not called by the model's forward: skipped")
            continue
        stage_input = inputs[id(stage)]
        points = [stage_input[p : p + 1] for p in range(num_points)]
        dim = _argument_dim(stage, points[0])
        stage_k = min(k, dim) if clamp_k else check_k(k, dim)
        per_block_states = [[] for _ in range(stage.steps)]
        for y0 in points:
            with torch.no_grad():
                for j, _, state in stage.states(y0):
                    if j < stage.steps:
                        per_block_states[j].append(state)
        blocks = []
        for j in range(stage.steps):
            block = stage.block_at(j)
            args = (per_block_states[j], stage_k, method, dense_threshold, step_map, seed)
            blocks.append(_analyse_block(i, j, block, *args))
            bar.update(1)
        report = StageReport(
            index=i,
            name=name,
            scheme=stage.scheme.name,
            steps=stage.steps,
            horizon=stage.horizon,
            h=stage.h,
            shared=stage.shared,
            state_shape=list(stage_input.shape[1:]),
            blocks=blocks,
        )
        if stage_maps:
            for y0 in points:
                values, _ = singular_values(
                    LinearizedMap(stage, y0), k, method, dense_threshold, seed
                )
                report.singular_values.append(values)
            report.top_singular_value = float(max(v[0] for v in report.singular_values))
        if growth:
            report.growth = [perturbation_growth(stage, y0, seed) for y0 in points]
        stage_reports.append(report)
    bar.close()
    network = NetworkReport()
    if gradients:
        grads = gradient_norms(work, x, labels, seed)
        network.loss = grads["loss"]
        for report, g in zip(stage_reports, grads["stages"], strict=False):
            report.state_grad_norms = g["state_grad_norms"]
            for b in report.blocks:
                b.param_grad_norm = g["param_grad_norms"][0 if report.shared else b.step]
    if input_output:
        for p in range(num_points):
            values, _ = singular_values(
                LinearizedMap(work, x[p : p + 1]), k, method, dense_threshold, seed
            )
            network.singular_values.append(values)
        network.top_singular_value = float(max(v[0] for v in network.singular_values))
    if consistency:
        network.consistency = refinement_consistency(work, x[:num_points])
    options = dict(
        k=k,
        num_points=num_points,
        method=method,
        dense_threshold=dense_threshold,
        step_map=step_map,
        seed=seed,
    )
    return Report(
        model_label(model),
        num_points,
        k,
        str(work_dtype).replace("torch.", ""),
        stage_reports,
        network,
        options,
        notes,
    )


def _argument_dim(stage, y0) -> int:
    """Dimension of the space the block's stability argument acts on."""
    with torch.no_grad():
        state = stage.blocks[0].init(y0)
    return state_argument(state).numel()


def compact_summary(model: nn.Module, batch, k: int = 4, max_examples: int = 64) -> dict:
    """A cheap JSON-ready digest for training logs (a few seconds on a digits model).

    Per block: max amplification, margin, ``h*`` (from ``k`` eigenvalues at one data
    point) and the weight-gradient norm on up to ``max_examples`` examples; the network's
    top input–output singular value; the worst margin and ``h/h*`` over all blocks.
    """
    x, labels = split_batch(batch)
    x = x[:max_examples]
    labels = None if labels is None else labels[:max_examples]
    report = diagnose(
        model,
        (x, labels) if labels is not None else x,
        k=k,
        num_points=1,
        clamp_k=True,
        step_map=False,
        stage_maps=False,
        growth=False,
        consistency=False,
    )
    blocks = [
        {
            "stage": b.stage,
            "step": b.step,
            "max_amplification": b.max_amplification,
            "margin": b.margin,
            "h": b.h,
            "h_star": b.h_star,
            "grad_norm": b.param_grad_norm,
        }
        for b in report.blocks
    ]
    margins = [b.margin for b in report.blocks if b.margin is not None]
    ratios = [b.h_ratio for b in report.blocks if b.h_ratio is not None]
    never = sum(1 for b in report.blocks if b.h_star == 0.0)
    from .report import to_jsonable

    return to_jsonable(
        {
            "min_margin": min(margins) if margins else None,
            "max_h_over_h_star": max(ratios) if ratios else None,  # null when some h* = 0
            "blocks_unstable_for_every_h": never,
            "network_top_singular_value": report.network.top_singular_value,
            "blocks": blocks,
        }
    )
