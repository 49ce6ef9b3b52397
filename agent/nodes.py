"""The agent's nodes: plain functions ``(state, ctx) -> partial state update``.

``ctx`` is the :class:`agent.context.RunContext` (LangGraph's ``runtime.context``);
:mod:`agent.graph` wires the nodes together. Nodes that call the LLM come in a
sync and an async form (``formulate`` / ``aformulate``) sharing the same
request-building and reply-handling halves, so the graph runs under both
``invoke`` and ``ainvoke``.

The loop: formulate → check → solve → verify → (repair ↺, at most
``max_repairs`` rounds) → explain. A reply that is not JSON, a document that
breaks the spec, an infeasible or unbounded model, a failed sanity check and a
negative LLM review are all *attempts with located errors*; the repair prompt
gets the problem, the current document and those errors. An LLM failure
(after the LLM layer's retries) ends the run with status ``error``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agent.context import RunContext
from agent.errors import LLMError, ParseError
from agent.llm import ChatMessage, LLMReply, extract_json, system, user
from agent.state import AgentState, Attempt, Proposal, doc_key, normalize_document
from agent.tools import (
    binding_constraints,
    explain_infeasibility,
    explain_unboundedness,
    sensitivity_report,
)
from modeling import diagnostics
from modeling.compiler import compile_model
from modeling.errors import FormulationError
from modeling.format import format_number
from modeling.scenarios import compare, explain_solution, solution_of, yaml_diff
from modeling.solve import solve as solve_model

__all__ = [
    "LLMOutcome",
    "LLMRequest",
    "aanswer",
    "aedit",
    "aexplain",
    "aformulate",
    "arepair",
    "areview",
    "answer",
    "check",
    "diagnose",
    "edit",
    "explain",
    "finish_turn",
    "formulate",
    "intake",
    "load_samples",
    "pick_examples",
    "problem_text",
    "repair",
    "review",
    "review_gate",
    "solve",
    "verify",
]

Update = dict[str, Any]
SOLVED = ("optimal", "feasible")
# Findings the LLM cannot fix by rewriting the document.
NOT_REPAIRABLE = frozenset({"solver_error", "time_limit", "internal"})

# ------------------------------------------------------------------ helpers


def problem_text(state: Mapping[str, Any]) -> str:
    """The problem, followed by the changes a chat has asked for since."""
    text = str(state.get("problem") or "")
    changes = state.get("changes") or []
    if changes:
        text += "\n\nChanges requested since:\n" + "\n".join(f"- {c}" for c in changes)
    return text


def _issue(location: str, message: str, hint: str = "", code: str = "invalid") -> dict[str, Any]:
    return {"location": location, "message": message, "hint": hint, "code": code}


def _categories(errors: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(str(e.get("code") or "invalid") for e in errors))


def _error_lines(errors: list[dict[str, Any]]) -> str:
    lines = []
    for e in errors:
        text = f"{e.get('location') or 'document'}: {e.get('message')}"
        if e.get("hint"):
            text += f" ({e['hint']})"
        lines.append(text)
        detail = e.get("detail")
        if detail:
            lines.append("  " + str(detail).replace("\n", "\n  "))
    return "\n".join(lines)


def _record(state: AgentState, ctx: RunContext, attempt: Attempt) -> list[dict[str, Any]]:
    data = attempt.to_dict()
    ctx.trace.attempt(data, ctx.candidate)
    return [*(state.get("attempts") or []), data]


def _replace_last(state: AgentState, ctx: RunContext, attempt: Attempt) -> list[dict[str, Any]]:
    previous = list(state.get("attempts") or [])
    data = attempt.to_dict()
    ctx.trace.attempt(data, ctx.candidate)
    return [*previous[:-1], data] if previous else [data]


# ---------------------------------------------------------- few-shot examples

_WORD = re.compile(r"[a-z]{4,}")
_STOP = frozenset(
    "that this with from have each must what which many much should their there these "
    "than they will been were into more most your when where make made total".split()
)


def _words(text: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _STOP)


@dataclass(frozen=True)
class Sample:
    """A sample problem usable as a few-shot example."""

    id: str
    problem: str
    formulation: dict[str, Any]
    words: frozenset[str] = field(repr=False, default=frozenset())


def _default_samples_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "datasets" / "samples"


@functools.lru_cache(maxsize=8)
def load_samples(directory: str | None = None) -> tuple[Sample, ...]:
    """The solvable sample problems of ``directory`` (default: datasets/samples)."""
    folder = Path(directory) if directory else _default_samples_dir()
    if not folder.is_dir():
        return ()
    out = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(data, dict) or not isinstance(data.get("formulation"), dict):
            continue
        answer = data.get("answer") or {}
        if answer.get("status", "optimal") != "optimal":
            continue  # an infeasible or unbounded model is a poor example to imitate
        problem = str(data.get("problem") or "").strip()
        tags = " ".join(str(t) for t in data.get("tags") or [])
        out.append(
            Sample(
                id=str(data.get("id") or path.stem),
                problem=problem,
                formulation=normalize_document(data["formulation"]),
                words=_words(f"{data.get('title', '')} {problem} {tags}"),
            )
        )
    return tuple(out)


def pick_examples(problem: str, n: int, directory: str | None = None) -> list[Sample]:
    """The ``n`` samples most similar to ``problem`` (word overlap), never the problem itself."""
    if n <= 0:
        return []
    words = _words(problem)
    mine = problem.strip()
    scored = []
    for s in load_samples(directory):
        if s.problem == mine:
            continue  # showing a problem its own answer would make any benchmark meaningless
        union = len(words | s.words) or 1
        scored.append((len(words & s.words) / union, -len(s.problem), s.id, s))
    scored.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [t[3] for t in scored[:n]]


def render_examples(samples: list[Sample]) -> str:
    if not samples:
        return ""
    parts = ["## Examples"]
    for k, s in enumerate(samples, 1):
        doc = json.dumps(s.formulation, separators=(",", ":"), ensure_ascii=False)
        parts.append(
            f"### Example {k}: problem\n\n{s.problem}\n\n### Example {k}: document\n\n{doc}"
        )
    return "\n\n".join(parts)


# ------------------------------------------------------------- LLM plumbing


@dataclass(frozen=True)
class LLMRequest:
    """One LLM call a node wants to make."""

    node: str
    messages: list[ChatMessage]
    json: bool = True


@dataclass(frozen=True)
class LLMOutcome:
    """The reply, or the error that replaced it."""

    reply: LLMReply | None = None
    error: LLMError | None = None

    @property
    def text(self) -> str:
        return self.reply.content if self.reply is not None else ""


def _overrides(ctx: RunContext, request: LLMRequest) -> dict[str, Any]:
    out = dict(ctx.llm_overrides)
    if request.json:
        out["json"] = True
    return out


def _trace_call(ctx: RunContext, request: LLMRequest, outcome: LLMOutcome) -> None:
    reply = outcome.reply
    ctx.trace.llm_call(
        request.node,
        request.messages,
        candidate=ctx.candidate,
        reply=reply.content if reply is not None else None,
        model=reply.model if reply is not None else None,
        usage=reply.usage if reply is not None else None,
        latency_s=reply.latency_s if reply is not None else 0.0,
        cached=reply.cached if reply is not None else False,
        error=str(outcome.error) if outcome.error is not None else None,
    )


def call_llm(ctx: RunContext, request: LLMRequest) -> LLMOutcome:
    """Send a request through the context's chat model; errors come back as values."""
    try:
        outcome = LLMOutcome(reply=ctx.llm.complete(request.messages, **_overrides(ctx, request)))
    except LLMError as exc:
        outcome = LLMOutcome(error=exc)
    _trace_call(ctx, request, outcome)
    return outcome


