"""Solver fallbacks: a solver error is retried before it is reported, a huge optimum is checked."""

from __future__ import annotations

from typing import Any

import pytest

from modeling.backends.base import BackendError, SolverOptions
from modeling.backends.highs import HighsBackend
from modeling.backends.pyomo import PyomoBackend
from modeling.compiler import CompiledModel
from modeling.result import Status
from modeling.solve import NUMERICS_OPTIONS, solve

# A quadratically constrained model: only SCIP (through Pyomo) solves it here.
QCQP = {
    "variables": {"x": {"upper": 3}, "y": {"upper": 3}},
    "objective": {"sense": "maximize", "expression": "x + 2 * y"},
    "constraints": [{"name": "disc", "expression": "x**2 + y**2 <= 4"}],
}
LP = {
    "variables": {"x": {"upper": 4}, "y": {"upper": 4}},
    "objective": {"sense": "maximize", "expression": "3 * x + 2 * y"},
    "constraints": [{"name": "cap", "expression": "x + y <= 5"}],
}


def _scip_fails_unless(condition: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Make the Pyomo backend raise SCIP's LP error unless ``condition(options)``."""
    seen: list[dict[str, Any]] = []
    real = PyomoBackend.solve

    def flaky(self: PyomoBackend, model: CompiledModel, options: SolverOptions) -> Any:
        seen.append(dict(options.extra))
        if not condition(options):
            raise BackendError("SCIP: error in LP solver")
        return real(self, model, options)

    monkeypatch.setattr(PyomoBackend, "solve", flaky)
    return seen


def test_a_solver_error_is_retried_with_numerics_emphasis(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _scip_fails_unless(lambda o: "lp/scaling" in o.extra, monkeypatch)
    result = solve(QCQP)

    assert result.status is Status.OPTIMAL
    assert result.objective == pytest.approx(2 * 5**0.5, rel=1e-5)
    assert result.tried[0] == "pyomo/scip: SCIP: error in LP solver"
    assert result.tried[1] == "pyomo/scip numerics emphasis: optimal"
    assert seen[1]["lp/scaling"] == NUMERICS_OPTIONS["scip"]["lp/scaling"]
    assert "tried:" in result.message and result.to_spec()["tried"] == list(result.tried)


def test_another_backend_is_tried_after_the_numerics_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(self: HighsBackend, model: CompiledModel, options: SolverOptions) -> Any:
        raise BackendError("HiGHS: simplex failed")

    monkeypatch.setattr(HighsBackend, "solve", broken)
    result = solve(LP)

    assert result.status is Status.OPTIMAL and result.objective == pytest.approx(14)
    assert result.backend == "pyomo"
    assert [t.split(":")[0] for t in result.tried] == [
        "highs/highs",
        "highs/highs numerics emphasis",
        "pyomo/scip",
    ]
    # A backend the caller named is kept: only its numerics retry runs.
    named = solve(LP, backend="highs")
    assert named.status is Status.ERROR and "simplex failed" in named.message
    assert len(named.tried) == 2


def test_an_error_is_reported_only_after_every_able_backend_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _scip_fails_unless(lambda o: False, monkeypatch)
    result = solve(QCQP)

    assert result.status is Status.ERROR
    # HiGHS and PuLP cannot solve a quadratic constraint, so they are not tried.
    assert [t.split(":")[0] for t in result.tried] == ["pyomo/scip", "pyomo/scip numerics emphasis"]
    assert "error in LP solver" in result.message and "numerics emphasis" in result.message


def test_a_huge_optimum_of_an_unbounded_nonconvex_model_is_confirmed_unbounded() -> None:
    # SCIP calls this optimal with x = y = 1e5 (its cap on free variables).
    doc = {
        "variables": {"x": {}, "y": {}},
        "objective": {"sense": "maximize", "expression": "x + y * y"},
        "constraints": [{"name": "gap", "expression": "x - y <= 1"}],
    }
    result = solve(doc, time_limit=30)

    assert result.status is Status.UNBOUNDED and result.objective is None
    assert "improving with the box: unbounded" in result.tried[-1]
    assert "bound box" in result.message


def test_a_bounded_nonconvex_optimum_is_not_second_guessed() -> None:
    doc = {
        "variables": {"x": {"upper": 3}, "y": {"upper": 3}},
        "objective": {"sense": "maximize", "expression": "x + y * y"},
        "constraints": [{"name": "gap", "expression": "x - y <= 1"}],
    }
    result = solve(doc, time_limit=30)
    assert result.status is Status.OPTIMAL and result.objective == pytest.approx(12)
    assert result.tried == ()
