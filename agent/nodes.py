"""The solve loop's nodes: plain functions ``(state, ctx) -> partial state update``.

``ctx`` is the :class:`agent.context.RunContext` (LangGraph's ``runtime.context``);
:mod:`agent.graph` wires the nodes together. Nodes that call the LLM come in a
sync and an async form (``formulate`` / ``aformulate``) sharing the same
request-building and reply-handling halves (:mod:`agent.llm_calls`), so the
graph runs under both ``invoke`` and ``ainvoke``.

The loop: formulate → check → solve → verify → (repair ↺, at most
``max_repairs`` rounds) → explain. A reply that is not JSON, a document that
breaks the spec, an infeasible or unbounded model, a failed sanity check and a
negative LLM review are all *attempts with located errors*; the repair prompt
gets the problem, the current document and those errors. An LLM failure
(after the LLM layer's retries) ends the run with status ``error``. Few-shot
examples come from :mod:`agent.examples`, verification from :mod:`agent.verify`,
the chat's own nodes from :mod:`agent.chat_nodes`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

import yaml

from agent.context import RunContext
from agent.data_context import file_defect
from agent.errors import ParseError
from agent.examples import pick_examples, render_examples
from agent.feedback import repair_errors
from agent.hints import pick_class, render_hints
from agent.llm import ChatMessage, extract_json
from agent.llm_calls import (
    LLMOutcome,
    LLMRequest,
    arun_node,
    fatal_update,
    parse_document,
    prompt_messages,
    run_node,
)
from agent.state import (
    AgentState,
    Attempt,
    Proposal,
    Source,
    Update,
    categories_of,
    doc_key,
    error_lines,
    has_solution,
    make_issue,
    normalize_document,
    problem_text,
    record_attempt,
    replace_last_attempt,
    solver_stop,
)
from agent.verify import NOT_REPAIRABLE, errors_of, repairable, severity_of, suspicions_of
from modeling import diagnostics
from modeling.compiler import CompiledModel, compile_model
from modeling.errors import FormulationError
from modeling.format import format_number
from modeling.formulation import load
from modeling.result import SolveResult, Status
from modeling.scenarios import explain_solution, solution_of, yaml_diff
from modeling.solve import solve as solve_model
from modeling.worker import solve_isolated

__all__ = [
    "AsyncNodeFn",
    "NodeFn",
    "aexplain",
    "aformulate",
    "arepair",
    "areview",
    "check",
    "explain",
    "explain_text",
    "formulate",
    "formulate_messages",
    "outcome_line",
    "problem_message",
    "repair",
    "review",
    "review_gate",
    "solve",
]

NodeFn = Callable[[AgentState, RunContext], Update]
"""A sync node: ``(state, ctx) -> update``."""
AsyncNodeFn = Callable[[AgentState, RunContext], Awaitable[Update]]
"""The async twin of an LLM node."""

# ------------------------------------------------------------------ formulate


def problem_message(problem: str, ctx: RunContext) -> str:
    """The problem as the LLM sees it: its text, then its data tables described (if any).

    The data section rides with the problem text, so tuned prompts need no new slot.
    """
    return f"{problem}\n\n{ctx.data_note}" if ctx.data_note else problem


def _source(doc: Mapping[str, Any], ctx: RunContext) -> Any:
    """The document to compile: with its data folder when the problem came with tables."""
    return load(doc, data=ctx.data_dir) if ctx.data_dir is not None else doc


def formulate_messages(problem: str, ctx: RunContext) -> list[ChatMessage]:
    """The messages of the first formulate request for ``problem`` (also used by batch export)."""
    examples_dir = str(ctx.config.examples_dir) if ctx.config.examples_dir else None
    examples = render_examples(pick_examples(problem, ctx.config.examples, examples_dir))
    if ctx.config.hints:
        # The hints ride in the examples section, so tuned formulate prompts need no new slot.
        chosen = pick_class(problem)
        hints = render_hints(chosen)
        if chosen is not None:
            ctx.trace.note(f"modeling hints: {chosen.name}", ctx.candidate)
        examples = "\n\n".join(part for part in (examples, hints) if part)
    return prompt_messages(
        ctx, "formulate", problem=problem_message(problem, ctx), examples=examples
    )


def _formulate_request(state: AgentState, ctx: RunContext) -> LLMRequest | Update:
    return LLMRequest("formulate", formulate_messages(problem_text(state), ctx))


def _document_update(
    state: AgentState, ctx: RunContext, outcome: LLMOutcome, node: str, source: Source
) -> Update:
    if outcome.error is not None:
        return fatal_update(outcome.error, node)
    reply = outcome.reply
    assert reply is not None
    doc, _summary, bad = parse_document(reply.content, reply.truncated)
    update: Update = {
        "document": doc,
        "source": source,
        "raw_reply": reply.content,
        "issues": bad.get("issues", []),
        "findings": [],
        "status": "pending",
        "objective": None,
        "solution": {},
        "binding": [],
        "kept_by_llm": False,
    }
    return update


def _formulate_finish(state: AgentState, ctx: RunContext, outcome: LLMOutcome) -> Update:
    return _document_update(state, ctx, outcome, "formulate", "formulate")


def formulate(state: AgentState, ctx: RunContext) -> Update:
    """Ask the LLM for a formulation document (few-shot, JSON in the message content)."""
    return run_node(state, ctx, _formulate_request, _formulate_finish)


async def aformulate(state: AgentState, ctx: RunContext) -> Update:
    return await arun_node(state, ctx, _formulate_request, _formulate_finish)


# ---------------------------------------------------------------------- check


def check(state: AgentState, ctx: RunContext) -> Update:
    """Validate the document (``modeling.check``); a bad one ends the attempt as invalid."""
    if state.get("fatal"):
        return {}
    doc = state.get("document")
    round_ = len(state.get("attempts") or [])
    source: Source = state.get("source") or "formulate"
    if doc is None:
        issues = list(state.get("issues") or []) or [
            make_issue("reply", "no formulation document was produced", code="parse")
        ]
        attempt = Attempt(round_, source, None, Status.INVALID, None, issues, categories_of(issues))
        return {
            "status": Status.INVALID,
            "issues": issues,
            "attempts": record_attempt(state, ctx, attempt),
        }
    try:
        model = compile_model(_source(doc, ctx))
    except FormulationError as exc:
        issues = [{**i.to_dict(), "severity": "error", "evidence": i.message} for i in exc.issues]
        issues = _blame_broken_files(issues, ctx)
    except Exception as exc:  # a bug of ours: say so, do not blame the document
        issues = [make_issue("document", f"could not be compiled ({exc!r})", code="internal")]
    else:
        ctx.scratch.remember_compiled(doc_key(doc), model)
        return {"status": "valid", "issues": [], "model_class": str(model.model_class)}
    attempt = Attempt(round_, source, doc, Status.INVALID, None, issues, categories_of(issues))
    return {
        "status": Status.INVALID,
        "issues": issues,
        "attempts": record_attempt(state, ctx, attempt),
    }


DATA_FILE = "data_file"
"""The code of an error that is the data file's own defect, not the document's (QA F25)."""


def _blame_broken_files(issues: list[dict[str, Any]], ctx: RunContext) -> list[dict[str, Any]]:
    """The issues, those caused by a broken data file (a stray text cell in a column of
    numbers, :func:`agent.data_context.file_defect`) restated as the file's: code
    ``data_file``, the original words kept as evidence."""
    folder = ctx.data_dir
    if folder is None:
        return issues
    out = []
    for issue in issues:
        defect = file_defect(folder, str(issue.get("location")), str(issue.get("message")))
        if defect is None:
            out.append(issue)
            continue
        out.append(
            {
                **issue,
                "code": DATA_FILE,
                "message": defect,
                "hint": "fix the file; a formulation cannot repair the data",
                "evidence": f"{issue.get('location')}: {issue.get('message')}",
            }
        )
    return out


def _file_defects(state: AgentState) -> list[dict[str, Any]]:
    """The last attempt's data-file defects when they are all of its errors, else []."""
    attempts = state.get("attempts") or []
    errors = list(attempts[-1].get("errors") or []) if attempts else []
    errors = [e for e in errors if severity_of(e) == "error"]
    defects = [e for e in errors if str(e.get("code")) == DATA_FILE]
    return defects if defects and len(defects) == len(errors) else []