async def acall_llm(ctx: RunContext, request: LLMRequest) -> LLMOutcome:
    """Async :func:`call_llm`."""
    try:
        reply = await ctx.llm.acomplete(request.messages, **_overrides(ctx, request))
        outcome = LLMOutcome(reply=reply)
    except LLMError as exc:
        outcome = LLMOutcome(error=exc)
    _trace_call(ctx, request, outcome)
    return outcome


Prepare = Callable[[AgentState, RunContext], "LLMRequest | Update"]
Finish = Callable[[AgentState, RunContext, LLMOutcome], Update]


def _run(state: AgentState, ctx: RunContext, prepare: Prepare, finish: Finish) -> Update:
    request = prepare(state, ctx)
    if not isinstance(request, LLMRequest):
        return request
    return finish(state, ctx, call_llm(ctx, request))


async def _arun(state: AgentState, ctx: RunContext, prepare: Prepare, finish: Finish) -> Update:
    request = prepare(state, ctx)
    if not isinstance(request, LLMRequest):
        return request
    return finish(state, ctx, await acall_llm(ctx, request))


def _fatal(error: LLMError, node: str) -> Update:
    tries = getattr(error, "attempts", 1)
    kind = type(error).__name__
    return {
        "fatal": f"The LLM call in '{node}' failed after {tries} attempt(s) ({kind}): {error}",
        "status": "error",
    }


