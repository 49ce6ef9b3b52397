"""The report objects diagnostics return: ``to_text()`` for people, ``to_dict()`` for JSON."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

from modeling.diagnostics._labels import (
    _MAX_VALUES,
    BINDING_TOL,
    _data_text,
    _json_num,
    _table,
)
from modeling.format import format_number
from modeling.result import Status


class Report(ABC):
    """What :func:`explain` returns: readable text and JSON-ready data."""

    status: str

    @abstractmethod
    def to_text(self) -> str:
        """The report for a person, in the document's names."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (``optiwise explain --json``)."""

    def __str__(self) -> str:
        return self.to_text()


@dataclass
class IISMember:
    """One constraint instance or variable bound of an infeasible subset."""

    kind: Literal["constraint", "bound"]
    label: str  # meet_demand['chicago'] | ship['seattle', 'topeka'] >= 0
    name: str  # the constraint's or the variable's name
    key: tuple[Any, ...]
    location: str  # constraints[1] | variables.ship.lower
    expression: str | None = None  # the document's expression (constraints)
    forall: str | None = None
    description: str | None = None
    instance: str = ""  # the instance as compiled: terms and bounds
    lower: float | None = None
    upper: float | None = None
    terms: list[tuple[str, float]] = field(default_factory=list)
    data: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "name": self.name,
            "index": list(self.key),
            "location": self.location,
            "expression": self.expression,
            "forall": self.forall,
            "description": self.description,
            "instance": self.instance,
            "lower": _json_num(self.lower),
            "upper": _json_num(self.upper),
            "terms": [{"variable": lab, "coefficient": c} for lab, c in self.terms],
            "data": dict(self.data),
            "note": self.note,
        }

    def to_text(self) -> str:
        if self.kind == "bound":
            lines = [f"- bound {self.label}    [{self.location}]"]
        else:
            lines = [f"- {self.label}    [{self.location}]"]
            doc = self.expression or ""
            if self.forall:
                doc += f"    {self.forall}"
            if doc:
                lines.append(f"    formulation: {doc}")
            if self.description:
                lines.append(f"    meaning:     {self.description}")
        if self.instance:
            lines.append(f"    instance:    {self.instance}")
        if self.data:
            lines.append(f"    data:        {_data_text(self.data)}")
        if self.note:
            lines.append(f"    note:        {self.note}")
        return "\n".join(lines)


@dataclass
class InfeasibilityReport(Report):
    """An infeasible subset of the model, irreducible unless the time budget ran out."""

    members: list[IISMember]
    method: str
    irreducible: bool
    model_class: str
    name: str | None = None
    elapsed_s: float = 0.0
    message: str = ""
    status: str = Status.INFEASIBLE

    @property
    def constraints(self) -> list[IISMember]:
        """The constraint instances of the subset."""
        return [m for m in self.members if m.kind == "constraint"]

    @property
    def bounds(self) -> list[IISMember]:
        """The variable bounds of the subset."""
        return [m for m in self.members if m.kind == "bound"]

    @property
    def labels(self) -> list[str]:
        """Every member's label, constraints first, in document order."""
        return [m.label for m in self.members]

    def to_text(self) -> str:
        n = len(self.members)
        what = "This condition cannot hold on its own" if n == 1 else ""
        title = f"The model{f' {self.name}' if self.name else ''} is infeasible."
        if n == 1:
            head = f"{what} (an irreducible infeasible subset of one member):"
        elif self.irreducible:
            head = (
                f"These {n} conditions cannot all hold; drop any one of them and the rest "
                "can be satisfied (an irreducible infeasible subset):"
            )
        else:
            head = (
                f"These {n} conditions cannot all hold (an infeasible subset; "
                "it may not be minimal):"
            )
        lines = [title, head, ""]
        for m in self.constraints:
            lines.append(m.to_text())
        if self.bounds:
            if self.constraints:
                lines.append("")
            lines.append("Variable bounds involved:")
            for m in self.bounds:
                lines.append(m.to_text())
        lines.append("")
        lines.append(
            "To repair the model, change the data or a constraint in this list (or relax a "
            "bound); constraints not listed are not part of this conflict."
        )
        if self.message:
            lines.append(self.message)
        lines.append(f"(found by {self.method} in {self.elapsed_s:.2f} s)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": "infeasibility",
            "status": self.status,
            "name": self.name,
            "model_class": self.model_class,
            "method": self.method,
            "irreducible": self.irreducible,
            "members": [m.to_dict() for m in self.members],
            "message": self.message,
            "elapsed_s": round(self.elapsed_s, 6),
        }


