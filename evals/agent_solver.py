"""The LLM agent as an eval :class:`~evals.runner.Solver`.

:class:`AgentSolver` sends a benchmark problem's text to
:meth:`agent.OptimizationAgent.asolve` and turns the :class:`~agent.api.AgentResult`
into the runner's outcome mapping: the final answer, the answer before any
repair round (what papers report "without self-correction"), the repair
rounds, the kinds of errors met, tokens, cost, latency, the trace id and the
formulation::

    from agent import OptimizationAgent
    from evals import run_eval
    from evals.agent_solver import AgentSolver

    solver = AgentSolver(OptimizationAgent(model="gpt-4o-mini", max_repairs=3))
    summary = run_eval("nl4opt", solver, model_name="gpt-4o-mini")

With ``executor="process"`` (or ``"ray"``) the agent's CPU work (graph, check,
compile, solve, verify) runs in worker processes (Ray actors) while its LLM
calls stay in this process (:mod:`evals.executors`); call :meth:`AgentSolver.close`
when done to stop the workers.

A problem with a data folder (:attr:`~evals.problems.Problem.data_dir`, e.g.
MIPLIB-NL's ``data/``) is solved with it: the agent describes its tables to
the LLM and the formulation reads them. The process and Ray executors take a
text only, so such a problem runs in this process (a trace note says so).
The outcome's ``solver_stop`` says why the solver stopped on the final
document (optimal, ``time_limit_incumbent``, ``time_limit_none``, ...; see
:func:`agent.state.solver_stop`).

:func:`agent_info` describes the agent for a run's ``config.json`` (model,
endpoint, strategy, samples, repair rounds, prompt-set digest; never the key).
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.problems import Problem

if TYPE_CHECKING:
    from agent.api import AgentResult, OptimizationAgent
    from evals.executors import Executor

__all__ = [
    "AgentSolver",
    "EndpointNotConfigured",
    "agent_info",
    "outcome_from_result",
    "save_trace",
    "unavailable_outcome",
]

DEFAULT_BASE_URL = "https://api.openai.com/v1"

NO_ENDPOINT = """\
optiwise eval: no LLM endpoint is configured.
Set one of:
  export OPENAI_API_KEY=sk-...                      # OpenAI
  export OPENAI_BASE_URL=http://localhost:11434/v1  # a local OpenAI-compatible server
or pass --base-url URL (and --model NAME). Without an endpoint, score stored
formulations with --formulations DIR, or import an OpenAI batch output with
`optiwise eval batch-import`."""


class EndpointNotConfigured(RuntimeError):
    """No API key and no base URL: the agent has nowhere to send its requests."""

    def __init__(self, message: str = NO_ENDPOINT) -> None:
        super().__init__(message)


def _has_solution(status: str) -> bool:
    """The status comes with a point (optimal, feasible): its objective is an answer."""
    from modeling.result import Status

    try:
        return Status(status).has_solution
    except ValueError:  # "invalid", "pending": the agent's own, never a solution
        return False


def _first_attempt(result: AgentResult) -> tuple[str, float | None]:
    """The answer before repair; with several samples, their first attempts' vote."""
    from agent.api import AgentResult, vote

    if len(result.candidates) <= 1:
        status = result.first_attempt_status
        objective = result.first_attempt_objective if _has_solution(status) else None
        return status, objective
    firsts = []
    for c in result.candidates:
        status = c.first_attempt_status
        objective = c.first_attempt_objective if _has_solution(status) else None
        firsts.append(AgentResult(status=status, objective=objective))
    tally = vote(firsts, result.votes["rtol"] if result.votes else 1e-6)
    pick = tally["winner_candidate"]
    chosen = firsts[pick if pick is not None else 0]
    return chosen.status, chosen.objective


