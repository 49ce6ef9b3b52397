"""Explain a solve in the formulation's own names: infeasibility, unboundedness, sensitivity.

A solver says *infeasible*, *unbounded* or *optimal*; a person needs to know
*which* constraints clash, *which* variables run away and *what* the optimum
depends on, spoken in the document's names (``meet_demand['chicago']``,
``ship['seattle', 'topeka'] >= 0``, ``constraints[1]``) and with the data
each instance was made from (``demand['chicago'] = 300``).

* :func:`explain_infeasible` — an irreducible infeasible subset (IIS) of
  constraint instances and variable bounds: HiGHS's IIS for the linear part
  as a seed, made irreducible (and, for integer or nonlinear models, found)
  by a deletion filter that re-solves feasibility problems;
* :func:`explain_unbounded` — the variables that grow without limit, from a
  verified primal ray or by widening a box around the variables;
* :func:`sensitivity` — duals, slacks, reduced costs and ranging of an LP;
* :func:`sanity_check` — violations and numerical smells of a returned point;
* :func:`binding_constraints` — the one rule for which constraints bind;
* :func:`explain` — the dispatcher behind ``optiwise explain FILE``.

Every report has ``to_text()`` for a person and ``to_dict()`` for JSON.

The solver work (a warm feasibility oracle, an IIS seed, a primal ray, LP
ranging) is asked of whichever backend declares ``Capability.IIS``,
``PRIMAL_RAY`` or ``RANGING`` (:func:`modeling.backends.backend_with`):
HiGHS for all three, SCIP through Pyomo as a second IIS backend. One module
per section: ``_labels`` (names, numbers, instance data), ``reports``,
``iis``, ``unbounded``, ``sensitivity``, ``sanity`` and ``solution``.
"""

from __future__ import annotations

from modeling.compiler import ModelClass, Source
from modeling.diagnostics._labels import (
    BINDING_TOL,
    DEFAULT_TIME_LIMIT,
    DiagnosticsError,
    _model,
    eval_tree,
    objective_value,
)
from modeling.diagnostics.iis import explain_infeasible
from modeling.diagnostics.reports import (
    BindingConstraint,
    ConstraintSensitivity,
    Finding,
    IISMember,
    InfeasibilityReport,
    Report,
    SensitivityReport,
    SolutionReport,
    UnboundedReport,
    UnboundedVariable,
    VariableSensitivity,
)
from modeling.diagnostics.sanity import sanity_check
from modeling.diagnostics.sensitivity import sensitivity
from modeling.diagnostics.solution import binding_constraints, solution_report
from modeling.diagnostics.unbounded import explain_unbounded
from modeling.format import format_number
from modeling.result import Status


def explain(source: Source, time_limit: float | None = None) -> Report:
    """Solve and explain: the report a person needs for whatever the solver said.

    infeasible → :func:`explain_infeasible`; unbounded → :func:`explain_unbounded`;
    optimal LP → :func:`sensitivity`; anything else → values, binding constraints
    and :func:`sanity_check` findings.  A document that breaks the spec raises
    :class:`~modeling.errors.FormulationError` (its issues are the explanation).
    """
    from modeling.solve import solve

    model = _model(source)
    budget = DEFAULT_TIME_LIMIT if time_limit is None else time_limit
    result = solve(model, time_limit=time_limit)
    status = result.status
    try:
        if status is Status.INFEASIBLE:
            return explain_infeasible(model, time_limit=budget)
        if status is Status.UNBOUNDED:
            return explain_unbounded(model, time_limit=budget)
        if status is Status.INFEASIBLE_OR_UNBOUNDED:
            try:
                return explain_infeasible(model, time_limit=budget)
            except DiagnosticsError:
                return explain_unbounded(model, time_limit=budget)
        if status is Status.OPTIMAL and model.model_class is ModelClass.LP:
            return sensitivity(model, time_limit=time_limit)
    except DiagnosticsError as exc:
        report = solution_report(result)
        report.message = (report.message + "; " if report.message else "") + str(exc)
        return report
    return solution_report(result)


__all__ = [
    "BINDING_TOL",
    "DEFAULT_TIME_LIMIT",
    "BindingConstraint",
    "ConstraintSensitivity",
    "DiagnosticsError",
    "Finding",
    "IISMember",
    "InfeasibilityReport",
    "Report",
    "SensitivityReport",
    "SolutionReport",
    "UnboundedReport",
    "UnboundedVariable",
    "VariableSensitivity",
    "binding_constraints",
    "eval_tree",
    "explain",
    "explain_infeasible",
    "explain_unbounded",
    "format_number",
    "objective_value",
    "sanity_check",
    "sensitivity",
    "solution_report",
]
