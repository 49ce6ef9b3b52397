"""A table whose first row is data is flagged in the description the LLM reads (QA F5).

Without the note the LLM sees "1. Main pipe0: text" and is likely to write
``column: "Main pipe0"``; with it, it is told to read the file with
``header: false``. A real header (even a wide table's numeric column labels)
gets no note.
"""

from __future__ import annotations

from pathlib import Path

from agent.data_context import describe_table_brief

NOTE = "its header row looks like data"


def _write(folder: Path, name: str, lines: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_header_less_table_is_flagged_with_the_header_false_hint(tmp_path: Path) -> None:
    _write(tmp_path, "pipes.csv", [f"Main pipe{k},({k} 0),({k} 11)" for k in range(6)])
    _write(tmp_path, "pairs.csv", ["1,2,0.5", "1,3,0.25", "2,3,1.5"])
    text = describe_table_brief(tmp_path, "pipes.csv")
    assert f"{NOTE} (the first label 'Main pipe0' is like the column's values 'Main pipe1')" in text
    assert "`header: false`" in text
    assert f"{NOTE} (every label is a number)" in describe_table_brief(tmp_path, "pairs.csv")


def test_a_real_header_gets_no_note(tmp_path: Path) -> None:
    _write(tmp_path, "items.csv", ["item,value,weight", "a1,10,3", "a2,7,4", "a3,5,2"])
    _write(tmp_path, "wide.csv", ["machine,0,1,2", "X0,1,0,0", "X1,0,1,0"])
    _write(tmp_path, "labels.csv", ["node,supply", "n1,4", "n2,-4"])
    for name in ("items.csv", "wide.csv", "labels.csv"):
        assert NOTE not in describe_table_brief(tmp_path, name), name
