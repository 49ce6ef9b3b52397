"""Sets and parameters read from data tables: layouts, options and every located error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modeling import check, compile_model, solve
from modeling.formulation import load
from modeling.result import Status


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def doc(sets: dict[str, Any], params: dict[str, Any], objective: str = "0") -> dict[str, Any]:
    return {
        "sets": sets,
        "parameters": params,
        "variables": {"z": {}},
        "objective": {"sense": "min", "expression": f"z + {objective}"},
    }


def data_of(document: dict[str, Any], folder: Path) -> Any:
    return compile_model(load(document, data=folder)).data


def messages(document: dict[str, Any], folder: Path | None) -> list[str]:
    return [str(i) for i in check(load(document, data=folder))]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    write(d, "routes.csv", "from,to,cost\na,x,1.5\na,y,2\nb,y,3\n")
    write(d, "wide.csv", "id,M1,M2,M3\np1,1,2,3\np2,4,,6\n")
    write(d, "plain.csv", "p1,1,2,3\np2,4,5,6\n")
    return d


def test_long_layout_by_name_with_default_for_sparse_keys(folder: Path) -> None:
    d = doc(
        {"I": {"table": "routes.csv", "column": "from"}, "J": {"table": "routes.csv", "column": 2}},
        {"c": {"index": ["I", "J"], "table": "routes.csv", "value": "cost", "default": 0}},
    )
    data = data_of(d, folder)
    assert data.sets["I"].elements == ["a", "b"]
    assert data.sets["J"].elements == ["x", "y"]
    assert data.params["c"].array.tolist() == [[1.5, 2.0], [0.0, 3.0]]


def test_long_layout_without_default_leaves_missing_entries_reported_when_used(
    folder: Path,
) -> None:
    d = doc(
        {
            "I": {"table": "routes.csv", "column": "from"},
            "J": {"table": "routes.csv", "column": "to"},
        },
        {"c": {"index": ["I", "J"], "table": "routes.csv"}},  # keys: first 2 columns, value: 3rd
        objective="c['b', 'x']",
    )
    found = messages(d, folder)
    assert any("c[b, x] has no value" in m for m in found), found


def test_tuple_set_and_parameter_over_it(folder: Path) -> None:
    d = doc(
        {"R": {"table": "routes.csv", "columns": ["from", "to"]}},
        {"c": {"index": ["R"], "table": "routes.csv", "keys": ["from", "to"], "value": 3}},
    )
    data = data_of(d, folder)
    assert data.sets["R"].elements == [("a", "x"), ("a", "y"), ("b", "y")]
    assert data.params["c"].array.tolist() == [1.5, 2.0, 3.0]


def test_wide_layout_by_header_labels_with_default_for_empty_cells(folder: Path) -> None:
    d = doc(
        {
            "P": {"table": "wide.csv", "column": "id"},
            "M": ["M3", "M1", "M2"],  # header labels are matched, not their order
        },
        {"a": {"index": ["P", "M"], "table": "wide.csv", "layout": "wide", "default": -1}},
    )
    data = data_of(d, folder)
    assert data.params["a"].array.tolist() == [[3, 1, 2], [6, 4, -1]]


def test_set_from_column_labels(folder: Path) -> None:
    d = doc({"M": {"table": "wide.csv", "column_labels": True}}, {})
    assert data_of(d, folder).sets["M"].elements == ["M1", "M2", "M3"]
    d = doc({"M": {"table": "wide.csv", "column_labels": 3}}, {})
    assert data_of(d, folder).sets["M"].elements == ["M2", "M3"]


def test_wide_layout_without_header_follows_the_set_order(folder: Path) -> None:
    d = doc(
        {"P": {"table": "plain.csv", "header": False, "column": 1}, "M": {"from": 1, "to": 3}},
        {"a": {"index": ["P", "M"], "table": "plain.csv", "header": False, "layout": "wide"}},
    )
    data = data_of(d, folder)
    assert data.sets["P"].elements == ["p1", "p2"]
    assert data.params["a"].array.tolist() == [[1, 2, 3], [4, 5, 6]]


def test_integer_labels_become_integer_elements_and_match_ranges(tmp_path: Path) -> None:
    write(tmp_path, "d.csv", "t,demand\n1,10\n2,20\n3,30\n")
    d = doc(
        {"T": {"from": 1, "to": 3}, "U": {"table": "d.csv", "column": "t"}},
        {"dem": {"index": ["T"], "table": "d.csv"}},
        objective="dem[3] + sum(dem[t] for t in U if t >= 2)",
    )
    m = compile_model(load(d, data=tmp_path))
    assert m.data.sets["U"].elements == [1, 2, 3]
    assert m.obj_const == pytest.approx(80.0)


def test_union_of_columns_in_file_order(tmp_path: Path) -> None:
    write(tmp_path, "s.csv", "loc,h1,h2\nA,z3,z1\nB,z1,z2\n")
    d = doc({"H": {"table": "s.csv", "column": ["h1", "h2"]}}, {})
    assert data_of(d, tmp_path).sets["H"].elements == ["z3", "z1", "z2"]


def test_a_model_over_tables_solves(folder: Path) -> None:
    f = {
        "sets": {"R": {"table": "routes.csv", "columns": ["from", "to"]}},
        "parameters": {"c": {"index": ["R"], "table": "routes.csv"}},
        "variables": {"x": {"index": ["R"], "upper": 1}},
        "objective": {"sense": "max", "expression": "sum(c[i, j] * x[i, j] for (i, j) in R)"},
    }
    r = solve(load(f, data=folder))
    assert r.status is Status.OPTIMAL
    assert r.objective == pytest.approx(6.5)


# ------------------------------------------------------------------ located errors


def test_a_cell_that_is_not_a_number_is_located_by_row_and_column(tmp_path: Path) -> None:
    rows = "".join(f"k{r},{r}\n" for r in range(2, 17))
    write(tmp_path, "C3.csv", "key,value\n" + rows + "k17,abc\n")
    d = doc({"K": {"table": "C3.csv", "column": 1}}, {"v": {"index": ["K"], "table": "C3.csv"}})
    found = messages(d, tmp_path)
    assert found[0].startswith(
        "parameters.v: column 'value' of C3.csv has a cell that is not a number "
        '("abc", row 17 column 2)'
    ), found


def test_a_wide_cell_that_is_not_a_number_is_located(folder: Path) -> None:
    write(folder, "bad.csv", "id,M1,M2\np1,1,2\np2,3,x\n")
    d = doc(
        {"P": {"table": "bad.csv", "column": "id"}, "M": {"table": "bad.csv", "column_labels": 2}},
        {"a": {"index": ["P", "M"], "table": "bad.csv", "layout": "wide"}},
    )
    assert any(
        m.startswith("parameters.a: column 'M2' of bad.csv has a cell that is not a number")
        and '("x", row 3 column 3)' in m
        for m in messages(d, folder)
    )


def test_a_key_not_in_its_set_is_located_with_a_hint(folder: Path) -> None:
    d = doc(
        {"I": ["a", "bb"], "J": ["x", "y"]},
        {"c": {"index": ["I", "J"], "table": "routes.csv", "default": 0}},
    )
    found = messages(d, folder)
    assert any(
        "data routes.csv row 4 column 1: 'b' is not an element of set I" in m for m in found
    ), found


def test_a_header_label_not_in_its_set_is_located(folder: Path) -> None:
    d = doc(
        {"P": {"table": "wide.csv", "column": "id"}, "M": ["M1", "M2"]},
        {"a": {"index": ["P", "M"], "table": "wide.csv", "layout": "wide"}},
    )
    found = messages(d, folder)
    assert any(
        "data wide.csv row 1 column 4: the header label 'M3' is not an element of set M" in m
        for m in found
    ), found


def test_a_duplicate_key_names_both_rows(tmp_path: Path) -> None:
    write(tmp_path, "dup.csv", "i,v\na,1\nb,2\na,3\n")
    d = doc({"I": ["a", "b"]}, {"v": {"index": ["I"], "table": "dup.csv"}})
    found = messages(d, tmp_path)
    assert any("data dup.csv row 4: this key is written twice (also row 2)" in m for m in found)


def test_shape_mismatches_are_reported(folder: Path) -> None:
    # a headerless wide table needs one column per element
    d = doc(
        {"P": ["p1", "p2"], "M": {"from": 1, "to": 4}},
        {"a": {"index": ["P", "M"], "table": "plain.csv", "header": False, "layout": "wide"}},
    )
    assert any("has 3 value columns but set M has 4 elements" in m for m in messages(d, folder))
    # key columns must match the index
    d = doc(
        {"I": ["a", "b"], "J": ["x", "y"]},
        {"c": {"index": ["I", "J"], "table": "routes.csv", "keys": ["from"]}},
    )
    assert any("names 1 key columns but the index needs 2" in m for m in messages(d, folder))
    # a wide table is rows × columns
    d = doc({"I": ["a"]}, {"c": {"index": ["I"], "table": "wide.csv", "layout": "wide"}})
    assert any("the index is two plain sets" in m for m in messages(d, folder))
    # a column position past the last one
    d = doc({"I": {"table": "routes.csv", "column": 9}}, {})
    assert any(
        "column 9 is not in routes.csv, which has 3 columns" in m for m in messages(d, folder)
    )


def test_a_ragged_row_is_located(tmp_path: Path) -> None:
    write(tmp_path, "r.csv", "i,v\na,1\nb,2,7\n")
    d = doc({"I": {"table": "r.csv", "column": "i"}}, {})
    assert any("data r.csv row 3: has 3 cells" in m for m in messages(d, tmp_path))


def test_unknown_column_name_and_missing_file_get_hints(folder: Path) -> None:
    d = doc({"I": {"table": "routes.csv", "column": "form"}}, {})
    found = messages(d, folder)
    assert any("has no column 'form'" in m and "did you mean 'from'" in m for m in found), found
    d = doc({"I": {"table": "route.csv", "column": 1}}, {})
    found = messages(d, folder)
    assert any("no table 'route.csv'" in m and "routes.csv" in m for m in found), found


def test_a_name_without_a_header_is_refused(folder: Path) -> None:
    d = doc({"I": {"table": "plain.csv", "header": False, "column": "id"}}, {})
    assert any("read without a header" in m for m in messages(d, folder))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("/etc/passwd", "is an absolute path"),
        ("../secret.csv", "leads out of the data folder"),
        ("sub/../../secret.csv", "leads out of the data folder"),
        ("link.csv", "is a link that leads out of the data folder"),
        ("bad\x00name.csv", "is not a usable file name"),
    ],
)
def test_paths_outside_the_data_folder_are_refused(
    tmp_path: Path, name: str, expected: str
) -> None:
    inside = tmp_path / "data"
    inside.mkdir()
    write(tmp_path, "secret.csv", "i\na\n")
    os.symlink(tmp_path / "secret.csv", inside / "link.csv")
    d = doc({"I": {"table": name, "column": 1}}, {})
    found = messages(d, inside)
    assert any(expected in m for m in found), found
    assert not any("'a'" in m for m in found)


def test_no_data_folder_says_how_to_give_one(folder: Path) -> None:
    d = doc({"I": {"table": "routes.csv", "column": 1}}, {})
    found = messages(d, None)
    assert any("no data folder was given" in m and "--data" in m for m in found), found


def test_tables_over_the_memory_budget_share_are_refused(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTIWISE_MEMORY_BUDGET", "500")  # bytes: a tenth is 50 < the file
    write(folder, "big.csv", "i\n" + "".join(f"e{k}\n" for k in range(100)))
    d = doc({"I": {"table": "big.csv", "column": 1}}, {})
    found = messages(d, folder)
    assert any("more than the" in m and "OPTIWISE_MEMORY_BUDGET" in m for m in found), found


def test_cells_are_data_never_evaluated(tmp_path: Path) -> None:
    write(tmp_path, "e.csv", "i,v\na,\"__import__('os').system('echo hi')\"\nb,=1+1\n")
    d = doc({"I": ["a", "b"]}, {"v": {"index": ["I"], "table": "e.csv"}})
    found = messages(d, tmp_path)
    assert len(found) == 1 and "column 'v' of e.csv holds text" in found[0], found
    assert "row 2 column 2, and 1 more cell)" in found[0], found


@pytest.mark.slow  # a million rows: ~6 s of CPU for the parse and the key mapping
def test_a_million_row_table_loads(tmp_path: Path) -> None:
    n = 1_000_000
    keys = np.arange(n)
    (tmp_path / "big.csv").write_text(
        "k,v\n" + "\n".join(f"{k},{k % 7}" for k in keys) + "\n", encoding="utf-8"
    )
    d = doc({"K": {"table": "big.csv", "column": "k"}}, {"v": {"index": ["K"], "table": "big.csv"}})
    data = data_of(d, tmp_path)
    assert len(data.sets["K"]) == n
    assert float(data.params["v"].array.sum()) == float((keys % 7).sum())


# ------------------------------------------------------------------ command line


CLI_DOC = """
sets:
  R: {table: routes.csv, columns: [from, to]}
