"""One entry point for an expression: :func:`minimize` with any of the numeric methods.

What ``optiwise minimize`` calls; library users with their own callables
call the methods directly (:func:`~modeling.numeric.sketched_newton` on an
:class:`~modeling.numeric.EqualityProblem`, :func:`~modeling.numeric.adam`
and friends on a :class:`~modeling.numeric.FiniteSum`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modeling.numeric.firstorder import adadagrad, adam, adamp, diffgrad
from modeling.numeric.newton import sketched_newton
from modeling.numeric.problem import expression_problem
from modeling.numeric.result import NumericResult
from modeling.numeric.scipy_methods import scipy_minimize

__all__ = ["FIRST_ORDER", "METHODS", "minimize"]

FIRST_ORDER = {"adam": adam, "adamp": adamp, "diffgrad": diffgrad, "adadagrad": adadagrad}
METHODS = ("sketched-newton", "slsqp", "trust-constr", *FIRST_ORDER)


def minimize(
    objective: str,
    variables: Sequence[str] | Mapping[str, float | None],
    *,
    equalities: Sequence[str] = (),
    constants: Mapping[str, float] | None = None,
    sense: str = "minimize",
    method: str = "sketched-newton",
    tol: float = 1e-6,
    max_iter: int | None = None,
    **options: Any,
) -> NumericResult:
    """Minimise (or maximise) an expression over scalar variables, subject to equalities.

    ``variables`` is a list of names (start 0) or ``{name: start}``.
    ``method`` is one of :data:`METHODS`; first-order methods take no
    equalities.  ``options`` go to the method (e.g. ``lr`` for Adam,
    ``sketch_block`` for sketched Newton).  Bad expressions or an unknown
    method raise ``ValueError`` saying what to change.

    >>> r = minimize("(x - 3)**2", ["x"], method="adam", lr=0.1)
    >>> r.status, round(r.solution["x"], 4)
    ('optimal', 3.0)
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    problem = expression_problem(
        objective, variables, equalities=equalities, constants=constants, sense=sense
    )
    if method == "sketched-newton":
        return sketched_newton(problem, tol=tol, max_iter=max_iter or 200, **options)
    if method in ("slsqp", "trust-constr"):
        return scipy_minimize(problem, method, tol=tol, max_iter=max_iter or 1000, **options)
    if problem.m:
        raise ValueError(
            f"{method} takes no equality constraints; use sketched-newton, slsqp or trust-constr"
        )
    return FIRST_ORDER[method](problem, tol=tol, max_iter=max_iter or 20000, **options)
