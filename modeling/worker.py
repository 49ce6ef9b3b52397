"""Hard limits: a solve, diagnosis or export in a worker process that is killed at the limit.

A solver's own time limit is cooperative: it is checked between iterations,
and not at all while a model is being built (``x ** 100000`` used to be
multiplied out inside the SCIP interface for ever, ignoring ``--time-limit``
and SIGTERM).  :func:`solve_isolated` runs :func:`modeling.solve` in a worker
process and *kills* it (its whole process group, so a CBC or SCIP sub-process
goes too) when the wall-clock limit passes, returning a ``time_limit``
:class:`~modeling.result.SolveResult` with a message that says so.  The caller
stays responsive: it only waits on a pipe.  :func:`diagnose_isolated` does the
same for the diagnoses (IIS, unbounded ray, sensitivity, ``explain``) and
:func:`run_isolated` for any importable function.

The workers are long-lived (:class:`WorkerPool`): each is forked once from a
``forkserver`` that imported numpy, the compiler and the solver interfaces,
then takes jobs over a pipe, so a solve pays a pickle round trip (a few
milliseconds), not a fork (~10–50 ms) or the imports (1–6 s).  A worker whose
job passes its limit is killed and replaced; so is one that crashed or ran out
of memory (and the call says so).  Calls from many threads share the pool: each
call checks out a worker of its own, the pool grows up to ``max_workers``
(``OPTIWISE_WORKERS``; default ``min(8, max(4, CPUs))``) and further callers
wait for one to come back, at most their job's hard limit (then
:class:`NoFreeWorker`: the job did not start).  :func:`warm_up` starts a worker ahead of time
(``wait=False``: in a background thread), so the first solve does not pay the
start either.

Limits on a job:

* wall clock — ``hard_limit`` seconds, by default the solve's ``time_limit``
  plus :func:`grace` (so the solver can stop by itself and report its best
  point first); a ``SIGALRM`` backstop ends the worker even if the parent died;
* memory — ``memory_limit`` bytes of address space (a soft ``RLIMIT_AS``) on
  top of the worker's size when the job starts, put back when it ends; running
  out ends the job with a clear error (and the worker is replaced);
* the parent — workers die with the caller (their pipe closes; ``PR_SET_PDEATHSIG``
  on Linux when the forkserver goes) and are stopped at interpreter exit.

>>> r = solve_isolated({"variables": {"x": {"upper": 4}},
...                     "objective": {"sense": "max", "expression": "3 * x"}}, time_limit=10)
>>> r.status, r.objective
(<Status.OPTIMAL: 'optimal'>, 12.0)
"""

from __future__ import annotations

import atexit
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
from dataclasses import dataclass, field, replace
from multiprocessing import context as mp_context
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from pathlib import Path
from typing import Any, Literal, TypeVar

from modeling.limits import human, parse_size
from modeling.result import SolveResult, Status, Termination, Timings

T = TypeVar("T")

DEFAULT_GRACE_S = 2.0
DEFAULT_DIAGNOSIS_LIMIT_S = 30.0
"""A diagnosis's own time limit when the caller gives none (as :mod:`modeling.diagnostics`)."""
START_TIMEOUT_S = 120.0
"""A worker that has not said it is ready after this long is given up (a loaded machine's
first start imports numpy, SciPy, Pyomo and the solvers: 1–6 s)."""
MAX_JOBS_PER_WORKER = 500
"""A worker is retired (stopped and, when needed again, replaced) after this many jobs..."""
RETIRE_GROWTH_BYTES = 1 << 30
"""... or once its resident memory grew this much past its size at start (a big model's
heap is not always given back to the system)."""
IDLE_TIMEOUT_S = 300.0
"""Idle workers beyond the first are stopped after this long without a job."""
PRELOAD_CORE = (
    "numpy",
    "scipy.sparse",
    "modeling",
    "modeling.compiler",
    "modeling.solve",
    "modeling.worker",
    "modeling.diagnostics",
    "modeling.backends.highs",
    "highspy",
)
"""What the forkserver imports in ``core`` mode: enough for HiGHS (LP, MILP, convex QP)."""
PRELOAD_EXTRA = (
    "modeling.export",
    "modeling.blackbox",
    "modeling.numeric",
    "modeling.backends.pyomo",
    "modeling.backends.pulp",
    "pyomo.environ",
    "pyscipopt",
)
"""The rest (Pyomo, SCIP, PuLP: about twice the CPU of the core): imported by the forkserver
in ``full`` mode, by a worker's first job that needs them in ``core`` mode."""
PRELOAD = PRELOAD_CORE + PRELOAD_EXTRA
IMPORT_ALLOWANCE_S = 10.0
"""In ``core`` mode, extra seconds on the hard limit of a job sent to a worker that has not
imported Pyomo and SCIP yet (the import takes 1-3 s, more on a loaded machine)."""
Preload = Literal["full", "core"]
_preload_mode: Preload = "full"

