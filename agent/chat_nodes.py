"""The chat's own nodes: intake (route a message), edit, diagnose, answer, finish a turn.

A chat turn starts in :func:`intake`, which records the message and picks its
:data:`~agent.state.Route`; a new problem and an edit then run the same loop as
a solve (:mod:`agent.nodes`), and every turn ends in :func:`finish_turn`, which
compares an edited model with the one before (or keeps the previous one when
the change could not be made into a valid model). A new model's reply lists
the assumptions its document states (what the text left out) and asks for the
data; an edit that gives it drops those assumptions (:mod:`agent.assumptions`).
"""

from __future__ import annotations

import json
import re

from agent.assumptions import (
    assumptions_note,
    resolve_assumptions,
    resolved_note,
    stated_assumptions,
)
from agent.context import RunContext
from agent.examples import content_words
from agent.llm_calls import (
    LLMOutcome,
    LLMRequest,
    arun_node,
    fatal_update,
    parse_document,
    prompt_messages,
    run_node,
)
from agent.nodes import explain_text
from agent.state import (
    AgentState,
    Proposal,
    Route,
    Update,
    is_decided,
    problem_text,
)
from agent.verify import explain_infeasibility, explain_unboundedness, sensitivity_report
from modeling.result import Status
from modeling.scenarios import compare, yaml_diff

__all__ = [
    "aanswer",
    "aedit",
    "answer",
    "classify_message",
    "diagnose",
    "edit",
    "finish_turn",
    "intake",
    "looks_like_a_new_problem",
]

_INFEASIBLE_Q = re.compile(
    r"\b(why|what makes|explain|how come)\b.*\b(infeasible|infeasibility|no (feasible )?solution|"
    r"not feasible|unbounded|conflict)",
    re.IGNORECASE | re.DOTALL,
)
_QUESTION = re.compile(
    r"^\s*(why|what(?!\s+if)|which|how|explain|tell me|show me|is|are|does|do|can|could|"
    r"should)\b",
    re.IGNORECASE,
)
_CHANGE = re.compile(
    r"\b(what if|suppose|instead|rise|rises|raise|increase|decrease|drop|drops|fall|falls|"
    r"reduce|add|remove|close|open|change|set|make|limit|cap|require|allow|double|halve|"
    r"budget|now)\b",
    re.IGNORECASE,
)


_OBJECTIVE = re.compile(
    r"\b(maximi[sz]e|minimi[sz]e|maximum|minimum|optimal|best|cheapest|lowest|highest|"
    r"largest|smallest|shortest|longest|fewest|(?<!at )least|most profitable|"
    r"as\s+(?:\w+\s+){0,3}as\s+possible|"
    r"(?:how (?:many|much)|which|what)\b[^.?!]*\b(?:should|to|can|must))\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")


def looks_like_a_new_problem(text: str, current: str = "") -> bool:
    """True for a message that states a whole optimization problem unlike the current one.

    A problem statement asks for a best decision (maximize, minimize, "how many ...
    should") and gives its data (at least three numbers, over more than a line);
    it is new when most of its words do not occur in ``current`` (the thread's
    problem and document). "North demand rises to 300" is none of these.
    """
    if len(text) < 150 or len(_NUMBER.findall(text)) < 3 or not _OBJECTIVE.search(text):
        return False
    words = content_words(text)
    if not words:
        return False
    shared = len(words & content_words(current)) / len(words)
    return shared < 0.5


def classify_message(message: str, has_document: bool, current: str = "") -> Route:
    """Where one chat message goes: formulate, edit, diagnose or answer.

    ``current`` is the text of the thread's problem and document, against which a
    message that states a whole problem is told apart from a change to this one.
    """
    text = message.strip()
    if not has_document:
        return "formulate"
    if _INFEASIBLE_Q.search(text):
        return "diagnose"
    if text.lower().startswith(("new problem", "problem:")) or len(text) > 600:
        return "formulate"
    if looks_like_a_new_problem(text, current):
        return "formulate"
    if _QUESTION.match(text) and not re.match(r"^\s*what\s+if\b", text, re.IGNORECASE):
        if not (text.lower().startswith(("can", "could")) and _CHANGE.search(text)):
            return "answer"
    return "edit"


