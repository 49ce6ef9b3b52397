"""Run an untrusted Python script (an LLM's Pyomo model) in a limited child process.

The code route (:mod:`agent.code_route`) has the LLM write a script that we
execute; this module is the one place that runs such code. ::

    result = run_python(script, timeout_s=30, memory_mb=1024)
    result.ok, result.protocol.status, result.protocol.objective
    result.killed_by            # None | "timeout" | "cpu" | "memory"
    result.error                # one line: why there is no usable answer
    result.report()             # that line plus the traceback / output excerpts

What a run does:

- writes the script to ``script.py`` in a fresh temporary directory (removed
  afterwards) and runs ``sys.executable -I -u script.py`` with that directory
  as working directory (or ``cwd``), ``HOME`` and ``TMPDIR``. Isolated mode
  (``-I``) ignores ``PYTHON*`` variables and the user's site-packages, yet the
  interpreter is this venv's, so ``pyomo``, ``highspy`` and ``pyscipopt`` import;
- gives the child a minimal environment: ``PATH``, ``LANG``, ``PYTHONHASHSEED``
  and the names in ``env_allow`` (nothing else is inherited, and a name that
  looks like a credential, ``*KEY*``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``
  ..., is refused even when allow-listed), plus one-thread settings for
  OpenMP/BLAS and ``MALLOC_ARENA_MAX=2`` so that a memory limit measured in
  address space is not eaten by per-thread reservations;
- starts it in a new session (its own process group) with limits set by
  ``setrlimit`` before ``exec``: address space (``memory_mb``), CPU seconds
  (``cpu_s``), open files, size of any file written (``file_mb``) and no core
  dumps; stdin is ``/dev/null``;
- reads stdout and stderr as they come, keeping the head and the tail of each
  (``max_output_bytes``), so a flood cannot exhaust *our* memory;
- on the wall-clock timeout, and as soon as the script itself exits, kills
  the whole process group (so solver subprocesses and forgotten children go
  too);
- parses the result line (see :func:`parse_protocol`) with ``json``, never
  ``eval``, and validates it with pydantic.

Isolation (the default, :func:`isolation`): the script runs under bubblewrap
(``bwrap``, Debian/Ubuntu/Fedora package ``bubblewrap``), the small setuid-free
sandbox tool that Flatpak is built on: it uses unprivileged Linux namespaces,
needs no daemon and no root, and is kept up to date by every distribution.
Inside it the script has

- no network (a new network namespace: only its own loopback);
- no view of other processes (a new PID namespace with a fresh ``/proc``:
  our ``/proc/<pid>/environ``, hence the API key, does not exist there);
- no file system but read-only binds of ``/usr`` (and the ``/lib*``, ``/bin``
  links), the dynamic loader's cache, the Python runtime and the venv, a fresh
  ``/dev`` and ``/proc``, an empty ``tmpfs`` ``/tmp`` and its work folder, the
  only place it can write (``/etc/passwd``, the user's home, the repository are
  absent);
- a new session (no terminal to inject keystrokes into) and ``--die-with-parent``;
  when the script exits or is killed, the whole PID namespace goes with it, so a
  ``setsid`` or double-forked grandchild cannot outlive the run;
- limits on processes (``RLIMIT_NPROC``, ``max_procs`` processes and threads)
  and on memory: ``memory_mb`` of address space per process, and the resident
  memory of *all* its processes together polled every 50 ms and the run killed
  when the sum exceeds ``memory_mb``. Run as root (CI), the script additionally
  drops to an unused uid (``RLIMIT_NPROC`` does not bind root) and no user
  namespace is made, so no capability is left.

Not isolated: the CPU time of the machine (``cpu_s`` and the wall clock bound
it), the kernel itself (a kernel exploit escapes any namespace), the files of
the Python runtime and the venv (readable), and memory between two 50 ms polls
(a burst above ``memory_mb`` is killed at the next poll, not refused). Where
bubblewrap is missing or user namespaces are disabled, :func:`run_python`
raises :class:`IsolationUnavailable` unless the caller opts out with
``isolate=False`` or the environment variable ``OPTIWISE_UNSAFE_NO_ISOLATION=1``;
then the script runs as a plain child process with the limits above and none
of the isolation (it can read what we can and reach the network).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import os
import random
import re
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "PROTOCOL_MARKER",
    "STATUSES",
    "UNSAFE_ENV",
    "IsolationUnavailable",
    "KilledBy",
    "Limits",
    "ProtocolError",
    "ProtocolLine",
    "SandboxResult",
    "arun_python",
    "child_environment",
    "isolation",
    "isolation_problem",
    "parse_protocol",
    "run_python",
]

PROTOCOL_MARKER = "OPTIWISE_RESULT"
"""A stdout line ``OPTIWISE_RESULT {"status": ..., "objective": ...}`` carries the answer."""

Status = Literal[
    "optimal",
    "feasible",
    "infeasible",
    "unbounded",
    "infeasible_or_unbounded",
    "time_limit",
    "error",
]
STATUSES: tuple[str, ...] = get_args(Status)
KilledBy = Literal["timeout", "cpu", "memory"]

DEFAULT_ENV_ALLOW: tuple[str, ...] = ("LC_ALL", "LC_CTYPE", "TZ")
_BASE_ENV = ("PATH", "LANG", "PYTHONHASHSEED")
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE|SESSION", re.IGNORECASE)
# Fixed values (an allow-listed parent value wins): one thread per numeric library keeps
# RLIMIT_AS meaningful and many concurrent sandboxes from oversubscribing the cores.
_CHILD_DEFAULTS = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
    "PYTHONIOENCODING": "utf-8",  # ignored under -I; kept for any python the script starts
}
_MEMORY_PATTERNS = re.compile(
    r"MemoryError|std::bad_alloc|Cannot allocate memory|out of memory|Unable to allocate"
    r"|failed to allocate|memory allocation failed",
    re.IGNORECASE,
)
_SCRIPT_NAME = "script.py"
_READ_CHUNK = 65536
_EXIT_GRACE_S = 1.0  # after the script exits, how long to drain pipes held by stragglers
_KILL_DRAIN_S = 0.5  # after a kill, how long to collect what was already written
_MEMORY_POLL_S = 0.05  # how often the resident memory of all the script's processes is summed

UNSAFE_ENV = "OPTIWISE_UNSAFE_NO_ISOLATION"
"""Set to ``1`` to run LLM-written scripts without isolation where bubblewrap is unavailable."""

_TRUE = frozenset({"1", "true", "yes", "on"})
# Root runs the script as an unused uid from this range (random per run, so that
# concurrent runs do not share one RLIMIT_NPROC budget).
_ROOT_UID_RANGE = (2_000_000, 2_999_999)
_BWRAP_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
    "bubblewrap), or, knowing that the LLM-written script can then read your files, your API "
    f"key and reach the network, opt out with {UNSAFE_ENV}=1 (or --unsafe-no-isolation "
    "where the command offers it)"
)

# Runs inside the sandbox, before the script: our code, not the LLM's. Limits are set
# here rather than before bwrap so that RLIMIT_NPROC counts the processes of the new
# user namespace only, and so that root can drop to an unprivileged uid first.
_LAUNCHER = """\
import json, os, resource, sys
cfg = json.loads(sys.argv[1])
for res, soft, hard in cfg["rlimits"]:
    resource.setrlimit(res, (soft, hard))
