"""The browser tests' helpers: ``streamlit run app.py`` on a loopback port, Debian's Chromium.

Imported by ``tests/app/test_browser*.py`` and by ``tests/app/conftest.py`` (the
Streamlit server the browser tests share). Chromium is launched directly;
Playwright downloads nothing.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.stub_server import StubServer

__all__ = [
    "CHROMIUM",
    "MESSAGES",
    "OUTPUT",
    "ROOT",
    "AppServer",
    "BrowserApp",
    "launch",
    "send",
    "thread_picker",
    "wait_for_messages",
]

ROOT = Path(__file__).resolve().parents[1]
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


def free_port() -> int:
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
        port = free_port()
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


MESSAGES = '[data-testid="stChatMessage"]'


def wait_for_messages(page: Any, count: int, text: str) -> None:
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


def send(page: Any, text: str) -> None:
    box = page.locator('[data-testid="stChatInput"] textarea')
    box.wait_for(timeout=30_000)
    box.fill(text)
    box.press("Enter")


def thread_picker(page: Any) -> Any:
    """The Chat page's thread picker (the sidebar has a selectbox too: the chat's tools)."""
    boxes = page.locator('[data-testid="stSelectbox"]')
    return boxes.filter(has=page.get_by_text("Thread", exact=True)).first


def launch(p: Any, profile: Path) -> Any:
    """Debian's Chromium, headless, with its own profile folder ``profile``."""
    return p.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        args=FLAGS,
        viewport={"width": 1280, "height": 800},
    )


@dataclass(frozen=True)
class BrowserApp:
    """A running ``streamlit run app.py``, the stub it calls and its ``OPTIWISE_HOME``."""

    server: AppServer
    stub: StubServer
    home: Path
