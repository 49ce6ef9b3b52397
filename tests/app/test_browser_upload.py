"""In a real browser: a CSV attached to a chat message with the 📎 button is read by the model.

Uses the server and browser helpers of ``browser_support.py`` (Debian's Chromium,
Playwright, the loopback stub); the screenshot goes to ``test-output/chat_upload.png``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import upload_support as U
from browser_support import CHROMIUM, MESSAGES, OUTPUT, BrowserApp, launch, send, wait_for_messages

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]


@pytest.mark.slow  # a browser and one solved turn on the shared server: ~15 s idle
def test_a_csv_attached_in_the_browser_is_listed_and_solved_with(
    tmp_path: Path, browser_app: BrowserApp
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    csv = tmp_path / "products.csv"
    csv.write_bytes(U.products_csv())
    stub = browser_app.stub
    stub.handler = U.handler
    with sync_api.sync_playwright() as p:
        browser = launch(p, tmp_path / "profile")
        try:
            page = browser.new_page()
            page.goto(browser_app.server.url)
            chat = page.locator('[data-testid="stChatInput"]')
            chat.wait_for(timeout=120_000)
            chat.locator('input[type="file"]').set_input_files(str(csv))
            page.get_by_text("products.csv").first.wait_for(timeout=30_000)
            send(page, U.PROBLEM)
            wait_for_messages(page, 2, "13320")
            texts = page.locator(MESSAGES).all_inner_texts()
            page.wait_for_timeout(800)
            page.screenshot(path=str(tmp_path / "chat_upload.png"), full_page=True)
        finally:
            browser.close()
    prompt = U.user_text(stub.chat_requests[0].body)
    assert "products.csv" in texts[0] and U.PROBLEM in texts[0]
    assert "Traceback" not in " ".join(texts)
    assert "products.csv: 50 rows, 3 columns" in prompt and U.HIDDEN_ROW not in prompt
    assert (tmp_path / "home" / "threads-data").is_dir()
    OUTPUT.mkdir(exist_ok=True)
    shutil.copy(tmp_path / "chat_upload.png", OUTPUT / "chat_upload.png")
