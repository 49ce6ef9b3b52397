"""In a real browser: a CSV attached to a chat message with the 📎 button is read by the model.

Reuses the server and browser helpers of ``test_browser.py`` (Debian's Chromium,
Playwright, the loopback stub); the screenshot goes to ``test-output/chat_upload.png``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import upload_support as U

from agent.stub_server import StubServer

_spec = importlib.util.spec_from_file_location(
    "_browser_helpers", Path(__file__).with_name("test_browser.py")
)
assert _spec is not None and _spec.loader is not None
_helpers: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not _helpers.CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


@pytest.mark.slow  # a server start, a browser and one solved turn: ~20 s idle
def test_a_csv_attached_in_the_browser_is_listed_and_solved_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    csv = tmp_path / "products.csv"
    csv.write_bytes(U.products_csv())
    with StubServer(handler=U.handler) as stub:
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("OPTIWISE_HOME", str(tmp_path / "home"))
        server = _helpers.AppServer(dict(os.environ))
        server.start()
        try:
            with sync_api.sync_playwright() as p:
                browser = _helpers._launch(p, tmp_path / "profile")
                try:
                    page = browser.new_page()
                    page.goto(server.url)
                    chat = page.locator('[data-testid="stChatInput"]')
                    chat.wait_for(timeout=120_000)
                    chat.locator('input[type="file"]').set_input_files(str(csv))
                    page.get_by_text("products.csv").first.wait_for(timeout=30_000)
                    _helpers._send(page, U.PROBLEM)
                    _helpers._wait_for_messages(page, 2, "13320")
                    texts = page.locator(_helpers.MESSAGES).all_inner_texts()
                    page.wait_for_timeout(800)
                    page.screenshot(path=str(tmp_path / "chat_upload.png"), full_page=True)
                finally:
                    browser.close()
        finally:
            server.stop()
        prompt = U.user_text(stub.chat_requests[0].body)
    assert "products.csv" in texts[0] and U.PROBLEM in texts[0]
    assert "Traceback" not in " ".join(texts)
    assert "products.csv: 50 rows, 3 columns" in prompt and U.HIDDEN_ROW not in prompt
    assert (tmp_path / "home" / "threads-data").is_dir()
    _helpers.OUTPUT.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "chat_upload.png", _helpers.OUTPUT / "chat_upload.png")
