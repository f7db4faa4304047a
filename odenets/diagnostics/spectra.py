"""Eigenvalues and singular values of linearised maps, dense or matrix-free (ARPACK).

Small states (``n ≤ dense_threshold``): the Jacobian is formed with ``torch.func.jacrev`` and
all its eigenvalues come from ``torch.linalg.eigvals`` (LAPACK ``geev``). Large states (a
CIFAR stage state has 16·32·32 = 16,384 dimensions): implicitly restarted Arnoldi
(``scipy.sparse.linalg.eigs``) and Lanczos bidiagonalisation (``svds``) on a linear operator
whose products are JVPs and VJPs; ``J`` is never formed. The default threshold is where the
matrix-free path starts to win (``results/bench_spectra.md``).

:func:`block_operators` picks the operator whose spectrum a block's declared stability
reads, from the block's class data only (``state_layout``, ``stability.step_power``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.linalg import (
    ArpackError,
    ArpackNoConvergence,
    LinearOperator,
    eigs,
    eigsh,
    svds,
)
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .._validation import check_positive_int
from ..blocks.base import Block
from .operators import ComposedMap, LinearizedMap

#: state dimension up to which the Jacobian is formed densely (see results/bench_spectra.md)
DENSE_THRESHOLD = 900
METHODS = ("auto", "dense", "arpack")
#: ARPACK's relative accuracy goal (about 1e-9 relative error on converged eigenvalues)
ARPACK_TOL = 1e-8
#: restarts before ARPACK gives up and returns what converged (degenerate clusters, e.g. the
#: many zero eigenvalues of a ReLU Jacobian product, converge slowly in "largest real part")
ARPACK_MAXITER = 100


@dataclass
class Spectrum:
    """The ``k`` eigenvalues of largest modulus and of largest real part of an ``n × n`` map.

    ``all`` holds the whole spectrum when it was computed densely (``None`` otherwise);
    :attr:`relevant` is what stability is assessed on: the whole spectrum when known, else
    the union of the two Arnoldi sets (the eigenvalues that leave a bounded region first).
    """

    n: int
    method: str
    largest_modulus: np.ndarray
    largest_real: np.ndarray
    all: np.ndarray | None = None
    note: str = ""

    @property
    def relevant(self) -> np.ndarray:
        if self.all is not None:
            return self.all
        return np.concatenate([self.largest_modulus, self.largest_real])

    @property
    def spectral_radius(self) -> float:
        values = self.relevant
        return float(np.max(np.abs(values))) if values.size else float("nan")

    @property
    def max_real(self) -> float:
        values = self.relevant
        return float(np.max(values.real)) if values.size else float("nan")


@contextmanager
def pinned_threads(threads: int | None) -> Iterator[None]:
    """Run the body with ``threads`` BLAS/LAPACK and torch intra-op threads, then restore both.

    The eigen-solves here are many small products and ``O(n³)`` factorisations of a few
    thousand dimensions: on a loaded machine extra threads mostly wait on each other (the
    README example took minutes with 2 BLAS threads on a busy 2-core machine, seconds with
    one). ``threads=None`` leaves the caller's settings alone. BLAS pools are limited with
    ``threadpoolctl.threadpool_limits``; ``torch.set_num_threads`` is saved and restored in
    a ``finally`` (also when the body raises).
    """
    if threads is None:
        yield
        return
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    saved = torch.get_num_threads()
    try:
        with threadpool_limits(limits=threads):
            torch.set_num_threads(threads)
            yield
    finally:
        torch.set_num_threads(saved)


def check_k(k: int, n: int, what: str = "state") -> int:
    """``k`` eigenvalues are requested of an ``n``-dimensional map: ``1 ≤ k ≤ n``."""
    check_positive_int(k, "k (number of eigenvalues)")
    if k > n:
        raise ValueError(
            f"k={k} eigenvalues requested but the {what} dimension is only {n}; choose k <= {n}"
        )
    return k


def _choose(method: str, n: int, k: int, dense_threshold: int) -> str:
    if method not in METHODS:
        raise ValueError(f"Unknown spectrum method {method!r}; allowed: {list(METHODS)}")
    if method == "auto":
        # ARPACK needs k < n - 1 (eigs) and is slower than LAPACK on small matrices
        return "dense" if n <= dense_threshold or k >= n - 1 else "arpack"
    if method == "arpack" and k >= n - 1:
        raise ValueError(
            f"ARPACK computes at most n - 2 = {n - 2} eigenvalues of an {n}-dimensional map "
            f"(k={k}); use method='dense' or a smaller k"
        )
    return method


def _top(values: np.ndarray, k: int, key) -> np.ndarray:
    order = np.lexsort((values.imag, key(values)))[::-1]
    return values[order[:k]]


def _by_modulus(v):
    return np.abs(v)


def _by_real(v):
    return v.real


def eigenvalues(
    op: LinearizedMap | ComposedMap,
    k: int = 6,
    method: str = "auto",
    dense_threshold: int = DENSE_THRESHOLD,
    seed: int = 0,
) -> Spectrum:
    """The ``k`` eigenvalues of largest modulus and of largest real part of a square map."""
    n_out, n = op.shape
    if n_out != n:
        raise ValueError(f"eigenvalues need a square map, got shape {op.shape}")
    check_k(k, n)
    method = _choose(method, n, k, dense_threshold)
    if method == "dense":
        with torch.no_grad():
            values = torch.linalg.eigvals(op.dense()).cpu().numpy().astype(complex)
        return Spectrum(n, "dense", _top(values, k, _by_modulus), _top(values, k, _by_real), values)
    linear = op.as_linear_operator()
    v0 = np.random.default_rng(seed).standard_normal(n)
    found, notes = {}, []
    for which, key in (("LM", _by_modulus), ("LR", _by_real)):
        try:
            values = eigs(
                linear,
                k=k,
                which=which,
                v0=v0,
                ncv=min(n, max(2 * k + 1, 32)),
                tol=ARPACK_TOL,
                return_eigenvectors=False,
                maxiter=ARPACK_MAXITER,
            )
        except ArpackNoConvergence as err:  # keep what converged, say so
            values = err.eigenvalues
            notes.append(f"ARPACK ({which}) converged for {len(values)} of {k} eigenvalues")
        except ArpackError as err:
            if not str(err).startswith("ARPACK error -9:"):
                raise
            # -9: the operator maps the random start vector to zero, which (with probability
            # 1) only J = 0 does, e.g. a stage whose ReLUs are all off
            values = np.zeros(k, dtype=complex)
            if "J = 0" not in "".join(notes):
                notes.append("J v = 0 for a random v: J = 0 (all eigenvalues zero)")
        found[which] = _top(np.asarray(values, dtype=complex), k, key)
    if not (found["LM"].size or found["LR"].size) and n <= 4 * dense_threshold:
        dense = eigenvalues(op, k, "dense", dense_threshold, seed)
        dense.note = "ARPACK did not converge (clustered moduli): dense instead"
        return dense
    return Spectrum(n, "arpack", found["LM"], found["LR"], None, "; ".join(notes))


def singular_values(
    op: LinearizedMap | ComposedMap,
    k: int = 6,
    method: str = "auto",
    dense_threshold: int = DENSE_THRESHOLD,
    seed: int = 0,
) -> tuple[np.ndarray, str]:
    """The ``k`` largest singular values (descending) and the method used.

    ``k`` is clamped to ``min(n_out, n_in)`` (a map into 10 logits has 10 singular values).
    """
    check_positive_int(k, "k (number of singular values)")
    m, n = op.shape
    k = min(k, m, n)
    if method not in METHODS:
        raise ValueError(f"Unknown spectrum method {method!r}; allowed: {list(METHODS)}")
    use_dense = method == "dense" or (
        method == "auto" and (max(m, n) <= dense_threshold or k >= min(m, n))
    )
    if use_dense or k >= min(m, n):
        with torch.no_grad():
            values = torch.linalg.svdvals(op.dense()).cpu().numpy()
        return np.sort(values)[::-1][:k], "dense"
    v0 = np.random.default_rng(seed).standard_normal(min(m, n))
    linear = op.as_linear_operator()
    try:
        values = svds(
            linear,
            k=k,
            v0=v0,
            return_singular_vectors=False,
            solver="arpack",
            tol=ARPACK_TOL,
            maxiter=ARPACK_MAXITER,
        )
    except ArpackNoConvergence:
        if max(m, n) <= 4 * dense_threshold:  # clustered values: affordable to go dense
            with torch.no_grad():
                values = torch.linalg.svdvals(op.dense()).cpu().numpy()
            return np.sort(values)[::-1][:k], "dense (ARPACK did not converge)"
        return _converged_singular_values(linear, k, seed), "arpack (partial)"
    return np.sort(values)[::-1], "arpack"


def _converged_singular_values(linear: LinearOperator, k: int, seed: int) -> np.ndarray:
    """The singular values ARPACK did converge, from the eigenvalues of ``AᵀA``."""
    n = linear.shape[1]
    gram = LinearOperator(
        (n, n), matvec=lambda v: linear.rmatvec(linear.matvec(v)), dtype=linear.dtype
    )
    v0 = np.random.default_rng(seed).standard_normal(n)
    try:
        values = eigsh(gram, k=k, v0=v0, tol=ARPACK_TOL, maxiter=ARPACK_MAXITER,
                       return_eigenvectors=False)  # fmt: skip
    except ArpackNoConvergence as err:
        values = err.eigenvalues
    return np.sort(np.sqrt(np.abs(np.asarray(values, dtype=float))))[::-1]


# ------------------------------------------------------------------------ block operators
@dataclass
class BlockOperators:
    """The maps whose spectra describe one block at one state.

    ``argument``: the operator named by the declared stability (``∂F/∂y``, or
    ``∂F_Y/∂Z·∂F_Z/∂Y`` for two-field blocks), linearised at the state entering the block
    (two-field blocks: ``F_Z`` at the updated ``Y⁺`` that the step feeds it);
    ``step``: the Jacobian of the one-step map on the whole state (``None`` when not asked
    for, or for the starter step that opens a stage).
    """

    argument: LinearizedMap | ComposedMap
    step: LinearizedMap | None
    step_note: str = ""


def block_operators(block: Block, state, step_map: bool, first: bool = False) -> BlockOperators:
    """Build the linearised operators of ``block`` at ``state`` from its class data.

    ``first``: the state enters the first step of a stage, which a scheme with a starter
    step of its own takes with ``start`` (its stability is ``block.starter``'s).
    """
    maps = [LinearizedMap(field, point) for field, point in block.argument_factors(state)]
    argument = maps[0] if len(maps) == 1 else ComposedMap(*maps)
    step, note = None, ""
    if step_map:
        if first and block.has_own_starter:
            note = (
                "step map skipped: the first step is the scheme's starter "
                f"({block.starter.formula}), not the step whose stability is declared"
            )
        else:
            step = LinearizedMap(block.step, state)
    return BlockOperators(argument, step, note)


# ------------------------------------------------------------------- progress and estimate
#: seconds per ``n³`` of a dense eigensolve (LAPACK ``geev``, one thread of a loaded 2-core
#: machine: 2.5 s at n = 1,024, 11 s at 2,048, 29 s at 3,072; results/bench_diagnose.md)
DENSE_SECONDS_PER_N3 = 1.3e-9
#: seconds per dimension of a matrix-free step-map verdict (≈ 30,000 Jacobian-vector
#: products of 0.5 ms at n = 1,024 for an RK4 block: 77 s)
MATRIX_FREE_SECONDS_PER_N = 0.075
#: runs estimated to take at least this long announce their estimate before starting
ANNOUNCE_SECONDS = 60.0


def estimate_seconds(n: int, dense: bool, step_dim: int | None = None) -> float:
    """A rough cost of one block at one data point: the spectrum (and verdict) of an
    ``n``-dimensional argument operator, plus a dense step map of ``step_dim`` if any."""
    cost = DENSE_SECONDS_PER_N3 * n**3 if dense else MATRIX_FREE_SECONDS_PER_N * n
    if step_dim is not None:
        cost += DENSE_SECONDS_PER_N3 * step_dim**3
    return cost


def show_progress(progress: bool | None) -> bool:
    """``progress=None``: show a bar when stderr is a terminal."""
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


def block_progress(total: int, estimate: float, dims: list[int], progress: bool | None):
    """A tqdm bar over ``total`` blocks (a silent one when off), after a one-line estimate
    on stderr when the run is expected to take ``ANNOUNCE_SECONDS`` or more."""
    show = show_progress(progress)
    if show and estimate >= ANNOUNCE_SECONDS:
        sizes = ", ".join(str(d) for d in sorted(set(dims)))
        print(
            f"diagnose: about {estimate:.0f} s: {total} blocks of dimension {sizes}",
            file=sys.stderr,
            flush=True,
        )
    return tqdm(total=total, desc="diagnose", unit="block", disable=not show, leave=False)
