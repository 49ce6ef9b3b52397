"""Where an eval's CPU work runs: in the event loop (``local``), a process pool, or Ray.

An agent run alternates between LLM calls (waiting on the network) and CPU work
(the LangGraph runtime, ``modeling`` check/compile, the solve, verification,
the explanation). In one Python process that CPU work holds the GIL and
serialises: at 64 problems in flight on 2 cores an eval reaches only about
half of its latency bound. The executors here move the CPU work out of the
process that talks to the LLM:

- ``local`` (:class:`LocalExecutor`): everything in the event loop, as before;
- ``process`` (:class:`ProcessExecutor`): a pool of worker processes (one per
  core by default, started through ``forkserver`` with the agent preloaded;
  ``spawn`` where there is no forkserver). Each worker runs the whole agent
  loop over a :class:`ProxyLLM` whose requests come back to the parent, which
  sends them with the real chat model (its HTTP client, retries, cache and
  usage totals) and answers the worker. So the LLM calls stay async in the
  parent and check, compile, solve and verify run in the workers;
- ``ray`` (:class:`RayExecutor`): the same split with Ray actors as workers
  (``pip install optiwise[ray]``; ``address`` reaches a cluster, none starts a
  local Ray).

The seam is the whole agent run per problem (not one ``modeling`` call at a
time): that needs no hook in the agent, ships one message per LLM call instead
of a compiled model per node, and moves the graph runtime off the parent too.
Results still stream back to the runner in the parent, which writes them to the
run folder, so a run started on one executor resumes on another.

A worker that dies (a crash in a solver's C code, the OOM killer) fails only the
problems it held, each recorded as an ``error`` with the category
``exception:WorkerCrashed``; a new worker takes its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import heapq
import itertools
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from modeling.worker import NoMainForkServerProcess

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

    from agent.api import AgentResult, OptimizationAgent
    from agent.context import AgentConfig
    from agent.llm import ChatMessage, LLMReply
    from agent.prompts import PromptSet

__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorName",
    "LocalExecutor",
    "ProcessExecutor",
    "ProxyLLM",
    "RayExecutor",
    "RayUnavailable",
    "WorkerCrashed",
    "WorkerSpec",
    "asolve_many",
    "default_nice",
    "default_workers",
    "make_executor",
    "pack_result",
    "solve_many",
    "unpack_result",
]

ExecutorName = Literal["local", "process", "ray"]
EXECUTORS: tuple[str, ...] = ("local", "process", "ray")

# Imported by the forkserver before it forks workers, so a worker starts warm.
PRELOAD = ["agent.api", "agent.graph", "evals.agent_solver", "evals.executors", "modeling.solve"]

RAY_MISSING = (
    "--executor ray needs Ray: pip install 'optiwise[ray]' (or pip install ray); "
    "use --executor process to spread the work over this machine's cores without it"
)


class WorkerCrashed(RuntimeError):
    """The worker process (or Ray actor) holding a problem died before answering."""


class RayUnavailable(ImportError):
    """``--executor ray`` without Ray installed."""

    def __init__(self, message: str = RAY_MISSING) -> None:
        super().__init__(message)


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_workers(executor: str = "process") -> int:
    """The pool size when none is given: a core for the LLM process, a worker per other core.

    ``process``: one worker per core but one (at least one). The process that sends and
    reads the LLM calls uses about a third of an eval's CPU at 64 problems in flight
    and is on every call's path; the workers' solves run in solve processes of their
    own, so fewer workers do not mean fewer solves at once. Measured on 2 cores
    (``bench/eval_throughput.py``, C = 64, six runs each): 1 worker 91.0-93.4% of the
    latency bound (median 92.8%), 2 workers 87.9-93.1% (median 91.0%); the same at
    C = 16 and C = 256 and with the slower MILP/NLP samples. ``ray``: one actor per
    core (on 2 cores 1 actor reached 76.5%, 2 actors 82.9-86.9%).
    """
    cores = usable_cores()
    return cores if executor == "ray" else max(1, cores - 1)


NICE_ENV = "OPTIWISE_EVAL_WORKER_NICE"
DEFAULT_NICE = 5


def default_nice() -> int:
    """How much lower an eval worker's CPU priority is than the LLM process's.

    ``$OPTIWISE_EVAL_WORKER_NICE``, default 5.

    The process that talks to the LLM is on every problem's path twice per call (the
    request out, the reply in) and is one thread; the workers are many and only
    throughput. When a round's replies arrive together, every process wants the two
    cores at once, and an even share left the LLM process a third of a core: requests
    went out and replies were read up to a few hundred ms late. With the workers at
    nice +5 the kernel runs the LLM process first whenever it has work (measured at
    C = 64 on 2 cores: reply-to-read 52 ms over the latency at the median, 14 ms
    niced). 0 turns it off; the workers' solve children inherit it.
    """
    text = os.environ.get(NICE_ENV, "").strip()
    if not text:
        return DEFAULT_NICE
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{NICE_ENV} must be a whole number (0-19), got {text!r}") from None
    if not 0 <= value <= 19:
        raise ValueError(f"{NICE_ENV} must be between 0 and 19, got {value}")
    return value


def setting_error() -> str | None:
    """What is wrong with the executors' environment settings, or None.

    For commands to say before any work, instead of a traceback when a pool starts.
    """
    try:
        default_nice()
    except ValueError as exc:
        return str(exc)
    return None


def lower_priority(nice: int) -> None:
    """Lower this process's CPU priority by ``nice`` (always allowed; a no-op where unsupported)."""
    if nice > 0 and hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(nice)


