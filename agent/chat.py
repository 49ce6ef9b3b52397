"""Conversations about one model, persisted in SQLite through LangGraph's SqliteSaver.

::

    chat = OptimizationAgent(llm=...).chat(thread_id="plant-42")   # or ChatSession(llm, config)
    chat.send("A company ships cement from two plants ...").answer
    reply = chat.send("demand in the north rises to 300")
    reply.comparison["delta"], reply.diff                     # objective change, YAML diff
    chat.send("why is it infeasible?").answer                  # the IIS, no edit
    chat.close()

    # later, in another process: the thread is still there
    agent.chat(thread_id="plant-42").formulation
    list_threads()                                             # [{"thread_id", "title"}, ...]

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver

from agent.context import AgentConfig, RunContext, optiwise_home
from agent.graph import build_chat_graph
from agent.llm import ChatModel, OpenAIChatModel
from agent.prompts import PromptSet
from agent.result import result_from_state
from agent.state import Attempt, Route
from agent.trace import Trace
from agent.usage import Usage

__all__ = ["PROGRESS", "ChatReply", "ChatSession", "default_threads_path", "list_threads"]

# What a person sees while a turn runs, as each graph node finishes.
PROGRESS = {
    "intake": "Reading the message…",
    "formulate": "Formulated a model; checking it…",
    "check": "Checked the formulation; solving…",
    "review_gate": "Waiting for your review…",
    "solve": "Solved; verifying the answer…",
    "verify": "Verified the answer…",
    "review": "Compared the model with the text…",
    "repair": "Repaired the formulation; checking again…",
    "explain": "Explaining the answer…",
    "edit": "Changed the model; checking it…",
    "diagnose": "Diagnosed the model…",
    "answer": "Answering…",
    "finish_turn": "Done",
}


def default_threads_path() -> Path:
    """``$OPTIWISE_HOME/threads.sqlite`` (``~/.optiwise/threads.sqlite`` by default)."""
    return optiwise_home() / "threads.sqlite"


@dataclass
class ChatReply:
    """One turn's outcome."""

    route: Route
    answer: str
    status: str
    objective: float | None
    formulation: dict[str, Any] | None
    diff: str = ""
    comparison: dict[str, Any] | None = None
    proposal: dict[str, Any] | None = None
    attempts: list[Attempt] = field(default_factory=list)
    review: dict[str, Any] | None = None  # the interrupt payload while waiting for a person
    solution: dict[str, Any] = field(
        default_factory=dict
    )  # spec form: name -> value | {"e1,e2": v}
    usage: Usage = field(default_factory=Usage)
    trace: Trace = field(default_factory=Trace)

    @property
    def waiting(self) -> bool:
        """True when the turn paused for a review before solving (call ``resume``)."""
        return self.review is not None


def list_threads(path: str | Path | None = None, limit: int = 50) -> list[dict[str, str]]:
    """Saved threads, newest first: ``{"thread_id", "title"}`` (title: the problem's start).

    Titles are read from each thread's latest checkpoint; no graph is compiled.
    """
    db = Path(path).expanduser() if path is not None else default_threads_path()
    if not db.exists():
        return []
    conn = sqlite3.connect(str(db), check_same_thread=False)
    try:
        rows = conn.execute(
            "SELECT thread_id, MAX(rowid) AS last FROM checkpoints GROUP BY thread_id "
            "ORDER BY last DESC LIMIT ?",
            (limit,),
        ).fetchall()
        saver = SqliteSaver(conn)
        out = []
        for thread_id, _last in rows:
            found = saver.get_tuple({"configurable": {"thread_id": thread_id}})
            values = found.checkpoint.get("channel_values", {}) if found is not None else {}
            title = str(values.get("problem") or "")
            out.append({"thread_id": str(thread_id), "title": " ".join(title.split())[:80]})
        return out
    except sqlite3.Error:  # a file without our tables
        return []
    finally:
        conn.close()


