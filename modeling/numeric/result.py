"""The one result object of every numeric method (sketched Newton, SciPy, first-order)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["NumericResult", "Status"]

Status = Literal["optimal", "stopped", "error"]


def _json_number(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


@dataclass
class NumericResult:
    """What a numeric method returns.

    ``status`` says what the returned point is — ``optimal`` (the method's
    stopping test held: KKT residual or gradient norm below ``tol``),
    ``stopped`` (a limit was reached first; ``x`` is the last iterate) or
    ``error`` (no usable point) — and ``termination`` says why the method
    stopped (``converged``, ``iteration_limit``, ``time_limit``,
    ``line_search_failed``, ``not_finite``, ``scipy: <message>``), kept apart
    as Pyomo does.

    ``history`` has one dict per iteration; every method records
    ``iteration``, ``objective`` and ``grad_evals`` (gradient evaluations so
    far, in full-gradient units for finite sums); the sketched Newton method
    adds ``kkt``, ``infeasibility``, ``merit``, ``step``, ``mu``,
    ``sketch_block``, ``sketch_steps`` and ``tightened``; first-order methods
    add ``batch`` and ``grad_norm``.
    """

    status: Status
    termination: str
    x: np.ndarray
    solution: dict[str, float]
    objective: float
    iterations: int
    method: str
    history: list[dict[str, float]] = field(default_factory=list)
    kkt_residual: float | None = None
    """max(|grad of the Lagrangian|, |c(x)|) for constrained methods, the gradient's max-norm otherwise."""
    multipliers: np.ndarray | None = None
    grad_evals: float = 0.0
    time: float = 0.0
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers become null; arrays become lists)."""
        return {
            "status": self.status,
            "termination": self.termination,
            "method": self.method,
            "objective": _json_number(self.objective),
            "solution": {k: _json_number(v) for k, v in self.solution.items()},
            "iterations": self.iterations,
            "kkt_residual": _json_number(self.kkt_residual),
            "multipliers": None
            if self.multipliers is None
            else [_json_number(v) for v in self.multipliers.tolist()],
            "grad_evals": _json_number(self.grad_evals),
            "time": _json_number(self.time),
            "message": self.message,
            "history": [{k: _json_number(v) for k, v in h.items()} for h in self.history],
        }
