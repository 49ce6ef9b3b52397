"""The agent's runtime context: its settings, and the per-run resources nodes use.

:class:`AgentConfig` holds the knobs (repair rounds, samples, review, solver
time limit, ...), each with an ``OPTIWISE_<NAME>`` environment fallback, so no
constant hides in a main module. :class:`RunContext` is what LangGraph hands
to every node as ``runtime.context``: the config plus the chat model, the
prompt set, the trace, and a scratch area for objects that do not belong in
the (checkpointed, JSON-like) state, such as the compiled model and the last
:class:`~modeling.SolveResult`.

    config = AgentConfig.from_env(max_repairs=2)
    ctx = RunContext(config=config, llm=FakeLLM([...]))
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from agent.data_context import ProblemData
from agent.llm import ChatModel
from agent.prompts import PromptSet
from agent.trace import Trace

__all__ = ["AgentConfig", "RunContext", "Scratch", "Strategy", "optiwise_home"]

Strategy = Literal["formulation", "code", "both"]
STRATEGIES: tuple[str, ...] = ("formulation", "code", "both")


def optiwise_home() -> Path:
    """``$OPTIWISE_HOME`` or ``~/.optiwise``: where chat threads and local state live."""
    env = os.environ.get("OPTIWISE_HOME")
    return Path(env).expanduser() if env else Path.home() / ".optiwise"


def _env_value(name: str, current: Any) -> Any:
    raw = os.environ.get(f"OPTIWISE_{name.upper()}")
    if raw is None or raw == "":
        return current
    if isinstance(current, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    if current is None and name in ("time_limit", "sample_temperature"):
        return float(raw)
    if current is None and name == "examples_dir":
        return Path(raw)
    return raw


@dataclass(frozen=True)
class AgentConfig:
    """How the agent works (not which LLM it talks to: that is :class:`LLMSettings`).

    Every field can be set from the environment as ``OPTIWISE_<FIELD>`` (for example
    ``OPTIWISE_MAX_REPAIRS=5``) through :meth:`from_env`; explicit values win.
    """

    max_repairs: int = 3
    """Repair rounds after the first attempt (0 turns repair off)."""
    samples: int = 1
    """Candidate formulations for self-consistency voting."""
    review: bool = False
    """Ask the LLM to back-translate and review a solved formulation."""
    explain_with_llm: bool = False
    """Have the LLM phrase the final answer (default: built from the result, no call)."""
    review_before_solve: bool = False
    """Pause with a LangGraph interrupt before each solve (needs a checkpointer)."""
    strategy: Strategy = "formulation"
    """formulation (declarative document), code (a Pyomo script) or both."""
    time_limit: float | None = 60.0
    """Seconds per solve: the solver's own limit (it returns its best point); the solve's worker
    is killed a grace period later (:func:`modeling.worker.grace`) if it has not answered."""
    backend: str = "auto"
    """modeling backend: auto, highs, pyomo or pulp."""
    examples: int = 2
    """Few-shot sample problems shown to the formulate prompt."""
    examples_dir: Path | None = None
    """Where the sample problems are (default: the packaged ones, :mod:`modeling.samples`)."""
    sample_temperature: float | None = 0.7
    """Sampling temperature of the candidates when samples > 1."""
    vote_rtol: float = 1e-6
    """Relative tolerance under which two objectives count as the same vote."""
    sanity: bool = True
    """Run the status sanity checks after a solve."""
    hints: bool = True
    """Show the formulate prompt the modeling hints of the problem's class (:mod:`agent.hints`);
    off for the ablation that measures them."""
    repair_hook: str | None = None
    """Python source of a tuned ``repair_feedback(findings) -> str`` (from ``optiwise tune
    --components ...,repair_feedback``); None = the built-in formatting. A non-default source
    runs sandboxed (:mod:`agent.feedback`)."""
    small_model_nonzeros: int = 0
    """Deprecated and ignored: kept so that older configurations still load. It let small
    LP/MILP models skip the worker when a worker cost ~40 ms of CPU per solve; the workers
    are now long-lived (:class:`modeling.worker.WorkerPool`, a few ms per solve), so every
    solve goes there. ``solve_in_process`` is the opt-out."""
    solve_in_process: bool = False
    """Solve and diagnose in this process instead of a killable worker
    (:func:`modeling.worker.solve_isolated`, :func:`modeling.worker.diagnose_isolated`).
    Saves the worker round trip (a few milliseconds and a pickle of the compiled model per
    solve) but a model that hangs while it is built ignores the time limit; for trusted
    formulations, or a caller that is itself a killable process (an eval's pool worker)."""

    def __post_init__(self) -> None:
        if self.max_repairs < 0:
            raise ValueError(f"max_repairs must be >= 0, got {self.max_repairs}")
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}"
            )

    @classmethod
    def from_env(cls, **overrides: Any) -> AgentConfig:
        """Defaults, then ``OPTIWISE_<FIELD>`` variables, then ``overrides`` (None = unset)."""
        base = cls()
        values: dict[str, Any] = {}
        for f in fields(cls):
            values[f.name] = _env_value(f.name, getattr(base, f.name))
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown agent setting(s): {', '.join(sorted(unknown))}")
        return cls(**values)

    def with_(self, **changes: Any) -> AgentConfig:
        """A copy with some fields changed."""
        return replace(self, **changes)

    @property
    def recursion_limit(self) -> int:
        """LangGraph step cap: generous for the repair loop, finite so nothing spins."""
        return 40 + 10 * (self.max_repairs + 1)


