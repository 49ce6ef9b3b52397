"""End to end in a real browser: ``streamlit run app.py`` driven by Playwright.

Debian's Chromium (``make test`` installs it) is launched directly; Playwright
downloads nothing.  The LLM is the loopback stub, answering every request
with the formulation of the sample problem typed into the chat.  The
screenshot is saved under ``test-output/`` for a person to look at.
"""

from __future__ import annotations

import json
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
import yaml

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


@pytest.fixture
def app_server(tmp_path: Path) -> Iterator[tuple[str, StubServer, dict[str, Any]]]:
    sample = yaml.safe_load((ROOT / "datasets/samples/transport_basic.yaml").read_text())
    reply = "```json\n" + json.dumps(sample["formulation"]) + "\n```"
    stub = StubServer(handler=lambda body: reply)
    stub.__enter__()
    port = _free_port()
    env = {
        **os.environ,
        "OPENAI_BASE_URL": stub.base_url,
        "OPENAI_API_KEY": "test-key",
        "OPTIWISE_THREADS": str(tmp_path / "threads.sqlite"),
        "OPTIWISE_HOME": str(tmp_path / "home"),
    }
    streamlit = Path(sys.executable).with_name("streamlit")
    proc = subprocess.Popen(
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
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("streamlit did not start within 60 s")
        yield url, stub, sample
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        stub.close()


def test_type_a_problem_and_see_the_solution(
    app_server: tuple[str, StubServer, dict[str, Any]], tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    url, stub, sample = app_server
    shot = tmp_path / "chat.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 800},
        )
        try:
            page = browser.new_page()
            page.goto(url)
            box = page.locator('[data-testid="stChatInput"] textarea')
            box.wait_for(timeout=30_000)
            box.fill(sample["problem"])
            box.press("Enter")
            page.wait_for_function(
                "() => [...document.querySelectorAll('[data-testid=\"stChatMessage\"]')]"
                ".some(e => e.innerText.includes('2,528') || e.innerText.includes('2528'))",
                timeout=60_000,
            )
            # the chart draws after the text; give it a moment so the screenshot shows it
            page.locator(".vega-embed canvas, .vega-embed svg").first.wait_for(timeout=15_000)
            page.wait_for_timeout(800)
            texts = page.locator('[data-testid="stChatMessage"]').all_inner_texts()
            page.screenshot(path=str(shot), full_page=True)
            page.set_viewport_size({"width": 1280, "height": 1800})  # the whole conversation
            page.wait_for_timeout(800)
            page.screenshot(path=str(tmp_path / "chat_top.png"))
        finally:
            browser.close()
    assert any("2,528" in t or "2528" in t for t in texts), texts
    assert "Traceback" not in " ".join(texts)
    assert stub.chat_requests, "the app never called the LLM"
    OUTPUT.mkdir(exist_ok=True)
    shutil.copy(shot, OUTPUT / "chat.png")
    shutil.copy(tmp_path / "chat_top.png", OUTPUT / "chat_top.png")
    assert shot.stat().st_size > 10_000
