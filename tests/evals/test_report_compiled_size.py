"""MIPLIB-NL size buckets: instance.json states no size, so each result is bucketed by the
compiled size of the formulation it scored, read with the instance's tables, and report.md
says so; results without a model that compiles are counted beside the table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals import model_size
from evals.problems import Problem, normalize_answer
from evals.report import render_report, summarize
from evals.results import ProblemResult, build_result
from evals.scoring import ALL_PROTOCOLS

# A table-backed LP: n items read from items.csv, one variable and one row per item.
TABLED = {
    "sets": {"I": {"table": "items.csv", "column": "item"}},
    "parameters": {"c": {"index": ["I"], "table": "items.csv", "keys": "item", "value": "cost"}},
    "variables": {"x": {"index": ["I"], "lower": 0}},
    "objective": {"sense": "min", "expression": "sum(c[i] * x[i] for i in I)"},
    "constraints": [{"name": "need", "forall": "i in I", "expression": "x[i] >= 1"}],
}
SMALL = {
    "variables": {"x": {"lower": 0}},
    "objective": {"sense": "min", "expression": "x"},
    "constraints": [{"name": "c", "expression": "x >= 3"}],
}


def result(
    pid: str, status: str, objective: float | None, label: Any, **extra: Any
) -> ProblemResult:
    problem = Problem(
        id=pid,
        dataset="miplib_nl.dev",
        question="q",
        answer=normalize_answer(label),
        metadata=extra.pop("metadata", {}),
    )
    outcome = {"status": status, "objective": objective, **extra}
    return build_result(problem, outcome, protocols=ALL_PROTOCOLS, latency_s=0.1)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A MIPLIB-NL-shaped source: big/data/items.csv with 700 items."""
    data = tmp_path / "src" / "big" / "data"
    data.mkdir(parents=True)
    rows = "".join(f"i{k},{k % 3 + 1}\n" for k in range(700))
    (data / "items.csv").write_text("item,cost\n" + rows, encoding="utf-8")
    return tmp_path / "src"


def config(source: Path) -> dict[str, Any]:
    return {
        "dataset": "miplib_nl.dev",
        "family": "miplib_nl",
        "variant": "dev",
        "source": str(source),
    }


def test_results_are_bucketed_by_their_compiled_formulation(tree: Path, tmp_path: Path) -> None:
    big_optimum = float(sum(k % 3 + 1 for k in range(700)))
    results = [
        result("small", "optimal", 3.0, 3, formulation=SMALL),
        result("big", "optimal", big_optimum, big_optimum, formulation=TABLED),
        result("big_wrong", "optimal", 5.0, 9, formulation=TABLED),  # no data folder: no size
        result("broken", "invalid", None, 4),  # no formulation reached the solver
        result(
            "stated",
            "optimal",
            1.0,
            1,
            formulation=SMALL,
            metadata={"n_variables": 20_000, "n_constraints": 1},
        ),
    ]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    summary = summarize(results, config=config(tree), run_dir=run_dir, default_protocol="miplib_nl")
    cells = {k: (c.n, c.correct) for k, c in summary.by_size.items()}
    # small: 1 + 1; big: 700 variables + 700 rows; stated: the dataset's 20,001 wins
    assert cells == {"< 1k": (1, 1), "1k–10k": (1, 1), "≥ 10k": (1, 1)}
    assert summary.size_source == "dataset+compiled"
    assert summary.size_unknown_correct == 0
    report = render_report(summary, config(tree))
    assert "bucketed by the compiled size of the formulation that was scored" in report
    assert "2 problem(s) of unknown size (no formulation that compiles" in report
    cache = json.loads((run_dir / model_size.SIZES_FILE).read_text(encoding="utf-8"))
    assert cache["big"]["variables"] == 700 and cache["big"]["constraints"] == 700
    assert cache["big_wrong"]["variables"] is None and "stated" not in cache


def test_a_rebuilt_report_reads_the_cache_instead_of_compiling(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = [result("big", "optimal", 1.0, 2, formulation=TABLED)]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    first = summarize(results, config=config(tree), run_dir=run_dir)

    def boom(*_args: Any) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(model_size, "compiled_size", boom)
    again = summarize(results, config=config(tree), run_dir=run_dir)
    assert again.by_size == first.by_size and set(again.by_size) == {"1k–10k"}


def test_other_families_keep_dataset_sizes_only(tmp_path: Path) -> None:
    results = [result("p", "optimal", 3.0, 3, formulation=SMALL)]
    other = {"dataset": "toy.v1", "family": "toy", "variant": "v1"}
    summary = summarize(results, config=other, run_dir=tmp_path)
    assert summary.by_size == {} and summary.size_source == ""
    assert not (tmp_path / model_size.SIZES_FILE).exists()
