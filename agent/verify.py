"""Verify a solve: findings with a severity and the evidence in the model.

After a solve, :func:`verify` turns the status into located findings. Each
finding is a dict (``location``, ``message``, ``hint``, ``code``) plus
``severity`` and ``evidence``: the terms, bounds, values or words of the
model and problem that made it fire, so a reader (or the LLM) can judge it.
The severity decides what happens next:

* **error** — sent to repair. Only what is wrong by construction: the document
  breaks the spec, the model is infeasible or unbounded, the problem asks for
  whole numbers and the model ignored it, or a returned value contradicts the
  model's own data (a bound or constraint violated at the solution).
* **suspicion** — sent to the optional LLM review (``AgentConfig.review``),
  which may keep the model; never to repair directly.
* **note** — reported in the attempt and the result, never repaired.

============================ ========== ==================================================
finding type (``code``)      severity   rule (and the evidence it cites)
============================ ========== ==================================================
``invalid``, ``parse`` and   error      the document breaks the spec or is not JSON
the spec's issue codes                  (the located spec issues)
``infeasible``               error      the solver proved no point feasible (the IIS:
                                        the constraints and bounds that conflict)
``infeasible_or_unbounded``  error      no optimum exists and a feasibility re-solve could
                                        not tell why (the IIS when one can be found)
``unbounded``                error      the objective improves without limit (the
                                        variables that grow and the missing limits)
``integrality``              error      the text asks for whole numbers (an explicit word,
                                        or "how many <things>" in a decision sentence, and
                                        no "fractions are fine"), a continuous variable
                                        counting those things is fractional at the solution
                                        (the phrase, the variable, its value)
``violated``                 error      a value breaks the model's own bound or constraint
                                        at the returned point (the instance, its activity
                                        and bound)
``magnitude``                suspicion  a value above 1e9 (the variable and value):
                                        usually a missing bound or a unit slip
``zero_solution``            suspicion  a maximisation whose solution is all zero with
                                        objective 0 (the objective's terms)
``objective_mismatch``       note       the solver's objective differs from the one
                                        recomputed at its point (both values)
``fractional_integer``       note       a declared integer within the solver's tolerance
                                        but not exactly integral (the value)
``coefficients``             note       coefficients spanning more than 1e9 (the extremes)
``cost_sign``                note       a minimised cost-like objective is negative and
                                        *every* objective term is a negative coefficient
                                        on a nonnegative variable (the objective reads as
                                        minus a cost); silent when the model's own mixed-
                                        sign coefficients, free variables, a constant or
                                        nonlinear terms allow the sign (the terms)
``revenue_sign``             note       the same for a maximised revenue or count
``review``                   error      the optional LLM review reported a mismatch
``solver_error``,            note       the solver or optiwise failed; a rewrite of the
``time_limit``, ``internal``            document cannot fix it (the solver's message)
============================ ========== ==================================================

The cost-sign heuristic has no sound version that fires on a plausible model:
a linear objective whose terms cannot be negative cannot have a negative value,
and one whose terms can be negative is the model's own choice (``minimize
sum(c[i]*x[i])`` with free variables and mixed-sign costs is the standard form
of a cone program). So it is a note, fired only on the uniformly flipped sign.

Diagnoses are :mod:`modeling.diagnostics`' own reports, so chat and
``optiwise explain`` say the same. They run in a killable worker
(:func:`modeling.worker.diagnose_isolated`), stopped at the solve's time limit
plus a grace period, unless the run solves in process (``solve_in_process``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

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
from modeling.diagnostics._labels import _Labels
from modeling.errors import FormulationError
from modeling.format import format_number
from modeling.result import Status
from modeling.worker import Diagnosis, HardLimitExceeded, WorkerCrashed, diagnose_isolated

__all__ = [
    "NOT_REPAIRABLE",
    "SEVERITY",
    "Severity",
    "errors_of",
    "asks_for_integers",
    "explain_infeasibility",
    "explain_unboundedness",
    "integrality_request",
    "repairable",
    "sanity_findings",
    "sensitivity_report",
    "severity_of",
    "suspicions_of",
    "verify",
]

NOT_REPAIRABLE = frozenset({"solver_error", "time_limit", "internal", "data_file"})
"""Findings the LLM cannot fix by rewriting the document."""

Severity = Literal["error", "suspicion", "note"]

SEVERITY: dict[str, Severity] = {
    "infeasible": "error",
    "infeasible_or_unbounded": "error",
    "unbounded": "error",
    "integrality": "error",
    "violated": "error",
    "review": "error",
    "magnitude": "suspicion",
    "zero_solution": "suspicion",
    "objective_mismatch": "note",
    "fractional_integer": "note",
    "coefficients": "note",
    "cost_sign": "note",
    "revenue_sign": "note",
    "solver_error": "note",
    "time_limit": "note",
    "internal": "note",
}
"""The severity of each finding type (see the module's table); any other code (the
spec's issue codes of an invalid document, ``parse``) is an error."""


def severity_of(finding: Mapping[str, Any]) -> Severity:
    """A finding's severity: its own ``severity`` key, else the table's, else error."""
    given = finding.get("severity")
    if given in ("error", "suspicion", "note"):
        return given  # type: ignore[no-any-return]
    return SEVERITY.get(str(finding.get("code") or "invalid"), "error")


def errors_of(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings that go to repair: severity error, not a solver failure."""
    return [
        f
        for f in findings
        if severity_of(f) == "error" and str(f.get("code")) not in NOT_REPAIRABLE
    ]


def suspicions_of(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings the optional LLM review is asked to judge."""
    return [f for f in findings if severity_of(f) == "suspicion"]


def _finding(
    code: str, location: str, message: str, evidence: str, hint: str = ""
) -> dict[str, Any]:
    """A located finding with its table severity and the evidence that made it fire."""
    return {
        **make_issue(location, message, hint, code=code),
        "severity": SEVERITY.get(code, "error"),
        "evidence": evidence,
    }


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


_DIAGNOSTIC_CODES = {
    "bound": "violated",
    "constraint": "violated",
    "integrality": "fractional_integer",
    "objective": "objective_mismatch",
    "magnitude": "magnitude",
    "zero_solution": "zero_solution",
    "coefficients": "coefficients",
}


def _diagnostic_findings(ctx: RunContext) -> list[dict[str, Any]]:
    """:func:`modeling.diagnostics.sanity_check`'s findings, each with its table severity."""
    result = ctx.scratch.last_result
    if result is None or result.model is None or result.x is None:
        return []
    out = []
    for f in diagnostics.sanity_check(result):
        code = _DIAGNOSTIC_CODES.get(f.code)
        if code is None:
            continue
        label, message = f.label, f.message or str(f)
        text = f"{label} {message}".strip() if label and label not in message else message
        value = "" if f.value is None else f" (value {format_number(f.value)})"
        out.append(_finding(code, f.location or "solution", text, f"{text}{value}"))
    return out


def _objective_terms(ctx: RunContext) -> tuple[str, list[str]] | None:
    """Whether the model's own objective allows a negative value, and its signed terms.

    ``("allowed", terms)`` when a term can be negative under the model's own
    coefficients and bounds (a negative constant, a positive coefficient on a
    variable that may be negative, a negative one on a variable that may be
    positive: unless *every* term is the last kind, see ``"flipped"``), or when
    the objective has quadratic or nonlinear terms (their sign is the model's to
    choose); ``("flipped", terms)`` when every term is a negative coefficient on a
    nonnegative variable; None without a compiled model.
    """
    result = ctx.scratch.last_result
    model = getattr(result, "model", None)
    if model is None:
        return None
    c, lb = model.obj_c, model.col_lb
    used = [j for j in range(model.ncols) if c[j] != 0]
    labels = _Labels(model)  # the formulation's own names
    x = getattr(result, "x", None)
    terms = []
    for j in sorted(used, key=lambda j: float(c[j] * (x[j] if x is not None else 1.0)))[:5]:
        at = f" = {format_number(float(c[j] * x[j]))}" if x is not None else ""
        terms.append(f"{format_number(float(c[j]))}*{labels.column(j)}{at}")
    nonlinear = len(model.obj_q[2]) > 0 or model.obj_tree is not None
    if nonlinear or model.obj_const < 0 or not used:
        return "allowed", terms
    if all(c[j] < 0 and lb[j] >= 0 for j in used):
        return "flipped", terms
    return "allowed", terms


def _sign_findings(state: AgentState, ctx: RunContext, text: str) -> list[dict[str, Any]]:
    """The cost-sign and revenue-sign notes (see the module's table for why only notes)."""
    objective = state.get("objective")
    if objective is None or objective >= -1e-6:
        return []
    doc = state.get("document") or {}
    obj = doc.get("objective") or {}
    sense = str(obj.get("sense", "")).lower()
    described = f"{obj.get('description') or ''} {obj.get('expression') or ''}"
    if sense.startswith("min"):
        if not (_COST_WORDS.search(described) or _COST_WORDS.search(text)):
            return []
        if re.search(r"\b(profit|return|gain|net)\b", described + text, re.IGNORECASE):
            return []
        code, what = "cost_sign", "a cost-like quantity"
    elif sense.startswith("max") and _REVENUE_WORDS.search(described):
        code, what = "revenue_sign", "a nonnegative quantity (revenue, a count)"
    else:
        return []
    signs = _objective_terms(ctx)
    if signs is None or signs[0] != "flipped":
        return []  # the model's own coefficients or free variables allow the sign
    return [
        _finding(
            code,
            "objective",
            f"the objective is negative ({format_number(objective)}) and measures {what}, but "
            "every one of its terms is a negative coefficient on a nonnegative variable",
            "terms (coefficient*variable = value at the solution): " + ", ".join(signs[1]),
            "if costs were entered with a minus sign, write them as positive numbers",
        )
    ]


def sanity_findings(state: AgentState, ctx: RunContext) -> list[dict[str, Any]]:
    """The checks of a solved model: its own data at the point, the text, the signs."""
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
                _finding(
                    "integrality",
                    f"variables.{name}.type",
                    f"the problem asks for whole numbers ({phrase!r}) but {name} is continuous "
                    f"and the solution is fractional ({frac[0]} = {format_number(frac[1])})",
                    f"the text says {phrase!r}; {name} has type continuous; "
                    f"{frac[0]} = {format_number(frac[1])}",
                    "declare counts of indivisible things with type integer; if fractional "
                    "values are right for this problem, return the document unchanged",
                )
            )
    findings.extend(_sign_findings(state, ctx, text))
    return findings


def _first_lines(text: str, n: int = 6) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[:n]) + ("\n…" if len(lines) > n else "")


