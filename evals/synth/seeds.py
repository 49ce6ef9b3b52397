"""Seed formulations for synthesis: ours (``samples``) or a folder of the user's YAML files.

A seed is a spec-v1 document that checks and solves to an optimum.  It is read
into a :class:`Table` form (sets as element lists, indexed parameters as dense
arrays) that the generators of :mod:`evals.synth.generators` can scale and
perturb, and written back as a plain document by :func:`Table.to_document`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from modeling import FormulationError, compile_model

__all__ = ["Seed", "SeedError", "Table", "load_seeds", "table_of"]


class SeedError(ValueError):
    """A seed file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Seed:
    """One seed formulation and where it came from."""

    id: str
    formulation: Mapping[str, Any]
    source: str
    title: str = ""
    problem: str = ""
    """The seed's own word problem, when it has one (a style hint, never copied)."""


@dataclass
class Table:
    """A document with its data made explicit, ready to be edited by a generator.

    ``sets`` maps a set name to its element list (integer ranges keep their
    ``{"from", "to"}`` form in ``set_specs``); ``params`` maps an indexed
    parameter to ``(index, array)`` with NaN for entries the document leaves
    undefined; ``scalars`` holds scalar parameters.  Everything else
    (variables, objective, constraints) is kept as written.
    """

    sets: dict[str, list[Any]]
    set_specs: dict[str, Any]
    params: dict[str, tuple[list[str], np.ndarray]]
    scalars: dict[str, float]
    defaults: dict[str, float | None]
    rest: dict[str, Any]
    integral: dict[str, bool] = field(default_factory=dict)
    """Whether a parameter's written values are all integers (kept integral when perturbed)."""

    def copy(self) -> Table:
        """A deep copy (generators edit tables in place)."""
        return Table(
            sets={k: list(v) for k, v in self.sets.items()},
            set_specs=copy.deepcopy(self.set_specs),
            params={k: (list(i), a.copy()) for k, (i, a) in self.params.items()},
            scalars=dict(self.scalars),
            defaults=dict(self.defaults),
            rest=copy.deepcopy(self.rest),
            integral=dict(self.integral),
        )

    def to_document(self) -> dict[str, Any]:
        """The spec-v1 document: nested lists for dense data, rows where entries are missing."""
        doc: dict[str, Any] = {}
        for key in ("name", "description"):
            if key in self.rest:
                doc[key] = self.rest[key]
        sets: dict[str, Any] = {}
        for name, elements in self.sets.items():
            spec = self.set_specs.get(name)
            if isinstance(spec, Mapping) and elements == list(
                range(int(spec["from"]), int(spec["to"]) + 1)
            ):
                sets[name] = dict(spec)
            else:
                sets[name] = [list(e) if isinstance(e, tuple) else e for e in elements]
        if sets:
            doc["sets"] = sets
        parameters: dict[str, Any] = {}
        for name, value in self.scalars.items():
            parameters[name] = _plain(value, self.integral.get(name, False))
        for name, (index, array) in self.params.items():
            integral = self.integral.get(name, False)
            entry: dict[str, Any] = {"index": list(index)}
            if np.isnan(array).any():
                rows = []
                for pos in zip(*np.nonzero(~np.isnan(array)), strict=True):
                    keys: list[Any] = []
                    for axis, k in enumerate(pos):
                        element = self.sets[index[axis]][int(k)]
                        keys.extend(element if isinstance(element, tuple) else (element,))
                    rows.append([*keys, _plain(float(array[pos]), integral)])
                entry["rows"] = rows
            else:
                entry["values"] = _nested(array, integral)
            default = self.defaults.get(name)
            if default is not None:
                entry["default"] = _plain(default, integral)
            description = self.rest.get("_param_descriptions", {}).get(name)
            if description:
                entry["description"] = description
            parameters[name] = entry
        if parameters:
            doc["parameters"] = parameters
        for key in ("variables", "objective", "constraints"):
            if key in self.rest:
                doc[key] = copy.deepcopy(self.rest[key])
        return doc


def _plain(value: float, integral: bool) -> int | float:
    if integral or float(value).is_integer():
        return int(round(value))
    return round(float(value), 6)


def _nested(array: np.ndarray, integral: bool) -> Any:
    if array.ndim == 0:
        return _plain(float(array), integral)
    return [_nested(sub, integral) for sub in array]


