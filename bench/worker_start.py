#!/usr/bin/env python3
"""The first isolated solve of a fresh process: what the worker's start costs a one-shot command.

Each sample runs a fresh interpreter that imports :mod:`modeling.worker`, chooses a preload
mode (:func:`modeling.worker.configure`) and times its first :func:`solve_isolated` (an LP
solved by HiGHS, or a small NLP solved by SCIP through Pyomo), against the same solve in
process (``modeling.solve``, which imports what it needs).  Modes alternate; the median of
``--repeats`` is printed with the machine's load average (the 2-core CI machine is shared,
so absolute seconds vary by a factor of 3; compare within a run).  Then, in this process after
``warm_up()``, the median of 30 warm calls: the transport sample (compiled) solved in process
and in the pooled worker, and an empty job.

Usage: python bench/worker_start.py [--repeats 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys, time
t0 = time.perf_counter()
mode, kind = sys.argv[1], sys.argv[2]
lp = {"variables": {"x": {"upper": 4}, "y": {"upper": 3}},
      "objective": {"sense": "max", "expression": "3 * x + 2 * y"},
      "constraints": [{"name": "mix", "expression": "x + y <= 5"}]}
nlp = {"variables": {"x": {"lower": 0.1, "upper": 4}},
       "objective": {"sense": "min", "expression": "x * exp(x) + 1 / x"}}
doc = lp if kind == "lp" else nlp
if mode == "in_process":
    from modeling.solve import solve
    r = solve(doc, time_limit=60)
else:
    from modeling import worker
    worker.configure(mode)
    r = worker.solve_isolated(doc, time_limit=60)
print(time.perf_counter() - t0, r.status)
"""

RUNS = [(m, k) for k in ("lp", "nlp") for m in ("in_process", "core", "full")]


def once(mode: str, kind: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OPTIWISE_WORKER_PRELOAD", None)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, kind],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
        check=True,
    )
    seconds, status = out.stdout.split()
    if status != "optimal":
        raise SystemExit(f"{mode}/{kind}: status {status}\n{out.stderr}")
    return float(seconds)


def round_trip(n: int = 30) -> dict[str, float]:
    """Median ms of a warm call: a compiled sample solved in process, in the pooled worker,
    and an empty job (the pipe and pickle alone)."""
    sys.path.insert(0, str(ROOT))
    from modeling.compiler import compile_model
    from modeling.formulation import load
    from modeling.samples import get_sample
    from modeling.solve import solve
    from modeling.worker import run_isolated, solve_isolated, warm_up

    warm_up()
    model = compile_model(load(dict(get_sample("transport_basic").formulation)))
    times: dict[str, list[float]] = {"in_process": [], "worker": [], "empty_job": []}
    calls = {
        "in_process": lambda: solve(model, time_limit=10),
        "worker": lambda: solve_isolated(model, time_limit=10, keep_model=False),
        "empty_job": lambda: run_isolated(len, (1, 2), time_limit=10),
    }
    for _ in range(n + 3):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)
    return {name: round(1000 * statistics.median(t[3:]), 2) for name, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    load0 = os.getloadavg()[0]
    times: dict[str, list[float]] = {f"{m}/{k}": [] for m, k in RUNS}
    for _ in range(args.repeats):
        for mode, kind in RUNS:
            times[f"{mode}/{kind}"].append(once(mode, kind))
    med = {name: statistics.median(t) for name, t in times.items()}
    warm = round_trip()
    load1 = os.getloadavg()[0]
    print(
        f"first solve of a fresh process, median of {args.repeats} (load {load0:.1f}-{load1:.1f}):"
    )
    for name, v in med.items():
        print(f"  {name:<16} {v:6.2f} s")
    print("a warm call, transport sample compiled, median of 30:")
    for name, ms in warm.items():
        print(f"  {name:<16} {ms:6.2f} ms")
    if args.json:
        report = {
            "repeats": args.repeats,
            "load": [load0, load1],
            "median_s": med,
            "all": times,
            "warm_call_ms": warm,
        }
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