_BUDGET_ENV = "OPTIWISE_MEMORY_BUDGET"
_ctx_lock = threading.Lock()
_ctx: Any = None


class HardLimitExceeded(RuntimeError):
    """The job was stopped: ``kind`` is ``time`` or ``memory``; ``elapsed`` in seconds."""

    def __init__(self, kind: str, limit: float, elapsed: float, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.limit = limit
        self.elapsed = elapsed


class NoFreeWorker(HardLimitExceeded):
    """Every worker stayed busy with other jobs for the job's whole hard limit: it did not start.

    A ``time`` :class:`HardLimitExceeded` (callers that handle one handle this), raised
    before the job reached a worker, so no worker was killed.  Waiting for a worker that
    is still *starting* (the forkserver's first imports) does not count: that is bounded
    by the start's own timeout.
    """


class WorkerCrashed(RuntimeError):
    """The worker ended without an answer (a signal, a crash in a C library, a closed pool).

    The worker is replaced; the next call runs in a fresh one.
    """


def grace(time_limit: float) -> float:
    """Seconds a solve may run past its own time limit before it is killed."""
    return max(DEFAULT_GRACE_S, 0.1 * time_limit)


def configure(preload: Preload) -> None:
    """Choose what the forkserver imports before the first worker starts (later: no effect).

    ``full`` (the default; ``OPTIWISE_WORKER_PRELOAD``) imports every solver interface once,
    shared by all workers: right for a long-lived process (the agent, the app, evals).
    ``core`` imports only what HiGHS needs, so a one-shot command's first worker is ready in
    about a third of the CPU time; a worker's first job that needs Pyomo or SCIP imports them
    (1-3 s), and until a worker has, its jobs' hard limits get :data:`IMPORT_ALLOWANCE_S` more.
    (Importing them in a background thread instead races with a job's own import: Pyomo's
    package cannot be imported from two threads at once.)
    """
    global _preload_mode
    if preload not in ("full", "core"):
        raise ValueError(f"preload must be 'full' or 'core', got {preload!r}")
    _preload_mode = preload


def _mode() -> Preload:
    env = os.environ.get("OPTIWISE_WORKER_PRELOAD", "").strip().lower()
    if env in ("full", "core"):
        return env  # type: ignore[return-value]
    return _preload_mode


def _available(names: tuple[str, ...]) -> list[str]:
    import importlib.util

    out = []
    for name in names:
        try:
            if importlib.util.find_spec(name) is not None:
                out.append(name)
        except (ImportError, ValueError):
            continue
    return out


def _context() -> Any:
    """The forkserver context (preloaded once); spawn where forkserver is missing."""
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            ctx: Any
            if "forkserver" in multiprocessing.get_all_start_methods():
                ctx = multiprocessing.get_context("forkserver")
                core = _mode() == "core"
                ctx.set_forkserver_preload(_available(PRELOAD_CORE if core else PRELOAD))
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


# ------------------------------------------------------------------ the worker side


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _release_forkserver() -> None:
    """Close this worker's copy of the forkserver's "caller alive" pipe.

    multiprocessing hands every forkserver child that pipe's write end, and the
    forkserver exits only when every copy is closed; a busy worker holding one
    would keep it alive after the caller died, and with it the worker (whose
    ``PR_SET_PDEATHSIG`` fires when the forkserver goes).  A worker starts no
    processes through multiprocessing, so it does not need it.
    """
    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(fd, int):
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]


