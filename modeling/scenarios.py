"""Scenarios over a formulation document: change parameters, re-solve, compare, diff, explain.

Everything here works on documents (dicts in spec v1) and solve results, and
calls no LLM: the agent's chat, the app and scripts share it::

    from modeling.scenarios import what_if
    report = what_if(doc, {"demand": {"chicago": 400}})
    print(report.comparison.to_text())   # objective and decisions, before → after
    print(report.diff)                   # the YAML diff, hunks named by their place

Numbers are written by :func:`modeling.format.format_number`, so a
chat answer and ``optiwise explain`` print the same digits.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from modeling.compiler import CompiledModel
from modeling.data import resolve_set
from modeling.errors import did_you_mean
from modeling.format import format_number
from modeling.formulation import Formulation, load
from modeling.result import SolveResult, Status
from modeling.solve import solve

__all__ = [
    "Comparison",
    "WhatIf",
    "apply_changes",
    "compare",
    "explain_solution",
    "snapshot",
    "solution_of",
    "what_if",
    "yaml_diff",
]

_ZERO = 1e-9


def _has_solution(status: str) -> bool:
    """True for a status string naming a :class:`Status` with a solution."""
    return status in _WITH_SOLUTION


_WITH_SOLUTION = frozenset(s.value for s in Status if s.has_solution)


def solution_of(result: SolveResult) -> dict[str, Any]:
    """Variable values in the spec's JSON form (``{"ship": {"a,b": 3.0}}``)."""
    spec = result.to_spec()
    variables = spec.get("variables") or {}
    return dict(variables)


def snapshot(result: SolveResult) -> dict[str, Any]:
    """The parts of a result a comparison needs, as plain data."""
    return {
        "status": str(result.status),
        "objective": result.objective,
        "solution": solution_of(result),
    }


def _solve(
    doc: Mapping[str, Any] | CompiledModel,
    backend: str,
    time_limit: float | None,
    isolated: bool = True,
) -> SolveResult:
    """A scenario's solve: in a killable worker (killed at ``time_limit`` plus
    :func:`modeling.worker.grace`, so a changed model that hangs while it is built cannot
    hang the caller), or here with ``isolated=False``."""
    source = doc if isinstance(doc, CompiledModel) else dict(doc)
    if isolated:
        from modeling.worker import solve_isolated

        return solve_isolated(source, backend=backend, time_limit=time_limit)
    return solve(source, backend=backend, time_limit=time_limit)


# ------------------------------------------------------------------ what-if


def _key_parts(key: Any) -> list[Any]:
    if isinstance(key, tuple | list):
        return list(key)
    if isinstance(key, str) and "," in key:
        return [p.strip() for p in key.split(",")]
    return [key]


def _positions(f: Formulation, sets: Sequence[str], key: Any) -> list[int]:
    parts = _key_parts(key)
    out: list[int] = []
    for name in sets:
        issues: list[Any] = []
        data = resolve_set(name, f.sets.get(name), issues)
        if data is None:
            raise ValueError(f"set {name!r} is not defined in the document")
        take = data.dim
        if len(parts) < take:
            raise ValueError(f"index {key!r} has too few parts for sets {list(sets)}")
        piece = tuple(parts[:take]) if take > 1 else parts[0]
        parts = parts[take:]
        pos = data.lookup(piece)
        if pos is None and take > 1:
            pos = data.lookup(tuple(str(p) for p in piece))
        if pos is None:
            hint = did_you_mean(str(piece), [str(e) for e in data.elements])
            raise ValueError(
                f"{piece!r} is not an element of {name}" + (f"; {hint}" if hint else "")
            )
        out.append(pos)
    if parts:
        raise ValueError(f"index {key!r} has too many parts for sets {list(sets)}")
    return out


