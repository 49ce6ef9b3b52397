#!/usr/bin/env python3
"""Numeric tools side by side: sketched Newton vs SciPy, and the first-order family vs L-BFGS-B.

Part 1 — equality-constrained NLP, ``min f(x) s.t. c(x) = 0``
  Methods   sketched-newton  modeling.numeric.sketched_newton (exact augmented Lagrangian +
                             randomized block-Kaczmarz sketching; the sketch may grow to the
                             whole KKT system, i.e. a direct solve, when the accuracy test needs it)
            sketch-only      the same with sketches capped at half the rows (never a direct solve)
            trust-constr     scipy.optimize.minimize(method="trust-constr"), exact Hessians
            slsqp            scipy.optimize.minimize(method="SLSQP") (dense, quasi-Newton)
  Problems  hs006 ... hs079  Hock-Schittkowski equality problems with known optima, written in our
                             expression language (derivatives by our AD: modeling.numeric.testset)
            pde-N            semilinear elliptic control on (0, 1), n = 2N unknowns (state y and
                             control u on N grid points):  min h/2 |y - y_d|^2 + alpha h/2 |u|^2
                             s.t. h (A y + y^3 - u) = 0, A the 3-point Laplacian; sparse callables
  Reported  time until the KKT residual max(|grad L|_inf, |c|_inf) <= 1e-6 (the whole run; a run
            that ends above 1e-6 is "—" with the residual it reached), iterations. Each run is a
            child process killed at --cap seconds ("—" beyond): that is where a method stops being
            practical here.

Part 2 — smooth data fitting, loss vs gradient evaluations (full-gradient units)
  least squares           N x d Gaussian design, noisy linear targets, mean squared error
  constrained logistic    logistic loss with weights in [0, inf) (projected; L-BFGS-B gets bounds)
  Methods: adam, adamp, diffgrad (batch 64), adadagrad (AdaGrad + AdAdaGrad's norm-test batch
  schedule), scipy L-BFGS-B (full gradients). Reported: best full loss reached within a budget of
  gradient evaluations.

Usage: python bench/numeric_tools.py [--quick] [--cap 60] [--sizes 1000,10000,100000]
Timings are wall-clock on whatever machine runs it; they are ratios within one run, not claims.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modeling.numeric import (  # noqa: E402
    EqualityProblem,
    FiniteSum,
    adadagrad,
    adam,
    adamp,
    diffgrad,
    scipy_minimize,
    sketched_newton,
)
from modeling.numeric.testset import HS_PROBLEMS  # noqa: E402

KKT_TOL = 1e-6
NLP_METHODS = ("sketched-newton", "sketch-only", "trust-constr", "slsqp")


# ---------------------------------------------------------------- problems


def pde_problem(n: int, alpha: float = 1e-2) -> EqualityProblem:
    """Semilinear elliptic control with ``n`` unknowns (``n/2`` grid points), sparse derivatives."""
    k = n // 2
    h = 1.0 / (k + 1)
    t = np.linspace(h, 1 - h, k)
    yd = 10.0 * t * (1 - t) + np.sin(3 * np.pi * t)
    lap = sp.diags([-np.ones(k - 1), 2 * np.ones(k), -np.ones(k - 1)], [-1, 0, 1], format="csr") / (
        h * h
    )
    eye = sp.identity(k, format="csr")

    def split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x[:k], x[k:]

    def fun(x: np.ndarray) -> float:
        y, u = split(x)
        return float(0.5 * h * np.sum((y - yd) ** 2) + 0.5 * alpha * h * np.sum(u * u))

    def grad(x: np.ndarray) -> np.ndarray:
        y, u = split(x)
        return np.concatenate([h * (y - yd), alpha * h * u])

    def cons(x: np.ndarray) -> np.ndarray:
        y, u = split(x)
        return h * (lap @ y + y**3 - u)

    def jac(x: np.ndarray) -> sp.csr_matrix:
        y, _ = split(x)
        return sp.hstack([h * (lap + sp.diags(3 * y * y)), -h * eye], format="csr")

    def hess(x: np.ndarray, lam: np.ndarray) -> sp.csr_matrix:
        y, _ = split(x)
        return sp.block_diag([h * eye + sp.diags(6 * h * lam * y), alpha * h * eye], format="csr")

    return EqualityProblem(
        n=2 * k, fun=fun, grad=grad, x0=np.zeros(2 * k), m=k, cons=cons, jac=jac, hess=hess
    )


def _build(name: str) -> EqualityProblem:
    if name.startswith("pde-"):
        return pde_problem(int(name[4:]))
    return next(c for c in HS_PROBLEMS if c.name == name).build()


def _solve(name: str, method: str, cap: float) -> dict[str, Any]:
    p = _build(name)
    t0 = time.perf_counter()
    if method == "sketched-newton":
        r = sketched_newton(p, tol=KKT_TOL, max_iter=500, time_limit=cap)
    elif method == "sketch-only":
        r = sketched_newton(p, tol=KKT_TOL, max_iter=500, time_limit=cap, allow_full_sketch=False)
    else:
        r = scipy_minimize(p, method, tol=KKT_TOL, max_iter=5000, time_limit=cap)
    return {
        "time": time.perf_counter() - t0,
        "iterations": r.iterations,
        "kkt": r.kkt_residual,
        "objective": r.objective,
        "termination": r.termination,
    }


def _child(q: Any, name: str, method: str, cap: float) -> None:
    try:
        q.put(_solve(name, method, cap))
    except Exception as exc:  # reported as a cell, not a crash of the benchmark
        q.put({"error": f"{type(exc).__name__}: {exc}"})


def run_capped(name: str, method: str, cap: float) -> dict[str, Any]:
    """One solve in a child process, killed after ``cap`` seconds (plus a grace second)."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=_child, args=(q, name, method, cap))
    t0 = time.perf_counter()
    proc.start()
    proc.join(cap + 1.0)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return {"killed": True, "time": time.perf_counter() - t0}
    try:
        return dict(q.get(timeout=5))
    except Exception:
        return {"error": f"child exited with {proc.exitcode}"}


