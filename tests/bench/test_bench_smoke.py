"""Smoke test of bench/modeling_overhead.py: smallest sizes, one repeat, every route agrees.

Timings are measured but never asserted: this only checks that each route builds and solves
the same model and that the report is produced.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "modeling_overhead.py"
ALWAYS = ("highspy", "optiwise_highs", "pyomo_hand", "pulp_hand")


def _load() -> ModuleType:
    name = "bench_modeling_overhead"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up while the file executes
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load()


@pytest.fixture(scope="module")
def smoke(bench: ModuleType) -> tuple[list, bool, dict, dict]:
    routes, skipped = bench.select_routes()
    records, ok = bench.run_benchmark(
        lp_sizes=(5,), mip_sizes=(3,), repeats=1, time_limit=30.0, routes=routes, warmup=False
    )
    return records, ok, routes, skipped


def _backend_module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(f"modeling.backends.{name}") is not None
    except ModuleNotFoundError:
        return False


def test_routes_present(smoke: tuple) -> None:
    _, _, routes, skipped = smoke
    for name in ALWAYS:
        assert name in routes, skipped.get(name)
    # our Pyomo/PuLP backends must run once they exist; until then they are reported skipped
    for backend in ("pyomo", "pulp"):
        name = f"optiwise_{backend}"
        assert (name in routes) or (name in skipped)
        if _backend_module_exists(backend):
            assert name in routes, skipped.get(name)


def test_all_routes_agree(smoke: tuple) -> None:
    records, ok, routes, _ = smoke
    assert len(records) == 2 * len(routes)
    bad = [(r.problem, r.route, r.objective, r.status) for r in records if not r.agrees]
    assert ok, bad
    for r in records:
        assert r.status == "optimal", (r.problem, r.route, r.status)
        assert r.objective is not None and np.isfinite(r.objective)
        assert r.rel_diff is not None and r.rel_diff <= (1e-7 if r.kind == "lp" else 2e-6)
        if r.route.startswith("optiwise_"):
            assert r.split is not None
            assert set(r.split) == {"compile_s", "build_s", "solve_s", "total_s", "other_s"}


def test_report(bench: ModuleType, smoke: tuple) -> None:
    records, _, _, _ = smoke
    table = bench.markdown_table(records)
    assert table.splitlines()[0].startswith("| problem | n | vars | nnz | route |")
    assert "MISMATCH" not in table
    assert len(table.splitlines()) == 2 + len(records)
    assert "ns/nz" in bench.compile_per_nnz_line(records)
    assert bench.verdict_line(records).startswith("optiwise_highs at 25 vars: ")
    assert "(target ≤ 2×)" in bench.verdict_line(records)


def test_mismatch_is_flagged(bench: ModuleType, smoke: tuple) -> None:
    records, _, _, _ = smoke
    copies = [bench.Record(**{**r.__dict__, "runs": [dict(x) for x in r.runs]}) for r in records]
    victim = next(r for r in copies if r.route == "optiwise_highs" and r.kind == "mip")
    for run in victim.runs:
        run["objective"] *= 1 + 1e-4
    assert not bench.compare(copies)
    assert "MISMATCH" in bench.markdown_table(copies)


def test_docs_match_instances(bench: ModuleType) -> None:
    from modeling import compile_model

    for kind, n in (("lp", 5), ("mip", 3)):
        inst = bench.make_instance(kind, n)
        cm = compile_model(inst.doc)
        assert cm.ncols == inst.nvars
        assert len(cm.A[2]) == inst.nnz
        assert cm.integer == (kind == "mip")
