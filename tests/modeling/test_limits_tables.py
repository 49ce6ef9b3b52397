"""Memory limits for models whose sets and parameters are read from data tables.

A table-backed set used to count as 0 elements in the memory estimate, and a
table's own cells (Python strings, ~14x the file's size) did not count at all,
so a table the byte cap let through could still take more than the budget.
Now the files are measured (a line count, nothing parsed) before anything is
read, and refused with the estimate and the budget.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from modeling import Status, check, load, solve
from modeling.limits import BUDGET_ENV, BYTES_PER_CELL, estimate_memory, set_size
from modeling.tables import table_shape


def write_table(folder: Path, name: str, rows: int, cols: int = 2) -> Path:
    """``key,v1,...`` with keys ``k1..k<rows>``: a long table of ``rows`` data rows."""
    path = folder / name
    header = ",".join(["key"] + [f"v{c}" for c in range(1, cols)])
    body = "\n".join(
        f"k{r}," + ",".join(str(r % 97 + c) for c in range(1, cols)) for r in range(1, rows + 1)
    )
    path.write_text(header + "\n" + body + "\n", encoding="utf-8")
    return path


def table_doc(dims: int = 1) -> dict[str, Any]:
    idx = ["I"] * dims
    body = ", ".join(f"i{k}" for k in range(dims))
    gens = " ".join(f"for i{k} in I" for k in range(dims))
    return {
        "sets": {"I": {"table": "t.csv", "column": "key"}},
        "parameters": {"c": {"index": ["I"], "table": "t.csv", "value": "v1"}},
        "variables": {"x": {"index": idx, "upper": 1}},
        "objective": {"sense": "max", "expression": f"sum(c[i0] * x[{body}] {gens})"},
    }


def test_table_shape_counts_rows_without_parsing(tmp_path: Path) -> None:
    path = write_table(tmp_path, "t.csv", 1234, cols=3)
    assert table_shape(path) == (1234, 3)
    assert table_shape(path, header=False) == (1235, 3)
    path.write_text("a,b\n1,2\n3,4", encoding="utf-8")  # no line break at the end
    assert table_shape(path) == (2, 2)


def test_estimate_counts_a_table_backed_set_and_its_cells(tmp_path: Path) -> None:
    write_table(tmp_path, "t.csv", 5000)
    f = load(table_doc(), data=tmp_path)
    assert set_size(f.sets["I"], tmp_path) == 5000
    assert set_size(f.sets["I"]) is None  # no folder: unknown, not a silent 0
    est = estimate_memory(f)
    assert est.columns == 5000 and est.set_elements == 5000 and est.param_entries == 5000
    assert est.table_cells == 10_000  # t.csv read once for the set and the parameter
    assert "10,000 table cells" in est.describe()


def test_a_set_of_header_labels_counts_the_columns_from_its_first(tmp_path: Path) -> None:
    write_table(tmp_path, "w.csv", 3, cols=6)  # key, v1..v5
    assert set_size({"table": "w.csv", "column_labels": 2}, tmp_path) == 5
    assert set_size({"table": "w.csv", "column_labels": True}, tmp_path) == 5
    assert set_size({"table": "w.csv", "column_labels": 4}, tmp_path) == 3


def test_oversized_table_backed_model_is_refused_with_estimate_and_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_table(tmp_path, "t.csv", 3000)  # 3000 elements: x[i, j] has 9 million columns
    monkeypatch.setenv(BUDGET_ENV, "1G")
    t0 = time.perf_counter()
    issues = check(load(table_doc(dims=2), data=tmp_path))
    assert time.perf_counter() - t0 < 5.0
    assert len(issues) == 1, [str(i) for i in issues]
    text = str(issues[0])
    assert issues[0].code == "size"
    assert "9,000,000 variables" in text and "more than the memory budget of 1.0 GB" in text
    assert "the model needs about" in text and "GB to build" in text


def test_a_table_too_big_for_the_budget_is_refused_before_it_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_table(tmp_path, "t.csv", 200_000, cols=3)  # 4 MB on disk, ~50 MB once read
    monkeypatch.setenv(BUDGET_ENV, "100M")  # the byte cap (a tenth: 10 MB) lets it through
    t0 = time.perf_counter()
    issues = check(load(table_doc(), data=tmp_path))
    took = time.perf_counter() - t0
    assert len(issues) == 1, [str(i) for i in issues]
    text = str(issues[0])
    assert issues[0].location == "sets.I.table"
    assert "600,000 table cells" in text and "more than the memory budget of 100.0 MB" in text
    assert took < 1.0, f"the table was parsed ({took:.2f} s)"  # parsing takes ~0.5 s
    assert 64 * 2**20 + 600_000 * BYTES_PER_CELL > 100 * 2**20  # the cells alone are too many


def test_a_table_backed_model_within_budget_still_solves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_table(tmp_path, "t.csv", 2000)
    monkeypatch.setenv(BUDGET_ENV, "1G")
    r = solve(load(table_doc(), data=tmp_path), time_limit=30)
    assert r.status == Status.OPTIMAL
    assert r.objective == pytest.approx(sum(r % 97 + 1 for r in range(1, 2001)))
