"""A second upload of a file name says it replaced the first (QA Q11); odd names get the right reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import stub_model

from agent.chat import ChatSession
from agent.chat_data import UploadError, safe_table_name
from agent.stub_server import StubServer


def test_a_second_upload_of_the_same_name_says_it_replaced_the_first(tmp_path: Path) -> None:
    with StubServer() as stub:
        with ChatSession(stub_model(stub), thread_id="t", path=tmp_path / "t.sqlite") as chat:
            first = chat.send("", files={"ok.csv": b"a,b\n1,2\n"})
            assert first.answer.startswith("Added ok.csv")
            same = chat.send("", files={"ok.csv": b"a,b\n1,2\n"})  # the same bytes: nothing lost
            assert same.answer.startswith("Added ok.csv")
            other = chat.send("", files={"ok.csv": b"a,b\n3,4\n", "more.csv": b"c\n5\n"})
            assert other.answer.startswith("Added more.csv")
            assert "replaced ok.csv with the new upload" in other.answer
            assert "(2 table file(s) in all)" in other.answer
        assert stub.chat_requests == []
    assert (tmp_path / "t-data" / "t" / "ok.csv").read_bytes() == b"a,b\n3,4\n"


@pytest.mark.parametrize("name", ["nul\x00.csv", "tab\t.csv", "bell\x07.csv"])
def test_a_name_with_a_control_character_is_refused_for_that_reason(name: str) -> None:
    with pytest.raises(UploadError, match="control characters"):
        safe_table_name(name)