def verify(state: AgentState, ctx: RunContext) -> Update:
    """Turn the solve status into findings with a severity and their evidence."""
    status = str(state.get("status"))
    doc = state.get("document")
    findings: list[dict[str, Any]] = []
    if has_solution(status):
        if ctx.config.sanity:
            findings = sanity_findings(state, ctx)
    elif status in (Status.INFEASIBLE, Status.INFEASIBLE_OR_UNBOUNDED):
        detail = (
            explain_infeasibility(
                doc, ctx.config.time_limit, ctx.data_dir, isolated=not ctx.config.solve_in_process
            )
            if doc is not None
            else ""
        )
        findings.append(
            {
                **_finding(
                    status,
                    "model",
                    "the model is infeasible: no point satisfies all constraints"
                    if status == Status.INFEASIBLE
                    else "the solver reports the model infeasible or unbounded",
                    _first_lines(detail) or "the solver's proof (no IIS could be computed)",
                    "look for a wrong direction (<= vs >=), a wrong number or unit, or a "
                    "requirement the problem does not state; if the problem as stated has no "
                    "feasible solution, return the document unchanged",
                ),
                "detail": detail,
            }
        )
    elif status == Status.UNBOUNDED:
        detail = (
            explain_unboundedness(
                doc, ctx.config.time_limit, ctx.data_dir, isolated=not ctx.config.solve_in_process
            )
            if doc is not None
            else ""
        )
        findings.append(
            {
                **_finding(
                    "unbounded",
                    "objective",
                    "the model is unbounded: the objective improves without limit",
                    _first_lines(detail) or "the solver's proof of an improving ray",
                    "a limit is missing (capacity, budget, demand), a constraint has the wrong "
                    "direction, or the sense is wrong; if the problem really is unbounded, "
                    "return the document unchanged",
                ),
                "detail": detail,
            }
        )
    elif status == Status.INVALID:
        findings = [
            {**f, "severity": severity_of(f), "evidence": f.get("evidence") or f.get("message")}
            for f in state.get("issues") or []
        ]
    elif status == Status.TIME_LIMIT:
        findings.append(
            _finding("time_limit", "solver", "the solver hit its time limit", "solver status")
        )
    elif status == Status.ERROR:
        message = str((state.get("solver") or {}).get("message") or "the solver failed")
        findings.append(_finding("solver_error", "solver", message.splitlines()[0], message))
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
    """True when the last attempt has errors the LLM could fix (severity error)."""
    attempts = state.get("attempts") or []
    if not attempts:
        return False
    return bool(errors_of(list(attempts[-1].get("errors") or [])))


