"""A chat turn in which the LLM chooses tools: solve, edit, what-if, sweep, diagnose, minimise.

The regex router of :mod:`agent.chat_nodes` sends a message down one fixed path;
here the LLM itself picks among typed tools and may call several in one turn
("cut the budget by 10% and tell me which constraints become binding": an edit,
a solve and a sensitivity report), then answers citing their results::

    turn = ToolChat(llm, ToolChatConfig(tool_mode="auto")).run(
        "cut the budget by 10% and tell me which constraints bind", Workspace.of(doc)
    )
    turn.answer, turn.calls, turn.workspace.document   # edits are kept, what-ifs are not

Each tool's arguments are a pydantic model; its JSON schema is what the LLM
sees, and a call whose arguments do not validate is answered with the
validation errors (nothing runs, nothing is applied) so the LLM can retry.
Results go back as compact JSON (numbers to 6 significant digits, long lists cut).

Modes (:attr:`ToolChatConfig.tool_mode`, ``OPTIWISE_TOOL_MODE``):

- ``native``: OpenAI ``tools`` / ``tool_calls``;
- ``json``: a plain-text protocol for endpoints without tool calling: the LLM
  replies ``{"tool": name, "arguments": {...}}`` or ``{"final": "answer"}``;
- ``auto``: native first; an endpoint that rejects ``tools`` with HTTP 400/422
  switches to json, remembered per endpoint and model;
- ``off``: no tools (the chat uses the regex router).

The tools: ``solve``, ``edit_model`` (kept), ``what_if`` (not kept),
``sweep_parameter``, ``explain_infeasibility``, ``sensitivity``,
``minimize_function`` (a black-box expression, :mod:`modeling.blackbox`) and
``solve_equality_nlp`` (:func:`modeling.numeric.minimize`).

The system prompt is the prompt file ``agent/prompts/tool_chat.md`` (rendered with
``$model``, the document abridged), so a tuned prompt set replaces it like any
other prompt; the JSON action protocol appended in ``json`` mode stays in code,
since the parser depends on it.

At most :attr:`ToolChatConfig.max_tool_calls` tools run per turn; past the cap
the LLM is told so and asked for its answer from what it has.
"""

from __future__ import annotations

import copy
import json
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent.errors import LLMError, ParseError
from agent.llm import ChatMessage, ChatModel, LLMReply, ToolCall, extract_json, system, user
from agent.prompts import PromptSet
from modeling.diagnostics import DiagnosticsError, solution_report
from modeling.errors import FormulationError
from modeling.format import format_number
from modeling.result import SolveResult, Status
from modeling.scenarios import apply_changes, compare, snapshot, yaml_diff
from modeling.worker import (
    HardLimitExceeded,
    WorkerCrashed,
    call_isolated,
    diagnose_isolated,
    grace,
    solve_isolated,
)

__all__ = [
    "TOOL_MODES",
    "Tool",
    "ToolChat",
    "ToolChatConfig",
    "ToolMode",
    "ToolRecord",
    "ToolTurn",
    "Workspace",
    "as_tool_mode",
    "compact_json",
    "default_tools",
    "tool_schemas",
]

ToolMode = Literal["native", "json", "off", "auto"]
TOOL_MODES: tuple[str, ...] = get_args(ToolMode)


@dataclass(frozen=True)
class ToolChatConfig:
    """How the tool chat runs; ``from_env`` reads ``OPTIWISE_TOOL_MODE`` and friends."""

    tool_mode: ToolMode = "off"
    """native, json, auto (native, else json) or off (the regex router)."""
    max_tool_calls: int = 6
    """Tools run per turn at most; further calls are refused and the LLM must answer."""
    time_limit: float | None = 60.0
    """Seconds per solve inside a tool."""
    backend: str = "auto"
    """Modeling backend of the solves."""
    max_sweep_points: int = 25
    """Most points a parametric sweep may solve."""
    max_result_chars: int = 4000
    """A tool result longer than this (as JSON) has its lists shortened."""

    def __post_init__(self) -> None:
        if self.tool_mode not in TOOL_MODES:
            raise ValueError(
                f"tool_mode must be one of {', '.join(TOOL_MODES)}, got {self.tool_mode!r}"
            )
        if self.max_tool_calls < 1:
            raise ValueError(f"max_tool_calls must be >= 1, got {self.max_tool_calls}")

    @classmethod
    def from_env(cls, **overrides: Any) -> ToolChatConfig:
        """Defaults, then ``OPTIWISE_TOOL_MODE`` / ``OPTIWISE_MAX_TOOL_CALLS``, then overrides."""
        values: dict[str, Any] = {}
        mode = os.environ.get("OPTIWISE_TOOL_MODE", "").strip().lower()
        if mode:
            values["tool_mode"] = mode
        cap = os.environ.get("OPTIWISE_MAX_TOOL_CALLS", "").strip()
        if cap:
            try:
                values["max_tool_calls"] = int(cap)
            except ValueError:
                raise ValueError(
                    f"OPTIWISE_MAX_TOOL_CALLS must be an integer, got {cap!r}"
                ) from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# ------------------------------------------------------------------ workspace


