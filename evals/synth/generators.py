"""Instance generators: seeded variations of a seed formulation, labelled by the solver.

Three kinds of change, as OptMATH's bidirectional synthesis makes them:

- ``perturb``: every numeric parameter entry is multiplied by a factor drawn
  uniformly from ``[1 - spread, 1 + spread]`` around the seed's value
  (integers stay integers, zeros stay zeros, 0/1 incidence data are kept);
- ``scale``: label sets that no expression names literally and no tuple set
  uses grow by new elements; the data of a new element copy a random existing
  element's slice, perturbed;
- ``drop_family``: one constraint family is removed when the model stays
  feasible, bounded and non-trivial without it (a non-essential family);
- ``add_budget``: an aggregate limit on one variable's total is added, set
  below (maximize) or above (minimize) the total at the current optimum, so it
  binds.

Every instance is solved (:func:`modeling.solve` with a time limit); an
instance that is not optimal, or whose optimum is trivially zero, is drawn
again; the second half of the tries draws only the objective's data (the
constraints as in the seed), so a seed whose feasibility rests on balanced data
(supplies equal to demands) still yields instances.  The label is the
solver's, never an LLM's.  One ``random.Random``
seeded per instance makes the output reproducible.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evals.synth.seeds import Seed, SeedError, Table, table_of
from modeling import SolveResult, Status, compile_model, solve

__all__ = ["GenerationError", "Instance", "Settings", "generate", "label_of", "structure_of"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class GenerationError(RuntimeError):
    """No acceptable instance could be drawn from a seed within the allowed tries."""


@dataclass(frozen=True)
class Settings:
    """How far instances may stray from their seed.

    ``complexity`` 1 perturbs data only; 2 also scales sets and changes one
    constraint family half of the time; 3 scales more and always changes the
    structure.  ``spread`` overrides the data spread (default 0.1 per level).
    """

    complexity: int = 2
    spread: float | None = None
    time_limit: float = 20.0
    tries: int = 8
    keep_infeasible: bool = False

    @property
    def data_spread(self) -> float:
        """The relative spread of the parameter draws."""
        return self.spread if self.spread is not None else 0.1 * max(1, self.complexity)


@dataclass
class Instance:
    """A generated formulation with its solver label and how it was made."""

    id: str
    seed: str
    formulation: dict[str, Any]
    status: str
    objective: float | None
    model_class: str
    n_variables: int
    n_constraints: int
    operations: list[dict[str, Any]] = field(default_factory=list)
    rng_seed: int = 0
    solver: str = ""

    @property
    def structure(self) -> tuple[str, int, int]:
        """(model class, variable count, constraint count): compared by the dedup step."""
        return (self.model_class, self.n_variables, self.n_constraints)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return {
            "id": self.id,
            "seed": self.seed,
            "formulation": self.formulation,
            "status": self.status,
            "objective": self.objective,
            "model_class": self.model_class,
            "n_variables": self.n_variables,
            "n_constraints": self.n_constraints,
            "operations": self.operations,
            "rng_seed": self.rng_seed,
            "solver": self.solver,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Instance:
        """The inverse of :meth:`to_dict`."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


# ------------------------------------------------------------------ helpers


def _expression_text(table: Table) -> str:
    parts = [str(table.rest.get("objective", {}).get("expression", ""))]
    for c in table.rest.get("constraints") or []:
        parts.append(str(c.get("expression", "")))
        parts.append(str(c.get("forall") or ""))
    return "\n".join(parts)


def _scalable_sets(table: Table) -> list[str]:
    """Label sets a generator may extend: not ranges, not tuples, not named in expressions."""
    text = _expression_text(table)
    in_tuples: set[Any] = set()
    for elements in table.sets.values():
        for e in elements:
            if isinstance(e, tuple):
                in_tuples.update(e)
    out = []
    for name, elements in table.sets.items():
        if name in table.set_specs or not elements:
            continue
        if not all(isinstance(e, str) for e in elements):
            continue
        if any(e in in_tuples for e in elements):
            continue
        if any(f"'{e}'" in text or f'"{e}"' in text for e in elements):
            continue
        out.append(name)
    return out


def _is_incidence(array: np.ndarray) -> bool:
    finite = array[~np.isnan(array)]
    return finite.size > 0 and bool(np.isin(finite, (0.0, 1.0)).all())


def _draw(rng: random.Random, value: float, spread: float, integral: bool) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    new = value * rng.uniform(1 - spread, 1 + spread)
    if integral:
        rounded = float(round(new))
        if rounded == 0:
            rounded = math.copysign(1.0, value)
        return rounded
    return float(f"{new:.4g}")


def _perturb_array(
    rng: random.Random, array: np.ndarray, spread: float, integral: bool
) -> np.ndarray:
    out = array.copy()
    flat = out.reshape(-1)
    for k in range(flat.size):
        if not math.isnan(flat[k]):
            flat[k] = _draw(rng, float(flat[k]), spread, integral)
    return out


# --------------------------------------------------------------- operations