@runtime_checkable
class Executor(Protocol):
    """Runs one agent run per problem text; returns the runner's outcome mapping."""

    name: str

    async def run(self, text: str, trace_dir: Path | None) -> dict[str, Any]:
        """Formulate, solve and repair ``text``; the outcome (see ``outcome_from_result``)."""
        ...

    async def solve(self, text: str, agent: OptimizationAgent | None = None) -> AgentResult:
        """The whole AgentResult of ``text`` (``agent``: its config, prompts and chat model)."""
        ...

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        ...


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to rebuild the parent's agent (everything but the LLM)."""

    config: AgentConfig
    prompts: PromptSet
    model_name: str

    @classmethod
    def of(cls, agent: OptimizationAgent) -> WorkerSpec:
        llm = agent.llm
        name = str(getattr(llm, "model_name", "") or type(llm).__name__)
        return cls(config=agent.config, prompts=agent.prompts, model_name=name)

    def key(self) -> tuple[str, str, str]:
        """What tells two specs apart (the model name, the prompt set's digest, the config)."""
        return (self.model_name, self.prompts.digest(), repr(self.config))


def pack_result(result: AgentResult) -> AgentResult:
    """``result`` in a form that pickles across processes: what the parent needs, not more.

    The trace becomes plain data (a :class:`~agent.trace.Trace` holds a lock), the
    :class:`~modeling.result.SolveResult` loses its compiled model (big, and the
    parent has no use for it); candidates are packed alike. :func:`unpack_result`
    undoes the trace part.
    """
    from dataclasses import replace

    trace = result.trace
    solve_result = result.result
    if solve_result is not None:
        solve_result = replace(solve_result, model=None)
        try:
            pickle.dumps(solve_result, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            solve_result = None
    plain: Any = {
        "id": trace.id,
        "started_at": trace.started_at,
        "meta": trace.meta,
        "events": list(trace.events),
    }
    return replace(
        result,
        trace=plain,
        result=solve_result,
        candidates=[pack_result(c) for c in result.candidates],
    )


def unpack_result(result: AgentResult) -> AgentResult:
    """The :class:`~agent.api.AgentResult` a worker packed, with its trace rebuilt."""
    from agent.trace import Trace

    plain: Any = result.trace
    if isinstance(plain, dict):
        trace = Trace(trace_id=str(plain["id"]))
        trace.started_at = str(plain["started_at"])
        trace.meta = dict(plain["meta"])
        trace.events = list(plain["events"])
        result.trace = trace
    result.candidates = [unpack_result(c) for c in result.candidates]
    return result


# ----------------------------------------------------------------- worker side

_JOB: contextvars.ContextVar[int] = contextvars.ContextVar("optiwise_eval_job", default=-1)


class _Turns:
    """The CPU turn of one worker's event loop, handed to the earliest-waiting job.

    A worker runs many agent runs at once, and every step of every run yields to the
    loop, so 32 replies arriving together were all checked, then all solved, then all
    verified: the first problem finished only after nearly all the others' work, and
    its slot in the parent (the next LLM call) freed that much later. With turns a
    job runs its CPU work alone from the moment its LLM reply arrives (or it starts)
    until its next LLM call, a solve handed to a thread or another process
    (:data:`agent.graph.CPU_TURN`), or its end; the next turn goes to the job whose
    reply came first. Same CPU, earlier completions.

    A job that has just arrived goes before every waiting reply (:meth:`first`): its
    work up to its first LLM call is short (the prompt: ~1-2 ms) and starts that
    call's whole latency, while a reply's work only frees a slot. Behind the replies
    of a busy round it waited 85 ms on average (p90 240 ms) before its request left,
    and every round of every chain paid that again.

    Keyed by job (every task of a job, e.g. one per sample, shares its turn). Advisory:
    a job waits at most :attr:`SAFETY_WAIT_S` for it, so nothing can deadlock on it.
    """

    SAFETY_WAIT_S = 2.0

    def __init__(self) -> None:
        self.owner: int | None = None
        self.waiting: list[tuple[int, int, int, asyncio.Future[None]]] = []
        self.priority: dict[int, int] = {}
        self._order = itertools.count()
        self._arrivals = itertools.count(-(2**62))

    def first(self) -> int:
        """A priority ahead of every reply's (new jobs among themselves: in arrival order)."""
        return next(self._arrivals)

    async def take(self, job: int, priority: int | None = None) -> None:
        """Wait for ``job``'s turn (``priority``: lower first; default: now, after the rest)."""
        if job < 0:
            return  # not a job's call (a blocking complete() from a thread): no turn
        prio = next(self._order) if priority is None else priority
        self.priority[job] = prio
        if self.owner is None:
            self.owner = job
            return
        if self.owner == job:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self.waiting, (prio, next(self._order), job, future))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.SAFETY_WAIT_S):
                await future

    def _hand_on(self) -> None:
        self.owner = None
        while self.waiting:
            _, _, job, future = heapq.heappop(self.waiting)
            if not future.done():  # not timed out or cancelled
                self.owner = job
                future.set_result(None)
                return

    def leave(self, job: int) -> None:
        """``job`` ended: its turn goes on."""
        self.priority.pop(job, None)
        if self.owner == job:
            self._hand_on()

    # agent.graph.CpuTurn, for the job of the calling context
    def pause(self) -> int:
        job = _JOB.get()
        if self.owner == job:
            self._hand_on()
        return self.priority.get(job, next(self._order))

    async def resume(self, token: int) -> None:
        await self.take(_JOB.get(), token)


