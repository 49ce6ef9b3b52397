"""Verification: the checks of a solution against the problem text, and the status findings."""

from __future__ import annotations

from typing import Any

import pytest

from agent.context import RunContext
from agent.fake import FakeLLM
from agent.graph import route_message
from agent.state import AgentState
from agent.verify import asks_for_integers, integrality_request, sanity_findings, verify
from modeling.result import Status


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


def test_a_negative_cost_is_a_finding_but_a_negative_profit_is_not() -> None:
    cost = _state("Minimize the total shipping cost.", "minimize", -5.0)
    assert _codes(cost) == ["objective"]
    profit = _state("Minimize the net cost; returns can make the net profit negative.", "min", -5)
    assert _codes(profit) == []
    positive = _state("Minimize the total shipping cost.", "minimize", 5.0)
    assert _codes(positive) == []


def test_a_negative_maximised_revenue_is_a_finding() -> None:
    revenue = _state(
        "Maximize sales.", "maximize", -1.0, objective={"description": "total revenue"}
    )
    assert _codes(revenue) == ["objective"]
    margin = _state("Maximize the margin.", "maximize", -1.0, objective={"description": "margin"})
    assert _codes(margin) == []


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
    assert update["findings"] == [issue]
    assert update["attempts"][0]["status"] == "invalid"


def test_an_unknown_chat_route_raises_instead_of_becoming_a_new_problem() -> None:
    assert route_message({"route": "edit"}) == "edit"
    with pytest.raises(ValueError, match="unknown route 'edti'"):
        route_message({"route": "edti"})  # type: ignore[typeddict-item]
    with pytest.raises(ValueError, match="unknown route None"):
        route_message({})
