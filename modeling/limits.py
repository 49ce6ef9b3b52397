"""Limits checked before anything is built: exponents, expansions, magnitudes and memory.

A formulation is small to write and can still be enormous to build: a set
``{from: 1, to: 100000000}``, a variable indexed by three such sets, or
``x ** 100000``, which a solver interface may multiply out term by term.
Everything here runs on the *document* (the parsed expressions and the set
sizes), before the compiler materialises a single array, so a pathological
input is refused in milliseconds with a located error instead of exhausting
the machine's memory or hanging a process.

The limits:

* :data:`MAX_EXPONENT` — the largest constant exponent of a non-constant base
  (``x ** 100`` is accepted, ``x ** 101`` is not).
* :data:`MAX_EXPANSION` — the largest number of monomials a constant integer
  power of a sum may expand to (``(1 + x + y) ** 3`` has 10, ``sum(x[i] for i in
  I) ** 4`` over 100 elements has 4.6 million).
* :data:`SOLVER_INFINITY` — solvers (HiGHS, SCIP, CBC) treat magnitudes of
  1e20 and above as infinite, so a coefficient, a parameter value or a power
  that can reach it is refused rather than silently turned into "unbounded".
* the **memory budget** — :func:`estimate_memory` predicts the bytes the
  compiler and the default solver need (data tables included: their cells
  and the sets read from them, counted from the files without parsing them);
  when it exceeds :func:`memory_budget` (half of the machine's available
  memory unless ``OPTIWISE_MEMORY_BUDGET`` says otherwise) the document is
  refused with the estimate and the budget.  After compiling,
  :func:`check_backend_memory` does the same for the backend that will solve
  the model (Pyomo with SCIP needs ~45x HiGHS' memory per variable).
"""

from __future__ import annotations

import math
import os
import re
import resource
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modeling.errors import Issue

if TYPE_CHECKING:
    from modeling.data import ModelData
    from modeling.expressions import Node
    from modeling.formulation import Formulation

MAX_EXPONENT = 100
MAX_EXPANSION = 100_000
SOLVER_INFINITY = 1e20
BUDGET_ENV = "OPTIWISE_MEMORY_BUDGET"
DEFAULT_SHARE = 0.5  # of the available memory, when no budget is configured

# Bytes per unit, fitted to the peak memory of check + solve with HiGHS at 10^6
# variables (README "Limits" has the commands): a set element (the list,
# the int or str object, its position; its text form only when used), a dense
# parameter entry, a column
# (bounds, type, objective, solution, duals and the solver's copy) and one
# binding of one expression node during compilation (index arrays, COO triplets,
# the solver's copy of a nonzero).
BYTES_PER_ELEMENT = 200
BYTES_PER_ENTRY = 8
BYTES_PER_COLUMN = 120
BYTES_PER_TERM = 90
# A table cell as read (an object array of stripped Python strings): 80 B retained,
# 88 B at the peak, for a 1M-row x 3-column CSV of 18.6 MB (6.5 B per cell on disk),
# measured with /proc/self/statm and ru_maxrss around TableReader.table (130 B when
# the cells went through pandas' str dtype first).
BYTES_PER_CELL = 90
BASE_BYTES = 64 * 2**20  # compiler and solver overhead of any model


# ------------------------------------------------------------------ budget


_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str) -> int | float:
    """Bytes from ``"2G"``, ``"512M"``, ``"1.5g"``, ``"1000000"``; a share from ``"40%"``.

    A share comes back as a float in (0, 1]; a byte count as an int.  Raises
    ``ValueError`` with what was wrong.
    """
    s = text.strip().lower().removesuffix("ib").removesuffix("b")
    m = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*(%|[kmgt]?)", s)
    if not m:
        raise ValueError(f"{text!r} is not a size; write e.g. 4G, 512M, 1000000 or 50%")
    number, unit = float(m.group(1)), m.group(2)
    if unit == "%":
        if not 0 < number <= 100:
            raise ValueError(f"{text!r}: a share is between 0% and 100%")
        return number / 100
    value = int(number * _UNITS[unit])
    if value <= 0:
        raise ValueError(f"{text!r}: a budget must be positive")
    return value