def _current_text(state: AgentState) -> str:
    """The thread's problem, its changes and its document: what an edit talks about."""
    doc = state.get("document")
    return problem_text(state) + "\n" + (json.dumps(doc, default=str) if doc else "")


def intake(state: AgentState, ctx: RunContext) -> Update:
    """Start a chat turn: record the message, pick the route, reset per-turn fields."""
    message = str(state.get("message") or "").strip()
    route = classify_message(message, bool(state.get("document")), _current_text(state))
    history = [*(state.get("history") or []), {"role": "user", "content": message}]
    update: Update = {
        "route": route,
        "history": history,
        "attempts": [],
        "repairs": 0,
        "fatal": None,
        "issues": [],
        "findings": [],
        "kept_by_llm": False,
        "proposal": None,
        "comparison": None,
        "diagnosis": "",
        "previous": None,
    }
    if route == "formulate":
        problem = message
        for prefix in ("new problem:", "problem:"):
            if problem.lower().startswith(prefix):
                problem = problem[len(prefix) :].strip()
        update.update(problem=problem, changes=[], document=None, status="pending")
    elif route == "edit":
        update["previous"] = {
            "document": state.get("document"),
            "status": state.get("status"),
            "objective": state.get("objective"),
            "solution": state.get("solution") or {},
        }
    return update


def _edit_request(state: AgentState, ctx: RunContext) -> LLMRequest | Update:
    # A thread with data tables: the edit sees them described (a request may name a new
    # table), as the formulate request does; the tables themselves stay on disk.
    request = str(state.get("message") or "")
    if ctx.data_note:
        request = f"{request}\n\n{ctx.data_note}"
    return LLMRequest(
        "edit",
        prompt_messages(ctx, "edit", request=request, document=state.get("document") or {}),
    )


def _edit_finish(state: AgentState, ctx: RunContext, outcome: LLMOutcome) -> Update:
    if outcome.error is not None:
        return fatal_update(outcome.error, "edit")
    reply = outcome.reply
    assert reply is not None
    before = state.get("document")
    doc, summary, bad = parse_document(reply.content, reply.truncated)
    message = str(state.get("message") or "")
    changes = [*(state.get("changes") or []), message]
    proposal = Proposal(
        "edit",
        summary or message,
        before,
        doc,
        yaml_diff(before, doc) if doc is not None else "",
    )
    ctx.trace.proposal(proposal.to_dict(), ctx.candidate)
    return {
        "document": doc,
        "source": "edit",
        "raw_reply": reply.content,
        "issues": bad.get("issues", []),
        "changes": changes,
        "proposal": proposal.to_dict(),
        "status": "pending",
        "objective": None,
        "solution": {},
        "binding": [],
    }


def edit(state: AgentState, ctx: RunContext) -> Update:
    """Apply a follow-up request to the current document (a proposed change)."""
    return run_node(state, ctx, _edit_request, _edit_finish)


async def aedit(state: AgentState, ctx: RunContext) -> Update:
    return await arun_node(state, ctx, _edit_request, _edit_finish)


