"""Verification: the checks of a solution against the problem text, and the status findings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from agent import nodes
from agent import verify as verify_mod
from agent.context import RunContext
from agent.fake import FakeLLM
from agent.graph import route_message
from agent.state import AgentState
from agent.verify import (
    SEVERITY,
    asks_for_integers,
    integrality_request,
    repairable,
    sanity_findings,
    severity_of,
    verify,
)
from modeling.result import Status
from modeling.samples import load_samples


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("How many trucks should the firm hire?", ("trucks",)),
        ("Determine the number of nurses to schedule each day.", ("nurses",)),
        ("Production is in whole units only. Maximize profit.", None),
        ("Items are indivisible; choose which to pack.", None),
        ("Servings can be fractional. How many servings of each food should be eaten?", False),
        ("The number of truck trips per week to each store is 12.", False),
        ("How many tons should be shipped from each plant?", False),
        ("Fractional amounts are fine. How many crates should we buy?", False),
    ],
)
def test_integrality_is_asked_for_only_by_decisions_about_counts(
    text: str, asked: tuple[str, ...] | None | bool
) -> None:
    found = integrality_request(text)
    if asked is False:
        assert found is None and asks_for_integers(text) is None
    else:
        assert found is not None and found[1] == asked
        assert asks_for_integers(text) == found[0]


def _state(problem: str, sense: str, value: float, **doc: Any) -> AgentState:
    document = {
        "variables": doc.get("variables", {"x": {}}),
        "objective": {"sense": sense, "expression": "x", **doc.get("objective", {})},
    }
    return {
        "problem": problem,
        "document": document,
        "status": Status.OPTIMAL,
        "objective": value,
        "solution": doc.get("solution", {"x": 1.0}),
    }


def _codes(state: AgentState) -> list[str]:
    return [f["location"] for f in sanity_findings(state, RunContext(llm=FakeLLM([])))]


def test_a_fractional_count_of_what_the_problem_counts_is_a_finding() -> None:
    state = _state(
        "How many trucks should the firm hire to minimize cost?",
        "minimize",
        10.0,
        variables={"trucks": {"description": "trucks hired"}, "fuel": {}},
        solution={"trucks": 2.5, "fuel": 0.3},
    )
    assert _codes(state) == ["variables.trucks.type"]
    state["solution"] = {"trucks": 3.0, "fuel": 0.3}  # fuel is not counted
    assert _codes(state) == []


def test_verify_turns_an_invalid_status_into_its_issues_as_findings() -> None:
    issue = {"location": "objective", "message": "bad", "hint": "", "code": "invalid"}
    state: AgentState = {
        "problem": "p",
        "status": Status.INVALID,
        "issues": [issue],
        "attempts": [],
    }
    update = verify(state, RunContext(llm=FakeLLM([])))
    assert update["findings"] == [{**issue, "severity": "error", "evidence": "bad"}]
    assert update["attempts"][0]["status"] == "invalid"


def test_an_unknown_chat_route_raises_instead_of_becoming_a_new_problem() -> None:
    assert route_message({"route": "edit"}) == "edit"
    with pytest.raises(ValueError, match="unknown route 'edti'"):
        route_message({"route": "edti"})  # type: ignore[typeddict-item]
    with pytest.raises(ValueError, match="unknown route None"):
        route_message({})


# ----------------------------------------------- severities, evidence, true and false positives


def _run(problem: str, doc: Mapping[str, Any], tamper: Any = None) -> list[dict[str, Any]]:
    """Check, solve and verify ``doc`` as the agent does; ``tamper(result)`` edits the result."""
    ctx = RunContext(llm=FakeLLM([]))
    state: AgentState = {"problem": problem, "document": dict(doc), "attempts": []}
    state.update(nodes.check(state, ctx))  # type: ignore[typeddict-item]
    if state["status"] == "valid":
        state.update(nodes.solve(state, ctx))  # type: ignore[typeddict-item]
        if tamper is not None:
            ctx.scratch.last_result = tamper(ctx.scratch.last_result)
            state["objective"] = ctx.scratch.last_result.objective
        state.update(verify(state, ctx))  # type: ignore[typeddict-item]
    return list(state.get("attempts", [{}])[-1].get("errors") or [])


def _of(findings: list[dict[str, Any]], code: str) -> list[dict[str, Any]]:
    return [f for f in findings if f["code"] == code]


def _doc(objective: str, sense: str = "minimize", **parts: Any) -> dict[str, Any]:
    return {
        "parameters": parts.get("parameters", {}),
        "variables": parts.get("variables", {"x": {"upper": 4}}),
        "objective": {"sense": sense, "expression": objective},
        "constraints": parts.get("constraints", []),
    }


def test_every_finding_type_has_a_documented_severity() -> None:
    assert verify_mod.__doc__ is not None
    for code, severity in SEVERITY.items():
        row = next(ln for ln in verify_mod.__doc__.splitlines() if f"``{code}``" in ln)
        assert severity in row or code in ("time_limit", "internal"), row
    assert severity_of({"code": "undefined_symbol"}) == "error"  # a spec issue
    assert severity_of({"code": "magnitude", "severity": "note"}) == "note"  # its own wins


def test_an_invalid_document_is_an_error_and_a_valid_one_is_not() -> None:
    bad = _run("p", _doc("3 * y"))
    assert bad and all(severity_of(f) == "error" for f in bad)
    assert "y" in bad[0]["evidence"]
    assert _run("p", _doc("3 * x")) == []


def test_infeasibility_is_an_error_citing_the_conflicting_rows() -> None:
    rows = [{"name": "floor", "expression": "x >= 5"}]
    found = _run("p", _doc("x", constraints=rows))
    (inf,) = _of(found, "infeasible")
    assert severity_of(inf) == "error" and "floor" in inf["evidence"]
    rows = [{"name": "floor", "expression": "x >= 3"}]
    assert _run("p", _doc("x", constraints=rows)) == []


def test_unboundedness_is_an_error_citing_the_growing_variable() -> None:
    found = _run("p", _doc("x + y", "maximize", variables={"x": {"upper": 4}, "y": {}}))
    (unb,) = _of(found, "unbounded")
    assert severity_of(unb) == "error" and "y" in unb["evidence"]
    assert (
        _run("p", _doc("x + y", "maximize", variables={"x": {"upper": 4}, "y": {"upper": 1}})) == []
    )


TRUCKS = "Each truck carries 7 tonnes of the 30 to move. How many trucks should the firm hire?"


def test_ignored_integrality_is_an_error_citing_the_words_and_the_value() -> None:
    doc = _doc(
        "trucks",
        variables={"trucks": {}},
        constraints=[{"name": "move", "expression": "7 * trucks >= 30"}],
    )
    (f,) = _of(_run(TRUCKS, doc), "integrality")
    assert severity_of(f) == "error"
    assert "how many trucks" in f["evidence"].lower() and "4.2857" in f["evidence"]
    tons = "Each truck carries 7 tonnes. How many tonnes should be moved by truck?"
    assert _run(tons, doc) == []  # a measure, not a count
    doc["variables"]["trucks"]["type"] = "integer"
    assert _run(TRUCKS, doc) == []


def _tampered_x(value: float) -> Any:
    def tamper(result: Any) -> Any:
        x = result.x.copy()
        x[0] = value
        return replace(result, x=x)

    return tamper


def test_a_value_breaking_the_models_own_bound_is_an_error_with_the_bound_as_evidence() -> None:
    found = _run("p", _doc("x", "maximize"), tamper=_tampered_x(6.0))
    (f,) = _of(found, "violated")
    assert severity_of(f) == "error" and "<= 4" in f["evidence"]
    assert _of(_run("p", _doc("x", "maximize")), "violated") == []


def test_a_huge_value_is_a_suspicion_not_an_error() -> None:
    found = _run("p", _doc("x", "maximize", variables={"x": {"upper": 5e9}}))
    (f,) = _of(found, "magnitude")
    assert severity_of(f) == "suspicion" and "x is 5000000000" in f["evidence"]
    assert _run("p", _doc("x", "maximize", variables={"x": {"upper": 5e6}})) == []


def test_an_all_zero_maximum_is_a_suspicion() -> None:
    (f,) = _of(_run("p", _doc("0 - x", "maximize")), "zero_solution")
    assert severity_of(f) == "suspicion"
    assert _run("p", _doc("x", "maximize")) == []


def test_a_reported_objective_off_the_point_is_a_note() -> None:
    found = _run("p", _doc("x", "maximize"), tamper=lambda r: replace(r, objective=7.0))
    (f,) = _of(found, "objective_mismatch")
    assert severity_of(f) == "note" and "7" in f["evidence"]


def test_a_declared_integer_off_by_a_tolerance_is_a_note() -> None:
    doc = _doc("x", "maximize", variables={"x": {"type": "integer", "upper": 4}})
    (f,) = _of(_run("p", doc, tamper=_tampered_x(3.5)), "fractional_integer")
    assert severity_of(f) == "note"
    assert _run("p", doc) == []


def test_coefficients_spanning_1e9_are_a_note() -> None:
    doc = _doc("1e-6 * x + 1e6 * y", variables={"x": {"upper": 4}, "y": {"upper": 1}})
    (f,) = _of(_run("p", doc), "coefficients")
    assert severity_of(f) == "note" and "1e-06" in f["evidence"]
    assert _run("p", _doc("2 * x + 3 * y", variables={"x": {"upper": 4}, "y": {"upper": 1}})) == []


COST = "Minimize the total shipping cost of the plan."


def test_a_uniformly_flipped_cost_is_a_note_citing_its_terms() -> None:
    doc = _doc("-3 * x - 2 * y", variables={"x": {"upper": 4}, "y": {"upper": 1}})
    (f,) = _of(_run(COST, doc), "cost_sign")
    assert severity_of(f) == "note"
    assert "-3*x = -12" in f["evidence"] and "-2*y = -2" in f["evidence"]


def test_cost_sign_is_silent_where_the_model_allows_the_sign() -> None:
    # The standard form of a cone program: free variables, mixed-sign costs (the cone
    # itself is a box here, which keeps the test an LP; the sign question is the same).
    cone = {
        "sets": {"I": [1, 2, 3]},
        "parameters": {"c": {"index": ["I"], "values": {1: 1.0, 2: -2.0, 3: 0.5}}},
        "variables": {"x": {"index": ["I"], "lower": None}},
        "objective": {"sense": "minimize", "expression": "sum(c[i] * x[i] for i in I)"},
        "constraints": [
            {"name": "box_hi", "forall": "for i in I", "expression": "x[i] <= 1"},
            {"name": "box_lo", "forall": "for i in I", "expression": "x[i] >= -1"},
        ],
    }
    assert _run("Minimize the cost c'x over the cone.", cone) == []
    mixed = _doc("3 * x - 2 * y", variables={"x": {"upper": 4}, "y": {"upper": 5}})
    assert _of(_run(COST, mixed), "cost_sign") == []  # a credit term: the model's own choice
    free = _doc("-3 * x", variables={"x": {"lower": -4, "upper": 4}})
    assert _of(_run(COST, free), "cost_sign") == []


def test_revenue_sign_fires_only_on_a_flipped_revenue() -> None:
    doc = _doc("0 - 3 * x", "maximize", variables={"x": {"lower": 1, "upper": 4}})
    doc["objective"]["description"] = "total revenue"
    (f,) = _of(_run("Maximize sales.", doc), "revenue_sign")
    assert severity_of(f) == "note"
    doc["objective"]["expression"] = "3 * x - 5 * y"
    doc["variables"]["y"] = {"lower": 1, "upper": 2}
    assert _of(_run("Maximize sales.", doc), "revenue_sign") == []


@pytest.mark.parametrize(
    ("status", "code"),
    [(Status.ERROR, "solver_error"), (Status.TIME_LIMIT, "time_limit")],
)
def test_solver_failures_are_notes_never_repaired(status: Status, code: str) -> None:
    state: AgentState = {"problem": "p", "status": status, "attempts": [], "solver": {}}
    update = verify(state, RunContext(llm=FakeLLM([])))
    (f,) = update["findings"]
    assert f["code"] == code and severity_of(f) == "note"
    assert not repairable(update)


@pytest.mark.slow  # solves all 37 samples, with an IIS and a ray for four of them (~9 s)
def test_no_finding_above_note_on_any_sample() -> None:
    for s in load_samples():
        found = _run(s.problem, s.formulation)
        above = [f for f in found if severity_of(f) != "note"]
        if s.expected_status == Status.OPTIMAL:
            assert above == [], (s.id, above)
        else:  # the proof the sample is built to show, and nothing else
            assert [f["code"] for f in above] == [str(s.expected_status)], (s.id, above)