@dataclass
class UnboundedVariable:
    """A variable that can grow without limit while the objective keeps improving."""

    label: str
    name: str
    key: tuple[Any, ...]
    location: str
    direction: Literal["increase", "decrease"]
    step: float  # its component in the improving direction (largest = 1)
    objective_coefficient: float | None
    bounds: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "name": self.name,
            "index": list(self.key),
            "location": self.location,
            "direction": self.direction,
            "step": self.step,
            "objective_coefficient": self.objective_coefficient,
            "bounds": self.bounds,
        }


@dataclass
class UnboundedReport(Report):
    """Which variables run away, found from a primal ray or by widening a box."""

    variables: list[UnboundedVariable]
    method: str
    model_class: str
    sense: str
    objective: str
    name: str | None = None
    message: str = ""
    status: str = Status.UNBOUNDED

    @property
    def labels(self) -> list[str]:
        """The runaway variables' labels, fastest-growing first."""
        return [v.label for v in self.variables]

    def to_text(self) -> str:
        better = "decreases" if self.sense == "minimize" else "increases"
        lines = [
            f"The model{f' {self.name}' if self.name else ''} is unbounded: the objective "
            f"({self.sense} {self.objective}) {better} without limit when these variables "
            "move together in the direction shown:",
            "",
        ]
        rows = [
            [
                v.label,
                v.direction,
                format_number(v.step),
                format_number(v.objective_coefficient),
                v.bounds,
            ]
            for v in self.variables
        ]
        lines += _table(["variable", "direction", "step", "objective coef.", "bounds"], rows)
        lines.append("")
        lines.append(
            "To fix it, bound these variables (lower/upper under variables), add the "
            "constraint that limits them in reality, or check the objective's sense and signs."
        )
        if self.message:
            lines.append(self.message)
        lines.append(f"(found by {self.method})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": "unboundedness",
            "status": self.status,
            "name": self.name,
            "model_class": self.model_class,
            "method": self.method,
            "sense": self.sense,
            "objective": self.objective,
            "variables": [v.to_dict() for v in self.variables],
            "message": self.message,
        }


@dataclass
class Finding:
    """One thing :func:`sanity_check` noticed about a solution."""

    severity: Literal["error", "warning", "info"]
    code: str  # integrality | constraint | bound | magnitude | coefficients | zero_solution | ...
    label: str  # the instance, variable or model part concerned
    message: str
    location: str = ""
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "code": self.code,
            "label": self.label,
            "message": self.message,
            "location": self.location,
            "value": _json_num(self.value),
        }

    def __str__(self) -> str:
        where = f" [{self.location}]" if self.location else ""
        return f"{self.severity}: {self.label}: {self.message}{where}"


@dataclass
class VariableSensitivity:
    """One column of an LP: value, reduced cost, and the cost range that keeps the basis."""

    label: str
    value: float
    reduced_cost: float
    cost: float
    cost_lower: float  # the cost coefficient can move in [cost_lower, cost_upper] ...
    cost_upper: float  # ... with the same optimal basis
    lower: float
    upper: float
    basic: bool

    def to_row(self) -> dict[str, Any]:
        return {
            "kind": "variable",
            "name": self.label,
            "value": self.value,
            "reduced_cost": self.reduced_cost,
            "cost": self.cost,
            "cost_lower": self.cost_lower,
            "cost_upper": self.cost_upper,
            "lower": self.lower,
            "upper": self.upper,
            "basic": self.basic,
        }


