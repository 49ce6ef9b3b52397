"""Sets and parameters resolved into arrays, with located errors.

Sets keep their written order; a parameter becomes a dense ``float`` array
with one axis per index set (a tuple set is one axis) and ``NaN`` where an
entry is missing and has no default, so that using it can be reported with
the parameter's name and the index.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from modeling.errors import FormulationError, Issue, did_you_mean
from modeling.formulation import Formulation, IndexedParameter, as_number
from modeling.limits import SOLVER_INFINITY, check_memory, check_powers, set_size
from modeling.tables import (
    Axis,
    TableError,
    TableReader,
    resolve_path,
    table_cells,
    table_param,
    table_set,
)

Element = Any  # str | int | tuple[str | int, ...]


def _element(value: Any) -> Element | None:
    """A set element as written: a label or an integer (floats that are whole ints count)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        return value
    return None


def element_text(e: Element) -> str:
    """How an element is written in keys and names: tuples joined by ','."""
    if isinstance(e, tuple):
        return ",".join(str(p) for p in e)
    return str(e)


@dataclass
class SetData:
    """An ordered set: elements, their positions, and their dimension (tuple length)."""

    name: str
    elements: list[Element]
    dim: int = 1
    pos: dict[Element, int] = field(default_factory=dict)
    _values: np.ndarray | None = None
    _text_pos: dict[str, int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.pos = {e: k for k, e in enumerate(self.elements)}

    @property
    def text_pos(self) -> dict[str, int]:
        """Positions by written form (``"3"``, ``"a,b"``); built on first use.

        Most sets are only looked up by element, so the strings (about 40 % of
        a large set's memory) are made only when a key arrives as text.
        """
        if self._text_pos is None:
            self._text_pos = {element_text(e): k for k, e in enumerate(self.elements)}
        return self._text_pos

    def __len__(self) -> int:
        return len(self.elements)

    @property
    def values(self) -> np.ndarray:
        """Elements as an array: int64 for integer sets, object otherwise."""
        if self._values is None:
            if self.dim == 1 and all(type(e) is int for e in self.elements):
                self._values = np.asarray(self.elements, dtype=np.int64)
            else:
                arr = np.empty(len(self.elements), dtype=object)
                arr[:] = self.elements
                self._values = arr
        return self._values

    def lookup(self, key: Any) -> int | None:
        """Position of an element given as an element or as its string form."""
        if isinstance(key, list):
            key = tuple(key)
        try:
            k = self.pos.get(key)
        except TypeError:  # an unhashable key (a list or mapping) is no element
            return None
        if k is None and not isinstance(key, tuple):
            k = self.text_pos.get(str(key))
        return k


@dataclass
class ParamData:
    """A parameter: a scalar (no sets) or a dense array over its index sets."""

    name: str
    sets: list[str]
    array: np.ndarray  # shape () for scalars

    @property
    def scalar(self) -> bool:
        return not self.sets


@dataclass
class ModelData:
    sets: dict[str, SetData]
    params: dict[str, ParamData]


def resolve_set(
    name: str, spec: Any, issues: list[Issue], tables: TableReader | None = None
) -> SetData | None:
    loc = f"sets.{name}"
    if isinstance(spec, Mapping) and "table" in spec:
        try:
            read, width = table_set(spec, loc, tables or TableReader(None))
        except TableError as exc:
            issues.extend(exc.issues)
            columns = spec.get("columns")
            if isinstance(columns, list) and len(columns) >= 2:
                # an empty set of the declared width: 'for (i, j) in S' raises no second issue
                return SetData(name, [], len(columns))
            return None
        return SetData(name, read, width)
    if isinstance(spec, Mapping):
        if "from" in spec or "to" in spec:
            lo, hi = spec.get("from"), spec.get("to")
            lo_n, hi_n = as_number(lo), as_number(hi)
            if lo_n is None or hi_n is None or not lo_n.is_integer() or not hi_n.is_integer():
                issues.append(
                    Issue(
                        loc,
                        "a range needs integer 'from' and 'to'",
                        "write {from: 1, to: 12}",
                        code="set",
                    )
                )
                return None
            # the size is bounded by the memory budget, checked before (resolve_data)
            return SetData(name, list(range(int(lo_n), int(hi_n) + 1)))
        if "elements" in spec:  # lenient: {elements: [...]}
            return resolve_set(name, spec["elements"], issues)
        issues.append(
            Issue(
                loc,
                "a set is a list of elements or {from, to}",
                "write [a, b, c] or {from: 1, to: 12}",
                code="set",
            )
        )
        return None
    if not isinstance(spec, Sequence) or isinstance(spec, str):
        issues.append(
            Issue(
                loc,
                "a set is a list of elements or {from, to}",
                "write [a, b, c] or {from: 1, to: 12}",
                code="set",
            )
        )
        return None
    elements: list[Element] = []
    dim: int | None = None
    ok = True
    for k, raw in enumerate(spec):
        if isinstance(raw, list | tuple):
            parts = [_element(p) for p in raw]
            if len(raw) < 2 or any(p is None for p in parts):
                issues.append(
                    Issue(
                        f"{loc}[{k}]",
                        "a tuple element has ≥ 2 labels or integers",
                        "write [a, b]",
                        code="set",
                    )
                )
                ok = False
                continue
            e: Element = tuple(parts)
            d = len(parts)
        else:
            e = _element(raw)
            d = 1
            if e is None:
                issues.append(
                    Issue(
                        f"{loc}[{k}]",
                        f"{raw!r} is not a label or an integer",
                        "set elements are strings or integers",
                        code="set",
                    )
                )
                ok = False
                continue
        if dim is None:
            dim = d
        elif d != dim:
            issues.append(
                Issue(
                    f"{loc}[{k}]",
                    f"has {d} parts but earlier elements have {dim}",
                    "all tuples in a set have the same length",
                    code="set",
                )
            )
            ok = False
            continue
        elements.append(e)
    seen: dict[str, Element] = {}
    for k, e in enumerate(elements):
        text = element_text(e)
        if text in seen:
            if seen[text] == e:
                msg = f"duplicate element {text!r}"
            else:
                msg = f"elements {seen[text]!r} and {e!r} are written the same"
            issues.append(Issue(f"{loc}[{k}]", msg, "list each element once", code="set"))
            ok = False
        seen.setdefault(text, e)
    if not ok:
        return None
    return SetData(name, elements, dim or 1)


def _fill_nested(
    arr: np.ndarray,
    values: Any,
    axes: list[SetData],
    depth: int,
    at: tuple[int, ...],
    loc: str,
    issues: list[Issue],
) -> None:
    s = axes[depth]
    last = depth == len(axes) - 1
    if isinstance(values, Mapping):
        if s.dim > 1:
            issues.append(
                Issue(
                    loc,
                    f"set {s.name} holds tuples and has no mapping form",
                    "use nested lists in the set's order, or rows",
                    code="shape",
                )
            )
            return
        for key, sub in values.items():
            k = s.lookup(key)
            if k is None:
                hint = did_you_mean(str(key), s.text_pos)
                issues.append(
                    Issue(
                        f"{loc}.{key}",
                        f"'{key}' is not an element of set {s.name}",
                        hint,
                        code="element",
                    )
                )
                continue
            _place(arr, sub, axes, depth, at + (k,), f"{loc}.{key}", last, issues)
    elif isinstance(values, Sequence) and not isinstance(values, str):
        if len(values) != len(s):
            issues.append(
                Issue(
                    loc,
                    f"has {len(values)} entries but set {s.name} has {len(s)}",
                    f"give one entry per element of {s.name}, in its order",
                    code="shape",
                )
            )
            return
        for k, sub in enumerate(values):
            _place(arr, sub, axes, depth, at + (k,), f"{loc}[{k}]", last, issues)
    else:
        issues.append(
            Issue(
                loc,
                f"expected a list or mapping over set {s.name}",
                "nest one level per index",
                code="shape",
            )
        )


def _place(
    arr: np.ndarray,
    sub: Any,
    axes: list[SetData],
    depth: int,
    at: tuple[int, ...],
    loc: str,
    last: bool,
    issues: list[Issue],
) -> None:
    if last:
        number = as_number(sub)
        if number is None:
            issues.append(
                Issue(loc, f"{sub!r} is not a number", "parameter values are numbers", code="value")
            )
        else:
            arr[at] = number
    else:
        _fill_nested(arr, sub, axes, depth + 1, at, loc, issues)


def resolve_param(
    name: str,
    spec: Any,
    sets: Mapping[str, SetData],
    issues: list[Issue],
    tables: TableReader | None = None,
    unread: Collection[str] = frozenset(),
) -> ParamData | None:
    """A parameter's values as an array over its index sets; None (with issues) when unusable.

    ``unread`` names the sets that are declared but could not be read (a
    table without a data folder, a missing column): a parameter over one of
    them is skipped quietly, since the set's own issue says what is wrong and
    an "unknown set" would send the reader after a set that exists.
    """
    loc = f"parameters.{name}"
    if not isinstance(spec, Mapping) and not isinstance(spec, IndexedParameter):
        number = as_number(spec)
        if number is None:
            if isinstance(spec, list):
                hint = "an indexed parameter is {index: [Set], values: [...]}"
            else:
                hint = "write a number, or {index: [...], values: ...}"
            issues.append(Issue(loc, f"{spec!r} is not a number", hint, code="value"))
            return None
        return ParamData(name, [], np.array(number))
    if isinstance(spec, Mapping) and "index" not in spec and "value" in spec:
        return resolve_param(name, spec["value"], sets, issues)  # lenient {value: 3}
    try:
        p = spec if isinstance(spec, IndexedParameter) else IndexedParameter.model_validate(spec)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            if err["type"] == "missing":
                msg, hint = "is required", "write {index: [I, J], values: [[...]]}"
            else:
                msg, hint = err["msg"].removeprefix("Value error, "), ""
            issues.append(Issue(f"{loc}.{where}" if where else loc, msg, hint, code="schema"))
        return None
    except Exception:
        issues.append(
            Issue(
                loc,
                "an indexed parameter needs 'index' and 'values' (or 'rows')",
                "write {index: [I, J], values: [[...]]}",
                code="schema",
            )
        )
        return None
    if p.table is not None and (tables is None or tables.folder is None):
        try:
            resolve_path(None, p.table, f"{loc}.table")
        except TableError as exc:  # always: there is no folder to read it from
            issues.extend(exc.issues)
        return None
    axes: list[SetData] = []
    for k, sname in enumerate(p.index):
        if sname not in sets and sname in unread:
            return None
        if sname not in sets:
            issues.append(
                Issue(
                    f"{loc}.index[{k}]",
                    f"unknown set '{sname}'",
                    did_you_mean(str(sname), sets),
                    code="undefined",
                )
            )
            return None
        axes.append(sets[sname])
    shape = tuple(len(s) for s in axes)
    fill = np.nan if p.default is None else p.default
    arr = np.full(shape, fill, dtype=float)
    before = len(issues)
    if p.table is not None:
        axis_info = [Axis(s.name, s.dim, s.elements, s.values) for s in axes]
        table_spec = p.model_dump(exclude_none=True)
        try:
            issues.extend(table_param(table_spec, axis_info, arr, loc, tables or TableReader(None)))
        except TableError as exc:
            issues.extend(exc.issues)
    elif p.rows is not None:
        width = sum(s.dim for s in axes) + 1
        for r, row in enumerate(p.rows):
            rloc = f"{loc}.rows[{r}]"
            if not isinstance(row, list | tuple) or len(row) != width:
                issues.append(
                    Issue(
                        rloc,
                        f"a row has {width} entries (indices then value)",
                        f"write [{', '.join(s.name for s in axes)}, value]",
                        code="shape",
                    )
                )
                continue
            at: list[int] = []
            c = 0
            bad = False
            for s in axes:
                key = row[c] if s.dim == 1 else tuple(row[c : c + s.dim])
                c += s.dim
                found = s.lookup(key)
                if found is None:
                    issues.append(
                        Issue(
                            rloc,
                            f"{key!r} is not an element of set {s.name}",
                            did_you_mean(str(key), s.text_pos),
                            code="element",
                        )
                    )
                    bad = True
                    break
                at.append(found)
            number = as_number(row[-1])
            if number is None and not bad:
                issues.append(
                    Issue(
                        rloc,
                        f"{row[-1]!r} is not a number",
                        "the last entry of a row is the value",
                        code="value",
                    )
                )
                bad = True
            if not bad:
                arr[tuple(at)] = number
    elif p.values is not None:
        if not axes:
            number = as_number(p.values)
            if number is None:
                issues.append(Issue(loc, "values is not a number", "", code="value"))
            else:
                arr = np.array(number)
        else:
            fast = _fast_dense(p.values, shape)
            if fast is not None:
                arr = fast
            else:
                _fill_nested(arr, p.values, axes, 0, (), f"{loc}.values", issues)
    elif p.default is None:
        issues.append(
            Issue(
                loc,
                "has neither 'values' nor 'rows'",
                "give values, rows, or a default",
                code="schema",
            )
        )
    if len(issues) > before:
        return None
    return ParamData(name, list(p.index), arr)


def _fast_dense(values: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """Nested lists of plain numbers of the right shape, converted in one call."""
    if not isinstance(values, list):
        return None
    try:
        arr = np.asarray(values, dtype=float)
    except (ValueError, TypeError, OverflowError):
        return None
    if arr.shape != shape or not np.all(np.isfinite(arr)):
        return None  # the slow path reports each bad entry with its location
    if any(isinstance(x, bool) for x in np.asarray(values, dtype=object).flat):
        return None
    return arr


def resolve_data(
    f: Formulation, issues: list[Issue], memory_budget: int | str | None = None
) -> ModelData:
    """Sets and parameters as arrays, after checking that the model fits in memory.

    The memory estimate (:func:`modeling.limits.check_memory`) runs before
    any set or array is built: first on the data tables' cell counts (from a
    line count of each file, so an oversized table is refused before it is
    parsed), then, once the sets read from tables are known, on every set's
    size, the tables included.  A model over budget gets one located issue
    and no data (so nothing large is allocated).  Then parameter values
    solvers would read as infinite, and powers they cannot take
    (:func:`modeling.limits.check_powers`), are reported.
    """
    tables = TableReader(f.data_dir, memory_budget)
    cells = table_cells(f.sets, f.parameters, f.data_dir)
    sizes = {name: set_size(spec) or 0 for name, spec in f.sets.items()}  # tables: 0 for now
    over = check_memory(f, sizes, memory_budget, cells) if cells else []
    if over:
        issues.extend(over)
        return ModelData({}, {})
    from_tables: dict[str, SetData] = {}
    for name, spec in f.sets.items():  # read first (within the table byte limit): sizes
        if isinstance(spec, Mapping) and "table" in spec:
            s = resolve_set(name, spec, issues, tables)
            if s is not None:
                from_tables[name] = s
    sizes.update({name: len(s) for name, s in from_tables.items()})
    over = check_memory(f, sizes, memory_budget, cells)
    if over:
        issues.extend(over)
        return ModelData({}, {})
    sets: dict[str, SetData] = {}
    for name, spec in f.sets.items():
        s = from_tables.get(name) if name in from_tables else None
        if s is None and not (isinstance(spec, Mapping) and "table" in spec):
            s = resolve_set(name, spec, issues)
        if s is not None:
            sets[name] = s
    unread = {name for name in f.sets if name not in sets}
    params: dict[str, ParamData] = {}
    for name, spec in f.parameters.items():
        p = resolve_param(name, spec, sets, issues, tables, unread)
        if p is not None:
            params[name] = p
            huge = _huge_value(p, sets)
            if huge is not None:
                issues.append(huge)
    data = ModelData(sets, params)
    issues.extend(check_powers(f, data))
    return data


def _huge_value(p: ParamData, sets: Mapping[str, SetData]) -> Issue | None:
    """A finite entry of 1e20 or more, which every solver reads as infinite."""
    arr = np.asarray(p.array, dtype=float)
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(np.isfinite(arr) & (np.abs(arr) >= SOLVER_INFINITY))
    if not len(bad):
        return None
    if p.scalar:
        shown, where = f"{float(arr):.3g}", f"parameters.{p.name}"
    else:
        at = np.unravel_index(int(bad[0]), arr.shape)
        key = ", ".join(
            element_text(sets[s].elements[int(k)]) for s, k in zip(p.sets, at, strict=True)
        )
        shown = f"{arr.reshape(-1)[bad[0]]:.3g} at [{key}]"
        where = f"parameters.{p.name}"
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return Issue(
        where,
        f"has the value {shown}{more}, at or above {SOLVER_INFINITY:.0e}, which solvers treat "
        "as infinite",
        "rescale the units (e.g. thousands); for 'no limit' leave the bound out or write null",
        code="value",
    )


def missing_entry_message(p: ParamData, at: tuple[int, ...], sets: Mapping[str, SetData]) -> str:
    key = ", ".join(element_text(sets[s].elements[k]) for s, k in zip(p.sets, at, strict=True))
    return f"parameter {p.name}[{key}] has no value and no default"


def isfinite_or_none(x: float | None) -> float | None:
    if x is None or math.isinf(x):
        return None
    return x


def param_entries(
    p: ParamData, sets: Mapping[str, SetData], default: float | None = None
) -> dict[Any, float]:
    """An indexed parameter's defined entries, keyed as Pyomo reads them.

    A key is the element for one plain index, else the flat tuple of the
    elements (a tuple set's parts in place); undefined entries (NaN) and those
    equal to ``default`` are left out.  This is what a Pyomo ``Param``'s
    ``initialize`` takes, whether the export writes it out or the script reads it.
    """
    axes = [sets[s].elements for s in p.sets]
    arr = p.array
    flat = arr.reshape(-1)
    keep = ~np.isnan(flat)
    if default is not None:
        keep &= flat != default
    out: dict[Any, float] = {}
    for k in np.flatnonzero(keep):
        at = np.unravel_index(int(k), arr.shape)
        key: list[Any] = []
        for axis, i in enumerate(at):
            e = axes[axis][int(i)]
            key.extend(e if isinstance(e, tuple) else (e,))
        out[key[0] if len(key) == 1 else tuple(key)] = float(flat[k])
    return out


def read_data(
    sets: Mapping[str, Any],
    parameters: Mapping[str, Any],
    data: str | Path | None = None,
    memory_budget: int | str | None = None,
) -> ModelData:
    """The ``sets`` and ``parameters`` sections of a document, resolved; tables read from ``data``.

    What ``optiwise export --to pyomo --data-refs`` scripts call when they run,
    so that they read the tables exactly as ``optiwise solve --data`` does
    (same checks, same element types).  Raises :class:`FormulationError` with
    every located issue.
    """
    from modeling.formulation import load

    taken = set(sets) | set(parameters)
    var = "x"
    while var in taken:
        var += "_"
    doc = {
        "sets": dict(sets),
        "parameters": dict(parameters),
        "variables": {var: {}},
        "objective": {"sense": "minimize", "expression": var},
    }
    f = load(doc, data=data)
    issues: list[Issue] = []
    out = resolve_data(f, issues)
    if issues:
        raise FormulationError(issues)
    return out