def perturb(
    table: Table, rng: random.Random, spread: float, only: set[str] | None = None
) -> dict[str, Any]:
    """Draw every parameter (or those in ``only``) around its seed value, in place.

    Returns the provenance entry.
    """
    changed = []
    for name in sorted(table.scalars):
        if only is not None and name not in only:
            continue
        old = table.scalars[name]
        table.scalars[name] = _draw(rng, old, spread, table.integral.get(name, False))
        changed.append(name)
    for name in sorted(table.params):
        index, array = table.params[name]
        if _is_incidence(array) or (only is not None and name not in only):
            continue
        table.params[name] = (
            index,
            _perturb_array(rng, array, spread, table.integral.get(name, False)),
        )
        changed.append(name)
    entry: dict[str, Any] = {"op": "perturb", "spread": spread, "parameters": changed}
    if only is not None:
        entry["objective_only"] = True
    return entry


def scale(table: Table, rng: random.Random, extra: int, spread: float) -> dict[str, Any] | None:
    """Extend up to ``extra`` elements over the scalable sets (in place); None if none can grow."""
    candidates = _scalable_sets(table)
    if not candidates or extra <= 0:
        return None
    grown: dict[str, list[str]] = {}
    for _ in range(extra):
        name = rng.choice(candidates)
        elements = table.sets[name]
        base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_").rstrip("s") or "item"
        k = len(elements) + 1
        while f"{base}_{k}" in elements:
            k += 1
        new = f"{base}_{k}"
        source = rng.randrange(len(elements))
        elements.append(new)
        grown.setdefault(name, []).append(new)
        for pname, (index, array) in list(table.params.items()):
            integral = table.integral.get(pname, False)
            for axis, set_name in enumerate(index):
                if set_name != name:
                    continue
                piece = np.take(array, [source], axis=axis)
                if not _is_incidence(array):
                    piece = _perturb_array(rng, piece, spread, integral)
                array = np.concatenate([array, piece], axis=axis)
            table.params[pname] = (index, array)
    return {"op": "scale", "added": grown}


def _solution_totals(result: SolveResult) -> dict[str, float]:
    totals: dict[str, float] = {}
    for name, value in result.values.items():
        if isinstance(value, Mapping):
            totals[name] = float(sum(abs(float(v)) for v in value.values()))
        else:
            totals[name] = abs(float(value))
    return totals


def _fresh(table: Table, stem: str, taken: set[str]) -> str:
    name = stem
    k = 2
    while name in taken:
        name = f"{stem}_{k}"
        k += 1
    taken.add(name)
    return name


def _names(table: Table) -> set[str]:
    names = set(table.sets) | set(table.params) | set(table.scalars)
    names |= set(table.rest.get("variables") or {})
    names |= {str(c.get("name")) for c in table.rest.get("constraints") or []}
    names |= set(_NAME.findall(_expression_text(table)))
    return names


def add_budget(
    table: Table, rng: random.Random, base: SolveResult, sense: str
) -> dict[str, Any] | None:
    """Add an aggregate limit on one variable that binds at the current optimum (in place)."""
    totals = {k: v for k, v in _solution_totals(base).items() if v > 1e-6}
    variables: Mapping[str, Any] = table.rest.get("variables") or {}
    usable = sorted(k for k in totals if k in variables)
    if not usable:
        return None
    var = rng.choice(usable)
    vdef = variables[var] or {}
    index = vdef.get("index") or []
    if isinstance(index, str):
        index = [index]
    vtype = str(vdef.get("type") or "continuous")
    taken = _names(table)
    limit_name = _fresh(table, f"limit_{var}", taken)
    total = totals[var]
    upper = sense.startswith("max")
    factor = rng.uniform(0.6, 0.9) if upper else rng.uniform(1.1, 1.4)
    bound = total * factor
    if vtype in ("integer", "binary", "int", "bool"):
        bound = float(math.floor(bound) if upper else math.ceil(bound))
        integral = True
    else:
        bound = float(f"{bound:.4g}")
        integral = bound.is_integer()
    idx = [_fresh(table, f"k{n + 1}", taken) for n in range(len(index))]
    if index:
        term = f"{var}[{', '.join(idx)}]"
        gens = " ".join(f"for {i} in {s}" for i, s in zip(idx, index, strict=True))
        lhs = f"sum({term} {gens})"
    else:
        lhs = var
    relation = "<=" if upper else ">="
    cname = _fresh(table, f"total_{var}_{'cap' if upper else 'floor'}", taken)
    table.scalars[limit_name] = bound
    table.integral[limit_name] = integral
    table.rest.setdefault("constraints", []).append(
        {
            "name": cname,
            "expression": f"{lhs} {relation} {limit_name}",
            "description": f"the total of {var} is {'at most' if upper else 'at least'} "
            f"{limit_name}",
        }
    )
    return {"op": "add_budget", "constraint": cname, "variable": var, "bound": bound}


# ------------------------------------------------------------------ solving


def label_of(document: Mapping[str, Any], time_limit: float) -> SolveResult:
    """The solver's answer for a document (never raises: bad input gives ``invalid``)."""
    return solve(dict(document), time_limit=time_limit)


