"""What the agent says about a solved or unsolvable model: diagnoses as text, binding rows.

The diagnoses (IIS, unboundedness, sensitivity) are :mod:`modeling.diagnostics`'
own reports, so chat and ``optiwise explain`` give the same answer. The
LLM-free tools that used to live here are in :mod:`modeling.scenarios` and
:mod:`modeling.blackbox`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modeling import diagnostics
from modeling.result import SolveResult

__all__ = [
    "binding_constraints",
    "explain_infeasibility",
    "explain_unboundedness",
    "sensitivity_report",
]


def binding_constraints(result: SolveResult, limit: int = 50) -> list[str]:
    """Labels of the constraint instances at a bound at the solution (diagnostics' one rule)."""
    if result.model is None or result.x is None or not result.status.has_solution:
        return []
    found = diagnostics.binding_constraints(result.model, result.x)
    return [b.label for b in found[:limit]]


# ------------------------------------------------------------ diagnostics


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
