"""Stated assumptions in a conversation (issue 10), through the real client and the stub.

Turn 1 formulates a problem whose text leaves the capacity out: the reply lists
the assumption and asks for the data. Turn 2 gives it ("the capacity is 120"):
the message is an edit, and the new document no longer carries the assumption.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from support import stub_model, tool_calls_reply

from agent.assumptions import assumptions_note, resolve_assumptions, stated_assumptions
from agent.chat import ChatSession
from agent.stub_server import StubServer

PROBLEM = (
    "A workshop makes chairs (profit 30) and tables (profit 50). A chair takes 1 hour, a "
    "table 3 hours. Chairs sell at most 60. How many of each should it make to maximize profit?"
)
ASSUMED = "the weekly hours are not given; assumed 100"
DOC: dict[str, Any] = {
    "name": "workshop",
    "sets": {"Items": ["chair", "table"]},
    "parameters": {
        "profit": {"index": ["Items"], "values": {"chair": 30, "table": 50}},
        "hours": {"index": ["Items"], "values": {"chair": 1, "table": 3}},
        "capacity": 100,
    },
    "variables": {"make": {"index": ["Items"], "lower": 0}},
    "objective": {"sense": "maximize", "expression": "sum(profit[i] * make[i] for i in Items)"},
    "constraints": [
        {"name": "time", "expression": "sum(hours[i] * make[i] for i in Items) <= capacity"},
        {"name": "market", "expression": "make['chair'] <= 60"},
    ],
    "assumptions": [{"text": ASSUMED, "parameters": ["capacity"]}],
}


def _edited(keep_assumption: bool) -> dict[str, Any]:
    doc = copy.deepcopy(DOC)
    doc["parameters"]["capacity"] = 120
    if not keep_assumption:
        doc.pop("assumptions")
    return doc


def _handler(keep_assumption: bool) -> Any:
    def handle(body: dict[str, Any]) -> str:
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        last = str(users[-1].get("content", "")) if users else ""
        if last.startswith("The user wants to change"):
            edited = _edited(keep_assumption)
            return json.dumps({"summary": "capacity 120", "document": edited})
        return "```json\n" + json.dumps(DOC) + "\n```"

    return handle


@pytest.mark.parametrize("keep_assumption", [False, True], ids=["llm-drops-it", "llm-keeps-it"])
def test_the_reply_asks_for_the_assumed_data_and_the_follow_up_edits_it_away(
    tmp_path: Path, keep_assumption: bool
) -> None:
    with (
        StubServer(handler=_handler(keep_assumption)) as stub,
        ChatSession(stub_model(stub), path=tmp_path / "t.sqlite", thread_id="w") as chat,
    ):
        first = chat.send(PROBLEM)
        assert first.route == "formulate" and first.status == "optimal"
        assert first.objective == pytest.approx(60 * 30 + 40 / 3 * 50)  # 100 h: 60 chairs
        assert first.assumptions == [{"text": ASSUMED, "parameters": ["capacity"]}]
        assert ASSUMED in first.answer and "(affects `capacity`)" in first.answer
        assert "Please confirm these assumptions, or give the missing data" in first.answer

        second = chat.send("the capacity is 120")

        assert second.route == "edit" and second.status == "optimal"
        assert second.objective == pytest.approx(60 * 30 + 20 * 50)  # 120 h: 20 tables
        assert second.formulation is not None
        assert second.formulation["parameters"]["capacity"] == 120
        assert "assumptions" not in second.formulation and second.assumptions == []
        assert "No longer assumed" in second.answer and ASSUMED in second.answer
        assert "assumptions" in second.diff  # the diff shows the assumption going
        assert "assumptions" not in (chat.formulation or {})  # so does the saved thread
        assert chat.history[-1]["content"] == second.answer
        assert len(stub.chat_requests) == 2


def test_a_tool_edit_that_gives_the_data_settles_the_assumption(tmp_path: Path) -> None:
    edit_call = tool_calls_reply(("edit_model", {"changes": {"capacity": 120}}))
    with StubServer() as stub:
        stub.push(edit_call, "Set the capacity to 120: profit 2800 (edit_model).")
        with ChatSession(stub_model(stub), tool_mode="native", path=tmp_path / "t.sqlite") as chat:
            chat.open_model(DOC, PROBLEM)
            reply = chat.send("the capacity is 120")
        system = str(stub.chat_requests[0].messages[0]["content"])
    assert ASSUMED in system  # the LLM sees what the model assumes
    assert reply.tool_calls[0]["ok"] and reply.objective == pytest.approx(2800)
    assert reply.assumptions == [] and "assumptions" not in (reply.formulation or {})
    assert reply.answer.startswith("Set the capacity to 120")
    assert "No longer assumed" in reply.answer


def test_resolve_keeps_assumptions_about_data_the_edit_did_not_touch() -> None:
    doc = copy.deepcopy(DOC)
    doc["assumptions"].append({"text": "profits are per unit", "parameters": ["profit"]})
    doc["assumptions"].append({"text": "no overtime", "parameters": []})
    after = copy.deepcopy(doc)
    after["parameters"]["capacity"] = 120
    new, resolved = resolve_assumptions(doc, after)
    assert [a["text"] for a in resolved] == [ASSUMED]
    assert [a["text"] for a in stated_assumptions(new)] == ["profits are per unit", "no overtime"]
    assert resolve_assumptions(doc, doc) == (doc, [])
    assert assumptions_note({"assumptions": []}) == "" and assumptions_note(None) == ""
    assert stated_assumptions({"assumptions": [{"text": " "}, "loose", {"text": "x"}]}) == [
        {"text": "x", "parameters": []}
    ]


def test_confirming_the_assumptions_keeps_them_without_an_llm_call(tmp_path: Path) -> None:
    with (
        StubServer(handler=_handler(False)) as stub,
        ChatSession(stub_model(stub), path=tmp_path / "t.sqlite") as chat,
    ):
        first = chat.send(PROBLEM)
        reply = chat.send("Yes, those are fine.")
        assert len(stub.chat_requests) == 1  # only the formulation
        assert reply.route == "answer" and reply.objective == first.objective
        assert reply.answer.startswith("Noted: the model keeps these assumptions")
        assert ASSUMED in reply.answer and reply.assumptions == first.assumptions
        assert chat.formulation == first.formulation
        assert chat.history[-1]["content"] == reply.answer
        data = chat.send("yes, but the capacity is 120")  # data: an edit after all
        assert data.route == "edit" and data.assumptions == []


@pytest.mark.parametrize(
    ("message", "confirms"),
    [
        ("Yes", True),
        ("ok, thanks", True),
        ("That's right.", True),
        ("the assumptions are fine", True),
        ("yes, but the capacity is 120", False),
        ("ok make it 120", False),
        ("No, the hours are 120", False),
        ("sure, but change the profit of tables", False),
        ("why is the table profit 50?", False),
    ],
)
def test_what_counts_as_a_confirmation(message: str, confirms: bool) -> None:
    from agent.assumptions import is_confirmation

    assert is_confirmation(message) is confirms