@dataclass
class Workspace:
    """The model a turn works on: an edit replaces it, a what-if or a sweep does not."""

    document: dict[str, Any]
    status: str = "pending"
    objective: float | None = None
    solution: dict[str, Any] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)
    """What each kept edit changed, in order (the thread's change log)."""
    edits: int = 0
    """Edits applied during this turn."""
    sweeps: list[dict[str, Any]] = field(default_factory=list)
    """Every sweep of this turn: ``{"parameter", "index", "x", "y", "rows"}`` (for a plot)."""

    @classmethod
    def of(
        cls,
        document: Mapping[str, Any],
        status: str | None = None,
        objective: float | None = None,
        solution: Mapping[str, Any] | None = None,
        changes: Sequence[str] = (),
    ) -> Workspace:
        """A workspace on a copy of ``document`` (and its last solve, if known)."""
        return cls(
            document=copy.deepcopy(dict(document)),
            status=str(status or "pending"),
            objective=objective,
            solution=dict(solution or {}),
            changes=list(changes),
        )

    def snapshot(self) -> dict[str, Any]:
        return {"status": self.status, "objective": self.objective, "solution": self.solution}


# ---------------------------------------------------------------- compact JSON


def _round(value: Any, digits: int = 6) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return float(f"{value:.{digits}g}")
    if isinstance(value, Mapping):
        return {str(k): _round(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v, digits) for v in value]
    try:
        return _round(float(value), digits)  # numpy scalars
    except (TypeError, ValueError):
        return str(value)


def _shorten(value: Any, limit: int) -> Any:
    if isinstance(value, Mapping):
        return {k: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list) and len(value) > limit:
        return [*(_shorten(v, limit) for v in value[:limit]), f"... {len(value) - limit} more"]
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value]
    if isinstance(value, str) and len(value) > 40 * limit:
        return value[: 40 * limit] + " ..."
    return value


def compact_json(value: Any, max_chars: int = 4000) -> str:
    """``value`` as short JSON for an LLM: 6 significant digits, lists cut until it fits."""
    data = _round(value)
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    limit = 40
    while len(text) > max_chars and limit > 1:
        limit //= 2
        text = json.dumps(_shorten(data, limit), separators=(",", ":"), ensure_ascii=False)
    return text


# ------------------------------------------------------------- tool arguments

Changes = dict[str, float | dict[str, float]]
_CHANGES_DOC = (
    'New parameter values: {"budget": 900} for a scalar, {"demand": {"north": 300}} for '
    'entries of an indexed parameter (a multi-part index is written "a,b").'
)
_SCALE_DOC = (
    'Multiply whole parameters by a factor: {"budget": 0.9} cuts every entry of budget by 10%.'
)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoArgs(_Args):
    """No arguments."""


class ChangeArgs(_Args):
    """A change set: absolute new values and/or factors."""

    changes: Changes = Field(default_factory=dict, description=_CHANGES_DOC)
    scale: dict[str, float] = Field(default_factory=dict, description=_SCALE_DOC)

    @model_validator(mode="after")
    def _something(self) -> ChangeArgs:
        if not self.changes and not self.scale:
            raise ValueError("give at least one entry in 'changes' or 'scale'")
        return self


class SweepArgs(_Args):
    """One parameter (or one entry of it) moved over a range, re-solving at each point."""

    parameter: str = Field(description="The parameter to vary.")
    index: str | None = Field(
        default=None,
        description='The entry of an indexed parameter ("north", or "a,b"); omit for a scalar.',
    )
    start: float = Field(description="First value.")
    stop: float = Field(description="Last value.")
    points: int = Field(default=5, ge=2, description="Number of values, evenly spaced (>= 2).")


