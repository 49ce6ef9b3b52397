"""Evals recover from outages: transient errors are retried on resume, time-outs are capped,
and a preflight request checks the endpoint and model before a run starts.

The outages are real HTTP behaviour of the loopback :class:`StubServer` (HTTP 500,
429, a dropped connection, a closed port) met by the real ``openai`` client.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import SAMPLES, stub_model

from agent import OptimizationAgent
from agent.stub_server import Drop, HTTPError, StubServer
from evals import cli
from evals.agent_solver import AgentSolver
from evals.loaders import Dataset
from evals.problems import Problem, normalize_answer
from evals.results import TIMEOUT_RETRIES, read_results
from evals.runner import execute, prepare_run

NAMES = [
    "production_mix",
    "transport_basic",
    "min_cost_flow",
    "evacuation_max_flow",
    "inventory_planning",
]


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def problem(name: str) -> Problem:
    data = sample(name)
    answer = data["answer"]
    label = answer["objective"] if answer["status"] == "optimal" else "infeasible"
    return Problem(
        id=name,
        dataset="toy.samples",
        question=str(data["problem"]).strip(),
        answer=normalize_answer(label),
    )


def toy() -> Dataset:
    problems = tuple(problem(n) for n in NAMES)
    return Dataset(name="toy.samples", family="toy", variant="samples", problems=problems)


def asked_about(body: Mapping[str, Any]) -> str:
    """Which sample problem a chat request is about (the prompt's examples do not count)."""
    text = str(body["messages"][-1]["content"]).split("## Problem\n\n", 1)[-1]
    for name in NAMES:
        if text.startswith(str(sample(name)["problem"]).strip()):
            return name
    raise AssertionError("a request about no known problem")


def outage(body: dict[str, Any]) -> Any:
    """Run 1: three problems meet an outage, one is solved, one gets prose (a real failure)."""
    name = asked_about(body)
    return {
        "production_mix": HTTPError.server_error(500),
        "transport_basic": HTTPError.rate_limit(retry_after=0),
        "min_cost_flow": Drop(),
        "evacuation_max_flow": json.dumps(sample(name)["formulation"]),
        "inventory_planning": "Sorry, I cannot write that as JSON.",
    }[name]


def healthy(body: dict[str, Any]) -> Any:
    return json.dumps(sample(asked_about(body))["formulation"])


def run(stub: StubServer, tmp_path: Path, **options: Any) -> tuple[Any, str]:
    solver = AgentSolver(OptimizationAgent(llm=stub_model(stub), max_repairs=0))
    plan = prepare_run(toy(), model_name="stub", out_dir=tmp_path, run_id="r", concurrency=3)
    stream = io.StringIO()
    summary = asyncio.run(execute(plan, solver, progress=False, stream=stream, **options))
    return summary, stream.getvalue()


@pytest.mark.slow  # ~6-10 s on 2 shared cores: eight agent runs, real client retries, HiGHS
def test_a_resumed_run_retries_outages_and_keeps_solved_and_failed_problems(
    tmp_path: Path,
) -> None:
    with StubServer(handler=outage) as stub:
        first, _ = run(stub, tmp_path)
        results = {r.id: r for r in read_results(Path(first.run_dir) / "results.jsonl")}

        assert {n: results[n].transient for n in NAMES} == {
            "production_mix": "network",  # HTTP 500 after the client's retries
            "transport_basic": "rate limit",  # HTTP 429 after the retries
            "min_cost_flow": "network",  # the connection dropped
            "evacuation_max_flow": None,
            "inventory_planning": None,  # invalid: a verdict on the model, not an outage
        }
        assert results["evacuation_max_flow"].status == "optimal"
        assert results["inventory_planning"].status == "invalid"
        assert first.transient_errors == 3

        stub.handler = healthy
        before = len(stub.chat_requests)
        second, said = run(stub, tmp_path)
        asked = sorted(asked_about(r.body) for r in stub.chat_requests[before:])

    assert asked == ["min_cost_flow", "production_mix", "transport_basic"]
    assert "retrying 3 problem(s) that ended on transient errors" in said
    assert "1 rate limit" in said and "2 network" in said
    assert second.retried == 3 and second.transient_errors == 0
    final = {r.id: r for r in read_results(Path(second.run_dir) / "results.jsonl")}
    assert final["production_mix"].status == "optimal" and final["production_mix"].tries == 2
    assert final["inventory_planning"].status == "invalid"  # kept, not asked again
    assert final["inventory_planning"].tries == 1
    assert second.n_done == 5 and second.protocols["sirl"].correct == 4


def test_no_retry_keeps_the_errors_and_sends_nothing(tmp_path: Path) -> None:
    with StubServer(handler=outage) as stub:
        run(stub, tmp_path)
        stub.handler = healthy
        before = len(stub.chat_requests)
        summary, said = run(stub, tmp_path, retry_errors=False)
        sent = len(stub.chat_requests) - before

    assert sent == 0 and summary.retried == 0
    assert summary.transient_errors == 3 and "retrying" not in said


class Hangs:
    """Never answers ``hang``; answers the others at once."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def solve(self, problem: Problem) -> Mapping[str, Any]:
        self.calls.append(problem.id)
        if problem.id == "hang":
            await asyncio.sleep(60)
        return {"status": "optimal", "objective": 1.0}


def test_a_time_out_is_retried_once_then_final(tmp_path: Path) -> None:
    dataset = Dataset(
        name="toy.t",
        family="toy",
        variant="t",
        problems=tuple(
            Problem(id=i, dataset="toy.t", question=i, answer=normalize_answer(1))
            for i in ("hang", "quick")
        ),
    )
    solver = Hangs()
    summaries = []
    for _ in range(3):
        plan = prepare_run(dataset, model_name="m", out_dir=tmp_path, run_id="r", timeout_s=0.2)
        summaries.append(asyncio.run(execute(plan, solver, progress=False, stream=io.StringIO())))

    assert TIMEOUT_RETRIES == 1
    assert solver.calls.count("hang") == 1 + TIMEOUT_RETRIES  # not retried forever
    assert solver.calls.count("quick") == 1
    hang = {r.id: r for r in read_results(plan.results_path)}["hang"]
    assert hang.transient == "timeout" and hang.error_categories == ["timeout"]
    assert (hang.tries, hang.timeouts) == (2, 2) and not hang.retryable()
    assert [s.retried for s in summaries] == [0, 1, 0]


# ------------------------------------------------------------------ preflight

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
count = 2
id_field = "id"
"""


@pytest.fixture
def toy_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A registry whose ``toy.samples`` holds two sample problems; the data folder."""
    data = tmp_path / "data"
    (data / "toy").mkdir(parents=True)
    records = [
        {"id": p.id, "en_question": p.question, "en_answer": p.answer.raw}
        for p in (problem(n) for n in NAMES[3:])
    ]
    text = "".join(json.dumps(r) + "\n" for r in records)
    (data / "toy" / "samples.jsonl").write_text(text, encoding="utf-8")
    registry = tmp_path / "registry.toml"
    registry.write_text(REGISTRY, encoding="utf-8")
    monkeypatch.setenv("OPTIWISE_REGISTRY", str(registry))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPTIWISE_RETRY_INITIAL_DELAY", "0.01")
    monkeypatch.setenv("OPTIWISE_MAX_RETRIES", "1")
    return data


def optiwise(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="optiwise")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def eval_args(base_url: str, data: Path, tmp_path: Path, model: str = "gpt-4o-mini") -> list[str]:
    return [
        "eval",
        "--dataset",
        "toy.samples",
        "--model",
        model,
        "--base-url",
        base_url,
        "--data-dir",
        str(data),
        "--out",
        str(tmp_path / "runs"),
        "--max-repairs",
        "0",
        "--no-progress",
        "--run-id",
        "r",
    ]


def test_an_unreachable_endpoint_stops_the_run_before_it_starts(
    toy_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    code = optiwise(*eval_args(f"http://127.0.0.1:{port}/v1", toy_data, tmp_path))
    err = capsys.readouterr().err

    assert code == 1
    assert "endpoint check failed" in err and f"127.0.0.1:{port}" in err
    assert "connect" in err and "nothing was run" in err
    assert not list((tmp_path / "runs").rglob("results.jsonl"))


def test_a_model_the_endpoint_does_not_offer_is_named_with_the_ones_it_does(
    toy_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with StubServer(handler=healthy, models=["gpt-4o-mini", "llama3"]) as stub:
        code = optiwise(*eval_args(stub.base_url, toy_data, tmp_path, model="gpt-4o-mnii"))
        err = capsys.readouterr().err
        assert stub.chat_requests == []

        assert code == 1
        assert "does not offer this model" in err and "gpt-4o-mini, llama3" in err

        assert optiwise(*eval_args(stub.base_url, toy_data, tmp_path), "--json") == 0
        out, err = capsys.readouterr()
        assert "preflight:" in err and "offers gpt-4o-mini" in err
        assert json.loads(out.splitlines()[-1])["accuracy"]["sirl"] == 1.0


def test_cli_resume_retries_by_default_and_not_with_no_retry(
    toy_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with StubServer(handler=lambda body: HTTPError.server_error(503)) as stub:
        args = eval_args(stub.base_url, toy_data, tmp_path)
        assert optiwise(*args, "--json") == 0
        first = json.loads(capsys.readouterr().out.splitlines()[-1])
        assert first["transient_errors"] == 2 and first["accuracy"]["sirl"] == 0.0

        stub.handler = healthy
        before = len(stub.chat_requests)
        assert optiwise(*args, "--no-retry", "--json") == 0
        kept = json.loads(capsys.readouterr().out.splitlines()[-1])
        assert len(stub.chat_requests) == before and kept["transient_errors"] == 2

        assert optiwise(*args, "--retry-errors") == 0
        out, err = capsys.readouterr()
        assert "retrying 2 problem(s)" in err and "retried 2 problem(s)" in out
        assert len(stub.chat_requests) == before + 2
