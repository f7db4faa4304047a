"""Linearised maps ``v ↦ J v`` of a function at a point, for dense and matrix-free spectra.

A :class:`LinearizedMap` wraps ``f`` (tensors or ``Pair``/``History`` states in and out) at a
point ``x₀`` and exposes its Jacobian ``J = ∂f/∂x(x₀)`` as a flat ``n_out × n_in`` operator:
``matvec`` is a JVP (``torch.func.linearize``, falling back to ``torch.func.jvp``),
``rmatvec`` a VJP (``torch.func.vjp``), ``dense()`` the full Jacobian (``torch.func.jacrev``
in chunks). :meth:`LinearizedMap.as_linear_operator` hands it to ARPACK
(``scipy.sparse.linalg``). Nothing here forms ``J`` unless ``dense()`` is called.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch.func import jacrev, jvp, linearize, vjp

from ..blocks.base import state_leaves, state_like


def quiet_jvp(fn, primals, tangents):
    """``torch.func.jvp``, silencing torch's own deprecation notice on first use."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
        return jvp(fn, primals, tangents)


#: after this many Jacobian-vector products a map is traced once with torch.func.linearize
LINEARIZE_AFTER = 64


def state_tensors(state) -> list[torch.Tensor]:
    """The tensors of a state (its leaves, :func:`odenets.blocks.base.state_leaves`)."""
    return list(state_leaves(state))


def flatten_state(state) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in state_tensors(state)])


def unflattener(state) -> Callable[[torch.Tensor], object]:
    """The inverse of :func:`flatten_state` for states shaped like ``state``."""
    shapes = [t.shape for t in state_tensors(state)]
    sizes = [int(np.prod(s)) for s in shapes]

    def unflatten(flat: torch.Tensor):
        parts = [p.reshape(s) for p, s in zip(torch.split(flat, sizes), shapes, strict=True)]
        return state_like(state, parts)

    return unflatten