def _defects_line(defects: list[dict[str, Any]]) -> str:
    """The answer and outcome of a run stopped by broken data files (not the formulation)."""
    return "Your data is at fault, not the formulation: " + " Also: ".join(
        dict.fromkeys(str(d.get("message")) for d in defects[:3])
    )


# ----------------------------------------------------------------- review gate


def _approval(decision: Any) -> bool:
    if decision is None or decision is True:
        return True
    return isinstance(decision, str) and decision.strip().lower() in (
        "",
        "ok",
        "yes",
        "y",
        "approve",
        "approved",
        "accept",
        "go",
    )


def _decision_document(decision: Any) -> dict[str, Any]:
    if isinstance(decision, Mapping):
        data: Any = dict(decision)
    elif isinstance(decision, str):
        data = yaml.safe_load(decision)
    else:
        raise TypeError(f"resume with 'ok' or an edited document, not {type(decision).__name__}")
    if isinstance(data, Mapping) and "variables" not in data:
        for key in ("document", "formulation"):
            if isinstance(data.get(key), Mapping):
                data = data[key]
                break
    return normalize_document(data)


def review_gate(state: AgentState, ctx: RunContext) -> Update:
    """Pause for a person to approve or edit the document before it is solved.

    Resume with ``Command(resume="ok")`` or ``Command(resume=edited_document)``
    (a dict, or YAML/JSON text). An edited document is checked again.
    """
    from langgraph.types import interrupt

    doc = state.get("document")
    key = doc_key(doc)
    if not ctx.config.review_before_solve or state.get("approved") == key:
        return {}
    decision = interrupt(
        {
            "kind": "review_before_solve",
            "document": doc,
            "yaml": yaml.safe_dump(doc, sort_keys=False, allow_unicode=True),
            "model_class": state.get("model_class"),
            "proposal": state.get("proposal"),
            "question": "Solve this formulation? Resume with 'ok' or with an edited document.",
        }
    )
    if _approval(decision):
        return {"approved": key}
    edited = _decision_document(decision)
    proposal = Proposal("human", "edited before solving", doc, edited, yaml_diff(doc, edited), True)
    ctx.trace.proposal(proposal.to_dict(), ctx.candidate)
    return {
        "document": edited,
        "source": "human",
        "status": "pending",
        "approved": doc_key(edited),
        "issues": [],
        "proposal": {**(state.get("proposal") or {}), "human_edit": proposal.diff},
    }