def parse_document(text: str, truncated: bool = False) -> tuple[dict[str, Any] | None, str, Update]:
    """``(document, summary, issue-update)`` from an LLM reply; document None if not JSON."""
    try:
        data = extract_json(text)
    except ParseError as err:
        hint = "reply with exactly one JSON object: the whole formulation document"
        if truncated:
            hint = "the reply was cut off at the token limit; write a shorter document"
        return None, "", {"issues": [_issue("reply", err.reason, hint, code="parse")]}
    summary = ""
    if "variables" not in data:
        for key in ("document", "formulation", "model"):
            if isinstance(data.get(key), dict):
                summary = str(data.get("summary") or "")
                data = data[key]
                break
    return normalize_document(data), summary, {}


def _messages(ctx: RunContext, name: str, **variables: Any) -> list[ChatMessage]:
    return [system(ctx.prompts.render("system")), user(ctx.prompts.render(name, **variables))]


# ------------------------------------------------------------------ formulate


def formulate_messages(problem: str, ctx: RunContext) -> list[ChatMessage]:
    """The messages of the first formulate request for ``problem`` (also used by batch export)."""
    examples_dir = str(ctx.config.examples_dir) if ctx.config.examples_dir else None
    examples = render_examples(pick_examples(problem, ctx.config.examples, examples_dir))
    return _messages(ctx, "formulate", problem=problem, examples=examples)


def _formulate_request(state: AgentState, ctx: RunContext) -> LLMRequest | Update:
    return LLMRequest("formulate", formulate_messages(problem_text(state), ctx))


def _document_update(
    state: AgentState, ctx: RunContext, outcome: LLMOutcome, node: str, source: str
) -> Update:
    if outcome.error is not None:
        return _fatal(outcome.error, node)
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
        "accepted": False,
    }
    return update


def _formulate_finish(state: AgentState, ctx: RunContext, outcome: LLMOutcome) -> Update:
    return _document_update(state, ctx, outcome, "formulate", "formulate")


def formulate(state: AgentState, ctx: RunContext) -> Update:
    """Ask the LLM for a formulation document (few-shot, JSON in the message content)."""
    return _run(state, ctx, _formulate_request, _formulate_finish)


async def aformulate(state: AgentState, ctx: RunContext) -> Update:
    return await _arun(state, ctx, _formulate_request, _formulate_finish)


# ---------------------------------------------------------------------- check


def check(state: AgentState, ctx: RunContext) -> Update:
    """Validate the document (``modeling.check``); a bad one ends the attempt as invalid."""
    if state.get("fatal"):
        return {}
    doc = state.get("document")
    round_ = len(state.get("attempts") or [])
    source = str(state.get("source") or "formulate")
    if doc is None:
        issues = list(state.get("issues") or []) or [
            _issue("reply", "no formulation document was produced", code="parse")
        ]
        attempt = Attempt(round_, source, None, "invalid", None, issues, _categories(issues))
        return {"status": "invalid", "issues": issues, "attempts": _record(state, ctx, attempt)}
    try:
        model = compile_model(doc)
    except FormulationError as exc:
        issues = [i.to_dict() for i in exc.issues]
    except Exception as exc:  # a bug of ours: say so, do not blame the document
        issues = [_issue("document", f"could not be compiled ({exc!r})", code="internal")]
    else:
        ctx.scratch.remember_compiled(doc_key(doc), model)
        return {"status": "valid", "issues": [], "model_class": str(model.model_class)}
    attempt = Attempt(round_, source, doc, "invalid", None, issues, _categories(issues))
    return {"status": "invalid", "issues": issues, "attempts": _record(state, ctx, attempt)}


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


