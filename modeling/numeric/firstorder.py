"""Adaptive first-order methods for smooth data-fitting objectives: Adam, AdamP, diffGrad, AdAdaGrad.

The objective is a finite sum ``f(x) = (1/N) sum_i f_i(x)`` (:class:`FiniteSum`);
a minibatch gradient is the mean over a sample of the ``f_i``.  An objective
from our expression language is a sum of one term (full-batch; its gradient
is exact, by :mod:`modeling.numeric.autodiff`).  Every method returns the
:class:`~modeling.numeric.result.NumericResult` of the other methods, whose
``history`` holds the full loss against gradient evaluations (counted in
full-gradient units: a batch of ``b`` of ``N`` samples is ``b / N``).

* :func:`adam` — Kingma & Ba (2015).
* :func:`adamp` — Heo et al. (2021): Adam whose update loses its radial
  component (and most of its weight decay) when the gradient is nearly
  orthogonal to ``x`` (scale-invariant parameters), so the norm of ``x`` does not
  grow just to slow the effective step.
* :func:`diffgrad` — Dubey et al. (2019): Adam's step scaled by a friction
  ``sigmoid(|g_{t-1} - g_t|)``, small where the gradient changes little.
* :func:`adadagrad` — AdaGrad with the adaptive batch-size schedule of
  AdAdaGrad (Lau et al., 2024): the batch grows when the *norm test*
  ``Var_B(grad f_i) / |B| <= eta^2 ||grad_B f||^2`` fails, to the size that would
  pass it.  Any method can use the schedule with ``batch="adaptive"``.

Box bounds (``lower``/``upper``) are kept by projection after every step,
which is how the constrained logistic regression of the benchmark is solved.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modeling.numeric.problem import EqualityProblem
from modeling.numeric.result import NumericResult, Status

__all__ = ["FiniteSum", "adadagrad", "adam", "adamp", "diffgrad"]

Batch = int | str | None


@dataclass
class FiniteSum:
    """``f(x) = mean_i f_i(x)`` over ``n_samples`` terms, with mean gradients over a sample.

    ``loss(x, idx)`` / ``grad(x, idx)`` are the mean value / gradient over the
    samples ``idx`` (``None``: all).  ``sample_grads(x, idx)`` (one row per
    sample) is needed only by the adaptive batch schedule's norm test.
    """

    n_samples: int
    loss: Callable[[np.ndarray, np.ndarray | None], float]
    grad: Callable[[np.ndarray, np.ndarray | None], np.ndarray]
    x0: np.ndarray
    sample_grads: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    names: list[str] = field(default_factory=list)
    sign: float = 1.0

    @classmethod
    def from_problem(cls, problem: EqualityProblem) -> FiniteSum:
        """An unconstrained :class:`EqualityProblem` (e.g. from an expression) as one-term sum."""
        if problem.m:
            raise ValueError(
                "first-order methods take no equality constraints; use sketched-newton, "
                "slsqp or trust-constr"
            )

        def loss(x: np.ndarray, idx: np.ndarray | None) -> float:
            return float(problem.fun(x))

        def grad(x: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
            return np.asarray(problem.grad(x), dtype=float)

        def sample_grads(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
            return grad(x, None)[None, :]

        return cls(
            1, loss, grad, problem.x0.copy(), sample_grads, names=problem.names, sign=problem.sign
        )

    def project(self, x: np.ndarray) -> np.ndarray:
        """``x`` clipped into the box (unchanged without bounds)."""
        if self.lower is not None or self.upper is not None:
            return np.clip(x, self.lower, self.upper)
        return x

    def point(self, x: np.ndarray) -> dict[str, float]:
        names = self.names or [f"x[{i}]" for i in range(len(x))]
        return {k: float(v) for k, v in zip(names, x, strict=True)}


Rule = Callable[[np.ndarray, np.ndarray, dict[str, Any], int], np.ndarray]


def _run(
    name: str,
    fs: FiniteSum | EqualityProblem,
    rule: Rule,
    *,
    x0: np.ndarray | None,
    max_iter: int,
    tol: float,
    batch: Batch,
    eta: float,
    max_grad_evals: float | None,
    time_limit: float | None,
    record_every: int,
    seed: int,
) -> NumericResult:
    t0 = time.perf_counter()
    if isinstance(fs, EqualityProblem):
        fs = FiniteSum.from_problem(fs)
    rng = np.random.default_rng(seed)
    n = fs.n_samples
    x = fs.project(np.asarray(fs.x0 if x0 is None else x0, dtype=float).copy())
    adaptive = batch == "adaptive"
    if adaptive:
        if fs.sample_grads is None:
            raise ValueError("the adaptive batch schedule needs sample_grads(x, idx)")
        b = min(n, 2)
    elif batch is None or batch == "full":
        b = n
    elif isinstance(batch, int) and batch > 0:
        b = min(batch, n)
    else:
        raise ValueError(f"batch is a positive int, 'full', 'adaptive' or None, not {batch!r}")
    state: dict[str, Any] = {}
    history: list[dict[str, float]] = []
    grad_evals = 0.0
    termination = "iteration_limit"
    g_norm = math.inf
    it = 0
    while it < max_iter:
        if max_grad_evals is not None and grad_evals >= max_grad_evals:
            termination = "gradient_budget"
            break
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            termination = "time_limit"
            break
        it += 1
        idx = None if b >= n else rng.choice(n, size=b, replace=False)
        if adaptive:
            assert fs.sample_grads is not None
            rows = fs.sample_grads(x, np.arange(n) if idx is None else idx)
            g = rows.mean(axis=0)
            if b < n and len(rows) > 1:
                var = float(np.sum((rows - g) ** 2)) / (len(rows) - 1)
                gg = float(g @ g)
                if var / len(rows) > eta**2 * gg:
                    b = min(n, max(b + 1, math.ceil(var / (eta**2 * max(gg, 1e-300)))))
        else:
            g = np.asarray(fs.grad(x, idx), dtype=float)
        grad_evals += (n if idx is None else len(idx)) / n
        if not np.all(np.isfinite(g)):
            termination = "not_finite"
            break
        g_norm = float(np.max(np.abs(g))) if len(g) else 0.0
        x = fs.project(rule(x, g, state, it))
        if it % record_every == 0 or it == 1:
            history.append(
                {
                    "iteration": it,
                    "objective": fs.sign * float(fs.loss(x, None)),
                    "grad_evals": grad_evals,
                    "batch": float(b if idx is not None else n),
                    "grad_norm": g_norm,
                }
            )
        if idx is None and g_norm <= tol:
            termination = "converged"
            break
    f = float(fs.loss(x, None))
    status: Status = "stopped"
    if termination == "converged":
        status = "optimal"
    elif not math.isfinite(f):
        status = "error"
    return NumericResult(
        status=status,
        termination=termination,
        x=x,
        solution=fs.point(x),
        objective=fs.sign * f,
        iterations=it,
        method=name,
        history=history,
        kkt_residual=g_norm,
        grad_evals=grad_evals,
        time=time.perf_counter() - t0,
        message=f"final batch {b} of {n}",
    )


def _moments(
    g: np.ndarray, state: dict[str, Any], t: int, b1: float, b2: float, eps: float
) -> np.ndarray:
    m = state.get("m", np.zeros_like(g))
    v = state.get("v", np.zeros_like(g))
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    state["m"], state["v"] = m, v
    return (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)


def adam(
    problem: FiniteSum | EqualityProblem,
    x0: np.ndarray | None = None,
    *,
    lr: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    max_iter: int = 5000,
    tol: float = 1e-6,
    batch: Batch = None,
    eta: float = 1.0,
    max_grad_evals: float | None = None,
    time_limit: float | None = None,
    record_every: int = 1,
    seed: int = 0,
) -> NumericResult:
    """Adam with bias-corrected moments; ``batch`` is an int, None (full) or ``"adaptive"``."""
    b1, b2 = betas

    def rule(x: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int) -> np.ndarray:
        return x - lr * _moments(g, state, t, b1, b2, eps)

    return _run(
        "adam",
        problem,
        rule,
        x0=x0,
        max_iter=max_iter,
        tol=tol,
        batch=batch,
        eta=eta,
        max_grad_evals=max_grad_evals,
        time_limit=time_limit,
        record_every=record_every,
        seed=seed,
    )


def adamp(
    problem: FiniteSum | EqualityProblem,
    x0: np.ndarray | None = None,
    *,
    lr: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    delta: float = 0.1,
    wd_ratio: float = 0.1,
    max_iter: int = 5000,
    tol: float = 1e-6,
    batch: Batch = None,
    eta: float = 1.0,
    max_grad_evals: float | None = None,
    time_limit: float | None = None,
    record_every: int = 1,
    seed: int = 0,
) -> NumericResult:
    """AdamP: Adam whose step is projected off ``x`` when ``cos(x, g) < delta / sqrt(dim)``."""
    b1, b2 = betas

    def rule(x: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int) -> np.ndarray:
        step = _moments(g, state, t, b1, b2, eps)
        decay = weight_decay
        nx, ng = float(np.linalg.norm(x)), float(np.linalg.norm(g))
        if nx > eps and ng > eps:
            cos = abs(float(x @ g)) / (nx * ng)
            if cos < delta / math.sqrt(len(x)):
                step = step - x * float(x @ step) / (nx * nx)
                decay = weight_decay * wd_ratio
        return x * (1 - lr * decay) - lr * step

    return _run(
        "adamp",
        problem,
        rule,
        x0=x0,
        max_iter=max_iter,
        tol=tol,
        batch=batch,
        eta=eta,
        max_grad_evals=max_grad_evals,
        time_limit=time_limit,
        record_every=record_every,
        seed=seed,
    )


def diffgrad(
    problem: FiniteSum | EqualityProblem,
    x0: np.ndarray | None = None,
    *,
    lr: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    max_iter: int = 5000,
    tol: float = 1e-6,
    batch: Batch = None,
    eta: float = 1.0,
    max_grad_evals: float | None = None,
    time_limit: float | None = None,
    record_every: int = 1,
    seed: int = 0,
) -> NumericResult:
    """diffGrad: Adam's step times the friction ``1 / (1 + exp(-|g_prev - g|))``."""
    b1, b2 = betas

    def rule(x: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int) -> np.ndarray:
        prev = state.get("g_prev", np.zeros_like(g))
        friction = 1.0 / (1.0 + np.exp(-np.abs(prev - g)))
        state["g_prev"] = g.copy()
        return x - lr * friction * _moments(g, state, t, b1, b2, eps)

    return _run(
        "diffgrad",
        problem,
        rule,
        x0=x0,
        max_iter=max_iter,
        tol=tol,
        batch=batch,
        eta=eta,
        max_grad_evals=max_grad_evals,
        time_limit=time_limit,
        record_every=record_every,
        seed=seed,
    )


def adadagrad(
    problem: FiniteSum | EqualityProblem,
    x0: np.ndarray | None = None,
    *,
    lr: float = 0.1,
    eps: float = 1e-10,
    max_iter: int = 5000,
    tol: float = 1e-6,
    batch: Batch = "adaptive",
    eta: float = 1.0,
    max_grad_evals: float | None = None,
    time_limit: float | None = None,
    record_every: int = 1,
    seed: int = 0,
) -> NumericResult:
    """AdaGrad (per coordinate) with AdAdaGrad's norm-test batch schedule (``eta``: the test's slack).

    On a one-term objective (an expression) the schedule has nothing to
    sample and the method is full-batch AdaGrad.
    """

    def rule(x: np.ndarray, g: np.ndarray, state: dict[str, Any], t: int) -> np.ndarray:
        acc = state.get("acc", np.zeros_like(g)) + g * g
        state["acc"] = acc
        return x - lr * g / (np.sqrt(acc) + eps)

    return _run(
        "adadagrad",
        problem,
        rule,
        x0=x0,
        max_iter=max_iter,
        tol=tol,
        batch=batch,
        eta=eta,
        max_grad_evals=max_grad_evals,
        time_limit=time_limit,
        record_every=record_every,
        seed=seed,
    )