def available_memory() -> int:
    """Bytes this process can still use: MemAvailable, capped by cgroup and RLIMIT_AS."""
    avail: int | None = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 4 * 2**30  # unknown platform: assume a small machine
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as fh:
                raw = fh.read().strip()
        except OSError:
            continue
        if raw.isdigit():
            used = _cgroup_usage(path)
            avail = min(avail, max(int(raw) - used, 0))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        avail = min(avail, max(soft - _vm_size(), 0))
    return avail


def _cgroup_usage(limit_path: str) -> int:
    usage = limit_path.replace("memory.max", "memory.current").replace(
        "limit_in_bytes", "usage_in_bytes"
    )
    try:
        with open(usage, encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return 0


def _vm_size() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def memory_budget(budget: int | str | None = None) -> int:
    """The memory a model may need, in bytes.

    ``budget`` (bytes, or a string as :func:`parse_size` reads) wins; then the
    environment variable ``OPTIWISE_MEMORY_BUDGET`` (e.g. ``8G`` or ``30%``);
    otherwise half of :func:`available_memory`.  A share is of the available
    memory.  A malformed environment value falls back to the default rather
    than breaking every check.
    """
    spec: int | float | None = None
    if isinstance(budget, int):
        spec = budget
    elif isinstance(budget, str):
        spec = parse_size(budget)
    else:
        raw = os.environ.get(BUDGET_ENV, "").strip()
        if raw:
            try:
                spec = parse_size(raw)
            except ValueError:
                spec = None
    if spec is None:
        spec = DEFAULT_SHARE
    if isinstance(spec, float):
        return int(available_memory() * spec)
    return spec


def human(nbytes: float) -> str:
    """``1.5 GB``-style text for a byte count."""
    for unit, size in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("kB", 2**10)):
        if abs(nbytes) >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{int(nbytes)} B"


# --------------------------------------------------------------- estimates


@dataclass
class Estimate:
    """What building a model will take, from the document alone."""

    set_elements: int = 0
    param_entries: int = 0
    columns: int = 0
    terms: int = 0  # bindings × expression nodes during compilation (≈ nonzeros and more)
    table_cells: int = 0  # cells of the data tables read (text until converted)
    biggest: str = ""  # the location that contributes most
    biggest_bytes: int = 0

    @property
    def bytes(self) -> int:
        return (
            BASE_BYTES
            + self.set_elements * BYTES_PER_ELEMENT
            + self.param_entries * BYTES_PER_ENTRY
            + self.columns * BYTES_PER_COLUMN
            + self.terms * BYTES_PER_TERM
            + self.table_cells * BYTES_PER_CELL
        )

    def note(self, location: str, nbytes: int) -> None:
        if nbytes > self.biggest_bytes:
            self.biggest, self.biggest_bytes = location, nbytes

    def describe(self) -> str:
        parts = []
        if self.columns:
            parts.append(f"{self.columns:,} variables")
        if self.terms and self.columns:  # terms without variables are a constant's
            parts.append(f"~{self.terms:,} expression terms")
        if self.set_elements:
            parts.append(f"{self.set_elements:,} set elements")
        if self.param_entries:
            parts.append(f"{self.param_entries:,} parameter entries")
        if self.table_cells:
            parts.append(f"{self.table_cells:,} table cells")
        return ", ".join(parts) or "an empty model"


def set_size(spec: Any, folder: str | Path | None = None) -> int | None:
    """Elements of a set as written, without building it (None when malformed).

    A set read from a table (``{table: f.csv, column: c}``) is counted from
    the file in ``folder`` without parsing it: its data rows (an upper bound
    on the distinct values of a column), or its header cells for
    ``column_labels``.  Without a folder, or when the file cannot be
    resolved, it is None (reading the table reports why).
    """
    from modeling.formulation import as_number

    if isinstance(spec, Mapping):
        if "table" in spec:
            return _table_set_size(spec, folder)
        if "from" in spec or "to" in spec:
            lo, hi = as_number(spec.get("from")), as_number(spec.get("to"))
            if lo is None or hi is None or not math.isfinite(lo) or not math.isfinite(hi):
                return None
            return max(int(hi) - int(lo) + 1, 0)
        if "elements" in spec:
            return set_size(spec["elements"])
        return None
    if isinstance(spec, list | tuple):
        return len(spec)
    return None


