"""The library API: :class:`OptimizationAgent` turns a word problem into a solved model.

::

    from agent import OptimizationAgent
    agent = OptimizationAgent(model="gpt-4o-mini")          # or llm=FakeLLM([...])
    result = agent.solve("A bakery makes bread and cake ...")
    result.status, result.objective, result.answer
    result.attempts[0].errors, result.repairs, result.usage.cost_usd, result.trace.id

    results = agent.solve_many(texts, concurrency=8)        # asyncio, bounded
    result = await agent.asolve(text)

A problem that comes with data tables names its data folder (or a mapping of
table names to files or rows, see :mod:`agent.data_context`)::

    result = agent.solve("Route the shipments ...", data="instance/data")

The LLM is shown each table's columns, types, ranges and first rows (never the
whole table) and maps them with ``table:`` keys; check and solve read the files.

Every solve and diagnosis runs in a killable worker (:func:`modeling.worker.solve_isolated`)
bounded by ``time_limit`` plus a grace period; the workers are long-lived (a few
milliseconds a solve) and one is started in the background when the agent is made.
``AgentConfig(solve_in_process=True)`` opts out.

With ``samples=n`` the agent formulates ``n`` candidates concurrently, solves
each (with its own repair loop) and votes on their objective values; the
result carries the vote in ``result.votes``. ``strategy="code"`` asks the LLM
for a Pyomo script run in a sandbox instead (:mod:`agent.code_route`), and
``"both"`` lets the two routes vote together.
"""

from __future__ import annotations

import asyncio
import threading
import time
import traceback
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from agent import code_route
from agent.chat import ChatSession
from agent.code_route import CodeRouteResult
from agent.context import AgentConfig, RunContext, Strategy
from agent.data_context import ProblemData, opened_data
from agent.graph import arun_solve_loop, compiled_solve_graph, run_solve_loop
from agent.llm import ChatModel, OpenAIChatModel
from agent.prompts import PromptSet
from agent.result import AgentResult, result_from_state
from agent.state import Attempt, has_solution
from agent.trace import Trace
from agent.usage import Usage
from modeling.result import Status
from modeling.worker import warm_up

__all__ = ["AgentResult", "DataArg", "OptimizationAgent", "assumptions_block", "vote"]

T = TypeVar("T")

DataArg = str | Path | Mapping[str, Any] | ProblemData | None
"""A problem's data: a folder, a mapping of table names to files/rows, or None."""


# ------------------------------------------------------------------ voting


def vote(candidates: list[AgentResult], rtol: float = 1e-6) -> dict[str, Any]:
    """Cluster candidates by objective (within ``rtol``, relative) or by status; count them.

    Candidates that ended in ``error`` or ``invalid`` do not vote. The winner is
    the largest cluster; ties go to a cluster with an objective, then to the
    earliest candidate.
    """
    clusters: list[dict[str, Any]] = []
    for i, c in enumerate(candidates):
        if not c.decided:
            continue
        for cl in clusters:
            if c.solved and cl["objective"] is not None and c.objective is not None:
                a, b = float(c.objective), float(cl["objective"])
                if abs(a - b) <= rtol * max(abs(a), abs(b)) + 1e-9:
                    cl["candidates"].append(i)
                    break
            elif not c.solved and cl["objective"] is None and cl["status"] == c.status:
                cl["candidates"].append(i)
                break
        else:
            clusters.append(
                {
                    "objective": c.objective if c.solved else None,
                    "status": c.status,
                    "candidates": [i],
                }
            )
    for cl in clusters:
        cl["count"] = len(cl["candidates"])
    order = sorted(
        range(len(clusters)),
        key=lambda k: (
            -clusters[k]["count"],
            clusters[k]["objective"] is None,
            clusters[k]["candidates"][0],
        ),
    )
    winner = order[0] if order else None
    winner_candidate = None
    if winner is not None:
        members = clusters[winner]["candidates"]
        winner_candidate = min(members, key=lambda i: (candidates[i].repairs, i))
    return {
        "samples": len(candidates),
        "clusters": clusters,
        "counts": [cl["count"] for cl in clusters],
        "winner": winner,
        "winner_candidate": winner_candidate,
        "agreement": (clusters[winner]["count"] / len(candidates)) if winner is not None else 0.0,
        "rtol": rtol,
    }


# ------------------------------------------------------------------- helpers


def _run_coro(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="optiwise-agent")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def _error_result(text: str, message: str, trace: Trace, strategy: str, t0: float) -> AgentResult:
    return AgentResult(
        status=Status.ERROR,
        answer=message,
        message=message,
        trace=trace,
        strategy=strategy,
        problem=text,
        duration_s=time.perf_counter() - t0,
        error_categories=["error"],
    )


