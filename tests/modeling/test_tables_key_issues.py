"""Keys (and wide header labels) not in their set: one located issue per table and element,
with the first cell's row and column and a count, not one issue per cell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modeling import check
from modeling.formulation import load


def doc(sets: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    return {
        "sets": sets,
        "parameters": params,
        "variables": {"z": {}},
        "objective": {"sense": "min", "expression": "z"},
    }


def element_issues(document: dict[str, Any], folder: Path) -> list[Any]:
    return [i for i in check(load(document, data=folder)) if i.code == "element"]


def test_many_stray_keys_are_one_issue_at_the_first_with_a_count(tmp_path: Path) -> None:
    rows = "".join(f"k{n},{n}\n" for n in range(1, 1201))
    (tmp_path / "c.csv").write_text("i,v\na,0\n" + rows, encoding="utf-8")
    (tmp_path / "d.csv").write_text("i,v\nb,1\nq,2\n", encoding="utf-8")
    d = doc(
        {"I": ["a", "b"]},
        {
            "c": {"index": ["I"], "table": "c.csv", "value": "v"},
            "e": {"index": ["I"], "table": "d.csv"},
        },
    )
    issues = element_issues(d, tmp_path)
    assert len(issues) == 2  # one per table and parameter, however many cells
    first, second = issues
    assert first.location == "data c.csv row 3 column 1"  # the first stray key's cell
    assert first.message.startswith("'k1' is not an element of set I, nor are 1,199 more (")
    assert "'k2', 'k3', 'k4', 'k5' …)" in first.message
    assert first.message.endswith("read by parameters.c")
    assert first.hint == "add them to I or fix the table"
    # a single stray key: no count
    assert second.location == "data d.csv row 3 column 1"
    assert second.message == "'q' is not an element of set I; read by parameters.e"


def test_stray_header_labels_of_a_wide_table_are_one_issue(tmp_path: Path) -> None:
    (tmp_path / "w.csv").write_text("id,M1,X1,X2,X3\np1,1,2,3,4\n", encoding="utf-8")
    d = doc(
        {"P": ["p1"], "M": ["M1"]},
        {"a": {"index": ["P", "M"], "table": "w.csv", "layout": "wide"}},
    )
    (issue,) = element_issues(d, tmp_path)
    assert issue.location == "data w.csv row 1 column 3"
    assert issue.message == (
        "the header label 'X1' is not an element of set M, nor are 2 more ('X2', 'X3'); "
        "read by parameters.a"
    )
