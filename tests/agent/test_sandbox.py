"""The sandbox that runs LLM-written scripts: limits, environment, output and result protocol."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from agent.sandbox import (
    PROTOCOL_MARKER,
    STATUSES,
    ProtocolError,
    arun_python,
    child_environment,
    parse_protocol,
    run_python,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")

LP_SCRIPT = textwrap.dedent(
    """
    import json
    import pyomo.environ as pyo

    m = pyo.ConcreteModel()
    m.x = pyo.Var(domain=pyo.NonNegativeReals)
    m.y = pyo.Var(domain=pyo.NonNegativeReals)
    m.obj = pyo.Objective(expr=3 * m.x + 2 * m.y, sense=pyo.maximize)
    m.c1 = pyo.Constraint(expr=m.x + m.y <= 4)
    m.c2 = pyo.Constraint(expr=m.x + 3 * m.y <= 6)
    m.c3 = pyo.Constraint(expr=m.x <= 3)
    results = pyo.SolverFactory("appsi_highs").solve(m)
    tc = results.solver.termination_condition
    status = "optimal" if tc == pyo.TerminationCondition.optimal else "error"
    print("OPTIWISE_RESULT", json.dumps({"status": status, "objective": pyo.value(m.obj)}))
    """
)


def _alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie that nobody reaped yet counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # reused by someone else's process
        return False
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state not in ("Z", "X")
    return True


def marked_pids(marker: str) -> list[int]:
    """Host pids of live processes whose command line holds ``marker``.

    Pids printed inside the sandbox belong to its own PID namespace, so the
    tests find the script's children on the host by a unique command line.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def gone_soon(marker: str, within_s: float = 3.0) -> bool:
    """No process with ``marker`` in its command line is left within ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not marked_pids(marker):
            return True
        time.sleep(0.05)
    return False


def sleeper(marker: str, seconds: int = 60) -> str:
    """Script lines that start a child sleeping ``seconds``, findable by ``marker``."""
    return (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep({seconds})',"
        f" '{marker}'])\n"
    )


# ---------------------------------------------------------------------- limits


def test_an_endless_loop_is_stopped_at_the_timeout() -> None:
    started = time.monotonic()
    result = run_python("while True:\n    pass\n", timeout_s=1)
    elapsed = time.monotonic() - started

    assert result.killed_by == "timeout"
    assert elapsed < 2.0
    assert not result.ok and result.status == "error" and result.objective is None
    assert result.error is not None and "within 1 s" in result.error


def test_unbounded_allocation_is_stopped_by_the_memory_limit() -> None:
    code = "chunks = []\nwhile True:\n    chunks.append(bytearray(10_000_000))\n"
    result = run_python(code, memory_mb=256, timeout_s=20)

    assert result.killed_by == "memory"
    assert result.wall_s < 10  # stopped by the limit, not by the timeout
    assert result.error is not None and "256 MB" in result.error


def test_memory_is_detected_when_the_script_dies_in_c_code() -> None:
    # A C-level allocation failure (here: os.abort after a failed mmap, like std::bad_alloc)
    # leaves no Python MemoryError behind; the message on stderr is what we can read.
    code = textwrap.dedent(
        """
        import os, sys
        try:
            blob = bytearray(2_000_000_000)
        except MemoryError:
            sys.stderr.write("terminate called after throwing an instance of 'std::bad_alloc'\\n")
            sys.stderr.flush()
            os.abort()
        """
    )
    result = run_python(code, memory_mb=256)

    assert result.exit_code is not None and result.exit_code < 0
    assert result.killed_by == "memory"


def test_cpu_burning_is_stopped_by_the_cpu_limit() -> None:
    result = run_python("while True:\n    pass\n", cpu_s=1, timeout_s=30)

    assert result.killed_by == "cpu"
    assert result.wall_s < 20  # long before the timeout, even on a busy machine
    assert result.cpu_time_s is not None and result.cpu_time_s >= 0.9


def test_ignoring_sigxcpu_does_not_escape_the_cpu_limit() -> None:
    code = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass\n"
    result = run_python(code, cpu_s=1, timeout_s=30)

    assert result.killed_by == "cpu"  # SIGKILL at the hard limit, one second later
    assert result.wall_s < 20  # 2 s of CPU, long before the timeout even on a busy machine


def test_the_whole_process_group_is_killed_at_the_timeout() -> None:
    marker = f"optiwise-test-{uuid.uuid4().hex}"
    code = sleeper(marker) + "print('child started', flush=True)\nwhile True:\n    pass\n"
    result = run_python(code, timeout_s=2)

    assert result.killed_by == "timeout"
    assert "child started" in result.stdout
    assert gone_soon(marker)


def test_children_left_behind_by_a_finished_script_are_killed() -> None:
    marker = f"optiwise-test-{uuid.uuid4().hex}"
    code = sleeper(marker) + 'print(\'{"status": "infeasible", "objective": null}\')\n'
    result = run_python(code, timeout_s=10)

    assert result.ok and result.status == "infeasible"
    assert result.wall_s < 3  # not waiting for the child that holds the pipes
    assert gone_soon(marker)


def test_written_files_are_capped_in_size() -> None:
    code = "with open('big.bin', 'wb') as f:\n    f.write(b'x' * 4_000_000)\n"
    result = run_python(code, file_mb=1)

    assert not result.ok
    assert result.error is not None and (
        "SIGXFSZ" in result.error or "File too large" in result.error
    )


# ----------------------------------------------------------------- environment


def test_the_script_cannot_see_secrets_of_the_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.setenv("MY_TOKEN", "token-value-123")
    monkeypatch.setenv("DB_PASSWORD", "hunter2")
    monkeypatch.setenv("OPTIWISE_SANDBOX_FLAG", "visible")
    code = "import json, os\nprint(json.dumps(dict(os.environ)))\n"

    result = run_python(code, env_allow=("OPTIWISE_SANDBOX_FLAG",))
    seen = json.loads(result.stdout.splitlines()[0])

    assert "sk-test-secret" not in result.stdout
    assert "token-value-123" not in result.stdout and "hunter2" not in result.stdout
    assert not {"OPENAI_API_KEY", "MY_TOKEN", "DB_PASSWORD"} & set(seen)
    assert seen["OPTIWISE_SANDBOX_FLAG"] == "visible"
    assert seen["HOME"] == seen["TMPDIR"] == "<sandbox>"  # our temporary dir, scrubbed


def test_allow_listing_a_secret_name_is_refused() -> None:
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        child_environment("/tmp", ("OPENAI_API_KEY",))
    with pytest.raises(ValueError, match="MY_TOKEN"):
        run_python("print(1)", env_allow=("LC_ALL", "MY_TOKEN"))


def test_the_script_runs_in_a_fresh_directory_that_is_removed_afterwards() -> None:
    code = "import os\nopen('scratch.txt', 'w').write('x')\nprint(os.getcwd())\n"
    first = run_python(code)
    second = run_python(code)

    assert first.exit_code == 0 and second.exit_code == 0
    assert first.stdout.strip() == "<sandbox>"
    # The scrubbed name hides the path; the real one is gone after the run.
    assert not list(Path(tempfile.gettempdir()).glob("optiwise-sandbox-*/scratch.txt"))


# ------------------------------------------------------------- result protocol


def test_a_pyomo_lp_script_reports_its_optimum() -> None:
    result = run_python(LP_SCRIPT, timeout_s=30)

    assert result.ok, result.report()
    assert result.protocol is not None and result.protocol.status == "optimal"
    assert result.objective == pytest.approx(11.0)
    assert result.error is None


def test_garbage_output_is_a_protocol_error() -> None:
    result = run_python("print('the answer is 42')\n")

    assert result.exit_code == 0
    assert not result.ok and result.status == "error"
    assert result.protocol is None
    assert result.protocol_error is not None and "no result line" in result.protocol_error
    assert result.error is not None and "protocol" in result.error
    assert "the answer is 42" in result.report()  # the output is shown to whoever fixes it


def test_the_last_of_several_protocol_lines_wins() -> None:
    code = textwrap.dedent(
        f"""
        print('{PROTOCOL_MARKER} {{"status": "feasible", "objective": 5}}')
        print("solver log ...")
        print('{PROTOCOL_MARKER} {{"status": "optimal", "objective": 7.5}}')
        print('{{"status": "infeasible", "objective": null}}')
        print("bye")
        """
    )
    result = run_python(code)

    assert result.ok
    assert (result.status, result.objective) == ("optimal", 7.5)  # a marker beats a bare line


def test_a_bare_json_line_as_the_prompt_asks_is_accepted() -> None:
    result = run_python('print(\'{"status": "infeasible", "objective": null}\')\n')

    assert result.ok and result.status == "infeasible" and result.objective is None


def test_a_crash_reports_the_traceback_with_the_script_name() -> None:
    result = run_python("total = 1\nprint(totl)\n")

    assert result.exit_code == 1 and not result.ok
    assert result.error is not None and "NameError" in result.error
    assert result.traceback is not None and 'File "script.py", line 2' in result.traceback
    assert "optiwise-sandbox-" not in result.stderr


def test_a_stdout_flood_is_truncated_but_the_result_still_read() -> None:
    code = textwrap.dedent(
        """
        line = "x" * 99
        for _ in range(100_000):
            print(line)
        print('{"status": "optimal", "objective": 3}')
        """
    )
    result = run_python(code, max_output_bytes=20_000, timeout_s=20)

    assert result.stdout_truncated and result.stdout_bytes >= 10_000_000
    assert len(result.stdout) < 21_000
    assert "bytes omitted" in result.stdout
    assert result.ok and result.objective == 3.0


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('{"status": "Optimal", "objective": 1}', "status"),
        ('{"status": "optimal", "objective": "12"}', "objective"),
        ('{"status": "optimal", "objective": true}', "objective"),
        ('{"status": "optimal", "objective": NaN}', "NaN"),
        ('{"objective": 3}', "status"),
        ("{'status': 'optimal', 'objective': 1}", "not valid JSON"),
        (f"{PROTOCOL_MARKER} [1, 2]", "JSON object"),
        (f"{PROTOCOL_MARKER} __import__('os').system('true')", "not valid JSON"),
    ],
)
def test_malformed_result_lines_are_rejected_with_a_clear_message(line: str, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=fragment) as info:
        parse_protocol([line])
    if "status" in fragment:
        assert "infeasible_or_unbounded" in str(info.value)  # the vocabulary is spelled out


def test_every_spec_status_is_accepted() -> None:
    for status in STATUSES:
        parsed = parse_protocol([json.dumps({"status": status, "objective": None})])
        assert parsed.status == status


# ------------------------------------------------------------------------ async


def test_async_run_gives_the_same_result() -> None:
    code = 'print(\'{"status": "optimal", "objective": 2.5}\')\n'
    result = asyncio.run(arun_python(code))

    assert result.ok and result.objective == 2.5


def test_cancelling_an_async_run_kills_the_script_at_once() -> None:
    marker = f"optiwise-test-{uuid.uuid4().hex}"
    code = sleeper(marker) + "while True:\n    pass\n"

    async def main() -> float:
        task = asyncio.create_task(arun_python(code, timeout_s=30))
        for _ in range(250):
            if marked_pids(marker):
                break
            await asyncio.sleep(0.02)
        assert marked_pids(marker), "the script's child never started"
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(main()) < 2.0
    assert gone_soon(marker)