def _set_entry(f: Formulation, pdef: dict[str, Any], key: Any, value: float, name: str) -> None:
    index = pdef.get("index") or []
    index = [index] if isinstance(index, str) else list(index)
    if "rows" in pdef and pdef.get("rows") is not None:
        pos = _positions(f, index, key)  # validates the key
        target: list[Any] = []
        for s, p in zip(index, pos, strict=True):
            el = resolve_set(s, f.sets.get(s), []).elements[p]  # type: ignore[union-attr]
            target.extend(el if isinstance(el, tuple) else (el,))
        for row in pdef["rows"]:
            if [str(x) for x in row[:-1]] == [str(x) for x in target]:
                row[-1] = value
                return
        pdef["rows"].append([*target, value])
        return
    values = pdef.get("values")
    if isinstance(values, Mapping):
        parts = _key_parts(key)
        node: Any = values
        for depth, part in enumerate(parts):
            match = next((k for k in node if str(k) == str(part)), None)
            last = depth == len(parts) - 1
            if last:
                node[match if match is not None else str(part)] = value
                return
            if match is None:
                node[str(part)] = {}
                match = str(part)
            node = node[match]
        return
    if isinstance(values, list):
        pos = _positions(f, index, key)
        node = values
        for depth, p in enumerate(pos):
            if depth == len(pos) - 1:
                node[p] = value
            else:
                node = node[p]
        return
    raise ValueError(f"parameter {name!r} has no values to change")


def _number(value: Any) -> float:
    """A parameter value: ints stay ints (so a diff shows 300, not 300.0)."""
    if isinstance(value, bool):
        raise ValueError(f"a parameter value is a number, not {value!r}")
    if isinstance(value, int):
        return value
    return float(value)


