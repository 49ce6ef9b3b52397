"""What a solve tells a person: integer optima as integers, limits in clear words, no banner.

Issue 9's smaller items: ``18.999999`` printed for an integer optimum; PuLP's "Time
limit reached (Optimal, Solution Found)"; ``explain`` on an NLP printing "relative MIP
gap … convergenceCriteriaSatisfied"; the HiGHS banner on stderr.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest
from support import ROOT, SAMPLES, hard_knapsack

from modeling import Status, Termination, compile_model, diagnostics, solve
from modeling.cli import format_report
from modeling.diagnostics.reports import SolutionReport
from modeling.result import SolveResult
from modeling.solve import integral_solution, limit_message

# n (integer) and y (continuous): columns 0 and 1
DOC: dict[str, Any] = {
    "variables": {"n": {"type": "integer", "upper": 30}, "y": {"upper": 5}},
    "objective": {"sense": "max", "expression": "2 * n"},
    "constraints": [{"name": "c", "expression": "n + y <= 24"}],
}


def test_integer_values_within_the_tolerance_are_integers_and_so_is_a_provably_integral_objective() -> (
    None
):
    model = compile_model(DOC)
    x, obj = integral_solution(model, np.array([18.999999, 2.0000004]), 37.999998)
    assert x is not None
    assert x[0] == 19.0 and x[1] == 2.0000004  # continuous values are left alone
    assert obj == 38.0
    result = SolveResult(Status.OPTIMAL, Termination.OPTIMAL, objective=obj, x=x, model=model)
    report = format_report(result)
    assert re.search(r"objective\s+38\n", report) and "18.99" not in report
    assert result.to_spec()["variables"]["n"] == 19.0


@pytest.mark.parametrize(
    ("objective", "why"),
    [
        ("2 * n + y", "a continuous term"),
        ("2.5 * n", "a fractional coefficient"),
        ("2 * n + 0.5", "a fractional constant"),
        ("exp(n)", "a nonlinear objective"),
    ],
)
def test_an_objective_that_is_not_provably_integral_is_left_as_the_solver_gave_it(
    objective: str, why: str
) -> None:
    model = compile_model({**DOC, "objective": {"sense": "max", "expression": objective}})
    x, obj = integral_solution(model, np.array([18.999999, 2.0]), 40.2499975)
    assert x is not None and x[0] == 19.0, why
    assert obj == 40.2499975, why


def test_a_value_beyond_the_integrality_tolerance_is_not_rounded() -> None:
    model = compile_model(DOC)
    x, obj = integral_solution(model, np.array([18.9, 2.0]), 37.8)
    assert x is not None and x[0] == 18.9 and obj == 37.8


def test_a_solved_mip_reports_exact_integers() -> None:
    r = solve(SAMPLES / "knapsack_relief_cargo.yaml")
    assert r.status is Status.OPTIMAL and r.x is not None and r.model is not None
    ints = r.x[r.model.col_type > 0]
    assert np.array_equal(ints, np.round(ints))
    assert r.objective == round(r.objective or 0.5)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_pulp_at_a_time_limit_does_not_say_optimal(solver: str) -> None:
    r = solve(hard_knapsack(), backend="pulp", solver=solver, time_limit=0.05)
    assert r.termination is Termination.TIME_LIMIT
    assert "optimal" not in r.message.lower().replace("not proven optimal", "")
    if r.status is Status.FEASIBLE:
        assert r.message.startswith("the time limit was reached: the best solution found")
    else:
        assert r.message == "the time limit was reached before any solution was found"


def test_limit_message_keeps_solver_words_that_add_something() -> None:
    assert limit_message(Status.TIME_LIMIT, Termination.TIME_LIMIT, "") == (
        "the time limit was reached before any solution was found"
    )
    assert limit_message(Status.FEASIBLE, Termination.NUMERICAL, "error in LP solver") == (
        "the solver stopped on numerical trouble: the best solution found is returned, "
        "not proven optimal (solver: error in LP solver)"
    )


NLP: dict[str, Any] = {
    "variables": {"x": {"lower": 0.5, "upper": 3}},
    "objective": {"sense": "min", "expression": "x + 1 / x"},
}


def test_explain_on_an_nlp_shows_no_pyomo_status_name_and_no_mip_gap() -> None:
    text = diagnostics.explain(NLP).to_text()
    assert text.startswith("Status: optimal") and "(NLP, scip)" in text
    assert "MIP gap" not in text
    assert "convergenceCriteriaSatisfied" not in text
    assert "optimality tolerances are met" in text


def test_a_gap_is_called_a_mip_gap_only_for_integer_models() -> None:
    def shown(model_class: str) -> str:
        return SolutionReport("optimal", 2.0, model_class, "scip", gap=1.9e-8).to_text()

    assert "relative gap to the solver's proven bound: 1.9e-08" in shown("NLP")
    assert "MIP" not in shown("NLP")
    assert "relative MIP gap: 1.9e-08" in shown("MINLP")


def test_no_solver_banner_or_log_on_stderr_or_stdout_without_verbose() -> None:
    """A fresh process (HiGHS prints its banner on the first instance of a process)."""
    script = textwrap.dedent(
        f"""
        from modeling import diagnostics, solve
        from modeling.export import to_lp
        path = {str(SAMPLES / "knapsack_relief_cargo.yaml")!r}
        assert solve(path).status == "optimal"
        assert solve(path, backend="pulp", solver="highs").status == "optimal"
        to_lp(path)
        diagnostics.explain(path)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
