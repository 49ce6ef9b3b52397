"""Solver backends behind one interface; callers ask for a capability, not a name."""

from __future__ import annotations

import importlib

from modeling.backends.base import (
    Availability,
    Backend,
    BackendError,
    Capability,
    FeasibilityOracle,
    IISBackend,
    IISCandidates,
    LPRanging,
    RangingBackend,
    RawSolution,
    RayBackend,
    SolverOptions,
    required_capability,
)

# name -> "module:Class"; imported on first use so that Pyomo and PuLP load only when needed.
_REGISTRY = {
    "highs": "modeling.backends.highs:HighsBackend",
    "pyomo": "modeling.backends.pyomo:PyomoBackend",
    "pulp": "modeling.backends.pulp:PulpBackend",
}
AUTO_ORDER = ("highs", "pyomo", "pulp")
_INSTANCES: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (``highs``, ``pyomo`` or ``pulp``)."""
    if name not in _REGISTRY:
        raise BackendError(f"unknown backend {name!r}; choose one of {', '.join(_REGISTRY)}")
    if name not in _INSTANCES:
        from modeling.backends.highs import silence_banner

        silence_banner()  # before PuLP or Pyomo can create the process's first Highs
        module, cls = _REGISTRY[name].split(":")
        _INSTANCES[name] = getattr(importlib.import_module(module), cls)()
    return _INSTANCES[name]


def backend_names() -> list[str]:
    """Every registered backend, in no particular order of preference."""
    return list(_REGISTRY)


def backend_with(capability: Capability) -> Backend | None:
    """The first backend in AUTO_ORDER that supports ``capability`` and can run here.

    How diagnostics find the solver behind an IIS, a primal ray or ranging
    without naming one: a second backend declaring the capability plugs in.
    """
    for name in AUTO_ORDER:
        try:
            be = get_backend(name)
        except ImportError:
            continue
        if be.supports(capability) and be.available():
            return be
    return None


__all__ = [
    "AUTO_ORDER",
    "Availability",
    "Backend",
    "BackendError",
    "Capability",
    "FeasibilityOracle",
    "IISBackend",
    "IISCandidates",
    "LPRanging",
    "RangingBackend",
    "RawSolution",
    "RayBackend",
    "SolverOptions",
    "backend_names",
    "backend_with",
    "get_backend",
    "required_capability",
]