def _statm(pid: int | str, field_no: int) -> int:
    """One field of ``/proc/<pid>/statm`` in bytes (0 = total size, 1 = resident); 0 if unknown."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
            return int(fh.read().split()[field_no]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _vm_size() -> int:
    return _statm("self", 0)


def _heavy_loaded() -> bool:
    """Whether this worker has the solver interfaces beyond HiGHS (see :func:`configure`)."""
    return "pyomo.environ" in sys.modules


def _serve(conn: multiprocessing.connection.Connection, full: bool = True) -> None:
    """A worker's life: limits and quiet output once, then one job after another.

    A job is ``(func, args, kwargs, hard_limit, memory_limit)`` (pickled by the
    caller); the reply is ``("ok", value)``, ``("raise", traceback text)``,
    ``("memory", None)`` or ``("fatal", text)`` (the job ended the worker's use:
    a ``SystemExit`` or ``KeyboardInterrupt`` inside it), each followed by whether
    Pyomo and SCIP are imported.  A closed pipe or ``None`` ends the worker.
    ``full``: import them before saying ready if the forkserver has not (it was
    started with another preload list, e.g. by an eval executor), so no job's
    limit pays for them.
    """
    with contextlib.suppress(OSError):
        os.setsid()  # own process group: killing it takes solver sub-processes along
    _die_with_parent()
    _release_forkserver()
    # What solvers print goes to standard error: the caller's stdout may be a JSON document.
    with contextlib.suppress(OSError):
        sys.stdout.flush()
        os.dup2(2, 1)
    sys.stdout = sys.stderr
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # ends the process even under the GIL
    if full and not _heavy_loaded():  # a forkserver started by someone else's preload list
        import importlib

        for name in _available(PRELOAD_EXTRA):
            with contextlib.suppress(Exception):
                importlib.import_module(name)
    try:
        conn.send(("ready", os.getpid(), _heavy_loaded()))
    except OSError:  # the caller closed the pool while this worker was starting: leave quietly
        return
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            try:
                job = reduction.ForkingPickler.loads(data)
            except Exception as exc:  # e.g. a function the worker cannot import
                conn.send(("raise", f"the job could not be read in the worker: {exc!r}"))
                continue
            if job is None:
                return
            _run_job(conn, *job)
        except OSError:  # the caller is gone (a closed pipe): nobody waits for a reply
            return


def _run_job(
    conn: multiprocessing.connection.Connection,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    hard_limit: float | None,
    memory_limit: int | None,
) -> None:
    """One job under its limits; its reply sent; the worker's state put back as it was."""
    cwd = os.getcwd()
    old_budget = os.environ.get(_BUDGET_ENV)
    old_as = resource.getrlimit(resource.RLIMIT_AS)
    if hard_limit is not None:  # after the caller's kill, with the same import allowance
        allowance = 0.0 if _heavy_loaded() else IMPORT_ALLOWANCE_S
        signal.alarm(max(1, math.ceil(hard_limit + allowance + 1.0)))
    if memory_limit is not None:
        soft = _vm_size() + memory_limit
        if old_as[1] != resource.RLIM_INFINITY:
            soft = min(soft, old_as[1])
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (soft, old_as[1]))
        os.environ[_BUDGET_ENV] = str(memory_limit)
    try:
        try:
            value = func(*args, **kwargs)
            message: tuple[str, Any] = ("ok", value)
        except MemoryError:
            message = ("memory", None)
        except Exception as exc:  # reported to the caller, never lost
            message = ("raise", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
        except BaseException as exc:  # SystemExit, KeyboardInterrupt: this worker is done
            message = ("fatal", f"{type(exc).__name__}: {exc}")
        value = None
        try:
            conn.send((*message, _heavy_loaded()))
        except MemoryError:
            message = None  # type: ignore[assignment]
            conn.send(("memory", None))
        except Exception as exc:  # e.g. a result that cannot be pickled
            conn.send(("raise", f"the result could not be sent back: {exc!r}"))
    finally:
        signal.alarm(0)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, old_as)
        if old_budget is None:
            os.environ.pop(_BUDGET_ENV, None)
        else:
            os.environ[_BUDGET_ENV] = old_budget
        with contextlib.suppress(OSError):
            os.chdir(cwd)


