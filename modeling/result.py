"""The one result object every solve returns.

It keeps *why the solver stopped* (:class:`Termination`) apart from *what
the returned point is* (:class:`Status`, the spec's vocabulary), and reports
values in the formulation's own names and index tuples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from modeling.errors import Issue

if TYPE_CHECKING:
    from modeling.compiler import CompiledModel


class Status(StrEnum):
    """What the result is (spec v1 vocabulary)."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    TIME_LIMIT = "time_limit"
    ERROR = "error"
    INVALID = "invalid"

    @property
    def decided(self) -> bool:
        """True when the solve reached an answer (exit code 0 in the CLI)."""
        return self not in (Status.ERROR, Status.INVALID)

    @property
    def has_solution(self) -> bool:
        return self in (Status.OPTIMAL, Status.FEASIBLE)


class Termination(StrEnum):
    """Why the solver stopped."""

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    TIME_LIMIT = "time_limit"
    ITERATION_LIMIT = "iteration_limit"
    SOLUTION_LIMIT = "solution_limit"
    OBJECTIVE_LIMIT = "objective_limit"
    INTERRUPTED = "interrupted"
    NUMERICAL = "numerical_difficulties"
    ERROR = "error"
    INVALID = "invalid_model"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Timings:
    compile_s: float = 0.0  # formulation -> compiled model
    build_s: float = 0.0  # compiled model -> solver's model
    solve_s: float = 0.0  # the solver itself
    total_s: float = 0.0


@dataclass(frozen=True)
class SolveResult:
    """Status, termination, objective, bound/gap and values keyed by formulation names."""

    status: Status
    termination: Termination = Termination.UNKNOWN
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    model_class: str | None = None
    solver: str = ""
    solver_version: str = ""
    backend: str = ""
    message: str = ""
    errors: tuple[Issue, ...] = ()
    timings: Timings = field(default_factory=Timings)
    x: np.ndarray | None = field(default=None, repr=False, compare=False)
    row_duals: np.ndarray | None = field(default=None, repr=False, compare=False)
    reduced: np.ndarray | None = field(default=None, repr=False, compare=False)
    model: CompiledModel | None = field(default=None, repr=False, compare=False)

    @cached_property
    def values(self) -> dict[str, Any]:
        """name -> value (scalar variable) or {index tuple: value} (indexed variable)."""
        if self.x is None or self.model is None:
            return {}
        return _by_block(self.model, self.x)

    @cached_property
    def reduced_costs(self) -> dict[str, Any]:
        if self.reduced is None or self.model is None:
            return {}
        return _by_block(self.model, self.reduced)

    @cached_property
    def duals(self) -> dict[str, Any]:
        """constraint name -> dual (scalar) or {index tuple: dual}, linear constraints only."""
        if self.row_duals is None or self.model is None:
            return {}
        out: dict[str, Any] = {}
        for b in self.model.con_blocks:
            if not b.linear:
                continue
            vals = self.row_duals[b.row_start : b.row_start + b.count].tolist()
            if not b.keys_cols:
                out[b.name] = vals[0]
            else:
                out[b.name] = dict(zip(b.keys(), vals, strict=True))
        return out

    def value(self, name: str, *index: Any) -> float:
        """One variable's value: ``result.value("ship", "seattle", "topeka")``."""
        v = self.values[name]
        return float(v if not isinstance(v, dict) else v[tuple(index)])

    def to_spec(self) -> dict[str, Any]:
        """The JSON object of ``optiwise solve --json`` (spec v1, 'The solve result')."""
        variables: dict[str, Any] = {}
        for name, v in self.values.items():
            if isinstance(v, dict):
                variables[name] = {",".join(str(e) for e in k): _num(x) for k, x in v.items()}
            else:
                variables[name] = _num(v)
        out: dict[str, Any] = {
            "status": str(self.status),
            "objective": _num(self.objective) if self.objective is not None else None,
            "model_class": self.model_class,
            "solver": self.solver,
            "variables": variables,
            "message": self.message,
        }
        if self.status is Status.INVALID or self.errors:
            out["errors"] = [
                {"location": i.location, "message": i.message, "hint": i.hint} for i in self.errors
            ]
        out["termination"] = str(self.termination)
        out["bound"] = _num(self.bound) if self.bound is not None else None
        out["gap"] = self.gap
        out["solver_version"] = self.solver_version
        out["backend"] = self.backend
        out["timings"] = {
            "compile_s": round(self.timings.compile_s, 6),
            "build_s": round(self.timings.build_s, 6),
            "solve_s": round(self.timings.solve_s, 6),
            "total_s": round(self.timings.total_s, 6),
        }
        return out


def _num(x: float) -> float | None:
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return None
    v = float(x)
    return 0.0 if v == 0 else v


def _by_block(model: CompiledModel, arr: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, b in model.blocks.items():
        vals = arr[b.offset : b.offset + b.size].tolist()
        if not b.sets:
            out[name] = vals[0] if vals else 0.0
        else:
            out[name] = dict(zip(model.column_keys(b), vals, strict=True))
    return out
