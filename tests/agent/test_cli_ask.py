"""``optiwise ask`` against the loopback stub, configured through the environment."""

# ruff: noqa: F811

from __future__ import annotations

import copy
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import SAMPLES

from agent.cli import main
from agent.stub_server import StubServer

TRANSPORT = yaml.safe_load((SAMPLES / "transport_basic.yaml").read_text(encoding="utf-8"))
PROBLEM: str = TRANSPORT["problem"]
GOOD: dict[str, Any] = TRANSPORT["formulation"]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No OPENAI_* / OPTIWISE_* variables from the developer's shell."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "OPTIWISE_")):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def endpoint(clean_env: pytest.MonkeyPatch, llm_stub: StubServer) -> StubServer:
    """The stub server as the configured endpoint, with fast retries."""
    clean_env.setenv("OPENAI_BASE_URL", llm_stub.base_url)
    clean_env.setenv("OPTIWISE_RETRY_INITIAL_DELAY", "0.01")
    clean_env.setenv("OPTIWISE_MAX_RETRIES", "1")
    return llm_stub


def test_ask_json_prints_one_object_and_exits_0(
    endpoint: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.push(json.dumps(GOOD))
    code = main(["ask", "--json", PROBLEM])
    out = capsys.readouterr().out

    assert code == 0
    data = json.loads(out)  # exactly one JSON object on stdout
    assert data["status"] == "optimal"
    assert data["objective"] == pytest.approx(2528.0)
    assert data["formulation"] == GOOD
    assert data["attempts"][0]["status"] == "optimal"
    assert "2528" in data["answer"]
    assert data["usage"]["calls"] == 1
    assert endpoint.chat_requests[0].headers["authorization"] == "Bearer not-needed"


def test_ask_reads_the_problem_from_a_file_or_stdin(
    endpoint: StubServer,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint.push(json.dumps(GOOD), json.dumps(GOOD))
    problem_file = tmp_path / "problem.txt"
    problem_file.write_text(PROBLEM, encoding="utf-8")
    assert main(["ask", "--json", str(problem_file)]) == 0
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO(PROBLEM))
    assert main(["ask", "--json", "-"]) == 0
    for request in endpoint.chat_requests:
        assert PROBLEM.strip() in request.messages[-1]["content"]


def test_ask_prints_the_answer_in_words_without_json(
    endpoint: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.push(json.dumps(GOOD))
    assert main(["ask", PROBLEM]) == 0
    out = capsys.readouterr().out
    assert "Optimal solution: the minimum total trucking cost is 2528." in out
    assert "status: optimal" in out and "repairs: 0" in out


def test_ask_exits_2_when_no_valid_formulation_was_reached(
    endpoint: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = copy.deepcopy(GOOD)
    broken["objective"]["expression"] = "sum(cost[p, m] * ship[p] for p in Plants)"
    endpoint.push(json.dumps(broken))
    code = main(["ask", "--json", "--max-repairs", "0", PROBLEM])
    data = json.loads(capsys.readouterr().out)
    assert code == 2  # as `optiwise solve` exits for an invalid document
    assert data["status"] == "invalid"
    assert data["attempts"][0]["errors"][0]["location"] == "objective.expression"


def test_ask_exits_0_for_an_infeasible_answer(
    endpoint: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = yaml.safe_load((SAMPLES / "infeasible_feed_blend.yaml").read_text(encoding="utf-8"))
    doc = json.dumps(feed["formulation"])
    endpoint.push(doc, doc)  # the repair keeps it: the problem has no solution
    assert main(["ask", "--json", feed["problem"]]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "infeasible"


def test_ask_passes_samples_and_flags_through(
    endpoint: StubServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    endpoint.push(*[json.dumps(GOOD)] * 3)
    trace = tmp_path / "trace.json"
    code = main(
        ["ask", "--json", "--samples", "3", "--model", "m-1", "--trace", str(trace), PROBLEM]
    )
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["votes"]["counts"] == [3]
    assert {r.body["model"] for r in endpoint.chat_requests} == {"m-1"}
    assert json.loads(trace.read_text(encoding="utf-8"))["id"] == data["trace_id"]


def test_ask_reports_an_llm_failure_and_exits_1(
    endpoint: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.stub_server import HTTPError

    endpoint.push(HTTPError.unauthorized())
    code = main(["ask", "--json", PROBLEM])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert data["status"] == "error"
    assert "Incorrect API key" in data["message"]


def test_ask_without_an_endpoint_says_how_to_configure_one(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "How many cakes?"]) == 1
    err = capsys.readouterr().err
    assert "no LLM endpoint is configured" in err
    assert "OPENAI_API_KEY" in err and "OPENAI_BASE_URL" in err and "--base-url" in err

    assert main(["ask", "--json", "How many cakes?"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "error" and "OPENAI_BASE_URL" in data["message"]


def test_ask_base_url_flag_is_enough(
    clean_env: pytest.MonkeyPatch, llm_stub: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_stub.push(json.dumps(GOOD))
    assert main(["ask", "--json", "--base-url", llm_stub.base_url, PROBLEM]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "optimal"


def test_ask_a_sample_file_sends_its_problem_with_a_tuned_prompt_set(
    endpoint: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "formulate.md").write_text(
        "TUNED: state units.\n\n$examples\n\n## Problem\n\n$problem\n", encoding="utf-8"
    )
    endpoint.push(json.dumps(GOOD))
    code = main(["ask", "--json", "--prompts", str(prompts), str(SAMPLES / "transport_basic.yaml")])
    data = json.loads(capsys.readouterr().out)

    assert code == 0 and data["status"] == "optimal"
    sent = endpoint.chat_requests[0].body["messages"][-1]["content"]
    assert sent.startswith("TUNED: state units.")
    assert PROBLEM.strip()[:80] in sent  # the sample's problem text, not the YAML file
    assert "formulation:" not in sent.split("## Problem", 1)[1]