def solve(state: AgentState, ctx: RunContext) -> Update:
    """Solve the checked document with ``modeling.solve``."""
    doc = state.get("document")
    assert doc is not None
    key = doc_key(doc)
    source: Any = ctx.scratch.compiled.get(key) or doc
    result = solve_model(source, backend=ctx.config.backend, time_limit=ctx.config.time_limit)
    ctx.scratch.last_result = result
    ctx.scratch.results[key] = result
    return {
        "status": str(result.status),
        "objective": result.objective,
        "model_class": result.model_class,
        "solution": solution_of(result),
        "binding": binding_constraints(result),
        "solver": {
            "solver": result.solver,
            "backend": result.backend,
            "termination": str(result.termination),
            "message": result.message,
            "seconds": round(result.timings.total_s, 6),
        },
        "issues": [i.to_dict() for i in result.errors],
    }


# --------------------------------------------------------------------- verify

_INT_WORDS = re.compile(
    r"\b(integers?|integral|whole[- ](?:numbers?|units?)|indivisible|"
    r"cannot be (?:split|divided|fractional)|no fractions?)\b",
    re.IGNORECASE,
)
_COUNT_PHRASE = re.compile(r"\b(?:number of|how many)\s+([a-z]+)(?:[ -]([a-z]+))?", re.IGNORECASE)
_FILLER = frozenset(
    "of the each should shall will would to do does are is be can could must we they it "
    "in for per and or".split()
)
_MEASURES = frozenset(
    """hours hour minutes minute seconds days day weeks months years tons tonnes ton kg
    kilograms grams pounds lbs ounces liters litres gallons barrels acres hectares meters
    metres miles km kilometers feet square cubic dollars euros money dollar budget percent
    percentage fraction proportion share amount amounts quantity volume weight area time
    calories units""".split()
)
_COST_WORDS = re.compile(
    r"\b(cost|costs|expense|expenses|spending|distance|travel time|makespan|waste|"
    r"emissions|weight|length)\b",
    re.IGNORECASE,
)
_REVENUE_WORDS = re.compile(r"\b(revenue|sales|number of|count of|coverage)\b", re.IGNORECASE)


_FRACTIONAL_OK = re.compile(
    r"\b((?:can|may|could|might) be (?:fractional|non-?integer|continuous|split)|"
    r"counts? fractionally|counted fractionally|"
    r"fractional \w*\s*(?:are|is) (?:allowed|fine|acceptable|ok)|"
    r"needs? not be (?:an? )?(?:integers?|whole)|"
    r"(?:does|do) not need to be (?:an? )?(?:integers?|whole)|divisible)\b",
    re.IGNORECASE,
)
_DECISION = re.compile(
    r"\?|\b(should|determine|decide|find|choose|plan|maximi[sz]e|minimi[sz]e|"
    r"to (?:make|produce|buy|hire|build|open|ship|send|assign|schedule|order|rent|purchase|"
    r"bake|manufacture|deploy|staff|employ))\b",
    re.IGNORECASE,
)


def integrality_request(text: str) -> tuple[str, tuple[str, ...] | None] | None:
    """``(phrase, nouns)`` by which a problem asks for whole numbers, or None.

    Explicit words ("integer", "whole number", "indivisible") give no nouns; a count in
    a decision sentence ("How many jumbo rolls should ...?") gives the counted words. A
    count of a measure ("how many tons") or a problem that says fractions are fine
    ("servings can be fractional") asks for none.
    """
    if _FRACTIONAL_OK.search(text):
        return None
    m = _INT_WORDS.search(text)
    if m:
        return m.group(0), None
    for sentence in re.split(r"(?<=[.?!])\s+", text):
        if not _DECISION.search(sentence):
            continue  # "the number of trips per week is ..." states data, not a decision
        for m in _COUNT_PHRASE.finditer(sentence):
            words = tuple(
                w.lower() for w in m.groups() if w is not None and w.lower() not in _FILLER
            )
            if words and not any(w in _MEASURES for w in words):
                return m.group(0), words
    return None


