"""What every backend provides: capabilities, availability and a raw solve."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from modeling.result import Status, Termination

if TYPE_CHECKING:
    from modeling.compiler import CompiledModel


# Pyomo and the solvers behind it are not safe to use from several threads at once
# (concurrent solves fail to create their solver or crash its output capture), and the
# agent and eval harness solve from worker threads. The Pyomo and PuLP backends hold
# this lock while they solve; the direct HiGHS backend needs none.
SOLVE_LOCK = threading.RLock()


class Capability(StrEnum):
    """What a backend can do; callers ask ``backend.supports(cap)``, never a backend's name."""

    LP = "LP"
    """Linear programs."""
    MILP = "MILP"
    """Mixed-integer linear programs."""
    QP = "QP"
    """Convex quadratic objective, continuous variables."""
    NONCONVEX_QP = "nonconvex QP"
    """A quadratic objective that is not convex (needs a global solver)."""
    MIQP = "MIQP"
    """Quadratic objective with integer variables."""
    NLP = "NLP"
    """Nonlinear constraints or objective, continuous variables."""
    MINLP = "MINLP"
    """Nonlinear with integer variables."""
    DUALS = "duals"
    """Returns row duals and reduced costs of an LP."""
    IIS = "IIS"
    """Implements :class:`IISBackend`: a warm feasibility oracle and an IIS of the LP relaxation."""
    PRIMAL_RAY = "primal ray"
    """Implements :class:`RayBackend`: an improving direction of an unbounded LP."""
    RANGING = "ranging"
    """Implements :class:`RangingBackend`: cost and right-hand-side ranging of an LP."""
    TIME_LIMIT = "time limit"
    """Honours ``SolverOptions.time_limit``."""
    MIP_GAP = "MIP gap"
    """Honours ``SolverOptions.mip_gap``."""


@dataclass(frozen=True)
class Availability:
    """Truthy when the solver can run; says why not otherwise."""

    ok: bool
    reason: str = ""
    version: str = ""

    def __bool__(self) -> bool:
        return self.ok


@dataclass
class SolverOptions:
    """How to run a solver; every backend maps these onto its own option names."""

    solver: str | None = None
    """The solver inside the backend (``scip``, ``cbc``…); ``None`` lets the backend choose."""
    time_limit: float | None = None
    """Seconds before the solver stops with the best point it has; ``None`` for no limit."""
    mip_gap: float = 1e-7
    """Relative MIP gap at which an integer model counts as solved."""
    threads: int | None = None
    """Threads the solver may use; ``None`` leaves its default."""
    verbose: bool = False
    """Show the solver's log (on standard error when a command promises JSON)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Solver-specific options passed through unchanged (e.g. ``{"presolve": "off"}``)."""


@dataclass
class RawSolution:
    """What a backend returns; :func:`modeling.solve` turns it into a SolveResult."""

    status: Status
    termination: Termination
    solver: str
    version: str = ""
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    x: np.ndarray | None = None
    row_duals: np.ndarray | None = None
    reduced: np.ndarray | None = None
    message: str = ""
    build_s: float = 0.0
    solve_s: float = 0.0


class Backend(Protocol):
    """What every backend implements: say what it can do, whether it can run, and solve."""

    name: str

    def capabilities(self, solver: str | None = None) -> frozenset[Capability]:
        """Everything the backend (with ``solver``, if given) can do."""
        ...

    def supports(self, capability: Capability, solver: str | None = None) -> bool:
        """``capability in capabilities(solver)``: the question callers ask."""
        ...

    def available(self, solver: str | None = None) -> Availability:
        """Whether it can run here (truthy), and why not otherwise."""
        ...

    def solve(self, model: CompiledModel, options: SolverOptions) -> RawSolution:
        """Solve ``model``; may raise, :func:`modeling.solve` turns that into ``error``."""
        ...


class FeasibilityOracle(Protocol):
    """Decides feasibility of one model's linear part again and again as bounds change.

    A deletion filter asks hundreds of such questions about the same rows; an
    oracle keeps its solver instance between them, so each check starts warm.
    """

    continuous: bool
    """True when integrality is ignored (then :meth:`dual_ray` can name the proof)."""

    def is_infeasible(
        self,
        row_lb: np.ndarray,
        row_ub: np.ndarray,
        col_lb: np.ndarray,
        col_ub: np.ndarray,
        time_limit: float,
    ) -> bool | None:
        """True: proven infeasible; False: a feasible point exists; None: undecided."""
        ...

    def dual_ray(self) -> np.ndarray | None:
        """The last infeasibility proof's dual (Farkas) ray, one entry per row, if kept."""
        ...


@dataclass(frozen=True)
class IISCandidates:
    """An infeasible subset the solver found: row indices and columns whose bound it used."""

    rows: list[int]
    lower: list[int]
    upper: list[int]


class IISBackend(Protocol):
    """The solver side of infeasibility diagnosis (:data:`Capability.IIS`)."""

    def feasibility_oracle(self, model: CompiledModel, integer: bool) -> FeasibilityOracle:
        """An oracle for ``model``'s rows and bounds (its objective ignored)."""
        ...

    def iis(self, model: CompiledModel, time_limit: float) -> IISCandidates | None:
        """An infeasible subset of the continuous relaxation, or None when there is none."""
        ...


class RayBackend(Protocol):
    """The solver side of unboundedness diagnosis (:data:`Capability.PRIMAL_RAY`)."""

    def primal_ray(self, model: CompiledModel, time_limit: float) -> np.ndarray | None:
        """An improving direction of the continuous relaxation (unverified), or None."""
        ...


@dataclass(frozen=True)
class LPRanging:
    """An optimal LP's point, duals, basis and ranging, per column and per row.

    Ranging arrays hold NaN where the solver could not compute them
    (``ranged`` is then False); duals follow HiGHS' sign convention.
    """

    objective: float
    x: np.ndarray
    activity: np.ndarray
    row_dual: np.ndarray
    col_dual: np.ndarray
    basic: np.ndarray
    cost_lower: np.ndarray
    cost_upper: np.ndarray
    rhs_lower: np.ndarray
    rhs_upper: np.ndarray
    objective_at_rhs_lower: np.ndarray
    objective_at_rhs_upper: np.ndarray
    ranged: bool


class RangingBackend(Protocol):
    """The solver side of LP sensitivity analysis (:data:`Capability.RANGING`)."""

    def ranging(self, model: CompiledModel, time_limit: float | None) -> LPRanging:
        """Solve the LP and range it; raise :class:`BackendError` unless it is optimal."""
        ...


class BackendError(RuntimeError):
    """A backend cannot handle a model or a solver; the message says what to use instead."""


def required_capability(model: CompiledModel) -> Capability:
    """The model-class capability a backend needs to solve ``model``."""
    from modeling.compiler import ModelClass

    cls = model.model_class
    if cls is ModelClass.QP and not model.convex:
        return Capability.NONCONVEX_QP
    return Capability(str(cls))
