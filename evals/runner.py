"""The eval runner: a dataset, a solver, a run directory; concurrent and resumable.

A run lives in ``runs/{family}/{variant}/{model}/{run_id}/``:

- ``config.json``: dataset (repo, commit, hash, license), model, protocols,
  selection, limits: written once, checked when the run is resumed;
- ``results.jsonl``: one line per finished problem, appended and fsync'ed;
- ``summary.json`` and ``report.md``: rebuilt at the end (and on Ctrl-C).

Running again with the same ``run_id`` skips the ids already in
``results.jsonl``; a truncated last line left by a kill is dropped and that
problem redone, so every id ends up exactly once. Problems that ended on a
*transient* error (the endpoint was unreachable, dropped the connection,
answered 5xx or 429 after every retry, or the problem hit our ``--timeout``)
are retried by default (``retry_errors=False``: kept as they are); a time-out
is retried :data:`~evals.results.TIMEOUT_RETRIES` time(s) at most. Solved
problems and genuine failures are kept. A retry appends a new line; the last
line of an id wins.

The solver is anything with ``async def solve(problem) -> Mapping`` (see
:class:`Solver`); the LLM agent implements it, and so do the formulation
scorer and the fakes in the tests.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import re
import secrets
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO, TypedDict, runtime_checkable

from evals.loaders import Dataset, load
from evals.problems import Problem
from evals.registry import DatasetEntry
from evals.report import (
    CONFIG_FILE,
    REPORT_FILE,
    SUMMARY_FILE,
    RunSummary,
    compare,
    load_config,
    plot_compare,
    render_report,
    rescore,
    summarize,
)
from evals.results import (
    RESULTS_FILE,
    TIMEOUT_RETRIES,
    ProblemResult,
    ResultWriter,
    build_result,
    read_results,
    repair_tail,
    write_json_atomic,
    write_text_atomic,
)
from evals.scoring import ALL_PROTOCOLS, DEFAULT_PROTOCOL, get_protocol

__all__ = [
    "RunConfigMismatch",
    "RunPlan",
    "SolveOutcome",
    "Solver",
    "execute",
    "compare",
    "meter_usage",
    "plot_compare",
    "prepare_run",
    "rescore",
    "run_eval",
]


class SolveOutcome(TypedDict, total=False):
    """What :meth:`Solver.solve` returns (every key optional; missing = neutral).

    ``status`` uses the spec's vocabulary (optimal, feasible, infeasible,
    unbounded, infeasible_or_unbounded, time_limit, error, invalid);
    ``first_status``/``first_objective`` are the answer before any repair
    round (omit them when there was no repair); ``error_categories`` names
    the kinds of errors met on the way (e.g. ``parse``, ``check``,
    ``solver``); tokens and cost are totals over every LLM call.
    """

    status: str
    objective: float | None
    first_status: str
    first_objective: float | None
    repair_rounds: int
    error_categories: list[str]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float
    trace_id: str | None
    formulation: Any
    message: str


@runtime_checkable
class Solver(Protocol):
    """Anything that answers one benchmark problem asynchronously."""

    async def solve(self, problem: Problem) -> Mapping[str, Any]:
        """Solve one problem; return a :class:`SolveOutcome`-shaped mapping.

        A pydantic model or a dataclass with those fields is accepted too.
        Exceptions and timeouts are caught by the runner and recorded as
        ``status="error"`` with an ``exception:<Type>``/``timeout`` category.
        """
        ...


class RunConfigMismatch(ValueError):
    """A run directory being resumed belongs to another dataset or model."""


@dataclass
class RunPlan:
    """A prepared run: the selected problems and where results go."""

    dataset: Dataset
    problems: list[Problem]
    run_dir: Path
    config: dict[str, Any]
    protocols: tuple[str, ...]
    default_protocol: str
    concurrency: int = 8
    timeout_s: float | None = None

    @property
    def results_path(self) -> Path:
        """``results.jsonl`` of this run."""
        return self.run_dir / RESULTS_FILE


def safe_name(text: str) -> str:
    """A path-safe version of a model or run name (``org/model:tag`` → ``org_model_tag``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]+", "_", text.strip()).strip("._")
    return cleaned or "model"


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus a short random suffix."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _entry_info(entry: DatasetEntry | None) -> dict[str, Any]:
    if entry is None:
        return {}
    return entry.model_dump(
        include={
            "name",
            "title",
            "repo",
            "commit",
            "path",
            "local_path",
            "sha256",
            "manifest_sha256",
            "license",
            "count",
        }
    )


