"""Executors: the agent's CPU work in worker processes or Ray actors, LLM calls in the parent.

Loopback stub, real openai client, real solvers; the same sample problems scored through
``local`` and ``process`` (and ``ray``, marked slow) must give the same result lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import SAMPLES, stub_model

from agent import OptimizationAgent
from agent.stub_server import StubServer
from evals import cli, executors
from evals.agent_solver import AgentSolver
from evals.executors import (
    DEFAULT_NICE,
    NICE_ENV,
    ProcessExecutor,
    RayUnavailable,
    default_nice,
    default_workers,
    make_executor,
)
from evals.loaders import Dataset
from evals.problems import Problem, normalize_answer
from evals.runner import execute, prepare_run, run_eval

NAMES = ["production_mix", "transport_basic", "min_cost_flow", "infeasible_feed_blend"]
SAME = ("status", "objective", "first_status", "repair_rounds", "scores", "first_scores")


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def problem(name: str) -> Problem:
    answer = sample(name)["answer"]
    label = answer["objective"] if answer["status"] == "optimal" else "infeasible"
    question = str(sample(name)["problem"]).strip()
    return Problem(
        id=name, dataset="toy.samples", question=question, answer=normalize_answer(label)
    )


def toy(names: list[str]) -> Dataset:
    problems = tuple(problem(n) for n in names)
    return Dataset(name="toy.samples", family="toy", variant="samples", problems=problems)


def scripted(stub: StubServer, names: list[str]) -> None:
    """The stub answers each problem: transport_basic 3% off, min_cost_flow prose, others right."""
    replies: dict[str, str] = {}
    for name in names:
        doc = sample(name)["formulation"]
        if name == "transport_basic":
            doc["objective"]["expression"] = f"1.03 * ({doc['objective']['expression']})"
        replies[str(sample(name)["problem"]).strip()] = json.dumps(doc)
    replies[str(sample("min_cost_flow")["problem"]).strip()] = "Sorry, no JSON today."

    def answer(body: dict[str, Any]) -> str:
        text = str(body["messages"][-1]["content"]).split("## Problem\n\n", 1)[1]
        return next(r for q, r in replies.items() if text.startswith(q))

    stub.handler = answer


def lines(run_dir: Path) -> dict[str, dict[str, Any]]:
    text = (run_dir / "results.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines()]
    assert len(rows) == len({r["id"] for r in rows}), "an id was written twice"
    return {r["id"]: r for r in rows}


def solver(stub: StubServer, executor: str, **kwargs: Any) -> AgentSolver:
    agent = OptimizationAgent(llm=stub_model(stub), max_repairs=1)
    return AgentSolver(agent, executor=executor, **kwargs)


@pytest.mark.slow  # the first worker pool of a session preloads the agent: ~3 s (10+ under load)
def test_process_executor_scores_like_local(llm_stub: StubServer, tmp_path: Path) -> None:
    scripted(llm_stub, NAMES)
    dataset = toy(NAMES)
    local = run_eval(
        dataset,
        solver(llm_stub, "local"),
        model_name="stub",
        out_dir=tmp_path,
        run_id="local",
        progress=False,
    )
    pool = solver(llm_stub, "process", workers=2, trace_dir=tmp_path / "traces")
    try:
        remote = run_eval(
            dataset, pool, model_name="stub", out_dir=tmp_path, run_id="process", progress=False
        )
        workers = set(pool.executor.pids()) - {os.getpid()}  # type: ignore[attr-defined]
        assert len(workers) == 2
        # the workers yield the CPU to this process, which sends and reads the LLM calls
        ours = os.getpriority(os.PRIO_PROCESS, 0)
        assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in workers} == {
            min(19, ours + DEFAULT_NICE)
        }
        # a terminal's Ctrl-C reaches the workers too: the parent stops them, not the signal
        for pid in workers:
            os.kill(pid, signal.SIGINT)
        time.sleep(0.5)
        assert all(w.process.is_alive() for w in pool.executor.workers)  # type: ignore[attr-defined]
    finally:
        pool.close()
    a, b = lines(Path(local.run_dir)), lines(Path(remote.run_dir))
    assert set(a) == set(b) == set(NAMES)
    for name in NAMES:
        assert {k: a[name][k] for k in SAME} == {k: b[name][k] for k in SAME}, name
        # tokens are counted in the worker from the replies the parent received
        assert b[name]["prompt_tokens"] == a[name]["prompt_tokens"] > 0
    assert b["production_mix"]["status"] == "optimal" and b["min_cost_flow"]["status"] == "invalid"
    assert b["production_mix"]["formulation"]["name"] == "production_mix"
    # the workers wrote the traces the result lines name
    assert (tmp_path / "traces" / f"{b['production_mix']['trace_id']}.json").is_file()
    assert remote.protocols["sirl"].correct == local.protocols["sirl"].correct == 2


def test_the_workers_priority_setting_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NICE_ENV, raising=False)
    assert default_nice() == DEFAULT_NICE == 5
    monkeypatch.setenv(NICE_ENV, "0")
    assert default_nice() == 0  # off: the workers run at this process's priority
    monkeypatch.setenv(NICE_ENV, "12")
    assert default_nice() == 12
    assert ProcessExecutor(OptimizationAgent(llm=None), 1).nice == 12  # nothing started yet
    for bad in ("high", "-3", "20"):
        monkeypatch.setenv(NICE_ENV, bad)
        with pytest.raises(ValueError, match=NICE_ENV):
            default_nice()


@pytest.mark.parametrize(("cores", "process", "ray"), [(1, 1, 1), (2, 1, 2), (8, 7, 8)])
def test_a_process_pool_leaves_a_core_to_the_llm_calls(
    monkeypatch: pytest.MonkeyPatch, cores: int, process: int, ray: int
) -> None:
    monkeypatch.setattr(executors, "usable_cores", lambda: cores)
    assert default_workers() == default_workers("process") == process
    assert default_workers("ray") == ray
    assert ProcessExecutor(OptimizationAgent(llm=None)).size == process  # nothing started yet


REGISTRY = """
[[dataset]]
name = "toy.samples"
family = "toy"
variant = "samples"
title = "sample problems"
repo = "optiwise/tests"
commit = "0000000"
path = "toy.jsonl"
local_path = "toy/samples.jsonl"
format = "jsonl"
license = "MIT"
count = {count}
id_field = "id"
"""


def optiwise(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="optiwise")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def test_a_run_started_on_one_executor_resumes_on_another(
    llm_stub: StubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scripted(llm_stub, NAMES)
    data = tmp_path / "data"
    (data / "toy").mkdir(parents=True)
    records = [
        {"id": n, "en_question": problem(n).question, "en_answer": problem(n).answer.raw}
        for n in NAMES
    ]
    (data / "toy" / "samples.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records), encoding="utf-8"
    )
    (tmp_path / "registry.toml").write_text(REGISTRY.format(count=len(NAMES)), encoding="utf-8")
    monkeypatch.setenv("OPTIWISE_REGISTRY", str(tmp_path / "registry.toml"))
    common = ["eval", "--dataset", "toy.samples", "--model", "m", "--base-url", llm_stub.base_url]
    common += ["--data-dir", str(data), "--out", str(tmp_path / "runs"), "--max-repairs", "1"]
    common += ["--no-progress", "--no-preflight", "--run-id", "r", "--json"]

    assert optiwise(*common, "--limit", "2", "--executor", "local") == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["n_done"] == 2
    sent = len(llm_stub.chat_requests)
    assert optiwise(*common, "--executor", "process", "--workers", "1") == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["complete"] and summary["n_done"] == len(NAMES)
    got = lines(Path(summary["run_dir"]))
    assert set(got) == set(NAMES)
    # only the two problems left were sent, each with one repair round (the prose, and
    # the infeasible model whose document the LLM keeps)
    assert len(llm_stub.chat_requests) - sent == 4
    assert got["infeasible_feed_blend"]["status"] == "infeasible"
    assert summary["correct"]["sirl"] == 2
    config = json.loads((Path(summary["run_dir"]) / "config.json").read_text(encoding="utf-8"))
    assert config["agent"]["executor"] == "local"  # recorded by the run that started it

    # bad executor flags are usage errors, said before anything runs
    assert optiwise(*common, "--executor", "process", "--workers", "0") == 2
    assert "--workers must be >= 1" in capsys.readouterr().err
    assert optiwise(*common, "--ray-address", "auto") == 2
    assert "--ray-address needs --executor ray" in capsys.readouterr().err
    monkeypatch.setenv(NICE_ENV, "lots")
    assert optiwise(*common, "--executor", "process") == 2
    err = capsys.readouterr().err
    assert f"{NICE_ENV} must be a whole number" in err and "Traceback" not in err


@pytest.mark.slow  # two rounds of a 0.5 s stub latency and a replacement worker: ~3-5 s
def test_a_dead_worker_fails_its_problems_not_the_run(llm_stub: StubServer, tmp_path: Path) -> None:
    names = ["production_mix", "transport_basic", "production_mix", "transport_basic"]
    scripted(llm_stub, names[:2])
    llm_stub.latency = 0.5
    problems = tuple(
        Problem(
            id=f"p{i}",
            dataset="toy.samples",
            question=problem(n).question,
            answer=problem(n).answer,
        )
        for i, n in enumerate(names)
    )
    dataset = Dataset(name="toy.samples", family="toy", variant="samples", problems=problems)
    pool = solver(llm_stub, "process", workers=2)
    executor = pool.executor
    assert isinstance(executor, ProcessExecutor)
    executor.start()
    victim = executor.pids()[0]

    async def run_and_kill() -> Any:
        plan = prepare_run(dataset, model_name="stub", out_dir=tmp_path, run_id="crash")
        task = asyncio.create_task(execute(plan, pool, progress=False))
        deadline = time.monotonic() + 10
        while len(llm_stub.chat_requests) < len(names) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        os.kill(victim, signal.SIGKILL)  # mid-request: the worker holds two problems
        return await asyncio.wait_for(task, 30)

    try:
        summary = asyncio.run(run_and_kill())
        got = lines(Path(summary.run_dir))
        assert summary.complete and set(got) == {p.id for p in problems}
        crashed = [r for r in got.values() if r["status"] == "error"]
        assert len(crashed) == 2
        for r in crashed:
            assert r["error_categories"] == ["exception:WorkerCrashed"]
            assert f"process {victim} died" in r["message"]
        assert sum(r["status"] == "optimal" for r in got.values()) == 2
        # a new worker took the dead one's place: the next run is whole again
        llm_stub.latency = 0.0
        again = run_eval(
            dataset, pool, model_name="stub", out_dir=tmp_path, run_id="after", progress=False
        )
        assert again.status_counts == {"optimal": 4}
        assert victim not in executor.pids() and len(executor.pids()) == 2
    finally:
        pool.close()


def test_unknown_executor_and_missing_ray_are_explained(
    llm_stub: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = OptimizationAgent(llm=stub_model(llm_stub))
    with pytest.raises(ValueError, match="local, process, ray"):
        make_executor("threads", agent)
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(RayUnavailable, match=r"optiwise\[ray\]"):
        make_executor("ray", agent)


@pytest.mark.slow  # starting a local Ray and its actor: ~10 s idle, 30+ s under load
def test_ray_executor_scores_like_local_and_resumes_a_local_run(
    llm_stub: StubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    scripted(llm_stub, NAMES)
    dataset = toy(NAMES)
    local = run_eval(
        dataset,
        solver(llm_stub, "local"),
        model_name="stub",
        out_dir=tmp_path,
        run_id="r",
        limit=2,
        progress=False,
    )
    assert local.n_done == 2
    ray_solver = solver(llm_stub, "ray", workers=1)
    try:
        summary = run_eval(
            dataset, ray_solver, model_name="stub", out_dir=tmp_path, run_id="r", progress=False
        )
    finally:
        ray_solver.close()
    got = lines(Path(summary.run_dir))
    assert summary.complete and set(got) == set(NAMES)
    assert got["transport_basic"]["objective"] == pytest.approx(2528 * 1.03)
    assert got["infeasible_feed_blend"]["status"] == "infeasible"
    assert got["min_cost_flow"]["status"] == "invalid", got["min_cost_flow"]["message"]
    assert summary.protocols["sirl"].correct == 2
