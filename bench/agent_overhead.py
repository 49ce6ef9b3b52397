#!/usr/bin/env python3
"""Agent overhead: what the agent itself costs around the LLM, and how batches scale.

Part 1 - overhead per problem
  A loopback OpenAI-compatible stub answers instantly, each sample problem
  (datasets/samples/*.yaml) with that sample's own reference formulation, through the
  real ``openai`` client. For every sample the agent's wall time is split into the LLM
  round trips (client + loopback HTTP + stub, from the trace) and the rest: the graph,
  prompt building and few-shot selection, JSON parsing, checking, compiling, solving,
  verifying and explaining. Target: the rest stays under 50 ms per sample.
  Samples that are infeasible or unbounded on purpose take a repair round (the stub
  returns the same document, so the verdict is accepted) and an IIS or ray analysis;
  samples whose model class has no installed solver end in status "error".

Part 2 - batch scaling
  The stub sleeps ``--latency`` seconds (default 0.5) per request. ``solve_many`` runs N
  problems (default 100, cycled over the samples that solve in one call) at each
  concurrency (default 1, 8, 32). The ideal wall time is N x latency / concurrency; the
  ratio ideal / wall is printed (target >= 0.9 at concurrency 32). When N is not a
  multiple of the concurrency, the last partial round of requests makes the ideal
  unreachable: ceil(N / c) x latency is the real lower bound, so both ratios are shown.

Usage: python bench/agent_overhead.py [--quick] [--repeats 3] [--problems 100]
                                      [--latency 0.5] [--concurrency 1,8,32] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.api import OptimizationAgent  # noqa: E402
from agent.llm import OpenAIChatModel  # noqa: E402
from agent.settings import LLMSettings  # noqa: E402
from agent.stub_server import StubServer  # noqa: E402

SAMPLES = ROOT / "datasets" / "samples"
TARGET_OVERHEAD_MS = 50.0
TARGET_SCALING = 0.9
SCALING_SOLVE_MS = 10.0


@dataclass
class Sample:
    id: str
    problem: str
    formulation: dict[str, Any]
    model_class: str


def load_samples() -> list[Sample]:
    out = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        out.append(
            Sample(
                id=str(data["id"]),
                problem=str(data["problem"]),
                formulation=data["formulation"],
                model_class=str(data.get("model_class", "")),
            )
        )
    return out


class Replier:
    """The stub's handler: each problem gets its own sample's formulation."""

    def __init__(self, samples: list[Sample]) -> None:
        self.by_problem = {s.problem.strip(): json.dumps(s.formulation) for s in samples}

    def __call__(self, body: dict[str, Any]) -> str:
        text = str(body["messages"][-1]["content"])
        for marker in ("## Problem\n\n",):
            if marker in text:
                text = text.split(marker, 1)[1]
        for problem, reply in self.by_problem.items():
            if text.startswith(problem) or problem in text:
                return reply
        return '{"error": "unknown problem"}'


def make_agent(base_url: str) -> OptimizationAgent:
    settings = LLMSettings(
        base_url=base_url,
        api_key="bench-key",
        model="gpt-4o-mini",
        timeout=60.0,
        max_retries=0,
        cache_dir=None,
    )
    return OptimizationAgent(llm=OpenAIChatModel(settings))


@contextlib.contextmanager
def quiet_fd1() -> Iterator[None]:
    """Solver banners written by C code to fd 1 go to stderr, so the report stays clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


# ------------------------------------------------------------------ part 1


@dataclass
class Overhead:
    id: str
    model_class: str
    status: str
    llm_calls: int
    wall_ms: float
    llm_ms: float
    agent_ms: float
    solve_ms: float
    nodes_ms: dict[str, float] = field(default_factory=dict)
    runs_ms: list[float] = field(default_factory=list)


