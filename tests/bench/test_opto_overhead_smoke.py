"""Smoke test of bench/opto_overhead.py: a small run agrees with plain Python and reports.

Timings are measured but never asserted.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "opto_overhead.py"


def test_opto_overhead_bench_runs_and_reports(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_opto_overhead", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_opto_overhead"] = mod
    spec.loader.exec_module(mod)
    out = tmp_path / "figures.json"
    assert mod.main(["--ops", "200", "--repeats", "1", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["ops"] == 200 and figures["ratio"] > 0 and figures["subgraph_nodes"] > 20
    assert "ratio" in capsys.readouterr().out
