"""bench/eval_throughput.py: the per-phase CPU table measures the real agent and leaves it as found.

The phases wrap functions the agent's nodes call (by name); if one is renamed the bench
must fail here, not print a table without that phase. The wrapped graph is compiled for
the measurement and the agent's own compiled graph is put back afterwards.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

import agent.graph as graph

BENCH = Path(__file__).resolve().parents[2] / "bench" / "eval_throughput.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_throughput_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # the agent's first isolated solve starts the solve forkserver: ~3 s, 13 s loaded
def test_per_phase_cpu_covers_each_phase_and_restores_the_agent() -> None:
    bench = load_bench()
    fast = [s for s in bench.load_samples() if s.id in ("production_mix", "transport_basic")]
    before = graph.compiled_solve_graph(asynchronous=True)
    loop_before = dict(getattr(graph, "_LOOP_NODES", {}))
    phases = bench.per_phase(fast, 2)
    for name in (
        "few-shot examples: pick",
        "hints: pick the class",
        "prompt templates",
        "reply JSON parse",
        "check (compile)",
        "verify",
        "explain",
        "outcome + result line",
        "solve loop runtime, node adapters, trace (the rest of the run)",
    ):
        assert name in phases, f"phase {name!r} was not measured"
    assert any(k.startswith("solve") for k in phases)
    assert all(v >= 0 for v in phases.values())
    assert graph.compiled_solve_graph(asynchronous=True) is before
    assert dict(getattr(graph, "_LOOP_NODES", {})) == loop_before
    import agent.nodes as nodes

    assert nodes.compile_model.__module__ == "modeling.compiler"  # the wrapper is gone


def test_tree_cpu_counts_this_process_and_excludes_what_it_is_told() -> None:
    bench = load_bench()
    total = bench.tree_cpu(set())
    if total is None:  # not Linux
        return
    own = time.process_time()
    without_us = bench.tree_cpu({os.getpid()})
    assert without_us is not None and without_us >= 0.0
    # this process counts in the total (reaped children too, so at least its own CPU)
    assert total - without_us >= own - 0.1
