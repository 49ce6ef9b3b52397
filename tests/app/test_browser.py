"""End to end in a real browser: ``streamlit run app.py`` driven by Playwright.

Debian's Chromium (``make test`` installs it) is launched directly; Playwright
downloads nothing.  The LLM is the loopback stub, scripted (``conftest.py``) to
answer the three turns of a conversation: a new problem, an edit, a question.
The thread store already holds a conversation when the browser opens, and the
server is restarted before the conversation is reopened.  The screenshots are
saved under ``test-output/`` for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import (
    CHROMIUM,
    MESSAGES,
    OUTPUT,
    ROOT,
    AppServer,
    BrowserApp,
    launch,
    send,
    thread_picker,
    wait_for_messages,
)
from support import tool_calls_reply

from agent.stub_server import StubServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


def _prefill_thread_store(problem: str) -> None:
    """Save one conversation before the browser opens, through the app itself (in-process)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.chat_input[0].set_value(problem).run()
    assert not at.exception, at.exception
    assert len(at.chat_message) == 2


@pytest.fixture
def app_server(
    tmp_path: Path, chat_stub: StubServer, conversation: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AppServer]:
    home = tmp_path / "home"
    monkeypatch.setenv("OPENAI_BASE_URL", chat_stub.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPTIWISE_HOME", str(home))
    _prefill_thread_store(conversation.problem)
    server = AppServer(dict(os.environ))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.slow  # two server starts, a browser, four solved turns: 45 s idle, ~3 min busy
def test_a_three_turn_conversation_survives_saved_threads_and_a_restart(
    app_server: AppServer, chat_stub: StubServer, conversation: Any, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from agent.chat import list_threads

    shots = tmp_path / "shots"
    shots.mkdir()
    with sync_api.sync_playwright() as p:
        browser = launch(p, tmp_path / "profile")
        try:
            page = browser.new_page()
            page.goto(app_server.url)
            # the first run imports the agent and lists the saved thread: slow on a busy machine
            thread_picker(page).wait_for(timeout=120_000)
            send(page, conversation.problem)
            wait_for_messages(page, 2, "2528")
            # the chart draws after the text; give it a moment so the screenshot shows it
            page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for(timeout=15_000)
            page.wait_for_timeout(800)
            page.screenshot(path=str(shots / "chat.png"), full_page=True)
            send(page, conversation.edit)
            wait_for_messages(page, 4, "Compared with before")
            send(page, conversation.question)
            wait_for_messages(page, 6, conversation.answer)
            texts = page.locator(MESSAGES).all_inner_texts()
            page.set_viewport_size({"width": 1280, "height": 2400})  # the whole conversation
            page.wait_for_timeout(800)
            page.screenshot(path=str(shots / "chat_three_turns.png"), full_page=True)
        finally:
            browser.close()

        assert len(texts) == 6, texts
        assert conversation.edit in texts[2] and conversation.question in texts[4]
        assert "Traceback" not in " ".join(texts)
        assert len(chat_stub.chat_requests) == 4  # the prefill's turn and these three

        # restart the server; the conversation reopens from the thread store
        app_server.stop()
        app_server.start()
        newest = list_threads()[0]["thread_id"]
        browser = launch(p, tmp_path / "profile2")
        try:
            page = browser.new_page()
            page.goto(app_server.url)
            picker = thread_picker(page)
            picker.wait_for(timeout=120_000)
            picker.click()
            page.get_by_role("option", name=newest[:8]).click()
            wait_for_messages(page, 6, conversation.answer)
            reopened = page.locator(MESSAGES).all_inner_texts()
            page.set_viewport_size({"width": 1280, "height": 2400})
            page.wait_for_timeout(800)
            page.screenshot(path=str(shots / "chat_reopened.png"), full_page=True)
        finally:
            browser.close()
    assert conversation.question in reopened[4] and conversation.answer in reopened[5]
    assert len(chat_stub.chat_requests) == 4  # reopening calls no LLM
    OUTPUT.mkdir(exist_ok=True)
    for shot in shots.iterdir():
        assert shot.stat().st_size > 10_000
        shutil.copy(shot, OUTPUT / shot.name)


def _tool_handler(problem_doc: dict[str, Any]) -> Any:
    """Formulate with ``problem_doc``; with tools offered, sweep the north demand, then answer."""
    import json

    sweep = {"parameter": "demand", "index": "north", "start": 200, "stop": 300, "points": 5}

    def handle(body: dict[str, Any]) -> Any:
        if "tools" not in body:
            return "```json\n" + json.dumps(problem_doc) + "\n```"
        results = [json.loads(m["content"]) for m in body["messages"] if m.get("role") == "tool"]
        if results:
            table = results[0]["table"]
            first, last = table[0]["objective"], table[-1]["objective"]
            return f"The cost rises from {first:g} to {last:g} over the sweep (sweep_parameter)."
        return tool_calls_reply(("sweep_parameter", sweep))

    return handle


@pytest.mark.slow  # a browser and two turns on the shared server: ~20 s idle
def test_a_tool_turn_shows_its_calls_and_the_sweep_plot_in_the_browser(
    tmp_path: Path, conversation: Any, browser_app: BrowserApp
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    browser_app.stub.handler = _tool_handler(conversation.document)
    with sync_api.sync_playwright() as p:
        browser = launch(p, tmp_path / "profile")
        try:
            page = browser.new_page()
            page.goto(browser_app.server.url)
            # the server's first page run imports the agent: slow on a busy machine
            page.locator('[data-testid="stChatInput"]').wait_for(timeout=120_000)
            send(page, conversation.problem)
            wait_for_messages(page, 2, "2528")
            send(page, "sweep the north demand from 200 to 300")
            wait_for_messages(page, 4, "sweep_parameter")
            reply = page.locator(MESSAGES).nth(3)
            reply.locator(".vega-embed canvas, .vega-embed svg").first.wait_for(timeout=15_000)
            text = reply.inner_text()
            page.set_viewport_size({"width": 1280, "height": 4000})  # both turns
            page.wait_for_timeout(1500)
            page.screenshot(path=str(tmp_path / "chat_tools.png"), full_page=True)
        finally:
            browser.close()
    assert "The cost rises from 2276 to 2696 over the sweep (sweep_parameter)." in text
    assert "Tools used (1) · native" in text
    assert "Objective vs demand[north]" in text
    assert "Traceback" not in text
    assert (tmp_path / "chat_tools.png").stat().st_size > 10_000
    OUTPUT.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "chat_tools.png", OUTPUT / "chat_tools.png")
