"""The code route: the LLM writes a Pyomo script, the sandbox runs it, failures are repaired."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap

import pytest
from support import stub_model

from agent.cli import main
from agent.code_route import asolve_with_code, extract_code, solve_with_code
from agent.errors import RateLimitError
from agent.fake import FakeLLM
from agent.prompts import PromptSet
from agent.sandbox import isolation_problem
from agent.stub_server import StubServer, Text

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX sandbox")

PROBLEM = (
    "A workshop makes chairs (profit 3) and tables (profit 2). Chairs and tables together "
    "cannot exceed 4 units; a chair needs 1 hour and a table 3 hours of the 6 hours of "
    "finishing; at most 3 chairs can be sold. Maximize profit."
)

PYOMO_SCRIPT = textwrap.dedent(
    """
    import json
    import pyomo.environ as pyo

    PROFIT = {"chair": 3, "table": 2}
    m = pyo.ConcreteModel()
    m.x = pyo.Var(["chair", "table"], domain=pyo.NonNegativeReals)
    m.obj = pyo.Objective(expr=sum(PROFIT[p] * m.x[p] for p in PROFIT), sense=pyo.maximize)
    m.units = pyo.Constraint(expr=m.x["chair"] + m.x["table"] <= 4)
    m.finish = pyo.Constraint(expr=m.x["chair"] + 3 * m.x["table"] <= 6)
    m.sales = pyo.Constraint(expr=m.x["chair"] <= 3)
    solver = pyo.SolverFactory("highs")
    results = solver.solve(m, load_solutions=False)
    tc = results.solver.termination_condition
    if tc == pyo.TerminationCondition.optimal:
        m.solutions.load_from(results)
        print(json.dumps({"status": "optimal", "objective": pyo.value(m.obj)}))
    else:
        print(json.dumps({"status": "error", "objective": None}))
    """
)


def fenced(code: str, prose: str = "Here is the script:") -> str:
    return f"{prose}\n\n```python\n{code.strip()}\n```\n"


def plain(objective: float, name: str = "total") -> str:
    """A fast script (no Pyomo) that reports ``objective`` through ``name``."""
    return f'import json\n{name} = {objective}\nprint(json.dumps({{"status": "optimal", "objective": {name}}}))\n'


# ------------------------------------------------------------------ extraction


def test_code_is_taken_from_the_python_fence_then_a_bare_fence_then_the_whole_reply() -> None:
    assert extract_code(fenced("x = 1")) == "x = 1\n"
    assert extract_code("Script:\n```\nx = 2\n```\nDone.") == "x = 2\n"
    assert extract_code("x = 3\nprint(x)") == "x = 3\nprint(x)\n"
    assert extract_code("") == ""


def test_the_longest_python_block_wins_and_an_unclosed_fence_runs_to_the_end() -> None:
    reply = (
        "```python\nimport pyomo.environ as pyo\nm = pyo.ConcreteModel()\nprint(m)\n```\n"
        "Run it with:\n```bash\npython model.py\n```\n```python\nmain()\n```"
    )
    assert extract_code(reply).startswith("import pyomo.environ")
    assert extract_code("```python\nx = 1\ny = 2") == "x = 1\ny = 2\n"


# ---------------------------------------------------------------- the route


def test_a_correct_script_solves_the_problem_first_time() -> None:
    fake = FakeLLM([fenced(PYOMO_SCRIPT)])

    result = solve_with_code(PROBLEM, fake, timeout_s=30)

    assert result.ok and result.error is None
    assert result.status == "optimal"
    assert result.objective == pytest.approx(11.0)
    assert result.code is not None and "SolverFactory" in result.code
    assert len(result.attempts) == 1 and result.repairs == 0
    assert result.usage.calls == 1
    assert PROBLEM in fake.calls[0].last_user  # the code prompt carried the problem
    record = json.loads(json.dumps(result.to_dict()))
    assert record["route"] == "code" and record["attempts"][0]["status"] == "optimal"


def test_a_name_error_is_repaired_with_the_traceback_in_the_message() -> None:
    broken = (
        'import json\ntotal = 10\nprint(json.dumps({"status": "optimal", "objective": totl}))\n'
    )
    fake = FakeLLM([fenced(broken), fenced(plain(10.0))])

    result = solve_with_code(PROBLEM, fake)

    assert (result.status, result.objective) == ("optimal", 10.0)
    assert result.repairs == 1
    first = result.attempts[0]
    assert first.error is not None and "NameError" in first.error and first.exit_code == 1
    repair = fake.calls[1].messages
    assert [m["role"] for m in repair] == ["user", "assistant", "user"]
    assert repair[1]["content"] == fenced(broken)  # the LLM sees what it wrote
    message = repair[-1]["content"]
    assert "Traceback (most recent call last)" in message
    assert "NameError: name 'totl' is not defined" in message
    assert 'File "script.py", line 3' in message
    assert "```python" in message  # and is told how to answer


def test_an_exhausted_repair_budget_ends_with_an_honest_error() -> None:
    fake = FakeLLM([fenced("print('the optimum is 42')"), fenced("raise ValueError('bad data')")])

    result = solve_with_code(PROBLEM, fake, max_repairs=1)

    assert not result.ok
    assert result.status == "error" and result.objective is None
    assert result.error is not None
    assert "2 script(s)" in result.error and "ValueError" in result.error
    assert [a.status for a in result.attempts] == ["error", "error"]
    assert "protocol" in (result.attempts[0].error or "")
    assert fake.remaining == 0 and len(fake.calls) == 2  # no call beyond the budget


def test_a_timeout_is_reported_back_and_repaired() -> None:
    fake = FakeLLM([fenced("while True:\n    pass"), fenced(plain(5.0))])

    result = solve_with_code(PROBLEM, fake, timeout_s=1)

    assert (result.status, result.objective) == ("optimal", 5.0)
    assert result.attempts[0].killed_by == "timeout"
    message = fake.calls[1].last_user
    assert "did not finish within 1 s" in message and "terminates" in message


def test_a_reported_error_status_earns_a_repair_but_infeasible_is_an_answer() -> None:
    says_error = 'print(\'{"status": "error", "objective": null}\')'
    says_infeasible = 'print(\'{"status": "infeasible", "objective": null}\')'
    fake = FakeLLM([fenced(says_error), fenced(says_infeasible)])

    result = solve_with_code(PROBLEM, fake)

    assert result.ok and result.status == "infeasible" and result.objective is None
    assert 'reported status "error"' in fake.calls[1].last_user


def test_a_failed_llm_call_ends_the_route_with_status_error() -> None:
    fake = FakeLLM([fenced("x = y"), RateLimitError("slow down")])

    result = solve_with_code(PROBLEM, fake)

    assert result.status == "error" and not result.ok
    assert result.error is not None and "RateLimitError" in result.error
    assert len(result.attempts) == 1


def test_a_tuned_code_repair_prompt_is_used() -> None:
    prompts = PromptSet.default().updated(code_repair="FIX THIS:\n$error")
    fake = FakeLLM([fenced("x = y"), fenced(plain(1.0))])

    result = solve_with_code(PROBLEM, fake, prompts=prompts)

    assert result.ok
    assert fake.calls[1].last_user.startswith("FIX THIS:\nThe script exited with code 1")


def test_the_async_route_repairs_too() -> None:
    fake = FakeLLM([fenced("import json\nprint(json.dumps({'status': 'optimal'}))"), plain(4.0)])

    result = asyncio.run(asolve_with_code(PROBLEM, fake))

    assert (result.status, result.objective) == ("optimal", 4.0)
    assert "objective null" in (result.attempts[0].error or "")  # "optimal" needs a number
    assert "objective null" in fake.calls[1].last_user


def test_through_the_stub_server_with_the_real_client(llm_stub: StubServer) -> None:
    cut_off = Text("```python\nimport json\nprint(json.dum", finish_reason="length")
    llm_stub.push(cut_off, fenced(PYOMO_SCRIPT))

    result = solve_with_code(PROBLEM, stub_model(llm_stub), timeout_s=30)

    assert (result.status, result.objective) == ("optimal", pytest.approx(11.0))
    assert result.attempts[0].exit_code is None  # a cut-off script is not run
    requests = llm_stub.chat_requests
    assert len(requests) == 2
    assert PROBLEM in requests[0].messages[0]["content"]
    assert "cut off" in requests[1].messages[-1]["content"]
    assert result.usage.calls == 2 and result.usage.total > 0


# ------------------------------------------------------- optiwise ask, isolation


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch, llm_stub: StubServer) -> StubServer:
    """The stub as the configured endpoint of ``optiwise ask``, with fast retries."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "OPTIWISE_")) and name != "OPTIWISE_HOME":
            monkeypatch.delenv(name)
    monkeypatch.setenv("OPENAI_BASE_URL", llm_stub.base_url)
    monkeypatch.setenv("OPTIWISE_RETRY_INITIAL_DELAY", "0.01")
    monkeypatch.setenv("OPTIWISE_MAX_RETRIES", "1")
    return llm_stub


