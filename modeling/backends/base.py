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
    LP = "LP"
    MILP = "MILP"
    QP = "QP"  # convex quadratic objective, continuous
    NONCONVEX_QP = "nonconvex QP"
    MIQP = "MIQP"
    NLP = "NLP"
    MINLP = "MINLP"
    DUALS = "duals"
    IIS = "IIS"
    RANGING = "ranging"
    TIME_LIMIT = "time limit"
    MIP_GAP = "MIP gap"


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
    solver: str | None = None
    time_limit: float | None = None
    mip_gap: float = 1e-7
    threads: int | None = None
    verbose: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


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
    name: str

    def capabilities(self, solver: str | None = None) -> frozenset[Capability]: ...

    def available(self, solver: str | None = None) -> Availability: ...

    def solve(self, model: CompiledModel, options: SolverOptions) -> RawSolution: ...


class BackendError(RuntimeError):
    """A backend cannot handle a model or a solver; the message says what to use instead."""


def required_capability(model: CompiledModel) -> Capability:
    from modeling.compiler import ModelClass

    cls = model.model_class
    if cls is ModelClass.QP and not model.convex:
        return Capability.NONCONVEX_QP
    return Capability(str(cls))
