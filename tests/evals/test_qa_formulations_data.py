"""QA session 3: ``optiwise eval --formulations DIR`` reads each problem's tables.

A stored formulation of a MIPLIB-NL problem reads its data through ``table:``
mappings. The live agent is given the problem's data folder; the stored
formulations were solved without it, so every table-backed document was
"invalid: reads the table … but no data folder was given" and the run scored 0.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from evals.formulations import FormulationSolver, solve_document
from evals.problems import Problem, normalize_answer

DOCUMENT: dict[str, Any] = {
    "sets": {"P": {"table": "products.csv", "column": "product"}},
    "parameters": {"profit": {"index": ["P"], "table": "products.csv", "value": "profit"}},
    "variables": {"x": {"index": ["P"], "upper": 10}},
    "objective": {"sense": "max", "expression": "sum(profit[p] * x[p] for p in P)"},
}


def _problem(tmp_path: Path) -> Problem:
    data = tmp_path / "inst" / "data"
    data.mkdir(parents=True)
    (data / "products.csv").write_text("product,profit\nA,3\nB,4\n", encoding="utf-8")
    return Problem(
        id="inst", dataset="toy", question="q", answer=normalize_answer(70), data=str(data)
    )


@pytest.mark.slow  # the real path: a killable solve worker starts (seconds on a loaded box)
def test_a_stored_formulation_is_solved_with_its_problems_tables(tmp_path: Path) -> None:
    problem = _problem(tmp_path)
    forms = tmp_path / "forms"
    forms.mkdir()
    (forms / "inst.yaml").write_text(yaml.safe_dump(DOCUMENT), encoding="utf-8")
    outcome = asyncio.run(FormulationSolver(forms, timeout_s=60).solve(problem))
    assert outcome["status"] == "optimal", outcome
    assert outcome["objective"] == 70


def test_a_document_that_breaks_the_spec_stays_invalid_with_its_location(tmp_path: Path) -> None:
    problem = _problem(tmp_path)
    broken = {**DOCUMENT, "variables": {"x": {"index": ["P"], "domain": "integer"}}}
    result = solve_document(broken, problem.data_dir)
    assert str(result.status.value) == "invalid"
    assert any(i.location == "variables.x.domain" for i in result.errors), result.errors
