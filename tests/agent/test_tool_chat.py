"""The tool-calling chat: the LLM picks tools (edit, solve, sensitivity, ...) through the real
``openai`` client against the loopback stub, natively or by the JSON action protocol."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import stub_model, tool_calls_reply

from agent.chat import ChatSession
from agent.fake import FakeLLM
from agent.stub_server import HTTPError, StubServer
from agent.tool_chat import ToolChat, ToolChatConfig, Workspace, compact_json

# Two products; budget 950 leaves the budget slack (capacity and market bind).
# Cut by 10% to 855 the budget binds instead of capacity: make a = 300, b = 85, profit 1840.
SHOP: dict[str, Any] = {
    "name": "shop",
    "sets": {"Products": ["a", "b"]},
    "parameters": {
        "profit": {"index": ["Products"], "values": {"a": 5, "b": 4}},
        "cost": {"index": ["Products"], "values": {"a": 2, "b": 3}},
        "budget": 950,
        "hours": 400,
    },
    "variables": {"make": {"index": ["Products"], "lower": 0}},
    "objective": {"sense": "maximize", "expression": "sum(profit[p] * make[p] for p in Products)"},
    "constraints": [
        {
            "name": "budget_limit",
            "expression": "sum(cost[p] * make[p] for p in Products) <= budget",
        },
        {"name": "capacity", "expression": "sum(make[p] for p in Products) <= hours"},
        {"name": "market", "expression": "make['a'] <= 300"},
    ],
}
PROBLEM = (
    "A shop makes products a and b with profits 5 and 4 per unit and costs 2 and 3 per "
    "unit. The budget is 950, there are 400 hours (one per unit) and the market takes at "
    "most 300 of a. What should it make to maximize profit?"
)


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool results the client sent back, parsed."""
    return [json.loads(m["content"]) for m in body["messages"] if m.get("role") == "tool"]


def cite_results(body: dict[str, Any]) -> str:
    """A final answer written from the tool results in the request (as a model would)."""
    results = tool_results(body)
    last_solve = [r for r in results if "binding" in r][-1]
    return f"The profit is now {last_solve['objective']:g}; binding: " + ", ".join(
        last_solve["binding"]
    )


def test_one_turn_edits_solves_and_reports_sensitivity(
    llm_stub: StubServer, tmp_path: Path
) -> None:
    message = "cut the budget by 10% and tell me which constraints become binding"
    llm_stub.push(
        tool_calls_reply(("edit_model", {"scale": {"budget": 0.9}})),
        tool_calls_reply(("solve", {})),
        tool_calls_reply(("sensitivity", {"limit": 5})),
        cite_results,
    )
    threads = tmp_path / "threads.sqlite"
    with ChatSession(stub_model(llm_stub), tool_mode="native", thread_id="t", path=threads) as chat:
        first = chat.open_model(SHOP, PROBLEM)
        assert first.status == "optimal" and first.objective == pytest.approx(1900)

        reply = chat.send(message)

    assert [c["name"] for c in reply.tool_calls] == ["edit_model", "solve", "sensitivity"]
    assert all(c["ok"] for c in reply.tool_calls)
    assert reply.tool_mode == "native" and reply.route == "edit"
    assert reply.objective == pytest.approx(1840)
    assert reply.comparison is not None and reply.comparison["delta"] == pytest.approx(-60)
    assert "budget" in reply.diff
    # The LLM saw the typed tools, and each result came back as compact JSON.
    offered = [t["function"]["name"] for t in llm_stub.chat_requests[0].body["tools"]]
    assert {"solve", "edit_model", "what_if", "sweep_parameter", "sensitivity"} <= set(offered)
    final_request = llm_stub.chat_requests[-1].body
    edit, solved, sens = tool_results(final_request)
    assert edit["objective_before"] == pytest.approx(1900) and edit["delta"] == pytest.approx(-60)
    assert "budget_limit" in sens["binding"] and "capacity" not in sens["binding"]
    duals = {c["label"]: c["dual"] for c in sens["constraints"]}
    assert duals["budget_limit"] == pytest.approx(4 / 3, rel=1e-5)  # b: 4 per 3 of budget
    assert duals["market"] == pytest.approx(5 - 2 * 4 / 3, rel=1e-5)
    # The answer cites the results; the edit is kept in the thread across a reopen.
    assert reply.answer.startswith("The profit is now 1840; binding:")
    assert "budget_limit" in reply.answer and "capacity" not in reply.answer
    with ChatSession(FakeLLM(), thread_id="t", path=threads) as again:
        assert again.formulation is not None
        assert again.formulation["parameters"]["budget"] == pytest.approx(855)
        asked, said = again.history[-2:]
        assert asked == {"role": "user", "content": message}
        assert said["role"] == "assistant" and said["content"] == reply.answer
        assert said["tools"] == reply.tool_calls and said["tool_mode"] == "native"
        assert again.state["changes"] == ["budget × 0.9"]
        assert again.state["objective"] == pytest.approx(1840)


