#!/usr/bin/env python3
"""Tracing overhead of agent.opto: a traced run against the same code on plain values.

Workflow (10,000 operations by default): for each of 1,000 records, ten
steps of a small prompt pipeline written once and run twice, on plain
Python values and on nodes -- fill a template (``str.format``), split it,
count the words, take the first word, lower-case it, two arithmetic steps
with a trainable weight, a comparison, a lookup, and one bundled Python
function (``keyword_score``: scans the text for keywords). The traced run
records every step as a MessageNode (about 14,000 nodes with the constant
inputs), so it can be given feedback afterwards; ``backward`` on the final
output is timed separately, as is building the union subgraph an optimizer
reads.

A second, worst-case line runs a chain of bare ``+ * -`` on floats, where
plain Python spends ~50 ns per operation and a traced operation costs one
node allocation; it shows the floor of the per-operation cost.

Figures are CPU times (``time.process_time``, so time spent waiting for a
busy machine's cores does not count) and ratios against the plain run
measured in the same process, best of ``--repeats``. Target: the workflow
ratio within 20x.

Usage: python bench/opto_overhead.py [--ops 10000] [--repeats 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.opto import (  # noqa: E402
    Node,
    ParameterNode,
    TraceGraph,
    bundle,
    name_scope,
    node,
)

KEYWORDS = ("maximize", "minimize", "profit", "cost", "hours", "limit")
TEMPLATE = "Record {} : maximize profit subject to a limit of {} hours and a cost of {} per unit"


def keyword_score(text: str, scale: float) -> float:
    """How many optimization keywords the text mentions, times a scale."""
    words = text.lower().split()
    return scale * sum(1 for word in words if word in KEYWORDS)


traced_keyword_score = bundle()(keyword_score)


def workflow(
    records: int,
    template: Any,
    weight: Any,
    table: Any,
    score: Callable[[Any, Any], Any],
) -> Any:
    """Ten operations per record; works on plain values and on nodes alike."""
    total = weight * 0
    for i in range(records):
        text = template.format(i, i % 24, i % 7)  # 1 format
        words = text.split()  # 2 split
        count = words.len() if isinstance(words, Node) else len(words)  # 3 len
        first = words[0]  # 4 getitem
        key = first.lower()  # 5 lower
        value = count * weight  # 6 multiply
        total = total + value  # 7 add
        _ = total > 100  # 8 compare
        _ = table[key]  # 9 lookup
        total = total + score(text, weight)  # 10 bundled call (+ its add)
    return total


def chain(x: Any, ops: int) -> Any:
    """Bare arithmetic: ``ops`` operations."""
    acc = x
    for _ in range(ops // 3):
        acc = acc * 1.0001
        acc = acc + 0.5
        acc = acc - 0.25
    return acc


def best_of(repeats: int, fun: Callable[[], Any]) -> tuple[float, Any]:
    """Smallest wall time over ``repeats`` runs (GC collected before each) and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeats):
        gc.collect()
        start = time.process_time()
        result = fun()
        best = min(best, time.process_time() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=10_000, help="operations per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    records = max(1, args.ops // 10)

    table = {"record": 1}

    def plain() -> Any:
        return workflow(records, TEMPLATE, 0.5, table, keyword_score)

    def traced() -> Any:
        with name_scope():
            weight = ParameterNode(0.5, name="weight")
            return workflow(
                records,
                node(TEMPLATE, "template"),
                weight,
                node(table, "table"),
                traced_keyword_score,
            ), weight

    t_plain, plain_out = best_of(args.repeats, plain)
    t_traced, (traced_out, weight) = best_of(args.repeats, traced)
    assert abs(traced_out.data - plain_out) < 1e-6 * max(1.0, abs(plain_out)), "traced != plain"

    def run_backward() -> int:
        with name_scope():
            w = ParameterNode(0.5, name="weight")
            out = workflow(
                records, node(TEMPLATE, "template"), w, node(table, "table"), traced_keyword_score
            )
        gc.collect()
        start = time.process_time()
        out.backward("the total should be larger")
        middle = time.process_time()
        graph = TraceGraph.sum(g for items in w.feedback.values() for g in items)
        size = len(graph.nodes)
        end = time.process_time()
        timings.append((middle - start, end - middle))
        return size

    timings: list[tuple[float, float]] = []
    sizes = [run_backward() for _ in range(min(args.repeats, 3))]
    t_backward = min(t for t, _ in timings)
    t_subgraph = min(t for _, t in timings)

    t_chain_plain, _ = best_of(args.repeats, lambda: chain(1.0, args.ops))

    def chain_traced() -> Any:
        with name_scope():
            return chain(ParameterNode(1.0, name="x"), args.ops)

    t_chain_traced, _ = best_of(args.repeats, chain_traced)

    figures = {
        "ops": records * 10,
        "plain_s": t_plain,
        "traced_s": t_traced,
        "ratio": t_traced / t_plain,
        "backward_s": t_backward,
        "subgraph_s": t_subgraph,
        "subgraph_nodes": sizes[0],
        "chain_plain_s": t_chain_plain,
        "chain_traced_s": t_chain_traced,
        "chain_ratio": t_chain_traced / t_chain_plain,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(f"agent.opto tracing overhead ({figures['ops']} operations, best of {args.repeats})")
    print(
        f"  workflow: plain {t_plain * 1e3:8.2f} ms   traced {t_traced * 1e3:8.2f} ms   "
        f"ratio {figures['ratio']:5.1f}x (target <= 20x)"
    )
    print(
        f"  backward on the output {t_backward * 1e3:.1f} ms; union subgraph of the weight "
        f"({sizes[0]} nodes) {t_subgraph * 1e3:.1f} ms"
    )
    print(
        f"  worst case, bare float arithmetic: plain {t_chain_plain * 1e3:.2f} ms   traced "
        f"{t_chain_traced * 1e3:.2f} ms   ratio {figures['chain_ratio']:.0f}x"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