def outcome_from_result(result: AgentResult) -> dict[str, Any]:
    """The runner's outcome mapping (see :class:`~evals.runner.SolveOutcome`) of one run."""
    from agent.result_info import solver_stop_of
    from evals.results import findings_from_attempts

    first_status, first_objective = _first_attempt(result)
    usage = result.usage
    return {
        "status": result.status,
        "objective": result.objective,
        "first_status": first_status,
        "first_objective": first_objective,
        "repair_rounds": result.repairs,
        "error_categories": list(result.error_categories),
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_usd": usage.cost_usd,
        "latency_s": result.duration_s,
        "trace_id": result.trace.id,
        "formulation": result.formulation,
        "message": result.message,
        "solver_stop": solver_stop_of(result),
        "termination": _termination(result),
        # per attempt: code, severity, round, status, objective, evidence
        "findings": findings_from_attempts(result.attempts),
        # pass@k; the report ignores fewer than two
        "samples": [{"status": c.status, "objective": c.objective} for c in result.candidates],
    }


def _termination(result: AgentResult) -> str | None:
    """The solver's stop reason (a :class:`~modeling.result.Termination` value) on the final
    document; ``time_limit`` for a solve stopped at the limit without a point (whose
    SolveResult the agent does not keep); None when no solve decided the answer."""
    if result.result is not None:
        return str(result.result.termination)
    return "time_limit" if result.status == "time_limit" else None


def agent_info(agent: OptimizationAgent) -> dict[str, Any]:
    """What a run's ``config.json`` records about the agent (no API key, ever)."""
    llm = agent.llm
    settings = getattr(llm, "settings", None)
    config = agent.config
    info: dict[str, Any] = {
        "llm": type(llm).__name__,
        "model": getattr(llm, "model_name", None),
        "base_url": None,
        "strategy": config.strategy,
        "samples": config.samples,
        "max_repairs": config.max_repairs,
        "review": config.review,
        "time_limit": config.time_limit,
        "backend": config.backend,
        "examples": config.examples,
        "sample_temperature": config.sample_temperature if config.samples > 1 else None,
        "prompts_digest": agent.prompts.digest(),
    }
    if settings is not None:
        info.update(
            base_url=settings.base_url or DEFAULT_BASE_URL,
            temperature=settings.temperature,
            seed=settings.seed,
            max_tokens=settings.max_tokens,
            json_mode=settings.json_mode,
            cache_dir=str(settings.cache_dir) if settings.cache_dir is not None else None,
        )
    return info


