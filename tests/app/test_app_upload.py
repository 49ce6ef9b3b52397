"""Data tables uploaded in the app: with a chat message, and beside the Model page's editor."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import upload_support as U
from streamlit.testing.v1 import AppTest
from support import stub_model

from agent.chat import ChatSession
from agent.stub_server import StubServer

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubServer]:
    with StubServer(handler=U.handler) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        yield server


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> list[tuple[str, str]]:
    return [
        (m.name, " ".join([x.value for x in m.markdown] + [c.value for c in m.caption]))
        for m in at.chat_message
    ]


def test_a_csv_sent_with_the_problem_is_described_and_the_model_solves_with_it(
    stub: StubServer,
) -> None:
    at = _app()
    at.chat_input[0].set_value(U.PROBLEM).upload("products.csv", U.products_csv(), "text/csv")
    at.run()
    assert not at.exception, at.exception
    shown = _texts(at)
    assert [role for role, _ in shown] == ["user", "assistant"]
    assert U.PROBLEM in shown[0][1] and "products.csv" in shown[0][1]  # listed with the message
    assert "13,320" in shown[1][1] or "13320" in shown[1][1]  # item50, the table's last row
    prompt = U.user_text(stub.chat_requests[0].body)
    assert "products.csv: 50 rows, 3 columns" in prompt  # its columns and row count
    assert "hours: integer, 2 to 6" in prompt
    assert U.HIDDEN_ROW not in prompt  # never the whole table


def test_a_reopened_thread_shows_its_files_and_reads_them_again(stub: StubServer) -> None:
    with ChatSession(stub_model(stub), thread_id="workshop") as chat:  # an earlier session
        chat.send(U.PROBLEM, files={"products.csv": U.products_csv()})
    thread = "workshop"
    again = _app()
    again.selectbox(key="thread_pick").set_value(thread).run()
    assert "products.csv" in _texts(again)[0][1]
    again.chat_input[0].set_value(U.EDIT).run()
    assert not again.exception, again.exception
    assert "26,640" in _texts(again)[-1][1] or "26640" in _texts(again)[-1][1]


@pytest.mark.parametrize(
    ("name", "size_mb", "reason"),
    [
        ("../products.csv", None, "may not contain a folder or '..'"),
        ("products.csv", "0.0005", "over the limit of 524 bytes"),
    ],
)
def test_a_bad_upload_is_refused_with_a_message_and_nothing_is_sent(
    stub: StubServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    name: str,
    size_mb: str | None,
    reason: str,
) -> None:
    if size_mb is not None:
        monkeypatch.setenv("OPTIWISE_UPLOAD_MAX_MB", size_mb)
    at = _app()
    at.chat_input[0].set_value(U.PROBLEM).upload(name, U.products_csv(), "text/csv").run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any(reason in e and e.startswith("Not sent") for e in errors), errors
    assert stub.chat_requests == [] and at.chat_message.len == 0
    assert not list(tmp_path.rglob("*.csv"))  # nothing saved anywhere


def test_the_model_page_reads_uploaded_tables(tmp_path: Path) -> None:
    at = _app()
    at.switch_page("ui/pages/model.py").run()
    at.text_area(key="doc_text").set_value(json.dumps(U.DOCUMENT, indent=1)).run()
    assert not at.exception, at.exception
    problems = " ".join(m.value for m in at.markdown)
    assert "`sets.P.table`: reads the table 'products.csv'" in problems  # missing, located
    assert any("add them under **Data tables**" in i.value for i in at.info)
    at.file_uploader(key="model_uploads").upload("products.csv", U.products_csv(), "text/csv")
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("products.csv" in c.value for c in at.caption)
    next(b for b in at.button if b.key == "model_solve").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Status"] == "optimal"
    assert metrics["Objective"] in ("13,320", "13320")


def test_a_model_opened_from_chat_reads_its_threads_tables(stub: StubServer) -> None:
    with ChatSession(stub_model(stub), thread_id="workshop") as chat:
        chat.send(U.PROBLEM, files={"products.csv": U.products_csv()})
    at = _app()
    at.selectbox(key="thread_pick").set_value("workshop").run()
    open_button = next(b for b in at.button if b.key and b.key.startswith("open_model_"))
    open_button.click().run()
    assert not at.exception, at.exception
    at.switch_page("ui/pages/model.py").run()
    assert "products.csv" in str(at.text_area(key="doc_text").value)
    assert not at.error, [e.value for e in at.error]
    assert any("products.csv" in c.value for c in at.caption)  # the thread's tables
    next(b for b in at.button if b.key == "model_solve").click().run()
    assert {m.label: m.value for m in at.metric}["Objective"] in ("13,320", "13320")