def _cell(r: dict[str, Any], cap: float) -> str:
    if r.get("killed"):
        return f"— (>{cap:g} s)"
    if "error" in r:
        return f"error: {r['error'][:40]}"
    kkt = r.get("kkt")
    if kkt is None or not math.isfinite(kkt) or kkt > KKT_TOL or r["time"] > cap:
        return f"— (kkt {kkt:.0e}, {r['iterations']} it)" if kkt is not None else "—"
    return f"{r['time']:.3f} s / {r['iterations']} it"


def part_nlp(names: list[str], cap: float, out: Callable[[str], None]) -> None:
    out("| problem | " + " | ".join(NLP_METHODS) + " |")
    out("|---|" + "---|" * len(NLP_METHODS))
    for name in names:
        cells = []
        for method in NLP_METHODS:
            if method == "slsqp" and name.startswith("pde-") and int(name[4:]) > 20_000:
                cells.append(f"— (dense; n = {name[4:]} not attempted)")
                continue
            cells.append(_cell(run_capped(name, method, cap), cap))
        out(f"| {name} | " + " | ".join(cells) + " |")
        sys.stdout.flush()


# ---------------------------------------------------------------- part 2


def least_squares(n: int, d: int, seed: int = 0) -> FiniteSum:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, d)) * rng.uniform(0.2, 3.0, size=d)  # uneven column scales
    b = a @ rng.normal(size=d) + 0.1 * rng.normal(size=n)

    def rows(idx: np.ndarray | None) -> np.ndarray:
        return np.arange(n) if idx is None else idx

    return FiniteSum(
        n,
        lambda x, idx: float(0.5 * np.mean((a[rows(idx)] @ x - b[rows(idx)]) ** 2)),
        lambda x, idx: a[rows(idx)].T @ (a[rows(idx)] @ x - b[rows(idx)]) / len(rows(idx)),
        np.zeros(d),
        lambda x, idx: a[idx] * (a[idx] @ x - b[idx])[:, None],
    )


