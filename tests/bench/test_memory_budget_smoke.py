"""Smoke test of bench/memory_budget.py: the size it reports is the estimate's boundary, and solves.

The figure it prints (the largest model that checks and solves within the
default budget) is measured by running the script; here only a small budget
and a small size, so that the test takes seconds.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from modeling.limits import BUDGET_ENV

BENCH = Path(__file__).resolve().parents[2] / "bench" / "memory_budget.py"


def _load() -> ModuleType:
    name = "bench_memory_budget"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_largest_accepted_is_the_boundary_of_the_estimate() -> None:
    from modeling.formulation import load
    from modeling.limits import estimate_memory

    bench = _load()
    budget = 96 * 2**20
    n = bench.largest_accepted(budget)
    assert estimate_memory(load(bench.document(n))).bytes <= budget
    assert estimate_memory(load(bench.document(int(n * 1.01) + 1))).bytes > budget


def test_a_small_size_checks_and_solves_in_a_child(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUDGET_ENV, "256M")  # child() sets it: restored after the test
    rec = _load().child(2000, 256 * 2**20, 30.0)
    assert rec["issues"] == [] and rec["status"] == "optimal"
    assert rec["objective"] == 1000.0 and rec["peak"] > 0
