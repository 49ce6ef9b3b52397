#!/usr/bin/env python3
"""Eval throughput: how close an eval run gets to the LLM's latency bound, and resume cost.

A toy dataset of N problems (default 200) cycles over the LP sample problems
(datasets/samples/*.yaml; ``--all-samples``: every class) that the agent solves in one
LLM call; a loopback OpenAI-compatible stub answers each with that sample's own
reference formulation after sleeping ``--latency`` seconds (default 1).
The stub runs in its own process, so its threads do not compete for our GIL (a real
LLM server does not share our CPU either). Each problem goes through the whole stack:
the eval runner (semaphore, scoring, results.jsonl with fsync), AgentSolver, the
agent graph, the real ``openai`` client over loopback HTTP, checking, solving.

For every concurrency C (default 1, 16, 64) the wall time is compared with

- the ideal N x L / C, and
- ceil(N / C) x L: requests go out in rounds of C, so when C does not divide N
  the last round is partly empty and the ideal cannot be reached (200 at C=64 needs
  4 rounds: 4 s, not 3.125 s). A run of C x ceil(N/C) problems (whole rounds) is
  added at the top concurrency to show the ratio without that artefact.

"harness only" rows replace the agent by a solver that sleeps L and answers: what the
runner alone costs. "agent, no HTTP" rows run the same agent over an in-process FakeLLM
that sleeps L: the difference to the "agent" rows is the openai client, httpx and the
loopback socket. Per problem the table shows the mean latency above L (the time a
problem spent outside the LLM call) and our process's CPU time per problem.

Executors (``--executors local,process,ray``): the same agent runs with its CPU work in
the event loop (local), in a pool of worker processes (process; one per core but one,
the default) or in Ray actors on a local Ray (ray; one per core); the LLM calls stay in
this process. Each executor gets its own row at every concurrency. Ray is then run with
1 and 2 actors at the top-but-one concurrency: problems per minute, the actors' CPU per
problem, and the projection to N actors (min of the latency bound C·60/L,
N·60/actor-CPU, and 60/parent-CPU).

Per phase: the agent over a FakeLLM without latency, in this process, one problem at a
time; the mean CPU per problem (process time) of each phase: few-shot example retrieval,
hints, prompt templates, the reply's JSON parse, check (compile), solve, verify, explain,
the result bookkeeping, and the rest of the run (the solve loop's runtime, node adapters
and trace); plus the real openai client's CPU per call against the stub.

Resume: the finished top-concurrency run is run again (every id is skipped), once in
process (prepare_run + execute) and once through the real command line in a fresh
interpreter (``optiwise eval --dataset toy --run-id ...``), imports included.
Targets: >= 90% of the ceil(N/C)·L bound at C = 64 with the process executor, resume < 2 s.

Usage: python bench/eval_throughput.py [--quick] [--problems 200] [--latency 1.0]
                                       [--concurrency 16,64,256] [--executors local,process,ray]
                                       [--workers N] [--baselines] [--all-samples] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent.api import OptimizationAgent  # noqa: E402
from agent.llm import OpenAIChatModel  # noqa: E402
from agent.settings import LLMSettings  # noqa: E402
from agent.stub_server import StubServer  # noqa: E402
from evals.agent_solver import AgentSolver  # noqa: E402
from evals.executors import ProcessExecutor, RayExecutor, default_workers  # noqa: E402
from evals.loaders import Dataset  # noqa: E402
from evals.problems import Problem, normalize_answer  # noqa: E402
from evals.results import read_results  # noqa: E402
from evals.runner import Solver, execute, prepare_run  # noqa: E402

SAMPLES = ROOT / "datasets" / "samples"
TARGET_RATIO = 0.9
TARGET_C = 64
TARGET_RESUME_S = 2.0
MODEL = "stub-model"


@dataclass(frozen=True)
class Sample:
    id: str
    problem: str
    formulation: dict[str, Any]
    objective: float | None
    model_class: str


def load_samples() -> list[Sample]:
    out = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        answer = data.get("answer") or {}
        out.append(
            Sample(
                id=str(data["id"]),
                problem=str(data["problem"]).strip(),
                formulation=data["formulation"],
                objective=answer.get("objective") if answer.get("status") == "optimal" else None,
                model_class=str(data.get("model_class") or ""),
            )
        )
    return out


def toy_dataset(samples: list[Sample], n: int) -> Dataset:
    problems = tuple(
        Problem(
            id=f"q{i:04d}-{s.id}",
            dataset="toy.samples",
            question=s.problem,
            answer=normalize_answer(s.objective if s.objective is not None else "infeasible"),
        )
        for i, s in ((i, samples[i % len(samples)]) for i in range(n))
    )
    return Dataset(name="toy.samples", family="toy", variant="samples", problems=problems)


# ---------------------------------------------------------------- the stub


class Replier:
    """The stub's handler: the reference formulation of the problem the request names."""

    def __init__(self, replies: Mapping[str, str]) -> None:
        self.replies = dict(replies)

    def __call__(self, body: dict[str, Any]) -> str:
        text = str(body["messages"][-1]["content"]).split("## Problem\n\n", 1)[-1]
        for problem, reply in self.replies.items():
            if text.startswith(problem):
                return reply
        return '{"error": "unknown problem"}'


