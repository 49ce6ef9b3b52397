"""optiwise's formal layer: five-element formulations checked, compiled and solved.

Knows nothing of LLMs.  The public API::

    from modeling import load, check, solve
    issues = check("model.yaml")          # [] when valid, else located Issues
    result = solve("model.yaml")          # SolveResult; never raises for bad input
    result.status, result.objective, result.values["ship"][("seattle", "topeka")]
"""

from __future__ import annotations

from modeling.compiler import CompiledModel, ModelClass, check, compile_model
from modeling.errors import FormulationError, Issue
from modeling.formulation import Formulation, load
from modeling.result import SolveResult, Status, Termination
from modeling.solve import solve


def classify(source: object) -> ModelClass:
    """The model class (LP, MILP, QP, MIQP, NLP, MINLP) of a valid document."""
    return compile_model(source).model_class  # type: ignore[arg-type]


__all__ = [
    "CompiledModel",
    "Formulation",
    "FormulationError",
    "Issue",
    "ModelClass",
    "SolveResult",
    "Status",
    "Termination",
    "check",
    "classify",
    "compile_model",
    "load",
    "solve",
]