# ---------------------------------------------------------------------- solve


def _binding_labels(result: SolveResult, limit: int = 50) -> list[str]:
    """The constraint instances at a bound at the solution (diagnostics' one rule)."""
    if result.model is None or result.x is None or not result.status.has_solution:
        return []
    return [b.label for b in diagnostics.binding_constraints(result.model, result.x)[:limit]]


def _binding_split(result: SolveResult, limit: int = 50) -> dict[str, Any]:
    """What the answer says of binding rows: the inequalities at their limit (up to
    ``limit``) and, per constraint, how many equality rows hold (always at their limit,
    so listing them one by one says nothing; QA F4)."""
    if result.model is None or result.x is None or not result.status.has_solution:
        return {}
    inequalities: list[str] = []
    equalities: dict[str, int] = {}
    for b in diagnostics.binding_constraints(result.model, result.x):
        if b.side != "equal":
            if len(inequalities) < limit:
                inequalities.append(b.label)
            continue
        name = b.label.split("[", 1)[0] if not b.label.startswith("constraints[") else b.location
        equalities[name] = equalities.get(name, 0) + 1
    return {"binding_inequalities": inequalities, "equalities": equalities}


def _run_solve(model: Any, ctx: RunContext) -> SolveResult:
    """Solve in a killable worker (default) or, with ``solve_in_process``, here.

    The worker is killed ``grace(time_limit)`` after the solver's own limit, so
    a model that hangs while it is built cannot hang the run. Workers are
    long-lived (:class:`modeling.worker.WorkerPool`), so this costs a pickle
    round trip (a few milliseconds), and every model goes there, small LPs
    included (``AgentConfig.small_model_nonzeros`` is no longer read). The
    compiled model goes to the worker and the result comes back without it: ours
    is put back, so nothing big is sent twice.
    """
    cfg = ctx.config
    if cfg.solve_in_process:
        return solve_model(model, backend=cfg.backend, time_limit=cfg.time_limit)
    result = solve_isolated(model, backend=cfg.backend, time_limit=cfg.time_limit, keep_model=False)
    if result.model is None and isinstance(model, CompiledModel):
        result = replace(result, model=model)
    return result