if os.getuid() == 0 and cfg["uid"] is not None:
    os.setgroups([])
    os.setgid(cfg["uid"])
    os.setuid(cfg["uid"])
os.execv(cfg["python"], [cfg["python"], "-I", "-u", cfg["script"]])
"""


class IsolationUnavailable(RuntimeError):
    """The sandbox cannot isolate scripts here; the message says why and what to do."""


def _env_opt_out() -> bool:
    return os.environ.get(UNSAFE_ENV, "").strip().lower() in _TRUE


def _runtime_paths() -> list[str]:
    """Directories the interpreter needs: the venv and the base installation, deduplicated."""
    candidates = [
        sys.prefix,
        sys.exec_prefix,
        sys.base_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
    ]
    paths: list[str] = []
    for raw in candidates:
        path = os.path.realpath(raw)
        if not os.path.isdir(path) or path in ("/", "/usr") or path.startswith("/usr/"):
            continue
        if any(path == p or path.startswith(p + os.sep) for p in paths):
            continue
        paths = [p for p in paths if not p.startswith(path + os.sep)] + [path]
    # The venv path as the interpreter sees it (sys.executable may run through a symlink).
    for raw in (sys.prefix, os.path.dirname(sys.executable)):
        if os.path.realpath(raw) != raw and os.path.isdir(raw):
            paths.append(raw)
    return paths


def _bwrap_command(bwrap: str, workdirs: list[str], cwd: str, as_root: bool) -> list[str]:
    """The bubblewrap arguments: namespaces, read-only runtime, writable work folder."""
    if as_root:
        # No user namespace: the launcher drops from real root to an unused uid, which
        # makes RLIMIT_NPROC binding and leaves no capability (a user namespace would map
        # the script to uid 0 outside, exempt from RLIMIT_NPROC).
        spaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
        spaces.append("--unshare-cgroup-try")
    else:
        spaces = ["--unshare-all"]
    cmd = [bwrap, *spaces, "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(name):
            cmd += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            cmd += ["--ro-bind", name, name]
    for name in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime"):
        cmd += ["--ro-bind-try", name, name]
    made: set[str] = set()

    def parents(path: str) -> list[str]:
        # bwrap makes missing mount points 0700; the dropped uid must traverse them.
        out = []
        for parent in reversed(Path(path).parents):
            name = str(parent)
            if name != "/" and name not in made:
                made.add(name)
                out += ["--perms", "0755", "--dir", name]
        return out

    for path in _runtime_paths():
        cmd += [*parents(path), "--ro-bind", path, path]
    # No tmpfs anywhere: its pages would be memory outside every process's RSS.
    cmd += ["--proc", "/proc", "--dev", "/dev", "--perms", "0755", "--dir", "/tmp"]
    made.add("/tmp")
    for path in workdirs:
        cmd += [*parents(path), "--bind", path, path]
    # In a user namespace the script owns the sandbox's root and /dev tmpfs: read-only,
    # so that it cannot fill memory through files there.
    cmd += ["--remount-ro", "/dev", "--remount-ro", "/"]
    cmd += ["--chdir", cwd, "--"]
    return cmd


@functools.lru_cache(maxsize=1)
def isolation_problem() -> str | None:
    """Why scripts cannot be isolated here (None: bubblewrap works), probed once per process.

    The probe starts the interpreter inside bubblewrap exactly as a run does, so
    a missing binary, disabled user namespaces (``kernel.unprivileged_userns_clone=0``,
    Ubuntu's AppArmor restriction) or an unreadable runtime are all caught.
    """
    if sys.platform != "linux":
        return f"the sandbox isolates scripts with Linux namespaces; this is {sys.platform}"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    with tempfile.TemporaryDirectory(prefix="optiwise-probe-") as tmp:
        cmd = _bwrap_command(bwrap, [tmp], tmp, os.geteuid() == 0)
        try:
            done = subprocess.run(
                [*cmd, sys.executable, "-I", "-S", "-c", "print('ok')"],
                capture_output=True,
                timeout=30,
                env=child_environment(tmp),
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bubblewrap could not be started: {exc}"
    if done.returncode != 0 or done.stdout.strip() != b"ok":
        detail = _last_line(done.stderr.decode("utf-8", "replace")) or f"exit {done.returncode}"
        return (
            f"bubblewrap fails here ({detail}); unprivileged user namespaces may be disabled "
            "(sysctl kernel.unprivileged_userns_clone, or AppArmor's "
            "kernel.apparmor_restrict_unprivileged_userns)"
        )
    return None


def isolation(isolate: bool | None = None) -> bool:
    """Whether a run isolates its script: True, False (opted out), or raise.

    ``isolate=None`` means isolate unless the environment opts out
    (:data:`UNSAFE_ENV`); ``True`` insists; ``False`` opts out explicitly.
    Raises :class:`IsolationUnavailable` when isolation is wanted but bubblewrap
    cannot provide it, with the reason and the two ways forward.
    """
    if isolate is False or (isolate is None and _env_opt_out()):
        return False
    problem = isolation_problem()
    if problem is not None:
        raise IsolationUnavailable(
            f"refusing to run LLM-written code without isolation: {problem}; {_BWRAP_HINT}"
        )
    return True


def _pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


class _MemoryWatch:
    """Sums the resident memory (and CPU time) of every process in the sandbox's PID namespace.

    The CPU time is sampled too because the rusage that ``wait4`` returns for
    bubblewrap does not include the script, which bubblewrap's init reaps.
    """

    def __init__(self, bwrap_pid: int, limit_mb: int | None) -> None:
        self.bwrap_pid = bwrap_pid
        self.limit_bytes = None if limit_mb is None else limit_mb * 1024 * 1024
        self.outer = _pid_namespace(os.getpid())
        self.namespace: str | None = None
        self.peak_bytes = 0
        self.cpu_s = 0.0
        self.next_poll = 0.0
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.ticks = os.sysconf("SC_CLK_TCK")

    def _find_namespace(self) -> str | None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == self.bwrap_pid:
                ns = _pid_namespace(int(entry.name))
                if ns is not None and ns != self.outer:
                    return ns
        return None

    def exceeded(self, now: float) -> bool:
        """True when the sandbox's processes together hold more than the limit."""
        if now < self.next_poll:
            return False
        self.next_poll = now + _MEMORY_POLL_S
        if self.namespace is None:
            self.namespace = self._find_namespace()
            if self.namespace is None:
                return False
        total = 0
        ticks = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or _pid_namespace(int(entry.name)) != self.namespace:
                continue
            try:
                with open(f"/proc/{entry.name}/statm", "rb") as fh:
                    total += int(fh.read().split()[1]) * self.page
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
                # utime, stime, cutime, cstime (fields 14-17 of proc(5)).
                ticks += sum(int(x) for x in fields[11:15])
            except (OSError, ValueError, IndexError):
                continue
        self.peak_bytes = max(self.peak_bytes, total)
        self.cpu_s = max(self.cpu_s, ticks / self.ticks)
        return self.limit_bytes is not None and total > self.limit_bytes


# --------------------------------------------------------------------- protocol


class ProtocolError(ValueError):
    """The script's output has no valid result line; the message says what to print instead."""


class ProtocolLine(BaseModel):
    """The answer a script reports: ``{"status": ..., "objective": number | null}``.

    Strict: ``status`` must be one of :data:`STATUSES` exactly and ``objective``
    a finite JSON number (not a string, not a boolean) or null. Extra keys (say,
    variable values) are kept in ``model_extra`` and otherwise ignored.
    """

    model_config = ConfigDict(strict=True, frozen=True, extra="allow")

    status: Status
    objective: float | None = Field(default=None, allow_inf_nan=False)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON; print null when there is no objective")


def _parse_json_object(payload: str, origin: str) -> ProtocolLine:
    try:
        data = json.loads(payload, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ProtocolError(f"{origin} is not valid JSON ({exc}): {payload[:200]!r}") from None
    if not isinstance(data, dict):
        raise ProtocolError(
            f"{origin} must be a JSON object, got {type(data).__name__}: {payload[:200]!r}"
        )
    try:
        return ProtocolLine.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'line'}: {err['msg']}"
            for err in exc.errors()
        )
        allowed = ", ".join(STATUSES)
        raise ProtocolError(
            f"{origin} {payload[:200]!r} is invalid ({problems}); expected "
            f'{{"status": one of {allowed}, "objective": a number or null}}'
        ) from None


