"""The agent graph end to end: formulate → check → solve → verify → repair → explain.

Most cases go through the real ``openai`` client against the loopback stub server
(``llm_stub``); the faster unit cases use the in-process ``FakeLLM``. Solvers are real.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from support import SAMPLES, stub_model

from agent import AgentResult, FakeLLM, OptimizationAgent, code_route
from agent.code_route import CodeAttempt, CodeRouteResult
from agent.errors import TransportError
from agent.stub_server import Delay, HTTPError, StubServer


def _sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


TRANSPORT = _sample("transport_basic")
PROBLEM: str = TRANSPORT["problem"]
GOOD: dict[str, Any] = TRANSPORT["formulation"]
OPTIMUM = 2528.0


def variant(path: str, value: Any, doc: dict[str, Any] | None = None) -> dict[str, Any]:
    """A deep copy of ``doc`` (default GOOD) with one dotted path set to ``value``."""
    out = copy.deepcopy(doc if doc is not None else GOOD)
    node: Any = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


def js(doc: dict[str, Any]) -> str:
    return json.dumps(doc)


def stub_agent(stub: StubServer, **kwargs: Any) -> OptimizationAgent:
    settings = {
        k: kwargs.pop(k) for k in ("timeout", "max_retries", "retry_initial_delay") if k in kwargs
    }
    return OptimizationAgent(llm=stub_model(stub, **settings), **kwargs)


def last_user(stub: StubServer, k: int) -> str:
    messages = stub.chat_requests[k].messages
    return str([m for m in messages if m["role"] == "user"][-1]["content"])


# ------------------------------------------------------------ through the stub


def test_a_correct_formulation_is_solved_and_explained_first_time(llm_stub: StubServer) -> None:
    llm_stub.push(js(GOOD))
    result = stub_agent(llm_stub).solve(PROBLEM)

    assert result.status == "optimal"
    assert result.objective == pytest.approx(OPTIMUM)
    assert result.repairs == 0 and len(result.attempts) == 1
    assert result.first_attempt_status == "optimal"
    assert result.first_attempt_objective == pytest.approx(OPTIMUM)
    assert result.model_class == "LP"
    assert result.solution["ship"]["riverside,central"] == pytest.approx(310)
    # The answer states the objective, the nonzero decisions and what binds.
    assert "2528" in result.answer
    assert "ship[riverside,central] = 310" in result.answer
    assert "meet_demand" in result.answer
    # One request: the system prompt, the problem, few-shot examples, JSON mode.
    (request,) = llm_stub.chat_requests
    assert request.body["messages"][0]["role"] == "system"
    prompt = last_user(llm_stub, 0)
    assert PROBLEM.strip() in prompt
    assert "Example 1" in prompt and "transport_basic" not in prompt  # never its own answer
    assert request.body["response_format"] == {"type": "json_object"}
    assert result.usage.calls == 1 and result.usage.prompt_tokens > 0
    assert result.usage.cost_usd > 0  # priced as gpt-4o-mini


@pytest.mark.parametrize(
    ("broken", "first_status", "category", "located"),
    [
        pytest.param(
            variant("constraints.0.expression", "sum(ship[p, m] for m in Markets) <= suply[p]"),
            "invalid",
            "undefined",
            "constraints[0].expression: unknown name 'suply'",
            id="undefined-symbol",
        ),
        pytest.param(
            variant("parameters.cost.values", [[4.2, 3.1], [3.8, 4.4]]),
            "invalid",
            "shape",
            "parameters.cost.values[0]: has 2 entries but set Markets has 3",
            id="wrong-shape",
        ),
        pytest.param(
            variant("parameters.demand.values.north", 2600),
            "infeasible",
            "infeasible",
            "meet_demand['north']",
            id="infeasible-typo",
        ),
    ],
)
def test_a_broken_formulation_is_repaired_on_the_next_round(
    llm_stub: StubServer,
    broken: dict[str, Any],
    first_status: str,
    category: str,
    located: str,
) -> None:
    llm_stub.push(js(broken), js(GOOD))
    result = stub_agent(llm_stub).solve(PROBLEM)

    assert result.status == "optimal"
    assert result.objective == pytest.approx(OPTIMUM)
    assert result.repairs == 1
    assert result.first_attempt_status == first_status
    assert result.first_attempt_objective is None
    assert category in result.error_categories
    assert [a.status for a in result.attempts] == [first_status, "optimal"]
    assert result.attempts[0].document == broken
    # The repair request carries the problem, the current document and its located errors.
    repair = last_user(llm_stub, 1)
    assert PROBLEM.strip() in repair
    assert json.dumps(broken, indent=2, ensure_ascii=False) in repair  # the whole document
    assert located in repair
    assert "Solved after 1 repair round" in result.answer


def test_a_reply_that_is_not_json_is_a_failed_attempt_and_repaired(llm_stub: StubServer) -> None:
    llm_stub.push("Sure! First we define the plants and markets, then the costs.", js(GOOD))
    result = stub_agent(llm_stub).solve(PROBLEM)

    assert result.status == "optimal" and result.repairs == 1
    first = result.attempts[0]
    assert first.status == "invalid" and first.document is None
    assert first.categories == ["parse"]
    assert "parse" in result.error_categories
    repair = last_user(llm_stub, 1)
    assert "no JSON object found in the reply" in repair
    assert "Sure! First we define" in repair  # the reply itself is shown back


def test_a_fenced_json_reply_with_prose_around_it_is_accepted(llm_stub: StubServer) -> None:
    llm_stub.push(f"Here is the model:\n```json\n{js(GOOD)}\n```\nHope it helps.")
    result = stub_agent(llm_stub).solve(PROBLEM)
    assert result.status == "optimal" and result.repairs == 0


def test_a_rate_limit_is_retried_by_the_llm_layer(llm_stub: StubServer) -> None:
    llm_stub.push(HTTPError.rate_limit(retry_after=0), js(GOOD))
    result = stub_agent(llm_stub).solve(PROBLEM)

    assert result.status == "optimal"
    assert len(llm_stub.chat_requests) == 2  # the 429, then the answer
    assert len(result.trace.llm_calls) == 1  # one logical call
    assert result.repairs == 0


def test_a_timeout_is_retried_and_a_persistent_one_ends_the_run_cleanly(
    llm_stub: StubServer,
) -> None:
    llm_stub.push(Delay(3.0, js(GOOD)), js(GOOD))
    fast = {"timeout": 0.3, "max_retries": 1, "retry_initial_delay": 0.01}
    assert stub_agent(llm_stub, **fast).solve(PROBLEM).status == "optimal"

    llm_stub.push(Delay(3.0, js(GOOD)), Delay(3.0, js(GOOD)))
    result = stub_agent(llm_stub, **fast).solve(PROBLEM)
    assert result.status == "error"
    assert not result.decided
    assert "timed out" in result.message and "2 attempt(s)" in result.message
    assert "Traceback" not in result.answer
    assert result.error_categories == ["llm_error"]
    assert result.trace.llm_calls[-1]["error"]


def test_the_repair_budget_running_out_is_an_honest_failure(llm_stub: StubServer) -> None:
    typos = ["suply", "supplly", "suppy"]
    for name in typos:
        llm_stub.push(
            js(
                variant(
                    "constraints.0.expression", f"sum(ship[p, m] for m in Markets) <= {name}[p]"
                )
            )
        )
    result = stub_agent(llm_stub, max_repairs=2).solve(PROBLEM)

    assert result.status == "invalid"
    assert not result.decided
    assert result.repairs == 2 and len(result.attempts) == 3
    assert len(llm_stub.chat_requests) == 3  # no fourth call: the loop is capped
    assert result.message.startswith("Repair budget exhausted after 2 round(s)")
    assert "suppy" in result.message
    assert result.formulation is not None  # the last attempt is still shown


def test_an_exhausted_budget_reports_the_status_of_the_last_attempt(llm_stub: StubServer) -> None:
    bad = variant("constraints.0.expression", "sum(ship[p, m] for m in Markets) <= suply[p]")
    llm_stub.push(js(bad), js(variant("parameters.demand.values.north", 2600)))
    result = stub_agent(llm_stub, max_repairs=1).solve(PROBLEM)

    assert result.status == "infeasible"
    assert result.decided  # "infeasible" is a decided status, if not the hoped-for one
    assert "Repair budget exhausted after 1 round(s); the last attempt is infeasible" in (
        result.message
    )
    assert result.error_categories == ["undefined", "infeasible"]


def test_self_consistency_votes_over_three_concurrent_samples(llm_stub: StubServer) -> None:
    other = variant("parameters.cost.values.0.0", 1.0)  # a different (wrong) optimum
    llm_stub.push(js(GOOD), js(other), js(GOOD))
    result = stub_agent(llm_stub, samples=3).solve(PROBLEM)

    assert result.status == "optimal"
    assert result.objective == pytest.approx(OPTIMUM)
    votes = result.votes
    assert votes is not None
    assert votes["samples"] == 3
    assert sorted(votes["counts"]) == [1, 2]
    winner = votes["clusters"][votes["winner"]]
    assert winner["count"] == 2 and winner["objective"] == pytest.approx(OPTIMUM)
    assert votes["agreement"] == pytest.approx(2 / 3)
    assert len(result.candidates) == 3
    assert result.usage.calls == 3
    # Samples are drawn at a sampling temperature and kept apart in the cache.
    assert {r.body["temperature"] for r in llm_stub.chat_requests} == {0.7}
    assert len({e["candidate"] for e in result.trace.llm_calls}) == 3


# ------------------------------------------------------------ FakeLLM units


def test_an_llm_transport_error_ends_the_run_with_status_error() -> None:
    fake = FakeLLM([TransportError("could not connect to the LLM server")])
    result = OptimizationAgent(llm=fake).solve(PROBLEM)
    assert result.status == "error"
    assert "could not connect" in result.answer
    assert result.attempts == [] and result.first_attempt_status == "error"


def test_an_infeasible_model_kept_unchanged_by_the_llm_stands_as_the_answer() -> None:
    feed = _sample("infeasible_feed_blend")
    doc = js(feed["formulation"])
    fake = FakeLLM([doc, doc])
    result = OptimizationAgent(llm=fake).solve(feed["problem"])

    assert result.status == "infeasible" and result.decided
    assert result.repairs == 1 and len(result.attempts) == 1
    assert "kept the formulation unchanged" in result.message
    # The repair request showed the IIS in the formulation's own names ...
    repair = fake.calls[1].last_user
    assert "min_protein" in repair and "max_fat" in repair
    # ... and so does the answer.
    assert "min_protein" in result.answer


def test_integrality_asked_for_in_words_is_checked_and_repaired() -> None:
    problem = (
        "A removals firm needs to move 30 tonnes of furniture. Each truck carries 7 tonnes "
        "and costs 100 dollars to hire. What number of trucks should it hire to keep the "
        "cost as low as possible?"
    )

    def doc(kind: str) -> str:
        return js(
            {
                "parameters": {"load": 30, "capacity": 7, "rent": 100},
                "variables": {"trucks": {"type": kind}},
                "objective": {"sense": "minimize", "expression": "rent * trucks"},
                "constraints": [{"name": "move_all", "expression": "capacity * trucks >= load"}],
            }
        )

    fake = FakeLLM([doc("continuous"), doc("integer")])
    result = OptimizationAgent(llm=fake).solve(problem)

    assert result.objective == pytest.approx(500)
    assert result.first_attempt_status == "optimal"
    assert result.first_attempt_objective == pytest.approx(3000 / 7)
    assert result.attempts[0].categories == ["integrality"]
    assert "number of trucks" in fake.calls[1].last_user


def test_the_llm_review_back_translation_can_send_a_document_to_repair() -> None:
    wrong = js(variant("parameters.demand.values.north", 200))
    mismatch = js(
        {
            "verdict": "mismatch",
            "issues": [
                {
                    "location": "parameters.demand.values.north",
                    "message": "the problem says North ordered 260 tons, not 200",
                    "hint": "use 260",
                }
            ],
        }
    )
    fake = FakeLLM([wrong, mismatch, js(GOOD), js({"verdict": "ok", "issues": []})])
    result = OptimizationAgent(llm=fake, review=True).solve(PROBLEM)

    assert result.objective == pytest.approx(OPTIMUM)
    assert "review" in result.error_categories
    assert "North ordered 260 tons" in fake.calls[2].last_user  # the repair saw the review
    assert [c["node"] for c in result.trace.llm_calls] == [
        "formulate",
        "review",
        "repair",
        "review",
    ]


def test_the_answer_can_be_phrased_by_the_llm() -> None:
    fake = FakeLLM([js(GOOD), "Ship 310 tons from Riverside to Central; total cost $2,528."])
    result = OptimizationAgent(llm=fake, explain_with_llm=True).solve(PROBLEM)
    assert result.answer.startswith("Ship 310 tons")
    assert "2528" in fake.calls[1].last_user


def test_the_trace_records_nodes_llm_calls_and_attempts_as_json() -> None:
    bad = variant("constraints.0.expression", "sum(ship[p, m] for m in Markets) <= suply[p]")
    result = OptimizationAgent(llm=FakeLLM([js(bad), js(GOOD)])).solve(PROBLEM)
    data = json.loads(result.trace.to_json())

    assert data["id"] == result.trace.id and data["id"].startswith("tr-")
    nodes = [e["node"] for e in data["events"] if e["kind"] == "node"]
    assert nodes == ["formulate", "check", "repair", "check", "solve", "verify", "explain"]
    solve = next(e for e in data["events"] if e.get("node") == "solve")
    assert solve["output"]["status"] == "optimal" and solve["duration_s"] >= 0
    calls = [e for e in data["events"] if e["kind"] == "llm"]
    assert calls[0]["messages"][1]["content"].count(PROBLEM.strip()) == 1
    assert calls[0]["reply"] == js(bad) and calls[0]["prompt_tokens"] > 0
    attempts = [e for e in data["events"] if e["kind"] == "attempt"]
    assert attempts[0]["errors"][0]["location"] == "constraints[0].expression"
    assert data["usage"]["calls"] == 2
    assert any(e["kind"] == "proposal" and e["change"] == "repair" for e in data["events"])


def test_asolve_runs_without_blocking_and_matches_solve() -> None:
    import asyncio

    agent = OptimizationAgent(llm=FakeLLM([js(GOOD)]))
    result = asyncio.run(agent.asolve(PROBLEM))
    assert isinstance(result, AgentResult)
    assert result.objective == pytest.approx(OPTIMUM)


def test_both_strategies_vote_together(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    async def asolve_with_code(text: str, llm: object, **kwargs: Any) -> CodeRouteResult:
        seen.append(text)
        return CodeRouteResult("optimal", OPTIMUM + 1e-9, "print('...')")

    monkeypatch.setattr(code_route, "asolve_with_code", asolve_with_code)
    result = OptimizationAgent(llm=FakeLLM([js(GOOD)]), strategy="both").solve(PROBLEM)

    assert seen == [PROBLEM]
    assert result.votes is not None and result.votes["counts"] == [2]
    assert result.formulation == GOOD  # the formulation route's result is the one kept


def test_the_code_route_result_is_reported_like_any_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempt = CodeAttempt(0, "print(1)", "optimal", OPTIMUM, None)
    seen: dict[str, Any] = {}

    async def asolve_with_code(text: str, llm: object, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return CodeRouteResult("optimal", OPTIMUM, "print(1)", [attempt])

    monkeypatch.setattr(code_route, "asolve_with_code", asolve_with_code)
    result = OptimizationAgent(llm=FakeLLM([]), strategy="code", max_repairs=1).solve(PROBLEM)

    assert result.status == "optimal" and result.objective == pytest.approx(OPTIMUM)
    assert result.strategy == "code" and result.attempts[0].source == "code"
    assert seen["max_repairs"] == 1 and "timeout_s" in seen
    assert any(e["kind"] == "code_route" for e in result.trace.events)


def test_an_llm_failure_is_reported_once() -> None:
    from agent import OptimizationAgent
    from agent.errors import AuthError
    from agent.fake import FakeLLM

    agent = OptimizationAgent(llm=FakeLLM([AuthError("bad key")]), max_repairs=0)
    result = agent.solve("Maximize 3x subject to x <= 4.")
    assert result.status == "error"
    assert result.answer.count("bad key") == 1, result.answer


def test_a_suspicion_goes_to_the_review_which_may_keep_the_model_and_never_to_repair() -> None:
    problem = "A fund can place up to 5 billion dollars. Maximize the amount placed."
    doc = js(
        {
            "variables": {"placed": {"upper": 5e9}},
            "objective": {"sense": "maximize", "expression": "placed"},
        }
    )
    fake = FakeLLM([doc, js({"verdict": "ok", "issues": []})])
    result = OptimizationAgent(llm=fake, review=True).solve(problem)

    assert result.status == "optimal" and result.repairs == 0
    assert result.attempts[0].categories == ["magnitude"]
    assert [c["node"] for c in result.trace.llm_calls] == ["formulate", "review"]
    review = fake.calls[1].last_user
    assert "Suspicions to judge" in review and "placed is 5000000000" in review
    # Without a review the suspicion is reported and the result stands, with no LLM call.
    quiet = FakeLLM([doc])
    unreviewed = OptimizationAgent(llm=quiet).solve(problem)
    assert unreviewed.repairs == 0 and len(quiet.calls) == 1
    assert "Checks noted, not repaired: variables.placed: placed is 5000000000" in (
        unreviewed.message
    )


def test_a_repair_that_returns_the_document_unchanged_keeps_the_result(
    llm_stub: StubServer,
) -> None:
    # The check reads "how many ... pallets" as a count, but this problem is about
    # fractional pallet-equivalents: the model is right and the LLM says so by keeping it.
    problem = (
        "Storage is billed per pallet-equivalent and partial pallets are billed pro rata. "
        "Goods fill 30 cubic metres; one pallet holds 7. How many pallets should we book "
        "to minimize the bill of 100 dollars per pallet?"
    )
    doc = {
        "parameters": {"volume": 30, "per_pallet": 7, "price": 100},
        "variables": {"pallets": {"description": "pallets booked"}},
        "objective": {"sense": "minimize", "expression": "price * pallets"},
        "constraints": [{"name": "fit", "expression": "per_pallet * pallets >= volume"}],
    }
    llm_stub.push(js(doc), f"```json\n{js(doc)}\n```")
    result = stub_agent(llm_stub).solve(problem)

    assert result.status == "optimal" and result.objective == pytest.approx(3000 / 7)
    assert result.repairs == 1 and len(result.attempts) == 1  # no second solve
    assert "kept the formulation unchanged" in result.message
    repair = last_user(llm_stub, 1)
    assert "A finding can be mistaken" in repair and "reply with the document unchanged" in repair
    assert "how many pallets" in repair.lower()
    assert len(llm_stub.chat_requests) == 2


def test_assumptions_for_missing_data_are_asked_for_and_carried_to_the_result(
    llm_stub: StubServer,
) -> None:
    problem = (
        "A bakery sells bread at 3 dollars a loaf and can bake at most 200 loaves a day. "
        "How many loaves should it bake to maximize its profit?"
    )
    assumption = {
        "text": "the cost per loaf is not given; assumed 1 dollar",
        "parameters": ["cost"],
    }
    doc = {
        "parameters": {"price": 3, "cost": 1, "oven": 200},
        "variables": {"loaves": {"type": "integer", "upper": "oven"}},
        "objective": {"sense": "maximize", "expression": "(price - cost) * loaves"},
        "assumptions": [assumption],
    }
    llm_stub.push(js(doc))
    result = stub_agent(llm_stub).solve(problem)

    assert result.status == "optimal" and result.objective == pytest.approx(400)
    assert result.formulation is not None
    assert result.formulation["assumptions"] == [assumption]
    assert '"assumptions"' in last_user(llm_stub, 0)
