"""Sketched Newton on the exact augmented Lagrangian: optima, merit descent, adaptive sketching."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from modeling.numeric import EqualityProblem, expression_problem, sketched_newton
from modeling.numeric.testset import HS_PROBLEMS


@pytest.mark.parametrize("case", HS_PROBLEMS, ids=lambda c: c.name)
def test_known_optima_are_reached(case) -> None:  # type: ignore[no-untyped-def]
    r = sketched_newton(case.build(), tol=1e-8)
    assert r.status == "optimal", r.termination
    assert r.kkt_residual is not None and r.kkt_residual <= 1e-8
    assert r.objective == pytest.approx(case.optimum, abs=1e-6)


def test_merit_decreases_along_iterates_while_the_penalty_is_fixed() -> None:
    case = next(c for c in HS_PROBLEMS if c.name == "hs046")
    r = sketched_newton(case.build())
    assert r.status == "optimal"
    hist = r.history
    assert len(hist) > 5
    pairs = [(a, b) for a, b in zip(hist, hist[1:], strict=False) if a["mu"] == b["mu"]]
    assert pairs
    for a, b in pairs:
        assert b["merit"] < a["merit"]


def test_lagrange_multiplier_and_maximisation() -> None:
    # max x*y s.t. x + y = 2: optimum x = y = 1, value 1, multiplier of f + lam c is -1
    r = sketched_newton(
        expression_problem(
            "x * y", {"x": 0.5, "y": 0.2}, equalities=["x + y == 2"], sense="maximize"
        )
    )
    assert r.status == "optimal"
    assert r.objective == pytest.approx(1.0)
    assert r.solution == pytest.approx({"x": 1.0, "y": 1.0})


def _random_qp(n: int = 40, m: int = 10) -> tuple[EqualityProblem, np.ndarray]:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(m, n))
    b = rng.normal(size=m)
    q = np.diag(rng.uniform(1, 3, n))
    c = rng.normal(size=n)
    p = EqualityProblem(
        n=n,
        fun=lambda x: 0.5 * x @ q @ x + c @ x,
        grad=lambda x: q @ x + c,
        x0=np.zeros(n),
        m=m,
        cons=lambda x: a @ x - b,
        jac=lambda x: a,
        hess=lambda x, lam: q,
    )
    kkt = np.block([[q, a.T], [a, np.zeros((m, m))]])
    exact = np.linalg.solve(kkt, np.concatenate([-c, b]))[:n]
    return p, exact


def test_a_too_coarse_sketch_is_tightened_and_the_run_still_converges() -> None:
    p, exact = _random_qp()
    # one Kaczmarz row, one projection per check: far too coarse for the accuracy test
    r = sketched_newton(p, sketch_block=1, sketch_steps=1, allow_full_sketch=False)
    assert r.status == "optimal"
    assert r.history[0]["tightened"] > 0
    assert r.history[-1]["sketch_block"] > 1
    assert max(h["sketch_block"] for h in r.history) <= 25  # never the whole 50-row system
    assert r.x == pytest.approx(exact, abs=1e-5)


def test_callables_with_sparse_derivatives() -> None:
    # min sum (x_i - i)^2 s.t. sum x_i = 0, sparse Jacobian and Hessian from the user
    n = 50
    target = np.arange(n, dtype=float)
    p = EqualityProblem(
        n=n,
        fun=lambda x: float(np.sum((x - target) ** 2)),
        grad=lambda x: 2 * (x - target),
        x0=np.zeros(n),
        m=1,
        cons=lambda x: np.array([x.sum()]),
        jac=lambda x: sp.csr_matrix(np.ones((1, n))),
        hess=lambda x, lam: 2 * sp.identity(n, format="csr"),
    )
    r = sketched_newton(p)
    assert r.status == "optimal"
    assert r.x == pytest.approx(target - target.mean(), abs=1e-6)
