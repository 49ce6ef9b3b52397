"""Chat threads: follow-up edits compared with the previous solution, persistence in
SQLite across restarts, the review-before-solve interrupt, and "why infeasible?"."""

# ruff: noqa: F811

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import SAMPLES, stub_model

from agent import AgentConfig, FakeLLM, OptimizationAgent
from agent.chat import ChatSession, default_threads_path, list_threads
from agent.stub_server import StubServer

TRANSPORT = yaml.safe_load((SAMPLES / "transport_basic.yaml").read_text(encoding="utf-8"))
PROBLEM: str = TRANSPORT["problem"]
GOOD: dict[str, Any] = TRANSPORT["formulation"]
OPTIMUM = 2528.0


def with_demand(north: float) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    doc["parameters"]["demand"]["values"]["north"] = north
    return doc


def js(doc: Any) -> str:
    return json.dumps(doc)


@pytest.fixture
def threads(tmp_path: Path) -> Path:
    return tmp_path / "threads.sqlite"


def test_a_follow_up_edits_the_model_and_compares_with_the_previous_solution(
    llm_stub: StubServer, threads: Path
) -> None:
    llm_stub.push(
        js(GOOD), js({"summary": "North now orders 300 tons", "document": with_demand(300)})
    )
    agent = OptimizationAgent(llm=stub_model(llm_stub))
    with agent.chat(thread_id="cement", path=threads) as chat:
        first = chat.send(PROBLEM)
        assert first.route == "formulate"
        assert first.objective == pytest.approx(OPTIMUM)

        reply = chat.send("Demand in the North rises to 300 tons")

    assert reply.route == "edit"
    assert reply.status == "optimal"
    assert reply.objective == pytest.approx(2696.0)  # 40 more tons from Riverside at 4.20
    comparison = reply.comparison
    assert comparison is not None
    assert comparison["objective_before"] == pytest.approx(OPTIMUM)
    assert comparison["delta"] == pytest.approx(168.0)
    assert comparison["changed"] == [
        {"name": "ship[riverside,north]", "before": 70.0, "after": 110.0, "delta": 40.0}
    ]
    # The diff names the parameter and shows the changed value.
    assert "parameters.demand.values.north" in reply.diff
    assert "-      north: 260" in reply.diff and "+      north: 300" in reply.diff
    assert reply.proposal is not None and reply.proposal["summary"] == "North now orders 300 tons"
    assert "Compared with before" in reply.answer and "+168" in reply.answer
    # The edit request carried the user's words and the current document.
    edit_prompt = llm_stub.chat_requests[1].messages[-1]["content"]
    assert "Demand in the North rises to 300 tons" in edit_prompt
    assert '"north": 260' in edit_prompt


def test_the_thread_survives_a_restart(threads: Path) -> None:
    fake = FakeLLM([js(GOOD), js(with_demand(300))])
    agent = OptimizationAgent(llm=fake)
    chat = agent.chat(thread_id="t-restart", path=threads)
    chat.send(PROBLEM)
    chat.close()

    # A new session (a new SqliteSaver on the same file) finds the thread as it was.
    again = agent.chat(thread_id="t-restart", path=threads)
    state = again.state
    assert state["document"] == GOOD
    assert state["objective"] == pytest.approx(OPTIMUM)
    assert [m["role"] for m in again.history] == ["user", "assistant"]
    assert again.history[0]["content"] == PROBLEM.strip()

    # ... and the conversation continues from there: the edit compares with the old solution.
    reply = again.send("what if the North orders 300 tons?")
    assert reply.route == "edit"
    assert reply.comparison is not None and reply.comparison["delta"] == pytest.approx(168.0)
    assert len(again.history) == 4
    again.close()

    assert agent.chat(thread_id="another", path=threads).state == {}


def test_review_before_solve_pauses_and_resumes_with_an_edited_document(threads: Path) -> None:
    fake = FakeLLM([js(GOOD)])
    chat = OptimizationAgent(llm=fake).chat(
        thread_id="review", path=threads, review_before_solve=True
    )
    reply = chat.send(PROBLEM)

    assert reply.waiting
    assert reply.review is not None and reply.review["document"] == GOOD
    assert "north: 260" in reply.review["yaml"]
    assert chat.pending_review is not None
    assert chat.state.get("objective") is None  # nothing was solved yet
    with pytest.raises(RuntimeError, match="resume"):
        chat.send("another message")

    # The person edits the YAML before it is solved.
    edited = reply.review["yaml"].replace("north: 260", "north: 300")
    done = chat.resume(edited)
    assert not done.waiting
    assert done.objective == pytest.approx(2696.0)
    assert done.formulation == with_demand(300)
    assert chat.pending_review is None
    assert len(fake.calls) == 1  # the person's edit cost no LLM call
    chat.close()


def test_review_before_solve_resumed_with_ok_solves_the_document_as_is(threads: Path) -> None:
    chat = ChatSession(  # what OptimizationAgent.chat builds: the LLM, config and prompts
        FakeLLM([js(GOOD)]),
        AgentConfig(),
        thread_id="ok",
        path=threads,
        review_before_solve=True,
    )
    assert chat.send(PROBLEM).waiting
    done = chat.resume("ok")
    assert done.objective == pytest.approx(OPTIMUM)
    chat.close()


