"""QA session 3: table labels that collide as integers, and which element read a duplicate key.

Q1: a key column holding ``1`` and ``01`` made a set with the integer 1 twice
(three variables, two values reported, a wrong objective) and a parameter
read from the same table then crashed with a pandas error. Q2: two parameters
reading one table with a key written twice gave two identical lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modeling import check, solve
from modeling.formulation import load
from modeling.result import Status


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def _messages(document: dict[str, Any], folder: Path) -> list[str]:
    return [str(i) for i in check(load(document, data=folder))]


def _count_document(set_spec: dict[str, Any]) -> dict[str, Any]:
    """Maximise the number of elements of P (each x[i] <= 1): the objective is |P|."""
    return {
        "sets": {"P": set_spec},
        "variables": {"x": {"index": ["P"], "upper": 1}},
        "objective": {"sense": "max", "expression": "sum(x[i] for i in P)"},
    }


def test_labels_1_and_01_in_a_key_column_are_refused_at_the_set(tmp_path: Path) -> None:
    _write(tmp_path, "k.csv", "product,profit\n1,30\n2,40\n01,50\n")
    document = _count_document({"table": "k.csv", "column": "product"})
    found = _messages(document, tmp_path)
    assert len(found) == 1, found
    assert found[0].startswith("sets.P.column: "), found
    assert "'1' and '01'" in found[0] and "row 4" in found[0], found
    result = solve(load(document, data=tmp_path))
    assert result.status == Status.INVALID


def test_a_parameter_over_such_a_set_is_a_located_error_not_a_crash(tmp_path: Path) -> None:
    _write(tmp_path, "k.csv", "product,profit\n1,30\n2,40\n01,50\n")
    document = _count_document({"table": "k.csv", "column": "product"})
    document["parameters"] = {"p": {"index": ["P"], "table": "k.csv", "value": "profit"}}
    found = _messages(document, tmp_path)
    assert any(m.startswith("sets.P.column: ") for m in found), found
    assert not any("InvalidIndexError" in m or "internal" in m for m in found), found


def test_header_labels_that_collide_as_integers_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "w.csv", "id,1,01,2\na,1,2,3\n")
    found = _messages(_count_document({"table": "w.csv", "column_labels": 2}), tmp_path)
    assert any(m.startswith("sets.P.column_labels: ") and "'01'" in m for m in found), found


def test_pairs_that_collide_as_integers_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, "r.csv", "a,b\n1,2\n01,2\n3,4\n")
    found = _messages(_count_document({"table": "r.csv", "columns": ["a", "b"]}), tmp_path)
    assert any(m.startswith("sets.P.columns: ") for m in found), found


def test_distinct_labels_still_make_the_whole_set(tmp_path: Path) -> None:
    # '1.0' is not an integer label, so the labels stay text and are three elements.
    _write(tmp_path, "k.csv", "product\n1\n2\n1.0\n")
    document = _count_document({"table": "k.csv", "column": "product"})
    assert _messages(document, tmp_path) == []
    assert solve(load(document, data=tmp_path)).objective == 3


def test_a_duplicate_key_says_which_parameter_read_it(tmp_path: Path) -> None:
    _write(tmp_path, "dup.csv", "product,hours,profit\nA,2,30\nB,3,40\nA,4,50\n")
    document = {
        "sets": {"P": ["A", "B"]},
        "parameters": {
            "h": {"index": ["P"], "table": "dup.csv", "value": "hours"},
            "p": {"index": ["P"], "table": "dup.csv", "value": "profit"},
        },
        "variables": {"x": {"index": ["P"], "upper": 1}},
        "objective": {"sense": "max", "expression": "sum((p[i] - h[i]) * x[i] for i in P)"},
    }
    found = _messages(document, tmp_path)
    assert len(found) == 2 and len(set(found)) == 2, found
    assert any("read by parameters.h" in m for m in found), found
    assert any("read by parameters.p" in m for m in found), found