def _trivial(result: SolveResult) -> bool:
    if result.objective is None or abs(result.objective) < 1e-9:
        return True
    return not any(v > 1e-9 for v in _solution_totals(result).values())


def _acceptable(result: SolveResult, settings: Settings) -> bool:
    if result.status is Status.OPTIMAL:
        return not _trivial(result)
    return settings.keep_infeasible and result.status in (Status.INFEASIBLE, Status.UNBOUNDED)


def structure_of(document: Mapping[str, Any]) -> tuple[str, int, int]:
    """(model class, variable count, constraint count) of a valid document."""
    model = compile_model(dict(document))
    return (str(model.model_class), int(model.ncols), int(model.nrows))


def drop_family(
    table: Table, rng: random.Random, settings: Settings
) -> tuple[dict[str, Any], SolveResult] | None:
    """Remove one constraint family the model does not need to stay bounded and non-trivial."""
    constraints = list(table.rest.get("constraints") or [])
    if len(constraints) < 2:
        return None
    order = list(range(len(constraints)))
    rng.shuffle(order)
    for k in order:
        trial = constraints[:k] + constraints[k + 1 :]
        table.rest["constraints"] = trial
        result = label_of(table.to_document(), settings.time_limit)
        if result.status is Status.OPTIMAL and not _trivial(result):
            return {"op": "drop_family", "constraint": constraints[k].get("name")}, result
    table.rest["constraints"] = constraints
    return None


def _objective_parameters(table: Table) -> set[str]:
    text = str(table.rest.get("objective", {}).get("expression", ""))
    return set(_NAME.findall(text)) & (set(table.params) | set(table.scalars))


def _draw_once(
    seed: Seed, base: Table, rng: random.Random, settings: Settings, objective_only: bool = False
) -> tuple[Table, list[dict[str, Any]], SolveResult]:
    table = base.copy()
    ops: list[dict[str, Any]] = []
    c = settings.complexity
    spread = settings.data_spread
    if objective_only:
        # The constraints as in the seed, so a feasible seed stays feasible (data whose
        # balance matters, such as supplies equal to demands, survive).
        ops.append(perturb(table, rng, spread, only=_objective_parameters(table)))
        return table, ops, label_of(table.to_document(), settings.time_limit)
    if c >= 2:
        extra = rng.randint(0, c)
        op = scale(table, rng, extra, spread)
        if op is not None:
            ops.append(op)
    ops.append(perturb(table, rng, spread))
    result = label_of(table.to_document(), settings.time_limit)
    structural = c >= 3 or (c == 2 and rng.random() < 0.5)
    if structural and result.status is Status.OPTIMAL:
        kinds = ["add_budget", "drop_family"]
        rng.shuffle(kinds)
        for kind in kinds:
            if kind == "add_budget":
                sense = str(table.rest.get("objective", {}).get("sense", "minimize")).lower()
                before = table.copy()
                op = add_budget(table, rng, result, sense)
                if op is None:
                    continue
                trial = label_of(table.to_document(), settings.time_limit)
                if trial.status is Status.OPTIMAL and not _trivial(trial):
                    ops.append(op)
                    result = trial
                    break
                table = before
            else:
                dropped = drop_family(table, rng, settings)
                if dropped is not None:
                    ops.append(dropped[0])
                    result = dropped[1]
                    break
    return table, ops, result


def generate(
    seed: Seed, index: int, rng_seed: int, settings: Settings, base: Table | None = None
) -> Instance:
    """Instance number ``index`` of ``seed``: drawn, solved, re-drawn until acceptable.

    The same ``rng_seed`` always gives the same instance.  Raises
    :class:`GenerationError` after ``settings.tries`` unacceptable draws.
    """
    table = base if base is not None else table_of(seed.formulation, seed.source)
    rng = random.Random(rng_seed)
    last = ""
    for attempt in range(settings.tries):
        late = attempt >= max(1, settings.tries // 2)
        drawn, ops, result = _draw_once(seed, table, rng, settings, objective_only=late)
        if _acceptable(result, settings):
            document = drawn.to_document()
            document["name"] = f"{seed.id}_synth_{index}"
            try:
                model_class, n_vars, n_rows = structure_of(document)
            except Exception as exc:  # a generator bug; say which seed
                raise SeedError(
                    f"{seed.source}: a generated instance does not compile: {exc}"
                ) from exc
            return Instance(
                id=f"{seed.id}-{index}",
                seed=seed.id,
                formulation=document,
                status=str(result.status),
                objective=result.objective if result.status is Status.OPTIMAL else None,
                model_class=model_class,
                n_variables=n_vars,
                n_constraints=n_rows,
                operations=[*ops, {"op": "draws", "attempts": attempt + 1}],
                rng_seed=rng_seed,
                solver=result.solver,
            )
        last = f"{result.status}" + (
            " (trivial optimum)" if result.status is Status.OPTIMAL else ""
        )
    raise GenerationError(
        f"{seed.id}: no acceptable instance in {settings.tries} draws (last: {last}); "
        "lower --complexity, or use --keep-infeasible to keep infeasible/unbounded ones"
    )