ASSUMPTIONS_HEAD = "The problem text left some data out; this model assumes:"


def assumptions_block(assumptions: Sequence[Mapping[str, Any]]) -> str:
    """The lines a one-shot answer ends with when its model rests on stated assumptions.

    The chat's wording (:func:`agent.assumptions.assumptions_note`) without its
    request to reply: a one-shot run cannot take the data as a follow-up, so it
    says where to give it instead. Empty for no assumptions.
    """
    if not assumptions:
        return ""
    lines = []
    for a in assumptions:
        names = a.get("parameters") or []
        cited = f" (affects {', '.join(f'`{n}`' for n in names)})" if names else ""
        lines.append(f"- {a['text']}{cited}")
    return (
        ASSUMPTIONS_HEAD
        + "\n"
        + "\n".join(lines)
        + "\n\nThe answer rests on these assumptions: give the missing data in the problem "
        "text (or continue in `optiwise chat`) to replace them."
    )


def _finished(text: str, state: Mapping[str, Any], ctx: RunContext, t0: float) -> AgentResult:
    result = result_from_state(
        state,
        problem=text,
        trace=ctx.trace,
        usage=ctx.trace.usage_for(ctx.candidate),
        solve_result=ctx.scratch.last_result,
        duration_s=time.perf_counter() - t0,
    )
    block = assumptions_block(result.assumptions) if result.decided else ""
    if block:  # an answer built on an invented number must say so (QA F20)
        result.answer = (result.answer.rstrip() + "\n\n" + block).lstrip()
    return result


def _code_route_result(out: CodeRouteResult, text: str, ctx: RunContext, t0: float) -> AgentResult:
    """What :func:`agent.code_route.asolve_with_code` returned, as an AgentResult.

    Each script is an attempt; its text goes in ``Attempt.message``.
    """
    status = out.status
    objective = out.objective if has_solution(status) else None
    attempts: list[Attempt] = []
    for a in out.attempts:
        errors = [{"location": "script", "message": str(a.error), "hint": "", "code": "code"}]
        attempts.append(
            Attempt(
                round=a.round,
                source="code",
                document=None,
                status=a.status,
                objective=a.objective,
                errors=errors if a.error else [],
                categories=["code"] if a.error else [],
                message=a.code,
            )
        )
    ctx.trace.add("code_route", ctx.candidate, result=out.to_dict())
    if has_solution(status) and objective is not None:
        answer = f"The Pyomo script written by the LLM reports {status}, objective {objective:g}."
    elif out.error:
        answer = f"The code route found no answer: {out.error}"
    else:
        answer = f"The Pyomo script written by the LLM reports the model {status}."
    return AgentResult(
        status=status,
        objective=objective,
        answer=answer,
        message=str(out.error or ""),
        attempts=attempts,
        trace=ctx.trace,
        usage=out.usage,
        repairs=max(0, len(attempts) - 1),
        error_categories=["code"] if any(a.errors for a in attempts) else [],
        strategy="code",
        problem=text,
        duration_s=time.perf_counter() - t0,
    )


# ---------------------------------------------------------------------- agent


