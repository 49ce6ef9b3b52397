"""A pool worker finishes its problems in the order their LLM replies arrive.

A worker holds many agent runs at once. When their replies arrive together, the
run whose reply came first now does its CPU work (check, solve, verify) before the
others start theirs, so it is done after about one problem's work instead of after
nearly all of them: its slot in the parent frees early and the next LLM call goes
out sooner (issue 13). The worker's host (``AgentHost``) runs here in this process
with a real agent and real solves; the test plays the parent, answering its LLM
requests all at once, in an order of its choosing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import yaml
from support import SAMPLES

import agent.nodes as nodes
from agent import OptimizationAgent
from agent.context import AgentConfig
from agent.fake import FakeLLM
from agent.llm import LLMReply
from evals.executors import _JOB, AgentHost, WorkerSpec

NAMES = ["production_mix", "transport_basic", "diet_planning", "crop_planning", "alloy_blending"]


def _sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def _run(
    host_events: list[tuple[str, int]], order: list[int], newcomer: str | None = None
) -> dict[int, Any]:
    """Start one job per sample, answer their requests at once in ``order``; the outcomes.

    ``newcomer``: one more problem arrives right after the burst of replies (its job
    is ``len(NAMES)``; its own request is answered as soon as it is sent).
    """
    config = AgentConfig(solve_in_process=True, max_repairs=0)
    spec = WorkerSpec.of(OptimizationAgent(llm=FakeLLM(), config=config))
    requests: dict[int, int] = {}  # job -> call
    outcomes: dict[int, Any] = {}

    def send(message: tuple[Any, ...]) -> None:
        if message[0] == "llm":
            host_events.append(("llm", message[1]))
            requests.setdefault(message[1], message[2])
            if message[1] == len(NAMES) and newcomer is not None:
                reply = LLMReply(content=json.dumps(_sample(newcomer)["formulation"]), model="m")
                host.loop.call_soon(host.deliver, message[2], True, reply)  # type: ignore[union-attr]
        elif message[0] == "done":
            host_events.append(("done", message[1]))
            outcomes[message[1]] = message[2]

    host = AgentHost(spec, send)

    async def go() -> None:
        host.loop = asyncio.get_running_loop()
        for job, name in enumerate(NAMES):
            host.start_job(job, str(_sample(name)["problem"]).strip(), None)
        while len(requests) < len(NAMES):
            await asyncio.sleep(0.01)
        for job in order:  # every reply in one go, as a burst of replies reaches a worker
            reply = LLMReply(content=json.dumps(_sample(NAMES[job])["formulation"]), model="m")
            host.deliver(requests[job], True, reply)
        if newcomer is not None:
            host.start_job(len(NAMES), str(_sample(newcomer)["problem"]).strip(), None)
        while len(outcomes) < len(NAMES) + (newcomer is not None):
            await asyncio.sleep(0.01)

    asyncio.run(go())
    return outcomes


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """What the host did, in order: ``("check", job)`` each time a job's document is compiled
    (plus what :func:`_run` adds: ``llm`` requests and ``done`` jobs)."""
    seen: list[tuple[str, int]] = []
    compile_model = nodes.compile_model

    def traced(*args: Any, **kwargs: Any) -> Any:
        seen.append(("check", _JOB.get()))
        return compile_model(*args, **kwargs)

    monkeypatch.setattr(nodes, "compile_model", traced)
    return seen


def test_the_earliest_reply_is_finished_before_the_others_are_checked(
    events: list[tuple[str, int]],
) -> None:
    order = [3, 0, 4, 1, 2]
    outcomes = _run(events, order)

    assert all(o["status"] == "optimal" for o in outcomes.values()), outcomes
    done = [job for kind, job in events if kind == "done"]
    assert done[0] == order[0]  # the first reply's problem is the first one finished
    checked = [job for kind, job in events if kind == "check"]
    assert checked[0] == order[0]
    # ... and it was finished before the last reply's problem had even been checked
    assert events.index(("done", order[0])) < events.index(("check", order[-1])), events


def test_a_new_problem_sends_its_request_before_the_waiting_replies_are_worked_on(
    events: list[tuple[str, int]],
) -> None:
    """Its prompt is a ms of work that starts a whole LLM latency; a reply's work only ends one."""
    order = [3, 0, 4, 1, 2]
    outcomes = _run(events, order, newcomer="diet_planning")

    newcomer = len(NAMES)
    assert outcomes[newcomer]["status"] == "optimal", outcomes
    asked = events.index(("llm", newcomer))
    # the first reply already had the turn when the newcomer arrived: it finishes its
    # problem; the newcomer goes next, before any other waiting reply is checked
    assert events.index(("check", order[0])) < asked < events.index(("check", order[1])), events