def serve_stub(replies: dict[str, str], conn: Connection) -> None:
    """The stub in its own process; the parent sets its latency through ``conn``."""
    with StubServer(handler=Replier(replies)) as stub:
        conn.send(stub.base_url)
        while True:
            message = conn.recv()
            if message == "stop":
                return
            if message == "in_flight":
                conn.send(stub.max_in_flight)
                continue
            stub.latency = float(message)
            stub.max_in_flight = 0
            conn.send("ok")


@contextlib.contextmanager
def remote_stub(samples: list[Sample]) -> Iterator[tuple[str, Connection]]:
    replies = {s.problem: json.dumps(s.formulation) for s in samples}
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    process = ctx.Process(target=serve_stub, args=(replies, theirs), daemon=True)
    process.start()
    if process.pid is not None:
        NOT_OURS.add(process.pid)
    try:
        yield str(ours.recv()), ours
    finally:
        ours.send("stop")
        process.join(timeout=5)
        if process.is_alive():
            process.terminate()


def set_latency(control: Connection, latency: float) -> None:
    control.send(latency)
    control.recv()


def make_agent(base_url: str) -> OptimizationAgent:
    settings = LLMSettings(
        base_url=base_url,
        api_key=SecretStr("bench-key"),
        model=MODEL,
        timeout=120.0,
        max_retries=0,
        cache_dir=None,
    )
    agent = OptimizationAgent(llm=OpenAIChatModel(settings), max_repairs=1)
    if SOLVE_IN_PROCESS:
        agent.config = agent.config.with_(solve_in_process=True)
    return agent


SOLVE_IN_PROCESS = False
"""``--solve-in-process``: the agent solves in its own process, not in a killable child."""


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


class SleepingSolver:
    """The harness alone: sleeps like the LLM, then answers the reference value."""

    def __init__(self, latency: float) -> None:
        self.latency = latency

    async def solve(self, problem: Problem) -> dict[str, Any]:
        await asyncio.sleep(self.latency)
        answer = problem.answer
        if answer.kind == "infeasible":
            return {"status": "infeasible", "trace_id": "t"}
        return {"status": "optimal", "objective": answer.value, "trace_id": "t"}


# ------------------------------------------------------------------ timing


NOT_OURS: set[int] = set()
"""Processes whose CPU is not the eval's (the stub: an LLM server does not share our CPU)."""