def _all_integral(values: Any) -> bool:
    """True when every number written in ``values`` (nested lists/mappings/rows) is an integer."""
    if isinstance(values, Mapping):
        return all(_all_integral(v) for v in values.values())
    if isinstance(values, list | tuple):
        return all(_all_integral(v) for v in values)
    if isinstance(values, bool):
        return True
    if isinstance(values, int):
        return True
    if isinstance(values, float):
        return values.is_integer()
    return True  # labels inside rows


def table_of(document: Mapping[str, Any], where: str = "document") -> Table:
    """The :class:`Table` of a valid document; :class:`SeedError` when it does not compile."""
    doc = document.get("formulation", document) if "variables" not in document else document
    try:
        model = compile_model(dict(doc))
    except FormulationError as exc:
        raise SeedError(f"{where}: the formulation does not check: {exc}") from exc
    data = model.data
    sets = {name: list(s.elements) for name, s in data.sets.items()}
    raw_params: Mapping[str, Any] = doc.get("parameters") or {}
    params: dict[str, tuple[list[str], np.ndarray]] = {}
    scalars: dict[str, float] = {}
    defaults: dict[str, float | None] = {}
    integral: dict[str, bool] = {}
    descriptions: dict[str, str] = {}
    for name, p in data.params.items():
        raw = raw_params.get(name)
        if p.scalar:
            scalars[name] = float(p.array)
            integral[name] = isinstance(raw, int) or (isinstance(raw, float) and raw.is_integer())
            continue
        params[name] = (list(p.sets), np.asarray(p.array, dtype=float).copy())
        if isinstance(raw, Mapping):
            default = raw.get("default")
            defaults[name] = float(default) if isinstance(default, int | float) else None
            integral[name] = _all_integral(raw.get("values", raw.get("rows")))
            if raw.get("description"):
                descriptions[name] = str(raw["description"])
    rest = {
        k: copy.deepcopy(v)
        for k, v in doc.items()
        if k in ("name", "description", "variables", "objective", "constraints")
    }
    if isinstance(rest.get("constraints"), Mapping):
        rest["constraints"] = [{"name": k, **v} for k, v in rest["constraints"].items()]
    rest["_param_descriptions"] = descriptions
    set_specs = {k: v for k, v in (doc.get("sets") or {}).items() if isinstance(v, Mapping)}
    return Table(sets, set_specs, params, scalars, defaults, rest, integral)


def _seed_from_file(path: Path) -> Seed:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SeedError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise SeedError(f"{path}: expected a formulation document (a mapping)")
    formulation = data.get("formulation") if "formulation" in data else data
    if not isinstance(formulation, dict) or "variables" not in formulation:
        raise SeedError(
            f"{path}: no formulation here (a spec-v1 document, or a sample file with a "
            "'formulation:' key)"
        )
    return Seed(
        id=str(data.get("id") or formulation.get("name") or path.stem),
        formulation=formulation,
        source=str(path),
        title=str(data.get("title") or formulation.get("description") or ""),
        problem=str(data.get("problem") or ""),
    )


def load_seeds(spec: str | Path = "samples", names: list[str] | None = None) -> list[Seed]:
    """Seeds from ``"samples"`` (the packaged sample problems) or a folder of YAML/JSON files.

    ``names`` keeps only the seeds with those ids.  A file that is not a
    formulation raises :class:`SeedError` naming it.
    """
    seeds: list[Seed]
    if str(spec) == "samples":
        from modeling.samples import load_samples

        seeds = [
            Seed(s.id, s.formulation, f"samples:{s.id}", s.title, s.problem) for s in load_samples()
        ]
    else:
        folder = Path(spec)
        if not folder.is_dir():
            raise SeedError(f"{folder}: no such folder (give --seeds samples or a folder of YAML)")
        files = sorted(
            p for p in folder.iterdir() if p.suffix.lower() in (".yaml", ".yml", ".json")
        )
        if not files:
            raise SeedError(f"{folder}: no .yaml, .yml or .json files in this folder")
        seeds = [_seed_from_file(p) for p in files]
    if names:
        by_id = {s.id: s for s in seeds}
        missing = [n for n in names if n not in by_id]
        if missing:
            raise SeedError(f"no seed named {missing}; known: {', '.join(sorted(by_id))}")
        seeds = [by_id[n] for n in names]
    return seeds