class SensitivityArgs(_Args):
    """Options of the sensitivity report."""

    limit: int = Field(default=12, ge=1, le=100, description="Rows per table at most.")


class VariableBounds(_Args):
    lower: float | None = None
    upper: float | None = None
    start: float | None = None


class MinimizeArgs(_Args):
    """A function of a few scalar variables, in the formulation's expression language."""

    expression: str = Field(description='e.g. "(x - 1)**2 + (y + 2)**2"')
    variables: dict[str, VariableBounds] = Field(
        description="Each variable with optional lower/upper bounds and start."
    )
    sense: Literal["minimize", "maximize"] = "minimize"
    constants: dict[str, float] = Field(default_factory=dict)


NLP_METHODS = ("sketched-newton", "slsqp", "trust-constr")


class EqualityNLPArgs(_Args):
    """min f(x) s.t. c(x) = 0 over scalar variables, in the formulation's expression language."""

    objective: str = Field(description='e.g. "(x - 1)**2 + (y - 2)**2"')
    variables: dict[str, float | None] = Field(
        description="Each variable with its starting value (null for 0)."
    )
    equalities: list[str] = Field(
        default_factory=list, description='Expressions that must equal 0, e.g. ["x + y - 1"].'
    )
    sense: Literal["minimize", "maximize"] = "minimize"
    constants: dict[str, float] = Field(default_factory=dict)
    method: Literal["sketched-newton", "slsqp", "trust-constr"] = Field(
        default="sketched-newton",
        description="sketched-newton (exact augmented Lagrangian, randomized sketching), or "
        "SciPy's slsqp / trust-constr.",
    )


# ------------------------------------------------------------------- the tools


class ToolError(Exception):
    """A tool could not do what was asked; the message goes back to the LLM."""


@dataclass(frozen=True)
class Tool:
    """A function the LLM may call: name, description, argument model and implementation."""

    name: str
    description: str
    args: type[BaseModel]
    run: Callable[[Workspace, Any, ToolChatConfig], dict[str, Any]]

    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry (the argument model's JSON schema)."""
        params = self.args.model_json_schema()
        params.pop("title", None)
        params.pop("description", None)
        params.setdefault("properties", {})
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": params},
        }


def _solve_doc(doc: Mapping[str, Any], cfg: ToolChatConfig) -> SolveResult:
    """A tool's solve, in a killable worker: killed at the time limit plus a grace period
    (:func:`modeling.worker.solve_isolated`), so no what-if or sweep point can hang the chat."""
    return solve_isolated(dict(doc), backend=cfg.backend, time_limit=cfg.time_limit)


def _hard_limit(cfg: ToolChatConfig) -> float | None:
    """When a tool's worker is killed: its time limit plus :func:`modeling.worker.grace`."""
    return None if cfg.time_limit is None else cfg.time_limit + grace(cfg.time_limit)


def _issues(result: SolveResult) -> list[str]:
    out = []
    for issue in result.errors[:5]:
        out.append(str(getattr(issue, "message", issue)))
    return out or ([result.message] if result.message else [])


