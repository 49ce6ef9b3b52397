"""A data error names the document element that reads the table, once per element.

QA F2: a parameter reading a text column used to give one issue per cell, all
located in the file (``data costs.csv row 2 column 3``), so with two
parameters reading the same file neither a user nor the repair LLM could tell
which one was wrong.  QA F3: ``check`` without a data folder used to add
"unknown set" errors for sets that exist but could not be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modeling import check, load

COSTS = "arc_id,x_var,y_var,fixed_cost,capacity\n" + "".join(
    f"a{k},flow_a{k},open_a{k},{10 + k}.0,{k}\n" for k in range(1, 41)
)


def _doc(fee_column: str) -> dict[str, Any]:
    return {
        "sets": {"AID": {"table": "costs.csv", "column": "arc_id"}},
        "parameters": {
            "cap": {"index": ["AID"], "table": "costs.csv", "keys": "arc_id", "value": "capacity"},
            "f": {"index": ["AID"], "table": "costs.csv", "keys": "arc_id", "value": fee_column},
        },
        "variables": {"y": {"index": ["AID"], "type": "binary"}},
        "objective": {"sense": "min", "expression": "sum(f[a] * y[a] for a in AID)"},
        "constraints": [{"name": "cover", "expression": "sum(cap[a] * y[a] for a in AID) >= 5"}],
    }


def _messages(doc: dict[str, Any], folder: Path | None) -> list[str]:
    return [str(i) for i in check(load(doc, data=folder))]


def test_a_text_column_is_one_issue_at_the_parameter_that_reads_it(tmp_path: Path) -> None:
    (tmp_path / "costs.csv").write_text(COSTS, encoding="utf-8")
    found = _messages(_doc("y_var"), tmp_path)
    assert found == [
        "parameters.f.value: column 'y_var' of costs.csv holds text "
        '("open_a1", row 2 column 3, and 39 more cells); numeric columns: fixed_cost, capacity '
        "(name the column of numbers with value: (a name or a position from 1))"
    ]


def test_the_one_numeric_column_is_suggested(tmp_path: Path) -> None:
    (tmp_path / "costs.csv").write_text(COSTS, encoding="utf-8")
    doc = _doc("y_var")
    del doc["parameters"]["cap"], doc["constraints"]
    doc["parameters"]["f"]["keys"] = 5  # capacity holds the keys: fixed_cost is the one left
    doc["sets"]["AID"]["column"] = "capacity"
    found = _messages(doc, tmp_path)
    assert len(found) == 1 and found[0].startswith("parameters.f.value: column 'y_var'"), found
    assert found[0].endswith("numeric columns: fixed_cost (did you mean value: fixed_cost?)")


def test_a_few_bad_cells_in_a_number_column_are_counted_not_listed(tmp_path: Path) -> None:
    rows = "".join(f"k{r},{'n/a' if r in (5, 9, 30) else r}\n" for r in range(1, 41))
    (tmp_path / "c.csv").write_text("key,cost\n" + rows, encoding="utf-8")
    doc = {
        "sets": {"K": {"table": "c.csv", "column": "key"}},
        "parameters": {"c": {"index": ["K"], "table": "c.csv"}},
        "variables": {"x": {"index": ["K"], "upper": 1}},
        "objective": {"sense": "max", "expression": "sum(c[k] * x[k] for k in K)"},
    }
    found = _messages(doc, tmp_path)
    assert found == [
        "parameters.c: column 'cost' of c.csv has 3 cells that are not numbers "
        '("n/a", row 6 column 2, and 2 more cells) '
        "(table values are numbers; an empty cell takes the default)"
    ]


def test_a_headerless_table_names_columns_by_position(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("a,x,1\nb,y,2\n", encoding="utf-8")
    doc = {
        "sets": {"K": ["a", "b"]},
        "parameters": {"c": {"index": ["K"], "table": "c.csv", "header": False}},
        "variables": {"x": {"index": ["K"], "upper": 1}},
        "objective": {"sense": "max", "expression": "sum(c[k] * x[k] for k in K)"},
    }
    found = _messages(doc, tmp_path)
    assert len(found) == 1, found
    assert found[0].startswith('parameters.c: column 2 of c.csv holds text ("x", row 1 column 2')
    assert "numeric columns: 3 (did you mean value: 3?)" in found[0]


def test_an_infinite_value_is_said_to_be_not_finite(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("key,cost\na,1\nb,inf\nc,2\n", encoding="utf-8")
    doc = {
        "sets": {"K": {"table": "c.csv", "column": "key"}},
        "parameters": {"c": {"index": ["K"], "table": "c.csv", "value": "cost"}},
        "variables": {"x": {"index": ["K"], "upper": 1}},
        "objective": {"sense": "max", "expression": "sum(c[k] * x[k] for k in K)"},
    }
    found = _messages(doc, tmp_path)
    assert len(found) == 1, found
    assert found[0].startswith(
        "parameters.c.value: column 'cost' of c.csv has a cell that is not a finite number "
        '("inf", row 3 column 2)'
    )


def test_a_wide_table_with_text_names_its_columns(tmp_path: Path) -> None:
    (tmp_path / "w.csv").write_text("id,M1,M2,M3\np1,a,1,b\np2,c,2,d\n", encoding="utf-8")
    doc = {
        "sets": {
            "P": {"table": "w.csv", "column": "id"},
            "M": {"table": "w.csv", "column_labels": 2},
        },
        "parameters": {"a": {"index": ["P", "M"], "table": "w.csv", "layout": "wide"}},
        "variables": {"x": {"index": ["P"], "upper": 1}},
        "objective": {"sense": "max", "expression": "sum(a[p, m] * x[p] for p in P for m in M)"},
    }
    found = _messages(doc, tmp_path)
    assert len(found) == 1, found
    assert found[0].startswith(
        "parameters.a: columns 'M1', 'M3' of w.csv hold text "
        '("a", row 2 column 2, and 3 more cells)'
    ), found


def test_without_a_data_folder_only_the_missing_folder_is_reported(tmp_path: Path) -> None:
    doc = _doc("fixed_cost")
    doc["parameters"]["n"] = {"index": ["AID"], "values": {"a1": 1}}  # inline, over a table set
    found = _messages(doc, None)
    assert found == [
        f"{where}.table: reads the table 'costs.csv' but no data folder was given "
        "(pass the folder with --data DIR, or load(document, data=DIR))"
        for where in ("sets.AID", "parameters.cap", "parameters.f")
    ], found


def test_a_set_that_cannot_be_read_is_not_reported_again_as_unknown(tmp_path: Path) -> None:
    (tmp_path / "costs.csv").write_text(COSTS, encoding="utf-8")
    doc = _doc("fixed_cost")
    doc["sets"]["AID"]["column"] = "arc"  # no such column: the set cannot be read
    found = _messages(doc, tmp_path)
    assert len(found) == 1 and found[0].startswith("sets.AID.column: costs.csv has no column"), (
        found
    )
    doc["parameters"]["g"] = {"index": ["ARC"], "values": {"a1": 1}}  # a set that is not declared
    assert "parameters.g.index[0]: unknown set 'ARC'" in " ".join(_messages(doc, tmp_path))
