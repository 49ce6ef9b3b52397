"""Table values are read as numbers in one vectorised pass, with the same verdicts as before.

The fast path (numpy's float conversion) must not accept what a table does not
mean as a number (``1_000``, which Python's ``float`` reads) and must keep
empty cells as "use the default".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modeling import Status, check, load, solve


def doc() -> dict:
    return {
        "sets": {"I": {"table": "c.csv", "column": "i"}},
        "parameters": {"c": {"index": ["I"], "table": "c.csv", "value": "c", "default": 7}},
        "variables": {"x": {"index": ["I"], "upper": 1}},
        "objective": {"sense": "max", "expression": "sum(c[i] * x[i] for i in I)"},
    }


def test_numbers_and_empty_cells(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("i,c\na,1.5\nb,\nc,2e1\nd,-3\n", encoding="utf-8")
    r = solve(load(doc(), data=tmp_path), time_limit=30)
    assert r.status == Status.OPTIMAL
    assert r.objective == pytest.approx(1.5 + 7 + 20)  # b takes the default, d is left at 0


@pytest.mark.parametrize("cell", ["1_000", "abc", "nan", "0x10"])
def test_a_cell_that_is_no_number_is_located(tmp_path: Path, cell: str) -> None:
    (tmp_path / "c.csv").write_text(f"i,c\na,1\nb,{cell}\n", encoding="utf-8")
    issues = check(load(doc(), data=tmp_path))
    assert [str(i) for i in issues] == [
        f"parameters.c.value: column 'c' of c.csv has a cell that is not a number "
        f'("{cell}", row 3 column 2) (table values are numbers; an empty cell takes the default)'
    ]
