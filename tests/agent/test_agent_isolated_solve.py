"""The agent's solves run in a killable worker: a solve cannot outlive its time limit."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest

import agent.nodes
from agent.api import OptimizationAgent
from agent.fake import FakeLLM
from agent.result_info import solver_stop_of
from agent.state import solver_stop
from modeling.worker import grace, solve_isolated, warm_up

SMALL = {
    "variables": {"x": {"upper": 4}, "y": {"upper": 3}},
    "objective": {"sense": "max", "expression": "3 * x + 2 * y"},
    "constraints": [{"name": "mix", "expression": "x + y <= 5"}],
}


def _market_split(m: int = 5, n: int = 40, seed: int = 7) -> dict[str, Any]:
    """A market-split MILP (as MIPLIB's markshare): far beyond a second of branch and bound."""
    rng = random.Random(seed)
    a = [[rng.randint(0, 99) for _ in range(n)] for _ in range(m)]
    return {
        "sets": {"I": {"from": 0, "to": m - 1}, "J": {"from": 0, "to": n - 1}},
        "parameters": {
            "a": {"index": ["I", "J"], "values": a},
            "b": {"index": ["I"], "values": [sum(row) // 2 for row in a]},
        },
        "variables": {
            "x": {"index": ["J"], "type": "binary"},
            "over": {"index": ["I"]},
            "under": {"index": ["I"]},
        },
        "objective": {"sense": "min", "expression": "sum(over[i] + under[i] for i in I)"},
        "constraints": [
            {
                "name": "split",
                "forall": "for i in I",
                "expression": "sum(a[i, j] * x[j] for j in J) - over[i] + under[i] == b[i]",
            }
        ],
    }


def _spy(monkeypatch: pytest.MonkeyPatch, **fixed: Any) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def spying(model: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return solve_isolated(model, **{**kwargs, **fixed})

    monkeypatch.setattr(agent.nodes, "solve_isolated", spying)
    return calls


QUADRATIC = {**SMALL, "objective": {"sense": "max", "expression": "3 * x + 2 * y - 0.1 * x ** 2"}}


@pytest.mark.parametrize(
    ("doc", "changes", "isolated"),
    [
        (SMALL, {}, True),  # a small LP too: the pooled worker costs a few ms
        (SMALL, {"small_model_nonzeros": 5000}, True),  # deprecated: no longer read
        (SMALL, {"solve_in_process": True}, False),  # the explicit opt-out
        (QUADRATIC, {}, True),
    ],
)
def test_every_solve_goes_through_the_worker_unless_opted_out(
    monkeypatch: pytest.MonkeyPatch, doc: dict[str, Any], changes: dict[str, Any], isolated: bool
) -> None:
    calls = _spy(monkeypatch)
    fake = FakeLLM([json.dumps(doc)])
    agent = OptimizationAgent(llm=fake, examples=0, time_limit=20)
    agent.config = agent.config.with_(**changes)
    result = agent.solve("Make x and y ...")

    assert result.status == "optimal", result.answer
    assert result.binding == ["mix"]  # the compiled model is back for the diagnostics
    assert len(calls) == (1 if isolated else 0)
    if calls:
        assert calls[0]["time_limit"] == 20 and calls[0]["keep_model"] is False


@pytest.mark.parametrize("in_process", [False, True])
def test_a_solve_past_its_time_limit_ends_at_the_limit_in_bounded_time(in_process: bool) -> None:
    warm_up()  # the worker's one-time start is not what this measures
    doc = _market_split()
    agent = OptimizationAgent(llm=FakeLLM([json.dumps(doc)]), examples=0, max_repairs=0)
    agent.config = agent.config.with_(time_limit=0.5, sanity=False, solve_in_process=in_process)
    t0 = time.monotonic()
    result = agent.solve("Split the market ...")
    elapsed = time.monotonic() - t0

    assert result.status in ("feasible", "time_limit")
    assert solver_stop_of(result) in ("time_limit_incumbent", "time_limit_none")
    assert elapsed < 0.5 + grace(0.5) + 15  # the limit, the grace, compile and the LLM fake


def test_a_worker_killed_at_its_hard_limit_is_a_time_limit_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warm_up()
    _spy(monkeypatch, hard_limit=0.3)  # killed long before the solver's own 30 s
    agent = OptimizationAgent(llm=FakeLLM([json.dumps(_market_split())]), examples=0)
    agent.config = agent.config.with_(time_limit=30.0, max_repairs=0, sanity=False)
    t0 = time.monotonic()
    result = agent.solve("Split the market ...")
    elapsed = time.monotonic() - t0

    assert result.status == "time_limit"
    assert solver_stop_of(result) == "time_limit_none"
    assert "worker process was killed" in result.answer, result.answer
    assert elapsed < 15


@pytest.mark.parametrize(
    ("status", "termination", "stop"),
    [
        ("optimal", "optimal", "optimal"),
        ("feasible", "time_limit", "time_limit_incumbent"),
        ("feasible", "iteration_limit", "limit_incumbent"),
        ("time_limit", "time_limit", "time_limit_none"),
        ("infeasible", "infeasible", "infeasible"),
        ("error", "error", "error"),
        ("invalid", None, "not_solved"),
        ("error", None, "not_solved"),  # an LLM failure: no solve at all
    ],
)
def test_solver_stop_names_why_the_solver_stopped(
    status: str, termination: str | None, stop: str
) -> None:
    assert solver_stop(status, termination) == stop
