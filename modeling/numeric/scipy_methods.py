"""SciPy's SLSQP and trust-constr on an :class:`EqualityProblem`, returning a :class:`NumericResult`.

The reference methods of the benchmark and the CLI's ``--method slsqp`` /
``--method trust-constr``: they read the same exact derivatives as
:func:`modeling.numeric.sketched_newton` (trust-constr also the Hessians), and
their result is scored with the same KKT residual, so the numbers compare.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from modeling.numeric.problem import EqualityProblem
from modeling.numeric.result import NumericResult, Status

__all__ = ["kkt_residual", "scipy_minimize"]


def kkt_residual(
    problem: EqualityProblem, x: np.ndarray, lam: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """``max(|grad f + J^T lam|_inf, |c|_inf)`` and ``lam`` (least-squares multipliers if not given)."""
    g = np.asarray(problem.grad(x), dtype=float)
    if not problem.m:
        return float(np.max(np.abs(g))), np.zeros(0)
    j = problem.jacobian(x)
    c = problem.constraints(x)
    if lam is None:
        if sp.issparse(j):
            lam = np.asarray(spla.lsqr(j.T, -g, atol=1e-14, btol=1e-14)[0])
        else:
            lam = np.linalg.lstsq(np.asarray(j).T, -g, rcond=None)[0]
    gl = g + j.T @ lam
    return max(float(np.max(np.abs(gl))), float(np.max(np.abs(c)))), lam


class _Stop(Exception):
    pass


def scipy_minimize(
    problem: EqualityProblem,
    method: str = "trust-constr",
    *,
    tol: float = 1e-6,
    max_iter: int = 1000,
    time_limit: float | None = None,
) -> NumericResult:
    """Solve with SciPy ``method`` (``slsqp``, ``trust-constr`` or, unconstrained, ``l-bfgs-b``).

    A run longer than ``time_limit`` seconds is stopped from the callback
    (status ``stopped``, termination ``time_limit``).
    """
    from scipy import optimize

    p = problem
    name = method.lower()
    if name not in ("slsqp", "trust-constr", "l-bfgs-b"):
        raise ValueError(f"method is slsqp, trust-constr or l-bfgs-b, not {method!r}")
    if name == "l-bfgs-b" and p.m:
        raise ValueError("L-BFGS-B takes no equality constraints; use slsqp or trust-constr")
    t0 = time.perf_counter()
    history: list[dict[str, float]] = []
    counts = {"grad": 0}
    last = {"x": p.x0.copy()}

    def grad(x: np.ndarray) -> np.ndarray:
        counts["grad"] += 1
        return np.asarray(p.grad(x), dtype=float)

    def callback(*args: Any) -> bool:
        xk = np.asarray(args[0].x if hasattr(args[0], "x") else args[0], dtype=float)
        last["x"] = xk.copy()
        history.append(
            {
                "iteration": len(history) + 1,
                "objective": p.sign * float(p.fun(xk)),
                "grad_evals": float(counts["grad"]),
            }
        )
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            raise _Stop
        return False

    kwargs: dict[str, Any] = {"jac": grad, "callback": callback}
    if name == "trust-constr":
        zero = np.zeros(p.m)

        def hess_f(x: np.ndarray) -> Any:
            return p.hessian(x, zero)

        kwargs["hess"] = hess_f
        if p.m:

            def hess_c(x: np.ndarray, v: np.ndarray) -> Any:
                return p.hessian(x, np.asarray(v, dtype=float)) - p.hessian(x, zero)

            assert p.cons is not None and p.jac is not None
            kwargs["constraints"] = optimize.NonlinearConstraint(
                p.constraints, 0.0, 0.0, jac=p.jacobian, hess=hess_c
            )
        kwargs["options"] = {"maxiter": max_iter, "gtol": tol, "xtol": 1e-14}
    elif name == "slsqp":
        if p.m:

            def jac_dense(x: np.ndarray) -> np.ndarray:
                j = p.jacobian(x)
                return np.asarray(j.toarray() if sp.issparse(j) else j)

            kwargs["constraints"] = [{"type": "eq", "fun": p.constraints, "jac": jac_dense}]
        kwargs["options"] = {"maxiter": max_iter, "ftol": tol * tol}
    else:
        kwargs["options"] = {"maxiter": max_iter, "gtol": tol}
    termination = ""
    try:
        res = optimize.minimize(p.fun, p.x0, method=name, **kwargs)
        x = np.asarray(res.x, dtype=float)
        iters = int(getattr(res, "nit", len(history)))
        termination = f"scipy: {res.message}"
        lam_scipy = getattr(res, "v", None)
    except _Stop:
        x, iters, lam_scipy = last["x"], len(history), None
        termination = "time_limit"
    except (ValueError, np.linalg.LinAlgError, MemoryError) as exc:
        return NumericResult(
            "error",
            f"scipy: {exc}",
            p.x0,
            {},
            float("nan"),
            0,
            name,
            history,
            time=time.perf_counter() - t0,
        )
    lam = None
    if lam_scipy is not None and p.m:
        lam = np.asarray(lam_scipy[0], dtype=float) if len(lam_scipy) else None
    kkt, lam = kkt_residual(p, x, lam)
    f = float(p.fun(x))
    ok = bool(np.isfinite(f)) and kkt <= max(tol, 1e-12) * 10
    status: Status = "optimal" if ok and termination != "time_limit" else "stopped"
    return NumericResult(
        status=status,
        termination=termination,
        x=x,
        solution=p.point(x),
        objective=p.sign * f,
        iterations=iters,
        method=name,
        history=history,
        kkt_residual=kkt,
        multipliers=p.sign * lam if p.m else None,
        grad_evals=float(counts["grad"]),
        time=time.perf_counter() - t0,
        message=termination,
    )
