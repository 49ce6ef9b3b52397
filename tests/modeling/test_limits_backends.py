"""Per-backend memory: a model that fits the HiGHS path can be too big for Pyomo with SCIP.

Pyomo builds Python objects per variable and per term and SCIP keeps its own
copy, about 45 times HiGHS' memory per variable (bench/backend_memory.py).
The document's check covers compiling and HiGHS; the chosen backend is checked
on the compiled model before it builds anything.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from modeling import Status, compile_model
from modeling.formulation import load
from modeling.limits import (
    BACKEND_BYTES,
    BUDGET_ENV,
    backend_key,
    check_backend_memory,
    estimate_backend,
    estimate_memory,
)
from modeling.worker import solve_isolated

BUDGET = "250M"


def lp(n: int) -> dict[str, Any]:
    """An LP with ``5 n`` columns, ``n + 5`` rows and 2 nonzeros per column."""
    return {
        "sets": {"I": {"from": 1, "to": n}, "K": {"from": 1, "to": 5}},
        "variables": {"x": {"index": ["I", "K"], "upper": 10}},
        "objective": {"sense": "max", "expression": "sum(k * x[i, k] for i in I for k in K)"},
        "constraints": [
            {"name": "cap", "forall": "for i in I", "expression": "sum(x[i, k] for k in K) <= 12"},
            {
                "name": "dem",
                "forall": "for k in K",
                "expression": f"sum(x[i, k] for i in I) <= {n}",
            },
        ],
    }


def test_backend_keys() -> None:
    assert backend_key("highs") == "highs"
    assert backend_key("pyomo", "scip") == backend_key("pyomo", "scip_direct") == "pyomo/scip"
    assert backend_key("pulp") == "pulp/highs"
    assert backend_key("pulp", "cbc") == "pulp/cbc"
    # a solver not measured counts as the most demanding of its backend
    assert backend_key("pyomo", "gurobi") == "pyomo/scip"


def test_pyomo_with_scip_needs_far_more_per_variable_than_highs() -> None:
    assert BACKEND_BYTES["pyomo/scip"][1] > 10 * BACKEND_BYTES["highs"][1]
    model = compile_model(lp(2000))
    highs, scip = estimate_backend(model, "highs"), estimate_backend(model, "pyomo", "scip")
    assert highs.columns == scip.columns == 10_000
    assert highs.nonzeros >= 20_000
    assert scip.bytes > 3 * highs.bytes


def test_a_model_within_the_highs_budget_is_refused_on_the_pyomo_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(BUDGET_ENV, BUDGET)
    doc = lp(4000)  # 20,000 columns
    assert estimate_memory(load(doc)).bytes < 250 * 2**20  # the document's check passes
    model = compile_model(doc)
    assert check_backend_memory(model, "highs") == []
    assert check_backend_memory(model, "pyomo", "highs") == []  # Pyomo with HiGHS fits too
    issues = check_backend_memory(model, "pyomo", "scip")
    assert len(issues) == 1 and issues[0].code == "size"
    text = str(issues[0])
    assert issues[0].location == "variables.x"
    assert "solving on pyomo with scip needs about" in text
    assert "20,000 variables" in text and "more than the memory budget of 250.0 MB" in text
    assert "HiGHS would need about" in text and BUDGET_ENV in text


@pytest.mark.slow  # the first isolated solve starts the forkserver (imports Pyomo, SCIP): 2-20 s
def test_the_worker_refuses_the_pyomo_path_before_building_and_solves_on_highs() -> None:
    doc = lp(4000)
    t0 = time.perf_counter()
    r = solve_isolated(doc, backend="pyomo", solver="scip", memory_limit=BUDGET, time_limit=60)
    assert r.status == Status.INVALID, r.message
    assert r.errors and r.errors[0].code == "size"
    assert "pyomo with scip" in r.message and "250.0 MB" in r.message
    assert time.perf_counter() - t0 < 30  # refused, not solved (SCIP takes minutes here)
    ok = solve_isolated(doc, backend="highs", memory_limit=BUDGET, time_limit=60)
    assert ok.status == Status.OPTIMAL, ok.message
    assert ok.objective == pytest.approx(4000 * (1 + 2 + 3 + 4 + 5))  # each k at its limit