def _scaled(pdef: Any, factor: float, name: str) -> Any:
    """A parameter's definition with every value multiplied by ``factor``."""

    def scale(v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ToolError(f"parameter {name!r} holds a non-number ({v!r}); cannot scale it")
        return v * factor

    def walk(node: Any) -> Any:
        if isinstance(node, Mapping):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return scale(node)

    if not isinstance(pdef, Mapping):
        return scale(pdef)
    new = dict(pdef)
    if new.get("rows") is not None:
        new["rows"] = [[*row[:-1], scale(row[-1])] for row in new["rows"]]
    elif "values" in new:
        new["values"] = walk(new["values"])
    elif "value" in new:
        new["value"] = scale(new["value"])
    else:
        raise ToolError(f"parameter {name!r} has no values to scale")
    return new


def _changed(doc: Mapping[str, Any], args: ChangeArgs) -> dict[str, Any]:
    """A copy of ``doc`` with the change set applied; ToolError (naming the key) if it cannot."""
    try:
        new = apply_changes(doc, args.changes) if args.changes else copy.deepcopy(dict(doc))
    except (ValueError, FormulationError) as exc:
        raise ToolError(str(exc)) from exc
    params = new.setdefault("parameters", {})
    for name, factor in args.scale.items():
        if name not in params:
            known = ", ".join(sorted(params)) or "none"
            raise ToolError(f"no parameter named {name!r}; parameters: {known}")
        params[name] = _scaled(params[name], factor, name)
    return new


def _describe(args: ChangeArgs) -> str:
    parts = [f"{k} = {json.dumps(v)}" for k, v in args.changes.items()]
    parts += [f"{k} × {format_number(v)}" for k, v in args.scale.items()]
    return "; ".join(parts)


def _result_summary(result: SolveResult, values: int = 15) -> dict[str, Any]:
    out: dict[str, Any] = {"status": str(result.status), "objective": result.objective}
    if not result.status.has_solution:
        out["message"] = result.message
        return out
    report = solution_report(result)
    nonzero = [(k, v) for k, v in report.values if abs(v) > 1e-9]
    out["values"] = dict(nonzero[:values])
    if len(nonzero) > values:
        out["values_omitted"] = len(nonzero) - values
    out["binding"] = [b.label for b in report.binding]
    return out


def _tool_solve(ws: Workspace, args: NoArgs, cfg: ToolChatConfig) -> dict[str, Any]:
    result = _solve_doc(ws.document, cfg)
    if result.status in (Status.INVALID, Status.ERROR):
        raise ToolError("the current model does not solve: " + "; ".join(_issues(result)))
    snap = snapshot(result)
    ws.status, ws.objective, ws.solution = snap["status"], snap["objective"], snap["solution"]
    return _result_summary(result)


def _tool_edit(ws: Workspace, args: ChangeArgs, cfg: ToolChatConfig) -> dict[str, Any]:
    new = _changed(ws.document, args)
    result = _solve_doc(new, cfg)
    if result.status in (Status.INVALID, Status.ERROR):
        raise ToolError(
            "the changed model is not valid, so nothing was applied: " + "; ".join(_issues(result))
        )
    before = ws.snapshot()
    after = snapshot(result)
    diff = yaml_diff(ws.document, new)
    ws.document = new
    ws.status, ws.objective, ws.solution = after["status"], after["objective"], after["solution"]
    ws.changes.append(_describe(args))
    ws.edits += 1
    comparison = compare(before, after)
    return {
        "applied": _describe(args),
        **_result_summary(result),
        "objective_before": before["objective"],
        "delta": comparison.delta,
        "changed_decisions": comparison.changed[:10],
        "diff": diff,
    }


def _tool_what_if(ws: Workspace, args: ChangeArgs, cfg: ToolChatConfig) -> dict[str, Any]:
    new = _changed(ws.document, args)
    result = _solve_doc(new, cfg)
    if result.status in (Status.INVALID, Status.ERROR):
        raise ToolError("the changed model is not valid: " + "; ".join(_issues(result)))
    before = ws.snapshot()
    if before["objective"] is None and not before["solution"]:
        before = snapshot(_solve_doc(ws.document, cfg))
    comparison = compare(before, snapshot(result))
    return {
        "kept": False,
        "change": _describe(args),
        **_result_summary(result),
        "objective_before": before["objective"],
        "delta": comparison.delta,
        "changed_decisions": comparison.changed[:10],
    }


def _tool_sweep(ws: Workspace, args: SweepArgs, cfg: ToolChatConfig) -> dict[str, Any]:
    if args.points > cfg.max_sweep_points:
        raise ToolError(f"at most {cfg.max_sweep_points} points per sweep; got {args.points}")
    change: float | dict[str, float]
    rows: list[dict[str, Any]] = []
    for i in range(args.points):
        x = args.start + (args.stop - args.start) * i / (args.points - 1)
        change = {args.index: x} if args.index is not None else x
        new = _changed(ws.document, ChangeArgs(changes={args.parameter: change}))
        result = _solve_doc(new, cfg)
        if result.status in (Status.INVALID, Status.ERROR):
            raise ToolError(f"at {args.parameter} = {x:g}: " + "; ".join(_issues(result)))
        rows.append({"value": x, "status": str(result.status), "objective": result.objective})
    label = args.parameter + (f"[{args.index}]" if args.index is not None else "")
    sweep = {
        "parameter": args.parameter,
        "index": args.index,
        "x": [r["value"] for r in rows],
        "y": [r["objective"] for r in rows],
        "rows": rows,
        "x_label": label,
        "y_label": "objective",
    }
    ws.sweeps.append(sweep)
    return {
        "parameter": label,
        "table": rows,
        "plot": "kept for display (objective vs " + label + ")",
    }


def _tool_infeasible(ws: Workspace, args: NoArgs, cfg: ToolChatConfig) -> dict[str, Any]:
    budget = cfg.time_limit if cfg.time_limit is not None else 60.0
    try:
        report = diagnose_isolated("infeasible", dict(ws.document), time_limit=budget)
    except (DiagnosticsError, FormulationError, HardLimitExceeded, WorkerCrashed) as exc:
        raise ToolError(str(exc)) from exc
    members = [
        {
            "label": m.label,
            "kind": m.kind,
            "expression": m.expression,
            "data": m.data,
            "location": m.location,
        }
        for m in report.members
    ]
    return {"irreducible": report.irreducible, "members": members, "message": report.message}


def _tool_sensitivity(ws: Workspace, args: SensitivityArgs, cfg: ToolChatConfig) -> dict[str, Any]:
    try:
        report = diagnose_isolated(
            "sensitivity", dict(ws.document), fix_integers=True, time_limit=cfg.time_limit
        )
    except (DiagnosticsError, FormulationError, HardLimitExceeded, WorkerCrashed) as exc:
        raise ToolError(str(exc)) from exc
    cons = sorted(report.constraints, key=lambda c: -abs(c.dual))
    binding = [c for c in cons if abs(c.slack) <= 1e-7 * max(1.0, abs(c.rhs))]
    return {
        "objective": report.objective,
        "binding": [c.label for c in binding],
        "constraints": [
            {
                "label": c.label,
                "dual": c.dual,
                "slack": c.slack,
                "rhs": c.rhs,
                "rhs_range": [c.rhs_lower, c.rhs_upper],
            }
            for c in cons[: args.limit]
        ],
        "variables": [
            {
                "label": v.label,
                "value": v.value,
                "reduced_cost": v.reduced_cost,
                "cost_range": [v.cost_lower, v.cost_upper],
            }
            for v in report.variables[: args.limit]
        ],
        "note": report.note,
    }


def _tool_minimize(ws: Workspace, args: MinimizeArgs, cfg: ToolChatConfig) -> dict[str, Any]:
    from modeling.blackbox import minimize_function

    variables = {n: b.model_dump() for n, b in args.variables.items()}
    try:
        result = call_isolated(
            minimize_function,
            (args.expression, variables),
            {"sense": args.sense, "constants": args.constants},
            time_limit=_hard_limit(cfg),
        )
    except (ValueError, HardLimitExceeded, WorkerCrashed) as exc:  # FormulationError included
        raise ToolError(str(exc)) from exc
    if result.status == "error":
        raise ToolError(result.message)
    return {
        "status": result.status,
        "objective": result.objective,
        "values": result.values,
        "method": result.method,
    }


def _tool_nlp(ws: Workspace, args: EqualityNLPArgs, cfg: ToolChatConfig) -> dict[str, Any]:
    from modeling.numeric import minimize

    if not args.variables:
        raise ToolError("declare at least one variable")
    try:
        result = call_isolated(
            minimize,
            (args.objective, args.variables),
            {
                "equalities": args.equalities,
                "constants": args.constants,
                "sense": args.sense,
                "method": args.method,
            },
            time_limit=_hard_limit(cfg),
        )
    except (ValueError, HardLimitExceeded, WorkerCrashed) as exc:  # FormulationError included
        raise ToolError(str(exc)) from exc
    if result.status == "error":
        raise ToolError(result.message or result.termination)
    return {
        "status": result.status,
        "termination": result.termination,
        "objective": result.objective,
        "values": result.solution,
        "multipliers": None if result.multipliers is None else result.multipliers.tolist(),
        "kkt_residual": result.kkt_residual,
        "iterations": result.iterations,
        "method": result.method,
    }


def default_tools() -> list[Tool]:
    """The tools of the chat, in the order the LLM sees them."""
    return [
        Tool(
            "solve",
            "Solve the current model: status, objective, nonzero values, binding constraints.",
            NoArgs,
            _tool_solve,
        ),
        Tool(
            "edit_model",
            "Change parameter values of the current model and KEEP the change (checked and "
            "solved; nothing is applied if the changed model is invalid). Returns the new "
            "result and the comparison with before.",
            ChangeArgs,
            _tool_edit,
        ),
        Tool(
            "what_if",
            "Solve the model with changed parameter values WITHOUT keeping the change; "
            "returns the result and the comparison with the current solution.",
            ChangeArgs,
            _tool_what_if,
        ),
        Tool(
            "sweep_parameter",
            "Parametric sweep: solve for evenly spaced values of one parameter (or one entry) "
            "and return a table of objective vs value (the change is not kept).",
            SweepArgs,
            _tool_sweep,
        ),
        Tool(
            "explain_infeasibility",
            "For an infeasible model: an irreducible infeasible subset (IIS) of constraints "
            "and bounds, with the data they use.",
            NoArgs,
            _tool_infeasible,
        ),
        Tool(
            "sensitivity",
            "Duals (shadow prices), slacks and ranging of the current model's constraints, "
            "reduced costs of variables, and which constraints are binding (LP; a MILP with "
            "its integers fixed).",
            SensitivityArgs,
            _tool_sensitivity,
        ),
        Tool(
            "minimize_function",
            "Minimise or maximise a black-box expression of a few scalar variables (not the "
            "model): global search when every bound is finite, multi-start local otherwise.",
            MinimizeArgs,
            _tool_minimize,
        ),
        Tool(
            "solve_equality_nlp",
            "Solve a smooth nonlinear program with equality constraints, min f(x) s.t. "
            "c(x) = 0, over a few scalar variables (not the model): exact derivatives, "
            "sketched Newton by default; returns the point, multipliers and KKT residual.",
            EqualityNLPArgs,
            _tool_nlp,
        ),
    ]


def tool_schemas(tools: Sequence[Tool]) -> list[dict[str, Any]]:
    """The OpenAI ``tools`` list of ``tools``."""
    return [t.schema() for t in tools]


# ------------------------------------------------------------------- the loop


@dataclass
class ToolRecord:
    """One tool call of a turn: what was asked, whether it ran, and what came back."""

    name: str
    arguments: Any
    ok: bool
    result: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arguments": self.arguments,
            "ok": self.ok,
            "result": self.result,
        }