def test_json_action_protocol_for_endpoints_without_tools(llm_stub: StubServer) -> None:
    def final(body: dict[str, Any]) -> str:
        result = body["messages"][-1]["content"]
        assert result.startswith("Result of what_if: ")
        data = json.loads(result.removeprefix("Result of what_if: "))
        return json.dumps({"final": f"With 500 hours the profit would be {data['objective']:g}."})

    llm_stub.push('Sure. {"tool": "what_if", "arguments": {"changes": {"hours": 500}}}', final)
    chat = ToolChat(stub_model(llm_stub), ToolChatConfig(tool_mode="json"))
    ws = Workspace.of(SHOP)
    turn = chat.run("what if we had 500 hours?", ws)

    assert turn.mode == "json"
    assert turn.answer == "With 500 hours the profit would be 1966.67."  # the budget binds
    assert [c.name for c in turn.calls] == ["what_if"] and turn.calls[0].ok
    assert ws.document["parameters"]["hours"] == 400 and not turn.edited  # what-if: not kept
    for request in llm_stub.chat_requests:
        assert "tools" not in request.body
    assert '{"final"' in llm_stub.chat_requests[0].messages[0]["content"]


def test_bad_arguments_come_back_as_errors_and_nothing_is_applied(llm_stub: StubServer) -> None:
    def recover(body: dict[str, Any]) -> dict[str, Any]:
        errors = tool_results(body)
        assert all("error" in e for e in errors)
        return tool_calls_reply(("edit_model", {"changes": {"budget": 800}}))

    llm_stub.push(
        tool_calls_reply(
            ("edit_model", {"changes": {"budget": "a lot"}}),  # not a number
            ("edit_model", {"changes": {"budgt": 800}}),  # no such parameter
            ("edit_model", "{not json"),
            ("delete_everything", {}),
        ),
        recover,
        "Done: the budget is 800 now.",
    )
    chat = ToolChat(stub_model(llm_stub), ToolChatConfig(tool_mode="native"))
    ws = Workspace.of(SHOP)
    turn = chat.run("set the budget to 800", ws)

    errors = tool_results(llm_stub.chat_requests[1].body)
    assert errors[0]["error"].startswith("invalid arguments, nothing was run: changes.budget")
    assert "no parameter named 'budgt'" in errors[1]["error"]
    assert "did you mean 'budget'" in errors[1]["error"]
    assert "arguments are not JSON" in errors[2]["error"]
    assert "no tool 'delete_everything'" in errors[3]["error"]
    assert [c.ok for c in turn.calls] == [False, False, False, False, True]
    assert ws.edits == 1 and ws.changes == ["budget = 800.0"]
    assert ws.document["parameters"]["budget"] == 800
    assert turn.answer == "Done: the budget is 800 now."


def test_the_tool_cap_ends_the_turn_gracefully(llm_stub: StubServer) -> None:
    def greedy(body: dict[str, Any]) -> Any:
        if body.get("tool_choice") == "none":
            return f"Stopped after {len(tool_results(body))} tool results."
        return tool_calls_reply(("solve", {}), ("solve", {}), ("solve", {}))

    llm_stub.handler = greedy
    chat = ToolChat(stub_model(llm_stub), ToolChatConfig(tool_mode="native", max_tool_calls=2))
    turn = chat.run("solve it again and again", Workspace.of(SHOP))

    assert len(turn.calls) == 2 and turn.capped
    assert len(llm_stub.chat_requests) == 2  # the second request asks for the answer
    refused = tool_results(llm_stub.chat_requests[1].body)[2]
    assert "tool budget of this turn is used up" in refused["error"]
    assert turn.answer == "Stopped after 3 tool results."


def test_auto_mode_falls_back_to_json_when_tools_are_rejected_and_remembers(
    llm_stub: StubServer,
) -> None:
    llm_stub.push(
        HTTPError.api_error(400, "tools are not supported by this model", param="tools"),
        '{"tool": "solve", "arguments": {}}',
        '{"final": "Optimal profit 1900."}',
        '{"final": "Still 1900."}',
    )
    model = stub_model(llm_stub)
    turn = ToolChat(model, ToolChatConfig(tool_mode="auto")).run("solve", Workspace.of(SHOP))

    assert turn.mode == "json" and [c.name for c in turn.calls] == ["solve"]
    assert turn.answer == "Optimal profit 1900."
    assert "tools" in llm_stub.chat_requests[0].body
    assert "tools" not in llm_stub.chat_requests[1].body
    # The next turn on this endpoint goes straight to the JSON protocol.
    again = ToolChat(model, ToolChatConfig(tool_mode="auto"))
    assert again.mode == "json"
    assert again.run("and now?", Workspace.of(SHOP)).answer == "Still 1900."
    assert len(llm_stub.chat_requests) == 4