def parse_protocol(lines: Iterable[str]) -> ProtocolLine:
    """The result reported in a script's stdout lines; raises :class:`ProtocolError`.

    The last line starting with :data:`PROTOCOL_MARKER` wins. Without any, the
    last line that starts with ``{`` is taken, which is what the ``code`` prompt
    asks for (a bare JSON line). Lenient about *where* the line is (solver logs
    may surround it), strict about *what* it is: JSON (``json.loads``, never
    ``eval``) validated by :class:`ProtocolLine`.
    """
    marked: str | None = None
    bare: str | None = None
    for raw in lines:
        line = raw.strip()
        if line.startswith(PROTOCOL_MARKER):
            marked = line[len(PROTOCOL_MARKER) :].strip()
        elif line.startswith("{"):
            bare = line
    if marked is not None:
        return _parse_json_object(marked, f"the {PROTOCOL_MARKER} line")
    if bare is not None:
        return _parse_json_object(bare, "the result line")
    raise ProtocolError(
        "no result line in standard output; the script must end by printing one line "
        '{"status": "optimal", "objective": 123.4} (status one of '
        f"{', '.join(STATUSES)}; objective null when there is none)"
    )


# ----------------------------------------------------------------------- limits


@dataclass(frozen=True)
class Limits:
    """The resource limits of a run (None: not limited).

    ``memory_mb`` bounds each process's address space and, when isolated, the
    resident memory of all the script's processes together; ``max_procs`` the
    processes and threads it may have at once (isolated runs only: outside a
    user namespace ``RLIMIT_NPROC`` would count all of the user's processes).
    """

    timeout_s: float = 30.0
    cpu_s: float | None = None
    memory_mb: int | None = 1024
    nofile: int = 256
    file_mb: int = 64
    max_procs: int = 64

    def rlimits(self, isolated: bool = False) -> list[tuple[int, tuple[int, int]]]:
        """``(resource, (soft, hard))`` pairs, clamped to what this process may grant.

        Computed in the parent: the ``preexec_fn`` then only calls ``setrlimit``,
        which keeps the window between ``fork`` and ``exec`` free of Python work
        that could deadlock in a threaded parent.
        """
        wanted: list[tuple[int, int, int]] = [(resource.RLIMIT_CORE, 0, 0)]
        if self.memory_mb is not None:
            size = int(self.memory_mb) * 1024 * 1024
            wanted.append((resource.RLIMIT_AS, size, size))
        if self.cpu_s is not None:
            soft = max(1, math.ceil(self.cpu_s))
            # SIGXCPU at the soft limit; SIGKILL one second later if it is caught.
            wanted.append((resource.RLIMIT_CPU, soft, soft + 1))
        wanted.append((resource.RLIMIT_NOFILE, self.nofile, self.nofile))
        size = int(self.file_mb) * 1024 * 1024
        wanted.append((resource.RLIMIT_FSIZE, size, size))
        if isolated:
            wanted.append((resource.RLIMIT_NPROC, self.max_procs, self.max_procs))
        out = []
        for res, soft, hard in wanted:
            _, cur_hard = resource.getrlimit(res)
            if cur_hard != resource.RLIM_INFINITY:
                hard = min(hard, cur_hard)
                soft = min(soft, hard)
            out.append((res, (soft, hard)))
        return out