# ------------------------------------------------------------------ the caller side


@dataclass(eq=False)
class _Worker:
    """A live worker as the pool sees it."""

    proc: Any
    conn: multiprocessing.connection.Connection
    pid: int
    rss0: int
    heavy: bool = True
    """Pyomo and SCIP are imported (always in ``full`` preload mode)."""
    jobs: int = 0
    last_used: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        return bool(self.proc.is_alive())


def _kill(worker: _Worker) -> None:
    """SIGKILL the worker's process group (solver sub-processes too) and reap it."""
    with contextlib.suppress(Exception):
        worker.conn.close()
    if worker.proc.exitcode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(worker.pid) == worker.pid:
            os.killpg(worker.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        worker.proc.kill()
    with contextlib.suppress(Exception):
        worker.proc.join(timeout=5)


def _stop(worker: _Worker, timeout: float = 2.0) -> None:
    """Ask an idle worker to exit (its pipe closes); kill it if it does not."""
    with contextlib.suppress(Exception):
        worker.conn.close()
    with contextlib.suppress(Exception):
        worker.proc.join(timeout=timeout)
    if worker.proc.exitcode is None:
        _kill(worker)


def _default_size() -> int:
    text = os.environ.get("OPTIWISE_WORKERS", "").strip()
    if text:
        try:
            return max(1, int(text))
        except ValueError:
            raise ValueError(f"OPTIWISE_WORKERS must be a whole number, got {text!r}") from None
    # at least 4: a quick solve or diagnosis need not queue behind two long ones on 2 cores
    return min(8, max(4, os.cpu_count() or 2))


class WorkerPool:
    """Long-lived worker processes that run jobs under hard limits; thread-safe.

    >>> pool = WorkerPool(max_workers=2)
    >>> pool.run(sum, ([1, 2, 3],), time_limit=10)
    6
    >>> pool.close()

    ``run`` checks out an idle worker (or starts one while fewer than
    ``max_workers`` exist; else waits, at most the job's hard limit), sends it the job and waits on its pipe
    until the answer, the worker's death or the hard limit; at the limit the
    worker's process group is killed and a replacement is started in the
    background.  The module keeps one shared pool (:func:`default_pool`).
    """

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers if max_workers is not None else _default_size()
        if self.max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {self.max_workers}")
        self._cond = threading.Condition(threading.Lock())
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._starting = 0
        self._prewarming = 0
        self._threads: set[threading.Thread] = set()
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"WorkerPool(max_workers={self.max_workers}, idle={len(self._idle)}, "
            f"busy={len(self._busy)}, closed={self._closed})"
        )

    # ------------------------------------------------------------ workers

    def pids(self) -> list[int]:
        """Process ids of the pool's live workers (idle and busy)."""
        with self._cond:
            return [w.pid for w in [*self._idle, *self._busy]]

    def _start(self) -> _Worker:
        """A new worker, ready for a job (blocks: a fork, or the forkserver's first start)."""
        ctx = _context()
        ours, theirs = ctx.Pipe(duplex=True)
        cls = _Process if ctx.get_start_method() == "forkserver" else ctx.Process
        full = _mode() == "full"
        proc = cls(target=_serve, args=(theirs, full), name="optiwise-worker", daemon=True)
        try:
            proc.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        worker = _Worker(proc=proc, conn=ours, pid=int(proc.pid or 0), rss0=0)
        try:
            if not ours.poll(START_TIMEOUT_S):
                raise WorkerCrashed(f"a worker did not start within {START_TIMEOUT_S:g} s")
            worker.heavy = bool(ours.recv()[2])
        except (EOFError, OSError):
            proc.join(timeout=2.0)
            _kill(worker)
            raise WorkerCrashed(
                f"a worker died while starting ({_exit_text(proc.exitcode)})"
            ) from None
        except BaseException:
            _kill(worker)
            raise
        worker.rss0 = _statm(worker.pid, 1)
        return worker

    def _checkout(self, wait_limit: float | None = None) -> _Worker:
        """An idle worker, a new one, or one that comes back; at most ``wait_limit`` seconds
        of waiting while every worker is busy with a job (then :class:`NoFreeWorker`)."""
        saturated_since: float | None = None
        with self._cond:
            while True:
                if self._closed:
                    raise WorkerCrashed("the worker pool is closed")
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        self._busy.add(worker)
                        return worker
                    threading.Thread(target=_kill, args=(worker,), daemon=True).start()
                total = len(self._busy) + self._starting
                if self._prewarming == 0 and total < self.max_workers:
                    self._starting += 1
                    break
                if wait_limit is None or len(self._busy) < self.max_workers:
                    self._cond.wait()  # a worker is starting: bounded by START_TIMEOUT_S
                    continue
                now = time.monotonic()
                if saturated_since is None:
                    saturated_since = now
                left = wait_limit - (now - saturated_since)
                if left <= 0:
                    raise self._no_free_worker(wait_limit, now - saturated_since)
                self._cond.wait(left)
        try:
            worker = self._start()
        except BaseException:
            with self._cond:
                self._starting -= 1
                self._cond.notify_all()
            raise
        with self._cond:
            self._starting -= 1
            if not self._closed:
                self._busy.add(worker)
                return worker
        _kill(worker)
        raise WorkerCrashed("the worker pool is closed")

    def _checkin(self, worker: _Worker) -> None:
        """A worker back from a job that ended normally: idle again, or retired."""
        worker.jobs += 1
        worker.last_used = time.monotonic()
        grown = _statm(worker.pid, 1) - worker.rss0 if worker.rss0 else 0
        retire = worker.jobs >= MAX_JOBS_PER_WORKER or grown > RETIRE_GROWTH_BYTES
        stale: list[_Worker] = []
        with self._cond:
            self._busy.discard(worker)
            if retire or self._closed:
                stale.append(worker)
            else:
                self._idle.append(worker)
                now = time.monotonic()
                keep = [w for w in self._idle if now - w.last_used < IDLE_TIMEOUT_S]
                keep = keep or self._idle[-1:]
                stale += [w for w in self._idle if w not in keep]
                self._idle = keep
            self._cond.notify_all()
        for w in stale:
            threading.Thread(target=_stop, args=(w,), daemon=True).start()

    def _discard(self, worker: _Worker, replace: bool) -> None:
        """Kill a worker that cannot be reused (killed at a limit, crashed, out of memory)."""
        with self._cond:
            self._busy.discard(worker)
            if worker in self._idle:
                self._idle.remove(worker)
            self._cond.notify_all()
        _kill(worker)
        if replace:
            self.warm_up(wait=False)

    def warm_up(self, n: int = 1, wait: bool = True) -> None:
        """Have ``n`` idle workers ready (at most ``max_workers``): started now, or with
        ``wait=False`` in background threads whose failures are left for the next call."""
        with self._cond:
            if self._closed:
                return
            have = len(self._idle) + self._prewarming
            room = self.max_workers - len(self._idle) - len(self._busy) - self._starting
            count = max(0, min(n - have, room - self._prewarming))
            self._prewarming += count
        threads = []
        for _ in range(count):
            thread = threading.Thread(
                target=self._prewarm_one, name="optiwise-prewarm", daemon=True
            )
            with self._cond:
                self._threads.add(thread)
            thread.start()
            threads.append(thread)
        if wait:
            for thread in threads:
                thread.join()

    def _prewarm_one(self) -> None:
        worker: _Worker | None = None
        try:
            worker = self._start()
        except Exception:
            worker = None  # the next call starts one itself and reports why it cannot
        finally:
            with self._cond:
                self._prewarming -= 1
                self._threads.discard(threading.current_thread())
                keep = worker is not None and not self._closed
                if keep and worker is not None:
                    self._idle.append(worker)
                self._cond.notify_all()
        if worker is not None and not keep:
            _kill(worker)

    def close(self, timeout: float = 2.0) -> None:
        """Stop every worker: idle ones are asked to exit, busy ones killed; waits for them.

        A call still waiting on a busy worker raises :class:`WorkerCrashed`.  Idempotent.
        """
        with self._cond:
            self._closed = True
            idle, busy = list(self._idle), list(self._busy)
            threads = list(self._threads)
            self._idle.clear()
            self._cond.notify_all()
        for worker in busy:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(worker.pid, signal.SIGKILL)
        for worker in idle:
            with contextlib.suppress(Exception):
                worker.conn.close()
        deadline = time.monotonic() + timeout
        for worker in [*idle, *busy]:
            with contextlib.suppress(Exception):
                worker.proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.proc.exitcode is None:
                _kill(worker)
        for thread in threads:  # a start in flight: its worker is killed as it arrives
            thread.join(timeout=max(0.1, deadline - time.monotonic()))

    # ------------------------------------------------------------ jobs

    def run(
        self,
        func: Callable[..., T],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        time_limit: float | None,
        memory_limit: int | None = None,
    ) -> T:
        """``func(*args, **kwargs)`` in a worker; see :func:`run_isolated`."""
        payload = reduction.ForkingPickler.dumps(
            (func, args, kwargs or {}, time_limit, memory_limit)
        )
        for _ in range(3):  # a worker that died while idle is replaced without a word
            worker = self._checkout(time_limit)
            try:
                worker.conn.send_bytes(payload)
                break
            except OSError:
                self._discard(worker, replace=False)
        else:
            raise WorkerCrashed("no worker would take the job (each died on arrival)")
        t0 = time.monotonic()
        limit = time_limit
        if limit is not None and not worker.heavy:  # its first Pyomo/SCIP job imports them
            limit += IMPORT_ALLOWANCE_S
        finished = False
        try:
            kind, value, *rest = self._wait(worker, t0, limit)
            finished = True
        finally:
            if not finished:  # killed at the limit, or the caller was interrupted
                self._discard(worker, replace=True)
        elapsed = time.monotonic() - t0
        if rest:
            worker.heavy = bool(rest[0])
        if kind in ("ok", "raise"):
            self._checkin(worker)
        else:
            self._discard(worker, replace=True)
        if kind == "ok":
            return value  # type: ignore[no-any-return]
        if kind == "raise":
            raise RuntimeError(f"the worker failed: {value}")
        if kind == "fatal":
            raise WorkerCrashed(f"the job ended its worker: {value} (a fresh one replaces it)")
        if kind == "memory":
            raise HardLimitExceeded(
                "memory",
                float(memory_limit or 0),
                elapsed,
                f"ran out of memory{_mem_text(memory_limit)} after {elapsed:.1f} s",
            )
        return self._death(worker, elapsed, time_limit, memory_limit)

    def _no_free_worker(self, limit: float, waited: float) -> NoFreeWorker:
        n = self.max_workers
        busy = f"all {n} worker processes were" if n > 1 else "the only worker process was"
        return NoFreeWorker(
            "time",
            limit,
            waited,
            f"no worker was free for {waited:.1f} s, the job's hard limit of {limit:g} s: "
            f"{busy} busy with other jobs, so the job did not start (run fewer solves at "
            f"once, or raise OPTIWISE_WORKERS, now {n})",
        )

    def _wait(self, worker: _Worker, t0: float, time_limit: float | None) -> tuple[Any, ...]:
        deadline = None if time_limit is None else t0 + time_limit
        waiting = [worker.conn, worker.proc.sentinel]
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = multiprocessing.connection.wait(waiting, timeout)
            if worker.conn in ready:
                try:
                    return worker.conn.recv()  # type: ignore[no-any-return]
                except (EOFError, OSError):
                    return "dead", None  # closed its pipe by dying
            if ready:  # the sentinel: dead, nothing sent
                return "dead", None
            if deadline is not None and time.monotonic() >= deadline:
                elapsed = time.monotonic() - t0  # run() kills and replaces the worker
                raise HardLimitExceeded(
                    "time",
                    time_limit or 0.0,
                    elapsed,
                    f"stopped after {elapsed:.1f} s: the hard time limit of "
                    f"{time_limit:g} s was reached and the worker process was killed",
                )

    def _death(
        self, worker: _Worker, elapsed: float, time_limit: float | None, mem: int | None
    ) -> Any:
        """Raise what a worker's death without an answer means."""
        code = worker.proc.exitcode
        if self._closed:
            raise WorkerCrashed(f"the worker pool was closed while the job ran ({elapsed:.1f} s)")
        why = _exit_text(code)
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
                "time",
                time_limit or 0.0,
                elapsed,
                f"stopped by its own alarm after {elapsed:.1f} s",
            )
        raise WorkerCrashed(
            f"the worker process died ({why}) after {elapsed:.1f} s; a fresh one replaces it"
        )