# ------------------------------------------------------------------ diagnoses


def _with_data(doc: Mapping[str, Any], data: str | Path | None) -> Any:
    """The document as the diagnostics take it: loaded with its tables when it has a data
    folder (a document that reads tables cannot be diagnosed without them)."""
    if data is None:
        return dict(doc)
    from modeling.formulation import load

    return load(dict(doc), data=data)


def _diagnosis(
    kind: Diagnosis,
    doc: Mapping[str, Any],
    data: str | Path | None,
    isolated: bool,
    **kwargs: Any,
) -> Any:
    """A diagnosis report: in a killable worker (default) or, ``isolated=False``, here.

    In the worker the tables are read there too, and the whole diagnosis is killed at
    its time limit plus :func:`modeling.worker.grace` (raising
    :class:`~modeling.worker.HardLimitExceeded`).
    """
    if isolated:
        return diagnose_isolated(kind, dict(doc), data=data, **kwargs)
    funcs: dict[str, Callable[..., Any]] = {
        "infeasible": diagnostics.explain_infeasible,
        "unbounded": diagnostics.explain_unbounded,
        "sensitivity": diagnostics.sensitivity,
        "explain": diagnostics.explain,
    }
    return funcs[kind](_with_data(doc, data), **kwargs)


def _stopped(what: str, exc: Exception) -> str:
    """The text of a diagnosis whose worker was killed or died: what happened, what to do."""
    if isinstance(exc, HardLimitExceeded) and exc.kind == "time":
        return f"The {what} was stopped: {exc} (raise the time limit to get it)."
    return f"The {what} could not be computed: {exc}"


