"""Smoke test of bench/miplib_scale.py at its smallest size: the compiled model is the reference's.

Timings and memory are measured but never asserted: the test checks that the
synthetic table-backed instance checks clean, compiles to exactly the matrix
the hand-written numpy reference builds from the same CSV files, solves, and
that the report line is produced.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "miplib_scale.py"


def _load() -> ModuleType:
    name = "bench_miplib_scale"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up while the file executes
    spec.loader.exec_module(mod)
    return mod


def test_tiny_instance_compiles_to_the_reference_matrix_and_solves() -> None:
    bench = _load()
    items, periods, window = bench.SIZES["tiny"]
    rec = bench.run_size("tiny", solve=True, time_limit=30.0)
    assert rec.issues == 0
    assert rec.variables == items * periods
    assert rec.constraints == rec.ref_rows
    assert rec.nonzeros == rec.ref_nnz
    expected_rows = items * periods + items + periods + 2 * items * (periods - 1) + items * window
    assert rec.constraints == expected_rows
    assert rec.status == "optimal"
    assert rec.peak_rss > 0 and rec.compile_s > 0 and rec.ref_s > 0
    text = bench.line(rec)
    assert "tiny" in text and "ratio" in text and "MISMATCH" not in text


def test_the_largest_size_matches_miplib_nl_largest_instance() -> None:
    items, periods, window = _load().SIZES["large"]
    assert items * periods == 283_648  # MIPLIB-NL's largest variable count
    rows = items * periods + items + periods + 2 * items * (periods - 1) + items * window
    assert abs(rows - 1_050_112) / 1_050_112 < 0.001  # and its largest constraint count