def _exit_text(code: int | None) -> str:
    return f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"


# ------------------------------------------------------------------ the shared pool

_pool_lock = threading.Lock()
_pool: WorkerPool | None = None
_pool_pid = os.getpid()


def default_pool() -> WorkerPool:
    """The process's shared :class:`WorkerPool` (created at first use; closed at exit)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid() or _pool._closed:
            _pool = WorkerPool()
            _pool_pid = os.getpid()
        return _pool


def shutdown() -> None:
    """Close the shared pool (its workers exit); the next call starts a new one."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None and _pool_pid == os.getpid():
        pool.close()


def _forget_after_fork() -> None:
    """In a child made by ``os.fork``: the parent's workers are not ours to use or stop."""
    global _pool, _pool_lock, _ctx_lock
    _pool = None
    _pool_lock = threading.Lock()
    _ctx_lock = threading.Lock()


atexit.register(shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def warm_up(wait: bool = True) -> None:
    """Have a worker ready now (the first start imports the solvers: 1–6 s), instead of
    at the first solve; ``wait=False`` starts it in a background thread and returns."""
    default_pool().warm_up(1, wait=wait)


def run_isolated(
    func: Callable[..., T],
    *args: Any,
    time_limit: float | None,
    memory_limit: int | str | None = None,
    **kwargs: Any,
) -> T:
    """``func(*args, **kwargs)`` in a killable worker process; its return value.

    ``func`` must be importable by name (a module-level function) and its
    arguments and result picklable.  At ``time_limit`` wall-clock seconds the
    worker and its process group are killed and :class:`HardLimitExceeded`
    (``kind="time"``) is raised; running out of ``memory_limit`` (bytes or
    ``"2G"``) raises it with ``kind="memory"``.  An exception inside ``func``
    is raised here as :class:`RuntimeError` with the worker's traceback text; a
    worker that dies without answering raises :class:`WorkerCrashed`.  Either
    way the next call gets a working worker.  When every worker stays busy with
    other jobs for ``time_limit`` seconds the job does not start:
    :class:`NoFreeWorker` (a ``time`` :class:`HardLimitExceeded`).
    """
    mem = _bytes(memory_limit)
    return default_pool().run(func, args, kwargs, time_limit=time_limit, memory_limit=mem)


def _call_catching(
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    raises: tuple[type[BaseException], ...],
) -> Any:
    try:
        return func(*args, **kwargs)
    except raises as exc:
        return _Raised(exc)  # type: ignore[arg-type]


def call_isolated(
    func: Callable[..., T],
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    time_limit: float | None,
    memory_limit: int | str | None = None,
    raises: tuple[type[Exception], ...] = (ValueError,),
) -> T:
    """:func:`run_isolated`, except that the exceptions of ``raises`` (the ones the caller
    handles, e.g. a located ``ValueError``) come back as themselves, not as ``RuntimeError``.

    >>> call_isolated(int, ("x",), time_limit=10)
    Traceback (most recent call last):
    ...
    ValueError: invalid literal for int() with base 10: 'x'
    """
    value = run_isolated(
        _call_catching,
        func,
        args,
        kwargs or {},
        raises,
        time_limit=time_limit,
        memory_limit=memory_limit,
    )
    if isinstance(value, _Raised):
        raise value.error
    return value


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
    caps the worker's address space for this job and is its memory budget for
    :func:`modeling.limits.check_memory` and
    :func:`modeling.limits.check_backend_memory`.  ``solve_kwargs`` are
    :func:`modeling.solve`'s (``backend``, ``solver``, ``mip_gap``, ``threads``,
    ``verbose``, ``options``).  ``keep_model=False`` leaves the compiled model
    out of the result (less to send back; a caller that compiled it has it).
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
            ""  # the message says why and what to do
            if isinstance(exc, NoFreeWorker)
            else " (no solution was returned; raise the time limit, or simplify the model)"
            if exc.kind == "time"
            else " (use smaller sets, or raise the memory limit)"
        )
        return SolveResult(
            status,
            term,
            message=str(exc) + hint,
            timings=Timings(total_s=time.perf_counter() - t0),
        )
    except Exception as exc:  # a crashed worker, a bad memory_limit: a result, never a raise
        return SolveResult(
            Status.ERROR,
            Termination.ERROR,
            message=str(exc),
            timings=Timings(total_s=time.perf_counter() - t0),
        )