def asks_for_integers(text: str) -> str | None:
    """The phrase by which a problem asks for whole numbers, or None."""
    found = integrality_request(text)
    return found[0] if found else None


def _stem(word: str) -> str:
    word = word.lower()
    return word[:-1] if word.endswith("s") and len(word) > 3 else word


def _counted_variables(variables: Mapping[str, Any], nouns: tuple[str, ...] | None) -> list[str]:
    """Continuous variables that count one of ``nouns`` (all continuous ones for None)."""
    out = []
    stems = [_stem(n) for n in nouns or ()]
    for name, v in variables.items():
        vdef = v if isinstance(v, Mapping) else {}
        if str(vdef.get("type", "continuous")).lower() not in ("continuous", "real", "float"):
            continue
        if nouns is None:
            out.append(name)
            continue
        text = f"{name} {vdef.get('description') or ''}".replace("_", " ").lower()
        words = re.findall(r"[a-z]+", text)
        if any(_stem(w) == st or w.startswith(st) for w in words for st in stems):
            out.append(name)
    return out


def _fractional(solution: Mapping[str, Any], names: list[str]) -> tuple[str, float] | None:
    for name in names:
        value = solution.get(name)
        items = value.items() if isinstance(value, Mapping) else [("", value)]
        for key, v in items:
            if v is not None and abs(v - round(v)) > 1e-6:
                return (f"{name}[{key}]" if key else name), float(v)
    return None


def _diagnostic_findings(ctx: RunContext) -> list[dict[str, Any]]:
    """Findings of :func:`modeling.diagnostics.sanity_check` the LLM can act on."""
    result = ctx.scratch.last_result
    if result is None:
        return []
    found = diagnostics.sanity_check(result)
    out = []
    for f in found:
        # Violated rows and bounds, absurd magnitudes and a do-nothing maximum point at
        # the formulation; big-M coefficient spans and solver tolerances do not.
        if not (
            (f.severity == "error" and f.code != "integrality")
            or f.code in ("magnitude", "zero_solution")
        ):
            if f.severity in ("error", "warning"):
                ctx.trace.note(f"sanity finding not sent to repair: {f}", ctx.candidate)
            continue
        label, message = f.label, f.message or str(f)
        out.append(
            _issue(
                f.location or "solution",
                f"{label} {message}".strip() if label and label not in message else message,
                code="sanity",
            )
        )
    return out


def sanity_findings(state: AgentState, ctx: RunContext) -> list[dict[str, Any]]:
    """Status sanity: integrality asked for but missing, a clearly nonnegative objective < 0."""
    doc = state.get("document") or {}
    text = problem_text(state)
    findings = _diagnostic_findings(ctx)
    variables = doc.get("variables") or {}
    any_integer = any(
        isinstance(v, Mapping)
        and str(v.get("type", "continuous")).lower() in ("integer", "int", "binary", "bool")
        for v in variables.values()
    )
    asked = integrality_request(text)
    if asked is not None and not (asked[1] is None and any_integer):
        phrase, noun = asked
        frac = _fractional(state.get("solution") or {}, _counted_variables(variables, noun))
        if frac is not None:
            name = frac[0].split("[", 1)[0]
            findings.append(
                _issue(
                    f"variables.{name}.type",
                    f"the problem asks for whole numbers ({phrase!r}) but {name} is continuous "
                    f"and the solution is fractional ({frac[0]} = {format_number(frac[1])})",
                    "declare counts of indivisible things with type integer; if fractional "
                    "values are right for this problem, return the document unchanged",
                    code="sanity",
                )
            )
    objective = state.get("objective")
    obj = doc.get("objective") or {}
    sense = str(obj.get("sense", "")).lower()
    described = f"{obj.get('description') or ''} {obj.get('expression') or ''}"
    if objective is not None and objective < -1e-6:
        if sense.startswith("min") and (_COST_WORDS.search(described) or _COST_WORDS.search(text)):
            if not re.search(r"\b(profit|return|gain|net)\b", described + text, re.IGNORECASE):
                findings.append(
                    _issue(
                        "objective",
                        f"the objective is negative ({format_number(objective)}) but it "
                        "measures a cost-like quantity, which cannot be below zero",
                        "check the signs of the objective's terms and of the variables' bounds",
                        code="sanity",
                    )
                )
        elif sense.startswith("max") and _REVENUE_WORDS.search(described):
            findings.append(
                _issue(
                    "objective",
                    f"the maximized objective is negative ({format_number(objective)}) but it "
                    "measures a nonnegative quantity",
                    "check the signs of the objective's terms",
                    code="sanity",
                )
            )
    return findings


