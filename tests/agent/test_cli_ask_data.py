"""``optiwise ask --data DIR``, ``--in-process`` and ``--unsafe-no-isolation`` through the stub."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support import items_knapsack

import agent.sandbox
from agent.cli import main
from agent.sandbox import UNSAFE_ENV
from agent.stub_server import StubServer

PROBLEM = "Pick items to maximise their total value; their total weight is at most 5."
KNAPSACK = items_knapsack(5)


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch, llm_stub: StubServer) -> StubServer:
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "OPTIWISE_")) and name != "OPTIWISE_HOME":
            monkeypatch.delenv(name)
    monkeypatch.setenv("OPENAI_BASE_URL", llm_stub.base_url)
    monkeypatch.setenv("OPTIWISE_RETRY_INITIAL_DELAY", "0.01")
    monkeypatch.setenv("OPTIWISE_MAX_RETRIES", "1")
    return llm_stub


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    rows = "item,value,weight\na,10,3\nb,7,3\nc,5,2\nd,1,4\ne,2,9\n"
    (folder / "items.csv").write_text(rows, encoding="utf-8")
    return folder


def _sent(stub: StubServer, k: int = 0) -> str:
    body = stub.chat_requests[k].body
    return str(body["messages"][-1]["content"])


@pytest.mark.parametrize("flags", [[], ["--in-process"]])
def test_ask_with_data_describes_the_tables_and_solves_from_the_files(
    endpoint: StubServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
) -> None:
    endpoint.push(json.dumps(KNAPSACK))
    code = main(["ask", "--json", "--data", str(_folder(tmp_path)), *flags, PROBLEM])
    data = json.loads(capsys.readouterr().out)

    assert code == 0
    assert data["status"] == "optimal" and data["objective"] == pytest.approx(15.0)
    assert data["solver_stop"] == "optimal"
    sent = _sent(endpoint)
    assert "items.csv: 5 rows, 3 columns" in sent and "e,2,9" not in sent


def test_ask_with_a_data_folder_that_is_not_there_says_so_before_asking(
    endpoint: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["ask", "--data", str(tmp_path / "nope"), PROBLEM])
    assert code == 1
    assert "is not a folder" in capsys.readouterr().err
    assert endpoint.chat_requests == []


def test_ask_with_tables_but_no_data_folder_gets_a_located_error(
    endpoint: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.push(json.dumps(KNAPSACK))
    code = main(["ask", "--json", "--max-repairs", "0", PROBLEM])
    data = json.loads(capsys.readouterr().out)
    assert code == 2 and data["status"] == "invalid"
    assert "no data folder was given" in json.dumps(data["attempts"][0]["errors"])


def _no_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine where bubblewrap cannot isolate scripts (the probe's answer)."""
    monkeypatch.setattr(agent.sandbox, "isolation_problem", lambda: "bwrap is not installed")
    monkeypatch.setenv(UNSAFE_ENV, "0")  # restored after the test, whatever ask sets


def test_ask_code_route_refuses_without_isolation_before_any_llm_call(
    endpoint: StubServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_sandbox(monkeypatch)
    code = main(["ask", "--strategy", "code", PROBLEM])
    err = capsys.readouterr().err
    assert code == 1
    assert "--strategy code" in err and "bwrap is not installed" in err
    assert endpoint.chat_requests == []


def test_ask_unsafe_no_isolation_runs_the_code_route_with_a_warning(
    endpoint: StubServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_sandbox(monkeypatch)
    script = 'print("OPTIWISE_RESULT", \'{"status": "optimal", "objective": 15}\')'
    endpoint.push(f"```python\n{script}\n```")
    code = main(["ask", "--json", "--strategy", "code", "--unsafe-no-isolation", PROBLEM])
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert "WITHOUT isolation" in captured.err
    assert os.environ[UNSAFE_ENV] == "1"
    assert code == 0 and data["status"] == "optimal" and data["objective"] == 15, data["message"]