def prepare_run(
    dataset: str | DatasetEntry | Dataset,
    *,
    model_name: str,
    out_dir: str | Path = "runs",
    run_id: str | None = None,
    limit: int | None = None,
    ids: Sequence[str] | None = None,
    concurrency: int = 8,
    timeout_s: float | None = None,
    protocols: Sequence[str] = ALL_PROTOCOLS,
    default_protocol: str = DEFAULT_PROTOCOL,
    data_dir: str | Path | None = None,
) -> RunPlan:
    """Load the dataset, select problems, create (or check) the run directory."""
    names = tuple(protocols)
    for name in names:
        get_protocol(name)
    if default_protocol not in names:
        default_protocol = names[0] if names else DEFAULT_PROTOCOL
    loaded = dataset if isinstance(dataset, Dataset) else load(dataset, data_dir=data_dir)
    problems = list(loaded.problems)
    if ids:
        by_id = loaded.by_id()
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise KeyError(f"{loaded.name} has no problem ids {missing[:10]}")
        problems = [by_id[i] for i in dict.fromkeys(ids)]
    if limit is not None:
        problems = problems[: max(0, limit)]
    rid = run_id or new_run_id()
    run_dir = Path(out_dir) / loaded.family / loaded.variant / safe_name(model_name) / rid
    config: dict[str, Any] = {
        "dataset": loaded.name,
        "family": loaded.family,
        "variant": loaded.variant,
        "model": model_name,
        "run_id": rid,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "entry": _entry_info(loaded.entry),
        "source": str(loaded.source) if loaded.source else None,
        "n_selected": len(problems),
        "limit": limit,
        "ids": list(ids) if ids else None,
        "concurrency": concurrency,
        "timeout_s": timeout_s,
        "protocols": {n: get_protocol(n).description for n in names},
        "default_protocol": default_protocol,
        "tolerance": get_protocol(default_protocol).description,
        "python": sys.version.split()[0],
    }
    config_path = run_dir / CONFIG_FILE
    if config_path.exists():
        existing = load_config(run_dir)
        for key in ("dataset", "model"):
            if existing.get(key) != config[key]:
                raise RunConfigMismatch(
                    f"{run_dir} holds a run of {key} {existing.get(key)!r}, not {config[key]!r}; "
                    "use another run id"
                )
        config = existing
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(config_path, config)
    return RunPlan(
        dataset=loaded,
        problems=problems,
        run_dir=run_dir,
        config=config,
        protocols=names,
        default_protocol=default_protocol,
        concurrency=max(1, concurrency),
        timeout_s=timeout_s,
    )


class _Progress:
    """One live line on stderr: done/total, live accuracy, tokens, cost."""

    def __init__(
        self, plan: RunPlan, done: Sequence[ProblemResult], enabled: bool, stream: TextIO
    ) -> None:
        self.enabled = enabled
        self.stream = stream
        self.name = plan.dataset.name
        self.rule = get_protocol(plan.default_protocol)
        self.total = len({p.id for p in plan.problems} | {r.id for r in done})
        self.done = self.correct = self.scored = self.tokens = 0
        self.cost = 0.0
        self.started = time.monotonic()
        for result in done:
            self._add(result)
        self.render()

    def _add(self, result: ProblemResult) -> None:
        self.done += 1
        verdict = self.rule.correct(result.prediction, result.answer)
        if verdict is not None:
            self.scored += 1
            self.correct += int(verdict)
        self.tokens += result.prompt_tokens + result.completion_tokens
        self.cost += result.cost_usd

    def update(self, result: ProblemResult) -> None:
        self._add(result)
        self.render()

    def render(self) -> None:
        if not self.enabled:
            return
        acc = f"{100 * self.correct / self.scored:.1f}%" if self.scored else "–"
        elapsed = time.monotonic() - self.started
        self.stream.write(
            f"\r{self.name} {self.done}/{self.total}  acc[{self.rule.name}] {acc} "
            f"({self.correct}/{self.scored})  tokens {self.tokens:,}  ${self.cost:.3f}  "
            f"{elapsed:.0f}s "
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def finalize(plan: RunPlan, *, interrupted: bool = False, retried: int = 0) -> RunSummary:
    """Summarize ``results.jsonl`` into ``summary.json`` and ``report.md``.

    ``retried``: how many problems this invocation retried after transient errors.
    """
    results = read_results(plan.results_path)
    summary = summarize(
        results,
        config=plan.config,
        run_dir=plan.run_dir,
        protocols=plan.protocols,
        default_protocol=plan.default_protocol,
        expected_ids=[p.id for p in plan.problems],
        interrupted=interrupted,
    )
    summary.retried = retried
    write_json_atomic(plan.run_dir / SUMMARY_FILE, summary.model_dump())
    write_text_atomic(plan.run_dir / REPORT_FILE, render_report(summary, plan.config))
    return summary


def _as_mapping(value: Any) -> Any:
    """A pydantic model or dataclass outcome is read as its fields."""
    if isinstance(value, Mapping):
        return value
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


_USAGE: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "evals_problem_usage", default=None
)
"""The tokens and cost of the LLM calls made for the problem being solved (this task)."""