def verify(state: AgentState, ctx: RunContext) -> Update:
    """Turn the solve status into findings the repair loop can act on."""
    status = str(state.get("status"))
    doc = state.get("document")
    findings: list[dict[str, Any]] = []
    if status in SOLVED:
        if ctx.config.sanity:
            findings = sanity_findings(state, ctx)
    elif status in ("infeasible", "infeasible_or_unbounded"):
        detail = explain_infeasibility(doc, ctx.config.time_limit) if doc is not None else ""
        findings.append(
            {
                **_issue(
                    "model",
                    "the model is infeasible: no point satisfies all constraints"
                    if status == "infeasible"
                    else "the solver reports the model infeasible or unbounded",
                    "look for a wrong direction (<= vs >=), a wrong number or unit, or a "
                    "requirement the problem does not state; if the problem as stated has no "
                    "feasible solution, return the document unchanged",
                    code=status,
                ),
                "detail": detail,
            }
        )
    elif status == "unbounded":
        detail = explain_unboundedness(doc, ctx.config.time_limit) if doc is not None else ""
        findings.append(
            {
                **_issue(
                    "objective",
                    "the model is unbounded: the objective improves without limit",
                    "a limit is missing (capacity, budget, demand), a constraint has the wrong "
                    "direction, or the sense is wrong; if the problem really is unbounded, "
                    "return the document unchanged",
                    code="unbounded",
                ),
                "detail": detail,
            }
        )
    elif status == "invalid":
        findings = list(state.get("issues") or [])
    elif status == "time_limit":
        findings.append(_issue("solver", "the solver hit its time limit", code="time_limit"))
    elif status == "error":
        message = str((state.get("solver") or {}).get("message") or "the solver failed")
        findings.append(_issue("solver", message.splitlines()[0], code="solver_error"))
    attempt = Attempt(
        round=len(state.get("attempts") or []),
        source=str(state.get("source") or "formulate"),
        document=doc,
        status=status,
        objective=state.get("objective"),
        errors=findings,
        categories=_categories(findings),
    )
    return {"findings": findings, "attempts": _record(state, ctx, attempt)}


def repairable(state: Mapping[str, Any]) -> bool:
    """True when the last attempt has errors the LLM could fix."""
    attempts = state.get("attempts") or []
    if not attempts:
        return False
    errors = attempts[-1].get("errors") or []
    return any(str(e.get("code")) not in NOT_REPAIRABLE for e in errors)


# --------------------------------------------------------------------- review


