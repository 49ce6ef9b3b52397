"""The one result object every solve returns.

It keeps *why the solver stopped* (:class:`Termination`) apart from *what
the returned point is* (:class:`Status`, the spec's vocabulary), and reports
values in the formulation's own names and index tuples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from modeling.errors import Issue

if TYPE_CHECKING:
    from modeling.compiler import CompiledModel


class Status(StrEnum):
    """What the result is (spec v1 vocabulary): a point, a proof, or why there is neither.

    Read it with the properties, not by comparing strings: ``status.has_solution``
    (a point to read values from) and ``status.decided`` (the solve reached an
    answer). :class:`Termination` says why the solver stopped.
    """

    OPTIMAL = "optimal"
    """A point proven optimal (within the MIP gap for integer models)."""
    FEASIBLE = "feasible"
    """A point satisfying every constraint, not proven optimal (a limit stopped the search)."""
    INFEASIBLE = "infeasible"
    """Proven: no point satisfies every constraint and bound."""
    UNBOUNDED = "unbounded"
    """Proven: feasible points exist and the objective improves without limit."""
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    """The solver proved one of the two but not which; a feasibility re-solve could not tell."""
    TIME_LIMIT = "time_limit"
    """The time limit ran out before any feasible point was found."""
    ERROR = "error"
    """The solver or optiwise failed; ``message`` says how."""
    INVALID = "invalid"
    """The document breaks the spec; ``errors`` holds the located issues."""

    @property
    def decided(self) -> bool:
        """True when the solve reached an answer (exit code 0 in the CLI)."""
        return self not in (Status.ERROR, Status.INVALID)

    @property
    def has_solution(self) -> bool:
        """True when the result carries a point (``optimal`` or ``feasible``).

        The one test for "are there values to read?", instead of comparing status
        strings against a tuple.
        """
        return self in (Status.OPTIMAL, Status.FEASIBLE)


class Termination(StrEnum):
    """Why the solver stopped (orthogonal to :class:`Status`, as in Pyomo's contrib results)."""

    OPTIMAL = "optimal"
    """It proved optimality (or an empty model needed no solve)."""
    INFEASIBLE = "infeasible"
    """It proved that no point is feasible."""
    UNBOUNDED = "unbounded"
    """It proved that the objective improves without limit."""
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    """It proved that no optimum exists, without saying whether the model is infeasible."""
    TIME_LIMIT = "time_limit"
    """The ``time_limit`` ran out."""
    ITERATION_LIMIT = "iteration_limit"
    """An iteration or node limit stopped it."""
    SOLUTION_LIMIT = "solution_limit"
    """It found as many solutions as it was asked for."""
    OBJECTIVE_LIMIT = "objective_limit"
    """The objective reached a target or cutoff it was given."""
    INTERRUPTED = "interrupted"
    """A user or signal interrupted it."""
    NUMERICAL = "numerical_difficulties"
    """Numerical trouble stopped it; rescaling the data often helps."""
    ERROR = "error"
    """It failed (or could not be started); the result's ``message`` says how."""
    INVALID = "invalid_model"
    """The model was rejected before solving (bad document or data the solver refuses)."""
    UNKNOWN = "unknown"
    """The solver reported a status optiwise does not know; the message keeps its words."""


@dataclass(frozen=True)
class Timings:
    """Seconds spent in each stage of one solve."""

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
    tried: tuple[str, ...] = ()
    """The solves behind this answer when the first did not stand, in order: each
    ``backend/solver[ setting]: outcome`` (a solver error retried with a numerics
    setting or another backend; a huge "optimal" re-solved in a bound box)."""
    x: np.ndarray | None = field(default=None, repr=False, compare=False)
    row_duals: np.ndarray | None = field(default=None, repr=False, compare=False)
    reduced: np.ndarray | None = field(default=None, repr=False, compare=False)
    model: CompiledModel | None = field(default=None, repr=False, compare=False)

    @classmethod
    def invalid(cls, issues: Sequence[Issue], summary: str, **fields: Any) -> SolveResult:
        """The result of a document that breaks the spec: its located issues, and a message
        that counts them (``summary``: the :class:`~modeling.errors.FormulationError`'s text)."""
        n = len(issues)
        return cls(
            Status.INVALID,
            Termination.INVALID,
            errors=tuple(issues),
            message=f"the formulation breaks the spec ({n} problem{'s' if n != 1 else ''}): "
            f"{summary}",
            **fields,
        )

    @cached_property
    def values(self) -> dict[str, Any]:
        """name -> value (scalar variable) or {index tuple: value} (indexed variable)."""
        if self.x is None or self.model is None:
            return {}
        return _by_block(self.model, self.x)

    @cached_property
    def reduced_costs(self) -> dict[str, Any]:
        """name -> reduced cost (scalar) or {index tuple: reduced cost}; LPs with duals only."""
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
        if self.tried:
            out["tried"] = list(self.tried)
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
