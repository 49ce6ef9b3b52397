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

With tools on (``tool_mode="native" | "json" | "auto"``, or ``OPTIWISE_TOOL_MODE``),
a message about an existing model is answered by the LLM calling tools
(:mod:`agent.tool_chat`: solve, edit, what-if, sweep, IIS, sensitivity, a
black-box minimiser) instead of the regex route; a new problem is still
formulated by the graph, and ``tool_mode="off"`` (the default) keeps the
regex router for every message::

    chat = ChatSession(llm, tool_mode="auto")
    reply = chat.send("cut the budget by 10% and tell me which constraints bind")
    reply.tool_calls      # [{"name": "edit_model", "arguments": ..., "ok": True, "result": ...}, ...]
    reply.sweeps          # objective-vs-parameter tables of sweep_parameter, for a plot

A formulation that states assumptions (data the text left out, spec v1.2) is
answered with those assumptions and a request to confirm them or give the data;
the follow-up that gives it is an edit, after which the assumption is gone
(``reply.assumptions`` lists the ones still standing; :mod:`agent.assumptions`).

A thread can come with data tables (spec v1.1 Tables): files uploaded with a
message (``send(text, files={"costs.csv": b"..."})``) or a folder given when the
session opens (``ChatSession(data="instance/data")``) are kept in the thread's
own data folder (:attr:`ChatSession.data_dir`, see :mod:`agent.chat_data`), and
every formulate, edit, check and solve of the thread reads them: the LLM sees each
table described (columns, row count, first rows), never the whole table::

    chat.send("Ship at least cost; costs and demands are in the tables.",
              files={"costs.csv": Path("costs.csv").read_bytes()})

Threads live in ``$OPTIWISE_HOME/threads.sqlite`` (default ``~/.optiwise``)
unless ``path`` says otherwise.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver

from agent.assumptions import (
    confirmed_note,
    is_confirmation,
    resolve_assumptions,
    resolved_note,
    stated_assumptions,
)
from agent.chat_data import (
    UploadError,
    check_upload,
    link_tables,
    max_upload_bytes,
    save_upload,
    thread_data_dir,
)
from agent.chat_nodes import classify_message
from agent.checkpoint_serde import CheckpointSerializer
from agent.context import AgentConfig, RunContext, optiwise_home
from agent.data_context import ProblemData, table_files
from agent.errors import LLMError
from agent.graph import build_chat_graph
from agent.llm import ChatModel, OpenAIChatModel
from agent.prompts import PromptSet
from agent.result import result_from_state
from agent.state import Attempt, Route, problem_text
from agent.tool_chat import ToolChat, ToolChatConfig, ToolMode, ToolTurn, Workspace
from agent.trace import Trace
from agent.usage import Usage
from modeling.format import format_number
from modeling.scenarios import compare, yaml_diff