parameters:
  c: {index: [R], table: routes.csv}
variables:
  x: {index: [R], upper: 1}
objective: {sense: max, expression: "sum(c[i, j] * x[i, j] for (i, j) in R)"}
"""


def test_cli_solve_check_export_read_tables_from_data(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from agent.cli import main

    model = tmp_path / "m.yaml"
    model.write_text(CLI_DOC, encoding="utf-8")
    assert main(["check", str(model), "--data", str(folder)]) == 0
    assert "valid: LP" in capsys.readouterr().out
    # with a time limit the solve runs in a worker that is killed at the limit
    assert main(["solve", str(model), "--data", str(folder), "--time-limit", "30", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["objective"] == pytest.approx(6.5)
    assert (
        main(
            [
                "solve",
                str(model),
                "--data",
                str(folder),
                "--time-limit",
                "30",
                "--in-process",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["objective"] == pytest.approx(6.5)
    # exports inline the data read from the tables
    assert main(["export", str(model), "--data", str(folder), "--to", "lp"]) == 0
    assert "1.5 x" in capsys.readouterr().out.replace("+", "")
    assert main(["export", str(model), "--data", str(folder), "--to", "pyomo"]) == 0
    assert "1.5" in capsys.readouterr().out


def test_cli_without_data_names_the_missing_folder(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.cli import main

    model = tmp_path / "m.yaml"
    model.write_text(CLI_DOC, encoding="utf-8")
    assert main(["check", str(model)]) == 2
    out = capsys.readouterr().out
    assert "sets.R.table: reads the table 'routes.csv' but no data folder was given" in out
    assert "unpacks" not in out  # no follow-on issue from the unread set
    assert main(["check", str(model), "--data", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().out


def test_parquet_tables_are_read_with_their_column_names(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    pd.DataFrame({"i": ["a", "b"], "v": [1.5, 2.0]}).to_parquet(tmp_path / "t.parquet")
    d = doc(
        {"I": {"table": "t.parquet", "column": "i"}},
        {"v": {"index": ["I"], "table": "t.parquet", "value": "v"}},
    )
    assert data_of(d, tmp_path).params["v"].array.tolist() == [1.5, 2.0]


def test_a_corrupt_workbook_is_a_located_issue(tmp_path: Path) -> None:
    (tmp_path / "t.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    found = messages(doc({"I": {"table": "t.xlsx", "column": 1}}, {}), tmp_path)
    assert any(m.startswith("data t.xlsx: cannot be read") for m in found), found


def test_a_table_is_described_without_its_rows(tmp_path: Path) -> None:
    from modeling.tables import describe_table

    write(
        tmp_path, "r.csv", "from,to,cost\n" + "".join(f"a{k},b{k % 3},{k}.5\n" for k in range(50))
    )
    text = describe_table(tmp_path, "r.csv", rows=2)
    assert text.splitlines()[0] == "r.csv: 50 rows, 3 columns"
    assert "  1. from: text, 50 distinct" in text
    assert "  2. to: text, 3 distinct" in text
    assert "  3. cost: number, 0.5 to 49.5" in text
    assert "a1,b1,1.5" in text and "a2,b2" not in text and "(48 more rows)" in text