@dataclass
class ConstraintSensitivity:
    """One linear constraint instance of an LP: activity, slack, dual and right-hand-side range."""

    label: str
    location: str
    activity: float
    lower: float
    upper: float
    slack: float
    dual: float  # objective change per unit increase of the constraint's constant side
    rhs: float  # the bound that matters (the one nearer the activity)
    rhs_lower: float  # the rhs can move in [rhs_lower, rhs_upper] with the same basis
    rhs_upper: float
    objective_at_rhs_lower: float
    objective_at_rhs_upper: float

    @property
    def binding(self) -> bool:
        """At its bound, by the one rule of :func:`modeling.diagnostics.binding_constraints`."""
        return abs(self.slack) <= BINDING_TOL * max(1.0, abs(self.rhs))

    def to_row(self) -> dict[str, Any]:
        return {
            "kind": "constraint",
            "name": self.label,
            "location": self.location,
            "activity": self.activity,
            "lower": self.lower,
            "upper": self.upper,
            "slack": self.slack,
            "dual": self.dual,
            "binding": self.binding,
            "rhs": self.rhs,
            "rhs_lower": self.rhs_lower,
            "rhs_upper": self.rhs_upper,
            "objective_at_rhs_lower": self.objective_at_rhs_lower,
            "objective_at_rhs_upper": self.objective_at_rhs_upper,
        }