def apply_changes(doc: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``doc`` with parameter values changed.

    ``changes`` maps a parameter name to a number (a scalar parameter) or to
    ``{index: value}`` where an index is an element, a tuple of elements, or
    the spec's ``"e1,e2"`` text::

        apply_changes(doc, {"budget": 5000, "demand": {"chicago": 400}})
    """
    new = copy.deepcopy(dict(doc))
    if "variables" not in new and isinstance(new.get("formulation"), Mapping):
        new = dict(new["formulation"])
    f = load(new)
    params = new.setdefault("parameters", {})
    for name, change in changes.items():
        if name not in params:
            hint = did_you_mean(name, list(params))
            raise ValueError(f"no parameter named {name!r}" + (f"; {hint}" if hint else ""))
        current = params[name]
        if not isinstance(current, Mapping):
            if isinstance(change, Mapping):
                raise ValueError(f"parameter {name!r} is a scalar; give a number")
            params[name] = _number(change)
            continue
        if not isinstance(change, Mapping):
            raise ValueError(
                f"parameter {name!r} is indexed by {current.get('index')}; "
                "give {index: value} for the entries to change"
            )
        for key, value in change.items():
            _set_entry(f, params[name], key, _number(value), name)
    return new


_YAML_KEY = re.compile(r"^(?:- )?('[^']*'|\"[^\"]*\"|[^\s:'\"][^:]*?):(?:\s|$)")
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def _yaml_path(lines: Sequence[str], index: int) -> str:
    """The key path of line ``index`` of a block-style YAML text, read from indentation.

    List items that carry a ``name`` show as ``[name]``:
    ``constraints[meet_demand].expression``.
    """
    path: list[str] = []
    key_limit: int | None = None  # an ancestor key is indented less than this
    item_limit: int | None = None  # an ancestor list item is indented less than this
    for k in range(min(index, len(lines) - 1), -1, -1):
        line = lines[k].rstrip("\n")
        stripped = line.lstrip(" ")
        if not stripped:
            continue
        indent = len(line) - len(stripped)
        m = _YAML_KEY.match(stripped)
        if stripped.startswith("- "):
            if item_limit is not None and indent >= item_limit:
                continue
            if m and m.group(1) == "name" and k != index:
                path.append(f"[{stripped.split(':', 1)[1].strip()}]")
            key_limit, item_limit = indent + 1, indent
            continue
        if key_limit is not None and indent >= key_limit:
            continue
        if m:
            path.append(m.group(1).strip("'\""))
        key_limit = item_limit = indent
        if indent == 0:
            break
    out = ""
    for part in reversed(path):
        out += part if part.startswith("[") or not out else "." + part
    return out


def yaml_diff(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> str:
    """A unified diff of the two documents' YAML (empty when they are equal).

    Each hunk header names where it is, like git's function context:
    ``@@ -20,7 +20,7 @@ parameters.demand.values.north``.
    """

    def text(d: Mapping[str, Any] | None) -> list[str]:
        if d is None:
            return []
        return yaml.safe_dump(dict(d), sort_keys=False, allow_unicode=True).splitlines(True)

    old, new = text(before), text(after)
    lines = list(difflib.unified_diff(old, new, "before.yaml", "after.yaml"))
    out: list[str] = []
    for i, line in enumerate(lines):
        m = _HUNK.match(line)
        if not m:
            out.append(line)
            continue
        a, b = int(m.group(1)) - 1, int(m.group(2)) - 1
        where = ""
        for body in lines[i + 1 :]:
            if body.startswith("@@"):
                break
            if body.startswith("-"):
                where = _yaml_path(old, a)
                break
            if body.startswith("+"):
                where = _yaml_path(new, b)
                break
            a, b = a + 1, b + 1
        out.append(line.rstrip("\n") + (f" {where}" if where else "") + "\n")
    return "".join(out)


@dataclass
class Comparison:
    """How a new solution differs from the previous one."""

    status_before: str
    status_after: str
    objective_before: float | None
    objective_after: float | None
    delta: float | None
    rel_delta: float | None
    changed: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self, limit: int = 12) -> str:
        lines = []
        if self.status_before != self.status_after:
            lines.append(f"Status: {self.status_before} → {self.status_after}.")
        if self.delta is not None:
            sign = "+" if self.delta >= 0 else ""
            pct = f" ({sign}{f'{100 * self.rel_delta:.3g}'}%)" if self.rel_delta is not None else ""
            lines.append(
                f"Objective: {format_number(self.objective_before)} → "
                f"{format_number(self.objective_after)} ({sign}{format_number(self.delta)}){pct}."
            )
        if self.changed:
            lines.append("Changed decisions:")
            for c in self.changed[:limit]:
                lines.append(
                    f"- {c['name']}: {format_number(c['before'])} → {format_number(c['after'])}"
                )
            if len(self.changed) > limit:
                lines.append(f"- … and {len(self.changed) - limit} more")
        elif _has_solution(self.status_after):
            lines.append("No decision changed.")
        return "\n".join(lines)


def _flat(solution: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in solution.items():
        if isinstance(value, Mapping):
            for key, v in value.items():
                if v is not None:
                    out[f"{name}[{key}]"] = float(v)
        elif value is not None:
            out[name] = float(value)
    return out


def compare(before: Mapping[str, Any], after: Mapping[str, Any], tol: float = 1e-6) -> Comparison:
    """Compare two snapshots (``{status, objective, solution}``, see :func:`snapshot`)."""
    ob, oa = before.get("objective"), after.get("objective")
    delta = rel = None
    if ob is not None and oa is not None:
        delta = float(oa) - float(ob)
        rel = delta / abs(float(ob)) if abs(float(ob)) > _ZERO else None
    fb, fa = _flat(before.get("solution") or {}), _flat(after.get("solution") or {})
    changed = []
    for name in list(fb) + [n for n in fa if n not in fb]:
        b, a = fb.get(name, 0.0), fa.get(name, 0.0)
        if abs(a - b) > tol * max(1.0, abs(a), abs(b)):
            changed.append({"name": name, "before": b, "after": a, "delta": a - b})
    return Comparison(
        status_before=str(before.get("status", "")),
        status_after=str(after.get("status", "")),
        objective_before=ob,
        objective_after=oa,
        delta=delta,
        rel_delta=rel,
        changed=changed,
    )


@dataclass
class WhatIf:
    """A what-if run: the changed document, both results and their comparison."""

    changes: dict[str, Any]
    document: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    comparison: Comparison
    diff: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "comparison": self.comparison.to_dict()}


def what_if(
    doc: Mapping[str, Any],
    changes: Mapping[str, Any],
    *,
    base: Mapping[str, Any] | SolveResult | None = None,
    backend: str = "auto",
    time_limit: float | None = 60.0,
    isolated: bool = True,
) -> WhatIf:
    """Change parameters, re-solve, and compare with the solution before the change.

    ``base`` is the current solution (a :class:`SolveResult` or a :func:`snapshot`);
    without it the original document is solved first. The solves run in a killable
    worker (:func:`modeling.worker.solve_isolated`) unless ``isolated=False``.
    """
    new = apply_changes(doc, changes)
    if base is None:
        before = snapshot(_solve(doc, backend, time_limit, isolated))
    elif isinstance(base, SolveResult):
        before = snapshot(base)
    else:
        before = dict(base)
    after = snapshot(_solve(new, backend, time_limit, isolated))
    return WhatIf(
        changes=dict(changes),
        document=new,
        before=before,
        after=after,
        comparison=compare(before, after),
        diff=yaml_diff(doc, new),
    )


# ------------------------------------------------------------ explanation


def _label(name: str, key: str) -> str:
    return f"{name}[{key}]" if key else name


def explain_solution(
    document: Mapping[str, Any] | None,
    status: str,
    objective: float | None,
    solution: Mapping[str, Any] | None = None,
    binding: Sequence[str] = (),
    message: str = "",
    detail: str = "",
    limit: int = 15,
    equalities: Mapping[str, int] | None = None,
) -> str:
    """The answer in plain words, built from the result alone (no LLM call).

    ``detail`` is the diagnosis of an infeasible or unbounded model (IIS, ray).
    ``equalities`` maps an equality constraint to its row count: given, ``binding``
    holds the inequalities only and the equalities are summarised in one line
    (an equality is always at its limit; listing its rows says nothing).
    """
    doc = dict(document or {})
    obj = doc.get("objective") or {}
    sense = str(obj.get("sense", "")).lower()
    what = obj.get("description") or "objective"
    variables = doc.get("variables") or {}
    lines: list[str] = []
    if _has_solution(status):
        best = (
            "minimum" if sense.startswith("min") else "maximum" if sense.startswith("max") else ""
        )
        head = (
            "Optimal solution"
            if status == "optimal"
            else "A feasible (not proven optimal) solution"
        )
        lines.append(
            f"{head}: the {best + ' ' if best else ''}{what} is {format_number(objective)}."
        )
        nonzero: list[str] = []
        for name, value in (solution or {}).items():
            desc = ""
            vdef = variables.get(name)
            if isinstance(vdef, Mapping) and vdef.get("description"):
                desc = f" ({vdef['description']})"
            if isinstance(value, Mapping):
                items = [(k, v) for k, v in value.items() if v is not None and abs(v) > 1e-7]
                for i, (k, v) in enumerate(items):
                    nonzero.append(
                        f"- {_label(name, k)} = {format_number(v)}{desc if i == 0 else ''}"
                    )
            elif value is not None and abs(value) > 1e-7:
                nonzero.append(f"- {name} = {format_number(value)}{desc}")
        if nonzero:
            lines.append("\nDecisions that matter (nonzero values):")
            lines.extend(nonzero[:limit])
            if len(nonzero) > limit:
                lines.append(f"- … and {len(nonzero) - limit} more nonzero values")
        else:
            lines.append("Every decision variable is zero.")
        if binding:
            shown = ", ".join(binding[:10]) + (" …" if len(binding) > 10 else "")
            what_binds = "Binding inequalities" if equalities is not None else "Binding constraints"
            lines.append(f"\n{what_binds} (at their limit): {shown}.")
        if equalities:
            held = ", ".join(
                f"{name} ({count} row{'s' if count != 1 else ''})"
                for name, count in list(equalities.items())[:10]
            )
            more = f" and {len(equalities) - 10} more" if len(equalities) > 10 else ""
            lines.append(f"Equalities (they always hold at their value): {held}{more}.")
    elif status in ("infeasible", "infeasible_or_unbounded"):
        lines.append(
            "The model has no feasible solution: its requirements contradict each other."
            if status == "infeasible"
            else "The solver found the model infeasible or unbounded."
        )
        if detail:
            lines.append(detail)
    elif status == "unbounded":
        lines.append(
            "The model is unbounded: the objective can improve without limit, so a limit "
            "(a capacity, budget or demand) is missing or has the wrong direction."
        )
        if detail:
            lines.append(detail)
    elif status == "time_limit":
        # modeling.worker's texts: a worker killed at the hard limit (often while the model
        # was still being built, before the solver ran), or a job that never got a worker
        if "worker process was killed" in message:
            lines.append("The solve was stopped at its hard time limit, without a solution.")
        elif "did not start" in message:
            lines.append("The solve did not run: no worker process was free in time.")
        else:
            lines.append("The solver reached its time limit without finding a solution.")
        message = message[:1].upper() + message[1:]
    elif status == "invalid":
        lines.append("No valid formulation was produced.")
    else:
        lines.append(f"The run ended with status {status}.")
    if message:
        lines.append(message)
    return "\n".join(lines)
