"""evals.executors.solve_many: whole AgentResults from a worker pool, one pool for many agents.

This is the library hook ``optiwise tune --executor`` calls: each evaluation builds an
agent with other prompts, and the same pool must run it with that agent's config,
prompt set and chat model. The LLM is a scripted FakeLLM in this process (the workers
send every request back here); solvers are real, and the agent solves in its killable
child process as it does by default (an eval worker is not a daemon, so it may have one).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from support import SAMPLES

from agent import OptimizationAgent
from agent.fake import FakeLLM
from agent.llm import ChatMessage
from evals.executors import ProcessExecutor, make_executor, solve_many

# A worker pool preloads the agent and each worker starts its solve forkserver: ~3-5 s
# idle per pool (20-35 s on this 2-core machine under load), two pools in this file.
pytestmark = pytest.mark.slow

NAMES = ["production_mix", "transport_basic", "infeasible_feed_blend"]


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def scripted(wrong: str = "") -> FakeLLM:
    """Each sample's own formulation; ``wrong``'s objective scaled by 1.03 (never repaired)."""
    by_text = {str(sample(n)["problem"]).strip(): n for n in NAMES}

    def reply(messages: list[ChatMessage]) -> str:
        last = str(messages[-1]["content"])
        name = next(n for text, n in by_text.items() if text in last)
        doc = sample(name)["formulation"]
        if name == wrong:
            doc["objective"]["expression"] = f"1.03 * ({doc['objective']['expression']})"
        return json.dumps(doc)

    return FakeLLM(rules=[(lambda _text: True, reply)])


def texts() -> list[str]:
    return [str(sample(n)["problem"]).strip() for n in NAMES]


@pytest.fixture(scope="module")
def pool() -> Any:
    executor = make_executor("process", OptimizationAgent(llm=scripted()), workers=1)
    assert isinstance(executor, ProcessExecutor)
    yield executor
    executor.close()


def test_solve_many_on_a_pool_gives_the_local_results_with_trace_and_usage(pool: Any) -> None:
    agent = OptimizationAgent(llm=scripted(), max_repairs=0)
    local = solve_many(agent, texts(), executor="local")
    remote = solve_many(agent, texts(), executor=pool)
    assert [(r.status, r.objective) for r in remote] == [(r.status, r.objective) for r in local]
    assert [str(r.status) for r in remote] == ["optimal", "optimal", "infeasible"]
    assert remote[0].objective == pytest.approx(sample("production_mix")["answer"]["objective"])
    for r in remote:
        # the trace came back whole (events of the worker's run), usage counted once per call
        assert any(e.get("kind") == "llm" for e in r.trace.events)
        assert r.usage.calls == 1 and r.attempts and r.formulation is not None
        assert r.trace.to_dict()["id"] == r.trace.id
    # the LLM calls were made here, with this agent's chat model
    assert len(agent.llm.calls) == 2 * len(NAMES)  # type: ignore[attr-defined]


def test_one_pool_runs_each_agent_with_its_own_config_and_chat_model(pool: Any) -> None:
    strict = OptimizationAgent(llm=scripted(wrong="production_mix"), max_repairs=0)
    results = solve_many(strict, texts()[:1], executor=pool)
    assert results[0].objective == pytest.approx(
        1.03 * sample("production_mix")["answer"]["objective"]
    )
    assert len(strict.llm.calls) == 1  # type: ignore[attr-defined]
    # the pool's own agent (built with another FakeLLM) saw none of these calls
    assert pool.agent.llm.calls == []


def test_solve_many_with_an_executor_name_starts_and_stops_its_own_pool() -> None:
    agent = OptimizationAgent(llm=scripted(), max_repairs=0)
    results = solve_many(agent, texts()[:2], executor="process", workers=1, concurrency=2)
    assert [str(r.status) for r in results] == ["optimal", "optimal"]
    with pytest.raises(ValueError, match="unknown executor"):
        solve_many(agent, texts()[:1], executor="threads")


def test_an_agent_that_cannot_travel_fails_its_call_and_the_pool_goes_on(pool: Any) -> None:
    from agent.context import AgentConfig

    unpicklable: Any = lambda errors: errors  # noqa: E731 - anything that cannot travel
    bad = OptimizationAgent(
        llm=scripted(), config=AgentConfig(max_repairs=0, repair_hook=unpicklable)
    )
    with pytest.raises(TypeError, match="must pickle"):
        solve_many(bad, texts()[:1], executor=pool)
    fine = solve_many(OptimizationAgent(llm=scripted(), max_repairs=0), texts()[:1], executor=pool)
    assert str(fine[0].status) == "optimal"