@dataclass
class SensitivityReport(Report):
    """Duals, slacks, reduced costs and ranging of an optimal LP, in formulation names."""

    objective: float
    sense: str
    variables: list[VariableSensitivity]
    constraints: list[ConstraintSensitivity]
    model_class: str = "LP"
    name: str | None = None
    findings: list[Finding] = field(default_factory=list)
    note: str = ""
    status: str = Status.OPTIMAL

    def dual(self, label: str) -> float:
        """The shadow price of one constraint instance: ``report.dual("meet_demand['chicago']")``."""
        for c in self.constraints:
            if c.label == label:
                return c.dual
        raise KeyError(label)

    def to_rows(self) -> list[dict[str, Any]]:
        """One dict per variable and per constraint instance (``kind`` tells which)."""
        return [v.to_row() for v in self.variables] + [c.to_row() for c in self.constraints]

    def to_text(self) -> str:
        lines = [
            f"Optimal{f' ({self.name})' if self.name else ''}: objective = "
            f"{format_number(self.objective)} ({self.sense}).",
        ]
        if self.note:
            lines.append(self.note)
        lines += ["", "Constraints (shadow price = change of the objective per unit increase of"]
        lines.append("the right-hand side; the range keeps the same optimal basis):")
        crow = [
            [
                c.label,
                format_number(c.activity),
                format_number(c.rhs),
                format_number(c.slack),
                format_number(c.dual),
                f"[{format_number(c.rhs_lower)}, {format_number(c.rhs_upper)}]",
                "yes" if c.binding else "",
            ]
            for c in self.constraints
        ]
        lines += _table(
            ["constraint", "activity", "rhs", "slack", "shadow price", "rhs range", "binding"],
            crow[:_MAX_VALUES],
        )
        if len(crow) > _MAX_VALUES:
            lines.append(f"  … and {len(crow) - _MAX_VALUES} more (see to_rows())")
        lines += ["", "Variables (reduced cost = change of the objective per unit increase of the"]
        lines.append("variable from its bound; the cost range keeps the solution optimal):")
        vrow = [
            [
                v.label,
                format_number(v.value),
                format_number(v.reduced_cost),
                format_number(v.cost),
                f"[{format_number(v.cost_lower)}, {format_number(v.cost_upper)}]",
            ]
            for v in self.variables
        ]
        lines += _table(
            ["variable", "value", "reduced cost", "cost", "cost range"], vrow[:_MAX_VALUES]
        )
        if len(vrow) > _MAX_VALUES:
            lines.append(f"  … and {len(vrow) - _MAX_VALUES} more (see to_rows())")
        if self.findings:
            lines += ["", "Checks:"] + [f"  {f}" for f in self.findings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        def clean(row: dict[str, Any]) -> dict[str, Any]:
            return {k: (_json_num(v) if isinstance(v, float) else v) for k, v in row.items()}

        return {
            "report": "sensitivity",
            "status": self.status,
            "name": self.name,
            "model_class": self.model_class,
            "objective": _json_num(self.objective),
            "sense": self.sense,
            "note": self.note,
            "variables": [clean(v.to_row()) for v in self.variables],
            "constraints": [clean(c.to_row()) for c in self.constraints],
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass
class BindingConstraint:
    """A constraint instance holding at one of its bounds at a point."""

    label: str
    """The instance in the document's names, e.g. ``supply['seattle']``."""
    location: str
    """Where the constraint sits in the document, e.g. ``constraints[0]``."""
    activity: float
    """The body's value at the point (constant terms moved to the bound)."""
    bound: float
    """The bound it holds at (the lower one for equalities)."""
    side: Literal["lower", "upper", "equal"]
    """Which bound: ``equal`` when both sides hold (an equality or a tight range)."""
    row: int | None = None
    """The row of the compiled linear matrix, ``None`` for a nonlinear instance."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "location": self.location,
            "activity": _json_num(self.activity),
            "bound": _json_num(self.bound),
            "side": self.side,
        }


@dataclass
class SolutionReport(Report):
    """A solve's outcome when no deeper diagnosis applies: values, binding rows, checks."""

    status: str
    objective: float | None
    model_class: str | None
    solver: str
    message: str = ""
    name: str | None = None
    values: list[tuple[str, float]] = field(default_factory=list)
    binding: list[BindingConstraint] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    gap: float | None = None
    errors: list[str] = field(default_factory=list)

    def to_text(self) -> str:
        head = f"Status: {self.status}"
        if self.objective is not None:
            head += f", objective = {format_number(self.objective)}"
        if self.model_class:
            head += f" ({self.model_class}"
            head += f", {self.solver})" if self.solver else ")"
        lines = [head]
        if self.gap is not None and self.gap > 0:
            if self.model_class in ("MILP", "MIQP", "MINLP"):
                lines.append(f"relative MIP gap: {self.gap:.3g}")
            else:  # a global solver's continuous solve: the gap to its proven bound
                lines.append(f"relative gap to the solver's proven bound: {self.gap:.3g}")
        if self.message:
            lines.append(self.message)
        lines += [f"  {e}" for e in self.errors]
        if self.values:
            lines += ["", "Nonzero values:"]
            lines += _table(
                ["variable", "value"],
                [[lab, format_number(v)] for lab, v in self.values[:_MAX_VALUES]],
            )
            if len(self.values) > _MAX_VALUES:
                lines.append(f"  … and {len(self.values) - _MAX_VALUES} more")
        if self.binding:
            lines += ["", "Binding constraints (at a bound):"]
            lines += _table(
                ["constraint", "activity", "bound", "side", "location"],
                [
                    [b.label, format_number(b.activity), format_number(b.bound), b.side, b.location]
                    for b in self.binding[:_MAX_VALUES]
                ],
            )
            if len(self.binding) > _MAX_VALUES:
                lines.append(f"  … and {len(self.binding) - _MAX_VALUES} more")
        if self.findings:
            lines += ["", "Checks:"] + [f"  {f}" for f in self.findings]
        elif self.values:
            lines += ["", "Checks: no violations or numerical smells found."]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": "solution",
            "status": self.status,
            "name": self.name,
            "objective": _json_num(self.objective),
            "model_class": self.model_class,
            "solver": self.solver,
            "message": self.message,
            "gap": self.gap,
            "values": {lab: _json_num(v) for lab, v in self.values},
            "binding": [b.to_dict() for b in self.binding],
            "findings": [f.to_dict() for f in self.findings],
            "errors": list(self.errors),
        }
