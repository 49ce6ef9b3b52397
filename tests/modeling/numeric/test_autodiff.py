"""Exact derivatives of expressions: gradients and Hessian-vector products against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modeling.compiler import compile_model
from modeling.numeric import Tape, expression_problem


def _tape(expression: str, names: list[str]) -> Tape:
    model = compile_model(
        {
            "variables": {n: {"lower": None} for n in names},
            "objective": {"sense": "minimize", "expression": expression},
        }
    )
    assert model.obj_tree is not None, "expected a nonlinear objective"
    return Tape(model.obj_tree)


def test_gradient_and_hvp_match_the_closed_form() -> None:
    # f = exp(x*y) + sin(x)/y + sqrt(x**2 + y) + log(y)*cos(x)
    t = _tape("exp(x*y) + sin(x)/y + sqrt(x**2 + y) + log(y)*cos(x)", ["x", "y"])
    x, y = 0.7, 1.3
    d = np.array([0.3, -0.8])
    value, grad, hv = t.sweep(np.array([x, y]), d)
    e, s = math.exp(x * y), math.sqrt(x * x + y)
    assert value == pytest.approx(e + math.sin(x) / y + s + math.log(y) * math.cos(x))
    gx = y * e + math.cos(x) / y + x / s - math.log(y) * math.sin(x)
    gy = x * e - math.sin(x) / y**2 + 0.5 / s + math.cos(x) / y
    assert grad == pytest.approx([gx, gy], rel=1e-12)
    hxx = y * y * e - math.sin(x) / y + (s * s - x * x) / s**3 - math.log(y) * math.cos(x)
    hxy = e + x * y * e - math.cos(x) / y**2 - 0.5 * x / s**3 - math.sin(x) / y
    hyy = x * x * e + 2 * math.sin(x) / y**3 - 0.25 / s**3 - math.cos(x) / y**2
    h = np.array([[hxx, hxy], [hxy, hyy]])
    assert hv == pytest.approx(h @ d, rel=1e-10)


def test_powers_and_quotients() -> None:
    t = _tape("(x*y + 2)**2.5 + 1/(x + y**3)", ["x", "y"])
    x, y = 0.5, 0.8
    u, w = x * y + 2, x + y**3
    _, grad, hv = t.sweep(np.array([x, y]), np.array([1.0, 0.0]))
    gx = 2.5 * u**1.5 * y - 1 / w**2
    gy = 2.5 * u**1.5 * x - 3 * y * y / w**2
    assert grad == pytest.approx([gx, gy], rel=1e-12)
    hxx = 3.75 * u**0.5 * y * y + 2 / w**3
    hxy = 3.75 * u**0.5 * x * y + 2.5 * u**1.5 + 6 * y * y / w**3
    assert hv == pytest.approx([hxx, hxy], rel=1e-10)


def test_problem_jacobian_and_lagrangian_hessian_of_equalities() -> None:
    p = expression_problem(
        "(x - 1)**2 + exp(y)", ["x", "y"], equalities=["x**2 + y**2 == 1", "x + y - 1"]
    )
    x = np.array([0.3, 0.4])
    assert p.constraints(x) == pytest.approx([-0.3, -0.75])  # linear rows come first
    assert p.jacobian(x) == pytest.approx(np.array([[1.0, 1.0], [0.6, 0.8]]))
    lam = np.array([1.0, 2.0])
    h = p.hessian(x, lam)
    assert h == pytest.approx(np.diag([2 + 2 * 2, math.exp(0.4) + 2 * 2]))


def test_indexed_sums_over_data_are_differentiated() -> None:
    # a data-fitting objective over a set: sum_i (y_i - exp(a * t_i))**2
    from modeling.numeric import model_problem

    ts, ys = [0.0, 0.5, 1.0], [1.0, 1.6, 2.8]
    model = compile_model(
        {
            "sets": {"I": [0, 1, 2]},
            "parameters": {
                "t": {"index": ["I"], "values": dict(enumerate(ts))},
                "y": {"index": ["I"], "values": dict(enumerate(ys))},
            },
            "variables": {"a": {"lower": None}},
            "objective": {
                "sense": "minimize",
                "expression": "sum((y[i] - exp(a * t[i]))**2 for i in I)",
            },
        }
    )
    p = model_problem(model, x0=np.array([0.9]))
    a = 0.9
    g = sum(
        -2 * (yy - math.exp(a * tt)) * tt * math.exp(a * tt) for tt, yy in zip(ts, ys, strict=True)
    )
    assert p.grad(np.array([a])) == pytest.approx([g], rel=1e-12)