class OptimizationAgent:
    """Formulate, check, solve, verify, repair and explain optimization word problems.

    The LLM is any OpenAI-compatible endpoint (``model``, ``base_url``, ``api_key``;
    unset values come from the environment: ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``,
    ``OPTIWISE_MODEL``) or any :class:`agent.llm.ChatModel` passed as ``llm``
    (``FakeLLM`` in tests). ``prewarm`` (default) starts a solve worker in the
    background at once, so the first solve does not wait for it; pass False where this
    agent never solves in this process (its work goes to an eval's process or Ray pool).
    """

    def __init__(
        self,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        llm: ChatModel | None = None,
        max_repairs: int = 3,
        samples: int = 1,
        review: bool = False,
        strategy: Strategy = "formulation",
        time_limit: float | None = 60.0,
        backend: str = "auto",
        *,
        explain_with_llm: bool = False,
        examples: int = 2,
        examples_dir: str | Path | None = None,
        prompts: PromptSet | None = None,
        config: AgentConfig | None = None,
        prewarm: bool = True,
    ) -> None:
        if config is None:
            config = AgentConfig(
                max_repairs=max_repairs,
                samples=samples,
                review=review,
                strategy=strategy,
                time_limit=time_limit,
                backend=backend,
                explain_with_llm=explain_with_llm,
                examples=examples,
                examples_dir=Path(examples_dir) if examples_dir else None,
            )
        # The review interrupt needs a checkpointed thread: it belongs to ChatSession.
        self.config = config.with_(review_before_solve=False)
        if llm is None:
            overrides: dict[str, Any] = {
                k: v
                for k, v in {"model": model, "base_url": base_url, "api_key": api_key}.items()
                if v is not None
            }
            llm = OpenAIChatModel(**overrides)
        self.llm: ChatModel = llm
        self.prompts = prompts or PromptSet.default()
        if prewarm and not self.config.solve_in_process and self.config.strategy != "code":
            # A worker starts in the background while the LLM formulates: the first
            # solve does not wait for the forkserver's imports (1-6 s).
            warm_up(wait=False)

    def __repr__(self) -> str:
        c = self.config
        return (
            f"OptimizationAgent(llm={self.llm!r}, max_repairs={c.max_repairs}, "
            f"samples={c.samples}, strategy={c.strategy!r})"
        )

    # ---------------------------------------------------------------- setup

    def _trace(self, text: str) -> Trace:
        return Trace(
            problem=text[:200],
            model=getattr(self.llm, "model_name", type(self.llm).__name__),
            config={k: str(v) for k, v in vars(self.config).items()},
            prompts=self.prompts.digest()[:16],
        )

    def _context(
        self, trace: Trace, data: ProblemData | None = None, note: str | None = None
    ) -> RunContext:
        """The run's context; with ``data``, its tables described (``note``, if done already)."""
        return RunContext.described(
            llm=self.llm,
            config=self.config,
            prompts=self.prompts,
            trace=trace,
            data=data,
            note=note,
        )

    def _candidate_contexts(self, base: RunContext) -> list[RunContext]:
        n = self.config.samples
        if n == 1:
            return [base.for_candidate(0)]
        extra: dict[str, Any] = {}
        if self.config.sample_temperature is not None:
            extra["temperature"] = self.config.sample_temperature
        return [base.for_candidate(i, cache_tag=f"sample-{i}", **extra) for i in range(n)]

    def _graph_config(self) -> dict[str, Any]:
        return {"recursion_limit": self.config.recursion_limit}

    # --------------------------------------------------------------- running

    def _run_sync(self, text: str, ctx: RunContext) -> AgentResult:
        t0 = time.perf_counter()
        try:
            if ctx.config.review_before_solve:  # a pause needs the graph (never set here)
                state = compiled_solve_graph().invoke(
                    {"problem": text}, self._graph_config(), context=ctx
                )
            else:  # the same nodes and routers, without LangGraph's per-step runtime
                state = run_solve_loop(text, ctx, self.config.recursion_limit)
        except Exception as exc:
            return self._crashed(text, ctx, exc, t0)
        return _finished(text, state, ctx, t0)

    async def _run_async(self, text: str, ctx: RunContext) -> AgentResult:
        t0 = time.perf_counter()
        try:
            if ctx.config.review_before_solve:
                state = await compiled_solve_graph(asynchronous=True).ainvoke(
                    {"problem": text}, self._graph_config(), context=ctx
                )
            else:
                state = await arun_solve_loop(text, ctx, self.config.recursion_limit)
        except Exception as exc:
            return self._crashed(text, ctx, exc, t0)
        return _finished(text, state, ctx, t0)

    def _crashed(self, text: str, ctx: RunContext, exc: Exception, t0: float) -> AgentResult:
        from langgraph.errors import GraphRecursionError

        if isinstance(exc, GraphRecursionError):
            message = "The agent stopped: it reached its step limit without finishing."
        else:
            message = f"The agent failed with an internal error: {type(exc).__name__}: {exc}"
        ctx.trace.note(message, ctx.candidate, traceback=traceback.format_exc(limit=8))
        result = _error_result(text, message, ctx.trace, "formulation", t0)
        result.usage = ctx.trace.usage_for(ctx.candidate)
        return result

    async def _run_code(self, text: str, ctx: RunContext) -> AgentResult:
        t0 = time.perf_counter()
        try:
            out = await code_route.asolve_with_code(
                text,
                self.llm,
                timeout_s=self.config.time_limit or 60.0,
                max_repairs=self.config.max_repairs,
                prompts=self.prompts,
                llm_options=dict(ctx.llm_overrides),
            )
        except Exception as exc:
            message = f"The code route failed: {type(exc).__name__}: {exc}"
            ctx.trace.note(message, ctx.candidate, traceback=traceback.format_exc(limit=8))
            return _error_result(text, message, ctx.trace, "code", t0)
        return _code_route_result(out, text, ctx, t0)

    def _combine(
        self, text: str, candidates: list[AgentResult], trace: Trace, t0: float
    ) -> AgentResult:
        # The code route calls the LLM itself: its usage is not in our trace's LLM events.
        usage = trace.usage + sum((c.usage for c in candidates if c.strategy == "code"), Usage())
        if len(candidates) == 1:
            only = candidates[0]
            only.trace, only.usage = trace, usage
            only.duration_s = time.perf_counter() - t0
            return only
        tally = vote(candidates, self.config.vote_rtol)
        trace.note("self-consistency vote", votes=tally)
        pick = tally["winner_candidate"]
        chosen = candidates[pick if pick is not None else 0]
        categories: list[str] = []
        for c in candidates:
            categories.extend(x for x in c.error_categories if x not in categories)
        return AgentResult(
            status=chosen.status,
            objective=chosen.objective,
            formulation=chosen.formulation,
            solution=chosen.solution,
            answer=chosen.answer,
            message=chosen.message,
            attempts=chosen.attempts,
            votes=tally,
            trace=trace,
            usage=usage,
            repairs=chosen.repairs,
            error_categories=categories,
            model_class=chosen.model_class,
            strategy=self.config.strategy,
            problem=text,
            binding=chosen.binding,
            duration_s=time.perf_counter() - t0,
            candidates=candidates,
            result=chosen.result,
        )

    # ------------------------------------------------------------ public API

    def solve(
        self, text: str, data: DataArg = None, *, descriptions: Mapping[str, str] | None = None
    ) -> AgentResult:
        """Formulate, solve, repair and explain one problem (blocking).

        ``data`` is the problem's data folder, or a mapping of table names to
        file paths, rows or DataFrames (laid out in a temporary folder for the
        run); ``descriptions`` maps a table file to a sentence shown with it.
        A ``data`` that cannot be used raises
        :class:`~agent.data_context.DataArgumentError` before any LLM call.
        """
        if self.config.samples == 1 and self.config.strategy == "formulation":
            t0 = time.perf_counter()
            trace = self._trace(text)
            with opened_data(data, descriptions) as prepared:
                base = self._context(trace, prepared)
                result = self._run_sync(text, base.for_candidate(0))
            return self._combine(text, [result], trace, t0)
        return _run_coro(self.asolve(text, data, descriptions=descriptions))

    async def asolve(
        self, text: str, data: DataArg = None, *, descriptions: Mapping[str, str] | None = None
    ) -> AgentResult:
        """Async :meth:`solve`: the candidates of ``samples`` run concurrently."""
        t0 = time.perf_counter()
        trace = self._trace(text)
        with opened_data(data, descriptions) as prepared:
            if prepared is not None and self.config.strategy != "formulation":
                trace.note(
                    "the code route does not read data tables: only formulations do",
                    folder=str(prepared.folder),
                )
            # reading the tables to describe them is file I/O: off the event loop
            note = await asyncio.to_thread(prepared.describe) if prepared is not None else None
            base = self._context(trace, prepared, note)
            jobs: list[Coroutine[Any, Any, AgentResult]] = []
            if self.config.strategy in ("formulation", "both"):
                jobs.extend(self._run_async(text, ctx) for ctx in self._candidate_contexts(base))
            if self.config.strategy in ("code", "both"):
                jobs.append(self._run_code(text, base.for_candidate(len(jobs))))
            candidates = list(await asyncio.gather(*jobs))
        return self._combine(text, candidates, trace, t0)

    async def asolve_many(self, texts: Iterable[str], concurrency: int = 8) -> list[AgentResult]:
        """Solve many problems, at most ``concurrency`` at a time; results in input order."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        gate = asyncio.Semaphore(concurrency)

        async def one(text: str) -> AgentResult:
            async with gate:
                return await self.asolve(text)

        return list(await asyncio.gather(*(one(t) for t in texts)))

    def solve_many(self, texts: Iterable[str], concurrency: int = 8) -> list[AgentResult]:
        """Blocking :meth:`asolve_many`."""
        return _run_coro(self.asolve_many(list(texts), concurrency))

    def chat(
        self,
        thread_id: str | None = None,
        path: str | Path | None = None,
        review_before_solve: bool = False,
        data: str | Path | None = None,
    ) -> ChatSession:
        """A persistent conversation about one model (see :class:`agent.chat.ChatSession`).

        ``data`` is a folder of tables for the thread: every turn may read them.
        """
        return ChatSession(
            self.llm,
            self.config,
            self.prompts,
            thread_id=thread_id,
            path=path,
            review_before_solve=review_before_solve,
            data=data,
        )
