"""The library API: solve_many's bounded concurrency, the result object, the tools."""

# ruff: noqa: F811

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from support import sample, stub_model

import agent
from agent import AgentConfig, FakeLLM, OptimizationAgent
from agent.llm import ChatMessage, LLMReply
from agent.stub_server import StubServer
from agent.verify import explain_infeasibility, sensitivity_report

TRANSPORT = sample("transport_basic")
# Problems whose reference formulation solves with HiGHS (LP/MILP), with their optima.
BATCH = {
    "transport_basic": 2528.0,
    "production_mix": 8520.0,
    "crop_planning": 114000.0,
    "knapsack_relief_cargo": 595.0,
    "min_cost_flow": 1360.0,
    "diet_planning": None,
    "capital_budgeting": 65.0,
    "truck_loading": 900.0,
}


class CountingLLM(FakeLLM):
    """A FakeLLM that records how many calls were in flight at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inflight = 0
        self.peak = 0
        self._count_lock = threading.Lock()

    async def acomplete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        with self._count_lock:
            self.inflight += 1
            self.peak = max(self.peak, self.inflight)
        try:
            return await super().acomplete(messages, **overrides)
        finally:
            with self._count_lock:
                self.inflight -= 1


def answer_by_problem(problems: dict[str, dict[str, Any]]) -> Any:
    """A reply function giving each problem its own reference formulation."""

    def reply(messages: list[ChatMessage]) -> str:
        text = str(messages[-1]["content"])
        for data in problems.values():
            if data["problem"].strip() in text.split("## Problem", 1)[-1]:
                return json.dumps(data["formulation"])
        raise AssertionError("unknown problem")

    return reply


def test_solve_many_runs_concurrently_up_to_the_bound_and_keeps_the_order() -> None:
    problems = {name: sample(name) for name in BATCH}
    texts = [problems[name]["problem"] for name in BATCH]
    fake = CountingLLM(rules=[(lambda _t: True, answer_by_problem(problems))], latency=0.15)
    agent_ = OptimizationAgent(llm=fake)
    agent_.solve(texts[0])  # warm up: imports, solver start-up, the few-shot samples
    fake.peak = 0

    results = agent_.solve_many(texts, concurrency=3)

    # Overlap is shown by the calls in flight, not by wall time (the machine may be busy).
    assert fake.peak == 3  # never more than the bound, and the bound is used
    assert [r.problem for r in results] == texts
    for name, result in zip(BATCH, results, strict=True):
        assert result.status == "optimal", name
        if BATCH[name] is not None:
            assert result.objective == pytest.approx(BATCH[name]), name


def test_solve_many_through_the_stub_server(llm_stub: StubServer) -> None:
    problems = {name: sample(name) for name in list(BATCH)[:4]}
    reply = answer_by_problem(problems)
    llm_stub.handler = lambda body: reply(body["messages"])
    llm_stub.latency = 0.2
    agent_ = OptimizationAgent(llm=stub_model(llm_stub))

    results = agent_.solve_many([p["problem"] for p in problems.values()], concurrency=4)

    assert [r.status for r in results] == ["optimal"] * 4
    assert llm_stub.max_in_flight == 4  # the four requests overlapped
    assert len({r.trace.id for r in results}) == 4


def test_solve_many_keeps_going_when_one_problem_fails() -> None:
    good = json.dumps(TRANSPORT["formulation"])
    fake = FakeLLM(rules=[("bad problem", "not json at all"), ("cement", good)])
    results = OptimizationAgent(llm=fake, max_repairs=0).solve_many(
        [TRANSPORT["problem"], "a bad problem"], concurrency=2
    )
    assert [r.status for r in results] == ["optimal", "invalid"]
    assert [r.decided for r in results] == [True, False]


def test_asolve_many_can_be_awaited_inside_a_running_loop() -> None:
    good = json.dumps(TRANSPORT["formulation"])
    agent_ = OptimizationAgent(llm=FakeLLM(rules=[("cement", good)]))

    async def main() -> list[float | None]:
        results = await agent_.asolve_many([TRANSPORT["problem"]] * 3, concurrency=2)
        # The blocking API also works from inside a running loop (it uses a thread).
        results.append(agent_.solve(TRANSPORT["problem"]))
        return [r.objective for r in results]

    assert asyncio.run(main()) == [pytest.approx(2528.0)] * 4


def test_the_result_is_json_ready_and_carries_first_attempt_and_usage() -> None:
    bad = copy.deepcopy(TRANSPORT["formulation"])
    bad["objective"]["expression"] = (
        "sum(cost[p, m] * shipp[p, m] for p in Plants for m in Markets)"
    )
    fake = FakeLLM([json.dumps(bad), json.dumps(TRANSPORT["formulation"])], model="gpt-4o-mini")
    result = OptimizationAgent(llm=fake).solve(TRANSPORT["problem"])
    data = json.loads(result.to_json())

    assert data["status"] == "optimal" and data["objective"] == pytest.approx(2528.0)
    assert data["first_attempt"] == {"status": "invalid", "objective": None}
    assert data["repairs"] == 1
    assert data["error_categories"] == ["undefined"]
    assert data["attempts"][0]["errors"][0]["location"] == "objective.expression"
    assert data["usage"]["calls"] == 2 and data["usage"]["cost_usd"] > 0
    assert data["trace_id"] == result.trace.id
    assert "trace" in json.loads(result.to_json(include_trace=True))


def test_the_package_exports_its_public_api() -> None:
    for name in agent.__all__:
        assert getattr(agent, name) is not None
    with pytest.raises(AttributeError):
        _ = agent.no_such_name  # type: ignore[attr-defined]


def test_agent_config_reads_environment_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTIWISE_MAX_REPAIRS", "5")
    monkeypatch.setenv("OPTIWISE_REVIEW", "true")
    config = AgentConfig.from_env(samples=2)
    assert (config.max_repairs, config.review, config.samples) == (5, True, 2)
    with pytest.raises(ValueError, match="strategy"):
        AgentConfig(strategy="telepathy")  # type: ignore[arg-type]  # a bad value on purpose


# ---------------------------------------------------------------------- tools


def test_explain_infeasibility_gives_the_same_answer_as_optiwise_explain() -> None:
    import re

    from modeling import diagnostics

    def untimed(text: str) -> str:
        return re.sub(r"\d+\.\d+ s\)", "s)", text)

    doc = sample("infeasible_feed_blend")["formulation"]
    text = explain_infeasibility(doc)
    assert "min_protein" in text and "max_fat" in text
    assert untimed(text) == untimed(diagnostics.explain(doc).to_text())


def test_sensitivity_report_names_the_binding_constraints() -> None:
    text = sensitivity_report(TRANSPORT["formulation"])
    assert "meet_demand" in text
