"""``AgentResult.solver_stop`` and ``to_dict`` say why the solver stopped."""

from __future__ import annotations

import json

from agent.api import OptimizationAgent
from agent.fake import FakeLLM

SMALL = {
    "variables": {"x": {"upper": 4}, "y": {"upper": 3}},
    "objective": {"sense": "max", "expression": "3 * x + 2 * y"},
    "constraints": [{"name": "mix", "expression": "x + y <= 5"}],
}
INFEASIBLE = {
    "variables": {"x": {"upper": 4}},
    "objective": {"sense": "max", "expression": "x"},
    "constraints": [{"name": "impossible", "expression": "x >= 5"}],
}


def _solve(doc: dict[str, object]) -> object:
    agent = OptimizationAgent(llm=FakeLLM([json.dumps(doc)]), examples=0, max_repairs=0)
    agent.config = agent.config.with_(solve_in_process=True)
    return agent.solve("Make x and y ...")


def test_an_optimal_solve_reports_optimal_in_the_property_and_the_json() -> None:
    result = _solve(SMALL)
    assert result.solver_stop == "optimal"  # type: ignore[attr-defined]
    assert result.to_dict()["solver_stop"] == "optimal"  # type: ignore[attr-defined]


def test_an_infeasible_model_reports_infeasible() -> None:
    result = _solve(INFEASIBLE)
    assert result.solver_stop in ("infeasible", "infeasible_or_unbounded")  # type: ignore[attr-defined]