def solve(state: AgentState, ctx: RunContext) -> Update:
    """Solve the checked document (``modeling.solve``), in a killable worker by default."""
    doc = state.get("document")
    assert doc is not None
    key = doc_key(doc)
    model: Any = ctx.scratch.compiled.get(key) or _source(doc, ctx)
    result = _run_solve(model, ctx)
    ctx.scratch.last_result = result
    ctx.scratch.results[key] = result
    return {
        "status": result.status,
        "objective": result.objective,
        "model_class": result.model_class,
        "solution": solution_of(result),
        "binding": _binding_labels(result),
        "solver": {
            "solver": result.solver,
            "backend": result.backend,
            "termination": str(result.termination),
            "stop": solver_stop(result.status, result.termination),
            "message": result.message,
            "bound": result.bound,
            "gap": result.gap,
            "seconds": round(result.timings.total_s, 6),
            "tried": list(result.tried),
            "isolated": not ctx.config.solve_in_process,
            **_binding_split(result),
        },
        "issues": [i.to_dict() for i in result.errors],
    }


# --------------------------------------------------------------------- review


def _review_request(state: AgentState, ctx: RunContext) -> LLMRequest | Update:
    doc = state.get("document")
    attempts = state.get("attempts") or []
    suspicions = suspicions_of(list(attempts[-1].get("errors") or []) if attempts else [])
    lines = [
        f"- {s.get('location')}: {s.get('message')} (evidence: {s.get('evidence')})"
        for s in suspicions
    ]
    checks = (
        "## Suspicions to judge\n\nAutomatic checks flagged these; each may be mistaken. "
        "Report one as an issue only if the problem confirms it.\n\n" + "\n".join(lines)
        if lines
        else ""
    )
    return LLMRequest(
        "review",
        # The suspicions ride with the problem text, so tuned review prompts need no new slot.
        prompt_messages(
            ctx,
            "review",
            problem=problem_message(problem_text(state), ctx) + (f"\n\n{checks}" if checks else ""),
            document=doc or {},
        ),
    )


def _review_finish(state: AgentState, ctx: RunContext, outcome: LLMOutcome) -> Update:
    key = doc_key(state.get("document"))
    if outcome.error is not None:
        ctx.trace.note(f"review skipped: {outcome.error}", ctx.candidate)
        return {"reviewed": key}
    try:
        data = extract_json(outcome.text)
    except ParseError as err:
        ctx.trace.note(f"review reply ignored: {err.reason}", ctx.candidate)
        return {"reviewed": key}
    verdict = str(data.get("verdict", "ok")).lower()
    raw = data.get("issues") or []
    issues = [
        make_issue(
            str(i.get("location") or "document"),
            str(i.get("message") or i),
            str(i.get("hint") or ""),
            code="review",
        )
        for i in raw
        if isinstance(i, Mapping)
    ]
    if verdict == "ok" or not issues:
        return {"reviewed": key}
    last = Attempt.from_dict((state.get("attempts") or [{}])[-1])
    last.errors = [*last.errors, *issues]
    last.categories = categories_of(last.errors)
    return {"reviewed": key, "findings": issues, "attempts": replace_last_attempt(state, ctx, last)}


def review(state: AgentState, ctx: RunContext) -> Update:
    """Optional LLM back-translation review of a solved document."""
    return run_node(state, ctx, _review_request, _review_finish)


async def areview(state: AgentState, ctx: RunContext) -> Update:
    return await arun_node(state, ctx, _review_request, _review_finish)


# --------------------------------------------------------------------- repair