class ChatSession:
    """A conversation thread about one formulation, persisted across restarts."""

    def __init__(
        self,
        llm: ChatModel | None = None,
        config: AgentConfig | None = None,
        prompts: PromptSet | None = None,
        *,
        thread_id: str | None = None,
        path: str | Path | None = None,
        review_before_solve: bool = False,
    ) -> None:
        """A session on ``thread_id`` (a new one if None) of the threads file ``path``.

        ``llm`` defaults to the endpoint configured in the environment, ``config``
        to :meth:`AgentConfig.from_env`, ``prompts`` to the packaged prompt set.
        """
        self.llm: ChatModel = llm if llm is not None else OpenAIChatModel()
        self.prompts = prompts or PromptSet.default()
        self.thread_id = thread_id or uuid.uuid4().hex
        self.path = Path(path).expanduser() if path is not None else default_threads_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        base = config if config is not None else AgentConfig.from_env()
        self.config = base.with_(review_before_solve=review_before_solve, samples=1)
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
        return RunContext(llm=self.llm, config=self.config, prompts=self.prompts, trace=trace)

    def _reply(self, out: dict[str, Any], trace: Trace) -> ChatReply:
        review = None
        interrupts = out.get("__interrupt__")
        if interrupts:
            review = dict(interrupts[0].value)
        result = result_from_state(out, trace=trace, usage=trace.usage, finished=review is None)
        comparison = out.get("comparison")
        diff = ""
        if comparison:
            diff = str(comparison.get("diff") or "")
        elif out.get("proposal"):
            diff = str(out["proposal"].get("diff") or "")
        return ChatReply(
            route=out.get("route") or "formulate",
            answer=result.answer if review is None else review["question"],
            status=result.status,
            objective=result.objective,
            formulation=out.get("document"),
            diff=diff,
            comparison=comparison,
            proposal=out.get("proposal"),
            attempts=result.attempts,
            review=review,
            solution=result.solution,
            usage=trace.usage,
            trace=trace,
        )

    def _run(self, inputs: Any, trace: Trace, on_event: Callable[[str], None] | None) -> Any:
        ctx = self._context(trace)
        if on_event is None:
            return self.graph.invoke(inputs, self._cfg, context=ctx)
        # Stream node by node so a UI can show progress; the last "values" chunk is the state.
        out: dict[str, Any] = {}
        interrupts: Any = None
        stream: Any = self.graph.stream(
            inputs, self._cfg, context=ctx, stream_mode=["updates", "values"]
        )
        for mode, chunk in stream:
            if mode == "values":
                out = dict(chunk)
            elif isinstance(chunk, dict):
                for node in chunk:
                    if node == "__interrupt__":
                        interrupts = chunk[node]
                    else:
                        on_event(PROGRESS.get(str(node), str(node)))
        if interrupts:
            out["__interrupt__"] = interrupts
        return out

    def send(self, message: str, on_event: Callable[[str], None] | None = None) -> ChatReply:
        """One user message: a new problem, a change, or a question about the model.

        ``on_event`` is called with a short progress label as each step finishes.
        """
        if self.pending_review is not None:
            raise RuntimeError(
                "this thread waits for a review before solving: call resume('ok') or "
                "resume(edited_document) first"
            )
        trace = Trace(thread_id=self.thread_id, message=message[:200])
        return self._reply(self._run({"message": message}, trace, on_event), trace)

    def resume(
        self, decision: Any = "ok", on_event: Callable[[str], None] | None = None
    ) -> ChatReply:
        """Continue after a review interrupt: ``"ok"`` or an edited document (dict or YAML)."""
        from langgraph.types import Command

        if self.pending_review is None:
            raise RuntimeError("nothing to resume: the thread is not waiting for a review")
        trace = Trace(thread_id=self.thread_id, resume=True)
        return self._reply(self._run(Command(resume=decision), trace, on_event), trace)
