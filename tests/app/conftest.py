"""Fixtures for the app tests: a scripted three-turn conversation over the loopback stub.

The stub answers by what the agent asks, not by position, so the same script
serves a conversation started from any state (an empty or a pre-filled thread
store, a restarted server):

- a formulation request gets the transport sample's document;
- an edit request ("The user wants to change ...") gets the document with the
  first market's demand lowered by 20;
- an explanation request gets a sentence naming the cheapest route.

``browser_app`` is the Streamlit server that the browser tests which need no
restart share (one server start and one first page run instead of one per test).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser_support import AppServer, BrowserApp

from agent.stub_server import StubServer
from modeling.samples import get_sample

ANSWER = "The cheapest route is seattle to chicago, at 1.7 per case."


@dataclass(frozen=True)
class Conversation:
    """The three messages of the scripted conversation and what each one should show."""

    problem: str
    edit: str
    question: str
    market: str
    document: dict[str, Any]
    edited: dict[str, Any]
    answer: str = ANSWER


def _conversation() -> Conversation:
    sample = get_sample("transport_basic")
    doc = json.loads(json.dumps(dict(sample.formulation)))
    edited = copy.deepcopy(doc)
    demand = edited["parameters"]["demand"]
    market = str(edited["sets"][demand["index"][0]][0])
    values = demand["values"]
    if isinstance(values, dict):
        values[market] -= 20
    else:
        values[0] -= 20
    return Conversation(
        problem=sample.problem,
        edit=f"Demand at {market} falls by 20.",
        question="Which route is the cheapest?",
        market=market,
        document=doc,
        edited=edited,
    )


def conversation_handler(conv: Conversation) -> Any:
    """A stub handler answering formulate, edit and explain requests of ``conv``."""

    def handle(body: dict[str, Any]) -> str:
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        last = str(users[-1].get("content", "")) if users else ""
        if last.startswith("The user wants to change"):
            return json.dumps({"summary": f"demand at {conv.market} -20", "document": conv.edited})
        if last.startswith("Explain the solution"):
            return conv.answer
        return "```json\n" + json.dumps(conv.document) + "\n```"

    return handle


@pytest.fixture
def conversation() -> Conversation:
    return _conversation()


@pytest.fixture
def chat_stub(conversation: Conversation) -> Iterator[StubServer]:
    """A started stub that answers every request of the scripted conversation."""
    with StubServer(handler=conversation_handler(conversation)) as stub:
        yield stub


@pytest.fixture(scope="session")
def _shared_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserApp]:
    home = tmp_path_factory.mktemp("browser-app") / "home"
    with StubServer() as stub:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": stub.base_url,
            "OPENAI_API_KEY": "test-key",
            "OPTIWISE_HOME": str(home),
            "OPTIWISE_TOOL_MODE": "native",  # the app's default; a turn without tools is unchanged
        }
        server = AppServer(env)
        server.start()
        try:
            yield BrowserApp(server, stub, home)
        finally:
            server.stop()


@pytest.fixture
def browser_app(
    _shared_app: BrowserApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> BrowserApp:
    """The shared Streamlit server, its stub reset (no handler, no requests) for this test.

    A new browser profile is a new session, which starts a new thread; the threads of
    earlier tests stay in the store. ``tmp_path / "home"`` links to the server's home
    (also this process's ``OPTIWISE_HOME``), where a test finds what the app saved.
    """
    stub = _shared_app.stub
    stub.handler = None
    stub.requests.clear()
    (tmp_path / "home").symlink_to(_shared_app.home, target_is_directory=True)
    monkeypatch.setenv("OPTIWISE_HOME", str(tmp_path / "home"))
    return _shared_app