def _proc_cpu(pid: int) -> tuple[float, int] | None:
    """(utime + stime + reaped children's, parent pid) of ``pid`` from /proc; None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(f) for f in fields[11:15]) / ticks, int(fields[1])


def tree_cpu(exclude: set[int]) -> float | None:
    """CPU seconds of this process and every descendant but ``exclude`` (Linux; else None).

    Counts the eval workers, the solve workers they fork (an agent solve runs in a
    killable child by default: reaped children count in their parent's figure) and
    Ray's processes when they are our descendants; ``exclude`` is the stub (the LLM
    server is not our work). A descendant that ended and was reaped by a process
    outside the tree is missed.
    """
    if not Path("/proc/self/stat").exists():
        return None
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            got = _proc_cpu(int(entry.name))
            if got is not None:
                cpu[int(entry.name)], parents[int(entry.name)] = got
    root = os.getpid()
    total = 0.0
    for pid in cpu:
        p = pid
        while p and p != root and p not in exclude:
            p = parents.get(p, 0)
        if p == root and pid not in exclude:
            total += cpu[pid]
    return total


@dataclass
class Row:
    kind: str
    concurrency: int
    problems: int
    latency_s: float
    wall_s: float
    ideal_s: float
    bound_s: float
    ratio_ideal: float
    ratio_bound: float
    mean_extra_ms: float
    cpu_ms_per_problem: float
    accuracy: float | None
    statuses: dict[str, int] = field(default_factory=dict)
    peak_in_flight: int | None = None
    worker_cpu_ms_per_problem: float | None = None
    tree_cpu_ms_per_problem: float | None = None

    @property
    def per_minute(self) -> float:
        return 60 * self.problems / self.wall_s


def timed_run(
    kind: str,
    dataset: Dataset,
    solver: Solver,
    out: Path,
    run_id: str,
    concurrency: int,
    latency: float,
    control: Connection | None = None,
    timeout_s: float | None = None,
    exclude: set[int] | None = None,
) -> Row:
    plan = prepare_run(
        dataset,
        model_name=MODEL,
        out_dir=out,
        run_id=run_id,
        concurrency=concurrency,
        timeout_s=timeout_s,
    )
    n = len(plan.problems)
    executor = getattr(solver, "executor", None)
    workers_cpu = getattr(executor, "cpu_seconds", None)
    wcpu0 = workers_cpu() if callable(workers_cpu) else None
    tree0 = tree_cpu(exclude or NOT_OURS)
    cpu0, t0 = time.process_time(), time.perf_counter()
    summary = asyncio.run(execute(plan, solver, progress=False))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    wcpu1 = workers_cpu() if callable(workers_cpu) else None
    tree1 = tree_cpu(exclude or NOT_OURS)
    results = read_results(plan.results_path)
    extra = statistics.fmean(r.latency_s for r in results) - latency
    peak = None
    if control is not None:
        control.send("in_flight")
        peak = int(control.recv())
    ideal = n * latency / concurrency
    bound = math.ceil(n / concurrency) * latency
    row = Row(
        kind=kind,
        concurrency=concurrency,
        problems=n,
        latency_s=latency,
        wall_s=wall,
        ideal_s=ideal,
        bound_s=bound,
        ratio_ideal=ideal / wall,
        ratio_bound=bound / wall,
        mean_extra_ms=1000 * extra,
        cpu_ms_per_problem=1000 * cpu / n,
        accuracy=summary.accuracy,
        statuses=dict(summary.status_counts),
        peak_in_flight=peak,
        worker_cpu_ms_per_problem=(
            None if wcpu0 is None or wcpu1 is None else 1000 * (wcpu1 - wcpu0) / n
        ),
        tree_cpu_ms_per_problem=(
            None if tree0 is None or tree1 is None else 1000 * (tree1 - tree0) / n
        ),
    )
    print(
        f"  {kind:<16} C={concurrency:>3} N={n:>3}: {wall:6.2f} s (ideal {ideal:.2f} s "
        f"{row.ratio_ideal:.1%}, rounds bound {bound:.2f} s {row.ratio_bound:.1%}); "
        f"+{row.mean_extra_ms:.1f} ms/problem over L, CPU {row.cpu_ms_per_problem:.1f} ms/problem "
        f"here, {row.tree_cpu_ms_per_problem or 0:.1f} in all our processes",
        file=sys.stderr,
    )
    return row


def pick_samples(samples: list[Sample], base_url: str, all_samples: bool) -> list[Sample]:
    """The LP samples (all samples with ``all_samples``) that the agent solves in one call.

    A repair round would double a problem's latency, and a slow MILP or NLP solve is
    CPU work that no concurrency hides on a small machine: this bench measures the eval
    pipeline, so by default it uses the class most benchmark problems belong to (LP).
    """
    agent = make_agent(base_url)
    chosen = [s for s in samples if all_samples or s.model_class == "LP"]

    async def probe() -> list[Any]:
        return [await agent.asolve(s.problem) for s in chosen]

    results = asyncio.run(probe())
    return [
        s
        for s, r in zip(chosen, results, strict=True)
        if r.status == "optimal" and len(r.trace.llm_calls) == 1
    ]


def fake_agent(samples: list[Sample], latency: float) -> OptimizationAgent:
    """The same agent over an in-process FakeLLM that sleeps ``latency``: no HTTP stack."""
    from agent.fake import FakeLLM

    replier = Replier({s.problem: json.dumps(s.formulation) for s in samples})
    fake = FakeLLM(
        rules=[(lambda _text: True, lambda messages: replier({"messages": messages}))],
        model=MODEL,
        latency=latency,
    )
    return OptimizationAgent(llm=fake, max_repairs=1)


# ------------------------------------------------------------------- resume

REGISTRY = """
[[dataset]]
name = "toy.samples"
family = "toy"
variant = "samples"
title = "bench problems"
repo = "optiwise/bench"
commit = "0000000"
path = "toy.jsonl"
local_path = "toy/samples.jsonl"
format = "jsonl"
license = "MIT"
count = {count}
id_field = "id"
"""


def resume_in_process(dataset: Dataset, solver: Solver, out: Path, run_id: str) -> float:
    t0 = time.perf_counter()
    plan = prepare_run(dataset, model_name=MODEL, out_dir=out, run_id=run_id, concurrency=64)
    summary = asyncio.run(execute(plan, solver, progress=False))
    elapsed = time.perf_counter() - t0
    assert summary.complete and summary.n_done == len(dataset.problems)
    return elapsed


def resume_cli(dataset: Dataset, out: Path, run_id: str, base_url: str) -> tuple[float, float]:
    """``optiwise eval`` on the finished run in a fresh interpreter; and the CLI's start-up.

    The start-up is Python plus the command line's own imports (``optiwise --help``);
    the agent (LangGraph, openai) is imported only when a problem is left to solve.
    """
    data = out / "data"
    (data / "toy").mkdir(parents=True, exist_ok=True)
    records = [
        {"id": p.id, "en_question": p.question, "en_answer": p.answer.raw} for p in dataset.problems
    ]
    (data / "toy" / "samples.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records), encoding="utf-8"
    )
    registry = out / "registry.toml"
    registry.write_text(REGISTRY.format(count=len(records)), encoding="utf-8")
    env = {**os.environ, "OPTIWISE_REGISTRY": str(registry)}
    command = [
        sys.executable,
        "-m",
        "agent.cli",
        "eval",
        "--dataset",
        "toy.samples",
        "--model",
        MODEL,
        "--base-url",
        base_url,
        "--data-dir",
        str(data),
        "--out",
        str(out),
        "--run-id",
        run_id,
        "--no-progress",
        "--json",
    ]
    t0 = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"optiwise eval failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["n_done"] == len(records), summary
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import agent.cli; agent.cli.build_parser()"],
        cwd=ROOT,
        check=True,
    )
    return elapsed, time.perf_counter() - t0


# ---------------------------------------------------------------- per phase


def per_phase(fast: list[Sample], n: int) -> dict[str, float]:
    """Mean CPU ms per problem of each phase, the agent over a FakeLLM without latency.

    Runs in this process, one problem at a time, and reads ``time.process_time`` (CPU of
    every thread, so the solve's worker thread counts) around the leaf functions the
    nodes call: few-shot example retrieval, the problem-class hints, prompt templating,
    the reply's JSON parse, check (compile), solve, binding labels, verify, explain.
    What is left of the agent run is the LangGraph runtime with the node wrappers and
    the trace (plus the FakeLLM, a few µs). ``outcome + result line`` is turning the
    AgentResult into the runner's mapping and scoring its results.jsonl line. The
    HTTP client's share is measured apart (:func:`client_cpu`), since the FakeLLM
    has none.

    The node tables are rebuilt with the wrapped functions and restored afterwards (nodes
    are looked up when a table is built).
    """
    import functools
    import inspect

    import agent.graph as graph
    import agent.nodes as nodes
    from evals.agent_solver import outcome_from_result
    from evals.results import build_result
    from evals.scoring import ALL_PROTOCOLS

    acc: dict[str, float] = {}

    def add(label: str, seconds: float) -> None:
        acc[label] = acc.get(label, 0.0) + seconds

    def wrap(module: Any, attr: str, label: str) -> tuple[Any, str, Any]:
        fn = getattr(module, attr)
        new: Any
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def new(*a: Any, **k: Any) -> Any:
                t = time.process_time()
                try:
                    return await fn(*a, **k)
                finally:
                    add(label, time.process_time() - t)

        else:

            @functools.wraps(fn)
            def new(*a: Any, **k: Any) -> Any:
                t = time.process_time()
                try:
                    return fn(*a, **k)
                finally:
                    add(label, time.process_time() - t)

        setattr(module, attr, new)
        return module, attr, fn

    patches = [
        wrap(nodes, "pick_examples", "few-shot examples: pick"),
        wrap(nodes, "render_examples", "few-shot examples: render"),
        wrap(nodes, "pick_class", "hints: pick the class"),
        wrap(nodes, "render_hints", "hints: render"),
        wrap(nodes, "prompt_messages", "prompt templates"),
        wrap(nodes, "parse_document", "reply JSON parse"),
        wrap(nodes, "compile_model", "check (compile)"),
        wrap(
            nodes, "_run_solve", "solve (this process's share; an isolated solve runs in a child)"
        ),
        wrap(nodes, "_binding_labels", "binding labels"),
        wrap(graph, "verify_node", "verify"),
        wrap(nodes, "explain", "explain"),
        wrap(nodes, "aexplain", "explain"),
    ]
    # The node tables are built once per process (the compiled graphs, and the plain solve
    # loop's table): rebuild them with the wrapped functions, put the originals back after.
    tables = (getattr(graph, "_COMPILED", None), getattr(graph, "_LOOP_NODES", None))
    caches: list[dict[Any, Any]] = [c for c in tables if c is not None]
    saved = [dict(c) for c in caches]
    for c in caches:
        c.clear()
    agent = fake_agent(fast, 0.0)
    dataset = toy_dataset(fast, n)
    total = "agent run (all)"
    bookkeeping = "outcome + result line"

    async def go() -> None:
        for problem in dataset.problems:
            t = time.process_time()
            result = await agent.asolve(problem.question)
            add(total, time.process_time() - t)
            t = time.process_time()
            outcome = outcome_from_result(result)
            build_result(problem, outcome, protocols=ALL_PROTOCOLS, latency_s=0.0)
            add(bookkeeping, time.process_time() - t)

    try:
        asyncio.run(go())
    finally:
        for module, attr, fn in patches:
            setattr(module, attr, fn)
        for c, before in zip(caches, saved, strict=True):
            c.clear()
            c.update(before)
    out = {k: 1000 * v / n for k, v in acc.items()}
    inner = sum(v for k, v in out.items() if k not in (total, bookkeeping))
    out["solve loop runtime, node adapters, trace (the rest of the run)"] = out.pop(total) - inner
    return out


def client_cpu(base_url: str, fast: list[Sample], calls: int = 200) -> float:
    """CPU ms of this process per formulate call through the real ``openai`` client.

    The stub (its own process) answers at once; 16 calls in flight. This is the
    parent's share of a problem under the process and Ray executors (request building,
    httpx, response parsing, usage), besides the runner's bookkeeping.
    """
    from agent.nodes import formulate_messages

    agent = make_agent(base_url)
    ctx = agent._context(agent._trace("bench")).for_candidate(0)
    messages = [formulate_messages(s.problem, ctx) for s in fast]

    async def go(k: int) -> None:
        gate = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with gate:
                await agent.llm.acomplete(messages[i % len(messages)], json=True)

        await asyncio.gather(*(one(i) for i in range(k)))

    async def measure() -> float:
        await go(32)  # warm: connections, lazy imports
        t = time.process_time()
        await go(calls)
        return 1000 * (time.process_time() - t) / calls

    return asyncio.run(measure())


# ------------------------------------------------------------------- report


def report(
    rows: list[Row],
    resume: dict[str, float],
    fast: list[Sample],
    phases: dict[str, float],
    projection: list[dict[str, float]],
) -> None:
    print("\n## Eval throughput (stub latency L per request, stub in its own process)\n")
    print(f"problems cycle over {len(fast)} samples: {', '.join(s.id for s in fast)}\n")
    print(
        "| run | C | N | L s | wall s | problems/min | ceil(N/C)·L s | bound / wall | "
        "N·L/C s | ideal / wall | mean latency − L ms | parent CPU ms / problem | "
        "worker CPU ms / problem | all our processes CPU ms / problem | accuracy |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        acc = "–" if r.accuracy is None else f"{r.accuracy:.0%}"
        wcpu = "–" if r.worker_cpu_ms_per_problem is None else f"{r.worker_cpu_ms_per_problem:.1f}"
        tcpu = "–" if r.tree_cpu_ms_per_problem is None else f"{r.tree_cpu_ms_per_problem:.1f}"
        print(
            f"| {r.kind} | {r.concurrency} | {r.problems} | {r.latency_s:g} | {r.wall_s:.2f} | "
            f"{r.per_minute:.0f} | {r.bound_s:.2f} | {r.ratio_bound:.1%} | {r.ideal_s:.2f} | "
            f"{r.ratio_ideal:.1%} | {r.mean_extra_ms:.1f} | {r.cpu_ms_per_problem:.1f} | "
            f"{wcpu} | {tcpu} | {acc} |"
        )
    for r in rows:
        if set(r.statuses) - {"optimal"}:
            print(f"\n{r.kind} C={r.concurrency}: statuses {r.statuses}")
    target = [r for r in rows if r.kind.startswith("agent [process") and r.concurrency == TARGET_C]
    for r in target:
        verdict = "PASS" if r.ratio_bound >= TARGET_RATIO else "below"
        print(
            f"\nprocess executor at C={TARGET_C}, {r.problems} problems: {r.ratio_bound:.1%} of the "
            f"ceil(N/C)·L bound (target >= {TARGET_RATIO:.0%}: {verdict}), {r.ratio_ideal:.1%} of "
            f"N·L/C"
        )
    if projection:
        print("\n### Ray: problems per minute by actors\n")
        print("| actors | measured problems/min | projected problems/min |")
        print("|---|---|---|")
        for p in projection:
            measured = "–" if p["measured"] != p["measured"] else f"{p['measured']:.0f}"
            print(f"| {p['actors']:.0f} | {measured} | {p['projected']:.0f} |")
        last = projection[-1]
        print(
            f"\nprojection: min(C·60/L = {last['latency_cap']:.0f}, N·60/actor-side CPU per problem "
            f"({last['actor_cpu_ms']:.1f} ms), 60/parent CPU per problem "
            f"({last['parent_cpu_ms']:.1f} ms) = {last['parent_cap']:.0f}) problems per minute"
        )
    if phases:
        print("\n### CPU per problem by phase (FakeLLM, no latency, in process, one at a time)\n")
        print("| phase | CPU ms / problem |")
        print("|---|---|")
        agent_phases = {k: v for k, v in phases.items() if not k.startswith("HTTP client")}
        for name, ms in sorted(agent_phases.items(), key=lambda kv: -kv[1]):
            print(f"| {name} | {ms:.2f} |")
        print(f"| **total (one problem, no HTTP)** | **{sum(agent_phases.values()):.2f}** |")
        client = phases.get("HTTP client (openai + httpx, per call)")
        if client is not None:
            print(
                f"\nHTTP client (real openai client, loopback stub, no latency): {client:.2f} ms "
                "CPU per call in the process that talks to the LLM"
            )
    if resume:
        verdict = "PASS" if resume["cli_s"] < TARGET_RESUME_S else "over"
        print(
            f"\nresume of a finished {resume['problems']:.0f}-problem run: in process "
            f"{1000 * resume['in_process_first_s']:.0f} ms the first time, "
            f"{1000 * resume['in_process_s']:.0f} ms best of 3; `optiwise eval` in a fresh "
            "interpreter "
            f"{resume['cli_s']:.2f} s, of which {resume['imports_s']:.2f} s is starting Python and "
            f"building the command line (target < {TARGET_RESUME_S:.0f} s: {verdict})"
        )


def make_solver(name: str, base_url: str, workers: int | None) -> AgentSolver:
    """``workers``: the pool size, or None for the executor's default (:func:`default_workers`)."""
    agent = make_agent(base_url)
    if name == "process":
        return AgentSolver(agent, executor=ProcessExecutor(agent, workers))
    if name == "ray":
        return AgentSolver(agent, executor=RayExecutor(agent, workers))
    return AgentSolver(agent)


