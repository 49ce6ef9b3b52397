"""Sketched Newton on the exact augmented Lagrangian, for ``min f(x) s.t. c(x) = 0``.

Our implementation of the adaptive inexact Newton method of "Constrained
Optimization via Exact Augmented Lagrangian and Randomized Iterative
Sketching": each iteration

1. solves the Lagrangian Newton (KKT) system ::

       [ H   J^T ] [dx]     [ grad_x L ]
       [ J   0   ] [dl] = - [ c        ]

   *inexactly*, by randomized iterative sketching
   (:func:`modeling.numeric.sketch.sketch_solve`), to the relative accuracy
   ``||residual|| <= theta_t ||(grad_x L, c)||`` with
   ``theta_t = min(theta, sqrt(||(grad_x L, c)||))`` (tighter near the
   solution, for a fast local rate);
2. checks that ``(dx, dl)`` is a sufficient descent direction of the exact
   augmented Lagrangian merit function ::

       M(x, l) = f + l^T c + (mu / 2) ||c||^2 + (nu / 2) ||grad_x L||^2

   i.e. ``grad M . (dx, dl) <= -(nu / 2) ||(grad_x L, c)||^2``.  When it is not,
   the adaptive controls act: the penalty ``mu`` is raised if that can make
   the direction a descent direction (``c^T J dx < 0``), otherwise the sketch
   is tightened (a tenth of the residual) and, as a last resort, the Hessian
   is shifted by ``delta I`` (nonconvex problems);
3. takes the longest step ``alpha in {1, 1/2, ...}`` passing Armijo's test on
   ``M`` — the exact augmented Lagrangian accepts unit steps near a solution,
   so there is no Maratos effect.

It stops when the KKT residual ``max(|grad_x L|_inf, |c|_inf) <= tol``.  The
history records, per iteration, the merit value, the penalty, the sketch
size, and how often the sketch was tightened, so the adaptive rules can be
seen at work (and tested).

>>> from modeling.numeric.problem import expression_problem
>>> p = expression_problem("(x - 1)**2 + (y - 2)**2", ["x", "y"], equalities=["x + y - 1"])
>>> r = sketched_newton(p)
>>> r.status, round(r.objective, 6), round(r.solution["y"], 6)
('optimal', 2.0, 1.0)
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from modeling.numeric.problem import EqualityProblem, Matrix
from modeling.numeric.result import NumericResult, Status
from modeling.numeric.sketch import SketchState, sketch_solve

__all__ = ["kkt_matrix", "sketched_newton"]


_INERTIA_MAX = 1500  # dense KKT systems up to this size get an exact inertia check


def _inertia_shift(h: Matrix, j: Matrix, delta: float, n: int) -> float:
    """The smallest shift ``delta`` (from the last one, x10 steps) giving the KKT matrix inertia (n, m, 0).

    That inertia means the Hessian is positive definite on the constraints' null
    space, so the Newton step heads for a minimum, not a saddle or a maximum.
    """
    shift = delta
    for _ in range(30):
        eig = np.linalg.eigvalsh(np.asarray(kkt_matrix(h, j, shift)))
        scale = max(1.0, float(np.max(np.abs(eig))))
        if int(np.sum(eig > 1e-10 * scale)) == n and int(np.sum(np.abs(eig) <= 1e-10 * scale)) == 0:
            return shift
        shift = max(10.0 * shift, 1e-4)
    return shift


def kkt_matrix(h: Matrix, j: Matrix, delta: float = 0.0) -> Matrix:
    """``[[H + delta I, J^T], [J, 0]]``, sparse when either block is."""
    n = h.shape[0]
    m = j.shape[0]
    if sp.issparse(h) or sp.issparse(j):
        hs = sp.csr_matrix(h)
        if delta:
            hs = hs + delta * sp.identity(n, format="csr")
        js = sp.csr_matrix(j)
        return sp.bmat([[hs, js.T], [js, None]], format="csr") if m else hs
    hd = np.asarray(h, dtype=float) + delta * np.eye(n)
    if not m:
        return hd
    jd = np.asarray(j, dtype=float)
    return np.block([[hd, jd.T], [jd, np.zeros((m, m))]])


class _Point:
    """Everything the method needs at one primal-dual point, computed once."""

    def __init__(self, p: EqualityProblem, x: np.ndarray, lam: np.ndarray, mu: float, nu: float):
        self.x, self.lam = x, lam
        self.f = float(p.fun(x))
        self.g = np.asarray(p.grad(x), dtype=float)
        self.c = p.constraints(x)
        self.j = p.jacobian(x)
        self.gl = self.g + (self.j.T @ lam if p.m else 0.0)
        self.kkt = max(
            float(np.max(np.abs(self.gl))) if p.n else 0.0,
            float(np.max(np.abs(self.c))) if p.m else 0.0,
        )
        self.finite = (
            math.isfinite(self.f)
            and bool(np.all(np.isfinite(self.gl)))
            and bool(np.all(np.isfinite(self.c)))
        )
        self.merit_at(mu, nu)

    def merit_at(self, mu: float, nu: float) -> float:
        self.merit = (
            self.f
            + float(self.lam @ self.c)
            + 0.5 * mu * float(self.c @ self.c)
            + 0.5 * nu * float(self.gl @ self.gl)
        )
        return self.merit


def sketched_newton(
    problem: EqualityProblem,
    x0: np.ndarray | None = None,
    lam0: np.ndarray | None = None,
    *,
    tol: float = 1e-6,
    max_iter: int = 200,
    time_limit: float | None = None,
    mu: float = 10.0,
    nu: float = 0.1,
    theta: float = 0.5,
    sketch_block: int = 1,
    sketch_steps: int | None = None,
    allow_full_sketch: bool = True,
    armijo: float = 1e-4,
    seed: int = 0,
) -> NumericResult:
    """Minimise ``problem`` by sketched Newton steps on the exact augmented Lagrangian.

    ``sketch_block`` / ``sketch_steps`` set the starting sketch (rows per
    projection; projections per accuracy check, default 8);
    the adaptive rule tightens it when an accuracy test fails.  ``mu`` and
    ``nu`` are the merit's penalty (raised adaptively) and its weight on
    ``||grad_x L||^2`` (fixed).  With ``allow_full_sketch=False`` a sketch holds at
    most half the rows (no direct solve ever; tightening then adds projections);
    the run stops with ``termination="sketch_stalled"`` when a needed accuracy is
    not reached within the sketch's step budget.
    See the module doc for the method.
    """
    t0 = time.perf_counter()
    p = problem
    rng = np.random.default_rng(seed)
    x = (p.x0 if x0 is None else np.asarray(x0, dtype=float)).copy()
    lam = np.zeros(p.m) if lam0 is None else np.asarray(lam0, dtype=float).copy()
    size = p.n + p.m
    state = SketchState(
        block=max(1, min(sketch_block, size)),
        steps=sketch_steps or 8,
    )
    delta = 0.0
    pt = _Point(p, x, lam, mu, nu)
    history: list[dict[str, float]] = []
    grad_evals = 1.0
    termination = "iteration_limit"
    it = 0
    if not pt.finite:
        termination = "not_finite"
    while pt.finite:
        if pt.kkt <= tol:
            termination = "converged"
            break
        if it >= max_iter:
            break
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            termination = "time_limit"
            break
        it += 1
        h = p.hessian(pt.x, pt.lam)
        rhs = -np.concatenate([pt.gl, pt.c])
        norm_rhs = float(np.linalg.norm(rhs))
        theta_t = min(theta, math.sqrt(norm_rhs))
        h_gl = np.asarray(h @ pt.gl, dtype=float).reshape(p.n)
        grad_m_lam = pt.c + (nu * (pt.j @ pt.gl) if p.m else np.zeros(0))
        tightened = 0
        accuracy = theta_t * norm_rhs
        z: np.ndarray | None = None
        stalled = False
        cap = None if allow_full_sketch else max(1, size // 2)
        dense = not (sp.issparse(h) or sp.issparse(pt.j))
        if dense and size <= _INERTIA_MAX:
            delta = _inertia_shift(h, pt.j, delta, p.n)
        for _attempt in range(60):
            k = kkt_matrix(h, pt.j, delta)
            z, rep = sketch_solve(k, rhs, accuracy, state, rng, z0=z, max_block=cap)
            tightened += rep.tightened
            if rep.residual > accuracy:
                if not allow_full_sketch or not rep.full:
                    stalled = True
                    break
                delta = max(10.0 * delta, 1e-4)  # singular KKT matrix: shift the Hessian
                z = None
                continue
            dx, dl = z[: p.n], z[p.n :]
            if not (dense and size <= _INERTIA_MAX):
                # inertia-free curvature test: along the step, the augmented Hessian
                # H + mu J^T J (+ the shift) must curve upwards, else the Newton model is
                # not convex along it (it may head for a maximum) and the Hessian is shifted
                jdx = pt.j @ dx if p.m else np.zeros(0)
                curv = float(dx @ (h @ dx)) + mu * float(jdx @ jdx) + delta * float(dx @ dx)
                if curv < 1e-8 * float(dx @ dx):
                    delta = max(10.0 * delta, 1e-4)
                    z = None
                    continue
            grad_m_x = pt.gl + mu * (pt.j.T @ pt.c if p.m else 0.0) + nu * h_gl
            slope = float(grad_m_x @ dx) + float(grad_m_lam @ dl)
            target = -0.5 * nu * norm_rhs**2
            if slope <= target:
                break
            pen = float(pt.c @ (pt.j @ dx)) if p.m else 0.0
            if pen < -1e-12 * norm_rhs**2:
                # slope is affine in mu with slope pen < 0: raise mu past the needed value
                need = mu + (slope - target) / -pen
                mu = max(2.0 * mu, 1.01 * need)
                continue
            if rep.residual > 1e-3 * accuracy and accuracy > 1e-14 * norm_rhs:
                accuracy *= 0.1
                state.block = min(2 * state.block, size)
                state.tightenings += 1
                tightened += 1
                continue
            delta = max(2.0 * delta, 1e-4 * max(1.0, float(np.max(np.abs(pt.g)))))
            z = None
        assert z is not None
        if stalled:
            termination = "sketch_stalled"
            break
        dx, dl = z[: p.n], z[p.n :]
        pt.merit_at(mu, nu)
        grad_m_x = pt.gl + mu * (pt.j.T @ pt.c if p.m else 0.0) + nu * h_gl
        slope = float(grad_m_x @ dx) + float(grad_m_lam @ dl)
        alpha = 1.0
        new = None
        for _ls in range(50):
            trial = _Point(p, pt.x + alpha * dx, pt.lam + alpha * dl, mu, nu)
            grad_evals += 1
            if trial.finite and trial.merit <= pt.merit + armijo * alpha * slope:
                new = trial
                break
            alpha *= 0.5
        if new is None:
            termination = "line_search_failed"
            break
        pt = new
        delta *= 0.5 if delta > 1e-10 else 0.0
        history.append(
            {
                "iteration": it,
                "objective": p.sign * pt.f,
                "kkt": pt.kkt,
                "infeasibility": float(np.max(np.abs(pt.c))) if p.m else 0.0,
                "merit": pt.merit,
                "step": alpha,
                "mu": mu,
                "sketch_block": state.block,
                "sketch_steps": rep.steps,
                "tightened": tightened,
                "grad_evals": grad_evals,
            }
        )
    if not pt.finite:
        termination = "not_finite"
    status: Status = (
        "optimal" if termination == "converged" else ("error" if not pt.finite else "stopped")
    )
    return NumericResult(
        status=status,
        termination=termination,
        x=pt.x,
        solution=p.point(pt.x),
        objective=p.sign * pt.f,
        iterations=it,
        method="sketched-newton",
        history=history,
        kkt_residual=pt.kkt,
        multipliers=p.sign * pt.lam if p.m else None,
        grad_evals=grad_evals,
        time=time.perf_counter() - t0,
        message=f"sketch tightened {state.tightenings} times; final block {state.block} of {size} rows; mu {mu:g}",
    )