def _table_set_size(spec: Mapping[str, Any], folder: str | Path | None) -> int | None:
    from modeling.tables import TableError, resolve_path, table_shape

    if folder is None:
        return None
    try:
        path = resolve_path(folder, spec.get("table"), "sets")
    except TableError:
        return None
    rows, cols = table_shape(path, spec.get("header", True) is not False)
    if "column_labels" in spec:  # the header labels from that column on
        first = spec["column_labels"]
        start = 2 if first is True else first if isinstance(first, int) else 1
        return max(cols - (start - 1), 0)
    column = spec.get("column")
    if isinstance(column, list):  # a union of several columns, row by row
        return rows * len(column)
    return rows


def _index_sets(spec: Any) -> list[str]:
    if isinstance(spec, Mapping):
        idx = spec.get("index")
        if isinstance(idx, str):
            return [idx]
        if isinstance(idx, list):
            return [str(s) for s in idx]
    return []


def estimate_memory(
    f: Formulation,
    sizes: Mapping[str, int] | None = None,
    tables: Sequence[tuple[str, int]] | None = None,
) -> Estimate:
    """Predict the memory compiling and solving ``f`` takes, before building anything.

    ``sizes`` maps set names to their sizes (computed from the document when
    omitted; a set read from a table counts the table's data rows, see
    :func:`set_size`).  ``tables`` lists ``(location, cells)`` of the data
    tables the document reads (counted from the files in its data folder when
    omitted, see :func:`modeling.tables.table_cells`).  Expressions that do
    not parse count as empty; the compiler reports them.
    """
    from modeling.expressions import ParseFailure, parse_expression, parse_forall, parse_relation

    if sizes is None:
        sizes = {name: set_size(spec, f.data_dir) or 0 for name, spec in f.sets.items()}
    if tables is None:
        from modeling.tables import table_cells

        tables = table_cells(f.sets, f.parameters, f.data_dir)
    est = Estimate()
    for loc, cells in tables:
        est.table_cells += cells
        est.note(loc, cells * BYTES_PER_CELL)
    for name in f.sets:
        n = sizes.get(name, 0)
        est.set_elements += n
        est.note(f"sets.{name}", n * BYTES_PER_ELEMENT)
    for name, spec in f.parameters.items():
        idx = _index_sets(spec)
        if idx:
            n = math.prod(sizes.get(s, 0) for s in idx)
            est.param_entries += n
            est.note(f"parameters.{name}", n * BYTES_PER_ENTRY)
    for name, v in f.variables.items():
        n = math.prod(sizes.get(s, 0) for s in v.index) if v.index else 1
        est.columns += n
        est.note(f"variables.{name}", n * BYTES_PER_COLUMN)
    try:
        node = parse_expression(f.objective.expression)
        t = _terms(node, 1, sizes)
        est.terms += t
        est.note("objective.expression", t * BYTES_PER_TERM)
    except ParseFailure:
        pass
    for k, c in enumerate(f.constraints):
        try:
            n, t = 1, 1  # bindings; terms of the forall's index arrays
            if c.forall:
                for g in parse_forall(c.forall):
                    n *= sizes.get(g.set, 0)
                    t += n * (2 + len(g.conds))  # repeat/tile arrays, condition masks
            rel = parse_relation(c.expression)
        except ParseFailure:
            continue
        for part in (rel.lhs, rel.rhs) if rel.body is None else (rel.body,):
            t += _terms(part, max(n, 1), sizes)  # each node is evaluated once per binding
        est.terms += t
        est.note(f"constraints[{k}]", t * BYTES_PER_TERM)
    return est