def meter_usage(prompt_tokens: int, completion_tokens: int, cost_usd: float) -> None:
    """Count one LLM call toward the problem being solved, if any.

    A solver that can (:class:`~evals.agent_solver.AgentSolver`) reports each call
    here, so a problem stopped by ``--timeout`` keeps the usage of the calls it made
    (its outcome never arrives). Tasks and threads started for the problem copy the
    context, so they count toward it too.
    """
    meter = _USAGE.get()
    if meter is not None:
        meter["prompt_tokens"] += prompt_tokens
        meter["completion_tokens"] += completion_tokens
        meter["cost_usd"] += cost_usd


async def _solve_one(
    solver: Solver, problem: Problem, timeout_s: float | None
) -> tuple[Mapping[str, Any], float]:
    """Call the solver; a timeout or an exception becomes an ``error`` outcome.

    A timed-out problem keeps the tokens and cost of the calls it made (:func:`meter_usage`).
    """
    started = time.perf_counter()
    outcome: Mapping[str, Any]
    meter = {"prompt_tokens": 0.0, "completion_tokens": 0.0, "cost_usd": 0.0}
    token = _USAGE.set(meter)
    try:
        async with asyncio.timeout(timeout_s):
            returned: Any = await solver.solve(problem)
        outcome = _as_mapping(returned)
        if not isinstance(outcome, Mapping):
            outcome = {
                "status": "error",
                "error_categories": ["bad_outcome"],
                "message": f"solver returned {type(returned).__name__}, not a mapping",
            }
    except TimeoutError:
        outcome = {
            "status": "error",
            "error_categories": ["timeout"],
            "message": f"no answer within {timeout_s} s",
            "prompt_tokens": int(meter["prompt_tokens"]),
            "completion_tokens": int(meter["completion_tokens"]),
            "cost_usd": meter["cost_usd"],
        }
    except Exception as exc:  # a crashing solver must not lose the problem
        outcome = {
            "status": "error",
            "error_categories": [f"exception:{type(exc).__name__}"],
            "message": str(exc)[:2000],
        }
    finally:
        _USAGE.reset(token)
    return outcome, time.perf_counter() - started


def _retry_note(retry: Sequence[ProblemResult], kept: int) -> str:
    kinds: dict[str, int] = {}
    for result in retry:
        kinds[str(result.transient)] = kinds.get(str(result.transient), 0) + 1
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    return (
        f"retrying {len(retry)} problem(s) that ended on transient errors ({detail}); "
        f"keeping {kept} finished result(s)\n"
    )


class _GroupCommit:
    """Result lines written by one thread, in order; the lines waiting share one fsync.

    An fsync waits milliseconds (3-6 ms on this machine's disk, tens on a busy one)
    whatever it carries. Done in the event loop it would stop every problem in flight;
    one per line in a thread, a round of 64 problems finishing together queued 64 of
    them, so the last line of a run reached the disk ~0.3 s after its problem ended.
    Here the lines that arrive while a write is in progress go together in the next one.
    A line's :meth:`write` returns once it is on disk, so a problem counts as done (the
    progress line, the run's end) only then: a killed run loses nothing it reported done.
    """

    def __init__(self, writer: ResultWriter, loop: asyncio.AbstractEventLoop) -> None:
        self.writer = writer
        self.loop = loop
        self.disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="optiwise-results")
        self.waiting: list[tuple[ProblemResult, asyncio.Future[None]]] = []
        self.busy = False

    async def write(self, result: ProblemResult) -> None:
        """Append ``result``'s line; return when it is on disk."""
        done: asyncio.Future[None] = self.loop.create_future()
        self.waiting.append((result, done))
        if not self.busy:
            self._next()
        await done

    def _next(self) -> None:
        batch, self.waiting = self.waiting, []
        self.busy = True
        handed = self.loop.run_in_executor(
            self.disk, self.writer.write_many, [result for result, _ in batch]
        )
        handed.add_done_callback(lambda f: self._written(batch, f))

    def _written(
        self, batch: list[tuple[ProblemResult, asyncio.Future[None]]], handed: asyncio.Future[None]
    ) -> None:
        self.busy = False
        error = None if handed.cancelled() else handed.exception()
        for _, done in batch:
            if done.done():
                continue
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(None)
        if self.waiting:
            self._next()

    def close(self) -> None:
        """Wait for the write in progress, write what still waits, close the file."""
        self.disk.shutdown(wait=True)
        rest, self.waiting = self.waiting, []
        try:
            self.writer.write_many([result for result, _ in rest])
        finally:
            self.writer.close()


