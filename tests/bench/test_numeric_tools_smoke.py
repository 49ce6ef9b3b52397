"""Smoke test of bench/numeric_tools.py: its PDE problem has consistent derivatives and every
method agrees on the optimum at a small size; a capped run reports a cell. Timings never asserted.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "numeric_tools.py"


def _load() -> ModuleType:
    name = "bench_numeric_tools"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_pde_problem_derivatives_match_differences() -> None:
    bench = _load()
    p = bench.pde_problem(20)
    rng = np.random.default_rng(0)
    x, lam, d = rng.normal(size=20), rng.normal(size=10), rng.normal(size=20)
    e = 1e-6
    assert p.grad(x) @ d == pytest.approx((p.fun(x + e * d) - p.fun(x - e * d)) / (2 * e), rel=1e-6)
    jd = (p.constraints(x + e * d) - p.constraints(x - e * d)) / (2 * e)
    assert p.jacobian(x) @ d == pytest.approx(jd, rel=1e-5, abs=1e-9)

    def gl(z: np.ndarray) -> np.ndarray:
        return p.grad(z) + p.jacobian(z).T @ lam

    assert p.hessian(x, lam) @ d == pytest.approx(
        (gl(x + e * d) - gl(x - e * d)) / (2 * e), rel=1e-5, abs=1e-9
    )


def test_methods_agree_on_a_small_pde_and_cells_are_reported() -> None:
    bench = _load()
    sols = {
        m: bench._solve("pde-40", m, 20.0) for m in ("sketched-newton", "trust-constr", "slsqp")
    }
    objs = [s["objective"] for s in sols.values()]
    assert max(objs) - min(objs) < 1e-6
    assert sols["sketched-newton"]["kkt"] <= bench.KKT_TOL
    assert bench._cell(sols["sketched-newton"], 20.0).endswith("it")
    assert bench._cell({"killed": True}, 5.0) == "— (>5 s)"
