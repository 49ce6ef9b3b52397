"""In-process ``solve`` checks the chosen backend's memory before it builds anything.

The document's memory check covers compiling and HiGHS; Pyomo with SCIP needs
~45 times HiGHS' memory per variable, so a model that passes ``check`` could
exhaust the machine on that path in the CLI's ``--in-process`` mode or the agent.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from modeling import Status, solve
from modeling.limits import BUDGET_ENV


def lp(n: int) -> dict[str, Any]:
    """5n columns, 2 terms a row: small for HiGHS, too big for Pyomo+SCIP within 250 MB."""
    return {
        "sets": {"I": {"from": 1, "to": n}, "K": {"from": 1, "to": 5}},
        "variables": {"x": {"index": ["I", "K"], "upper": 10}},
        "objective": {"sense": "max", "expression": "sum(k * x[i, k] for i in I for k in K)"},
        "constraints": [
            {"name": "cap", "forall": "for i in I for k in K", "expression": "x[i, k] <= k"}
        ],
    }


# ~0.2 s in a suite run; alone it pays the Pyomo import (choose_backend checks SCIP), 5-15 s
def test_in_process_solve_refuses_the_pyomo_scip_path_before_building(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(BUDGET_ENV, "250M")
    t0 = time.perf_counter()
    r = solve(lp(4000), backend="pyomo", solver="scip")
    assert r.status is Status.INVALID
    assert r.errors and r.errors[0].code == "size" and r.errors[0].location == "variables.x"
    assert r.message.startswith("refused before solving: ") and "pyomo with scip" in r.message
    assert time.perf_counter() - t0 < 20  # refused, not built (SCIP takes minutes here)
    ok = solve(lp(4000), backend="highs")
    assert ok.status is Status.OPTIMAL
    assert ok.objective == pytest.approx(4000 * (1 + 4 + 9 + 16 + 25))
