"""Pyomo with SCIP reports SCIP's version, not PySCIPOpt's (QA F23)."""

from __future__ import annotations

import pytest
from support import SAMPLES

from modeling import load, solve
from modeling.backends import get_backend

pyscipopt = pytest.importorskip("pyscipopt")


def _scip() -> str:
    m = pyscipopt.Model()
    return f"{m.getMajorVersion()}.{m.getMinorVersion()}.{m.getTechVersion()}"


@pytest.mark.slow  # alone, the first Pyomo import and build take 5-9 s on a loaded box; the solve is ms
@pytest.mark.parametrize("solver", ["scip", "scip_direct"])
def test_the_reported_version_is_scips(solver: str) -> None:
    if not get_backend("pyomo").available(solver):
        pytest.skip(f"Pyomo cannot run {solver} here")
    r = solve(load(SAMPLES / "transport_basic.yaml"), backend="pyomo", solver=solver)
    assert r.status == "optimal"
    assert r.solver_version == _scip()
    assert get_backend("pyomo").available(solver).version == _scip()
    if _scip() != pyscipopt.__version__:  # 10.0.2 vs 6.3.0 here: the two are told apart
        assert r.solver_version != pyscipopt.__version__