def _preexec(rlimits: list[tuple[int, tuple[int, int]]]) -> Callable[[], None]:
    def apply() -> None:
        for res, pair in rlimits:
            resource.setrlimit(res, pair)

    return apply


def child_environment(
    home: str, env_allow: Iterable[str] = DEFAULT_ENV_ALLOW, parent: dict[str, str] | None = None
) -> dict[str, str]:
    """The whole environment a sandboxed script gets (see the module docstring).

    Raises ValueError when ``env_allow`` names something that looks like a
    credential: passing a key to LLM-written code must be impossible by mistake.
    """
    source = dict(os.environ) if parent is None else parent
    allow = list(env_allow)
    refused = [name for name in allow if _SECRET_NAME.search(name)]
    if refused:
        raise ValueError(
            f"refusing to pass {', '.join(refused)} to a sandboxed script: names like "
            "*KEY*, *TOKEN*, *SECRET*, *PASSWORD* never reach LLM-written code"
        )
    env = dict(_CHILD_DEFAULTS)
    for name in (*_BASE_ENV, *allow):
        if name in source and not _SECRET_NAME.search(name):
            env[name] = source[name]
    env.setdefault("PATH", os.defpath)
    env["HOME"] = home
    env["TMPDIR"] = home
    return env


# ---------------------------------------------------------------------- capture


