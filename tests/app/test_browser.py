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
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import tool_calls_reply

from agent.stub_server import StubServer

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = ROOT / "test-output"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AppServer:
    """``streamlit run app.py`` on a free loopback port; start and stop it at will.

    Restarting keeps the environment, so the thread store under ``OPTIWISE_HOME``
    outlives the process, as it does for a person who restarts the app.
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> str:
        port = _free_port()
        streamlit = Path(sys.executable).with_name("streamlit")
        self.proc = subprocess.Popen(
            [
                str(streamlit),
                "run",
                str(ROOT / "app.py"),
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
                # others edit the checkout while tests run: no "File change. Rerun" prompts
                "--server.fileWatcherType",
                "none",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        return self.url
            except OSError:
                time.sleep(0.3)
        self.stop()
        pytest.fail("streamlit did not start within 60 s")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()


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


MESSAGES = '[data-testid="stChatMessage"]'


def _wait_for_messages(page: Any, count: int, text: str) -> None:
    """Wait until ``count`` chat messages show and the last one contains ``text``.

    On a time-out the page is saved as ``test-output/failure.png`` and the
    messages shown go into the failure, so a red run says what the person saw.
    """
    try:
        page.wait_for_function(
            """([sel, count, text]) => {
                const m = [...document.querySelectorAll(sel)];
                return m.length >= count && m[count - 1].innerText.includes(text);
            }""",
            arg=[MESSAGES, count, text],
            timeout=120_000,
        )
        # a message typed while the script still runs would interrupt the turn
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
            timeout=120_000,
        )
    except Exception as exc:
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / "failure.png"), full_page=True)
        shown = page.locator(MESSAGES).all_inner_texts()
        pytest.fail(f"waiting for message {count} with {text!r}: {exc}\nshown: {shown}")


def _send(page: Any, text: str) -> None:
    box = page.locator('[data-testid="stChatInput"] textarea')
    box.wait_for(timeout=30_000)
    box.fill(text)
    box.press("Enter")


def _thread_picker(page: Any) -> Any:
    """The Chat page's thread picker (the sidebar has a selectbox too: the chat's tools)."""
    boxes = page.locator('[data-testid="stSelectbox"]')
    return boxes.filter(has=page.get_by_text("Thread", exact=True)).first


def _launch(p: Any, profile: Path) -> Any:
    return p.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        args=FLAGS,
        viewport={"width": 1280, "height": 800},
    )


@pytest.mark.slow  # two server starts, a browser, four solved turns: 45 s idle, ~3 min busy
def test_a_three_turn_conversation_survives_saved_threads_and_a_restart(
    app_server: AppServer, chat_stub: StubServer, conversation: Any, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from agent.chat import list_threads

    shots = tmp_path / "shots"
    shots.mkdir()
    with sync_api.sync_playwright() as p:
        browser = _launch(p, tmp_path / "profile")
        try:
            page = browser.new_page()
            page.goto(app_server.url)
            # the first run imports the agent and lists the saved thread: slow on a busy machine
            _thread_picker(page).wait_for(timeout=120_000)
            _send(page, conversation.problem)
            _wait_for_messages(page, 2, "2528")
            # the chart draws after the text; give it a moment so the screenshot shows it
            page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for(timeout=15_000)
            page.wait_for_timeout(800)
            page.screenshot(path=str(shots / "chat.png"), full_page=True)
            _send(page, conversation.edit)
            _wait_for_messages(page, 4, "Compared with before")
            _send(page, conversation.question)
            _wait_for_messages(page, 6, conversation.answer)
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
        browser = _launch(p, tmp_path / "profile2")
        try:
            page = browser.new_page()
            page.goto(app_server.url)
            picker = _thread_picker(page)
            picker.wait_for(timeout=120_000)
            picker.click()
            page.get_by_role("option", name=newest[:8]).click()
            _wait_for_messages(page, 6, conversation.answer)
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


@pytest.mark.slow  # a server start, a browser and two turns: ~30 s idle
def test_a_tool_turn_shows_its_calls_and_the_sweep_plot_in_the_browser(
    tmp_path: Path, conversation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with StubServer(handler=_tool_handler(conversation.document)) as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("OPTIWISE_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("OPTIWISE_TOOL_MODE", "native")  # the app's default comes from here
        server = AppServer(dict(os.environ))
        server.start()
        try:
            with sync_api.sync_playwright() as p:
                browser = _launch(p, tmp_path / "profile")
                try:
                    page = browser.new_page()
                    page.goto(server.url)
                    _send(page, conversation.problem)
                    _wait_for_messages(page, 2, "2528")
                    _send(page, "sweep the north demand from 200 to 300")
                    _wait_for_messages(page, 4, "sweep_parameter")
                    reply = page.locator(MESSAGES).nth(3)
                    reply.locator(".vega-embed canvas, .vega-embed svg").first.wait_for(
                        timeout=15_000
                    )
                    text = reply.inner_text()
                    page.set_viewport_size({"width": 1280, "height": 4000})  # both turns
                    page.wait_for_timeout(1500)
                    page.screenshot(path=str(tmp_path / "chat_tools.png"), full_page=True)
                finally:
                    browser.close()
        finally:
            server.stop()
    assert "The cost rises from 2276 to 2696 over the sweep (sweep_parameter)." in text
    assert "Tools used (1) · native" in text
    assert "Objective vs demand[north]" in text
    assert "Traceback" not in text
    assert (tmp_path / "chat_tools.png").stat().st_size > 10_000
    OUTPUT.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "chat_tools.png", OUTPUT / "chat_tools.png")