class LinearizedMap:
    """The Jacobian of ``fn`` at ``point`` as a flat linear map (JVP/VJP, never formed).

    ``fn`` maps a state shaped like ``point`` to a state (any of tensor, ``Pair``,
    ``History``); both are flattened by concatenating their tensors.
    """

    def __init__(self, fn: Callable, point):
        self.point = point
        unflatten = unflattener(point)
        self._flat_fn = lambda v: flatten_state(fn(unflatten(v)))
        self.x0 = flatten_state(point).detach()
        self.dtype = self.x0.dtype
        self._jvp, self._calls = None, 0
        self.n_in = self.x0.numel()
        with torch.no_grad():
            self.n_out = self._flat_fn(self.x0).numel()
        self._vjp_fn = None
        self._autograd: _AutogradProducts | None = None
        self.note = ""

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_out, self.n_in)

    # ----------------------------------------------------------------------- products
    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``J v`` by forward-mode AD.

        The first products are plain JVPs (one forward each); from the
        ``LINEARIZE_AFTER``-th on, the map is linearised once (``torch.func.linearize``
        traces the JVP graph, which then replays in about a third of the time): iterative
        eigensolvers that need hundreds of products pay the tracing once, small jobs never.
        """
        if self._autograd is not None:
            return self._autograd.matvec(v)
        self._calls += 1
        try:
            with torch.no_grad():
                if self._jvp is None and self._calls > LINEARIZE_AFTER:
                    self._jvp = self._make_jvp()
                if self._jvp is not None:
                    return self._jvp(v)
                return quiet_jvp(self._flat_fn, (self.x0,), (v,))[1]
        except RuntimeError as err:
            return self._fall_back(err).matvec(v)

    def _make_jvp(self):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, fn = linearize(self._flat_fn, self.x0)
                fn(torch.zeros_like(self.x0))  # the first call compiles: keep it quiet
            return fn
        except Exception:  # tracing can fail on exotic modules: plain JVP is always right
            return lambda v: quiet_jvp(self._flat_fn, (self.x0,), (v,))[1]

    def rmatvec(self, u: torch.Tensor) -> torch.Tensor:
        """``Jᵀ u`` by reverse-mode AD (one forward, reused for every product)."""
        if self._autograd is not None:
            return self._autograd.rmatvec(u)
        try:
            with torch.no_grad():
                if self._vjp_fn is None:
                    _, self._vjp_fn = vjp(self._flat_fn, self.x0)
                return self._vjp_fn(u)[0]
        except RuntimeError as err:
            return self._fall_back(err).rmatvec(u)

    def dense(self, chunk_size: int = 256) -> torch.Tensor:
        """The full ``n_out × n_in`` Jacobian (only for small states)."""
        if self._autograd is not None:
            return self._autograd.dense()
        try:
            with torch.no_grad():  # torch.func still differentiates; no graph to the weights
                jac = jacrev(self._flat_fn, chunk_size=chunk_size)(self.x0)
        except RuntimeError as err:
            return self._fall_back(err).dense()
        return jac.reshape(self.shape)

    def _fall_back(self, err: RuntimeError) -> _AutogradProducts:
        """Modules that torch.func cannot transform (e.g. torchdiffeq's adaptive solvers use
        an ``autograd.Function`` without ``setup_context``): use plain ``torch.autograd``."""
        self._autograd = _AutogradProducts(self._flat_fn, self.x0)
        self.note = f"torch.func unavailable ({str(err).splitlines()[0][:80]}...): autograd"
        return self._autograd

    def as_linear_operator(self) -> LinearOperator:
        """A ``scipy`` operator in float64 whose products call :meth:`matvec`/:meth:`rmatvec`."""

        def wrap(apply, size):
            def product(v):
                v = torch.as_tensor(np.asarray(v).reshape(size), dtype=self.dtype)
                v = v.to(self.x0.device)
                with torch.no_grad():
                    return apply(v).detach().cpu().numpy().astype(np.float64)

            return product

        return LinearOperator(
            self.shape,
            matvec=wrap(self.matvec, self.n_in),
            rmatvec=wrap(self.rmatvec, self.n_out),
            dtype=np.float64,
        )


class ComposedMap:
    """``A·B`` of two square linearised maps of the same size (for partitioned schemes)."""

    def __init__(self, outer: LinearizedMap, inner: LinearizedMap):
        if inner.n_out != outer.n_in:
            raise ValueError(f"cannot compose maps of shapes {outer.shape} and {inner.shape}")
        self.outer, self.inner = outer, inner
        self.dtype = inner.dtype
        self.x0 = inner.x0  # the device (and dtype) products run on, as for LinearizedMap
        self.note = inner.note or outer.note
        self.n_in, self.n_out = inner.n_in, outer.n_out

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_out, self.n_in)

    def matvec(self, v):
        return self.outer.matvec(self.inner.matvec(v))

    def rmatvec(self, u):
        return self.inner.rmatvec(self.outer.rmatvec(u))

    def dense(self, chunk_size: int = 256) -> torch.Tensor:
        return self.outer.dense(chunk_size) @ self.inner.dense(chunk_size)

    as_linear_operator = LinearizedMap.as_linear_operator


class _AutogradProducts:
    """``J v`` and ``Jᵀ u`` with ``torch.autograd`` on one recorded graph.

    ``Jᵀ u`` is a backward pass; ``J v`` is the double-backward trick
    ``J v = ∂/∂u (Jᵀ u)·v`` (``Jᵀ u`` is linear in ``u``), so no forward-mode support is
    needed from the modules.
    """

    def __init__(self, flat_fn, x0):
        with torch.enable_grad():
            self.x = x0.detach().clone().requires_grad_(True)
            self.y = flat_fn(self.x)
            self.u = torch.zeros_like(self.y, requires_grad=True)
            (self.jt_u,) = torch.autograd.grad(self.y, self.x, self.u, create_graph=True)
        self.n_in, self.n_out = self.x.numel(), self.y.numel()

    def rmatvec(self, u):
        with torch.enable_grad():
            return torch.autograd.grad(self.y, self.x, u, retain_graph=True)[0].detach()

    def matvec(self, v):
        with torch.enable_grad():
            return torch.autograd.grad(self.jt_u, self.u, v, retain_graph=True)[0].detach()

    def dense(self):
        eye = torch.eye(self.n_out, dtype=self.y.dtype, device=self.y.device)
        return torch.stack([self.rmatvec(row) for row in eye])