def logistic(n: int, d: int, seed: int = 1) -> FiniteSum:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, d))
    w = np.abs(rng.normal(size=d)) * (rng.uniform(size=d) < 0.5)
    yv = np.where(rng.uniform(size=n) < 1 / (1 + np.exp(-(a @ w))), 1.0, -1.0)
    reg = 1e-3

    def rows(idx: np.ndarray | None) -> np.ndarray:
        return np.arange(n) if idx is None else idx

    def loss(x: np.ndarray, idx: np.ndarray | None) -> float:
        i = rows(idx)
        return float(np.mean(np.logaddexp(0.0, -yv[i] * (a[i] @ x))) + 0.5 * reg * x @ x)

    def sample_grads(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        z = yv[idx] * (a[idx] @ x)
        s = -yv[idx] / (1 + np.exp(z))
        return a[idx] * s[:, None] + reg * x

    def grad(x: np.ndarray, idx: np.ndarray | None) -> np.ndarray:
        return sample_grads(x, rows(idx)).mean(axis=0)

    return FiniteSum(n, loss, grad, np.zeros(d), sample_grads, lower=np.zeros(d), upper=None)


def _lbfgsb(fs: FiniteSum, budget: float) -> list[tuple[float, float]]:
    from scipy import optimize

    trace: list[tuple[float, float]] = []
    count = [0]

    def fg(x: np.ndarray) -> tuple[float, np.ndarray]:
        count[0] += 1
        f = fs.loss(x, None)
        trace.append((float(count[0]), f))
        return f, fs.grad(x, None)

    bounds = None
    if fs.lower is not None:
        bounds = [(float(lo), None) for lo in fs.lower]
    optimize.minimize(
        fg,
        fs.x0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxfun": int(budget), "maxiter": int(budget), "gtol": 1e-12, "ftol": 1e-15},
    )
    return trace


def part_first_order(quick: bool, out: Callable[[str], None]) -> None:
    n, d = (2000, 20) if quick else (20000, 50)
    budgets = (1, 5, 20, 50) if quick else (1, 5, 20, 100)
    tasks = {"least squares": least_squares(n, d), "constrained logistic": logistic(n, d)}
    for task, fs in tasks.items():
        out(f"\n{task} (N = {n}, d = {d}); best full loss within a budget of gradient evaluations")
        out("| method | " + " | ".join(f"{b} grads" for b in budgets) + " |")
        out("|---|" + "---|" * len(budgets))
        runs: dict[str, list[tuple[float, float]]] = {}
        kw: dict[str, Any] = {"max_grad_evals": budgets[-1], "max_iter": 10**7, "record_every": 1}
        runs["adam (b=64)"] = _trace(adam(fs, lr=0.05, batch=64, **kw))
        runs["adamp (b=64)"] = _trace(adamp(fs, lr=0.05, batch=64, **kw))
        runs["diffgrad (b=64)"] = _trace(diffgrad(fs, lr=0.05, batch=64, **kw))
        runs["adadagrad (adaptive b)"] = _trace(adadagrad(fs, lr=0.2, **kw))
        runs["L-BFGS-B (full)"] = _lbfgsb(fs, budgets[-1])
        best = min(v for tr in runs.values() for _, v in tr)
        for name, tr in runs.items():
            cells = []
            for b in budgets:
                vals = [v for g, v in tr if g <= b + 1e-9]
                cells.append(f"{min(vals) - best:.2e}" if vals else "—")
            out(f"| {name} | " + " | ".join(cells) + " |")
        out(f"(cells: loss minus the best loss any method reached, {best:.6g})")
        sys.stdout.flush()


def _trace(r: Any) -> list[tuple[float, float]]:
    return [(h["grad_evals"], h["objective"]) for h in r.history]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, 10 s cap: a smoke test")
    ap.add_argument(
        "--cap", type=float, default=None, help="seconds per run (default 60; 10 quick)"
    )
    ap.add_argument("--sizes", default=None, help="PDE sizes n (default 1000,10000,100000)")
    ap.add_argument("--skip-first-order", action="store_true")
    args = ap.parse_args(argv)
    cap = args.cap if args.cap is not None else (10.0 if args.quick else 60.0)
    sizes = [
        int(s) for s in (args.sizes or ("1000" if args.quick else "1000,10000,100000")).split(",")
    ]
    hs = [c.name for c in HS_PROBLEMS]
    if args.quick:
        hs = ["hs006", "hs039", "hs079"]
    out = print
    out(
        f"# equality-constrained NLP: time to KKT residual <= {KKT_TOL:g}, iterations (cap {cap:g} s)\n"
    )
    part_nlp(hs + [f"pde-{n}" for n in sizes], cap, out)
    if not args.skip_first_order:
        out("\n# first-order methods: loss vs gradient evaluations")
        part_first_order(args.quick, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