def _terms(root: Node, n: int, sizes: Mapping[str, int]) -> int:
    """Bindings × nodes the compiler evaluates for ``root`` over ``n`` bindings."""
    from modeling.expressions import Aggregate, Index, Name, Num, Str, Sum, children

    total = 0
    stack: list[tuple[Node, int]] = [(root, n)]
    while stack:
        node, m = stack.pop()
        total += m
        if isinstance(node, Index):  # an index name or a label costs no array of its own
            stack.extend((c, m) for c in node.items if not isinstance(c, Name | Str | Num))
            continue
        if isinstance(node, Sum | Aggregate):
            inner = m
            for g in node.gens:
                inner *= sizes.get(g.set, 0)
                total += inner * (2 + len(g.conds))  # repeat/tile arrays, condition masks
            stack.append((node.body, inner))
            continue
        stack.extend((c, m) for c in children(node))
    return total


def check_memory(
    f: Formulation,
    sizes: Mapping[str, int],
    budget: int | str | None = None,
    tables: Sequence[tuple[str, int]] | None = None,
) -> list[Issue]:
    """An issue when the model's estimated memory exceeds the budget, else [].

    ``tables`` as for :func:`estimate_memory`.
    """
    est = estimate_memory(f, sizes, tables)
    limit = memory_budget(budget)
    if est.bytes <= limit:
        return []
    where = est.biggest or "document"
    return [
        Issue(
            where,
            f"the model needs about {human(est.bytes)} to build ({est.describe()}), "
            f"more than the memory budget of {human(limit)}",
            f"use smaller sets, tables or fewer indices (the largest part is {where}); "
            f"to allow more, set {BUDGET_ENV} (e.g. 16G or 80%)",
            code="size",
        )
    ]


# ------------------------------------------------------------- backends

# What each backend (and solver) builds from a compiled model, on top of it:
# (fixed bytes, bytes per column, bytes per nonzero), a nonzero being a linear
# matrix entry, a quadratic term or a node of a nonlinear expression.  Least-
# squares fits of the peak growth of a fresh process that loads a pickled
# compiled LP and solves it (2 or 6 nonzeros per column; 20k-60k columns, and
# 5k-15k for pyomo+scip, which is slow; the solver's own process counted for
# pulp+cbc), measured 2026-12-03 on 2 shared cores with
#
#   .venv/bin/python bench/backend_memory.py --sizes 4000 12000 \
#       --routes highs pyomo:highs pulp pulp:cbc
#   .venv/bin/python bench/backend_memory.py --sizes 1000 3000 --routes pyomo:scip
#
#   highs         7.9 MB +   422 B/column +  218 B/nonzero
#   pyomo/highs   3.9 MB +  1642 B/column +  626 B/nonzero
#   pyomo/scip   10.5 MB + 19635 B/column +  511 B/nonzero   (~45x HiGHS per column)
#   pulp/highs    1.6 MB +   870 B/column +  554 B/nonzero
#   pulp/cbc     70.2 MB +  1801 B/column + 1094 B/nonzero   (CBC runs as a process)
BACKEND_BYTES: dict[str, tuple[int, int, int]] = {
    "highs": (8 * 2**20, 422, 218),
    "pyomo/highs": (4 * 2**20, 1642, 626),
    "pyomo/scip": (11 * 2**20, 19_635, 511),
    "pulp/highs": (2 * 2**20, 870, 554),
    "pulp/cbc": (70 * 2**20, 1801, 1094),
}
DEFAULT_SOLVER = {"highs": "highs", "pulp": "highs"}


def backend_key(backend: str, solver: str | None = None) -> str:
    """``highs``, ``pyomo/scip``, ``pulp/cbc``: the row of :data:`BACKEND_BYTES` that applies.

    A solver not measured counts as the most demanding one of its backend.
    """
    backend = backend.lower()
    if backend == "highs":
        return "highs"
    name = (solver or DEFAULT_SOLVER.get(backend, "")).lower()
    name = "scip" if name.startswith("scip") else name
    key = f"{backend}/{name}"
    if key in BACKEND_BYTES:
        return key
    rows = [k for k in BACKEND_BYTES if k.startswith(f"{backend}/")]
    return max(rows, key=lambda k: BACKEND_BYTES[k][1], default="pyomo/scip")


