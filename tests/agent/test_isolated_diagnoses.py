"""Diagnoses and the tool chat's re-solves run in the killable worker: a model whose build
hangs is stopped at the limit, and the chat still answers.

``HANGING`` is infeasible through a cubic constraint of 27,000 terms (at most 27,000 with every
variable at 1, and 100,000 asked): it compiles in a second or two, but the SCIP interface
multiplies it out while it builds the model, ignoring the solver's time limit (its IIS was
still running when killed after 33 s with a 30 s budget; a warm worker's 8,000-term version
took 2.3 s). Every IIS step and every solve rebuilds it.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from support import hanging_cubic

from agent.chat_nodes import diagnose
from agent.context import AgentConfig, RunContext
from agent.fake import FakeLLM
from agent.tool_chat import ToolChat, ToolChatConfig, Workspace
from agent.verify import explain_infeasibility, sensitivity_report
from modeling.worker import grace, warm_up

LIMIT_S = 1.0
MARGIN_S = 3.0  # compile in the worker, kill and reap on a loaded CI machine

HANGING: dict[str, Any] = hanging_cubic()

INFEASIBLE_LP: dict[str, Any] = {
    "variables": {"x": {"upper": 3}, "y": {"upper": 3}},
    "objective": {"sense": "max", "expression": "x + y"},
    "constraints": [{"name": "too_much", "expression": "x + y >= 10"}],
}

LP: dict[str, Any] = {
    "variables": {"x": {"upper": 4}, "y": {"upper": 3}},
    "objective": {"sense": "max", "expression": "3 * x + 2 * y"},
    "constraints": [{"name": "mix", "expression": "x + y <= 5"}],
}


@pytest.fixture(scope="module", autouse=True)
def _server() -> None:
    warm_up()  # the forkserver's one-time imports are not what these tests time


def _ctx(**config: Any) -> RunContext:
    return RunContext(llm=FakeLLM(), config=AgentConfig(examples=0, **config))


def test_a_hanging_iis_in_the_chat_is_stopped_at_the_limit_and_the_chat_answers() -> None:
    state: Any = {"document": HANGING, "status": "infeasible"}
    t0 = time.perf_counter()
    update = diagnose(state, _ctx(time_limit=LIMIT_S))
    took = time.perf_counter() - t0

    assert took < LIMIT_S + grace(LIMIT_S) + MARGIN_S
    answer = update["answer"]
    assert answer.startswith("The model has no feasible solution.")
    assert "infeasibility diagnosis was stopped" in answer and "killed" in answer
    assert "raise the time limit" in answer
    # the next diagnosis gets a working worker and the real answer
    again = diagnose({"document": INFEASIBLE_LP, "status": "infeasible"}, _ctx(time_limit=10))
    assert "too_much" in again["answer"]


def test_verify_diagnoses_are_bounded_and_name_the_model_parts() -> None:
    t0 = time.perf_counter()
    text = explain_infeasibility(HANGING, LIMIT_S)
    assert time.perf_counter() - t0 < LIMIT_S + grace(LIMIT_S) + MARGIN_S
    assert text.startswith("The infeasibility diagnosis was stopped")
    assert "too_much" in explain_infeasibility(INFEASIBLE_LP, 10)
    assert "mix" in sensitivity_report(LP)
    # in process on request: the same report (but for the time it took)
    here = explain_infeasibility(INFEASIBLE_LP, 10, isolated=False)
    there = explain_infeasibility(INFEASIBLE_LP, 10)
    assert _untimed(here) == _untimed(there)


def _untimed(text: str) -> str:
    return re.sub(r"\d+\.\d+ s\b", "_ s", text)


def _tool_chat() -> ToolChat:
    return ToolChat(FakeLLM(), ToolChatConfig(tool_mode="json", time_limit=LIMIT_S))


def test_the_tool_chats_diagnosis_is_stopped_and_reported_to_the_llm() -> None:
    t0 = time.perf_counter()
    iis = _tool_chat().call_tool(Workspace.of(HANGING), "explain_infeasibility", {})
    assert time.perf_counter() - t0 < LIMIT_S + grace(LIMIT_S) + MARGIN_S
    assert not iis.ok and "killed" in iis.result["error"]
    fine = _tool_chat().call_tool(Workspace.of(LP), "sensitivity", {})
    assert fine.ok and "mix" in fine.result["binding"]


def test_the_tool_chats_solve_is_stopped_and_reported_to_the_llm() -> None:
    chat = _tool_chat()
    t0 = time.perf_counter()
    solved = chat.call_tool(Workspace.of(HANGING), "solve", {})
    assert time.perf_counter() - t0 < LIMIT_S + grace(LIMIT_S) + MARGIN_S
    assert solved.ok and solved.result["status"] == "time_limit"
    assert "killed" in solved.result["message"]


@pytest.mark.parametrize("in_process", [False, True])
def test_making_an_agent_starts_a_worker_in_the_background_unless_it_solves_in_process(
    in_process: bool,
) -> None:
    from agent.api import OptimizationAgent
    from modeling.worker import default_pool, shutdown

    shutdown()  # a fresh shared pool with no worker yet (the next call makes a new one)
    OptimizationAgent(llm=FakeLLM(), config=AgentConfig(examples=0, solve_in_process=in_process))
    # no solve was asked for: a worker appears (started by a background thread) all the same
    deadline = time.monotonic() + 30
    while not default_pool().pids() and time.monotonic() < deadline and not in_process:
        time.sleep(0.02)
    assert bool(default_pool().pids()) is not in_process
