"""Conversations about one model, persisted in SQLite through LangGraph's SqliteSaver.

::

    chat = ChatSession(OptimizationAgent(llm=...), thread_id="plant-42")
    chat.send("A company ships cement from two plants ...").answer
    reply = chat.send("demand in the north rises to 300")
    reply.comparison["delta"], reply.diff                     # objective change, YAML diff
    chat.send("why is it infeasible?").answer                  # the IIS, no edit
    chat.close()

    # later, in another process: the thread is still there
    ChatSession(agent, thread_id="plant-42").formulation

A follow-up is a *proposed change*: the LLM rewrites the whole document
(prompt ``edit``), the change is diffed, checked, solved (and repaired if
needed) and compared with the previous solution. With
``review_before_solve=True`` every document pauses before it is solved
(LangGraph ``interrupt``); :meth:`ChatSession.resume` continues with ``"ok"``
or an edited document.

Threads live in ``$OPTIWISE_HOME/threads.sqlite`` (default ``~/.optiwise``)
unless ``path`` says otherwise.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig

from agent.context import RunContext, optiwise_home
from agent.graph import build_chat_graph
from agent.state import Attempt
from agent.trace import Trace
from agent.usage import Usage

if TYPE_CHECKING:
    from agent.api import OptimizationAgent

__all__ = ["ChatReply", "ChatSession", "default_threads_path"]


def default_threads_path() -> Path:
    """``$OPTIWISE_HOME/threads.sqlite`` (``~/.optiwise/threads.sqlite`` by default)."""
    return optiwise_home() / "threads.sqlite"


@dataclass
class ChatReply:
    """One turn's outcome."""

    route: str  # formulate | edit | diagnose | answer
    answer: str
    status: str
    objective: float | None
    formulation: dict[str, Any] | None
    diff: str = ""
    comparison: dict[str, Any] | None = None
    proposal: dict[str, Any] | None = None
    attempts: list[Attempt] = field(default_factory=list)
    review: dict[str, Any] | None = None  # the interrupt payload while waiting for a person
    usage: Usage = field(default_factory=Usage)
    trace: Trace = field(default_factory=Trace)

    @property
    def waiting(self) -> bool:
        """True when the turn paused for a review before solving (call ``resume``)."""
        return self.review is not None


class ChatSession:
    """A conversation thread about one formulation, persisted across restarts."""

    def __init__(
        self,
        agent: OptimizationAgent | None = None,
        *,
        thread_id: str | None = None,
        path: str | Path | None = None,
        review_before_solve: bool = False,
    ) -> None:
        from langgraph.checkpoint.sqlite import SqliteSaver

        if agent is None:
            from agent.api import OptimizationAgent

            agent = OptimizationAgent()
        self.agent = agent
        self.thread_id = thread_id or uuid.uuid4().hex
        self.path = Path(path).expanduser() if path is not None else default_threads_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.config = agent.config.with_(review_before_solve=review_before_solve, samples=1)
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False)
        self.checkpointer = SqliteSaver(self._conn)
        self.graph = build_chat_graph().compile(checkpointer=self.checkpointer)

    def __enter__(self) -> ChatSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ChatSession(thread_id={self.thread_id!r}, path={str(self.path)!r})"

    def close(self) -> None:
        """Close the SQLite connection (the thread stays on disk)."""
        self._conn.close()

    # --------------------------------------------------------------- state

    @property
    def _cfg(self) -> RunnableConfig:
        return {
            "configurable": {"thread_id": self.thread_id},
            "recursion_limit": self.config.recursion_limit,
        }

    @property
    def state(self) -> dict[str, Any]:
        """The thread's current state (empty for a new thread)."""
        return dict(self.graph.get_state(self._cfg).values)

    @property
    def formulation(self) -> dict[str, Any] | None:
        return self.state.get("document")

    @property
    def history(self) -> list[dict[str, str]]:
        """The conversation so far: ``{"role", "content"}`` turns."""
        return list(self.state.get("history") or [])

    @property
    def pending_review(self) -> dict[str, Any] | None:
        """The interrupt payload if the thread waits for a review before solving."""
        snap = self.graph.get_state(self._cfg)
        for task in snap.tasks:
            for intr in task.interrupts:
                return dict(intr.value)
        return None

    # --------------------------------------------------------------- turns

    def _context(self, trace: Trace) -> RunContext:
        return RunContext(
            llm=self.agent.llm, config=self.config, prompts=self.agent.prompts, trace=trace
        )

    def _reply(self, out: dict[str, Any], trace: Trace) -> ChatReply:
        review = None
        interrupts = out.get("__interrupt__")
        if interrupts:
            review = dict(interrupts[0].value)
        comparison = out.get("comparison")
        diff = ""
        if comparison:
            diff = str(comparison.get("diff") or "")
        elif out.get("proposal"):
            diff = str(out["proposal"].get("diff") or "")
        status = str(out.get("status") or "")
        return ChatReply(
            route=str(out.get("route") or ""),
            answer=str(out.get("answer") or "") if review is None else review["question"],
            status=status,
            objective=out.get("objective") if status in ("optimal", "feasible") else None,
            formulation=out.get("document"),
            diff=diff,
            comparison=comparison,
            proposal=out.get("proposal"),
            attempts=[Attempt.from_dict(a) for a in out.get("attempts") or []],
            review=review,
            usage=trace.usage,
            trace=trace,
        )

    def send(self, message: str) -> ChatReply:
        """One user message: a new problem, a change, or a question about the model."""
        if self.pending_review is not None:
            raise RuntimeError(
                "this thread waits for a review before solving: call resume('ok') or "
                "resume(edited_document) first"
            )
        trace = Trace(thread_id=self.thread_id, message=message[:200])
        out = self.graph.invoke({"message": message}, self._cfg, context=self._context(trace))
        return self._reply(out, trace)

    def resume(self, decision: Any = "ok") -> ChatReply:
        """Continue after a review interrupt: ``"ok"`` or an edited document (dict or YAML)."""
        from langgraph.types import Command

        if self.pending_review is None:
            raise RuntimeError("nothing to resume: the thread is not waiting for a review")
        trace = Trace(thread_id=self.thread_id, resume=True)
        out = self.graph.invoke(Command(resume=decision), self._cfg, context=self._context(trace))
        return self._reply(out, trace)