@dataclass
class BackendEstimate:
    """The memory solving a compiled model on one backend takes."""

    key: str
    columns: int
    nonzeros: int
    model_bytes: int  # the compiled model's arrays, already in memory

    @property
    def bytes(self) -> int:
        fixed, per_col, per_nnz = BACKEND_BYTES[self.key]
        return (
            BASE_BYTES + fixed + self.model_bytes + self.columns * per_col + self.nonzeros * per_nnz
        )


def _tree_nodes(tree: Any) -> int:
    """Nodes of one expression tree (a ``poly`` tree counts its terms)."""
    count, stack = 0, [tree]
    while stack:
        t = stack.pop()
        if not isinstance(t, tuple) or not t:
            continue
        if t[0] == "poly":
            count += 1 + len(t[2]) + len(t[4])
            continue
        count += 1
        stack.extend(c for c in t[1:] if isinstance(c, tuple))
    return count


def estimate_backend(model: Any, backend: str, solver: str | None = None) -> BackendEstimate:
    """What solving ``model`` (a :class:`~modeling.compiler.CompiledModel`) on a backend takes.

    Exact counts from the compiled model: its columns, its linear entries (the
    COO triplets, an upper bound of the matrix's nonzeros), quadratic
    objective terms and the nodes of its nonlinear expressions.
    """
    nnz = len(model.A[0]) + len(model.obj_q[0])
    if model.obj_tree is not None:
        nnz += _tree_nodes(model.obj_tree)
    for block in model.con_blocks:
        if not block.linear:
            nnz += sum(_tree_nodes(t) for t in block.trees)
    arrays = [model.col_lb, model.col_ub, model.col_type, model.obj_c, model.row_lb, model.row_ub]
    arrays += list(model.A)
    model_bytes = sum(int(getattr(a, "nbytes", 0)) for a in arrays)
    return BackendEstimate(backend_key(backend, solver), int(model.ncols), nnz, model_bytes)


def check_backend_memory(
    model: Any, backend: str, solver: str | None = None, budget: int | str | None = None
) -> list[Issue]:
    """An issue when solving ``model`` on ``backend`` would exceed the memory budget, else [].

    The document's estimate (:func:`check_memory`) covers compiling and the
    HiGHS path; Pyomo and PuLP build Python objects per variable and per term
    (Pyomo with SCIP about 45 times HiGHS' memory per variable), so a model
    that compiles may still be too big for them.  Checked after compiling,
    before the backend builds anything.
    """
    est = estimate_backend(model, backend, solver)
    limit = memory_budget(budget)
    if est.bytes <= limit:
        return []
    highs = estimate_backend(model, "highs")
    where = "variables"
    sizes = {name: b.size for name, b in getattr(model, "blocks", {}).items()}
    if sizes:
        where = f"variables.{max(sizes, key=lambda k: sizes[k])}"
    per_col = (est.bytes - BASE_BYTES) / max(est.columns, 1)
    alternative = (
        f"; HiGHS would need about {human(highs.bytes)} (backend highs solves LP, MILP and "
        "convex QP)"
        if est.key != "highs" and highs.bytes <= limit
        else ""
    )
    return [
        Issue(
            where,
            f"solving on {est.key.replace('/', ' with ')} needs about {human(est.bytes)} "
            f"({est.columns:,} variables and ~{est.nonzeros:,} terms at ~{human(per_col)} per "
            f"variable), more than the memory budget of {human(limit)}",
            f"use smaller sets{alternative}; to allow more, set {BUDGET_ENV} (e.g. 16G or 80%)",
            code="size",
        )
    ]


# ------------------------------------------------------------ magnitudes


