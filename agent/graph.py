"""The LangGraph wiring of the agent: nodes from :mod:`agent.nodes`, typed routers here.

Solve graph::

    START → formulate → check ─┬→ [review_gate] → solve → verify ─┬→ [review] ─┐
                               └→ repair ↺ (≤ max_repairs)        └→ repair ↺  ├→ explain → END

Chat graph: ``START → intake`` then, by the message, ``formulate`` (a new
problem), ``edit`` (a change to the current document, then the same loop),
``diagnose`` (why infeasible: the IIS, no edit) or ``answer``; every turn ends
in ``finish_turn``, which compares an edited model with the one before.

Every node is traced (input and output summaries, duration) into the run's
:class:`agent.trace.Trace`. Nodes and routers receive LangGraph's runtime as a
parameter (``runtime.context`` is the :class:`~agent.context.RunContext`). Each
graph comes in a sync flavour (for ``invoke``/``stream``) and an async one (for
``ainvoke``, where LLM calls are awaited): LangGraph's public API takes one
function per node, and a sync node under ``ainvoke`` would hold a worker thread
for the whole LLM call.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any, Literal, Protocol, cast

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent import chat_nodes, nodes
from agent.context import RunContext
from agent.nodes import AsyncNodeFn, NodeFn
from agent.state import (
    ROUTES,
    AgentState,
    ChatInput,
    InputState,
    Route,
    Update,
    doc_key,
    has_solution,
)
from agent.verify import repairable
from agent.verify import verify as verify_node

__all__ = [
    "CPU_TURN",
    "CpuTurn",
    "arun_solve_loop",
    "build_chat_graph",
    "build_solve_graph",
    "compiled_solve_graph",
    "route_after_check",
    "route_after_gate",
    "route_after_llm",
    "route_after_review",
    "route_after_verify",
    "route_message",
    "run_solve_loop",
]

# ------------------------------------------------------------------- routers


def _ctx(runtime: Runtime[RunContext]) -> RunContext:
    ctx = runtime.context
    if ctx is None:
        raise RuntimeError("the agent graph needs a RunContext: invoke(..., context=RunContext())")
    return ctx


def _budget_left(state: AgentState, ctx: RunContext) -> bool:
    return int(state.get("repairs") or 0) < ctx.config.max_repairs


def route_after_llm(state: AgentState) -> Literal["check", "explain"]:
    """After formulate, repair or edit: an LLM failure or a kept document ends the loop."""
    if state.get("fatal") or state.get("kept_by_llm"):
        return "explain"
    return "check"


def route_after_check(
    state: AgentState, runtime: Runtime[RunContext]
) -> Literal["review_gate", "solve", "repair", "explain"]:
    """A valid document goes on to be solved; an invalid one is repaired while budget lasts."""
    ctx = _ctx(runtime)
    if state.get("fatal"):
        return "explain"
    if state.get("status") == "valid":
        return "review_gate" if ctx.config.review_before_solve else "solve"
    return "repair" if _budget_left(state, ctx) and repairable(state) else "explain"


def route_after_gate(state: AgentState) -> Literal["check", "solve"]:
    """A document a person edited is checked again before it is solved."""
    return "check" if state.get("source") == "human" and state.get("status") != "valid" else "solve"


def route_after_verify(
    state: AgentState, runtime: Runtime[RunContext]
) -> Literal["repair", "review", "explain"]:
    """Findings go to repair while budget lasts; a clean solve may get an LLM review."""
    ctx = _ctx(runtime)
    if repairable(state):
        return "repair" if _budget_left(state, ctx) else "explain"
    if (
        ctx.config.review
        and has_solution(state.get("status"))
        and state.get("reviewed") != doc_key(state.get("document"))
    ):
        return "review"
    return "explain"


def route_after_review(
    state: AgentState, runtime: Runtime[RunContext]
) -> Literal["repair", "explain"]:
    """A review that found a mismatch sends the document to repair while budget lasts."""
    if repairable(state) and _budget_left(state, _ctx(runtime)):
        return "repair"
    return "explain"


def route_message(state: AgentState) -> Route:
    """Chat: where this turn's message goes (decided by ``intake``).

    Raises ``ValueError`` for anything but a :data:`~agent.state.Route`: a
    message must never silently become a new problem.
    """
    route = state.get("route")
    if route not in ROUTES:
        raise ValueError(f"intake set an unknown route {route!r}; expected one of {ROUTES}")
    return route


# ------------------------------------------------------------ node adapters


class CpuTurn(Protocol):
    """Who may run CPU work on this event loop now (see :data:`CPU_TURN`).

    A process that runs many agent runs at once (an eval pool worker) finishes them
    sooner one after the other than all interleaved: the earliest reply's problem
    completes first and its slot frees early. ``pause()`` gives the turn away while
    this run waits on something that is not this process's CPU (a solve in a worker
    thread or process) and returns what ``resume(token)`` needs to take it back with
    the same priority.
    """

    def pause(self) -> Any:
        """Give the turn away (if this task holds it); the token for :meth:`resume`."""
        ...

    async def resume(self, token: Any) -> None:
        """Wait for the turn again, ahead of runs whose turn came later."""
        ...


CPU_TURN: contextvars.ContextVar[CpuTurn | None] = contextvars.ContextVar(
    "optiwise_cpu_turn", default=None
)
"""The turn keeper of the run in this context, if any (set by :mod:`evals.executors`)."""


async def _offloaded(
    run: Callable[[AgentState, Runtime[RunContext]], Update],
    state: AgentState,
    runtime: Runtime[RunContext],
) -> Update:
    """``run(state, runtime)`` in a worker thread.

    When the solve runs in another process (the default: a killable solve worker),
    the CPU turn is given away meanwhile, so other runs' checks use this process's
    CPU. A solve in this process (``solve_in_process``) keeps the turn: a thread that
    solves here shares this process's CPU (and the GIL) with whatever would run.
    """
    turn = CPU_TURN.get()
    if turn is None or _ctx(runtime).config.solve_in_process:
        return await asyncio.to_thread(run, state, runtime)
    token = turn.pause()
    try:
        return await asyncio.to_thread(run, state, runtime)
    finally:
        await turn.resume(token)


def _node(name: str, fn: NodeFn) -> Callable[[AgentState, Runtime[RunContext]], Update]:
    """A traced sync graph node from ``fn(state, ctx)``; LangGraph passes the runtime."""

    def run(state: AgentState, runtime: Runtime[RunContext]) -> Update:
        ctx = _ctx(runtime)
        with ctx.trace.node(name, state, ctx.candidate) as span:
            update = fn(state, ctx)
            span.output(update)
        return update

    run.__name__ = name
    return run


def _anode(
    name: str,
    fn: NodeFn,
    afn: AsyncNodeFn | None = None,
    offload: Callable[[AgentState], bool] | None = None,
) -> Callable[[AgentState, Runtime[RunContext]], Any]:
    """The async graph node of ``fn`` (sync) or ``afn`` (its async twin, for LLM nodes).

    A node without ``afn`` runs inline on the event loop: its work is short and
    holds the GIL anyway, and a hop to a worker thread costs more than it saves.
    ``offload(state)`` says when a run may be long (a solve, an IIS search); that
    run goes to a worker thread so the event loop keeps serving other problems.
    """
    run = _node(name, fn)

    async def arun(state: AgentState, runtime: Runtime[RunContext]) -> Update:
        if afn is None:
            if offload is not None and offload(state):
                return await _offloaded(run, state, runtime)
            return run(state, runtime)
        ctx = _ctx(runtime)
        with ctx.trace.node(name, state, ctx.candidate) as span:
            update = await afn(state, ctx)
            span.output(update)
        return update

    arun.__name__ = name
    return arun


class _Nodes:
    """Adds nodes to a graph as sync functions (for ``invoke``) or async ones (``ainvoke``).

    LangGraph's public API passes the runtime to a plain function that asks for
    it, but takes one function per node: a sync one, which ``ainvoke`` runs in a
    worker thread, or an async one, which ``invoke`` cannot run. So each graph is
    built in both flavours from the same node functions.
    """

    def __init__(self, g: StateGraph[Any, Any, Any, Any], asynchronous: bool) -> None:
        self.g, self.asynchronous = g, asynchronous

    def add(
        self,
        name: str,
        fn: NodeFn,
        afn: AsyncNodeFn | None = None,
        offload: Callable[[AgentState], bool] | None = None,
    ) -> None:
        # Any: LangGraph's overloads type a runtime node as a protocol with a keyword-only
        # ``runtime``; it passes it by keyword, so a plain second parameter works the same.
        node: Any = _anode(name, fn, afn, offload) if self.asynchronous else _node(name, fn)
        self.g.add_node(name, node)


def _always(state: AgentState) -> bool:
    return True


def _unsolved(state: AgentState) -> bool:
    """verify analyses infeasible and unbounded models (an IIS search may take a while)."""
    return not has_solution(state.get("status"))


def _add_loop(g: StateGraph[Any, Any, Any, Any], asynchronous: bool) -> _Nodes:
    """The formulate/check/solve/verify/repair/explain nodes and their edges."""
    add = _Nodes(g, asynchronous)
    add.add("formulate", nodes.formulate, nodes.aformulate)
    add.add("check", nodes.check)
    add.add("review_gate", nodes.review_gate)
    add.add("solve", nodes.solve, offload=_always)
    add.add("verify", verify_node, offload=_unsolved)
    add.add("review", nodes.review, nodes.areview)
    add.add("repair", nodes.repair, nodes.arepair)
    add.add("explain", nodes.explain, nodes.aexplain)
    g.add_conditional_edges("formulate", route_after_llm)
    g.add_conditional_edges("check", route_after_check)
    g.add_conditional_edges("review_gate", route_after_gate)
    g.add_edge("solve", "verify")
    g.add_conditional_edges("verify", route_after_verify)
    g.add_conditional_edges("review", route_after_review)
    g.add_conditional_edges("repair", route_after_llm)
    return add


def build_solve_graph(asynchronous: bool = False) -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled solve graph (input: ``{"problem": text}``).

    ``asynchronous=True`` builds the flavour for ``ainvoke`` (LLM calls awaited).
    """
    g: StateGraph[Any, Any, Any, Any] = StateGraph(
        AgentState, context_schema=RunContext, input_schema=InputState
    )
    _add_loop(g, asynchronous)
    g.add_edge(START, "formulate")
    g.add_edge("explain", END)
    return g


