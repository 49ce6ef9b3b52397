#!/usr/bin/env python3
"""Agent solves in a killable worker: what the isolation costs per solve.

Every sample problem (datasets/samples/*.yaml) is run through
``OptimizationAgent.solve`` with a scripted LLM that replies with the sample's
own formulation (no network, no latency), once with solves in the killable
worker (the default, :func:`modeling.worker.solve_isolated`) and once in
process (``AgentConfig(solve_in_process=True)``), alternating, ``--repeats``
times. The worker's forkserver is started before timing (a one-time cost per
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


def run_once(problem: str, doc: dict[str, Any], in_process: bool) -> tuple[float, str]:
    config = AgentConfig(max_repairs=0, examples=0, time_limit=30.0, solve_in_process=in_process)
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
    times: dict[bool, list[float]] = {True: [], False: []}
    mismatched: list[str] = []
    for name, problem, doc in cases:
        run_once(problem, doc, True)  # imports and caches of this model class
        for _ in range(args.repeats):
            statuses = {}
            for in_process in (False, True):
                wall, status = run_once(problem, doc, in_process)
                times[in_process].append(wall)
                statuses[in_process] = status
            if statuses[True] != statuses[False]:
                mismatched.append(f"{name}: {statuses}")
    isolated = statistics.median(times[False])
    local = statistics.median(times[True])
    report = {
        "samples": len(cases),
        "repeats": args.repeats,
        "forkserver_start_s": round(start_s, 3),
        "median_problem_s_isolated": round(isolated, 4),
        "median_problem_s_in_process": round(local, 4),
        "added_per_solve_ms": round((isolated - local) * 1000, 1),
        "ratio_isolated_over_in_process": round(isolated / local, 2),
        "status_mismatches": mismatched,
    }
    print(
        f"{len(cases)} samples x {args.repeats}: median per problem "
        f"{isolated * 1000:.1f} ms in the worker vs {local * 1000:.1f} ms in process "
        f"(+{(isolated - local) * 1000:.1f} ms per solve, ratio {isolated / local:.2f}); "
        f"forkserver start {start_s:.2f} s once per process"
    )
    if mismatched:
        print("status differs between modes:", *mismatched, sep="\n  ")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 1 if mismatched else 0


if __name__ == "__main__":
    raise SystemExit(main())