def _repair_request(state: AgentState, ctx: RunContext) -> LLMRequest | Update:
    attempts = state.get("attempts") or []
    findings = errors_of(list(attempts[-1].get("errors") or []) if attempts else [])
    doc = state.get("document")
    if doc is not None:
        document: Any = doc
    else:
        raw = str(state.get("raw_reply") or "")
        document = "(there is no valid document yet; the previous reply was:)\n" + (
            raw[:4000] + ("…" if len(raw) > 4000 else "")
        )
    return LLMRequest(
        "repair",
        prompt_messages(
            ctx,
            "repair",
            problem=problem_message(problem_text(state), ctx),
            document=document,
            # the error list's formatting is a trainable hook (agent.feedback; issue 11)
            errors=repair_errors(findings, ctx.config.repair_hook),
        ),
    )


def _repair_finish(state: AgentState, ctx: RunContext, outcome: LLMOutcome) -> Update:
    repairs = int(state.get("repairs") or 0) + 1
    update = _document_update(state, ctx, outcome, "repair", "repair")
    update["repairs"] = repairs
    if outcome.error is not None:
        return update
    before = state.get("document")
    after = update.get("document")
    if after is not None and before is not None and doc_key(after) == doc_key(before):
        # The LLM saw the errors and kept the document: its verdict stands.
        ctx.trace.note("repair returned the document unchanged", ctx.candidate)
        return {"repairs": repairs, "kept_by_llm": True, "raw_reply": update["raw_reply"]}
    errors = len((state.get("attempts") or [{}])[-1].get("errors") or [])
    proposal = Proposal("repair", f"fix {errors} error(s)", before, after, yaml_diff(before, after))
    ctx.trace.proposal(proposal.to_dict(), ctx.candidate)
    return update


def repair(state: AgentState, ctx: RunContext) -> Update:
    """Send the problem, the current document and its located errors back to the LLM."""
    return run_node(state, ctx, _repair_request, _repair_finish)


async def arepair(state: AgentState, ctx: RunContext) -> Update:
    return await arun_node(state, ctx, _repair_request, _repair_finish)


# -------------------------------------------------------------------- explain


def limit_note(state: AgentState, ctx: RunContext) -> str:
    """What a solve stopped by a limit left the user with, or ``""`` for any other stop.

    A time limit with an incumbent (status ``feasible``) says that the limit was
    reached, the best bound and gap when the solver gave them, and to raise the
    limit; a time limit without a solution says to raise it. As ``optiwise solve``
    says it: a ``feasible`` answer must not read as the optimum.
    """
    status = str(state.get("status") or "")
    solver = state.get("solver") or {}
    stop = str(solver.get("stop") or "")
    limit = ctx.config.time_limit
    raise_it = (
        f"Raise the time limit (now {limit:g} s; --time-limit on the command line) "
        if limit is not None
        else "Raise the time limit (--time-limit on the command line) "
    )
    if status == Status.FEASIBLE and stop == "time_limit_incumbent":
        known = []
        bound, gap = solver.get("bound"), solver.get("gap")
        if isinstance(bound, int | float):
            known.append(f"the best bound is {format_number(float(bound))}")
        if isinstance(gap, int | float):
            known.append(f"the gap is {100 * float(gap):.3g}%")
        facts = f" ({', '.join(known)})" if known else ""
        return (
            "The solver stopped at the time limit: this is the best solution found, "
            f"not proven optimal{facts}. " + raise_it + "to search for a better one."
        )
    if status == Status.FEASIBLE and stop == "limit_incumbent":
        said = str(solver.get("message") or "a solver limit was reached")
        return f"The solver stopped early ({said}): the solution is not proven optimal."
    if (
        status == Status.TIME_LIMIT
        and "raise the time limit" not in str(solver.get("message") or "").lower()
    ):
        return raise_it + "to give the solver time to find a solution."
    return ""


def outcome_line(state: AgentState, ctx: RunContext) -> str:
    """One honest sentence on how the run ended (and a solver limit that stopped it)."""
    line = _outcome_line(state, ctx)
    note = limit_note(state, ctx)
    return " ".join(p for p in (line, note) if p)