def literal_value(node: Node) -> float | None:
    """The value of a tree of number literals (``2 ** 10``, ``-3 * 4``), else None.

    Overflow gives ``inf`` (never an exception), so ``2**2**2**2**2**2`` is
    recognised as too large instead of being evaluated.
    """
    from modeling.expressions import BinOp, Neg, Num, Pow

    if isinstance(node, Num):
        return node.value
    if isinstance(node, Neg):
        v = literal_value(node.operand)
        return None if v is None else -v
    if isinstance(node, BinOp | Pow):
        a = literal_value(node.left if isinstance(node, BinOp) else node.base)
        b = literal_value(node.right if isinstance(node, BinOp) else node.exponent)
        if a is None or b is None:
            return None
        try:
            if isinstance(node, Pow):
                r = math.pow(a, b)
            elif node.op == "+":
                r = a + b
            elif node.op == "-":
                r = a - b
            elif node.op == "*":
                r = a * b
            else:
                r = a / b
        except OverflowError:
            return math.inf
        except (ValueError, ZeroDivisionError):
            return math.nan
        return r
    return None


def expansion_size(variables: int, exponent: int) -> int:
    """Monomials of ``(c + v1 + … + vn) ** k`` multiplied out: C(n + k, k)."""
    return math.comb(variables + exponent, exponent)


def check_powers(f: Formulation, data: ModelData) -> list[Issue]:
    """Powers the solvers cannot take: parameter exponents above the limit, expansions too big.

    Literal exponents are checked with the expression itself (see
    :mod:`modeling.expressions`); this adds what needs the data: exponents that
    are parameters, and the number of monomials a power of a sum multiplies
    out to (a solver interface may expand ``(x + y) ** 50``).
    """
    from modeling.expressions import ParseFailure, Pow, parse_expression, parse_relation, walk

    issues: list[Issue] = []
    sizes = {name: len(s) for name, s in data.sets.items()}
    exprs: list[tuple[str, Node]] = []
    try:
        exprs.append(("objective.expression", parse_expression(f.objective.expression)))
    except ParseFailure:
        pass
    for k, c in enumerate(f.constraints):
        try:
            rel = parse_relation(c.expression)
        except ParseFailure:
            continue
        for part in (rel.lhs, rel.rhs):
            exprs.append((f"constraints[{k}].expression", part))
    for loc, root in exprs:
        for node in walk(root):
            if not isinstance(node, Pow):
                continue
            k_exp = _constant_exponent(node.exponent, data)
            if k_exp is None or literal_value(node.base) is not None:
                continue
            if literal_value(node.exponent) is None and not (
                math.isfinite(k_exp) and abs(k_exp) <= MAX_EXPONENT
            ):  # literal exponents are checked with the expression (modeling.expressions)
                issues.append(
                    Issue(
                        loc,
                        f"an exponent's value is {k_exp:g}, above the limit of {MAX_EXPONENT}",
                        f"exponents of variables are at most {MAX_EXPONENT} in magnitude; "
                        "rescale the model",
                        code="exponent",
                    )
                )
                continue
            if not (math.isfinite(k_exp) and k_exp.is_integer() and k_exp > 2):
                continue
            k = int(k_exp)
            found = _power_issue(node.base, k, f, data, sizes)
            if found is not None:
                issues.append(Issue(loc, found[0], found[1], code="exponent"))
    return issues


def max_multinomial(parts: int, k: int) -> float:
    """The largest coefficient of ``(a1 + … + a_parts) ** k`` multiplied out."""
    q, r = divmod(k, parts)
    log = math.lgamma(k + 1) - r * math.lgamma(q + 2) - (parts - r) * math.lgamma(q + 1)
    return math.exp(log) if log < 700 else math.inf