@dataclass
class ToolTurn:
    """The outcome of one tool-chat turn."""

    answer: str
    workspace: Workspace
    calls: list[ToolRecord] = field(default_factory=list)
    mode: str = "native"
    """The protocol the turn ran with (native or json)."""
    capped: bool = False
    """True when the LLM asked for more tools than ``max_tool_calls`` allowed."""
    replies: list[LLMReply] = field(default_factory=list)

    @property
    def edited(self) -> bool:
        return self.workspace.edits > 0


JSON_PROTOCOL = """
You cannot call functions directly. Reply with exactly one JSON object and nothing else:
{{"tool": "<name>", "arguments": {{...}}}} to call a tool (its result comes back in the
next message), or {{"final": "<your answer to the person>"}} when you are done.

Tools (name: description; arguments as JSON schema):
{tools}
"""

_CAP_NOTE = (
    "The tool budget of this turn ({cap} calls) is used up; no more tools will run. "
    "Answer the person now from the results above."
)

_REMEMBERED: dict[str, str] = {}  # endpoint key -> "native" | "json" (auto detection)
_REMEMBER_LOCK = threading.Lock()


def _endpoint_key(llm: ChatModel) -> str:
    """Endpoint and model of an OpenAIChatModel; the object itself for any other ChatModel."""
    settings = getattr(llm, "settings", None)
    base = getattr(settings, "base_url", None) if settings is not None else None
    name = getattr(llm, "model_name", None) or type(llm).__name__
    return f"{base or f'{type(llm).__name__}@{id(llm):x}'}|{name}"