@pytest.mark.skipif(isolation_problem() is not None, reason=str(isolation_problem()))
def test_optiwise_ask_strategy_code_solves_end_to_end_in_the_sandbox(
    endpoint: StubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint.push(fenced(PYOMO_SCRIPT))

    code = main(["ask", "--json", "--strategy", "code", PROBLEM])
    data = json.loads(capsys.readouterr().out)

    assert code == 0
    assert (data["status"], data["objective"]) == ("optimal", pytest.approx(11.0))
    assert len(endpoint.chat_requests) == 1


def test_without_isolation_optiwise_ask_refuses_before_asking_the_llm(
    endpoint: StubServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import agent.sandbox as sandbox

    monkeypatch.setattr(sandbox, "isolation_problem", lambda: "bubblewrap (bwrap) is not installed")
    endpoint.push(fenced(plain(7.0)))

    code = main(["ask", "--json", "--strategy", "code", PROBLEM])
    data = json.loads(capsys.readouterr().out)

    assert code == 1 and data["status"] == "error"
    text = json.dumps(data)
    assert "bubblewrap" in text and "OPTIWISE_UNSAFE_NO_ISOLATION" in text
    assert endpoint.chat_requests == []  # refused before any LLM call

    monkeypatch.setenv("OPTIWISE_UNSAFE_NO_ISOLATION", "1")  # the explicit opt-out
    assert main(["ask", "--json", "--strategy", "code", PROBLEM]) == 0
    assert json.loads(capsys.readouterr().out)["objective"] == pytest.approx(7.0)
