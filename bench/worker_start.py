#!/usr/bin/env python3
"""The first isolated solve of a fresh process: what the worker's start costs a one-shot command.

Each sample runs a fresh interpreter that imports :mod:`modeling.worker`, chooses a preload
mode (:func:`modeling.worker.configure`) and times its first :func:`solve_isolated` (an LP
solved by HiGHS, or a small NLP solved by SCIP through Pyomo), against the same solve in
process (``modeling.solve``, which imports what it needs).  Modes alternate; the median of
``--repeats`` is printed with the machine's load average (the 2-core CI machine is shared,
so absolute seconds vary by a factor of 3; compare within a run).

Usage: python bench/worker_start.py [--repeats 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
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
    load1 = os.getloadavg()[0]
    print(
        f"first solve of a fresh process, median of {args.repeats} (load {load0:.1f}-{load1:.1f}):"
    )
    for name, v in med.items():
        print(f"  {name:<16} {v:6.2f} s")
    if args.json:
        report = {"repeats": args.repeats, "load": [load0, load1], "median_s": med, "all": times}
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