__all__ = [
    "PROGRESS",
    "ChatReply",
    "ChatSession",
    "UploadError",
    "default_threads_path",
    "list_threads",
]

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
    "tools": "Asking the model which tools to use…",
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
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """The tools the LLM ran this turn (tool chat only): name, arguments, ok, result."""
    sweeps: list[dict[str, Any]] = field(default_factory=list)
    """Parametric sweeps of this turn: ``{"x", "y", "rows", "x_label", "y_label", ...}``."""
    tool_mode: str | None = None
    """native or json when the turn ran with tools; None for a regex-routed turn."""
    assumptions: list[dict[str, Any]] = field(default_factory=list)
    """What the current model assumes for data the text left out: ``{"text", "parameters"}``.

    A new model's answer lists them and asks for the data; a follow-up that gives it
    (an edit) removes them."""

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
        saver = SqliteSaver(conn, serde=CheckpointSerializer())
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
        tool_mode: ToolMode | None = None,
        tools: ToolChatConfig | None = None,
        data: str | Path | None = None,
    ) -> None:
        """A session on ``thread_id`` (a new one if None) of the threads file ``path``.

        ``data`` is a folder of tables for this thread: its table files are
        linked into the thread's data folder (:attr:`data_dir`), where they stay
        for later sessions on the thread.

        ``llm`` defaults to the endpoint configured in the environment, ``config``
        to :meth:`AgentConfig.from_env`, ``prompts`` to the packaged prompt set.
        ``tools`` configures the tool chat (default :meth:`ToolChatConfig.from_env`,
        with the agent's time limit and backend); ``tool_mode`` overrides its mode.
        """
        self.llm: ChatModel = llm if llm is not None else OpenAIChatModel()
        self.prompts = prompts or PromptSet.default()
        self.thread_id = thread_id or uuid.uuid4().hex
        self.replaced_files: list[str] = []  # uploads of the last add_files that replaced a file
        self.path = Path(path).expanduser() if path is not None else default_threads_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        base = config if config is not None else AgentConfig.from_env()
        self.config = base.with_(review_before_solve=review_before_solve, samples=1)
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False)
        self.checkpointer = SqliteSaver(self._conn, serde=CheckpointSerializer())
        self.graph = build_chat_graph().compile(checkpointer=self.checkpointer)
        tool_config = tools or ToolChatConfig.from_env(
            time_limit=self.config.time_limit, backend=self.config.backend
        )
        if tool_mode is not None:
            tool_config = replace(tool_config, tool_mode=tool_mode)  # validated again
        self.tool_chat = ToolChat(self.llm, tool_config, prompts=self.prompts)
        self.data_dir = thread_data_dir(self.path, self.thread_id)
        """The thread's data folder (it exists once a table was added)."""
        if data is not None:
            link_tables(data, self.data_dir)

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
    def history(self) -> list[dict[str, Any]]:
        """The conversation so far: ``{"role", "content"}`` turns.

        An assistant turn that ran tools also has ``tools`` (as :attr:`ChatReply.tool_calls`),
        ``tool_mode`` and, after a sweep, ``sweeps`` (as :attr:`ChatReply.sweeps`).
        """
        return list(self.state.get("history") or [])

    @property
    def pending_review(self) -> dict[str, Any] | None:
        """The interrupt payload if the thread waits for a review before solving."""
        snap = self.graph.get_state(self._cfg)
        for task in snap.tasks:
            for intr in task.interrupts:
                return dict(intr.value)
        return None

    # ---------------------------------------------------------------- data

    def data_files(self) -> list[str]:
        """The table files of the thread's data folder (names relative to it)."""
        return table_files(self.data_dir) if self.data_dir.is_dir() else []

    def add_files(self, files: Mapping[str, bytes]) -> list[str]:
        """Save uploaded tables into the thread's data folder; their saved names.

        Every file is checked first (name, kind, size: :func:`agent.chat_data.save_upload`),
        so a refused one raises :class:`~agent.chat_data.UploadError` with nothing saved.
        """
        limit = max_upload_bytes()
        self.replaced_files.clear()
        for name, content in files.items():
            clean = check_upload(name, content, limit)
            old = self.data_dir / clean
            with contextlib.suppress(OSError):
                if old.is_file() and old.read_bytes() != content:
                    self.replaced_files.append(clean)  # said in the acknowledgement
        return [save_upload(self.data_dir, name, content, limit) for name, content in files.items()]

    def _problem_data(self) -> ProblemData | None:
        return ProblemData(self.data_dir) if self.data_files() else None

    # --------------------------------------------------------------- turns

    def _context(self, trace: Trace) -> RunContext:
        return RunContext.described(
            llm=self.llm,
            config=self.config,
            prompts=self.prompts,
            trace=trace,
            data=self._problem_data(),
        )

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
            assumptions=stated_assumptions(out.get("document")),
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

    def send(
        self,
        message: str,
        on_event: Callable[[str], None] | None = None,
        files: Mapping[str, bytes] | None = None,
    ) -> ChatReply:
        """One user message: a new problem, a change, or a question about the model.

        ``on_event`` is called with a short progress label as each step finishes.
        ``files`` are data tables sent with the message (name -> content): saved
        into the thread's data folder first (a refused one raises
        :class:`~agent.chat_data.UploadError` before any LLM call), listed with
        the message in :attr:`history` (``"files"``), and read by this and every
        later turn. Files with an empty message are only added.
        """
        if self.pending_review is not None:
            raise RuntimeError(
                "this thread waits for a review before solving: call resume('ok') or "
                "resume(edited_document) first"
            )
        names = self.add_files(files) if files else []
        if names and not message.strip():
            return self._files_only(names)
        trace = Trace(thread_id=self.thread_id, message=message[:200])
        confirmed = None if names else self._confirm_assumptions(message)
        if confirmed is not None:
            return confirmed
        reply: ChatReply | None = None
        if self.tool_chat.config.tool_mode != "off" and not self.data_files():
            # the tools solve the document without its tables: a thread with data takes the
            # graph's route, which reads them
            reply = self._tool_turn(message, trace, on_event)
        if reply is None:
            reply = self._reply(self._run({"message": message}, trace, on_event), trace)
        if names and not reply.waiting:
            self._mark_files(message, names)
        return reply

    def _mark_files(self, message: str, names: list[str]) -> None:
        """List the files sent with ``message`` on its entry in the thread's history."""
        history = self.history
        for entry in reversed(history):
            if entry.get("role") == "user" and entry.get("content") == message.strip():
                entry["files"] = list(names)
                break
        else:
            return
        self.graph.update_state(self._cfg, {"history": history}, as_node="finish_turn")

    def _files_only(self, names: list[str]) -> ChatReply:
        """Files sent without a message: saved and acknowledged (no LLM call)."""
        state = self.state
        replaced = [n for n in names if n in self.replaced_files]
        added = [n for n in names if n not in replaced]
        parts = []
        if added:
            parts.append(f"Added {', '.join(added)} to this conversation's data")
        if replaced:
            verb = "Replaced" if not added else "replaced"
            parts.append(
                f"{verb} {', '.join(replaced)} with the new upload (the earlier file of that "
                "name is gone; a model that reads it now reads the new numbers)"
            )
        answer = (
            f"{'; '.join(parts)} ({len(self.data_files())} table file(s) in all). Describe "
            "the problem, or ask for a change, and the model will read them."
        )
        history = [
            *(state.get("history") or []),
            {"role": "user", "content": "", "files": list(names)},
            {"role": "assistant", "content": answer},
        ]
        values: dict[str, Any] = {"message": "", "history": history, "answer": answer}
        if not state:
            values.update(problem="", route="answer", status="pending")
        self.graph.update_state(self._cfg, values, as_node="finish_turn")
        return ChatReply(
            route="answer",
            answer=answer,
            status=str(state.get("status") or "pending"),
            objective=state.get("objective"),
            formulation=state.get("document"),
            solution=state.get("solution") or {},
            assumptions=stated_assumptions(state.get("document")),
        )

    def open_model(self, document: dict[str, Any], problem: str = "") -> ChatReply:
        """Start the thread from a formulation one already has (no LLM call): solve and save it.

        The next messages talk about this model (with tools, or through the regex router)
        as if the LLM had formulated it from ``problem``.
        """
        from modeling.formulation import load
        from modeling.scenarios import snapshot
        from modeling.solve import solve
        from modeling.worker import solve_isolated

        source: Any = dict(document)
        if self.data_files():  # a model that names the thread's tables reads them
            try:
                source = load(source, data=self.data_dir)
            except Exception:  # the solve reports the located problem as invalid
                source = dict(document)
        # in a killable worker, like every solve of the agent (unless it opted out)
        run = solve if self.config.solve_in_process else solve_isolated
        result = run(source, backend=self.config.backend, time_limit=self.config.time_limit)
        snap = snapshot(result)
        answer = f"Opened the model: {snap['status']}" + (
            f", objective {format_number(snap['objective'])}."
            if snap["objective"] is not None
            else "."
        )
        values: dict[str, Any] = {
            "problem": problem,
            "message": "",
            "route": "formulate",
            "history": [{"role": "assistant", "content": answer}],
            "answer": answer,
            "document": dict(document),
            "changes": [],
            **snap,
        }
        self.graph.update_state(self._cfg, values, as_node="finish_turn")
        return ChatReply(
            route="formulate",
            answer=answer,
            status=snap["status"],
            objective=snap["objective"],
            formulation=dict(document),
            solution=snap["solution"],
            assumptions=stated_assumptions(document),
        )

    def _confirm_assumptions(self, message: str) -> ChatReply | None:
        """ "Yes, those are fine" after a model with assumptions: keep them, no LLM call.

        None for any other message (it takes its usual route; one with data is an edit).
        """
        state = self.state
        doc = state.get("document")
        if doc is None or not stated_assumptions(doc) or not is_confirmation(message):
            return None
        answer = confirmed_note(doc)
        history = [
            *(state.get("history") or []),
            {"role": "user", "content": message},
            {"role": "assistant", "content": answer},
        ]
        values = {"message": message, "route": "answer", "history": history, "answer": answer}
        self.graph.update_state(self._cfg, values, as_node="finish_turn")
        return ChatReply(
            route="answer",
            answer=answer,
            status=str(state.get("status") or ""),
            objective=state.get("objective"),
            formulation=doc,
            solution=state.get("solution") or {},
            assumptions=stated_assumptions(doc),
        )

    def _tool_turn(
        self, message: str, trace: Trace, on_event: Callable[[str], None] | None
    ) -> ChatReply | None:
        """Answer with tools when the thread has a model and the message is not a new problem.

        None sends the message down the regex route instead: no model yet, a new
        problem, or an LLM failure before any tool ran (the graph's own error
        handling then answers).
        """
        state = self.state
        doc = state.get("document")
        if doc is None:
            return None
        current = problem_text(state) + "\n" + json.dumps(doc, default=str)
        if classify_message(message, True, current) == "formulate":
            return None
        ws = Workspace.of(
            doc,
            status=state.get("status"),
            objective=state.get("objective"),
            solution=state.get("solution"),
        )
        if on_event is not None:
            on_event(PROGRESS["tools"])
        try:
            turn = self.tool_chat.run(message, ws, state.get("history") or [])
        except LLMError as err:
            trace.note(f"tool chat failed, regex route instead: {err}")
            return None
        self._record(turn, trace, on_event)
        return self._save_turn(message, state, doc, turn, trace)

    def _record(self, turn: ToolTurn, trace: Trace, on_event: Callable[[str], None] | None) -> None:
        for reply in turn.replies:
            trace.llm_call(
                "tools",
                [],
                reply=reply.content,
                model=reply.model,
                usage=reply.usage,
                latency_s=reply.latency_s,
                cached=reply.cached,
            )
        for record in turn.calls:
            trace.note(f"tool {record.name}", tool=record.name, ok=record.ok)
            if on_event is not None:
                on_event(f"Ran {record.name}" + ("" if record.ok else " (error)"))

    def _save_turn(
        self,
        message: str,
        state: dict[str, Any],
        before_doc: dict[str, Any],
        turn: ToolTurn,
        trace: Trace,
    ) -> ChatReply:
        """Write the turn into the thread (as if the graph's last node had run) and reply."""
        ws = turn.workspace
        route: Route = "edit" if turn.edited else "answer"
        comparison: dict[str, Any] | None = None
        diff = ""
        answer = turn.answer
        if turn.edited:
            ws.document, resolved = resolve_assumptions(before_doc, ws.document)
            note = resolved_note(resolved, stated_assumptions(ws.document))
            if note:
                answer += "\n\n" + note
            before = {
                "status": state.get("status"),
                "objective": state.get("objective"),
                "solution": state.get("solution") or {},
            }
            diff = yaml_diff(before_doc, ws.document)
            comparison = {**compare(before, ws.snapshot()).to_dict(), "diff": diff}
        changes = [*(state.get("changes") or []), *ws.changes]
        said: dict[str, Any] = {"role": "assistant", "content": answer}
        if turn.calls:  # kept with the turn, so a reopened thread shows them again
            said.update(tools=[r.to_dict() for r in turn.calls], tool_mode=turn.mode)
        if ws.sweeps:
            said["sweeps"] = list(ws.sweeps)
        history = [*(state.get("history") or []), {"role": "user", "content": message}, said]
        values: dict[str, Any] = {
            "message": message,
            "route": route,
            "history": history,
            "answer": answer,
            "document": ws.document,
            "status": ws.status,
            "objective": ws.objective,
            "solution": ws.solution,
            "changes": changes,
            "comparison": comparison,
            "proposal": None,
            "previous": None,
            "diagnosis": "",
        }
        self.graph.update_state(self._cfg, values, as_node="finish_turn")
        return ChatReply(
            route=route,
            answer=answer,
            status=ws.status,
            objective=ws.objective,
            formulation=ws.document,
            diff=diff,
            comparison=comparison,
            solution=ws.solution,
            usage=trace.usage,
            trace=trace,
            tool_calls=[r.to_dict() for r in turn.calls],
            sweeps=list(ws.sweeps),
            tool_mode=turn.mode,
            assumptions=stated_assumptions(ws.document),
        )

    def resume(
        self, decision: Any = "ok", on_event: Callable[[str], None] | None = None
    ) -> ChatReply:
        """Continue after a review interrupt: ``"ok"`` or an edited document (dict or YAML)."""
        from langgraph.types import Command

        if self.pending_review is None:
            raise RuntimeError("nothing to resume: the thread is not waiting for a review")
        trace = Trace(thread_id=self.thread_id, resume=True)
        return self._reply(self._run(Command(resume=decision), trace, on_event), trace)