def _rejects_tools(err: LLMError) -> bool:
    """True for an HTTP 400/422 that complains about tool calling (not about the prompt)."""
    if err.status_code not in (400, 422):
        return False
    text = err.message.lower()
    return "tool" in text or "function" in text


def _model_outline(doc: Mapping[str, Any], limit: int = 3000) -> str:
    short = dict(doc)
    short.pop("problem", None)
    return compact_json(short, max_chars=limit)


class ToolChat:
    """Runs tool-calling turns against one LLM; remembers what ``auto`` detected."""

    def __init__(
        self,
        llm: ChatModel,
        config: ToolChatConfig | None = None,
        tools: Sequence[Tool] | None = None,
        prompts: PromptSet | None = None,
    ) -> None:
        """Tools on ``llm``; the system prompt is ``prompts["tool_chat"]`` (default: the packaged one).

        The prompt is rendered with ``$model``, the current document abridged to compact
        JSON; a tuned set (``optiwise tune --components tool_chat``) replaces it.
        """
        self.llm = llm
        self.config = config if config is not None else ToolChatConfig.from_env()
        self.prompts = prompts if prompts is not None else PromptSet.default()
        self.tools = list(tools) if tools is not None else default_tools()
        self._by_name = {t.name: t for t in self.tools}

    @property
    def mode(self) -> str:
        """The protocol the next turn uses: native, json or off (auto resolved if known)."""
        mode = self.config.tool_mode
        if mode == "auto":
            with _REMEMBER_LOCK:
                return _REMEMBERED.get(_endpoint_key(self.llm), "auto")
        return mode

    def _remember(self, mode: str) -> None:
        with _REMEMBER_LOCK:
            _REMEMBERED[_endpoint_key(self.llm)] = mode

    # ------------------------------------------------------------- one call

    def call_tool(self, ws: Workspace, name: str, arguments: Any) -> ToolRecord:
        """Validate ``arguments`` (JSON text or a dict) and run tool ``name`` on ``ws``.

        Never raises for the LLM's mistakes: an unknown tool, arguments that do not
        validate, or a tool that fails come back as ``{"error": ...}`` with nothing applied.
        """
        tool = self._by_name.get(name)
        shown: Any = arguments
        if tool is None:
            known = ", ".join(self._by_name)
            return ToolRecord(name, shown, False, {"error": f"no tool {name!r}; tools: {known}"})
        try:
            if isinstance(arguments, str):
                shown = json.loads(arguments) if arguments.strip() else {}
            args = tool.args.model_validate(shown if shown is not None else {})
        except json.JSONDecodeError as exc:
            return ToolRecord(name, arguments, False, {"error": f"arguments are not JSON: {exc}"})
        except ValidationError as exc:
            problems = [
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()
            ]
            return ToolRecord(
                name,
                shown,
                False,
                {"error": "invalid arguments, nothing was run: " + "; ".join(problems)},
            )
        try:
            result = tool.run(ws, args, self.config)
        except ToolError as exc:
            return ToolRecord(name, shown, False, {"error": str(exc)})
        return ToolRecord(name, shown, True, result)

    def _result_text(self, record: ToolRecord) -> str:
        return compact_json(record.result, self.config.max_result_chars)

    # ------------------------------------------------------------- the turn

    def run(
        self,
        message: str,
        workspace: Workspace,
        history: Sequence[Mapping[str, str]] = (),
    ) -> ToolTurn:
        """Answer ``message`` about ``workspace`` with tools (it is changed by edits).

        ``history`` is the conversation so far (``{"role", "content"}``; the last
        few turns are sent). Raises ``ValueError`` in mode ``off``, and
        :class:`~agent.errors.LLMError` if the LLM cannot be reached.
        """
        mode = self.mode
        if mode == "off":
            raise ValueError("tool_mode is off: the chat uses the regex router")
        instructions = self.prompts.render("tool_chat", model=_model_outline(workspace.document))
        base: list[ChatMessage] = [system(instructions)]
        for past in list(history)[-6:]:
            role = past.get("role", "user")
            if role in ("user", "assistant"):
                base.append({"role": role, "content": str(past.get("content", ""))})
        base.append(user(message))
        turn = ToolTurn(answer="", workspace=workspace)
        if mode in ("native", "auto"):
            try:
                self._native(base, turn)
                if mode == "auto":
                    self._remember("native")
                turn.mode = "native"
                return turn
            except LLMError as err:
                if mode != "auto" or not _rejects_tools(err) or turn.replies:
                    raise
                self._remember("json")
        turn.mode = "json"
        self._json(base, turn)
        return turn

    def _native(self, messages: list[ChatMessage], turn: ToolTurn) -> None:
        schemas = tool_schemas(self.tools)
        cap = self.config.max_tool_calls
        messages = list(messages)
        for _round in range(cap + 2):
            final_round = len(turn.calls) >= cap
            reply = self.llm.complete(
                messages, tools=schemas, tool_choice="none" if final_round else "auto"
            )
            turn.replies.append(reply)
            if reply.tool_calls and final_round:
                turn.capped = True  # asked for more after the cap: ignored
            if not reply.tool_calls or final_round:
                turn.answer = reply.content.strip() or self._fallback_answer(turn)
                return
            messages.append(
                {
                    "role": "assistant",
                    "content": reply.content or "",
                    "tool_calls": [c.to_wire() for c in reply.tool_calls],
                }
            )
            for call in reply.tool_calls:
                record = self._run_call(turn, call)
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": self._result_text(record)}
                )
            if len(turn.calls) >= cap:
                messages.append(user(_CAP_NOTE.format(cap=cap)))
        turn.answer = self._fallback_answer(turn)

    def _run_call(self, turn: ToolTurn, call: ToolCall) -> ToolRecord:
        if len(turn.calls) >= self.config.max_tool_calls:
            turn.capped = True
            return ToolRecord(
                call.name,
                call.arguments,
                False,
                {"error": f"not run: the tool budget of this turn is used up ({len(turn.calls)})"},
            )
        record = self.call_tool(turn.workspace, call.name, call.arguments)
        turn.calls.append(record)
        return record

    def _json(self, messages: list[ChatMessage], turn: ToolTurn) -> None:
        listing = "\n".join(
            f"- {t.name}: {t.description} arguments: "
            + json.dumps(t.schema()["function"]["parameters"], separators=(",", ":"))
            for t in self.tools
        )
        messages = list(messages)
        messages[0] = system(str(messages[0]["content"]) + JSON_PROTOCOL.format(tools=listing))
        cap = self.config.max_tool_calls
        bad_replies = 0
        for _round in range(cap + 4):
            reply = self.llm.complete(messages)
            turn.replies.append(reply)
            messages.append({"role": "assistant", "content": reply.content})
            try:
                action = extract_json(reply.content)
            except ParseError as err:
                if "{" not in reply.content or bad_replies >= 1:
                    turn.answer = reply.content.strip() or self._fallback_answer(turn)
                    return
                bad_replies += 1
                messages.append(
                    user(
                        f"That reply is not a JSON action ({err}). Reply with one JSON object: "
                        '{"tool": ..., "arguments": {...}} or {"final": "..."}.'
                    )
                )
                continue
            if "final" in action:
                turn.answer = str(action["final"]).strip() or self._fallback_answer(turn)
                return
            name = action.get("tool")
            if not isinstance(name, str):
                messages.append(
                    user('Missing "tool" (or "final") in the JSON action; reply again.')
                )
                continue
            if len(turn.calls) >= cap:
                turn.capped = True
                messages.append(user(_CAP_NOTE.format(cap=cap) + ' Reply {"final": "..."}.'))
                continue
            call = ToolCall(id=f"json_{len(turn.calls)}", name=name, arguments="")
            record = self.call_tool(turn.workspace, call.name, action.get("arguments") or {})
            turn.calls.append(record)
            note = ""
            if len(turn.calls) >= cap:
                note = "\n" + _CAP_NOTE.format(cap=cap) + ' Reply {"final": "..."}.'
            messages.append(user(f"Result of {name}: {self._result_text(record)}{note}"))
        turn.answer = self._fallback_answer(turn)

    def _fallback_answer(self, turn: ToolTurn) -> str:
        """An answer built from the tool results when the LLM gave none."""
        if not turn.calls:
            return "I could not answer that with the tools available."
        lines = ["Here is what the tools found:"]
        for record in turn.calls:
            lines.append(f"- {record.name}: {compact_json(record.result, 400)}")
        return "\n".join(lines)


def as_tool_mode(value: str) -> ToolMode:
    """``value`` checked as a :data:`ToolMode` (ValueError naming the choices otherwise)."""
    if value not in TOOL_MODES:
        raise ValueError(f"tool_mode must be one of {', '.join(TOOL_MODES)}, got {value!r}")
    return cast(ToolMode, value)