def measure_overhead(samples: list[Sample], repeats: int) -> list[Overhead]:
    with StubServer(handler=Replier(samples)) as stub:
        agent = make_agent(stub.base_url)
        with quiet_fd1():
            for s in samples:  # warm-up: imports, solver start-up, few-shot cache
                agent.solve(s.problem)
            records: dict[str, list[tuple[float, float, float, dict[str, float], Any]]] = {}
            for _ in range(repeats):
                for s in samples:  # round robin, so bursts of load hit every sample
                    t0 = time.perf_counter()
                    result = agent.solve(s.problem)
                    wall = time.perf_counter() - t0
                    calls = result.trace.llm_calls
                    llm = sum(float(c["latency_s"]) for c in calls)
                    nodes: dict[str, float] = {}
                    for e in result.trace.events:
                        if e["kind"] == "node":
                            nodes[e["node"]] = nodes.get(e["node"], 0.0) + float(e["duration_s"])
                    records.setdefault(s.id, []).append((wall, llm, len(calls), nodes, result))
    out = []
    for s in samples:
        runs = records[s.id]
        walls = [r[0] for r in runs]
        k = walls.index(sorted(walls)[len(walls) // 2])  # the median run, kept whole
        wall, llm, calls, nodes, result = runs[k]
        out.append(
            Overhead(
                id=s.id,
                model_class=result.model_class or s.model_class,
                status=result.status,
                llm_calls=calls,
                wall_ms=1000 * wall,
                llm_ms=1000 * llm,
                agent_ms=1000 * (wall - llm),
                solve_ms=1000 * nodes.get("solve", 0.0),
                nodes_ms={n: round(1000 * v, 3) for n, v in nodes.items()},
                runs_ms=[round(1000 * w, 3) for w in walls],
            )
        )
    return out


def report_overhead(rows: list[Overhead]) -> dict[str, Any]:
    print("\n## Part 1: the agent's own time per sample (stub answers instantly)\n")
    print(
        "| sample | class | status | LLM calls | wall ms | LLM round trips ms | agent ms | of which solve ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.id} | {r.model_class} | {r.status} | {r.llm_calls} | {r.wall_ms:.1f} | "
            f"{r.llm_ms:.1f} | {r.agent_ms:.1f} | {r.solve_ms:.1f} |"
        )
    agent_ms = [r.agent_ms for r in rows]
    one_call = [r.agent_ms for r in rows if r.llm_calls == 1]
    over = [r.id for r in rows if r.agent_ms >= TARGET_OVERHEAD_MS]
    without_solver = [r.agent_ms - r.solve_ms for r in rows]
    over_without = [r.id for r in rows if r.agent_ms - r.solve_ms >= TARGET_OVERHEAD_MS]
    stats = {
        "median_ms": statistics.median(agent_ms),
        "p90_ms": sorted(agent_ms)[max(0, math.ceil(0.9 * len(agent_ms)) - 1)],
        "max_ms": max(agent_ms),
        "median_one_call_ms": statistics.median(one_call) if one_call else None,
        "llm_round_trip_median_ms": statistics.median(r.llm_ms / max(1, r.llm_calls) for r in rows),
        "over_target": over,
        "median_without_solve_ms": statistics.median(without_solver),
        "max_without_solve_ms": max(without_solver),
        "over_target_without_solve": over_without,
    }
    node_names = ["formulate", "check", "solve", "verify", "repair", "explain"]
    print(
        "\nMedian time per node over the samples (ms; formulate and repair include their LLM call):"
    )
    print(
        "  "
        + "  ".join(
            f"{n}={statistics.median(r.nodes_ms.get(n, 0.0) for r in rows):.2f}" for n in node_names
        )
    )
    print(
        f"\nagent overhead per sample: median {stats['median_ms']:.1f} ms, "
        f"p90 {stats['p90_ms']:.1f} ms, max {stats['max_ms']:.1f} ms "
        f"(one LLM call: median {stats['median_one_call_ms']:.1f} ms); "
        f"one loopback LLM round trip: median {stats['llm_round_trip_median_ms']:.1f} ms"
    )
    verdict = "PASS" if not over else f"{len(over)} over: {', '.join(over)}"
    print(f"target < {TARGET_OVERHEAD_MS:.0f} ms per sample, solving included: {verdict}")
    slow = sorted(rows, key=lambda r: -r.solve_ms)[: len(over)]
    if over:
        print(
            "  (the solve node alone takes "
            + ", ".join(f"{r.id} {r.solve_ms:.0f} ms" for r in slow)
            + ")"
        )
    verdict = "PASS" if not over_without else f"{len(over_without)} over: {', '.join(over_without)}"
    print(
        f"without the solver's own time: median {stats['median_without_solve_ms']:.1f} ms, "
        f"max {stats['max_without_solve_ms']:.1f} ms: {verdict}"
    )
    return stats


# ------------------------------------------------------------------ part 2


@dataclass
class Scaling:
    concurrency: int
    problems: int
    latency_s: float
    wall_s: float
    ideal_s: float
    rounds_bound_s: float
    ratio_ideal: float
    ratio_rounds: float
    statuses: dict[str, int]


def serve_stub(samples: list[Sample], latency: float, conn: Connection) -> None:
    """Run the stub in its own process: a real LLM server does not share our CPU or GIL."""
    import http.server

    # A listen backlog of 5 (socketserver's default) drops connections when 32 requests
    # open at once, and the client then waits a 1 s SYN retransmit: not the agent's cost.
    http.server.ThreadingHTTPServer.request_queue_size = 1024
    with StubServer(handler=Replier(samples), latency=latency) as stub:
        conn.send(stub.base_url)
        while True:
            message = conn.recv()
            if message == "stop":
                return
            stub.latency = float(message)
            conn.send("ok")


@contextlib.contextmanager
def remote_stub(samples: list[Sample], latency: float) -> Iterator[tuple[str, Connection]]:
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=serve_stub, args=(samples, latency, theirs), daemon=True)
    process.start()
    try:
        yield str(ours.recv()), ours
    finally:
        ours.send("stop")
        process.join(timeout=5)
        if process.is_alive():
            process.terminate()


def measure_scaling(
    samples: list[Sample], problems: int, latency: float, levels: list[int]
) -> list[Scaling]:
    runs = [(c, problems) for c in levels]
    top = max(levels)
    if problems % top:  # also show whole rounds of requests at the top concurrency
        runs.append((top, top * math.ceil(problems / top)))
    out = []
    with remote_stub(samples, 0.0) as (base_url, control):
        agent = make_agent(base_url)
        with quiet_fd1():
            warm = [samples[i % len(samples)].problem for i in range(32)]
            agent.solve_many(warm, concurrency=32)  # imports, clients, solver start-up
            control.send(latency)
            control.recv()
            for c, n in runs:
                batch = [samples[i % len(samples)].problem for i in range(n)]
                t0 = time.perf_counter()
                results = agent.solve_many(batch, concurrency=c)
                wall = time.perf_counter() - t0
                statuses: dict[str, int] = {}
                for r in results:
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                ideal = n * latency / c
                bound = math.ceil(n / c) * latency
                out.append(
                    Scaling(c, n, latency, wall, ideal, bound, ideal / wall, bound / wall, statuses)
                )
                print(
                    f"  concurrency {c:>3}: {n} problems in {wall:.2f} s (ideal {ideal:.2f} s, "
                    f"{ideal / wall:.1%}; whole-round bound {bound:.2f} s, {bound / wall:.1%}) "
                    f"statuses {statuses}",
                    file=sys.stderr,
                )
    return out


def measure_without_http(samples: list[Sample], problems: int, latency: float, c: int) -> Scaling:
    """The same batch with an in-process FakeLLM that sleeps ``latency``: no HTTP stack.

    The difference to the stub run is what the openai client, httpx and the loopback
    socket cost per request; what remains is the agent (graph, checks, solves) itself.
    """
    from agent.fake import FakeLLM

    replier = Replier(samples)
    fake = FakeLLM(rules=[(lambda _t: True, lambda m: replier({"messages": m}))], latency=latency)
    agent = OptimizationAgent(llm=fake)
    batch = [samples[i % len(samples)].problem for i in range(problems)]
    with quiet_fd1():
        agent.solve_many(batch[:32], concurrency=32)
        t0 = time.perf_counter()
        results = agent.solve_many(batch, concurrency=c)
        wall = time.perf_counter() - t0
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    ideal = problems * latency / c
    bound = math.ceil(problems / c) * latency
    return Scaling(c, problems, latency, wall, ideal, bound, ideal / wall, bound / wall, statuses)


def report_scaling(rows: list[Scaling], no_http: Scaling | None = None) -> None:
    print("\n## Part 2: solve_many with a stub latency per request\n")
    print(
        "| concurrency | problems | latency s | wall s | ideal N·L/c s | ideal / wall | ceil(N/c)·L s | bound / wall |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.concurrency} | {r.problems} | {r.latency_s:g} | {r.wall_s:.2f} | {r.ideal_s:.2f} | "
            f"{r.ratio_ideal:.1%} | {r.rounds_bound_s:.2f} | {r.ratio_rounds:.1%} |"
        )
    top = max((r for r in rows if r.problems == rows[0].problems), key=lambda r: r.concurrency)
    verdict = "PASS" if top.ratio_ideal >= TARGET_SCALING else "below"
    print(
        f"\nat concurrency {top.concurrency}: {top.ratio_ideal:.1%} of the ideal N·L/c "
        f"(target >= {TARGET_SCALING:.0%}: {verdict}); {top.ratio_rounds:.1%} of the "
        f"ceil(N/c)·L bound"
    )
    if no_http is not None:
        print(
            f"without the HTTP stack (in-process FakeLLM sleeping {no_http.latency_s:g} s), "
            f"concurrency {no_http.concurrency}, {no_http.problems} problems: "
            f"{no_http.wall_s:.2f} s = {no_http.ratio_ideal:.1%} of the ideal, "
            f"{no_http.ratio_rounds:.1%} of the ceil(N/c)·L bound"
        )
    if top.problems % top.concurrency:
        best = top.rounds_bound_s and top.ideal_s / top.rounds_bound_s
        print(
            f"note: {top.problems} problems at concurrency {top.concurrency} need "
            f"{math.ceil(top.problems / top.concurrency)} rounds of requests; even with zero "
            f"overhead the ideal ratio cannot exceed {best:.1%}; the last row runs "
            f"{top.concurrency * math.ceil(top.problems / top.concurrency)} problems, whole rounds."
        )


# -------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1 repeat, 32 problems in part 2")
    parser.add_argument("--repeats", type=int, default=3, help="runs per sample in part 1")
    parser.add_argument("--problems", type=int, default=100, help="problems in part 2")
    parser.add_argument("--latency", type=float, default=0.5, help="stub latency in part 2 (s)")
    parser.add_argument("--concurrency", default="1,8,32", help="levels for part 2")
    parser.add_argument("--skip-scaling", action="store_true", help="part 1 only")
    parser.add_argument(
        "--all-samples", action="store_true", help="part 2 also over samples with slow solves"
    )
    parser.add_argument("--json", metavar="OUT", help="also write every record as JSON")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    problems = min(args.problems, 32) if args.quick else args.problems
    levels = [int(x) for x in args.concurrency.split(",") if x.strip()]

    samples = load_samples()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# Agent overhead ({len(samples)} samples, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load:.2f} at start)"
    )
    t0 = time.perf_counter()
    rows = measure_overhead(samples, repeats)
    stats = report_overhead(rows)
    scaling: list[Scaling] = []
    no_http: Scaling | None = None
    if not args.skip_scaling:
        # Only samples that solve in one LLM call (a repair round would double a problem's
        # latency) and, unless --all-samples, whose solve takes under 10 ms: solver time is
        # CPU work no concurrency can hide on a small machine, and this part measures the
        # agent's scaling, not the solver's.
        simple = [
            s
            for s, r in zip(samples, rows, strict=True)
            if r.llm_calls == 1
            and r.status == "optimal"
            and (args.all_samples or r.solve_ms < SCALING_SOLVE_MS)
        ]
        print(f"\npart 2 problems cycle over: {', '.join(s.id for s in simple)}")
        scaling = measure_scaling(simple, problems, args.latency, levels)
        no_http = measure_without_http(simple, problems, args.latency, max(levels))
        report_scaling(scaling, no_http)
    print(f"\n(total bench time {time.perf_counter() - t0:.1f} s)")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "repeats": repeats,
                    "overhead": [asdict(r) for r in rows],
                    "overhead_stats": stats,
                    "scaling": [asdict(r) for r in scaling],
                    "scaling_without_http": asdict(no_http) if no_http else None,
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
