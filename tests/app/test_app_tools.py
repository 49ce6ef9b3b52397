"""The chat page with tools on: the mode is a setting, a turn's tool calls and sweeps are shown.

The LLM is the loopback stub through the real ``openai`` client: a formulation
request gets the transport sample; a request that offers tools first gets two
tool calls (a sweep of the north market's demand, and an edit with a parameter
that does not exist), then an answer written from the results it was sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from support import tool_calls_reply

from agent.stub_server import StubServer
from modeling.samples import get_sample

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
SWEEP = {"parameter": "demand", "index": "north", "start": 200, "stop": 300, "points": 5}


def _handler(body: dict[str, Any]) -> Any:
    if "tools" not in body:
        doc = dict(get_sample("transport_basic").formulation)
        return "```json\n" + json.dumps(doc) + "\n```"
    results = [json.loads(m["content"]) for m in body["messages"] if m.get("role") == "tool"]
    if not results:
        return tool_calls_reply(
            ("sweep_parameter", SWEEP), ("edit_model", {"changes": {"demnd": 1}})
        )
    table = results[0]["table"]
    first, last = table[0]["objective"], table[-1]["objective"]
    return f"From 200 to 300 tons in the north the cost goes from {first:g} to {last:g} (sweep_parameter)."


@pytest.fixture
def tool_stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubServer]:
    with StubServer(handler=_handler) as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        yield stub


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def test_the_tool_mode_defaults_to_the_environment_and_is_shared_with_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _app().selectbox(key="chat_tool_mode").value == "off"
    monkeypatch.setenv("OPTIWISE_TOOL_MODE", "json")
    at = _app()
    assert at.selectbox(key="chat_tool_mode").value == "json"
    at.selectbox(key="chat_tool_mode").set_value("native").run()
    at.switch_page("ui/pages/settings.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="settings_tool_mode").value == "native"
    assert at.session_state["settings"]["tool_mode"] == "native"


@pytest.mark.slow  # two app sessions, two turns with six solves, a reopen: ~10 s
def test_a_tool_turn_shows_its_calls_and_the_sweep_as_a_table_and_a_plot(
    tool_stub: StubServer,
) -> None:
    at = _app()
    at.selectbox(key="chat_tool_mode").set_value("native").run()
    at.chat_input[0].set_value(get_sample("transport_basic").problem).run()
    assert not at.exception, at.exception
    assert "tools" not in tool_stub.chat_requests[0].body  # a new problem is formulated

    at.chat_input[0].set_value("sweep the north demand from 200 to 300").run()

    assert not at.exception, at.exception
    reply = at.chat_message[-1]
    assert "tools" in tool_stub.chat_requests[1].body  # this turn offered the tools
    text = " ".join(m.value for m in reply.markdown)
    assert "the cost goes from 2276 to 2696 (sweep_parameter)" in text
    [expander] = [e for e in reply.expander if e.label.startswith("Tools used")]
    assert expander.label == "Tools used (2, 1 failed) · native"
    calls = reply.dataframe[0].value
    assert list(calls["tool"]) == ["sweep_parameter", "edit_model"]
    assert list(calls["ok"]) == [True, False]
    assert '"index":"north"' in calls["arguments"].iloc[0]
    assert "no parameter named 'demnd'" in calls["result"].iloc[1]
    assert "Objective vs demand[north]" in text
    specs = [chart.proto.spec for chart in reply.get("vega_lite_chart")]
    [plot] = [spec for spec in specs if '"line"' in spec]  # objective vs the parameter
    assert "demand[north]" in plot
    sweep = reply.dataframe[1].value
    assert list(sweep["demand[north]"]) == [200, 225, 250, 275, 300]
    # 2528 at 260 tons; each further ton to the north comes from riverside at 4.2
    expected = [2528 + 4.2 * (x - 260) for x in (200, 225, 250, 275, 300)]
    assert list(sweep["objective"]) == pytest.approx(expected)
    assert set(sweep["status"]) == {"optimal"}
    assert not [c for c in reply.code if c.language == "diff"]  # nothing was edited

    # a fresh session reopens the thread with the tool calls and the sweep plot
    again = _app()
    again.selectbox(key="thread_pick").set_value(at.session_state["thread_id"]).run()
    assert not again.exception, again.exception
    reopened = again.chat_message[3]
    assert reopened.expander[0].label == "Tools used (2, 1 failed) · native"
    assert list(reopened.dataframe[0].value["tool"]) == ["sweep_parameter", "edit_model"]
    assert list(reopened.dataframe[1].value["objective"]) == pytest.approx(expected)
    assert len(reopened.get("vega_lite_chart")) == 1
    assert len(tool_stub.chat_requests) == 3  # reopening calls no LLM


def test_the_chat_shows_the_models_assumptions_and_the_data_given_settles_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sample = get_sample("transport_basic")
    assumed = "the south market's order is not given; assumed 190 tons"
    doc = json.loads(json.dumps(dict(sample.formulation)))
    doc["assumptions"] = [{"text": assumed, "parameters": ["demand"]}]
    edited = json.loads(json.dumps(doc))
    edited["parameters"]["demand"]["values"]["south"] = 150
    del edited["assumptions"]

    def handle(body: dict[str, Any]) -> str:
        last = [m for m in body["messages"] if m.get("role") == "user"][-1]["content"]
        if str(last).startswith("The user wants to change"):
            return json.dumps({"summary": "south demand 150", "document": edited})
        return "```json\n" + json.dumps(doc) + "\n```"

    with StubServer(handler=handle) as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        at = _app()
        at.chat_input[0].set_value(sample.problem).run()
        assert not at.exception, at.exception
        first = " ".join(m.value for m in at.chat_message[-1].markdown)
        assert "this model assumes" in first and assumed in first
        assert "Please confirm these assumptions" in first

        at.chat_input[0].set_value("The south market orders 150 tons.").run()

    assert not at.exception, at.exception
    second = " ".join(m.value for m in at.chat_message[-1].markdown)
    assert "No longer assumed" in second and assumed in second
    diff = " ".join(c.value for c in at.chat_message[-1].code if c.language == "diff")
    assert "-assumptions:" in diff and "+      south: 150" in diff


def test_a_bad_tool_mode_in_the_environment_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPTIWISE_TOOL_MODE", "always")
    at = _app()
    assert at.selectbox(key="chat_tool_mode").value == "off"
    at.switch_page("ui/pages/settings.py").run()
    assert not at.exception, at.exception
    [warning] = [w.value for w in at.warning if "tool setting" in w.value]
    assert "tool_mode must be one of native, json, off, auto, got 'always'" in warning
