"""Problems that come with data: the LLM sees the tables described, the solve reads the files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import items_knapsack

from agent.api import OptimizationAgent
from agent.data_context import DataArgumentError, describe_data, prepare_data
from agent.fake import FakeLLM
from agent.result_info import solver_stop_of

PROBLEM = "Pick items to maximise their total value; their total weight is at most 5."

KNAPSACK: dict[str, Any] = items_knapsack(5)


def _items(folder: Path, weight_b: str = "3") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["item,value,weight", "a,10,3", f"b,7,{weight_b}", "c,5,2", "d,1,4", "e,2,9"]
    (folder / "items.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def _agent(*replies: str, **kwargs: Any) -> tuple[OptimizationAgent, FakeLLM]:
    fake = FakeLLM(list(replies))
    kwargs.setdefault("max_repairs", 1)
    return OptimizationAgent(llm=fake, examples=0, **kwargs), fake


def test_the_formulate_request_describes_each_table_but_never_sends_it_whole(
    tmp_path: Path,
) -> None:
    folder = _items(tmp_path / "data")
    header = "row," + ",".join(f"m{k}" for k in range(1, 31))
    matrix = [header] + [f"r{i}," + ",".join(str(i * k) for k in range(1, 31)) for i in range(8)]
    (folder / "matrix.csv").write_text("\n".join(matrix) + "\n", encoding="utf-8")
    agent, fake = _agent(json.dumps(KNAPSACK))
    result = agent.solve(
        PROBLEM, data=folder, descriptions={"items.csv": "One row per item you may pack."}
    )

    assert result.status == "optimal" and result.objective == pytest.approx(15.0)
    sent = fake.calls[0].last_user
    assert "One row per item you may pack." in sent
    assert "items.csv: 5 rows, 3 columns" in sent
    assert "3. weight: integer, 2 to 9" in sent  # types and ranges
    assert "a,10,3" in sent and "e,2,9" not in sent  # first rows, not the table
    assert "{table: f.csv, column: id}" in sent  # how to map them
    # a wide matrix: its first columns one by one, the other 19 in one line, rows cut
    assert "matrix.csv: 8 rows, 31 columns" in sent
    assert "13-31. 19 more columns (m12 … m30): integer, 0 to 210" in sent
    assert "r7," not in sent and "m30," not in sent


def test_a_data_error_reaches_the_repair_request_with_its_location(tmp_path: Path) -> None:
    folder = _items(tmp_path / "data", weight_b="heavy")
    fixed = json.loads(json.dumps(KNAPSACK))
    # the LLM writes the weights inline, reading "heavy" as 3
    fixed["parameters"]["w"] = {"index": ["I"], "values": {"a": 3, "b": 3, "c": 2, "d": 4, "e": 9}}
    agent, fake = _agent(json.dumps(KNAPSACK), json.dumps(fixed))
    result = agent.solve(PROBLEM, data=folder)

    repair = fake.calls[1].last_user
    # located at the parameter that reads the cell, with the cell's place in the file
    assert (
        "parameters.w.value: column 'weight' of items.csv has a cell that is not a number "
        '("heavy", row 3 column 3)'
    ) in repair
    assert "items.csv: 5 rows" in repair  # the repair still sees the tables' shapes
    assert result.attempts[0].status == "invalid"
    assert result.status == "optimal" and result.objective == pytest.approx(15.0)


def test_a_path_out_of_the_data_folder_is_a_located_error_not_a_read(tmp_path: Path) -> None:
    folder = _items(tmp_path / "data")
    (tmp_path / "secret.csv").write_text("item,value\na,99\n", encoding="utf-8")
    sneaky = json.loads(json.dumps(KNAPSACK))
    sneaky["parameters"]["v"]["table"] = "../secret.csv"
    agent, _ = _agent(json.dumps(sneaky), max_repairs=0)
    result = agent.solve(PROBLEM, data=folder)

    assert result.status == "invalid"
    errors = " ".join(e["message"] for e in result.attempts[0].errors)
    assert "leads out of the data folder" in errors


def test_a_mapping_of_rows_and_files_is_laid_out_in_a_folder_removed_afterwards(
    tmp_path: Path,
) -> None:
    source = _items(tmp_path / "mine") / "items.csv"
    rows = [{"item": "a", "cap": 5}]
    agent, fake = _agent(json.dumps(KNAPSACK))
    result = agent.solve(
        PROBLEM,
        data={"items": str(source), "limits.csv": {"rows": rows, "description": "the capacity"}},
    )
    assert result.status == "optimal" and result.objective == pytest.approx(15.0)
    sent = fake.calls[0].last_user
    assert "### items.csv" in sent and "### limits.csv\nthe capacity" in sent
    assert "1. item: text, 1 distinct" in sent
    note = next(e for e in result.trace.events if "data folder" in str(e.get("message")))
    assert not Path(note["folder"]).exists()  # the temporary folder is gone
    assert source.exists()  # the user's file is untouched


@pytest.mark.parametrize("name", ["../items.csv", "a/b.csv", ".hidden.csv", ""])
def test_a_table_name_that_is_not_a_plain_file_name_is_refused(name: str) -> None:
    with pytest.raises(DataArgumentError, match="not a table name"):
        prepare_data({name: [["a"], [1]]})


def test_a_data_folder_that_does_not_exist_is_refused_before_any_llm_call(tmp_path: Path) -> None:
    agent, fake = _agent()
    with pytest.raises(DataArgumentError, match="is not a folder"):
        agent.solve(PROBLEM, data=tmp_path / "missing")
    assert fake.calls == []


def test_an_unreadable_table_is_described_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,4,5\n", encoding="utf-8")
    text = describe_data(tmp_path)
    assert "bad.csv: cannot be read: data bad.csv row 3: has 3 cells" in text


def test_async_and_sampled_runs_read_the_data_too(tmp_path: Path) -> None:
    folder = _items(tmp_path / "data")
    agent, fake = _agent(json.dumps(KNAPSACK), json.dumps(KNAPSACK), samples=2)
    result = agent.solve(PROBLEM, data=folder)
    assert result.status == "optimal" and result.objective == pytest.approx(15.0)
    assert all("items.csv: 5 rows" in c.last_user for c in fake.calls)
    assert solver_stop_of(result) == "optimal"


def test_only_table_files_inside_the_folder_are_described(tmp_path: Path) -> None:
    folder = _items(tmp_path / "data")
    (tmp_path / "outside.csv").write_text("secret,1\n", encoding="utf-8")
    (folder / "link.csv").symlink_to(tmp_path / "outside.csv")
    (folder / ".hidden.csv").write_text("h,1\n", encoding="utf-8")
    (folder / "notes.md").write_text("not a table", encoding="utf-8")
    (folder / "sub").mkdir()
    (folder / "sub" / "more.csv").write_text("k,v\nz,1\n", encoding="utf-8")
    with prepare_data(folder) as data:
        assert data is not None
        assert data.files() == ["items.csv", "sub/more.csv"]
        text = data.describe()
    assert "secret" not in text and "link.csv" not in text and "notes.md" not in text
    assert "### sub/more.csv" in text
    assert folder.exists()  # a user's folder is never removed


def test_a_chat_started_from_the_agent_reads_the_folder_it_was_given(tmp_path: Path) -> None:
    folder = _items(tmp_path / "data")
    agent, fake = _agent(json.dumps(KNAPSACK))
    chat = agent.chat(path=tmp_path / "threads.sqlite", data=folder)
    reply = chat.send(PROBLEM)
    assert reply.status == "optimal" and reply.objective == pytest.approx(15.0)
    assert "items.csv: 5 rows" in fake.calls[0].last_user