class ProxyLLM:
    """The worker's chat model: each request is sent to the parent, which calls the real one.

    ``send(("llm", job_id, call_id, messages, overrides))`` ships a request; the
    host resolves the call with :meth:`deliver`. The agent only uses
    :meth:`acomplete` (its graph runs under ``ainvoke``).
    """

    def __init__(self, model_name: str, host: AgentHost) -> None:
        self.model_name = model_name
        self.host = host

    def __repr__(self) -> str:
        return f"ProxyLLM({self.model_name!r})"

    async def acomplete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """Ask the parent to send ``messages``; its reply (or its exception) comes back."""
        return await self.host.call_llm(list(messages), overrides)

    def complete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """Blocking :meth:`acomplete`, from a thread other than the worker's event loop."""
        loop = self.host.loop
        if loop is None:
            raise RuntimeError("ProxyLLM.complete: the worker's event loop is not running")
        return asyncio.run_coroutine_threadsafe(
            self.acomplete(messages, **overrides), loop
        ).result()

    def stream(self, messages: Sequence[ChatMessage], **overrides: Any) -> Any:
        """Streaming is for chat sessions; an eval worker never streams."""
        raise NotImplementedError("ProxyLLM does not stream (eval workers use acomplete)")


class AgentHost:
    """The agent inside a worker: runs jobs, turns their LLM calls into messages.

    Transport-neutral: ``send(message)`` ships a message to the parent (a pipe
    for the process pool); without one (the Ray actor) LLM requests wait in
    :attr:`pending` until answered, and :attr:`wakeup` is set when one arrives.
    Messages to the parent: ``("llm", job, call, messages, overrides)`` and
    ``("done", job, outcome)``.
    """

    def __init__(self, spec: WorkerSpec, send: Any = None) -> None:
        self.spec = spec
        self.agents: dict[tuple[str, str, str], OptimizationAgent] = {}
        self.agent = self.agent_for(spec)
        self.send = send
        self.pending: dict[int, tuple[Any, ...]] = {}
        self.wakeup: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.calls: dict[int, asyncio.Future[Any]] = {}
        self.jobs: dict[int, asyncio.Task[Any]] = {}
        self.turns = _Turns()
        self._call_ids = itertools.count()

    def agent_for(self, spec: WorkerSpec | None) -> OptimizationAgent:
        """The agent of ``spec`` (built once per spec; ``None``: the worker's own)."""
        from agent.api import OptimizationAgent

        spec = spec or self.spec
        key = spec.key()
        agent = self.agents.get(key)
        if agent is None:
            if len(self.agents) >= 16:  # a tune run tries many prompt sets: keep the last few
                self.agents.pop(next(iter(self.agents)))
            agent = OptimizationAgent(
                llm=ProxyLLM(spec.model_name, self), config=spec.config, prompts=spec.prompts
            )
            self.agents[key] = agent
        return agent

    def _emit(self, message: tuple[Any, ...]) -> None:
        if self.send is not None:
            self.send(message)
        elif message[0] == "llm":
            self.pending[message[2]] = message
            if self.wakeup is not None:
                self.wakeup.set()

    async def call_llm(self, messages: list[Any], overrides: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        call = next(self._call_ids)
        future: asyncio.Future[Any] = loop.create_future()
        self.calls[call] = future
        job = _JOB.get()
        self.turns.pause()  # the wait for the reply is not this process's CPU
        self._emit(("llm", job, call, messages, overrides))
        try:
            value = await future
        except asyncio.CancelledError:
            raise
        except BaseException:
            await self.turns.take(job)  # the run handles the error: CPU again
            raise
        finally:
            self.calls.pop(call, None)
            self.pending.pop(call, None)
        await self.turns.take(job)  # behind the replies that came before this one
        return value

    def deliver(self, call: int, ok: bool, value: Any) -> None:
        """The parent's answer to LLM call ``call``: a reply, or an exception to raise."""
        future = self.calls.get(call)
        if future is None or future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    async def run_job(
        self,
        job: int,
        text: str,
        trace_dir: str | None,
        spec: WorkerSpec | None = None,
        want: str = "outcome",
    ) -> Any:
        """One agent run; never raises (a failure is an ``error`` outcome).

        ``want="outcome"``: the runner's outcome mapping; ``"result"``: the whole
        :class:`~agent.api.AgentResult` in its portable form (:func:`pack_result`).
        ``spec`` runs the job with another config or prompt set than the worker's.
        """
        from agent.graph import CPU_TURN
        from evals.agent_solver import outcome_from_result, save_trace

        # The graph runs nodes in tasks (and solves in threads) of its own; they copy
        # the context, so every LLM call made for this job knows the job.
        token = _JOB.set(job)
        turn = CPU_TURN.set(self.turns)
        try:
            await self.turns.take(job, self.turns.first())  # its LLM call goes out first
            result = await self.agent_for(spec).asolve(text)
            if trace_dir is not None:
                save_trace(result, Path(trace_dir))
            if want == "result":
                return ("result", pack_result(result))
            outcome = outcome_from_result(result)
        except Exception as exc:  # report it as the runner would
            outcome = {
                "status": "error",
                "error_categories": [f"exception:{type(exc).__name__}"],
                "message": f"{exc}\n{traceback.format_exc(limit=5)}"[:2000],
            }
        finally:
            self.turns.leave(job)
            CPU_TURN.reset(turn)
            _JOB.reset(token)
        return outcome

    def start_job(
        self,
        job: int,
        text: str,
        trace_dir: str | None,
        spec: WorkerSpec | None = None,
        want: str = "outcome",
    ) -> None:
        """Run a job in the background; its outcome is emitted as ``("done", job, outcome)``."""

        async def go() -> None:
            try:
                outcome = await self.run_job(job, text, trace_dir, spec, want)
            except asyncio.CancelledError:
                return
            finally:
                self.jobs.pop(job, None)
            self._emit(("done", job, outcome))

        self.jobs[job] = asyncio.get_running_loop().create_task(go())

    def cancel_job(self, job: int) -> None:
        task = self.jobs.pop(job, None)
        if task is not None:
            task.cancel()

    def dispatch(self, message: tuple[Any, ...]) -> None:
        """A message from the parent: ``job``, ``reply``, ``cancel``."""
        kind = message[0]
        if kind == "job":
            _, job, text, trace_dir, spec, want = message
            self.start_job(job, text, trace_dir, spec, want)
        elif kind == "reply":
            _, call, ok, value = message
            self.deliver(call, ok, value)
        elif kind == "cancel":
            self.cancel_job(message[1])


def _worker_main(conn: Connection, spec: WorkerSpec, nice: int = 0) -> None:
    """A pool worker: an event loop running :class:`AgentHost` jobs, fed by ``conn``."""
    _stdout_to_devnull()  # first: the agent may start its solve workers when it is built
    lower_priority(nice)  # before the agent starts its solve workers: they inherit it
    # A Ctrl-C in a terminal reaches every process of the group: the parent stops the run
    # and then its workers; a worker of its own printed a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        data = _dumps(message)
        with lock:
            conn.send_bytes(data)

    host = AgentHost(spec, send)
    host.loop = loop

    def reader() -> None:
        orphaned = False
        while True:
            try:
                data = conn.recv_bytes()
            except (EOFError, OSError):
                orphaned = True  # the parent died (SIGTERM, SIGKILL): nobody waits for us
                break
            message = pickle.loads(data)
            if message[0] == "stop":
                break
            loop.call_soon_threadsafe(host.dispatch, message)
        loop.call_soon_threadsafe(loop.stop)
        if orphaned:
            # the loop may be busy with a problem for many seconds: do not finish it for
            # nobody; our solve workers follow (their forkserver exits with us)
            time.sleep(1.0)
            _run_exit_finalizers()
            os._exit(1)

    threading.Thread(target=reader, name="optiwise-worker-reader", daemon=True).start()
    send(("ready", os.getpid()))
    loop.run_forever()
    _run_exit_finalizers()
    os._exit(0)  # do not wait for solve threads of cancelled jobs


def _stdout_to_devnull() -> None:
    """A pool worker's standard output (file descriptor 1 and ``sys.stdout``) goes nowhere.

    Nobody reads it: results travel through the pipe, errors and warnings through
    stderr. Solvers' C code writes there (HiGHS prints its copyright banner on a
    process's first ``Highs()``; it reached the terminal once per worker through the
    earlier redirection to stderr), and so do the killable solve workers this
    worker starts, which inherit its descriptors.
    """
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115


def _run_exit_finalizers() -> None:
    """Run multiprocessing's exit finalizers, which ``os._exit`` would skip.

    A worker is a forkserver child, so a ``multiprocessing.Lock`` made in it (Pyomo
    makes one when it is first imported) is a named semaphore registered with the
    resource tracker; without its finalizer the tracker warns at the parent's exit
    that a semaphore leaked. Only the finalizers run: children are not joined.
    """
    from multiprocessing import util

    run = getattr(util, "_run_finalizers", None)
    if run is not None:
        with contextlib.suppress(Exception):
            run(0)


def _dumps(message: tuple[Any, ...]) -> bytes:
    """Pickle a message; an exception that does not pickle is sent as a RuntimeError."""
    try:
        return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        if message[0] == "reply" and not message[2]:
            exc = message[3]
            plain = RuntimeError(f"{type(exc).__name__}: {exc}")
            return pickle.dumps((*message[:3], plain), protocol=pickle.HIGHEST_PROTOCOL)
        raise


# ----------------------------------------------------------------- parent side


@dataclass
class _Job:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    llm: Any = None


class _LLMGateway:
    """The parent's half of the LLM calls: send with the real model, answer the worker."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.tasks: set[asyncio.Task[Any]] = set()

    def spawn(
        self,
        loop: asyncio.AbstractEventLoop,
        call: int,
        messages: Any,
        overrides: Any,
        answer: Any,
        llm: Any = None,
    ) -> None:
        """Send one request with ``llm`` (default: the executor's agent's) on ``loop``."""
        model = llm if llm is not None else self.llm

        async def go() -> None:
            try:
                reply = await model.acomplete(messages, **overrides)
            except Exception as exc:  # the agent handles LLM errors itself
                answer(call, False, exc)
            else:
                answer(call, True, reply)

        task = loop.create_task(go())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


@dataclass
class _Worker:
    """One pool process seen from the parent.

    Messages to it go through a queue and a sender thread: a pipe write blocks when
    the worker is slow to read, and the event loop must not wait for that.
    """

    process: BaseProcess
    conn: Connection
    jobs: dict[int, _Job] = field(default_factory=dict)
    outbox: queue.SimpleQueue[tuple[str, bytes] | None] = field(default_factory=queue.SimpleQueue)
    alive: bool = True
    pid: int | None = None

    def send(self, message: tuple[Any, ...]) -> None:
        """Queue ``message``; it is pickled here, so what does not pickle raises to the caller.

        (A job whose agent config holds a lambda must fail its caller, not the sender thread.)
        """
        if not self.alive and message[0] != "stop":
            raise OSError("the eval worker is gone")
        self.outbox.put((str(message[0]), _dumps(message)))

    def pump(self) -> None:
        """The sender thread: write queued messages until ``None`` or a dead pipe."""
        while (item := self.outbox.get()) is not None:
            kind, data = item
            try:
                self.conn.send_bytes(data)
            except (OSError, ValueError):
                return
            if kind == "stop":
                return


class LocalExecutor:
    """Everything in the parent's event loop (the default)."""

    name = "local"

    def __init__(self, agent: OptimizationAgent) -> None:
        self.agent = agent

    async def run(self, text: str, trace_dir: Path | None) -> dict[str, Any]:
        from evals.agent_solver import outcome_from_result, save_trace

        result = await self.agent.asolve(text)
        if trace_dir is not None:
            save_trace(result, trace_dir)
        return outcome_from_result(result)

    async def solve(self, text: str, agent: OptimizationAgent | None = None) -> AgentResult:
        """``(agent or the executor's agent).asolve(text)`` in this event loop."""
        return await (agent or self.agent).asolve(text)

    def close(self) -> None:
        """Nothing to stop."""


class ProcessExecutor:
    """The agent's CPU work in a pool of worker processes; LLM calls in the parent.

    ``workers`` defaults to one per core but one (:func:`default_workers`). Workers
    start on first use (through the ``forkserver`` with the agent preloaded,
    ``start_method="spawn"`` elsewhere) and live until :meth:`close`, across event loops. A problem goes to the
    worker with the fewest in flight. ``nice`` (default :func:`default_nice`) lowers
    the workers' CPU priority below this process's, which sends and reads the LLM calls.
    """

    name = "process"

    def __init__(
        self,
        agent: OptimizationAgent,
        workers: int | None = None,
        *,
        start_method: str | None = None,
        nice: int | None = None,
    ) -> None:
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.nice = default_nice() if nice is None else nice
        self.agent = agent
        self.spec = WorkerSpec.of(agent)
        self.size = workers or default_workers()
        methods = multiprocessing.get_all_start_methods()
        self.start_method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
        self.workers: list[_Worker] = []
        self.gateway = _LLMGateway(agent.llm)
        self._jobs = itertools.count()
        self._lock = threading.Lock()
        self._closed = False
        _track(self)

    def __repr__(self) -> str:
        return f"ProcessExecutor(workers={self.size}, start_method={self.start_method!r})"

    # ---------------------------------------------------------------- workers

    def _context(self) -> Any:
        ctx = multiprocessing.get_context(self.start_method)
        if self.start_method == "forkserver":
            ctx.set_forkserver_preload(PRELOAD)
        return ctx

    def _spawn(self) -> _Worker:
        ctx = self._context()
        ours, theirs = ctx.Pipe(duplex=True)
        # The forkserver path must not re-run the caller's __main__ in the worker (after
        # Streamlit's AppTest, or under any script without a main guard, that is an app).
        factory = NoMainForkServerProcess if self.start_method == "forkserver" else ctx.Process
        # Not a daemon: the agent solves in a killable child process of its own
        # (modeling.worker), and a daemonic process may not have children. The workers
        # still end with the parent: they exit when their pipe closes, and _close_live
        # stops them before multiprocessing joins its children at exit.
        process = factory(
            target=_worker_main,
            args=(theirs, self.spec, self.nice),
            name="optiwise-eval-worker",
            daemon=False,
        )
        process.start()
        theirs.close()
        worker = _Worker(process=process, conn=ours)
        threading.Thread(
            target=self._read, args=(worker,), name="optiwise-pool-reader", daemon=True
        ).start()
        threading.Thread(target=worker.pump, name="optiwise-pool-sender", daemon=True).start()
        return worker

    def start(self) -> None:
        """Start the missing workers (blocking until each says it is ready)."""
        with self._lock:  # close() takes it too: no worker is started past a close
            if self._closed:
                raise RuntimeError("this ProcessExecutor is closed")
            self.workers = [w for w in self.workers if w.alive]
            fresh = [self._spawn() for _ in range(self.size - len(self.workers))]
            self.workers.extend(fresh)
        deadline = time.monotonic() + 120
        for w in fresh:
            while w.pid is None and w.alive and time.monotonic() < deadline:
                time.sleep(0.005)

    def start_soon(self) -> threading.Thread:
        """Start the workers in a background thread and return at once.

        Starting a pool (the forkserver importing the agent, each worker warming up)
        takes seconds; begun when the executor is made, it overlaps whatever the
        caller does before its first problem (loading the dataset, the endpoint's
        preflight request). A failure here is left for the first problem's own
        :meth:`start` to raise.
        """

        def go() -> None:
            with contextlib.suppress(Exception):
                self.start()

        thread = threading.Thread(target=go, name="optiwise-pool-start", daemon=True)
        thread.start()
        return thread

    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        return [w.process.pid for w in self.workers if w.alive and w.process.pid is not None]

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the live workers have used so far (Linux; else None)."""
        total = 0.0
        ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return None
            total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def _read(self, worker: _Worker) -> None:
        """The reader thread of one worker: route its messages to the jobs' event loops."""
        while True:
            try:
                data = worker.conn.recv_bytes()
            except (EOFError, OSError):
                break
            message = pickle.loads(data)
            kind = message[0]
            if kind == "ready":
                worker.pid = int(message[1])
                continue
            job = worker.jobs.get(message[1])
            if job is None:
                continue  # cancelled meanwhile
            if kind == "done":
                job.loop.call_soon_threadsafe(_resolve, job.future, message[2], None)
            elif kind == "llm":
                _, _job, call, messages, overrides = message

                def answer(call_id: int, ok: bool, value: Any, w: _Worker = worker) -> None:
                    with contextlib.suppress(OSError, ValueError):
                        w.send(("reply", call_id, ok, value))

                job.loop.call_soon_threadsafe(
                    self.gateway.spawn, job.loop, call, messages, overrides, answer, job.llm
                )
        self._lost(worker)

    def _lost(self, worker: _Worker) -> None:
        """The worker's pipe closed: fail the problems it held, unless we closed it."""
        worker.alive = False
        worker.outbox.put(None)
        worker.process.join(timeout=2)
        code = worker.process.exitcode
        for job in list(worker.jobs.values()):
            error = WorkerCrashed(
                f"the eval worker process {worker.process.pid} died (exit code {code}) while "
                "solving this problem; it is recorded as an error and a new worker takes over. "
                "Rerun with --executor local to see the failure in this process"
            )
            job.loop.call_soon_threadsafe(_resolve, job.future, None, error)
        worker.jobs.clear()

    def _pick(self) -> _Worker:
        live = [w for w in self.workers if w.alive]
        if len(live) < self.size:
            self.start()
            live = [w for w in self.workers if w.alive]
        if not live:
            raise WorkerCrashed("no eval worker process could be started")
        return min(live, key=lambda w: len(w.jobs))

    # ---------------------------------------------------------------- running

    async def run(self, text: str, trace_dir: Path | None) -> dict[str, Any]:
        outcome: dict[str, Any] = await self._submit(text, trace_dir, None, "outcome")
        return outcome

    async def solve(self, text: str, agent: OptimizationAgent | None = None) -> AgentResult:
        """The whole :class:`~agent.api.AgentResult` of ``text``, solved in a worker.

        ``agent`` (default: the executor's) supplies the config, the prompt set and
        the chat model; the workers build an agent per config and prompt set once,
        so one pool serves many prompt sets (``optiwise tune``).
        """
        answer = await self._submit(text, None, agent, "result")
        if isinstance(answer, tuple) and answer and answer[0] == "result":
            return unpack_result(answer[1])
        raise RuntimeError(f"the eval worker failed: {answer.get('message', answer)}")

    async def _submit(
        self, text: str, trace_dir: Path | None, agent: OptimizationAgent | None, want: str
    ) -> Any:
        loop = asyncio.get_running_loop()
        if not self.workers or any(not w.alive for w in self.workers):
            await asyncio.to_thread(self.start)
        worker = self._pick()
        job_id = next(self._jobs)
        spec = None if agent is None or agent is self.agent else WorkerSpec.of(agent)
        job = _Job(loop=loop, future=loop.create_future(), llm=agent.llm if agent else None)
        worker.jobs[job_id] = job
        try:
            message = ("job", job_id, text, str(trace_dir) if trace_dir else None, spec, want)
            try:
                worker.send(message)
            except (OSError, ValueError):
                raise
            except Exception as exc:  # pickling: a config or prompt set that cannot travel
                raise TypeError(
                    f"this job cannot be sent to an eval worker process: {exc}; the agent's "
                    "config and prompts must pickle (no lambdas or open handles in them); "
                    "use --executor local otherwise"
                ) from exc
            return await job.future
        except (OSError, ValueError) as exc:
            raise WorkerCrashed(f"could not reach the eval worker: {exc}") from exc
        except asyncio.CancelledError:
            with contextlib.suppress(OSError, ValueError):
                worker.send(("cancel", job_id))
            raise
        finally:
            worker.jobs.pop(job_id, None)

    def close(self) -> None:
        """Stop every worker (idempotent).

        Waits for a start in progress (e.g. :meth:`start_soon`'s) to finish spawning,
        so the workers it started are stopped here too, not left to the exit hook.
        """
        with self._lock:
            self._closed = True
            workers, self.workers = self.workers, []
        for w in workers:
            w.send(("stop",))
            w.alive = False
        for w in workers:
            w.process.join(timeout=5)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=5)
            w.conn.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if not self._closed and self.workers:
                self.close()


