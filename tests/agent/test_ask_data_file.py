"""A data file that is itself broken is reported as the file's fault (QA F25).

A stray text cell in a column of numbers cannot be fixed by rewriting the
formulation: the answer says which file, column, row and cell, and does not
blame the formulation. A document that reads a text column as numbers is
still the document's fault and goes to repair.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support import items_knapsack

from agent.api import OptimizationAgent
from agent.data_context import file_defect
from agent.fake import FakeLLM

PROBLEM = "Pick items to maximise their total value; their total weight is at most 30."

KNAPSACK: dict[str, Any] = items_knapsack(30)


def _items(folder: Path, stray: str | None = "abc") -> Path:
    """20 items; with ``stray``, item i05's weight is that text (line 6 of the file)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["item,value,weight,colour"]
    for k in range(20):
        weight = stray if (k == 4 and stray is not None) else str(k % 7 + 1)
        rows.append(f"i{k:02d},{k + 3},{weight},c{k % 3}")
    (folder / "items.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def _agent(*replies: str) -> tuple[OptimizationAgent, FakeLLM]:
    fake = FakeLLM(list(replies))
    return OptimizationAgent(llm=fake, examples=0, max_repairs=1), fake


def test_a_stray_text_cell_is_reported_as_the_files_fault(tmp_path: Path) -> None:
    folder = _items(tmp_path / "data")
    agent, _ = _agent(json.dumps(KNAPSACK), json.dumps(KNAPSACK))
    result = agent.solve(PROBLEM, data=folder)

    assert result.status == "invalid"
    assert "data_file" in result.error_categories
    for text in (result.answer, result.message):
        assert text.startswith("Your data is at fault, not the formulation:")
        assert "items.csv" in text and "column 3 ('weight')" in text
        assert 'row 6 "abc"' in text and "19 numbers" in text
        assert "Fix the file" in text
    assert "No valid formulation was produced" not in result.answer


def test_a_broken_data_file_spends_no_repair_call(tmp_path: Path) -> None:
    folder = _items(tmp_path / "data")
    agent, fake = _agent(json.dumps(KNAPSACK), json.dumps(KNAPSACK))
    result = agent.solve(PROBLEM, data=folder)
    assert result.status == "invalid"
    assert len(fake.calls) == 1 and result.repairs == 0


def test_reading_a_text_column_as_numbers_is_still_the_documents_fault(tmp_path: Path) -> None:
    folder = _items(tmp_path / "data", stray=None)
    wrong = json.loads(json.dumps(KNAPSACK))
    wrong["parameters"]["w"]["value"] = "colour"  # every cell is text: the wrong column
    agent, fake = _agent(json.dumps(wrong), json.dumps(KNAPSACK))
    result = agent.solve(PROBLEM, data=folder)

    assert len(fake.calls) == 2  # the repair was asked for, and fixed it
    repair = fake.calls[1].last_user
    assert "parameters.w" in repair and "colour" in repair
    assert "evidence: parameters.w" not in repair  # the located message is not said twice
    assert result.status == "optimal" and result.repairs == 1
    assert "data_file" not in result.error_categories


def test_file_defect_is_unsure_unless_every_quoted_cell_is_a_stray_in_numbers(
    tmp_path: Path,
) -> None:
    folder = _items(tmp_path / "data")
    said = "column 'weight' of items.csv has a cell that is not a number (\"abc\", row 6)"
    assert "items.csv itself looks broken" in str(file_defect(folder, "parameters.w", said))
    # a quoted cell that is not in the file, a text column, no file named: not the file's fault
    assert file_defect(folder, "parameters.w", said.replace("abc", "xyz")) is None
    assert file_defect(folder, "parameters.w", 'items.csv holds text ("c1", row 3)') is None
    assert file_defect(folder, "parameters.w", '"abc" is not a number') is None