def _power_issue(
    base: Node, k: int, f: Formulation, data: ModelData, sizes: Mapping[str, int]
) -> tuple[str, str] | None:
    """Why ``base ** k`` (integer k > 2) is beyond the solvers, or None.

    A power of a sum is multiplied out by solver interfaces: its coefficients
    (multinomial) and its number of terms must stay finite for them.  A power
    of one bounded variable must stay below the solvers' infinity on its bounds.
    """
    from modeling.expressions import Index, Name

    nvars = _variable_refs(base, f, sizes)
    parts = nvars + (1 if _has_constant(base, data) else 0)
    if parts >= 2:
        coef = max_multinomial(parts, k)
        if coef >= SOLVER_INFINITY:
            return (
                f"a power of a sum to {k}, multiplied out (as solvers do), has coefficients "
                f"up to {coef:.1e}, at or above {SOLVER_INFINITY:.0e}, which solvers treat as "
                "infinite",
                "lower the exponent, or introduce a variable for the sum (s == ...) and "
                "bound the power of s",
            )
        size = expansion_size(parts - 1, k)
        if size > MAX_EXPANSION:
            return (
                f"a power of a sum of {nvars:,} variables to {k} multiplies out to "
                f"{size:,} terms, more than the limit of {MAX_EXPANSION:,}",
                "introduce a variable for the sum (s == sum(...)) and raise that to the power",
            )
        return None
    if isinstance(base, Name | Index):
        name = base.id if isinstance(base, Name) else base.base
        v = f.variables.get(name)
        if v is None or v.type == "binary":
            return None
        ends = [b for b in (v.lower, v.upper) if isinstance(b, int | float)]
        if len(ends) == 2 and all(math.isfinite(e) for e in ends):
            reach = max(abs(e) for e in ends)
            try:
                top = reach**k
            except OverflowError:
                top = math.inf
            if top >= SOLVER_INFINITY:
                return (
                    f"{name} ** {k} reaches {top:.1e} on {name}'s bounds "
                    f"[{v.lower:g}, {v.upper:g}], at or above {SOLVER_INFINITY:.0e}, which "
                    "solvers treat as infinite",
                    "rescale the variable (e.g. thousands) or lower the exponent",
                )
    return None


def _has_constant(node: Node, data: ModelData) -> bool:
    """Whether a base has a constant part (a number or parameter anywhere in it)."""
    from modeling.expressions import Index, Name, Num, walk

    for n in walk(node):
        if isinstance(n, Num):
            return True
        if isinstance(n, Name) and n.id in data.params:
            return True
        if isinstance(n, Index) and n.base in data.params:
            return True
    return False


def _constant_exponent(node: Node, data: ModelData) -> float | None:
    from modeling.expressions import Name

    v = literal_value(node)
    if v is not None:
        return v
    if isinstance(node, Name) and node.id in data.params and data.params[node.id].scalar:
        return float(data.params[node.id].array)
    return None


def _variable_refs(node: Node, f: Formulation, sizes: Mapping[str, int]) -> int:
    """Distinct variables a base can contain: scalar names, indexed refs, sums over sets."""
    from modeling.expressions import Aggregate, Index, Name, Sum, children

    total = 0
    stack: list[tuple[Node, int]] = [(node, 1)]
    while stack:
        cur, mult = stack.pop()
        if isinstance(cur, Name | Index):
            name = cur.id if isinstance(cur, Name) else cur.base
            if name in f.variables:
                total += mult
            if isinstance(cur, Index):
                continue
        if isinstance(cur, Sum | Aggregate):
            m = mult
            for g in cur.gens:
                m *= sizes.get(g.set, 0)
            stack.append((cur.body, m))
            continue
        stack.extend((c, mult) for c in children(cur))
    return total


def value_issue(value: float, location: str) -> Issue | None:
    """An issue for a finite number a solver would read as infinite (|v| ≥ 1e20)."""
    if math.isfinite(value) and abs(value) >= SOLVER_INFINITY:
        return Issue(
            location,
            f"the value {value:.3g} is at or above {SOLVER_INFINITY:.0e}, which solvers treat "
            "as infinite",
            "rescale the units (e.g. thousands instead of units); for 'no limit' leave the "
            "bound out or write null",
            code="value",
        )
    return None


__all__ = [
    "BACKEND_BYTES",
    "BUDGET_ENV",
    "BYTES_PER_CELL",
    "BackendEstimate",
    "MAX_EXPANSION",
    "MAX_EXPONENT",
    "SOLVER_INFINITY",
    "Estimate",
    "available_memory",
    "backend_key",
    "check_backend_memory",
    "check_memory",
    "check_powers",
    "estimate_backend",
    "estimate_memory",
    "expansion_size",
    "human",
    "literal_value",
    "max_multinomial",
    "memory_budget",
    "parse_size",
    "set_size",
    "value_issue",
]
