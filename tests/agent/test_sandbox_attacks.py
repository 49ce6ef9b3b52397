"""The attack suite: what a hostile LLM-written script tries, and proof that the sandbox stops it.

Each test plays one attack a prompt injection could trigger through the code
route (``optiwise ask --strategy code``) and asserts that it fails *and* that
nothing of it is left on the host. ``ATTACKS`` names them; the figure in the
README ("n of n attacks stopped") is the pass count of this file::

    .venv/bin/python -m pytest -q tests/agent/test_sandbox_attacks.py
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from support import ROOT

from agent.sandbox import IsolationUnavailable, isolation_problem, run_python
from agent.stub_server import StubServer

pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="Linux namespaces"),
    pytest.mark.skipif(isolation_problem() is not None, reason=str(isolation_problem())),
]

ATTACKS = (
    "parent environment (API key)",
    "network",
    "absolute-path reads",
    "writes outside the work folder",
    "fork bomb",
    "memory multiplied by forks",
    "setsid escape",
    "infinite loop",
)

RESULT = 'print(\'{"status": "optimal", "objective": 1}\')\n'


def _marked(marker: str) -> list[int]:
    """Host pids of live processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() not in (entry / "cmdline").read_bytes():
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def _none_left(marker: str, within_s: float = 3.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not _marked(marker):
            return True
        time.sleep(0.05)
    return False


def _report(result_stdout: str) -> dict[str, object]:
    """The attack script's own JSON report (its first line starting with ``{"attack"``)."""
    for line in result_stdout.splitlines():
        if line.startswith('{"attack"'):
            return dict(json.loads(line))
    raise AssertionError(f"the attack script printed no report: {result_stdout!r}")


def test_the_api_key_in_our_environment_cannot_be_read(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"sk-attack-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    code = textwrap.dedent(
        f"""
        import json, os
        found, readable = [], 0
        pids = {{"{os.getpid()}", str(os.getppid())}}
        pids |= {{p for p in os.listdir("/proc") if p.isdigit()}}
        for pid in sorted(pids):
            for name in ("environ", "cmdline"):
                try:
                    data = open(f"/proc/{{pid}}/{{name}}", "rb").read()
                except OSError:
                    continue
                readable += 1
                if b"sk-attack-" in data:
                    found.append(data.decode(errors="replace"))
        print(json.dumps({{"attack": "environ", "found": found, "readable": readable,
                          "pids": sorted(p for p in os.listdir("/proc") if p.isdigit())}}))
        """
    )
    result = run_python(code + RESULT, timeout_s=20)

    report = _report(result.stdout)
    assert result.isolated
    assert report["found"] == [] and secret not in result.stdout + result.stderr
    # A fresh /proc: only the sandbox's own few processes exist, not our pid.
    assert str(os.getpid()) not in report["pids"]  # type: ignore[operator]


def test_the_network_is_unreachable() -> None:
    with StubServer(["should never be asked"]) as stub:
        code = textwrap.dedent(
            f"""
            import json, socket, urllib.request
            outcomes = []
            for host, port in (("127.0.0.1", {stub.port}), ("1.1.1.1", 53), ("8.8.8.8", 443)):
                try:
                    socket.create_connection((host, port), timeout=2).close()
                    outcomes.append("connected")
                except OSError as exc:
                    outcomes.append(type(exc).__name__)
            try:
                urllib.request.urlopen("{stub.base_url}/models", timeout=2)
                outcomes.append("http ok")
            except OSError as exc:
                outcomes.append(type(exc).__name__)
            print(json.dumps({{"attack": "network", "outcomes": outcomes}}))
            """
        )
        result = run_python(code + RESULT, timeout_s=20)
        seen = list(stub.requests)

    report = _report(result.stdout)
    assert "connected" not in report["outcomes"] and "http ok" not in report["outcomes"]  # type: ignore[operator]
    assert seen == []  # our loopback server, one port away, received nothing


def test_files_outside_the_work_folder_cannot_be_read(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("top-secret-content")
    targets = [
        "/etc/passwd",
        "/etc/shadow",
        "/etc/hostname",
        str(secret_file),
        str(Path.home()),
        str(ROOT / "README.md"),
        str(ROOT / "agent" / "sandbox.py"),
    ]
    code = textwrap.dedent(
        f"""
        import json, os
        got = {{}}
        for path in {targets!r}:
            try:
                got[path] = os.listdir(path) if os.path.isdir(path) else open(path).read(200)
            except OSError as exc:
                got[path] = None
        print(json.dumps({{"attack": "read", "got": got}}))
        """
    )
    result = run_python(code + RESULT, timeout_s=20)

    got = dict(_report(result.stdout)["got"])  # type: ignore[call-overload]
    # The home folder exists inside only when the Python runtime lives below it
    # (pyenv): then it lists the path to the runtime and nothing else.
    home = Path.home()
    runtime = {
        Path(p).relative_to(home).parts[0]
        for p in (sys.prefix, sys.base_prefix, os.path.realpath(sys.base_prefix))
        if Path(p).is_relative_to(home)
    }
    assert set(got.pop(str(home)) or ()) <= runtime
    assert {path: value for path, value in got.items() if value} == {}
    assert "top-secret-content" not in result.stdout


def test_nothing_can_be_written_outside_the_work_folder(tmp_path: Path) -> None:
    targets = [
        tmp_path / "pwned.txt",
        Path(sys.prefix) / "pwned.txt",
        ROOT / "pwned.txt",
        Path("/tmp") / f"pwned-{uuid.uuid4().hex}.txt",
        Path.home() / f"pwned-{uuid.uuid4().hex}.txt",
    ]
    code = textwrap.dedent(
        f"""
        import json
        wrote = []
        for path in {[str(t) for t in targets]!r} + ["/pwned.txt", "/dev/shm/pwned", "/etc/x"]:
            try:
                open(path, "w").write("pwned")
                wrote.append(path)
            except OSError:
                pass
        open("inside.txt", "w").write("fine")  # the work folder itself is writable
        print(json.dumps({{"attack": "write", "wrote": wrote}}))
        """
    )
    result = run_python(code + RESULT, timeout_s=20)

    assert result.ok, result.report()
    for target in targets:
        assert not target.exists(), target
    assert not Path("/pwned.txt").exists()


def test_a_fork_bomb_hits_the_process_limit_and_leaves_nothing() -> None:
    marker = f"optiwise-attack-{uuid.uuid4().hex}"
    code = textwrap.dedent(
        f"""
        import json, os, sys
        started = 0
        for _ in range(5000):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)",
                                          "{marker}"])
            started += 1
        print(json.dumps({{"attack": "fork", "started": started}}), flush=True)
        """
    )
    result = run_python(code + RESULT, timeout_s=20, max_procs=32)

    assert _report(result.stdout)["started"] < 32  # type: ignore[operator]
    assert _none_left(marker)


def test_memory_multiplied_by_forks_is_killed_at_the_total() -> None:
    marker = f"optiwise-attack-{uuid.uuid4().hex}"
    hog = "import time; data = b'x' * 90_000_000; time.sleep(60)"
    code = textwrap.dedent(
        f"""
        import subprocess, sys, time
        kids = [subprocess.Popen([sys.executable, "-c", "{hog}", "{marker}"]) for _ in range(6)]
        time.sleep(30)
        """
    )
    started = time.monotonic()
    # Each child stays under the per-process 300 MB; six of them together do not.
    result = run_python(code + RESULT, timeout_s=30, memory_mb=300)

    assert result.killed_by == "memory", result.report()
    assert time.monotonic() - started < 15
    assert "all its processes together" in str(result.error)
    assert _none_left(marker)


def test_a_setsid_grandchild_does_not_outlive_the_script() -> None:
    marker = f"optiwise-attack-{uuid.uuid4().hex}"
    code = textwrap.dedent(
        f"""
        import os, subprocess, sys
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "{marker}"],
                         start_new_session=True, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        if os.fork() == 0:  # the classic double fork, detached from every pipe
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)",
                                          "{marker}"])
            os._exit(0)
        """
    )
    result = run_python(code + RESULT, timeout_s=20)

    assert result.ok, result.report()
    assert _none_left(marker)


def test_an_infinite_loop_is_stopped_at_the_timeout() -> None:
    started = time.monotonic()
    result = run_python("while True:\n    pass\n", timeout_s=2)

    assert result.killed_by == "timeout"
    assert time.monotonic() - started < 6


def test_without_isolation_the_run_is_refused_unless_the_user_opts_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import agent.sandbox as sandbox

    monkeypatch.setattr(sandbox, "isolation_problem", lambda: "bubblewrap (bwrap) is not installed")
    monkeypatch.delenv(sandbox.UNSAFE_ENV, raising=False)
    with pytest.raises(IsolationUnavailable, match="bubblewrap .* not installed.*UNSAFE"):
        run_python(RESULT)

    opted_out = run_python(RESULT, isolate=False)
    monkeypatch.setenv(sandbox.UNSAFE_ENV, "1")
    by_env = run_python(RESULT)

    assert opted_out.ok and not opted_out.isolated
    assert by_env.ok and not by_env.isolated
