"""LLM-free numeric optimisation methods over our expression language or Python callables.

* :func:`sketched_newton` — exact augmented Lagrangian + randomized iterative
  sketching, for ``min f(x) s.t. c(x) = 0``;
* :func:`scipy_minimize` — the same problems through SciPy (SLSQP, trust-constr);
* every method returns one :class:`NumericResult`;
* derivatives of expressions are exact (:class:`Tape`, reverse mode and
  forward-over-reverse over the compiler's trees).

>>> r = minimize("(x - 1)**2 + (y - 2)**2", ["x", "y"], equalities=["x + y - 1"])
>>> r.status, round(r.objective, 6)
('optimal', 2.0)
"""

from __future__ import annotations

from modeling.numeric.api import METHODS, minimize
from modeling.numeric.autodiff import Tape
from modeling.numeric.firstorder import FiniteSum, adadagrad, adam, adamp, diffgrad
from modeling.numeric.newton import sketched_newton
from modeling.numeric.problem import EqualityProblem, expression_problem, model_problem
from modeling.numeric.result import NumericResult
from modeling.numeric.scipy_methods import scipy_minimize
from modeling.numeric.sketch import SketchState, sketch_solve

__all__ = [
    "METHODS",
    "EqualityProblem",
    "FiniteSum",
    "NumericResult",
    "SketchState",
    "Tape",
    "adadagrad",
    "adam",
    "adamp",
    "diffgrad",
    "expression_problem",
    "minimize",
    "model_problem",
    "scipy_minimize",
    "sketch_solve",
    "sketched_newton",
]