class _Capture:
    """Keeps the first and last ``limit // 2`` bytes of a stream and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.head_limit = max(1, limit // 2)
        self.tail_limit = max(1, limit - self.head_limit)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > 2 * self.tail_limit:
                del self.tail[: -self.tail_limit]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + min(len(self.tail), self.tail_limit)

    def _parts(self) -> tuple[str, str | None]:
        """Head and tail as text; tail None when nothing was dropped (one decoded piece)."""
        tail = bytes(self.tail[-self.tail_limit :])
        if not self.truncated:
            return (bytes(self.head) + tail).decode("utf-8", "replace"), None
        return self.head.decode("utf-8", "replace"), tail.decode("utf-8", "replace")

    def text(self) -> str:
        head, tail = self._parts()
        if tail is None:
            return head
        omitted = self.total - len(self.head) - min(len(self.tail), self.tail_limit)
        return f"{head}\n[... {omitted} bytes omitted ...]\n{tail}"

    def lines(self) -> list[str]:
        """Whole lines only: a line cut by the truncation cannot pass for a result line."""
        head, tail = self._parts()
        if tail is None:
            return head.split("\n")
        return head.split("\n")[:-1] + tail.split("\n")[1:]


# ----------------------------------------------------------------------- result


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run produced.

    ``exit_code`` is the child's (negative: killed by that signal; None: it
    could not be reaped). ``killed_by`` is our best reading of why it was
    stopped: ``"timeout"`` when we killed it at the deadline, ``"cpu"`` for
    ``SIGXCPU`` (or ``SIGKILL`` after using its CPU seconds), ``"memory"`` for a
    ``MemoryError``-like message on a failed exit or a ``SIGKILL`` we did not send
    (the OOM killer). ``protocol`` is the parsed result line, or None with the
    reason in ``protocol_error``.
    """

    stdout: str
    stderr: str
    exit_code: int | None
    wall_s: float
    killed_by: KilledBy | None
    protocol: ProtocolLine | None
    protocol_error: str | None
    limits: Limits = field(default_factory=Limits)
    cpu_time_s: float | None = None
    max_rss_mb: float | None = None
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    isolated: bool = False

    @property
    def ok(self) -> bool:
        """The script ran to a clean exit and reported a valid result."""
        return self.exit_code == 0 and self.killed_by is None and self.protocol is not None

    @property
    def status(self) -> str:
        """The reported status, or ``"error"`` when the run gave no usable answer."""
        return self.protocol.status if self.ok and self.protocol is not None else "error"

    @property
    def objective(self) -> float | None:
        """The reported objective of a successful run."""
        return self.protocol.objective if self.ok and self.protocol is not None else None

    @property
    def traceback(self) -> str | None:
        """The last Python traceback in stderr, if any."""
        start = self.stderr.rfind("Traceback (most recent call last):")
        return self.stderr[start:].rstrip() if start >= 0 else None

    @property
    def error(self) -> str | None:
        """One sentence on why this run has no usable answer (None when :attr:`ok`)."""
        if self.ok:
            return None
        lim = self.limits
        if self.killed_by == "timeout":
            return f"the script did not finish within {lim.timeout_s:g} s and was stopped"
        if self.killed_by == "cpu":
            return f"the script used its {lim.cpu_s:g} s of CPU time and was stopped"
        if self.killed_by == "memory":
            where = " for all its processes together" if self.isolated else ""
            return f"the script ran out of memory (limit {lim.memory_mb} MB{where})"
        if self.exit_code is None:
            return "the script could not be run to completion"
        if self.exit_code < 0:
            return f"the script was killed by {_signal_name(-self.exit_code)}"
        if self.exit_code != 0:
            last = _last_line(self.traceback or self.stderr)
            detail = f": {last}" if last else ""
            return f"the script exited with code {self.exit_code}{detail}"
        return f"the script's output broke the result protocol: {self.protocol_error}"

    def report(self, max_chars: int = 4000) -> str:
        """:attr:`error` plus the evidence (traceback, or the tails of stderr and stdout).

        Written for a reader who must fix the script, such as the LLM in a repair round.
        """
        if self.ok:
            return "the script ran and reported a valid result"
        parts = [_capitalize(str(self.error)) + "."]
        evidence = self.traceback or self.stderr.strip()
        if evidence:
            parts.append(
                "Standard error (last part):\n```\n" + _tail(evidence, max_chars) + "\n```"
            )
        if self.exit_code == 0 or not evidence:
            out = self.stdout.strip()
            shown = _tail(out, max_chars // 2) if out else "(nothing)"
            parts.append("Standard output (last part):\n```\n" + shown + "\n```")
        return "\n\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for traces."""
        return {
            "ok": self.ok,
            "status": self.status,
            "objective": self.objective,
            "exit_code": self.exit_code,
            "killed_by": self.killed_by,
            "wall_s": round(self.wall_s, 4),
            "cpu_time_s": self.cpu_time_s,
            "max_rss_mb": self.max_rss_mb,
            "protocol": self.protocol.model_dump() if self.protocol is not None else None,
            "protocol_error": self.protocol_error,
            "error": self.error,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "stdout_bytes": self.stdout_bytes,
            "stderr_bytes": self.stderr_bytes,
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "limits": {
                "timeout_s": self.limits.timeout_s,
                "cpu_s": self.limits.cpu_s,
                "memory_mb": self.limits.memory_mb,
                "nofile": self.limits.nofile,
                "file_mb": self.limits.file_mb,
                "max_procs": self.limits.max_procs,
            },
            "isolated": self.isolated,
        }


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else ""


def _tail(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else "[...]\n" + text[-max_chars:]


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


# -------------------------------------------------------------------------- run


def _scrub(text: str, script: Path, tmp: str) -> str:
    return text.replace(str(script), _SCRIPT_NAME).replace(tmp, "<sandbox>")


def _killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _leader_exited(proc: subprocess.Popen[bytes]) -> bool:
    """True once the script's process has exited, *without* reaping it.

    Leaving the zombie in place keeps its pid, hence the group id, from being
    reused, so the following ``killpg`` cannot hit an unrelated process group.
    """
    waitid = getattr(os, "waitid", None)
    if waitid is None:  # macOS: reaps; the pgid race is then theoretical, not absent
        return proc.poll() is not None
    try:
        info = waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _reap(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int | None, float | None, float]:
    """Wait for the script; ``(exit code, CPU seconds, max RSS in MB)``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:  # already reaped (poll on platforms without waitid)
            return proc.returncode, None, 0.0
        if pid == proc.pid:
            code = os.waitstatus_to_exitcode(status)
            proc.returncode = code
            rss_mb = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
            return code, usage.ru_utime + usage.ru_stime, rss_mb
        if time.monotonic() >= deadline:
            return None, None, 0.0
        time.sleep(0.01)


def _classify(
    code: int | None, timed_out: bool, stderr_tail: str, cpu_time: float | None, limits: Limits
) -> KilledBy | None:
    if timed_out:
        return "timeout"
    if code is None or code == 0:
        return None
    if code == -signal.SIGXCPU:
        return "cpu"
    if code == -signal.SIGKILL:  # not ours: the CPU hard limit, or the kernel's OOM killer
        if limits.cpu_s is not None and cpu_time is not None and cpu_time >= limits.cpu_s - 0.05:
            return "cpu"
        return "memory"
    if _MEMORY_PATTERNS.search(stderr_tail):
        return "memory"
    return None


def _execute(
    code: str,
    limits: Limits,
    env_allow: Iterable[str],
    cwd: str | os.PathLike[str] | None,
    max_output_bytes: int,
    cancel: threading.Event | None,
    isolated: bool,
) -> SandboxResult:
    env_names = tuple(env_allow)
    with tempfile.TemporaryDirectory(prefix="optiwise-sandbox-") as tmp:
        script = Path(tmp) / _SCRIPT_NAME
        script.write_text(code, encoding="utf-8")
        env = child_environment(tmp, env_names)
        workdir = tmp if cwd is None else os.path.realpath(os.fspath(cwd))
        script_arg = _SCRIPT_NAME if cwd is None else str(script)
        preexec: Callable[[], None] | None
        if isolated:
            as_root = os.geteuid() == 0
            uid = random.randint(*_ROOT_UID_RANGE) if as_root else None
            if uid is not None:
                os.chown(tmp, uid, uid)
                os.chown(script, uid, uid)
            binds = [tmp] if cwd is None else [tmp, workdir]
            launch = {
                "rlimits": [[res, soft, hard] for res, (soft, hard) in limits.rlimits(True)],
                "uid": uid,
                "python": sys.executable,
                "script": script_arg,
            }
            argv = [
                *_bwrap_command(str(shutil.which("bwrap")), binds, workdir, as_root),
                sys.executable,
                "-I",
                "-S",
                "-c",
                _LAUNCHER,
                json.dumps(launch),
            ]
            preexec = None
        else:
            argv = [sys.executable, "-I", "-u", script_arg]
            preexec = _preexec(limits.rlimits())
        out, err = _Capture(max_output_bytes), _Capture(max_output_bytes)
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=env,
            start_new_session=True,
            preexec_fn=preexec,
            close_fds=True,
        )
        watch = _MemoryWatch(proc.pid, limits.memory_mb) if isolated else None
        outcome: _Stop | None = None
        try:
            outcome = _pump(proc, out, err, started + limits.timeout_s, cancel, watch)
        finally:
            _killpg(proc.pid)  # leftovers of a finished script, or everything on timeout
            exit_code, cpu_time, rss_mb = _reap(proc, timeout=5.0)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        if isolated and exit_code is not None and exit_code > 128:
            exit_code = -(exit_code - 128)  # bwrap reports a signal death as 128 + signal
        if watch is not None:
            rss_mb = max(rss_mb, watch.peak_bytes / (1024 * 1024))
            cpu_time = max(cpu_time or 0.0, watch.cpu_s)
        wall = time.monotonic() - started
        # Our temporary path out of the text: repair prompts stay cacheable and short.
        stdout = _scrub(out.text(), script, tmp)
        stderr = _scrub(err.text(), script, tmp)
        protocol: ProtocolLine | None = None
        protocol_error: str | None = None
        try:
            protocol = parse_protocol(out.lines())
        except ProtocolError as exc:
            protocol_error = str(exc)
        killed_by: KilledBy | None
        if outcome == "memory":
            killed_by = "memory"
        else:
            killed_by = _classify(exit_code, outcome == "timeout", stderr[-4000:], cpu_time, limits)
        return SandboxResult(
            stdout=stdout,
            stderr=stderr,
            exit_code=exit_code,
            wall_s=wall,
            killed_by=killed_by,
            protocol=protocol,
            protocol_error=protocol_error,
            limits=limits,
            cpu_time_s=None if cpu_time is None else round(cpu_time, 4),
            max_rss_mb=round(rss_mb, 1) if rss_mb else None,
            stdout_bytes=out.total,
            stderr_bytes=err.total,
            stdout_truncated=out.truncated,
            stderr_truncated=err.truncated,
            isolated=isolated,
        )


_Stop = Literal["timeout", "memory"]


def _pump(
    proc: subprocess.Popen[bytes],
    out: _Capture,
    err: _Capture,
    deadline: float,
    cancel: threading.Event | None,
    watch: _MemoryWatch | None = None,
) -> _Stop | None:
    """Read both pipes until they close; kill the group at the deadline or over memory.

    Returns why we stopped the script (None: it ended by itself).

    One thread with a selector, rather than a reader thread per pipe, so that a
    pipe held open by an escaped grandchild cannot leave a thread blocked forever.
    """
    assert proc.stdout is not None and proc.stderr is not None
    selector = selectors.DefaultSelector()
    for stream, capture in ((proc.stdout, out), (proc.stderr, err)):
        os.set_blocking(stream.fileno(), False)
        selector.register(stream.fileno(), selectors.EVENT_READ, capture)
    timed_out = False
    stopped: _Stop | None = None
    stop_at = deadline
    exited = False
    try:
        while selector.get_map():
            now = time.monotonic()
            if not exited and not timed_out and _leader_exited(proc):
                exited = True
                _killpg(proc.pid)
                stop_at = min(stop_at, now + _EXIT_GRACE_S)
            if not exited and not timed_out:
                if now >= deadline or (cancel is not None and cancel.is_set()):
                    stopped = "timeout"
                elif watch is not None and watch.exceeded(now):
                    stopped = "memory"
                if stopped is not None:
                    timed_out = True
                    _killpg(proc.pid)
                    stop_at = now + _KILL_DRAIN_S
            if now >= stop_at and (exited or timed_out):
                break
            for key, _ in selector.select(timeout=max(0.0, min(0.05, stop_at - now))):
                try:
                    data = os.read(key.fd, _READ_CHUNK)
                except BlockingIOError:
                    continue
                if data:
                    key.data.feed(data)
                else:
                    selector.unregister(key.fd)
    finally:
        selector.close()
    # Both pipes closed while the script still runs (it closed them itself): its
    # output is over, but the deadline still applies to the process.
    while not exited and not timed_out:
        if _leader_exited(proc):
            exited = True
        elif time.monotonic() >= deadline or (cancel is not None and cancel.is_set()):
            timed_out, stopped = True, "timeout"
            _killpg(proc.pid)
        elif watch is not None and watch.exceeded(time.monotonic()):
            timed_out, stopped = True, "memory"
            _killpg(proc.pid)
        else:
            time.sleep(0.01)
    return stopped


def run_python(
    code: str,
    *,
    timeout_s: float = 30,
    cpu_s: float | None = None,
    memory_mb: int | None = 1024,
    env_allow: Iterable[str] = DEFAULT_ENV_ALLOW,
    cwd: str | os.PathLike[str] | None = None,
    nofile: int = 256,
    file_mb: int = 64,
    max_output_bytes: int = 64_000,
    max_procs: int = 64,
    isolate: bool | None = None,
) -> SandboxResult:
    """Run ``code`` as a script in an isolated, limited child; see the module docstring.

    ``timeout_s`` is wall-clock time; ``cpu_s`` CPU seconds (all threads);
    ``memory_mb`` address space per process and, isolated, resident memory of
    all processes together; ``max_procs`` processes and threads (isolated);
    ``file_mb`` the size of any file it writes; ``max_output_bytes`` how much
    of each of stdout and stderr is kept (half from the start, half from the
    end). ``cwd`` defaults to a fresh temporary directory (a given ``cwd`` is
    bound writable into the sandbox; run as root, the script's unused uid can
    write there only if the folder allows others to). ``isolate``: see
    :func:`isolation`.

    Never raises for anything the script does; raises
    :class:`IsolationUnavailable` when isolation is wanted and impossible, and
    OSError only when the interpreter cannot be started at all.

    >>> run_python('print("OPTIWISE_RESULT", \\'{"status": "optimal", "objective": 1}\\')').objective
    1.0
    """
    isolated = isolation(isolate)
    limits = Limits(timeout_s, cpu_s, memory_mb, nofile, file_mb, max_procs)
    return _execute(code, limits, env_allow, cwd, max_output_bytes, None, isolated)


async def arun_python(
    code: str,
    *,
    timeout_s: float = 30,
    cpu_s: float | None = None,
    memory_mb: int | None = 1024,
    env_allow: Iterable[str] = DEFAULT_ENV_ALLOW,
    cwd: str | os.PathLike[str] | None = None,
    nofile: int = 256,
    file_mb: int = 64,
    max_output_bytes: int = 64_000,
    max_procs: int = 64,
    isolate: bool | None = None,
) -> SandboxResult:
    """Async :func:`run_python`: the run happens in a worker thread.

    Cancelling the awaiting task kills the script's process group at once
    (rather than letting it run to its timeout) and then re-raises.
    """
    isolated = await asyncio.to_thread(isolation, isolate)  # the first probe starts bwrap
    limits = Limits(timeout_s, cpu_s, memory_mb, nofile, file_mb, max_procs)
    cancel = threading.Event()
    names = tuple(env_allow)
    task = asyncio.ensure_future(
        asyncio.to_thread(_execute, code, limits, names, cwd, max_output_bytes, cancel, isolated)
    )
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        cancel.set()
        with contextlib.suppress(Exception):
            await task
        raise
