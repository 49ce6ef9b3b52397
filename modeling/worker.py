"""Hard limits: a solve, diagnosis or export in a child process that is killed at the limit.

A solver's own time limit is cooperative: it is checked between iterations,
and not at all while a model is being built (``x ** 100000`` used to be
multiplied out inside the SCIP interface for ever, ignoring ``--time-limit``
and SIGTERM).  :func:`solve_isolated` runs :func:`modeling.solve` in a child
process and *kills* it (its whole process group, so a CBC or SCIP sub-process
goes too) when the wall-clock limit passes, returning a ``time_limit``
:class:`~modeling.result.SolveResult` with a message that says so.  The caller
stays responsive: it only waits on a pipe.

Children come from a ``forkserver`` that imported numpy, the compiler and the
solver interfaces once, so a solve pays about a fork (~10–30 ms), not the
imports (~1–2 s), and never inherits a lock held by another thread of the
caller (which plain ``fork`` would).

Limits on the child:

* wall clock — ``hard_limit`` seconds, by default the solve's ``time_limit``
  plus :func:`grace` (so the solver can stop by itself and report its best
  point first); a ``SIGALRM`` backstop ends the child even if the parent died;
* memory — ``memory_limit`` bytes of address space (``RLIMIT_AS``) on top of
  what the child starts with; running out ends the work with a clear error;
* the parent — the child dies with the caller (``PR_SET_PDEATHSIG`` on Linux).

>>> r = solve_isolated({"variables": {"x": {"upper": 4}},
...                     "objective": {"sense": "max", "expression": "3 * x"}}, time_limit=10)
>>> r.status, r.objective
(<Status.OPTIMAL: 'optimal'>, 12.0)
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import math
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from multiprocessing import context as mp_context
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from pathlib import Path
from typing import Any, TypeVar

from modeling.limits import human, parse_size
from modeling.result import SolveResult, Status, Termination, Timings

T = TypeVar("T")

DEFAULT_GRACE_S = 2.0
PRELOAD = (
    "numpy",
    "modeling",
    "modeling.solve",
    "modeling.worker",
    "modeling.diagnostics",
    "modeling.export",
    "modeling.backends.highs",
    "modeling.backends.pyomo",
    "modeling.backends.pulp",
    "highspy",
    "pyomo.environ",
    "pyscipopt",
)

_ctx_lock = threading.Lock()
_ctx: Any = None


class HardLimitExceeded(RuntimeError):
    """The child was stopped: ``kind`` is ``time`` or ``memory``; ``elapsed`` in seconds."""

    def __init__(self, kind: str, limit: float, elapsed: float, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.limit = limit
        self.elapsed = elapsed


class WorkerCrashed(RuntimeError):
    """The child ended without an answer (a signal, a crash in a C library)."""


def grace(time_limit: float) -> float:
    """Seconds a solve may run past its own time limit before it is killed."""
    return max(DEFAULT_GRACE_S, 0.1 * time_limit)


def _preload() -> list[str]:
    import importlib.util

    out = []
    for name in PRELOAD:
        try:
            if importlib.util.find_spec(name) is not None:
                out.append(name)
        except (ImportError, ValueError):
            continue
    return out


def _context() -> Any:
    """The forkserver context (preloaded once); plain fork where forkserver is missing."""
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            ctx: Any
            if "forkserver" in multiprocessing.get_all_start_methods():
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(_preload())
            else:
                ctx = multiprocessing.get_context("spawn")
            _ctx = ctx
        return _ctx


class _NoMainPopen(popen_forkserver.Popen):  # type: ignore[misc]
    """Forkserver launch without the caller's ``__main__`` in the preparation data.

    multiprocessing's spawn preparation re-runs the main script in every child
    (a script without an ``if __name__ == "__main__"`` guard would start over);
    our children need only importable modeling functions.  Same steps as
    CPython 3.11-3.13's ``popen_forkserver.Popen._launch`` otherwise.
    """

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_path", None)
        prep_data.pop("init_main_from_name", None)
        buf = io.BytesIO()
        mp_context.set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            mp_context.set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
        _parent_w = os.dup(w)
        self.finalizer = util.Finalize(
            self,
            util.close_fds,  # type: ignore[attr-defined]
            (_parent_w, self.sentinel),
        )
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class NoMainForkServerProcess(mp_context.ForkServerProcess):  # type: ignore[misc,name-defined]
    """A forkserver process whose start does not re-run the caller's ``__main__``.

    Use it wherever a library starts processes: the caller's main script may be
    anything (a Streamlit page, a notebook, a test runner's last script).
    """

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _NoMainPopen(process_obj)


_Process = NoMainForkServerProcess


def warm_up() -> None:
    """Start the forkserver now (about 1–2 s of imports) instead of at the first solve."""
    run_isolated(_noop, time_limit=60.0)


def _noop() -> None:
    return None


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _vm_size() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _child(
    conn: multiprocessing.connection.Connection,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    hard_limit: float | None,
    memory_limit: int | None,
) -> None:
    """Runs in the child: limits first, then ``func``; sends ("ok", value) or an error."""
    with contextlib.suppress(OSError):
        os.setsid()  # own process group: killing it takes solver sub-processes along
    _die_with_parent()
    if hard_limit is not None:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)  # ends the process even under the GIL
        signal.alarm(max(1, math.ceil(hard_limit + 1.0)))
    if memory_limit is not None:
        cap = _vm_size() + memory_limit
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        os.environ["OPTIWISE_MEMORY_BUDGET"] = str(memory_limit)
    try:
        value = func(*args, **kwargs)
        message: tuple[str, Any] = ("ok", value)
    except MemoryError:
        message = ("memory", None)
    except BaseException as exc:  # reported to the parent, never lost
        message = ("raise", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
    try:
        conn.send(message)
    except MemoryError:
        with contextlib.suppress(Exception):
            conn.send(("memory", None))
    except Exception as exc:  # e.g. a result that cannot be pickled
        with contextlib.suppress(Exception):
            conn.send(("raise", f"the result could not be sent back: {exc!r}"))
    finally:
        conn.close()


def _kill(proc: Any) -> None:
    pid = proc.pid
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.kill()
    proc.join(timeout=5)


def _reap(proc: Any) -> None:
    proc.join(timeout=5.0)
    if proc.is_alive():
        _kill(proc)


def run_isolated(
    func: Callable[..., T],
    *args: Any,
    time_limit: float | None,
    memory_limit: int | str | None = None,
    **kwargs: Any,
) -> T:
    """``func(*args, **kwargs)`` in a killable child process; its return value.

    ``func`` must be importable by name (a module-level function) and its
    arguments and result picklable.  At ``time_limit`` wall-clock seconds the
    child and its process group are killed and :class:`HardLimitExceeded`
    (``kind="time"``) is raised; running out of ``memory_limit`` (bytes or
    ``"2G"``) raises it with ``kind="memory"``.  An exception inside ``func``
    is raised here as :class:`RuntimeError` with the child's traceback text; a
    child that dies without answering raises :class:`WorkerCrashed`.
    """
    mem = _bytes(memory_limit)
    ctx = _context()
    recv, send = ctx.Pipe(duplex=False)
    cls = _Process if ctx.get_start_method() == "forkserver" else ctx.Process
    proc = cls(target=_child, args=(send, func, args, kwargs, time_limit, mem), daemon=True)
    proc.start()  # the first call also starts the forkserver: not counted in the limit
    t0 = time.monotonic()
    send.close()
    try:
        deadline = None if time_limit is None else t0 + time_limit
        while True:
            wait = 0.25 if deadline is None else max(0.0, min(0.25, deadline - time.monotonic()))
            if recv.poll(wait):
                try:
                    kind, value = recv.recv()
                except (EOFError, OSError):
                    kind, value = "dead", None
                    proc.join(timeout=2.0)  # closed its pipe by dying: wait for its exit code
                break
            if not proc.is_alive() and not recv.poll(0):
                kind, value = "dead", None
                break
            if deadline is not None and time.monotonic() >= deadline:
                elapsed = time.monotonic() - t0
                _kill(proc)
                raise HardLimitExceeded(
                    "time",
                    time_limit or 0.0,
                    elapsed,
                    f"stopped after {elapsed:.1f} s: the hard time limit of "
                    f"{time_limit:g} s was reached and the worker process was killed",
                )
    finally:
        recv.close()
        if proc.is_alive():  # it is exiting: reap it without making the caller wait
            threading.Thread(target=_reap, args=(proc,), daemon=True).start()
    elapsed = time.monotonic() - t0
    if kind == "ok":
        return value  # type: ignore[no-any-return]
    if kind == "memory":
        raise HardLimitExceeded(
            "memory",
            float(mem or 0),
            elapsed,
            f"ran out of memory{_mem_text(mem)} after {elapsed:.1f} s",
        )
    if kind == "raise":
        raise RuntimeError(f"the worker failed: {value}")
    code = proc.exitcode
    why = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    if mem is not None and code is not None and code in (-signal.SIGABRT, -signal.SIGSEGV, 1):
        raise HardLimitExceeded(
            "memory",
            float(mem),
            elapsed,
            f"the worker process died ({why}) after {elapsed:.1f} s, most likely out of "
            f"memory{_mem_text(mem)}",
        )
    if code == -signal.SIGALRM:
        raise HardLimitExceeded(
            "time", time_limit or 0.0, elapsed, f"stopped by its own alarm after {elapsed:.1f} s"
        )
    raise WorkerCrashed(f"the worker process died ({why}) after {elapsed:.1f} s")


def _mem_text(mem: int | None) -> str:
    return f" (limit {human(mem)})" if mem else ""


def _bytes(memory_limit: int | str | None) -> int | None:
    if memory_limit is None:
        return None
    if isinstance(memory_limit, int):
        return memory_limit
    value = parse_size(memory_limit)
    if isinstance(value, float):
        from modeling.limits import available_memory

        return int(available_memory() * value)
    return value


def _solve_in_child(source: Any, kwargs: dict[str, Any], keep_model: bool) -> SolveResult:
    from modeling.solve import solve

    result = solve(source, **kwargs)  # checks the chosen backend's memory before it builds
    return result if keep_model else replace(result, model=None)


def solve_isolated(
    source: Any,
    *,
    time_limit: float | None = None,
    hard_limit: float | None = None,
    memory_limit: int | str | None = None,
    keep_model: bool = True,
    **solve_kwargs: Any,
) -> SolveResult:
    """:func:`modeling.solve` in a killable worker; the same :class:`SolveResult`, always.

    ``time_limit`` is passed to the solver (a cooperative limit that returns the
    best point found); the worker is killed at ``hard_limit`` seconds of wall
    clock, by default ``time_limit + grace(time_limit)``, and then the result
    has status ``time_limit`` and a message saying the solve was stopped.
    Without either limit the solve is still isolated but not bounded.
    ``memory_limit`` (bytes, ``"4G"`` or ``"50%"`` of the available memory)
    caps the worker's address space and is its memory budget for
    :func:`modeling.limits.check_memory` and
    :func:`modeling.limits.check_backend_memory`.  ``solve_kwargs`` are
    :func:`modeling.solve`'s (``backend``, ``solver``, ``mip_gap``, ``threads``,
    ``verbose``, ``options``).  ``keep_model=False`` leaves the compiled model
    out of the result (less to send back from a big model).
    """
    if isinstance(source, Path):
        source = str(source)
    if time_limit is not None:
        solve_kwargs["time_limit"] = time_limit
    if hard_limit is None and time_limit is not None:
        hard_limit = time_limit + grace(time_limit)
    t0 = time.perf_counter()
    try:
        return run_isolated(
            _solve_in_child,
            source,
            solve_kwargs,
            keep_model,
            time_limit=hard_limit,
            memory_limit=memory_limit,
        )
    except HardLimitExceeded as exc:
        status = Status.TIME_LIMIT if exc.kind == "time" else Status.ERROR
        term = Termination.TIME_LIMIT if exc.kind == "time" else Termination.ERROR
        hint = (
            " (no solution was returned; raise the time limit, or simplify the model)"
            if exc.kind == "time"
            else " (use smaller sets, or raise the memory limit)"
        )
        return SolveResult(
            status,
            term,
            message=str(exc) + hint,
            timings=Timings(total_s=time.perf_counter() - t0),
        )
    except Exception as exc:  # a crashed child, a bad memory_limit: a result, never a raise
        return SolveResult(
            Status.ERROR,
            Termination.ERROR,
            message=str(exc),
            timings=Timings(total_s=time.perf_counter() - t0),
        )


__all__ = [
    "DEFAULT_GRACE_S",
    "HardLimitExceeded",
    "NoMainForkServerProcess",
    "WorkerCrashed",
    "grace",
    "run_isolated",
    "solve_isolated",
    "warm_up",
]