def explain_infeasibility(
    doc: Mapping[str, Any],
    time_limit: float | None = 30.0,
    data: str | Path | None = None,
    *,
    isolated: bool = True,
) -> str:
    """Why a model has no solution, in the formulation's own names (an IIS as text).

    The same report as ``optiwise explain`` (:func:`modeling.diagnostics.explain_infeasible`);
    ``data`` is the folder of the tables the document reads. A diagnosis that cannot be made
    says why instead. It runs in a killable worker (``isolated``), killed at ``time_limit``
    plus a grace period, so a model that hangs while it is built cannot hang the caller.
    """
    try:
        report = _diagnosis(
            "infeasible",
            doc,
            data,
            isolated,
            time_limit=time_limit or diagnostics.DEFAULT_TIME_LIMIT,
        )
        return str(report.to_text())
    except (diagnostics.DiagnosticsError, FormulationError) as exc:
        return f"No infeasibility to explain: {exc}"
    except (HardLimitExceeded, WorkerCrashed) as exc:
        return _stopped("infeasibility diagnosis", exc)


def explain_unboundedness(
    doc: Mapping[str, Any],
    time_limit: float | None = 30.0,
    data: str | Path | None = None,
    *,
    isolated: bool = True,
) -> str:
    """Which variables can grow without limit (:func:`modeling.diagnostics.explain_unbounded`),
    in a killable worker like :func:`explain_infeasibility`."""
    try:
        report = _diagnosis(
            "unbounded",
            doc,
            data,
            isolated,
            time_limit=time_limit or diagnostics.DEFAULT_TIME_LIMIT,
        )
        return str(report.to_text())
    except (diagnostics.DiagnosticsError, FormulationError) as exc:
        return f"No unboundedness to explain: {exc}"
    except (HardLimitExceeded, WorkerCrashed) as exc:
        return _stopped("unboundedness diagnosis", exc)


def sensitivity_report(
    doc: Mapping[str, Any],
    data: str | Path | None = None,
    *,
    time_limit: float | None = None,
    isolated: bool = True,
) -> str:
    """Shadow prices, slacks, reduced costs and ranging of an LP, as text.

    :func:`modeling.diagnostics.sensitivity`; for a model that has none (a MILP, an
    infeasible LP) the reason why. In a killable worker like :func:`explain_infeasibility`
    (``time_limit`` None: the diagnostics' default budget bounds it).
    """
    try:
        kwargs: dict[str, Any] = {} if time_limit is None else {"time_limit": time_limit}
        return str(_diagnosis("sensitivity", doc, data, isolated, **kwargs).to_text())
    except (diagnostics.DiagnosticsError, FormulationError) as exc:
        return f"No sensitivity information: {exc}"
    except (HardLimitExceeded, WorkerCrashed) as exc:
        return _stopped("sensitivity report", exc)