def ray_projection(
    fast: list[Sample],
    base_url: str,
    out: Path,
    args: argparse.Namespace,
    concurrency: int,
) -> tuple[list[Row], list[dict[str, float]]]:
    """Ray with 1, then 2 actors; problems per minute measured and projected to N actors."""
    rows: list[Row] = []
    dataset = toy_dataset(fast, args.problems)
    for actors in (1, 2):
        solver = make_solver("ray", base_url, actors)
        try:
            warm = toy_dataset(fast, 8)
            timed_run("warm-up", warm, solver, out, f"rw{actors}", 8, args.latency)
            rows.append(
                timed_run(
                    f"agent [ray x{actors}]",
                    dataset,
                    solver,
                    out,
                    f"ray{actors}",
                    concurrency,
                    args.latency,
                    # a stalled Ray run ends in time-outs (counted in the row) instead of hanging
                    timeout_s=60.0,
                )
            )
        finally:
            solver.executor.close()
    # The actors' CPU per problem: everything but this process (the actors, the killable
    # solve children they fork, Ray's own processes) when /proc can tell, else the actors'.
    per_task = [
        (r.tree_cpu_ms_per_problem - r.cpu_ms_per_problem)
        if r.tree_cpu_ms_per_problem is not None
        else (r.worker_cpu_ms_per_problem or 0.0)
        for r in rows
    ]
    actor_cpu = statistics.fmean(per_task)
    parent_cpu = statistics.fmean(r.cpu_ms_per_problem for r in rows)
    latency_cap = concurrency * 60 / args.latency
    parent_cap = 60_000 / parent_cpu if parent_cpu else float("inf")
    projection = []
    for n in (1, 2, 4, 8, 16, 32):
        measured = rows[n - 1].per_minute if n <= len(rows) else float("nan")
        cap = n * 60_000 / actor_cpu if actor_cpu else float("inf")
        projection.append(
            {
                "actors": float(n),
                "measured": measured,
                "projected": min(latency_cap, cap, parent_cap),
                "latency_cap": latency_cap,
                "parent_cap": parent_cap,
                "actor_cpu_ms": actor_cpu,
                "parent_cpu_ms": parent_cpu,
            }
        )
    return rows, projection


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--quick", action="store_true", help="64 problems, C = 16,64, L = 0.5 s, no Ray scaling"
    )
    parser.add_argument("--problems", type=int, help="problems per run (N, default 200)")
    parser.add_argument("--latency", type=float, help="stub seconds per request (default 1)")
    parser.add_argument("--concurrency", help="levels (default 16,64,256)")
    parser.add_argument(
        "--executors", default="local,process,ray", help="executors to compare side by side"
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="process/Ray workers (default: the executors' own, process cores - 1, Ray cores)",
    )
    parser.add_argument(
        "--baselines", action="store_true", help="add harness-only and agent-without-HTTP rows"
    )
    parser.add_argument(
        "--all-samples", action="store_true", help="every sample class, not only LP"
    )
    parser.add_argument("--no-resume", action="store_true", help="skip the resume timings")
    parser.add_argument(
        "--solve-in-process",
        action="store_true",
        help="solve in the agent's process (AgentConfig.solve_in_process), not in a killable "
        "child per solve as by default: what the isolation costs",
    )
    parser.add_argument("--json", metavar="OUT", help="also write every record as JSON")
    args = parser.parse_args(argv)
    global SOLVE_IN_PROCESS
    SOLVE_IN_PROCESS = bool(args.solve_in_process)
    args.problems = args.problems or (64 if args.quick else 200)
    args.latency = args.latency if args.latency is not None else (0.5 if args.quick else 1.0)
    levels_text = args.concurrency or ("16,64" if args.quick else "16,64,256")
    levels = sorted({int(x) for x in levels_text.split(",") if x.strip()})
    executors = [x.strip() for x in args.executors.split(",") if x.strip()]
    workers = args.workers or max(default_workers("process"), default_workers("ray"))
    top = max(levels)
    samples = load_samples()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"# Eval throughput (Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{args.workers or default_workers('process')} process workers, "
        f"{args.workers or default_workers('ray')} Ray actors, load average {load:.2f} at "
        f"start; solves {'in process' if SOLVE_IN_PROCESS else 'in a killable child (default)'})"
    )
    t_start = time.perf_counter()
    rows: list[Row] = []
    resume: dict[str, float] = {}
    projection: list[dict[str, float]] = []
    if "ray" in executors:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        import ray

        ray.init(num_cpus=max(2, workers), include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory(prefix="optiwise-bench-") as tmp, quiet_fd1():
        out = Path(tmp)
        with remote_stub(samples) as (base_url, control):
            fast = pick_samples(samples, base_url, args.all_samples)
            per_phase(fast, 10)  # warm: imports, the graph, solver start-up
            phases = per_phase(fast, min(100, args.problems))
            phases["HTTP client (openai + httpx, per call)"] = client_cpu(base_url, fast)
            solvers = {name: make_solver(name, base_url, args.workers) for name in executors}
            try:
                warm = toy_dataset(fast, min(64, args.problems))
                for name, solver in solvers.items():
                    timed_run(f"warm-up {name}", warm, solver, out, f"warm-{name}", 64, 0.0)
                set_latency(control, args.latency)
                for c in levels:
                    dataset = toy_dataset(fast, args.problems)
                    if args.baselines:
                        rows.append(
                            timed_run(
                                "harness only",
                                dataset,
                                SleepingSolver(args.latency),
                                out,
                                f"h{c}",
                                c,
                                args.latency,
                            )
                        )
                        rows.append(
                            timed_run(
                                "agent, no HTTP",
                                dataset,
                                AgentSolver(fake_agent(fast, args.latency)),
                                out,
                                f"f{c}",
                                c,
                                args.latency,
                            )
                        )
                    for name, solver in solvers.items():
                        size = getattr(solver.executor, "size", None)
                        label = f"agent [{name} x{size}]" if name != "local" else "agent [local]"
                        rows.append(
                            timed_run(
                                label, dataset, solver, out, f"{name}{c}", c, args.latency, control
                            )
                        )
            finally:
                for solver in solvers.values():
                    solver.executor.close()
            if "ray" in executors and not args.quick:
                middle = TARGET_C if TARGET_C in levels else top
                ray_rows, projection = ray_projection(fast, base_url, out, args, middle)
                rows.extend(ray_rows)
            if not args.no_resume:
                solver = AgentSolver(make_agent(base_url))
                first = executors[0]
                finished = toy_dataset(fast, args.problems)
                resume["problems"] = float(args.problems)
                times = [
                    resume_in_process(finished, solver, out, f"{first}{top}") for _ in range(3)
                ]
                resume["in_process_first_s"], resume["in_process_s"] = times[0], min(times)
                resume["cli_s"], resume["imports_s"] = resume_cli(
                    finished, out, f"{first}{top}", base_url
                )
    report(rows, resume, fast, phases, projection)
    end_load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"\n(total bench time {time.perf_counter() - t_start:.1f} s; load average at the end "
        f"{end_load[0]:.2f} over 1 min, {end_load[1]:.2f} over 5 min: more than ~1.5 on 2 cores "
        "means others' work shared the CPU and the walls are pessimistic)"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "workers": {
                        name: getattr(s.executor, "size", None) for name, s in solvers.items()
                    },
                    "samples": [s.id for s in fast],
                    "rows": [asdict(r) for r in rows],
                    "phases_ms": phases,
                    "ray_projection": projection,
                    "resume": resume,
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