def diagnose(state: AgentState, ctx: RunContext) -> Update:
    """Answer "why is it infeasible?" from the IIS (no edit, no LLM call)."""
    doc = state.get("document")
    status = str(state.get("status") or "")
    if doc is None:
        text = "There is no formulation yet: describe the problem first."
        return {"diagnosis": text, "answer": text, "outcome": ""}
    if status in (Status.INFEASIBLE, Status.INFEASIBLE_OR_UNBOUNDED):
        head = "The model has no feasible solution.\n"
    elif status == Status.UNBOUNDED:
        head = "The model is unbounded.\n"
    else:
        head = f"The current model is {status}, not infeasible.\n"
    # In a killable worker, with the thread's tables (read there too), bounded by the
    # solve's time limit plus a grace period.
    isolated = not ctx.config.solve_in_process
    limit = ctx.config.time_limit
    if status in (Status.INFEASIBLE, Status.INFEASIBLE_OR_UNBOUNDED):
        body = explain_infeasibility(doc, limit, ctx.data_dir, isolated=isolated)
    elif status == Status.UNBOUNDED:
        body = explain_unboundedness(doc, limit, ctx.data_dir, isolated=isolated)
    else:
        body = sensitivity_report(doc, ctx.data_dir, time_limit=limit, isolated=isolated)
    text = head + body
    return {"diagnosis": text, "answer": text, "outcome": ""}


def _answer_request(state: AgentState, ctx: RunContext) -> LLMRequest | Update:
    text = explain_text(state, ctx)
    if state.get("document") is None:
        return {"answer": "There is no formulation yet: describe the problem first."}
    question = str(state.get("message") or "")
    problem = f"{problem_text(state)}\n\nThe user now asks: {question}"
    result = {"status": state.get("status"), "objective": state.get("objective"), "summary": text}
    return LLMRequest(
        "answer", prompt_messages(ctx, "explain", problem=problem, result=result), json=False
    )


def _answer_finish(state: AgentState, ctx: RunContext, outcome: LLMOutcome) -> Update:
    if outcome.error is not None or not outcome.text.strip():
        return {"answer": explain_text(state, ctx)}
    return {"answer": outcome.text.strip()}


def answer(state: AgentState, ctx: RunContext) -> Update:
    """Answer a question about the current solution (LLM, with a deterministic fallback)."""
    return run_node(state, ctx, _answer_request, _answer_finish)


async def aanswer(state: AgentState, ctx: RunContext) -> Update:
    return await arun_node(state, ctx, _answer_request, _answer_finish)


def finish_turn(state: AgentState, ctx: RunContext) -> Update:
    """End a chat turn: compare with the previous version, answer, remember the reply."""
    answer_text = str(state.get("answer") or "")
    update: Update = {}
    previous = state.get("previous")
    edited = bool(
        previous and previous.get("document") is not None and state.get("route") == "edit"
    )
    if edited and previous and not is_decided(state.get("status")):
        # The change could not be made into a valid model: keep the previous one current.
        answer_text += "\n\nThe change was not applied; the previous model is still current."
        update.update(
            document=previous.get("document"),
            status=previous.get("status"),
            objective=previous.get("objective"),
            solution=previous.get("solution") or {},
            changes=list(state.get("changes") or [])[:-1],
            answer=answer_text,
        )
    elif edited and previous:
        after = {
            "status": state.get("status"),
            "objective": state.get("objective"),
            "solution": state.get("solution") or {},
        }
        comparison = compare(previous, after)
        document = state.get("document") or {}
        document, resolved = resolve_assumptions(previous.get("document"), document)
        if resolved:
            update["document"] = document
        diff = yaml_diff(previous.get("document"), document)
        update["comparison"] = {**comparison.to_dict(), "diff": diff}
        summary = comparison.to_text()
        if summary:
            answer_text += "\n\nCompared with before:\n" + summary
        note = resolved_note(resolved, stated_assumptions(document))
        if note:
            answer_text += "\n\n" + note
        update["answer"] = answer_text
    elif state.get("route") == "formulate" and is_decided(state.get("status")):
        note = assumptions_note(state.get("document"))
        if note:  # ask the person to confirm what the text left out, or to give the data
            answer_text += "\n\n" + note
            update["answer"] = answer_text
    history = [*(state.get("history") or []), {"role": "assistant", "content": answer_text}]
    update["history"] = history
    return update
