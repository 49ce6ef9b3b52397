"""High powers reach SCIP as power expressions, and constant powers that overflow say so."""

from __future__ import annotations

from typing import Any

import pytest

from modeling import check, solve


def _doc(expression: str, upper: float = 1.0) -> dict[str, Any]:
    return {
        "name": "powers",
        "variables": {"x": {"type": "continuous", "lower": 0, "upper": upper}},
        "objective": {"sense": "maximize", "expression": expression},
        "constraints": [],
    }


@pytest.mark.parametrize(("expression", "optimum"), [("x ** 99", 1.0), ("(1 + x) ** 30", 2.0**30)])
def test_high_powers_solve_through_scip_without_being_multiplied_out(
    expression: str, optimum: float
) -> None:
    result = solve(_doc(expression), backend="pyomo", solver="scip", time_limit=20)

    assert result.status == "optimal", result.message
    assert result.objective == pytest.approx(optimum, rel=1e-6)


@pytest.mark.timeout(60)
def test_pyomo_scip_keeps_a_huge_power_as_one_node() -> None:
    # check() refuses exponents above 100, so this drives the backend's translation
    # directly: Pyomo's own handler multiplied x ** 100000 out and never finished.
    import pyomo.environ as pyo

    from modeling.backends.pyomo import _teach_scip_powers

    _teach_scip_powers()
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 1))
    m.obj = pyo.Objective(expr=m.x**100000, sense=pyo.maximize)
    out = pyo.SolverFactory("scip_direct").solve(m)

    assert str(out.solver.termination_condition) == "optimal"
    assert pyo.value(m.obj) == pytest.approx(1.0)


def test_a_constant_power_that_overflows_is_called_too_large() -> None:
    issues = check(_doc("x * 10.0 ** 400"))

    assert issues
    text = " ".join(str(i) for i in issues)
    assert "too large" in text
    assert "negative base" not in text