_LIVE: weakref.WeakSet[ProcessExecutor] = weakref.WeakSet()
_AT_EXIT: list[Any] = []


def _close_live() -> None:
    """At interpreter exit: stop the pools nobody closed (their workers are not daemons)."""
    for executor in list(_LIVE):
        with contextlib.suppress(Exception):
            executor.close()


def _track(executor: ProcessExecutor) -> None:
    _LIVE.add(executor)
    if not _AT_EXIT:
        from multiprocessing.util import Finalize

        # exitpriority >= 0: runs in multiprocessing's exit hook before it joins children
        _AT_EXIT.append(Finalize(None, _close_live, exitpriority=100))


def _resolve(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


# ------------------------------------------------------------------------ Ray


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable() from exc
    return ray


class _RayHost:
    """The body of a Ray worker actor: an :class:`AgentHost` polled for its LLM requests.

    A request stays pending until answered and is handed once to each poller
    (``token``): a poll that the driver abandoned (its event loop ended) must not
    swallow the requests of the next run.
    """

    def __init__(self, spec: WorkerSpec) -> None:
        self.host = AgentHost(spec)
        self.handed: dict[int, str] = {}
        self.started = False

    def _ensure(self) -> None:
        if not self.started:
            self.host.loop = asyncio.get_running_loop()
            self.host.wakeup = asyncio.Event()
            self.started = True

    async def ping(self) -> int:
        self._ensure()
        return os.getpid()

    async def cpu(self) -> float:
        return time.process_time()

    async def solve(
        self,
        job: int,
        text: str,
        trace_dir: str | None,
        spec: WorkerSpec | None = None,
        want: str = "outcome",
    ) -> Any:
        self._ensure()
        return await self.host.run_job(job, text, trace_dir, spec, want)

    def _take(self, token: str) -> list[tuple[Any, ...]]:
        out = [m for c, m in self.host.pending.items() if self.handed.get(c) != token]
        for message in out:
            self.handed[message[2]] = token
        for call in [c for c in self.handed if c not in self.host.pending]:
            del self.handed[call]
        return out

    async def requests(self, token: str, wait_s: float = 0.2) -> list[tuple[Any, ...]]:
        """LLM requests not yet handed to ``token`` (long poll: at most ``wait_s`` when none)."""
        self._ensure()
        assert self.host.wakeup is not None
        out = self._take(token)
        if not out:
            self.host.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self.host.wakeup.wait()
            out = self._take(token)
        return out

    async def reply(self, call: int, ok: bool, value: Any) -> None:
        self._ensure()
        self.host.deliver(call, ok, value)


class RayExecutor:
    """The agent's CPU work in Ray actors (one per worker); LLM calls in the driver.

    ``address`` is a Ray cluster (``ray://host:10001`` or ``auto``); without
    one a local Ray starts with ``workers`` CPUs. Each actor takes one CPU and
    runs many problems concurrently (an async actor); its LLM requests are
    long-polled by the driver, which answers them with the real chat model.
    Ray runs its worker processes at nice 15 itself, so the actors already yield the
    CPU to the driver, which sends and reads the LLM calls (what :func:`default_nice`
    does for the process pool).
    """

    name = "ray"

    def __init__(
        self,
        agent: OptimizationAgent,
        workers: int | None = None,
        *,
        address: str | None = None,
        init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.ray = _import_ray()
        self.agent = agent
        self.spec = WorkerSpec.of(agent)
        self.size = workers or (None if address else default_workers("ray"))
        self.address = address
        self.init_kwargs = dict(init_kwargs or {})
        self.actors: list[Any] = []
        self.load: list[int] = []
        self.gateway = _LLMGateway(agent.llm)
        self._pumps: dict[int, asyncio.Task[Any]] = {}
        self._job_llms: dict[int, Any] = {}
        self.pump_errors: list[str] = []
        self._jobs = itertools.count()
        self._started_ray = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RayExecutor(workers={self.size}, address={self.address!r})"

    def start(self) -> None:
        """Connect to (or start) Ray and create the actors (blocking; once)."""
        with self._lock:
            if not self.actors:
                self._start()

    def _start(self) -> None:
        ray = self.ray
        if not ray.is_initialized():
            if not self.address:  # a private local Ray: no token to hand around
                os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "ignore_reinit_error": True,
                **self.init_kwargs,
            }
            if self.address:
                kwargs["address"] = self.address
            elif self.size:
                kwargs.setdefault("num_cpus", self.size)
            ray.init(**kwargs)
            self._started_ray = True
        if self.size is None:
            self.size = max(1, int(ray.cluster_resources().get("CPU", 1)))
        actor_cls = ray.remote(num_cpus=1, max_concurrency=10_000, max_restarts=0)(_RayHost)
        self.actors = [actor_cls.remote(self.spec) for _ in range(self.size)]
        self.load = [0] * len(self.actors)
        ray.get([a.ping.remote() for a in self.actors])

    def cpu_seconds(self) -> float | None:
        """CPU time the actors' processes have used so far."""
        if not self.actors:
            return 0.0
        return float(sum(self.ray.get([a.cpu.remote() for a in self.actors])))

    async def _pump(self, index: int) -> None:
        """Serve actor ``index``'s LLM requests while it holds problems of this loop."""
        actor = self.actors[index]
        loop = asyncio.get_running_loop()

        def answer(call: int, ok: bool, value: Any) -> None:
            actor.reply.remote(call, ok, value)

        token = f"{os.getpid()}-{id(loop)}-{next(self._jobs)}"
        while self.load[index] > 0:
            try:
                batch = await actor.requests.remote(token)
            except self.ray.exceptions.RayActorError:
                return  # the actor died: its solve() calls fail on their own
            except Exception as exc:  # a hiccup of Ray's: poll again, do not strand the jobs
                self.pump_errors.append(f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.05)
                continue
            for message in batch:
                _, job, call, messages, overrides = message
                llm = self._job_llms.get(job)
                self.gateway.spawn(loop, call, messages, overrides, answer, llm)

    async def run(self, text: str, trace_dir: Path | None) -> dict[str, Any]:
        outcome: dict[str, Any] = await self._submit(text, trace_dir, None, "outcome")
        return outcome

    async def solve(self, text: str, agent: OptimizationAgent | None = None) -> AgentResult:
        """The whole :class:`~agent.api.AgentResult` of ``text``, solved by an actor."""
        answer = await self._submit(text, None, agent, "result")
        if isinstance(answer, tuple) and answer and answer[0] == "result":
            return unpack_result(answer[1])
        raise RuntimeError(f"the Ray actor failed: {answer.get('message', answer)}")

    async def _submit(
        self, text: str, trace_dir: Path | None, agent: OptimizationAgent | None, want: str
    ) -> Any:
        if not self.actors:
            await asyncio.to_thread(self.start)
        index = min(range(len(self.actors)), key=lambda i: self.load[i])
        self.load[index] += 1
        pump = self._pumps.get(index)
        if pump is None or pump.done() or pump.get_loop() is not asyncio.get_running_loop():
            self._pumps[index] = asyncio.get_running_loop().create_task(self._pump(index))
        job = next(self._jobs)
        spec = None if agent is None or agent is self.agent else WorkerSpec.of(agent)
        if agent is not None:
            self._job_llms[job] = agent.llm
        try:
            ref = self.actors[index].solve.remote(
                job, text, str(trace_dir) if trace_dir else None, spec, want
            )
            try:
                return await ref
            except self.ray.exceptions.RayActorError as exc:
                raise WorkerCrashed(f"the Ray actor solving this problem died: {exc}") from exc
        finally:
            self.load[index] -= 1
            self._job_llms.pop(job, None)

    def close(self) -> None:
        """Drop the actors; shut Ray down if this executor started it."""
        for actor in self.actors:
            with contextlib.suppress(Exception):
                self.ray.kill(actor)
        self.actors = []
        for pump in self._pumps.values():
            with contextlib.suppress(RuntimeError):
                pump.cancel()
        self._pumps.clear()
        if self._started_ray and self.ray.is_initialized():
            self.ray.shutdown()
            self._started_ray = False


def make_executor(
    name: str,
    agent: OptimizationAgent,
    *,
    workers: int | None = None,
    ray_address: str | None = None,
) -> LocalExecutor | ProcessExecutor | RayExecutor:
    """The executor called ``name`` (``local``, ``process`` or ``ray``) for ``agent``."""
    if name == "local":
        return LocalExecutor(agent)
    if name == "process":
        return ProcessExecutor(agent, workers)
    if name == "ray":
        return RayExecutor(agent, workers, address=ray_address)
    raise ValueError(f"unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}")


async def asolve_many(
    agent: OptimizationAgent,
    texts: Sequence[str],
    *,
    concurrency: int = 8,
    executor: str | Executor = "local",
    workers: int | None = None,
    ray_address: str | None = None,
) -> list[AgentResult]:
    """``agent.asolve_many`` with the CPU work on ``executor``; results in input order.

    ``executor`` is a name (``local``, ``process``, ``ray``: a pool is started for
    this call and stopped after it) or a running :class:`Executor` to reuse across
    calls (the caller closes it). ``agent`` supplies the config, prompt set and chat
    model of every run, so one pool serves many agents (e.g. one per prompt set).
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if isinstance(executor, str):
        if executor == "local":
            return await agent.asolve_many(texts, concurrency)
        owned = make_executor(executor, agent, workers=workers, ray_address=ray_address)
        try:
            return await asolve_many(agent, texts, concurrency=concurrency, executor=owned)
        finally:
            await asyncio.to_thread(owned.close)
    gate = asyncio.Semaphore(concurrency)
    pool = executor

    async def one(text: str) -> AgentResult:
        async with gate:
            return await pool.solve(text, agent)

    return list(await asyncio.gather(*(one(t) for t in texts)))


def solve_many(
    agent: OptimizationAgent,
    texts: Sequence[str],
    *,
    concurrency: int = 8,
    executor: str | Executor = "local",
    workers: int | None = None,
    ray_address: str | None = None,
) -> list[AgentResult]:
    """Blocking :func:`asolve_many` (runs its own event loop; not from inside one)."""
    return asyncio.run(
        asolve_many(
            agent,
            list(texts),
            concurrency=concurrency,
            executor=executor,
            workers=workers,
            ray_address=ray_address,
        )
    )