_COMPILED: dict[bool, Any] = {}


def compiled_solve_graph(asynchronous: bool = False) -> Any:
    """The solve graph compiled once per process and flavour (no checkpointer: no state)."""
    if asynchronous not in _COMPILED:
        _COMPILED[asynchronous] = build_solve_graph(asynchronous).compile()
    return _COMPILED[asynchronous]


# ------------------------------------------------- the solve loop, without the runtime


class _LoopRuntime:
    """What nodes and routers read of LangGraph's runtime: ``.context``."""

    __slots__ = ("context",)

    def __init__(self, context: RunContext) -> None:
        self.context = context


def _next(name: str, state: AgentState, rt: Any) -> str | None:
    """The solve graph's edges, as :func:`_add_loop` wires them (None: the end)."""
    if name in ("formulate", "repair"):
        return route_after_llm(state)
    if name == "check":
        return route_after_check(state, rt)
    if name == "review_gate":
        return route_after_gate(state)
    if name == "solve":
        return "verify"
    if name == "verify":
        return route_after_verify(state, rt)
    if name == "review":
        return route_after_review(state, rt)
    return None  # explain


_LOOP_NODES: dict[bool, dict[str, Any]] = {}


def _loop_nodes(asynchronous: bool) -> dict[str, Any]:
    """The same traced node adapters the graph uses (sync or async flavour), built once."""
    if asynchronous not in _LOOP_NODES:
        table: dict[str, tuple[NodeFn, AsyncNodeFn | None, Callable[[AgentState], bool] | None]]
        table = {
            "formulate": (nodes.formulate, nodes.aformulate, None),
            "check": (nodes.check, None, None),
            "review_gate": (nodes.review_gate, None, None),
            "solve": (nodes.solve, None, _always),
            "verify": (verify_node, None, _unsolved),
            "review": (nodes.review, nodes.areview, None),
            "repair": (nodes.repair, nodes.arepair, None),
            "explain": (nodes.explain, nodes.aexplain, None),
        }
        _LOOP_NODES[asynchronous] = {
            name: _anode(name, fn, afn, off) if asynchronous else _node(name, fn)
            for name, (fn, afn, off) in table.items()
        }
    return _LOOP_NODES[asynchronous]


