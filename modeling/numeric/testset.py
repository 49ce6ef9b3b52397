"""A small equality-constrained test set with known optima (Hock & Schittkowski).

Each :class:`TestProblem` is written in our expression language, so building
one also exercises the exact derivatives of :mod:`modeling.numeric.autodiff`.
Starting points and optimal values are those of Hock and Schittkowski,
"Test Examples for Nonlinear Programming Codes" (1981).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from modeling.numeric.problem import EqualityProblem, expression_problem

__all__ = ["HS_PROBLEMS", "TestProblem"]


@dataclass(frozen=True)
class TestProblem:
    """One problem: objective, equalities, start, and the known optimal value."""

    name: str
    objective: str
    equalities: tuple[str, ...]
    start: dict[str, float]
    optimum: float

    __test__ = False  # not a pytest class

    def build(self) -> EqualityProblem:
        """The problem with exact derivatives from the expressions."""
        return expression_problem(self.objective, self.start, equalities=self.equalities)


_PI = repr(math.pi)
_S2 = math.sqrt(2.0)

HS_PROBLEMS: tuple[TestProblem, ...] = (
    TestProblem("hs006", "(1 - x1)**2", ("10 * (x2 - x1**2)",), {"x1": -1.2, "x2": 1.0}, 0.0),
    TestProblem(
        "hs007",
        "log(1 + x1**2) - x2",
        ("(1 + x1**2)**2 + x2**2 - 4",),
        {"x1": 2.0, "x2": 2.0},
        -math.sqrt(3.0),
    ),
    TestProblem(
        "hs009",
        f"sin({_PI} * x1 / 12) * cos({_PI} * x2 / 16)",
        ("4 * x1 - 3 * x2",),
        {"x1": 0.0, "x2": 0.0},
        -0.5,
    ),
    TestProblem(
        "hs026",
        "(x1 - x2)**2 + (x2 - x3)**4",
        ("(1 + x2**2) * x1 + x3**4 - 3",),
        {"x1": -2.6, "x2": 2.0, "x3": 2.0},
        0.0,
    ),
    TestProblem(
        "hs027",
        "0.01 * (x1 - 1)**2 + (x2 - x1**2)**2",
        ("x1 + x3**2 + 1",),
        {"x1": 2.0, "x2": 2.0, "x3": 2.0},
        0.04,
    ),
    TestProblem(
        "hs028",
        "(x1 + x2)**2 + (x2 + x3)**2",
        ("x1 + 2 * x2 + 3 * x3 - 1",),
        {"x1": -4.0, "x2": 1.0, "x3": 1.0},
        0.0,
    ),
    TestProblem(
        "hs039",
        "-x1",
        ("x2 - x1**3 - x3**2", "x1**2 - x2 - x4**2"),
        {"x1": 2.0, "x2": 2.0, "x3": 2.0, "x4": 2.0},
        -1.0,
    ),
    TestProblem(
        "hs040",
        "-x1 * x2 * x3 * x4",
        ("x1**3 + x2**2 - 1", "x1**2 * x4 - x3", "x4**2 - x2"),
        {"x1": 0.8, "x2": 0.8, "x3": 0.8, "x4": 0.8},
        -0.25,
    ),
    TestProblem(
        "hs046",
        "(x1 - x2)**2 + (x3 - 1)**2 + (x4 - 1)**4 + (x5 - 1)**6",
        ("x1**2 * x4 + sin(x4 - x5) - 1", "x2 + x3**4 * x4**2 - 2"),
        {"x1": _S2 / 2, "x2": 1.75, "x3": 0.5, "x4": 2.0, "x5": 2.0},
        0.0,
    ),
    TestProblem(
        "hs048",
        "(x1 - 1)**2 + (x2 - x3)**2 + (x4 - x5)**2",
        ("x1 + x2 + x3 + x4 + x5 - 5", "x3 - 2 * (x4 + x5) + 3"),
        {"x1": 3.0, "x2": 5.0, "x3": -3.0, "x4": 2.0, "x5": -2.0},
        0.0,
    ),
    TestProblem(
        "hs079",
        "(x1 - 1)**2 + (x1 - x2)**2 + (x2 - x3)**2 + (x3 - x4)**4 + (x4 - x5)**4",
        (
            f"x1 + x2**2 + x3**3 - 2 - 3 * {_S2!r}",
            f"x2 - x3**2 + x4 + 2 - 2 * {_S2!r}",
            "x1 * x5 - 2",
        ),
        {"x1": 2.0, "x2": 2.0, "x3": 2.0, "x4": 2.0, "x5": 2.0},
        0.0787768209,
    ),
)