Diagnosis = Literal["infeasible", "unbounded", "sensitivity", "explain"]
"""What :func:`diagnose_isolated` runs: :func:`~modeling.diagnostics.explain_infeasible`,
:func:`~modeling.diagnostics.explain_unbounded`, :func:`~modeling.diagnostics.sensitivity`
or :func:`~modeling.diagnostics.explain` (solve, then whichever fits)."""


@dataclass(frozen=True)
class _Raised:
    """An expected error of an isolated call, carried back to be raised in the caller."""

    error: Exception


def _diagnose_in_child(
    kind: Diagnosis, source: Any, data: str | None, kwargs: dict[str, Any]
) -> Any:
    from modeling import diagnostics

    funcs: dict[str, Callable[..., Any]] = {
        "infeasible": diagnostics.explain_infeasible,
        "unbounded": diagnostics.explain_unbounded,
        "sensitivity": diagnostics.sensitivity,
        "explain": diagnostics.explain,
    }
    if data is not None:  # the tables are read here, under the limit too
        from modeling.formulation import load

        source = load(source, data=data)
    return funcs[kind](source, **kwargs)


def diagnose_isolated(
    kind: Diagnosis,
    source: Any,
    *,
    time_limit: float | None = None,
    hard_limit: float | None = None,
    memory_limit: int | str | None = None,
    data: str | Path | None = None,
    **kwargs: Any,
) -> Any:
    """A diagnosis report (:mod:`modeling.diagnostics`) computed in a killable worker.

    ``kind`` picks the diagnosis (:data:`Diagnosis`); ``source`` is what it
    takes (a document, a file path, a compiled model); ``data`` is the folder of
    the tables a document reads (loaded in the worker).  ``time_limit`` is the
    diagnosis's own budget (default 30 s for the IIS and the ray) and the worker
    is killed at ``hard_limit``, by default that budget plus :func:`grace`, so a
    diagnosis is always bounded.  ``kwargs`` go to the diagnosis (e.g.
    ``fix_integers=True`` for ``sensitivity``).

    Raises the diagnosis's own :class:`~modeling.diagnostics.DiagnosticsError`
    or :class:`~modeling.errors.FormulationError`, :class:`HardLimitExceeded`
    when the worker was killed, :class:`WorkerCrashed` when it died.
    """
    if kind not in ("infeasible", "unbounded", "sensitivity", "explain"):
        raise ValueError(
            f"unknown diagnosis {kind!r}; use infeasible, unbounded, sensitivity or explain"
        )
    if isinstance(source, Path):
        source = str(source)
    if time_limit is not None:
        kwargs["time_limit"] = time_limit
    if hard_limit is None:
        budget = DEFAULT_DIAGNOSIS_LIMIT_S if time_limit is None else time_limit
        hard_limit = budget + grace(budget)
    from modeling.diagnostics import DiagnosticsError
    from modeling.errors import FormulationError

    return call_isolated(  # the diagnosis's own errors come back as themselves
        _diagnose_in_child,
        (kind, source, None if data is None else str(data), kwargs),
        time_limit=hard_limit,
        memory_limit=memory_limit,
        raises=(DiagnosticsError, FormulationError),
    )


__all__ = [
    "DEFAULT_DIAGNOSIS_LIMIT_S",
    "DEFAULT_GRACE_S",
    "Diagnosis",
    "PRELOAD",
    "PRELOAD_CORE",
    "PRELOAD_EXTRA",
    "Preload",
    "HardLimitExceeded",
    "NoFreeWorker",
    "NoMainForkServerProcess",
    "WorkerCrashed",
    "WorkerPool",
    "call_isolated",
    "configure",
    "default_pool",
    "diagnose_isolated",
    "grace",
    "run_isolated",
    "shutdown",
    "solve_isolated",
    "warm_up",
]
