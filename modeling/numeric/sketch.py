"""Randomized iterative sketching for a square linear system ``K z = b`` (sketch-and-project).

Each step draws a row sketch ``S`` — ``block`` rows of ``K`` chosen with
probability proportional to their squared norms (``block = 1`` is randomized
Kaczmarz) — and projects the iterate onto the solutions of the sketched
system ``S^T K z = S^T b``::

    z <- z + K_B^T (K_B K_B^T)^+ (b_B - K_B z)

The Newton solver asks for a *relative accuracy* ``||K z - b|| <= tol``.
:func:`sketch_solve` runs ``steps`` projections, checks the true residual,
and when the test fails *tightens the sketch* (doubles ``block``) and goes
on from where it is.  The sketch size lives in a :class:`SketchState` that
persists across Newton iterations, so the method learns how tight a sketch
the problem needs.  A block of every row is the exact projection, i.e. a
direct solve; reaching it is reported (``full``), not hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from modeling.numeric.problem import Matrix

__all__ = ["SketchReport", "SketchState", "sketch_solve"]


@dataclass
class SketchState:
    """The adaptive sketch: rows per projection and projections per accuracy check."""

    block: int = 1
    steps: int = 8
    """Projections between two residual checks; doubled once the block is at its cap."""
    tightenings: int = 0
    """How many times the sketch has been tightened so far (all solves)."""


@dataclass
class SketchReport:
    """What one :func:`sketch_solve` call did."""

    residual: float
    steps: int
    tightened: int
    full: bool


def _direct(k: Matrix, b: np.ndarray) -> np.ndarray:
    if sp.issparse(k):
        try:
            return np.asarray(spla.splu(sp.csc_matrix(k)).solve(b))
        except RuntimeError:  # singular: least squares
            return np.asarray(spla.lsqr(k, b, atol=1e-14, btol=1e-14)[0])
    try:
        return np.asarray(la.solve(k, b, assume_a="sym"))
    except (la.LinAlgError, ValueError):
        return np.asarray(la.lstsq(k, b)[0])


def _gram_solve(gram: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``gram^+ r`` for a small Gram matrix: Cholesky with a tiny shift, SVD if that fails."""
    shift = 1e-13 * float(np.trace(gram)) / len(gram)
    try:
        return np.asarray(la.solve(gram + shift * np.eye(len(gram)), r, assume_a="pos"))
    except (la.LinAlgError, ValueError):
        return np.asarray(la.lstsq(gram, r)[0])


def sketch_solve(
    k: Matrix,
    b: np.ndarray,
    tol: float,
    state: SketchState,
    rng: np.random.Generator,
    z0: np.ndarray | None = None,
    max_block: int | None = None,
    max_steps: int = 20_000,
) -> tuple[np.ndarray, SketchReport]:
    """An approximate solution of ``k z = b`` with ``||k z - b|| <= tol`` (see the module doc).

    ``k`` is dense or SciPy sparse.  With ``max_block`` below the number of
    rows the sketch never becomes the whole matrix (no direct solve): once the
    block cannot grow, tightening doubles the projections per check instead,
    and after ``max_steps`` projections the call returns with the residual it
    reached (the caller sees it is above ``tol``).
    """
    n = b.shape[0]
    z = np.zeros(n) if z0 is None else z0.astype(float).copy()
    sparse = sp.issparse(k)
    kr: Any = sp.csr_matrix(k) if sparse else np.asarray(k)
    if sparse:
        norms = np.asarray(kr.multiply(kr).sum(axis=1)).ravel()
    else:
        norms = np.einsum("ij,ij->i", kr, kr)
    live = np.flatnonzero(norms > 0)
    prob = norms[live] / norms[live].sum() if len(live) else norms
    steps = 0
    tightened = 0
    res = float(np.linalg.norm(kr @ z - b))
    cap = len(live) if max_block is None else max(1, min(max_block, len(live)))
    while res > tol:
        block = min(state.block, cap)
        if block >= len(live) or len(live) == 0:
            z = _direct(kr, b)
            res = float(np.linalg.norm(kr @ z - b))
            return z, SketchReport(res, steps, tightened, True)
        for _ in range(state.steps):
            pick = rng.choice(len(live), size=block, replace=False, p=prob)
            rows = live[pick]
            kb = kr[rows]
            r = b[rows] - kb @ z
            if block == 1:
                kb_row = kb.toarray().ravel() if sparse else kb.ravel()
                z += (r[0] / norms[rows[0]]) * kb_row
            elif sparse and block > 200:
                gram = sp.csc_matrix(kb @ kb.T)
                shift = 1e-13 * float(gram.diagonal().mean())
                y = spla.spsolve(gram + shift * sp.identity(block, format="csc"), r)
                z += kb.T @ y
            else:
                gram = (kb @ kb.T).toarray() if sparse else kb @ kb.T
                z += kb.T @ _gram_solve(gram, r)
            steps += 1
        res = float(np.linalg.norm(kr @ z - b))
        if res > tol:
            if steps >= max_steps:
                break
            if state.block < cap:
                state.block = min(2 * state.block, cap if cap < len(live) else n)
            else:
                state.steps *= 2
            state.tightenings += 1
            tightened += 1
    return z, SketchReport(res, steps, tightened, False)
