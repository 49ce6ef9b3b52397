"""Chat threads with data tables: uploads kept per thread, read by formulate, edit and solve."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import upload_support as U
from support import stub_model

from agent.chat import ChatSession
from agent.chat_data import UploadError, safe_table_name, thread_data_dir
from agent.stub_server import StubServer


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer(handler=U.handler) as server:
        yield server


def test_a_table_sent_with_the_problem_is_described_not_copied_and_solved(
    stub: StubServer, tmp_path: Path
) -> None:
    db = tmp_path / "threads.sqlite"
    with ChatSession(stub_model(stub), thread_id="shop", path=db) as chat:
        reply = chat.send(U.PROBLEM, files={"products.csv": U.products_csv()})
        assert reply.status == "optimal"
        assert reply.objective == pytest.approx(U.OPTIMUM)  # only item50, the last row
        assert chat.history[0]["files"] == ["products.csv"]
        assert chat.data_dir == tmp_path / "threads-data" / "shop"
    prompt = U.user_text(stub.chat_requests[0].body)
    assert "products.csv: 50 rows, 3 columns" in prompt
    assert "profit: integer, 10 to 999" in prompt
    assert U.HIDDEN_ROW not in prompt  # the table itself stays on disk

    # another session on the thread reads the same table for an edit
    with ChatSession(stub_model(stub), thread_id="shop", path=db) as again:
        assert again.data_files() == ["products.csv"]
        edited = again.send(U.EDIT)
    assert edited.route == "edit" and edited.objective == pytest.approx(U.OPTIMUM_EDITED)
    assert "products.csv: 50 rows" in U.user_text(stub.chat_requests[-2].body)
    assert not list(tmp_path.glob("*.csv"))  # nothing written beside the threads file


def test_files_alone_are_added_without_an_llm_call(stub: StubServer, tmp_path: Path) -> None:
    with ChatSession(stub_model(stub), thread_id="t", path=tmp_path / "t.sqlite") as chat:
        reply = chat.send("", files={"products.csv": U.products_csv()})
        assert "Added products.csv" in reply.answer
        assert chat.history[0] == {"role": "user", "content": "", "files": ["products.csv"]}
        assert stub.chat_requests == []
        assert chat.send(U.PROBLEM).objective == pytest.approx(U.OPTIMUM)
    assert (tmp_path / "t-data" / "t" / "products.csv").is_file()


@pytest.mark.parametrize("name", ["../products.csv", "a/b.csv", "..\\x.csv", ".hidden.csv"])
def test_a_name_with_a_folder_is_refused_and_nothing_is_saved(
    stub: StubServer, tmp_path: Path, name: str
) -> None:
    with ChatSession(stub_model(stub), thread_id="t", path=tmp_path / "threads.sqlite") as chat:
        with pytest.raises(UploadError, match="may not"):
            chat.send(U.PROBLEM, files={"ok.csv": b"a,b\n1,2\n", name: b"a,b\n1,2\n"})
        assert chat.data_files() == []
    assert stub.chat_requests == []
    assert sorted(p.name for p in tmp_path.rglob("*.csv")) == []


def test_a_file_over_the_limit_or_of_another_kind_is_refused(
    stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTIWISE_UPLOAD_MAX_MB", "0.0005")  # 524 bytes
    with ChatSession(stub_model(stub), thread_id="t", path=tmp_path / "threads.sqlite") as chat:
        with pytest.raises(UploadError, match="over the limit of 524 bytes"):
            chat.send(U.PROBLEM, files={"products.csv": U.products_csv()})
        with pytest.raises(UploadError, match="not a table file"):
            chat.send(U.PROBLEM, files={"notes.pdf": b"%PDF"})
    assert stub.chat_requests == []


def test_names_are_plain_and_thread_folders_stay_inside(tmp_path: Path) -> None:
    assert safe_table_name("my costs (2026).csv") == "my costs _2026_.csv"
    db = tmp_path / "threads.sqlite"
    for thread in ("../../etc", "a/b", ".x", "..", "plant-42"):
        folder = thread_data_dir(db, thread)
        assert folder.parent == tmp_path / "threads-data", thread
    assert thread_data_dir(db, "plant-42").name == "plant-42"


def test_a_data_folder_given_to_the_session_is_kept_by_the_thread(
    stub: StubServer, tmp_path: Path
) -> None:
    source = tmp_path / "instance"
    source.mkdir()
    (source / "products.csv").write_bytes(U.products_csv())
    (source / "README.md").write_text("not a table")
    db = tmp_path / "threads.sqlite"
    with ChatSession(stub_model(stub), thread_id="t", path=db, data=source) as chat:
        assert chat.data_files() == ["products.csv"]
    with ChatSession(stub_model(stub), thread_id="t", path=db) as again:
        assert again.send(U.PROBLEM).objective == pytest.approx(U.OPTIMUM)


def _infeasible() -> dict[str, Any]:
    doc = copy.deepcopy(U.DOCUMENT)
    doc["constraints"].append({"name": "min_output", "expression": "sum(make[p] for p in P) >= 30"})
    return doc  # 30 units take at least 60 hours (2 per unit at best), 40 are available


def test_a_model_with_tables_is_opened_and_why_infeasible_reads_them(
    stub: StubServer, tmp_path: Path
) -> None:
    source = tmp_path / "instance"
    source.mkdir()
    (source / "products.csv").write_bytes(U.products_csv())
    db = tmp_path / "t.sqlite"
    with ChatSession(stub_model(stub), thread_id="t", path=db, data=source) as chat:
        assert chat.open_model(_infeasible(), U.PROBLEM).status == "infeasible"
        why = chat.send("why is it infeasible?")
    assert why.route == "diagnose" and stub.chat_requests == []
    assert "min_output" in why.answer and "hours" in why.answer


def test_an_infeasible_model_with_tables_is_reported_not_crashed(tmp_path: Path) -> None:
    def handle(body: dict[str, Any]) -> str:
        return "```json\n" + json.dumps(_infeasible()) + "\n```"

    with StubServer(handler=handle) as server:
        with ChatSession(stub_model(server), thread_id="t", path=tmp_path / "t.sqlite") as chat:
            first = chat.send(U.PROBLEM, files={"products.csv": U.products_csv()})
    assert first.status == "infeasible"
