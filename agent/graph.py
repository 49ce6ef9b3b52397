"""The LangGraph wiring of the agent: nodes from :mod:`agent.nodes`, typed routers here.

Solve graph::

    START → formulate → check ─┬→ [review_gate] → solve → verify ─┬→ [review] ─┐
                               └→ repair ↺ (≤ max_repairs)        └→ repair ↺  ├→ explain → END

Chat graph: ``START → intake`` then, by the message, ``formulate`` (a new
problem), ``edit`` (a change to the current document, then the same loop),
``diagnose`` (why infeasible: the IIS, no edit) or ``answer``; every turn ends
in ``finish_turn``, which compares an edited model with the one before.

Every node is traced (input and output summaries, duration) into the run's
:class:`agent.trace.Trace`; nodes that call the LLM run natively under both
``invoke`` and ``ainvoke``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal

from langchain_core.runnables import RunnableLambda
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import get_runtime

from agent import nodes
from agent.context import RunContext
from agent.nodes import AsyncNodeFn, NodeFn, Update
from agent.state import AgentState, ChatInput, InputState, doc_key

__all__ = ["build_chat_graph", "build_solve_graph", "compiled_solve_graph"]

SOLVED = ("optimal", "feasible")

# ------------------------------------------------------------------- routers


def _budget_left(state: AgentState, ctx: RunContext) -> bool:
    return int(state.get("repairs") or 0) < ctx.config.max_repairs


def route_after_llm(state: AgentState) -> Literal["check", "explain"]:
    """After formulate, repair or edit: an LLM failure or a kept document ends the loop."""
    if state.get("fatal") or state.get("accepted"):
        return "explain"
    return "check"


def route_after_check(state: AgentState) -> Literal["review_gate", "solve", "repair", "explain"]:
    """A valid document goes on to be solved; an invalid one is repaired while budget lasts."""
    ctx = _ctx()
    if state.get("fatal"):
        return "explain"
    if state.get("status") == "valid":
        return "review_gate" if ctx.config.review_before_solve else "solve"
    return "repair" if _budget_left(state, ctx) and nodes.repairable(state) else "explain"


def route_after_gate(state: AgentState) -> Literal["check", "solve"]:
    """A document a person edited is checked again before it is solved."""
    return "check" if state.get("source") == "human" and state.get("status") != "valid" else "solve"


def route_after_verify(state: AgentState) -> Literal["repair", "review", "explain"]:
    """Findings go to repair while budget lasts; a clean solve may get an LLM review."""
    ctx = _ctx()
    if nodes.repairable(state):
        return "repair" if _budget_left(state, ctx) else "explain"
    if (
        ctx.config.review
        and state.get("status") in SOLVED
        and state.get("reviewed") != doc_key(state.get("document"))
    ):
        return "review"
    return "explain"


def route_after_review(state: AgentState) -> Literal["repair", "explain"]:
    """A review that found a mismatch sends the document to repair while budget lasts."""
    ctx = _ctx()
    if nodes.repairable(state) and _budget_left(state, ctx):
        return "repair"
    return "explain"


def route_message(state: AgentState) -> Literal["formulate", "edit", "diagnose", "answer"]:
    """Chat: where this turn's message goes (decided by ``intake``)."""
    route = state.get("route")
    if route == "edit":
        return "edit"
    if route == "diagnose":
        return "diagnose"
    if route == "answer":
        return "answer"
    return "formulate"


# ------------------------------------------------------------ node adapters


def _light_runnable() -> Any:
    """LangGraph's internal ``RunnableCallable``, or None (then RunnableLambda is used)."""
    try:
        from langgraph._internal._runnable import RunnableCallable
    except ImportError:  # pragma: no cover - a LangGraph without it
        return None
    return RunnableCallable


_RunnableCallable: Any = _light_runnable()


def _ctx() -> RunContext:
    ctx = get_runtime(RunContext).context
    if ctx is None:
        raise RuntimeError("the agent graph needs a RunContext: invoke(..., context=RunContext())")
    return ctx