async def execute(
    plan: RunPlan,
    solver: Solver,
    *,
    progress: bool = True,
    stream: TextIO | None = None,
    retry_errors: bool = True,
    timeout_retries: int = TIMEOUT_RETRIES,
    redo: Collection[str] = (),
) -> RunSummary:
    """Run the plan's remaining problems; returns the summary of the whole run.

    This is the async entry point (``await execute(prepare_run(...), solver)``
    from code that already runs an event loop); :func:`run_eval` wraps it.
    Problems finished on a transient error are retried unless ``retry_errors``
    is False (see the module doc); how many is said on ``stream`` and kept in
    the summary's ``retried``. ``redo`` names problems solved again even though
    they have a result (a batch-rounds run replacing first-attempt results with
    finished ones); their new line wins. Cancelling the task (Ctrl-C under
    :func:`run_eval`) stops the problems in flight, keeps every line already
    written, writes the summary and re-raises.
    """
    out = stream or sys.stderr
    repair_tail(plan.results_path)
    done = read_results(plan.results_path)
    selected = {p.id for p in plan.problems}
    retry = [r for r in done if retry_errors and r.id in selected and r.retryable(timeout_retries)]
    previous = {r.id: r for r in retry}
    redone = set(redo) & selected
    kept = [r for r in done if r.id not in previous and r.id not in redone]
    kept_ids = {r.id for r in kept}
    todo = [p for p in plan.problems if p.id not in kept_ids]
    if retry:
        out.write(_retry_note(retry, len(kept)))
        out.flush()
    bar = _Progress(plan, kept, progress, out)
    if not todo:
        bar.close()
        return finalize(plan)
    semaphore = asyncio.Semaphore(plan.concurrency)
    commit = _GroupCommit(ResultWriter(plan.results_path), asyncio.get_running_loop())

    async def one(problem: Problem) -> None:
        async with semaphore:
            outcome, elapsed = await _solve_one(solver, problem, plan.timeout_s)
        result = build_result(
            problem,
            outcome,
            protocols=plan.protocols,
            latency_s=elapsed,
            previous=previous.get(problem.id),
        )
        await commit.write(result)  # on disk (fsync'ed) before it counts as done
        bar.update(result)

    def stop_writing() -> None:
        commit.close()  # every line handed over is on disk before the close
        bar.close()

    tasks = [asyncio.create_task(one(p), name=f"solve:{p.id}") for p in todo]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        stop_writing()
        finalize(plan, interrupted=True, retried=len(retry))
        raise
    stop_writing()
    return finalize(plan, retried=len(retry))


def run_eval(
    dataset: str | DatasetEntry | Dataset,
    solver: Solver,
    *,
    model_name: str,
    out_dir: str | Path = "runs",
    run_id: str | None = None,
    limit: int | None = None,
    ids: Sequence[str] | None = None,
    concurrency: int = 8,
    timeout_s: float | None = None,
    protocols: Sequence[str] = ALL_PROTOCOLS,
    progress: bool = True,
    data_dir: str | Path | None = None,
    retry_errors: bool = True,
) -> RunSummary:
    """Evaluate ``solver`` on a dataset (name, alias, entry or loaded :class:`Dataset`).

    Results go to ``{out_dir}/{family}/{variant}/{model}/{run_id}/``; pass the
    same ``run_id`` to resume.  On Ctrl-C the problems in flight are dropped,
    everything finished is kept, and the partial summary is returned
    (``interrupted=True``). Resuming retries transient errors unless
    ``retry_errors`` is False.

    >>> summary = run_eval("nl4opt", my_solver, model_name="gpt-4o")  # doctest: +SKIP
    >>> summary.accuracy                                               # doctest: +SKIP
    """
    plan = prepare_run(
        dataset,
        model_name=model_name,
        out_dir=out_dir,
        run_id=run_id,
        limit=limit,
        ids=ids,
        concurrency=concurrency,
        timeout_s=timeout_s,
        protocols=protocols,
        data_dir=data_dir,
    )
    try:
        return asyncio.run(execute(plan, solver, progress=progress, retry_errors=retry_errors))
    except KeyboardInterrupt:
        return finalize(plan, interrupted=True)