@dataclass
class Scratch:
    """Per-run objects kept out of the checkpointed state (not serializable, or large)."""

    compiled: dict[str, Any] = field(default_factory=dict)  # document key -> CompiledModel
    results: dict[str, Any] = field(default_factory=dict)  # document key -> SolveResult
    last_result: Any = None

    def remember_compiled(self, key: str, model: Any) -> None:
        self.compiled.clear()  # only the current document is ever needed again
        self.compiled[key] = model


@dataclass
class RunContext:
    """What every node receives as ``runtime.context``."""

    llm: ChatModel
    config: AgentConfig = field(default_factory=AgentConfig)
    prompts: PromptSet = field(default_factory=PromptSet.default)
    trace: Trace = field(default_factory=Trace)
    candidate: int = 0
    """Index of the self-consistency sample this run is."""
    llm_overrides: dict[str, Any] = field(default_factory=dict)
    """Per-call overrides for every LLM request of this run (temperature, cache_tag)."""
    scratch: Scratch = field(default_factory=Scratch)
    data: ProblemData | None = None
    """The problem's data folder (tables the formulation reads), or None."""
    data_note: str = ""
    """The data folder described for the LLM (appended to the problem in every request)."""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def for_candidate(self, index: int, **llm_overrides: Any) -> RunContext:
        """A context for sample ``index``: same LLM, config, prompts and trace; own scratch."""
        return RunContext(
            llm=self.llm,
            config=self.config,
            prompts=self.prompts,
            trace=self.trace,
            candidate=index,
            llm_overrides={**self.llm_overrides, **llm_overrides},
            data=self.data,
            data_note=self.data_note,
        )

    @property
    def data_dir(self) -> Path | None:
        """The folder tables are read from (None when the problem came without data)."""
        return self.data.folder if self.data is not None else None

    @classmethod
    def described(
        cls,
        *,
        llm: ChatModel,
        config: AgentConfig,
        prompts: PromptSet,
        trace: Trace,
        data: ProblemData | None = None,
        note: str | None = None,
    ) -> RunContext:
        """A run's context; with ``data``, its tables described for the LLM (``note``, when
        already done) and the description's size noted in the trace."""
        if data is not None:
            note = data.describe() if note is None else note
            trace.note(
                f"data folder: {len(data.files())} table file(s), described in "
                f"{len(note)} characters",
                folder=str(data.folder),
            )
        return cls(
            llm=llm,
            config=config,
            prompts=prompts,
            trace=trace,
            data=data,
            data_note=note or "",
        )