def _outcome_line(state: AgentState, ctx: RunContext) -> str:
    if state.get("fatal"):
        return str(state["fatal"])
    attempts = state.get("attempts") or []
    status = str(state.get("status") or Status.ERROR)
    repairs = int(state.get("repairs") or 0)
    last = attempts[-1] if attempts else {}
    errors = errors_of(list(last.get("errors") or []))
    defects = _file_defects(state)
    if status == Status.INVALID and defects:
        return _defects_line(defects)
    if state.get("kept_by_llm"):
        return (
            f"After seeing the problems listed, the LLM kept the formulation unchanged; "
            f"its result ({status}) stands."
        )
    if errors and repairable(state) and repairs >= ctx.config.max_repairs:
        head = "; ".join(
            f"{e.get('location')}: {e.get('message')}" for e in errors[:3] if e.get("message")
        )
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        return (
            f"Repair budget exhausted after {repairs} round(s); the last attempt is {status} "
            f"with unresolved problems: {head}{more}."
        )
    failures = [e for e in last.get("errors") or [] if str(e.get("code")) in NOT_REPAIRABLE]
    if failures and not errors:
        return f"The run ended with status {status}: {failures[0].get('message')}."
    noted = [e for e in last.get("errors") or [] if severity_of(e) in ("suspicion", "note")]
    remark = ""
    if noted:
        head = "; ".join(f"{e.get('location')}: {e.get('message')}" for e in noted[:2])
        more = f" (and {len(noted) - 2} more)" if len(noted) > 2 else ""
        remark = f"Checks noted, not repaired: {head}{more}."
    if repairs:
        return f"Solved after {repairs} repair round(s)." + (f" {remark}" if remark else "")
    return remark


def explain_text(state: AgentState, ctx: RunContext) -> str:
    status = str(state.get("status") or Status.ERROR)
    if state.get("fatal"):
        return str(state["fatal"])
    attempts = state.get("attempts") or []
    detail = ""
    if attempts:
        for e in attempts[-1].get("errors") or []:
            if e.get("detail"):
                detail = str(e["detail"])
    if status == Status.INVALID and attempts:
        errors = attempts[-1].get("errors") or []
        defects = _file_defects(state)
        if defects:
            # the file is broken, the formulation may well be right: do not blame it
            return _defects_line(defects)
        detail = error_lines(errors[:5])
        return explain_solution(state.get("document"), status, None, message=detail)
    solver_message = ""
    if status in (Status.TIME_LIMIT, Status.ERROR):
        # why the solve stopped: e.g. a worker killed at its hard limit says so
        solver_message = str((state.get("solver") or {}).get("message") or "")
    solver = state.get("solver") or {}
    split = "binding_inequalities" in solver and has_solution(status)
    return explain_solution(
        state.get("document"),
        status,
        state.get("objective"),
        state.get("solution") or {},
        solver["binding_inequalities"] if split else state.get("binding") or [],
        message=solver_message,
        detail=detail,
        equalities=solver.get("equalities") if split else None,
    )


def _explain_request(state: AgentState, ctx: RunContext) -> LLMRequest | Update:
    text = explain_text(state, ctx)
    outcome = outcome_line(state, ctx)
    extra = f"\n{outcome}" if outcome and outcome not in text else ""
    base: Update = {"answer": text + extra, "outcome": outcome}
    if not ctx.config.explain_with_llm or state.get("fatal"):
        return base
    result = {
        "status": state.get("status"),
        "objective": state.get("objective"),
        "summary": text,
        "variables": state.get("solution") or {},
    }
    return LLMRequest(
        "explain",
        prompt_messages(ctx, "explain", problem=problem_text(state), result=result),
        json=False,
    )


def _explain_finish(state: AgentState, ctx: RunContext, outcome: LLMOutcome) -> Update:
    text = explain_text(state, ctx)
    line = outcome_line(state, ctx)
    if line and line in text:  # e.g. an LLM failure is both the explanation and the outcome
        line = ""
    if outcome.error is not None or not outcome.text.strip():
        return {"answer": text + (f"\n{line}" if line else ""), "outcome": line}
    return {"answer": outcome.text.strip() + (f"\n\n{line}" if line else ""), "outcome": line}


def explain(state: AgentState, ctx: RunContext) -> Update:
    """The final answer: objective, nonzero decisions, binding constraints, how it ended."""
    return run_node(state, ctx, _explain_request, _explain_finish)


async def aexplain(state: AgentState, ctx: RunContext) -> Update:
    return await arun_node(state, ctx, _explain_request, _explain_finish)