def _node(
    name: str,
    fn: NodeFn,
    afn: AsyncNodeFn | None = None,
    offload: Callable[[AgentState], bool] | None = None,
) -> Any:
    """A traced graph node from ``fn(state, ctx)`` and, for LLM nodes, its async twin ``afn``.

    Under ``ainvoke`` a node without ``afn`` runs inline on the event loop: its work is
    short and holds the GIL anyway, and a hop to a worker thread costs more than it saves.
    ``offload(state)`` says when a run may be long (a solve, an IIS search); that run goes
    to a worker thread so the event loop keeps serving the other problems' requests.
    The runnable is LangGraph's own light ``RunnableCallable`` where this LangGraph has it
    (``RunnableLambda`` spends milliseconds per step on callback bookkeeping).
    """

    def run(state: AgentState) -> Update:
        ctx = _ctx()
        with ctx.trace.node(name, state, ctx.candidate) as span:
            update = fn(state, ctx)
            span.output(update)
        return update

    async def arun(state: AgentState) -> Update:
        if afn is None:
            if offload is not None and offload(state):
                return await asyncio.to_thread(run, state)
            return run(state)
        ctx = _ctx()
        with ctx.trace.node(name, state, ctx.candidate) as span:
            update = await afn(state, ctx)
            span.output(update)
        return update

    run.__name__ = arun.__name__ = name
    if _RunnableCallable is not None:
        return _RunnableCallable(run, arun, name=name, trace=False)
    return RunnableLambda(run, afunc=arun, name=name)


def _always(state: AgentState) -> bool:
    return True


def _unsolved(state: AgentState) -> bool:
    """verify analyses infeasible and unbounded models (an IIS search may take a while)."""
    return state.get("status") not in SOLVED


def _add_loop(g: StateGraph[Any, Any, Any, Any]) -> None:
    """The formulate/check/solve/verify/repair/explain nodes and their edges."""
    g.add_node("formulate", _node("formulate", nodes.formulate, nodes.aformulate))
    g.add_node("check", _node("check", nodes.check))
    g.add_node("review_gate", _node("review_gate", nodes.review_gate))
    g.add_node("solve", _node("solve", nodes.solve, offload=_always))
    g.add_node("verify", _node("verify", nodes.verify, offload=_unsolved))
    g.add_node("review", _node("review", nodes.review, nodes.areview))
    g.add_node("repair", _node("repair", nodes.repair, nodes.arepair))
    g.add_node("explain", _node("explain", nodes.explain, nodes.aexplain))
    g.add_conditional_edges("formulate", route_after_llm)
    g.add_conditional_edges("check", route_after_check)
    g.add_conditional_edges("review_gate", route_after_gate)
    g.add_edge("solve", "verify")
    g.add_conditional_edges("verify", route_after_verify)
    g.add_conditional_edges("review", route_after_review)
    g.add_conditional_edges("repair", route_after_llm)


def build_solve_graph() -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled solve graph (input: ``{"problem": text}``)."""
    g: StateGraph[Any, Any, Any, Any] = StateGraph(
        AgentState, context_schema=RunContext, input_schema=InputState
    )
    _add_loop(g)
    g.add_edge(START, "formulate")
    g.add_edge("explain", END)
    return g


_COMPILED: Any = None


def compiled_solve_graph() -> Any:
    """The solve graph compiled once per process (no checkpointer; it holds no state)."""
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = build_solve_graph().compile()
    return _COMPILED


def build_chat_graph() -> StateGraph[Any, Any, Any, Any]:
    """The uncompiled chat graph (input: ``{"message": text}``); compile with a checkpointer."""
    g: StateGraph[Any, Any, Any, Any] = StateGraph(
        AgentState, context_schema=RunContext, input_schema=ChatInput
    )
    _add_loop(g)
    g.add_node("intake", _node("intake", nodes.intake))
    g.add_node("edit", _node("edit", nodes.edit, nodes.aedit))
    g.add_node("diagnose", _node("diagnose", nodes.diagnose, offload=_always))
    g.add_node("answer", _node("answer", nodes.answer, nodes.aanswer))
    g.add_node("finish_turn", _node("finish_turn", nodes.finish_turn))
    g.add_edge(START, "intake")
    g.add_conditional_edges("intake", route_message)
    g.add_conditional_edges("edit", route_after_llm)
    g.add_edge("diagnose", "finish_turn")
    g.add_edge("answer", "finish_turn")
    g.add_edge("explain", "finish_turn")
    g.add_edge("finish_turn", END)
    return g
