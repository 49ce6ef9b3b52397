#!/usr/bin/env python3
"""Agent solves in a killable worker: what the isolation costs per solve.

Every sample problem (datasets/samples/*.yaml) is run through
``OptimizationAgent.solve`` with a scripted LLM that replies with the sample's
own formulation (no network, no latency), once with solves in the killable
worker (``small_model_nonzeros=0``: every solve in
:func:`modeling.worker.solve_isolated`), once with the default (small LP/MILP
models solved by HiGHS in process, the rest in the worker) and once all in
process (``solve_in_process=True``), alternating, ``--repeats`` times. The worker's forkserver is started before timing (a one-time cost per
process, printed separately). Printed: the median wall time per problem of
each mode, their difference (the added per-solve overhead) and their ratio,
measured in the same run.

Usage: python bench/agent_isolation.py [--repeats 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.api import OptimizationAgent  # noqa: E402
from agent.context import AgentConfig  # noqa: E402
from agent.fake import FakeLLM  # noqa: E402
from modeling.worker import warm_up  # noqa: E402


def samples() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path in sorted((ROOT / "datasets" / "samples").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("problem") and data.get("formulation"):
            out.append((path.stem, str(data["problem"]), data["formulation"]))
    return out


MODES: dict[str, dict[str, Any]] = {
    "worker": {"small_model_nonzeros": 0},
    "default": {},
    "in_process": {"solve_in_process": True},
}


def run_once(problem: str, doc: dict[str, Any], mode: str) -> tuple[float, str]:
    config = AgentConfig(max_repairs=0, examples=0, time_limit=30.0, **MODES[mode])
    agent = OptimizationAgent(llm=FakeLLM([json.dumps(doc)] * 3), config=config)
    t0 = time.perf_counter()
    result = agent.solve(problem)
    return time.perf_counter() - t0, result.status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    t0 = time.perf_counter()
    warm_up()
    start_s = time.perf_counter() - t0
    cases = samples()
    times: dict[str, list[float]] = {m: [] for m in MODES}
    mismatched: list[str] = []
    for name, problem, doc in cases:
        run_once(problem, doc, "in_process")  # imports and caches of this model class
        for _ in range(args.repeats):
            statuses = {}
            for mode in MODES:
                wall, status = run_once(problem, doc, mode)
                times[mode].append(wall)
                statuses[mode] = status
            if len(set(statuses.values())) > 1:
                mismatched.append(f"{name}: {statuses}")
    med = {m: statistics.median(t) for m, t in times.items()}
    local = med["in_process"]
    report = {
        "samples": len(cases),
        "repeats": args.repeats,
        "forkserver_start_s": round(start_s, 3),
        "median_problem_s": {m: round(v, 4) for m, v in med.items()},
        "added_per_solve_ms": {m: round((v - local) * 1000, 1) for m, v in med.items()},
        "ratio_over_in_process": {m: round(v / local, 2) for m, v in med.items()},
        "status_mismatches": mismatched,
    }
    print(f"{len(cases)} samples x {args.repeats}, median wall per problem (same run):")
    for m, v in med.items():
        print(
            f"  {m:<11} {v * 1000:7.1f} ms  (+{(v - local) * 1000:6.1f} ms per solve, "
            f"ratio {v / local:.2f})"
        )
    print(f"  forkserver start {start_s:.2f} s once per process")
    if mismatched:
        print("status differs between modes:", *mismatched, sep="\n  ")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 1 if mismatched else 0


if __name__ == "__main__":
    raise SystemExit(main())
