"""Verify a solve: findings the repair loop can act on, and diagnoses in words.

After a solve, :func:`verify` turns the status into located findings: the IIS
of an infeasible model, the growing variables of an unbounded one, and for a
solved one the sanity checks — :func:`modeling.diagnostics.sanity_check` plus
two checks of the solution against the problem text, which need the text and
so live here: whole numbers asked for but not declared (:func:`integrality_request`)
and a cost-like objective below zero. Diagnoses are :mod:`modeling.diagnostics`'
own reports, so chat and ``optiwise explain`` say the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agent.context import RunContext
from agent.state import (
    AgentState,
    Attempt,
    Update,
    categories_of,
    has_solution,
    make_issue,
    problem_text,
    record_attempt,
)
from modeling import diagnostics
from modeling.format import format_number
from modeling.result import Status

__all__ = [
    "NOT_REPAIRABLE",
    "asks_for_integers",
    "explain_infeasibility",
    "explain_unboundedness",
    "integrality_request",
    "repairable",
    "sanity_findings",
    "sensitivity_report",
    "verify",
]

NOT_REPAIRABLE = frozenset({"solver_error", "time_limit", "internal"})
"""Findings the LLM cannot fix by rewriting the document."""


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
            make_issue(
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
                make_issue(
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
                    make_issue(
                        "objective",
                        f"the objective is negative ({format_number(objective)}) but it "
                        "measures a cost-like quantity, which cannot be below zero",
                        "check the signs of the objective's terms and of the variables' bounds",
                        code="sanity",
                    )
                )
        elif sense.startswith("max") and _REVENUE_WORDS.search(described):
            findings.append(
                make_issue(
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
    if has_solution(status):
        if ctx.config.sanity:
            findings = sanity_findings(state, ctx)
    elif status in (Status.INFEASIBLE, Status.INFEASIBLE_OR_UNBOUNDED):
        detail = explain_infeasibility(doc, ctx.config.time_limit) if doc is not None else ""
        findings.append(
            {
                **make_issue(
                    "model",
                    "the model is infeasible: no point satisfies all constraints"
                    if status == Status.INFEASIBLE
                    else "the solver reports the model infeasible or unbounded",
                    "look for a wrong direction (<= vs >=), a wrong number or unit, or a "
                    "requirement the problem does not state; if the problem as stated has no "
                    "feasible solution, return the document unchanged",
                    code=status,
                ),
                "detail": detail,
            }
        )
    elif status == Status.UNBOUNDED:
        detail = explain_unboundedness(doc, ctx.config.time_limit) if doc is not None else ""
        findings.append(
            {
                **make_issue(
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
    elif status == Status.INVALID:
        findings = list(state.get("issues") or [])
    elif status == Status.TIME_LIMIT:
        findings.append(make_issue("solver", "the solver hit its time limit", code="time_limit"))
    elif status == Status.ERROR:
        message = str((state.get("solver") or {}).get("message") or "the solver failed")
        findings.append(make_issue("solver", message.splitlines()[0], code="solver_error"))
    attempt = Attempt(
        round=len(state.get("attempts") or []),
        source=state.get("source") or "formulate",
        document=doc,
        status=status,
        objective=state.get("objective"),
        errors=findings,
        categories=categories_of(findings),
    )
    return {"findings": findings, "attempts": record_attempt(state, ctx, attempt)}


def repairable(state: Mapping[str, Any]) -> bool:
    """True when the last attempt has errors the LLM could fix."""
    attempts = state.get("attempts") or []
    if not attempts:
        return False
    errors = attempts[-1].get("errors") or []
    return any(str(e.get("code")) not in NOT_REPAIRABLE for e in errors)


# ------------------------------------------------------------------ diagnoses


def explain_infeasibility(doc: Mapping[str, Any], time_limit: float | None = 30.0) -> str:
    """Why a model has no solution, in the formulation's own names (an IIS as text).

    The same report as ``optiwise explain`` (:func:`modeling.diagnostics.explain_infeasible`);
    a diagnosis that cannot be made says why instead.
    """
    try:
        return diagnostics.explain_infeasible(dict(doc), time_limit=time_limit or 30.0).to_text()
    except diagnostics.DiagnosticsError as exc:
        return f"No infeasibility to explain: {exc}"


def explain_unboundedness(doc: Mapping[str, Any], time_limit: float | None = 30.0) -> str:
    """Which variables can grow without limit (:func:`modeling.diagnostics.explain_unbounded`)."""
    try:
        return diagnostics.explain_unbounded(dict(doc), time_limit=time_limit or 30.0).to_text()
    except diagnostics.DiagnosticsError as exc:
        return f"No unboundedness to explain: {exc}"


def sensitivity_report(doc: Mapping[str, Any]) -> str:
    """Shadow prices, slacks, reduced costs and ranging of an LP, as text.

    :func:`modeling.diagnostics.sensitivity`; for a model that has none (a MILP, an
    infeasible LP) the reason why.
    """
    try:
        return diagnostics.sensitivity(dict(doc)).to_text()
    except diagnostics.DiagnosticsError as exc:
        return f"No sensitivity information: {exc}"
