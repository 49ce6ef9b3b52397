"""The solve loop without LangGraph's runtime runs the same nodes, routes and trace as the graph."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import yaml
from langgraph.errors import GraphRecursionError
from support import SAMPLES

from agent.context import AgentConfig, RunContext
from agent.fake import FakeLLM
from agent.graph import arun_solve_loop, compiled_solve_graph, run_solve_loop
from agent.trace import Trace

NAMES = ["transport_basic", "infeasible_feed_blend", "unbounded_calendar_spread"]


def _cases() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if path.stem in NAMES or len(out) < 4:
            out.append((path.stem, str(data["problem"]), data["formulation"]))
    return out


def _ctx(replies: list[str]) -> RunContext:
    config = AgentConfig(max_repairs=2, examples=0, solve_in_process=True)
    return RunContext(llm=FakeLLM(replies), config=config, trace=Trace())


def _summary(state: dict[str, Any], ctx: RunContext) -> tuple[Any, ...]:
    nodes = [e["node"] for e in ctx.trace.events if e["kind"] == "node"]
    # the answer's first line: an IIS search under a time budget may differ from run to run
    head = str(state.get("answer") or "").splitlines()[:1]
    return (state.get("status"), state.get("objective"), head, nodes)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_the_loop_and_the_graph_agree_on_every_sample(asynchronous: bool) -> None:
    for name, problem, doc in _cases():
        # a broken first reply, so the repair edge is taken too
        replies = ["not json", json.dumps(doc), json.dumps(doc), json.dumps(doc)]
        a, b = _ctx(list(replies)), _ctx(list(replies))
        if asynchronous:
            graph = compiled_solve_graph(asynchronous=True)
            via_graph = asyncio.run(
                graph.ainvoke({"problem": problem}, {"recursion_limit": 80}, context=a)
            )
            via_loop = asyncio.run(arun_solve_loop(problem, b, 80))
        else:
            via_graph = compiled_solve_graph().invoke(
                {"problem": problem}, {"recursion_limit": 80}, context=a
            )
            via_loop = run_solve_loop(problem, b, 80)
        assert _summary(via_loop, b) == _summary(via_graph, a), name
        assert "repair" in _summary(via_loop, b)[3], name


def test_the_loop_stops_at_its_step_limit_like_the_graph() -> None:
    with pytest.raises(GraphRecursionError):
        run_solve_loop("anything", _ctx(["not json"] * 5), 2)
