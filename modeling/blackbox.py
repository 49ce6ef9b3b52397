"""Minimise (or maximise) a function of a few scalar variables, given as an expression.

For the questions a formulation does not fit: "what x minimises
``(x - 1)**2 + (y + 2)**2``?" The expression is the formulation's own language,
so it is parsed and checked by the compiler (unknown names get a "did you
mean"; nothing is ever ``eval``-ed) and evaluated at each point by the same
code that checks a solver's answer (:func:`modeling.diagnostics.objective_value`)::

    from modeling.blackbox import minimize_function
    minimize_function("(x - 1)**2 + (y + 2)**2", {"x": (-5, 5), "y": (-5, 5)}).values
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from modeling.compiler import CompiledModel, compile_model
from modeling.diagnostics import objective_value
from modeling.errors import FormulationError

__all__ = ["MinimizeResult", "minimize_function"]

_UNDEFINED = 1e100  # the value a search sees where the function is undefined (log(-1), 1/0)


@dataclass
class MinimizeResult:
    """The result of :func:`minimize_function`."""

    status: Literal["optimal", "feasible", "error"]
    """optimal (the search converged), feasible (it stopped early) or error."""
    objective: float | None
    values: dict[str, float]
    method: str
    nfev: int = 0
    message: str = ""
    global_search: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Bounds = tuple[float | None, float | None, float | None]


def _bounds_of(spec: Any) -> Bounds:
    """``(lower, upper, start)`` of one variable given as a pair, a triple, a mapping or None."""
    if isinstance(spec, Mapping):
        lo, hi, start = spec.get("lower"), spec.get("upper"), spec.get("start")
    elif isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) in (2, 3):
        lo, hi = spec[0], spec[1]
        start = spec[2] if len(spec) == 3 else None
    elif spec is None:
        lo = hi = start = None
    else:
        raise ValueError(f"a variable is (lower, upper) or {{lower, upper, start}}, got {spec!r}")

    def num(v: Any) -> float | None:
        return None if v is None or (isinstance(v, float) and math.isinf(v)) else float(v)

    return num(lo), num(hi), num(start)


def _compile(
    expression: str, names: Sequence[str], constants: Mapping[str, float], sense: str
) -> CompiledModel:
    """The function as a compiled model: scalar variables, constants as parameters.

    Bounds are left to the search: the model only defines the function.
    """
    clash = sorted(set(names) & set(constants))
    if clash:
        raise ValueError(f"{', '.join(clash)} is both a variable and a constant")
    doc = {
        "parameters": dict(constants),
        "variables": {n: {"lower": None} for n in names},
        "objective": {"sense": sense, "expression": expression},
    }
    try:
        return compile_model(doc)
    except FormulationError as exc:
        first = exc.issues[0]
        hint = f" ({first.hint})" if first.hint else ""
        raise ValueError(f"the function: {first.message}{hint}") from None


def minimize_function(
    expression: str,
    variables: Mapping[str, Any],
    *,
    sense: str = "minimize",
    constants: Mapping[str, float] | None = None,
    method: str = "auto",
    seed: int = 0,
    maxiter: int = 1000,
) -> MinimizeResult:
    """Minimize (or maximize) a function given as an expression over named scalar variables.

    ``variables`` maps each name to ``(lower, upper)``, ``(lower, upper, start)`` or
    ``{"lower", "upper", "start"}`` (None for no bound). With every bound finite,
    ``method="auto"`` runs a global search (``differential_evolution``, polished
    locally); otherwise a multi-start local search (L-BFGS-B). A bad expression or
    variable raises ``ValueError`` saying what is wrong; a failed search returns
    status ``error``.

    >>> minimize_function("(x - 2)**2 + 1", {"x": (-10, 10)}).values["x"]  # doctest: +ELLIPSIS
    2.0...
    """
    from scipy import optimize

    names = list(variables)
    if not names:
        raise ValueError("declare at least one variable")
    consts = {k: float(v) for k, v in (constants or {}).items()}
    maximize = sense.lower().startswith("max")
    model = _compile(expression, names, consts, "maximize" if maximize else "minimize")
    sign = -1.0 if maximize else 1.0
    # The compiler orders columns by declaration; scalar variables are one column each.
    specs = [_bounds_of(variables[n]) for n in names]
    bounds = [(lo, hi) for lo, hi, _ in specs]
    finite = all(lo is not None and hi is not None for lo, hi in bounds)

    def f(x: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            value = sign * objective_value(model, np.asarray(x, dtype=float))
        return value if math.isfinite(value) else _UNDEFINED

    chosen = method
    if method == "auto":
        chosen = "global" if finite else "local"
    if chosen not in ("global", "local"):
        raise ValueError(f"method is auto, global or local, not {method!r}")
    if chosen == "global" and not finite:
        raise ValueError("a global search needs finite lower and upper bounds on every variable")
    try:
        if chosen == "global":
            res = optimize.differential_evolution(
                f,
                bounds=[(float(lo), float(hi)) for lo, hi in bounds],  # type: ignore[arg-type]
                seed=seed,
                maxiter=maxiter,
                tol=1e-10,
                polish=True,
            )
            best_x, best_f, nfev = res.x, float(res.fun), int(res.nfev)
            ok, msg, label = bool(res.success), str(res.message), "differential_evolution"
        else:
            best_x, best_f, nfev, ok, msg = _multistart(f, specs, bounds, seed, maxiter)
            label = "L-BFGS-B (multi-start)"
    except (ArithmeticError, ValueError) as exc:
        return MinimizeResult("error", None, {}, chosen, message=f"the search failed: {exc}")
    if best_f >= _UNDEFINED / 10:
        return MinimizeResult(
            "error", None, {}, label, nfev, "the function is undefined everywhere tried"
        )
    return MinimizeResult(
        status="optimal" if ok else "feasible",
        objective=sign * best_f,
        values={n: float(best_x[i]) for i, n in enumerate(names)},
        method=label,
        nfev=nfev,
        message=msg,
        global_search=chosen == "global",
    )


def _multistart(
    f: Any,
    specs: list[Bounds],
    bounds: list[tuple[float | None, float | None]],
    seed: int,
    maxiter: int,
) -> tuple[np.ndarray, float, int, bool, str]:
    """L-BFGS-B from the given starts (or the box's middle) and three random points."""
    from scipy import optimize

    rng = np.random.default_rng(seed)
    first = []
    for lo, hi, start in specs:
        if start is not None:
            first.append(start)
        elif lo is not None and hi is not None:
            first.append((lo + hi) / 2)
        else:
            first.append(
                min(max(0.0, lo if lo is not None else -math.inf), math.inf if hi is None else hi)
            )
    starts = [np.asarray(first, dtype=float)]
    for _ in range(3):
        point = []
        for lo, hi, _s in specs:
            a = lo if lo is not None else -10.0
            b = hi if hi is not None else (a + 20.0 if lo is not None else 10.0)
            point.append(rng.uniform(a, b))
        starts.append(np.asarray(point, dtype=float))
    best = None
    nfev = 0
    for x0 in starts:
        r = optimize.minimize(f, x0, method="L-BFGS-B", bounds=bounds, options={"maxiter": maxiter})
        nfev += int(r.nfev)
        if best is None or r.fun < best.fun:
            best = r
    assert best is not None
    return best.x, float(best.fun), nfev, bool(best.success), str(best.message)