def test_why_infeasible_routes_to_the_iis_without_an_edit(threads: Path) -> None:
    feed = yaml.safe_load((SAMPLES / "infeasible_feed_blend.yaml").read_text(encoding="utf-8"))
    doc = js(feed["formulation"])
    fake = FakeLLM([doc, doc])  # formulate; the repair keeps it: infeasible is the answer
    chat = OptimizationAgent(llm=fake).chat(thread_id="feed", path=threads)
    assert chat.send(feed["problem"]).status == "infeasible"
    calls = len(fake.calls)

    reply = chat.send("Why is it infeasible?")

    assert reply.route == "diagnose"
    assert len(fake.calls) == calls  # no LLM call, no edit
    assert reply.formulation == feed["formulation"]
    assert "min_protein" in reply.answer and "max_fat" in reply.answer
    assert reply.status == "infeasible"
    chat.close()


def test_threads_default_to_optiwise_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPTIWISE_HOME", str(tmp_path / "home"))
    assert default_threads_path() == tmp_path / "home" / "threads.sqlite"
    chat = OptimizationAgent(llm=FakeLLM([])).chat(thread_id="x")
    assert chat.path == tmp_path / "home" / "threads.sqlite"
    chat.close()


@pytest.mark.parametrize(
    ("message", "route"),
    [
        ("demand in Chicago rises to 400", "edit"),
        ("add a budget of 5000", "edit"),
        ("what if we close plant 2?", "edit"),
        ("why is it infeasible?", "diagnose"),
        ("Why is there no feasible solution?", "diagnose"),
        ("what does the shadow price of capacity mean?", "answer"),
        ("new problem: maximize profit of two products ...", "formulate"),
        (
            "A bakery sells bread for $3 and cake for $5. Bread takes 1 oven hour and cake 2; "
            "there are 40 oven hours a day. How many of each should it bake to maximize revenue?",
            "formulate",
        ),
        ("Bread now sells for $4, cake for $6, and there are 50 oven hours.", "edit"),
    ],
)
def test_messages_are_routed_by_what_they_ask(message: str, route: str) -> None:
    from agent.chat_nodes import classify_message

    assert classify_message(message, has_document=True) == route
    assert classify_message(message, has_document=False) == "formulate"


def test_a_change_that_cannot_be_made_valid_keeps_the_previous_model(threads: Path) -> None:
    broken = with_demand(300)
    broken["constraints"][1]["expression"] = "sum(ship[p, m] for p in Plantz) >= demand[m]"
    fake = FakeLLM([js(GOOD), js(broken)])
    chat = OptimizationAgent(llm=fake, max_repairs=0).chat(thread_id="rollback", path=threads)
    chat.send(PROBLEM)
    reply = chat.send("demand in the north rises to 300")

    assert reply.status == "optimal"  # the previous model is current again
    assert reply.objective == pytest.approx(OPTIMUM)
    assert reply.formulation == GOOD
    assert "The change was not applied" in reply.answer
    assert "Plantz" in reply.answer  # and the answer says what went wrong
    assert chat.state["changes"] == []
    chat.close()


def test_saved_threads_are_listed_newest_first_with_the_problem_as_title(
    threads: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.chat

    agent_ = OptimizationAgent(llm=FakeLLM([js(GOOD), js(GOOD)]))
    for thread_id in ("older", "newer"):
        with agent_.chat(thread_id=thread_id, path=threads) as chat:
            chat.send(PROBLEM)

    def no_graph() -> None:
        raise AssertionError("listing threads must not build a graph")

    monkeypatch.setattr(agent.chat, "build_chat_graph", no_graph)
    listed = list_threads(threads)
    assert [t["thread_id"] for t in listed] == ["newer", "older"]
    assert listed[0]["title"] == " ".join(PROBLEM.split())[:80]
    assert list_threads(threads, limit=1) == listed[:1]
    assert list_threads(threads.with_name("none.sqlite")) == []


def test_a_new_problem_typed_into_an_open_thread_starts_over_and_an_edit_does_not(
    llm_stub: StubServer, threads: Path
) -> None:
    trucks = yaml.safe_load((SAMPLES / "truck_loading.yaml").read_text(encoding="utf-8"))
    assert len(trucks["problem"]) < 600  # short enough that length alone does not decide
    llm_stub.push(js(GOOD), js(trucks["formulation"]), js(trucks["formulation"]))
    with OptimizationAgent(llm=stub_model(llm_stub)).chat(thread_id="two", path=threads) as chat:
        assert chat.send(PROBLEM).objective == pytest.approx(OPTIMUM)

        new = chat.send(trucks["problem"])
        assert new.route == "formulate"
        assert new.objective == pytest.approx(900.0)
        assert new.comparison is None  # a new problem is not compared with the cement model
        assert chat.state["problem"] == trucks["problem"].strip()

        edit = chat.send("Small trucks now cost $300 each to dispatch")
        assert edit.route == "edit"
        assert chat.state["changes"] == ["Small trucks now cost $300 each to dispatch"]
    sent = [r.messages[-1]["content"] for r in llm_stub.chat_requests]
    assert "eight heavy pallets" in sent[1]  # formulated from the new problem's text
    assert "Small trucks now cost" in sent[2]  # and the edit asked of that new model