class AgentSolver:
    """A :class:`~evals.runner.Solver` that asks an :class:`~agent.OptimizationAgent`.

    One agent serves every problem (its chat model is safe to share between
    asyncio tasks). With ``trace_dir`` set, each run's trace is written to
    ``trace_dir/<trace id>.json``, the id the result line records.

    ``executor`` is ``"local"`` (the event loop of the caller), ``"process"``
    (a pool of ``workers`` processes; by default one per core but one, which the
    LLM calls use), ``"ray"``
    (Ray actors; ``ray_address`` for a cluster) or an
    :class:`~evals.executors.Executor` instance. Workers start on the first
    problem and stop at :meth:`close`.
    """

    def __init__(
        self,
        agent: OptimizationAgent,
        *,
        trace_dir: str | Path | None = None,
        executor: str | Executor = "local",
        workers: int | None = None,
        ray_address: str | None = None,
    ) -> None:
        from evals.executors import make_executor

        self.agent = agent
        _meter_calls(agent.llm)
        self.trace_dir = Path(trace_dir) if trace_dir is not None else None
        if isinstance(executor, str):
            executor = make_executor(executor, agent, workers=workers, ray_address=ray_address)
        self.executor: Executor = executor
        self.warm_up()

    def warm_up(self) -> None:
        """Start the executor's workers in the background (a process pool; nothing else).

        Called when the solver is made, so the pool's start (seconds: the forkserver
        imports the agent, each worker warms up) overlaps what comes before the first
        problem instead of delaying it; calling it again does nothing new.
        """
        start_soon = getattr(self.executor, "start_soon", None)
        if callable(start_soon) and not getattr(self.executor, "workers", None):
            start_soon()

    def __repr__(self) -> str:
        return f"AgentSolver({self.agent!r}, executor={self.executor.name!r})"

    def close(self) -> None:
        """Stop the executor's workers (nothing to do for ``local``)."""
        self.executor.close()

    @property
    def model_name(self) -> str:
        """The model the agent's chat model sends requests to."""
        llm = self.agent.llm
        return str(getattr(llm, "model_name", "") or type(llm).__name__)

    def describe(self) -> dict[str, Any]:
        """The ``agent`` section of the run's ``config.json``."""
        info = agent_info(self.agent)
        info["executor"] = self.executor.name
        return info

    async def solve(self, problem: Problem) -> dict[str, Any]:
        """Formulate, solve and repair ``problem.question`` (with its data folder); the outcome."""
        data = problem.data_dir
        unavailable = unavailable_outcome(problem)
        if unavailable is not None:
            return unavailable
        if data is None:
            return await self.executor.run(problem.question, self.trace_dir)
        if not Path(data).is_dir():
            return {
                "status": "error",
                "objective": None,
                "error_categories": ["data"],
                "message": f"the problem's data folder {data} is not there (fetch the dataset)",
            }
        run = self.executor.run
        if _takes_data(run):
            return await run(problem.question, self.trace_dir, data=data)  # type: ignore[call-arg]
        # An executor without a data channel: this problem runs in the caller's process.
        result = await self.agent.asolve(problem.question, data=data)
        if self.executor.name != "local":
            result.trace.note(
                f"run in the caller's process: the {self.executor.name} executor "
                "cannot pass a data folder"
            )
        if self.trace_dir is not None:
            save_trace(result, self.trace_dir)
        return outcome_from_result(result)


def unavailable_outcome(problem: Problem) -> dict[str, Any] | None:
    """The outcome of a problem that cannot be run (its tables are not shipped), else None.

    No LLM call is made: the tables the text names do not exist (upstream ships
    none), so every answer would be invented. The label is flagged by the loader,
    so the problem leaves the unflagged accuracy; the message says why.
    """
    reason = problem.missing_data
    if not reason:
        return None
    return {
        "status": "error",
        "objective": None,
        "error_categories": ["missing_data"],
        "findings": [],
        "message": f"not run: {reason}",
        "latency_s": 0.0,
    }


_METERED: weakref.WeakSet[Any] = weakref.WeakSet()


def _meter_calls(llm: Any) -> None:
    """Report each call of ``llm`` to the runner's per-problem meter (once per instance).

    The chat model reports every answered call through its public ``on_usage``
    hook (:meth:`agent.llm.OpenAIChatModel.on_usage`), in the caller's context, so
    the call counts toward the problem being solved (:func:`evals.runner.meter_usage`)
    and a problem stopped by ``--timeout`` keeps the usage of the calls it made.
    A model without the hook is not metered per problem.
    """
    from evals.runner import meter_usage

    on_usage = getattr(llm, "on_usage", None)
    if on_usage is None or llm in _METERED:
        return

    def metered(usage: Any) -> None:
        meter_usage(
            int(getattr(usage, "prompt_tokens", 0) or 0),
            int(getattr(usage, "completion_tokens", 0) or 0),
            float(getattr(usage, "cost_usd", 0.0) or 0.0),
        )

    on_usage(metered)
    _METERED.add(llm)


def _takes_data(run: Any) -> bool:
    """Whether an executor's ``run`` accepts ``data=`` (a folder sent along with the text)."""
    import inspect

    try:
        return "data" in inspect.signature(run).parameters
    except (TypeError, ValueError):
        return False


def save_trace(result: AgentResult, directory: Path) -> None:
    """Write ``result``'s trace to ``directory/<trace id>.json`` (an I/O error is ignored)."""
    try:
        result.trace.save(directory / f"{result.trace.id}.json")
    except OSError:
        pass  # a trace is a convenience; the result line is what counts
