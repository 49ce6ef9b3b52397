"""What ``optiwise ask`` tells the user beyond the objective (QA findings F20, F1, F6).

Through the real CLI and client against the loopback stub: the model's stated
assumptions end the answer and are a top-level ``assumptions`` list in
``--json``; a solve stopped at its time limit with a solution says so (bound,
gap, raise the limit); ``ask`` and ``solve`` give the same exit status for the
same outcome.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import SAMPLES

import agent.nodes
from agent.cli import main
from agent.stub_server import StubServer
from modeling.cli import exit_code
from modeling.result import SolveResult, Status, Termination
from modeling.solve import limit_message

PROBLEM = (
    "A bakery makes bread (profit 3) and cake (profit 5). A loaf takes 1 oven hour, a cake "
    "2 oven hours. At most 30 cakes sell. How many of each should it bake to maximize profit?"
)
ASSUMED = "the oven hours are not given; assumed 40"
BAKERY: dict[str, Any] = {
    "name": "bakery",
    "sets": {"Items": ["bread", "cake"]},
    "parameters": {
        "profit": {"index": ["Items"], "values": {"bread": 3, "cake": 5}},
        "hours": {"index": ["Items"], "values": {"bread": 1, "cake": 2}},
        "oven": 40,
    },
    "variables": {"make": {"index": ["Items"], "lower": 0}},
    "objective": {"sense": "maximize", "expression": "sum(profit[i] * make[i] for i in Items)"},
    "constraints": [
        {"name": "oven_time", "expression": "sum(hours[i] * make[i] for i in Items) <= oven"},
        {"name": "market", "expression": "make['cake'] <= 30"},
    ],
    "assumptions": [{"text": ASSUMED, "parameters": ["oven"]}],
}
TRANSPORT = yaml.safe_load((SAMPLES / "transport_basic.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch, llm_stub: StubServer) -> StubServer:
    """The stub server as the only configured endpoint, with fast retries."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "OPTIWISE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OPENAI_BASE_URL", llm_stub.base_url)
    monkeypatch.setenv("OPTIWISE_RETRY_INITIAL_DELAY", "0.01")
    monkeypatch.setenv("OPTIWISE_MAX_RETRIES", "1")
    return llm_stub


# ------------------------------------------------------------------ F20 assumptions


def test_ask_ends_its_answer_with_the_models_stated_assumptions(
    endpoint: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.push(json.dumps(BAKERY))
    code = main(["ask", PROBLEM, "--in-process"])
    out = capsys.readouterr().out

    assert code == 0
    answer = out.split("\nstatus: ")[0]
    assert "120" in answer and "make[bread] = 40" in answer  # 40 oven hours -> 40 loaves
    tail = answer[answer.index("The problem text left some data out; this model assumes:") :]
    assert f"- {ASSUMED} (affects `oven`)" in tail
    assert "give the missing data" in tail
    assert answer.rstrip().endswith(tail.rstrip())  # the block ends the answer


def test_ask_json_carries_the_assumptions_at_the_top_level(
    endpoint: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.push(json.dumps(BAKERY), json.dumps(TRANSPORT["formulation"]))
    assert main(["ask", "--json", PROBLEM, "--in-process"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["assumptions"] == [{"text": ASSUMED, "parameters": ["oven"]}]
    assert ASSUMED in data["answer"]

    # a model that states none: an empty list and no block
    assert main(["ask", "--json", TRANSPORT["problem"], "--in-process"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["assumptions"] == [] and "this model assumes" not in data["answer"]


# ------------------------------------------------------------------ F1 time limit


def _stopped_at_the_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Solves really run, then report what HiGHS reports when its time limit stops a MIP
    search with an incumbent: feasible, termination time_limit, a bound and a gap."""
    real = agent.nodes._run_solve

    def stopped(model: Any, ctx: Any) -> SolveResult:
        result = real(model, ctx)
        assert result.status is Status.OPTIMAL, result.message
        return replace(
            result,
            status=Status.FEASIBLE,
            termination=Termination.TIME_LIMIT,
            bound=74.0,
            gap=0.275,
            message=limit_message(Status.FEASIBLE, Termination.TIME_LIMIT),
        )

    monkeypatch.setattr(agent.nodes, "_run_solve", stopped)


def test_ask_says_a_solve_stopped_at_the_time_limit(
    endpoint: StubServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _stopped_at_the_time_limit(monkeypatch)
    endpoint.push(json.dumps(TRANSPORT["formulation"]))
    code = main(["ask", "--json", "--time-limit", "2", TRANSPORT["problem"]])
    data = json.loads(capsys.readouterr().out)

    assert data["status"] == "feasible" and data["solver_stop"] == "time_limit_incumbent"
    for text in (data["answer"], data["message"]):
        assert "stopped at the time limit" in text
        assert "not proven optimal" in text
        assert "the best bound is 74" in text and "the gap is 27.5%" in text
        assert "Raise the time limit (now 2 s; --time-limit" in text
    # F6: the same outcome gives the same exit status as `optiwise solve`
    assert code == exit_code("feasible") == 0


def test_an_optimal_answer_mentions_no_time_limit(
    endpoint: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.push(json.dumps(TRANSPORT["formulation"]))
    assert main(["ask", "--json", TRANSPORT["problem"], "--in-process"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "optimal"
    assert "time limit" not in data["answer"].lower() and data["message"] == ""


# ------------------------------------------------------------------ F6 exit status


def test_ask_and_solve_give_the_same_exit_status_for_an_invalid_document(
    endpoint: StubServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = copy.deepcopy(BAKERY)
    broken["objective"]["expression"] = "sum(profit[i] * made[i] for i in Items)"  # no `made`
    endpoint.push(json.dumps(broken), json.dumps(broken))
    asked = main(["ask", "--json", "--max-repairs", "1", PROBLEM, "--in-process"])
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "invalid"

    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    solved = main(["solve", str(path)])
    capsys.readouterr()
    assert asked == solved == exit_code("invalid") == 2


# ------------------------------------------------------------------ F4 equalities

FLOW: dict[str, Any] = {
    "name": "flow",
    "sets": {"N": ["a", "b", "c"]},
    "parameters": {"need": {"index": ["N"], "values": {"a": 2, "b": 3, "c": 4}}},
    "variables": {"x": {"index": ["N"], "lower": 0}, "y": {"index": ["N"], "lower": 0}},
    "objective": {"sense": "minimize", "expression": "sum(x[n] + 2 * y[n] for n in N)"},
    "constraints": [
        {"name": "balance", "forall": "for n in N", "expression": "x[n] + y[n] == need[n]"},
        {"name": "cap", "forall": "for n in N", "expression": "x[n] <= 3"},
    ],
}


def test_the_answer_lists_binding_inequalities_and_summarises_equalities(
    endpoint: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.push(json.dumps(FLOW))
    assert main(["ask", "--json", "a small flow problem", "--in-process"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "optimal" and data["objective"] == pytest.approx(2 + 3 + 3 + 2)
    answer = data["answer"]
    # x[c] <= 3 holds at 3 and so does x[b]; x[a] = 2 does not
    assert "Binding inequalities (at their limit): cap['b'], cap['c']." in answer
    assert "balance[" not in answer
    assert "Equalities (they always hold at their value): balance (3 rows)." in answer