def test_a_rejection_that_is_not_about_tools_is_raised(llm_stub: StubServer) -> None:
    from agent.errors import LLMError

    llm_stub.push(HTTPError.api_error(400, "model 'gpt-9' does not exist"))
    with pytest.raises(LLMError):
        ToolChat(stub_model(llm_stub), ToolChatConfig(tool_mode="auto")).run(
            "solve", Workspace.of(SHOP)
        )


def test_tool_mode_off_keeps_the_regex_router(tmp_path: Path) -> None:
    edited = {**SHOP, "parameters": {**SHOP["parameters"], "hours": 380}}
    fake = FakeLLM([json.dumps({"summary": "fewer hours", "document": edited})])
    with ChatSession(fake, tool_mode="off", path=tmp_path / "t.sqlite") as chat:
        chat.open_model(SHOP, PROBLEM)
        reply = chat.send("hours drop to 380")
    assert reply.route == "edit" and reply.tool_calls == [] and reply.tool_mode is None
    assert reply.objective == pytest.approx(1820)  # capacity binds: b = 80
    assert all("tools" not in c.kwargs for c in fake.calls)


def test_a_sweep_tabulates_the_objective_without_changing_the_model() -> None:
    chat = ToolChat(FakeLLM(), ToolChatConfig(tool_mode="native"))
    ws = Workspace.of(SHOP)
    record = chat.call_tool(
        ws, "sweep_parameter", {"parameter": "budget", "start": 600, "stop": 1000, "points": 5}
    )
    assert record.ok
    assert [r["value"] for r in record.result["table"]] == [600, 700, 800, 900, 1000]
    objectives = [r["objective"] for r in record.result["table"]]
    assert objectives == sorted(objectives) and objectives[-1] == pytest.approx(1900)
    assert objectives[0] == pytest.approx(1500)  # a = 300 uses the whole budget
    assert ws.sweeps[0]["x"] == [600, 700, 800, 900, 1000] and ws.sweeps[0]["y"] == objectives
    assert ws.document["parameters"]["budget"] == 950
    too_many = chat.call_tool(
        ws, "sweep_parameter", {"parameter": "budget", "start": 0, "stop": 1, "points": 500}
    )
    assert not too_many.ok and "at most 25 points" in too_many.result["error"]


def test_compact_json_rounds_and_shortens() -> None:
    text = compact_json({"x": 1 / 3, "rows": list(range(1000))}, max_chars=200)
    assert len(text) <= 200 and '"x":0.333333' in text and "more" in text


def test_an_equality_constrained_nlp_through_the_json_protocol() -> None:
    fake = FakeLLM(
        [
            json.dumps(
                {
                    "tool": "solve_equality_nlp",
                    "arguments": {
                        "objective": "(x - 1)**2 + (y - 2)**2",
                        "variables": {"x": 0, "y": None},
                        "equalities": ["x + y - 1"],
                    },
                }
            ),
            lambda messages: json.dumps({"final": messages[-1]["content"]}),
        ]
    )
    turn = ToolChat(fake, ToolChatConfig(tool_mode="json")).run(
        "closest point to (1, 2) on x + y = 1?", Workspace.of(SHOP)
    )
    result = turn.calls[0].result
    assert turn.calls[0].ok and result["status"] == "optimal"
    assert result["objective"] == pytest.approx(2.0)
    assert result["values"]["x"] == pytest.approx(0.0, abs=1e-6)
    assert result["values"]["y"] == pytest.approx(1.0)
    assert result["method"] == "sketched-newton" and result["multipliers"] == [pytest.approx(2.0)]
    assert turn.answer.startswith("Result of solve_equality_nlp: ")
    bad = ToolChat(fake, ToolChatConfig(tool_mode="json")).call_tool(
        Workspace.of(SHOP),
        "solve_equality_nlp",
        {"objective": "x + zz", "variables": {"x": 0}},
    )
    assert not bad.ok and "unknown name 'zz'" in bad.result["error"]


def test_tool_calls_are_cached_like_text(llm_stub: StubServer, tmp_path: Path) -> None:
    from agent.llm import user

    llm_stub.push(tool_calls_reply(("solve", {})))
    model = stub_model(llm_stub, cache_dir=tmp_path / "cache")
    schemas = [{"type": "function", "function": {"name": "solve", "parameters": {}}}]
    first = model.complete([user("solve it")], tools=schemas)
    again = model.complete([user("solve it")], tools=schemas)
    assert [c.name for c in first.tool_calls] == ["solve"] and not first.cached
    assert again.cached and again.tool_calls == first.tool_calls
    assert len(llm_stub.chat_requests) == 1
    assert llm_stub.chat_requests[0].body["tools"] == schemas