def _too_many_steps(limit: int) -> Exception:
    from langgraph.errors import GraphRecursionError

    return GraphRecursionError(f"Recursion limit of {limit} reached without hitting a stop")


def run_solve_loop(problem: str, ctx: RunContext, recursion_limit: int) -> dict[str, Any]:
    """The solve graph's run, as a plain loop over its nodes and routers; the final state.

    The same nodes, routers and trace as ``compiled_solve_graph().invoke`` (no
    field has a reducer: an update replaces values), without LangGraph's
    runtime, which cost about half of the agent's own CPU per problem
    (scale's profile). Raises ``GraphRecursionError`` past ``recursion_limit``
    steps, as the graph does. Not for a run that may pause
    (``review_before_solve``): that needs the graph and a checkpointer.
    """
    table, rt = _loop_nodes(False), _LoopRuntime(ctx)
    state: dict[str, Any] = {"problem": problem}
    name: str | None = "formulate"
    steps = 0
    while name is not None:
        steps += 1
        if steps > recursion_limit:
            raise _too_many_steps(recursion_limit)
        update = table[name](state, rt)
        if update:
            state = {**state, **update}
        name = _next(name, cast(AgentState, state), rt)
    return state


async def arun_solve_loop(problem: str, ctx: RunContext, recursion_limit: int) -> dict[str, Any]:
    """Async :func:`run_solve_loop` (LLM calls awaited, solves offloaded to a thread)."""
    table, rt = _loop_nodes(True), _LoopRuntime(ctx)
    state: dict[str, Any] = {"problem": problem}
    name: str | None = "formulate"
    steps = 0
    while name is not None:
        steps += 1
        if steps > recursion_limit:
            raise _too_many_steps(recursion_limit)
        update = await table[name](state, rt)
        if update:
            state = {**state, **update}
        name = _next(name, cast(AgentState, state), rt)
    return state


def build_chat_graph(asynchronous: bool = False) -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled chat graph (input: ``{"message": text}``); compile with a checkpointer."""
    g: StateGraph[Any, Any, Any, Any] = StateGraph(
        AgentState, context_schema=RunContext, input_schema=ChatInput
    )
    add = _add_loop(g, asynchronous)
    add.add("intake", chat_nodes.intake)
    add.add("edit", chat_nodes.edit, chat_nodes.aedit)
    add.add("diagnose", chat_nodes.diagnose, offload=_always)
    add.add("answer", chat_nodes.answer, chat_nodes.aanswer)
    add.add("finish_turn", chat_nodes.finish_turn)
    g.add_edge(START, "intake")
    g.add_conditional_edges("intake", route_message)
    g.add_conditional_edges("edit", route_after_llm)
    g.add_edge("diagnose", "finish_turn")
    g.add_edge("answer", "finish_turn")
    g.add_edge("explain", "finish_turn")
    g.add_edge("finish_turn", END)
    return g