def _review_request(state: AgentState, ctx: RunContext) -> LLMRequest | Update:
    doc = state.get("document")
    return LLMRequest(
        "review", _messages(ctx, "review", problem=problem_text(state), document=doc or {})
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
        _issue(
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
    last.categories = _categories(last.errors)
    return {"reviewed": key, "findings": issues, "attempts": _replace_last(state, ctx, last)}


def review(state: AgentState, ctx: RunContext) -> Update:
    """Optional LLM back-translation review of a solved document."""
    return _run(state, ctx, _review_request, _review_finish)


async def areview(state: AgentState, ctx: RunContext) -> Update:
    return await _arun(state, ctx, _review_request, _review_finish)


# --------------------------------------------------------------------- repair


def _repair_request(state: AgentState, ctx: RunContext) -> LLMRequest | Update:
    attempts = state.get("attempts") or []
    errors = list(attempts[-1].get("errors") or []) if attempts else []
    errors = [e for e in errors if str(e.get("code")) not in NOT_REPAIRABLE]
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
        _messages(
            ctx,
            "repair",
            problem=problem_text(state),
            document=document,
            errors=_error_lines(errors),
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
        return {"repairs": repairs, "accepted": True, "raw_reply": update["raw_reply"]}
    errors = len((state.get("attempts") or [{}])[-1].get("errors") or [])
    proposal = Proposal("repair", f"fix {errors} error(s)", before, after, yaml_diff(before, after))
    ctx.trace.proposal(proposal.to_dict(), ctx.candidate)
    return update


def repair(state: AgentState, ctx: RunContext) -> Update:
    """Send the problem, the current document and its located errors back to the LLM."""
    return _run(state, ctx, _repair_request, _repair_finish)


async def arepair(state: AgentState, ctx: RunContext) -> Update:
    return await _arun(state, ctx, _repair_request, _repair_finish)


# -------------------------------------------------------------------- explain


def outcome_line(state: AgentState, ctx: RunContext) -> str:
    """One honest sentence on how the run ended."""
    if state.get("fatal"):
        return str(state["fatal"])
    attempts = state.get("attempts") or []
    status = str(state.get("status") or "error")
    repairs = int(state.get("repairs") or 0)
    last = attempts[-1] if attempts else {}
    errors = list(last.get("errors") or [])
    if state.get("accepted"):
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
    if errors and not repairable(state):
        return f"The run ended with status {status}: {errors[0].get('message')}."
    if repairs:
        return f"Solved after {repairs} repair round(s)."
    return ""


def _explain_text(state: AgentState, ctx: RunContext) -> str:
    status = str(state.get("status") or "error")
    if state.get("fatal"):
        return str(state["fatal"])
    attempts = state.get("attempts") or []
    detail = ""
    if attempts:
        for e in attempts[-1].get("errors") or []:
            if e.get("detail"):
                detail = str(e["detail"])
    if status == "invalid" and attempts:
        errors = attempts[-1].get("errors") or []
        detail = _error_lines(errors[:5])
        return explain_solution(state.get("document"), status, None, message=detail)
    return explain_solution(
        state.get("document"),
        status,
        state.get("objective"),
        state.get("solution") or {},
        state.get("binding") or [],
        detail=detail,
    )


def _explain_request(state: AgentState, ctx: RunContext) -> LLMRequest | Update:
    text = _explain_text(state, ctx)
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
        "explain", _messages(ctx, "explain", problem=problem_text(state), result=result), json=False
    )


def _explain_finish(state: AgentState, ctx: RunContext, outcome: LLMOutcome) -> Update:
    text = _explain_text(state, ctx)
    line = outcome_line(state, ctx)
    if line and line in text:  # e.g. an LLM failure is both the explanation and the outcome
        line = ""
    if outcome.error is not None or not outcome.text.strip():
        return {"answer": text + (f"\n{line}" if line else ""), "outcome": line}
    return {"answer": outcome.text.strip() + (f"\n\n{line}" if line else ""), "outcome": line}


def explain(state: AgentState, ctx: RunContext) -> Update:
    """The final answer: objective, nonzero decisions, binding constraints, how it ended."""
    return _run(state, ctx, _explain_request, _explain_finish)


async def aexplain(state: AgentState, ctx: RunContext) -> Update:
    return await _arun(state, ctx, _explain_request, _explain_finish)


# ----------------------------------------------------------------------- chat

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


def classify_message(message: str, has_document: bool) -> str:
    """formulate | edit | diagnose | answer for one chat message."""
    text = message.strip()
    if not has_document:
        return "formulate"
    if _INFEASIBLE_Q.search(text):
        return "diagnose"
    if text.lower().startswith(("new problem", "problem:")) or len(text) > 600:
        return "formulate"
    if _QUESTION.match(text) and not re.match(r"^\s*what\s+if\b", text, re.IGNORECASE):
        if not (text.lower().startswith(("can", "could")) and _CHANGE.search(text)):
            return "answer"
    return "edit"


def intake(state: AgentState, ctx: RunContext) -> Update:
    """Start a chat turn: record the message, pick the route, reset per-turn fields."""
    message = str(state.get("message") or "").strip()
    route = classify_message(message, bool(state.get("document")))
    history = [*(state.get("history") or []), {"role": "user", "content": message}]
    update: Update = {
        "route": route,
        "history": history,
        "attempts": [],
        "repairs": 0,
        "fatal": None,
        "issues": [],
        "findings": [],
        "accepted": False,
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
    return LLMRequest(
        "edit",
        _messages(
            ctx,
            "edit",
            request=str(state.get("message") or ""),
            document=state.get("document") or {},
        ),
    )


def _edit_finish(state: AgentState, ctx: RunContext, outcome: LLMOutcome) -> Update:
    if outcome.error is not None:
        return _fatal(outcome.error, "edit")
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
    return _run(state, ctx, _edit_request, _edit_finish)


async def aedit(state: AgentState, ctx: RunContext) -> Update:
    return await _arun(state, ctx, _edit_request, _edit_finish)


def diagnose(state: AgentState, ctx: RunContext) -> Update:
    """Answer "why is it infeasible?" from the IIS (no edit, no LLM call)."""
    doc = state.get("document")
    status = str(state.get("status") or "")
    if doc is None:
        text = "There is no formulation yet: describe the problem first."
    elif status in ("infeasible", "infeasible_or_unbounded"):
        text = "The model has no feasible solution.\n" + explain_infeasibility(
            doc, ctx.config.time_limit
        )
    elif status == "unbounded":
        text = "The model is unbounded.\n" + explain_unboundedness(doc, ctx.config.time_limit)
    else:
        text = f"The current model is {status}, not infeasible.\n" + sensitivity_report(doc)
    return {"diagnosis": text, "answer": text, "outcome": ""}


def _answer_request(state: AgentState, ctx: RunContext) -> LLMRequest | Update:
    text = _explain_text(state, ctx)
    if state.get("document") is None:
        return {"answer": "There is no formulation yet: describe the problem first."}
    question = str(state.get("message") or "")
    problem = f"{problem_text(state)}\n\nThe user now asks: {question}"
    result = {"status": state.get("status"), "objective": state.get("objective"), "summary": text}
    return LLMRequest(
        "answer", _messages(ctx, "explain", problem=problem, result=result), json=False
    )


def _answer_finish(state: AgentState, ctx: RunContext, outcome: LLMOutcome) -> Update:
    if outcome.error is not None or not outcome.text.strip():
        return {"answer": _explain_text(state, ctx)}
    return {"answer": outcome.text.strip()}


def answer(state: AgentState, ctx: RunContext) -> Update:
    """Answer a question about the current solution (LLM, with a deterministic fallback)."""
    return _run(state, ctx, _answer_request, _answer_finish)


async def aanswer(state: AgentState, ctx: RunContext) -> Update:
    return await _arun(state, ctx, _answer_request, _answer_finish)


def finish_turn(state: AgentState, ctx: RunContext) -> Update:
    """End a chat turn: compare with the previous version, answer, remember the reply."""
    answer_text = str(state.get("answer") or "")
    update: Update = {}
    previous = state.get("previous")
    edited = bool(
        previous and previous.get("document") is not None and state.get("route") == "edit"
    )
    if edited and previous and state.get("status") in ("invalid", "error", "pending", "valid"):
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
        diff = yaml_diff(previous.get("document"), state.get("document"))
        update["comparison"] = {**comparison.to_dict(), "diff": diff}
        summary = comparison.to_text()
        if summary:
            answer_text += "\n\nCompared with before:\n" + summary
        update["answer"] = answer_text
    history = [*(state.get("history") or []), {"role": "assistant", "content": answer_text}]
    update["history"] = history
    return update


NodeFn = Callable[[AgentState, RunContext], Update]
AsyncNodeFn = Callable[[AgentState, RunContext], Awaitable[Update]]
