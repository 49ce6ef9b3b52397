#!/usr/bin/env python3
"""Agent solves in the pooled killable worker: what the isolation costs per solve.

Every sample problem (datasets/samples/*.yaml) is run through
``OptimizationAgent.solve`` with a scripted LLM that replies with the sample's
own formulation (no network, no latency), once with the default (every solve
and diagnosis in a long-lived worker of :class:`modeling.worker.WorkerPool`)
and once all in process (``solve_in_process=True``), alternating, ``--repeats``
times.  A worker is started before timing (the forkserver's imports are a
one-time cost per process, printed separately; the agent starts one in the
background when it is made).  Printed, measured in the same run: the median
wall time per problem of each mode, their difference (the added per-solve
overhead) and ratio; the mean CPU time the calling process spent per problem in
each mode (what an eval worker pays) and the workers' own (in 10 ms clock ticks).

Then two pathological inputs, each given to the agent with a 2 s time limit:
``maximize x ** 100000`` (refused by ``check`` before anything is built) and
a cubic sum over 40 elements (64,000 terms) whose SCIP build ignores the
solver's time limit (~36-48 s in process on a shared 2-core machine): the time until
the agent answers, and the part of it the agent's own compile (in the caller) takes.  ``--compare-in-process`` also times the latter in process.

Usage: python bench/agent_isolation.py [--repeats 5] [--json OUT] [--compare-in-process]
       [--pathological-only]
"""

from __future__ import annotations

import argparse
import json
import os
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
from modeling.compiler import compile_model  # noqa: E402
from modeling.errors import FormulationError  # noqa: E402
from modeling.formulation import load  # noqa: E402
from modeling.worker import default_pool, warm_up  # noqa: E402

MODES: dict[str, dict[str, Any]] = {
    "worker": {},  # the default: every solve in the pooled worker
    "in_process": {"solve_in_process": True},
}

POWER = {
    "variables": {"x": {"upper": 1}},
    "objective": {"sense": "max", "expression": "x ** 100000"},
}
CUBIC = {
    "sets": {"I": {"from": 1, "to": 40}},
    "variables": {"x": {"index": "I", "upper": 1}},
    "objective": {
        "sense": "max",
        "expression": "sum(x[i] * x[j] * x[k] for i in I for j in I for k in I)",
    },
}


def samples() -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for path in sorted((ROOT / "datasets" / "samples").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("problem") and data.get("formulation"):
            out.append((path.stem, str(data["problem"]), data["formulation"]))
    return out


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of a live process; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _workers_cpu() -> dict[int, float]:
    return {pid: _cpu_of(pid) for pid in default_pool().pids()}


def run_once(problem: str, doc: dict[str, Any], mode: str, **config: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"max_repairs": 0, "examples": 0, "time_limit": 30.0}
    settings.update(MODES[mode])
    settings.update(config)
    agent = OptimizationAgent(llm=FakeLLM([json.dumps(doc)] * 3), config=AgentConfig(**settings))
    before = _workers_cpu()
    c0, t0 = time.process_time(), time.perf_counter()
    result = agent.solve(problem)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    after = _workers_cpu()
    worker_cpu = sum(max(0.0, after[p] - before.get(p, 0.0)) for p in after)
    return {
        "wall": wall,
        "cpu": cpu,
        "worker_cpu": worker_cpu,
        "status": result.status,
        "answer": result.answer,
    }


def pathological(compare: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cases = [("power_x_100000", POWER, ["worker"]), ("cubic_sum_40", CUBIC, ["worker"])]
    if compare:
        cases[1][2].append("in_process")
    for name, doc, modes in cases:
        t0 = time.perf_counter()
        try:  # the agent's check compiles in its own process: the part before the solve
            compile_model(load(doc))
        except FormulationError:
            pass
        compile_s = time.perf_counter() - t0
        for mode in modes:
            r = run_once("Maximise ...", doc, mode, time_limit=2.0, sanity=False)
            out[f"{name}/{mode}"] = {
                "seconds": round(r["wall"], 2),
                "compile_s": round(compile_s, 2),
                "status": r["status"],
                "killed": "worker process was killed" in (r["answer"] or ""),
                "answer": r["answer"].splitlines()[0][:160] if r["answer"] else "",
            }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", metavar="OUT")
    parser.add_argument(
        "--compare-in-process",
        action="store_true",
        help="also time the hanging build in process (about half a minute)",
    )
    parser.add_argument("--pathological-only", action="store_true", help="skip the samples' timing")
    args = parser.parse_args()
    t0 = time.perf_counter()
    warm_up()
    start_s = time.perf_counter() - t0
    cases = [] if args.pathological_only else samples()
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    mismatched: list[str] = []
    for name, problem, doc in cases:
        for mode in MODES:  # imports, caches and the worker's first use of this model class
            run_once(problem, doc, mode)
        for _ in range(args.repeats):
            statuses = {}
            for mode in MODES:
                r = run_once(problem, doc, mode)
                rows[mode].append(r)
                statuses[mode] = r["status"]
            if len(set(statuses.values())) > 1:
                mismatched.append(f"{name}: {statuses}")
    if args.pathological_only:
        for name, r in pathological(args.compare_in_process).items():
            print(f"  {name:<24} {r['seconds']:6.2f} s  {r['status']:<10} killed={r['killed']}")
        return 0
    med = {m: statistics.median(r["wall"] for r in rs) for m, rs in rows.items()}
    # CPU as means: the workers' counters tick in 10 ms steps, a median of them says little
    cpu = {m: statistics.fmean(r["cpu"] for r in rs) for m, rs in rows.items()}
    wcpu = {m: statistics.fmean(r["worker_cpu"] for r in rs) for m, rs in rows.items()}
    local = med["in_process"]
    bad = pathological(args.compare_in_process)
    report = {
        "samples": len(cases),
        "repeats": args.repeats,
        "worker_start_s": round(start_s, 3),
        "median_problem_s": {m: round(v, 4) for m, v in med.items()},
        "added_per_solve_ms": {m: round((v - local) * 1000, 1) for m, v in med.items()},
        "ratio_over_in_process": {m: round(v / local, 2) for m, v in med.items()},
        "caller_cpu_per_problem_ms": {m: round(v * 1000, 1) for m, v in cpu.items()},
        "worker_cpu_per_problem_ms": {m: round(v * 1000, 1) for m, v in wcpu.items()},
        "pathological_2s_limit": bad,
        "status_mismatches": mismatched,
    }
    print(f"{len(cases)} samples x {args.repeats}, median per problem (same run):")
    for m, v in med.items():
        print(
            f"  {m:<11} wall {v * 1000:7.1f} ms  (+{(v - local) * 1000:5.1f} ms per solve, "
            f"ratio {v / local:.2f})  caller CPU {cpu[m] * 1000:6.1f} ms  "
            f"worker CPU {wcpu[m] * 1000:5.1f} ms"
        )
    print(f"  first worker start {start_s:.2f} s once per process (forkserver imports)")
    print("pathological inputs, agent with a 2 s time limit:")
    for name, r in bad.items():
        print(
            f"  {name:<24} {r['seconds']:6.2f} s (compile in the caller {r['compile_s']:.2f} s)"
            f"  {r['status']:<10} {'(worker killed) ' if r['killed'] else ''}{r['answer']}"
        )
    if mismatched:
        print("status differs between modes:", *mismatched, sep="\n  ")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 1 if mismatched else 0


if __name__ == "__main__":
    raise SystemExit(main())
