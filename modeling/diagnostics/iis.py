"""Why a model is infeasible: an irreducible infeasible subset in the document's names."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Literal, cast

import numpy as np

from modeling.backends import Backend, Capability, IISBackend, backend_with, get_backend
from modeling.compiler import (
    CompiledModel,
    ConBlock,
    ModelClass,
    Source,
    instance_label,
)
from modeling.diagnostics._labels import (
    DEFAULT_TIME_LIMIT,
    DiagnosticsError,
    _block_of_col,
    _block_of_row,
    _column_key,
    _InstanceData,
    _Labels,
    _linear_text,
    _model,
    _relation_text,
)
from modeling.diagnostics.reports import (
    IISMember,
    InfeasibilityReport,
)
from modeling.format import format_number
from modeling.result import Status

# ------------------------------------------------------------ describing members


class _Describer:
    """Turns rows, bounds and nonlinear instances into :class:`IISMember` objects."""

    def __init__(self, model: CompiledModel) -> None:
        self.model = model
        self.A = model.matrix
        self.data = _InstanceData(model)
        self.labels = _Labels(model)

    def row(self, row: int) -> IISMember:
        m = self.model
        blk, k = _block_of_row(m, row)
        c = m.formulation.constraints[blk.index]
        start, end = self.A.indptr[row], self.A.indptr[row + 1]
        terms = [
            (self.labels.column(int(j)), float(v))
            for j, v in zip(self.A.indices[start:end], self.A.data[start:end], strict=True)
            if v != 0
        ]
        lo, hi = float(m.row_lb[row]), float(m.row_ub[row])
        instance = _relation_text(_linear_text(terms), lo, hi)
        if not terms:  # no variable left (``p >= 5``): the data as written, not ``0 >= 2``
            instance = self.data.constant_text(blk, k) or instance
        return IISMember(
            kind="constraint",
            label=self.labels.instance(blk, k),
            name=blk.name,
            key=self.labels.key(blk, k),
            location=f"constraints[{blk.index}]",
            expression=c.expression,
            forall=c.forall,
            description=c.description,
            instance=instance,
            lower=_none_if_inf(lo),
            upper=_none_if_inf(hi),
            terms=terms,
            data=self.data.of(blk, k),
        )

    def nonlinear(self, bi: int, k: int) -> IISMember:
        m = self.model
        blk = m.con_blocks[bi]
        c = m.formulation.constraints[blk.index]
        lo, hi = float(blk.lb[k]), float(blk.ub[k])
        return IISMember(
            kind="constraint",
            label=self.labels.instance(blk, k),
            name=blk.name,
            key=self.labels.key(blk, k),
            location=f"constraints[{blk.index}]",
            expression=c.expression,
            forall=c.forall,
            description=c.description,
            lower=_none_if_inf(lo),
            upper=_none_if_inf(hi),
            data=self.data.of(blk, k),
            note="nonlinear constraint",
        )

    def bound(self, col: int, side: Literal["lower", "upper"]) -> IISMember:
        m = self.model
        name, _ = _block_of_col(m, col)
        key = _column_key(m, col)
        label = m.column_label(col)
        value = float(m.col_lb[col] if side == "lower" else m.col_ub[col])
        op = ">=" if side == "lower" else "<="
        vdef = m.formulation.variables[name]
        written = getattr(vdef, side)
        note = ""
        data: dict[str, float] = {}
        if side == "lower" and "lower" not in vdef.model_fields_set:
            note = "the default lower bound 0; write 'lower: null' for a free variable"
        elif isinstance(written, str):
            p = m.data.params.get(written)
            if p is not None:
                if p.scalar:
                    data[written] = float(p.array)
                else:
                    data[instance_label(written, key)] = value
        if vdef.type == "integer":
            note = (note + "; " if note else "") + "integer variable"
        return IISMember(
            kind="bound",
            label=f"{label} {op} {format_number(value)}",
            name=name,
            key=key,
            location=f"variables.{name}.{side}",
            lower=value if side == "lower" else None,
            upper=value if side == "upper" else None,
            data=data,
            note=note,
        )


def _none_if_inf(x: float) -> float | None:
    return None if math.isinf(x) else x


# ------------------------------------------------------------------ feasibility oracles

Cand = tuple[str, int, int]  # ("row", r, 0) | ("lb", j, 0) | ("ub", j, 0) | ("nl", block, k)


def _candidates(model: CompiledModel, nonlinear: bool) -> list[Cand]:
    """Everything a deletion filter may drop; bounds first, so that rows are kept by preference.

    Binary columns keep their 0/1 bounds: they define the variable's domain.
    """
    out: list[Cand] = []
    free = model.col_type != 2
    for j in np.flatnonzero(np.isfinite(model.col_lb) & free).tolist():
        out.append(("lb", j, 0))
    for j in np.flatnonzero(np.isfinite(model.col_ub) & free).tolist():
        out.append(("ub", j, 0))
    for r in range(model.nrows):
        if math.isfinite(model.row_lb[r]) or math.isfinite(model.row_ub[r]):
            out.append(("row", r, 0))
    if nonlinear:
        for bi, b in enumerate(model.con_blocks):
            if not b.linear:
                out.extend(("nl", bi, k) for k in range(b.count))
    return out


def _masks(
    model: CompiledModel, active: Sequence[Cand]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row and column bounds with everything not active relaxed to ±inf."""
    rl = np.full(model.nrows, -np.inf)
    ru = np.full(model.nrows, np.inf)
    cl = np.where(model.col_type == 2, model.col_lb, -np.inf)
    cu = np.where(model.col_type == 2, model.col_ub, np.inf)
    for kind, i, _ in active:
        if kind == "row":
            rl[i], ru[i] = model.row_lb[i], model.row_ub[i]
        elif kind == "lb":
            cl[i] = model.col_lb[i]
        elif kind == "ub":
            cu[i] = model.col_ub[i]
    return rl, ru, cl, cu


class _LinearOracle:
    """Is the linear part (rows, bounds, integrality) infeasible with only ``active`` kept?

    Asks the backend's :class:`~modeling.backends.FeasibilityOracle`, which keeps
    one solver instance warm between checks. A continuous oracle also returns
    the dual (Farkas) ray of its last proof: its support names every row and
    bound that proof used, and lets the deletion filter drop all the others at once.
    """

    def __init__(
        self, model: CompiledModel, deadline: float, backend: IISBackend, integer: bool = True
    ) -> None:
        self.model = model
        self.deadline = deadline
        self.oracle = backend.feasibility_oracle(model, integer=integer)
        self.continuous = self.oracle.continuous
        self.At = model.matrix.T.tocsr()
        self.calls = 0

    def __call__(self, active: Sequence[Cand]) -> bool | None:
        rl, ru, cl, cu = _masks(self.model, active)
        left = self.deadline - time.monotonic()
        if left <= 0:
            return None
        self.calls += 1
        return self.oracle.is_infeasible(rl, ru, cl, cu, time_limit=max(0.05, left))

    def support(self, active: Sequence[Cand]) -> list[Cand] | None:
        """The members of ``active`` that the last infeasibility proof used, if one was kept."""
        if not self.continuous:
            return None
        ray = self.oracle.dual_ray()
        if ray is None:
            return None
        y = np.asarray(ray, dtype=float)[: self.model.nrows]
        if not len(y) or not np.all(np.isfinite(y)):
            return None
        scale = float(np.max(np.abs(y))) if len(y) else 0.0
        if scale == 0:
            return None
        rows = np.abs(y) > 1e-9 * scale
        d = np.abs(self.At @ np.where(rows, y, 0.0))
        cols = d > 1e-9 * max(scale, float(d.max()) if len(d) else 0.0)
        out = []
        for c in active:
            kind, i, _ = c
            if (kind == "row" and rows[i]) or (kind in ("lb", "ub") and cols[i]) or kind == "nl":
                out.append(c)
        return out


class _SolveOracle:
    """Feasibility of the whole model (nonlinear instances too) via :func:`modeling.solve`."""

    def __init__(self, model: CompiledModel, deadline: float) -> None:
        self.model = model
        self.deadline = deadline
        self.calls = 0

    def __call__(self, active: Sequence[Cand]) -> bool | None:
        from modeling.solve import solve

        left = self.deadline - time.monotonic()
        if left <= 0:
            return None
        self.calls += 1
        res = solve(_restricted(self.model, active), time_limit=max(0.5, left))
        if res.status is Status.INFEASIBLE:
            return True
        if res.status.has_solution:
            return False
        return None


def _restricted(model: CompiledModel, active: Sequence[Cand]) -> CompiledModel:
    """A copy of ``model`` with no objective and only the ``active`` candidates enforced."""
    rl, ru, cl, cu = _masks(model, active)
    keep: dict[int, list[int]] = {}
    for kind, bi, k in active:
        if kind == "nl":
            keep.setdefault(bi, []).append(k)
    blocks: list[ConBlock] = []
    for bi, b in enumerate(model.con_blocks):
        if b.linear:
            blocks.append(b)
            continue
        ks = sorted(keep.get(bi, []))
        if not ks:
            continue
        idx = np.asarray(ks, dtype=np.int64)
        blocks.append(
            replace(
                b,
                keys_cols=[c[idx] for c in b.keys_cols],
                count=len(ks),
                trees=[b.trees[k] for k in ks],
                lb=b.lb[idx],
                ub=b.ub[idx],
            )
        )
    m2 = replace(
        model,
        col_lb=cl,
        col_ub=cu,
        row_lb=rl,
        row_ub=ru,
        con_blocks=blocks,
        obj_const=0.0,
        obj_c=np.zeros(model.ncols),
        obj_q=(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)),
        obj_tree=None,
    )
    # with no objective left, the constraints alone decide the class (and the solver)
    nonlinear = any(not b.linear for b in blocks)
    if nonlinear:
        m2.model_class = ModelClass.MINLP if model.integer else ModelClass.NLP
        m2.convex = None
    else:
        m2.model_class = ModelClass.MILP if model.integer else ModelClass.LP
        m2.convex = True
    return m2


def _deletion_filter(
    cands: list[Cand],
    infeasible: Callable[[Sequence[Cand]], bool | None],
    deadline: float,
    support: Callable[[Sequence[Cand]], list[Cand] | None] | None = None,
) -> tuple[list[Cand], bool]:
    """Shrink an infeasible set until dropping any member makes it feasible.

    Chunks are dropped while the rest stays infeasible, halving on failure,
    so a small conflict among many candidates costs about k·log(n) solves.
    With ``support`` (LPs), everything the last infeasibility proof did not
    use is dropped at once, after one check that the rest is still
    infeasible.  Members kept earlier are necessary for every subset, so a
    valid proof always contains them.  Returns the set and whether it is
    proven irreducible (no time-out, no undecided solve).
    """
    keep: list[Cand] = []
    pending = list(cands)
    complete = True

    def shrink(rest: list[Cand]) -> list[Cand]:
        if support is None:
            return rest
        used = support(keep + rest)
        if used is None:
            return rest
        used_set = set(used)
        smaller = [c for c in rest if c in used_set]
        if len(smaller) < len(rest) and infeasible(keep + smaller) is True:
            return smaller
        return rest

    pending = shrink(pending) if support is not None and infeasible(pending) is True else pending
    chunk = max(1, len(pending) // 2)
    while pending:
        if time.monotonic() >= deadline:
            keep.extend(pending)
            return keep, False
        chunk = min(chunk, len(pending))
        rest = pending[chunk:]
        res = infeasible(keep + rest)
        if res is True:
            pending = shrink(rest)
            chunk = max(1, chunk * 2)
        elif chunk > 1:
            chunk //= 2
        else:
            if res is None:
                complete = False
            keep.append(pending[0])
            pending = rest
    return keep, complete


def _iis_seed(model: CompiledModel, deadline: float, backend: IISBackend) -> list[Cand] | None:
    """The backend's IIS of the continuous linear part, as candidates; None when unavailable.

    Binary columns keep their 0/1 bounds: they define the variable's domain.
    """
    left = deadline - time.monotonic()
    if left <= 0:
        return None
    found = backend.iis(model, time_limit=left)
    if found is None:
        return None
    binary = model.col_type == 2
    out: list[Cand] = []
    bounds = sorted(
        [("lb", j, 0) for j in found.lower if not binary[j]]
        + [("ub", j, 0) for j in found.upper if not binary[j]],
        key=lambda c: (c[1], c[0] == "ub"),
    )
    out.extend(bounds)
    out.extend(("row", r, 0) for r in found.rows)
    return out or None


def _iis_backend(name: str | None = None) -> IISBackend:
    """The backend that diagnoses infeasibility: ``name``, or the first declaring IIS."""
    if name is not None:
        be: Backend | None = get_backend(name)
        if be is not None and not be.supports(Capability.IIS):
            raise DiagnosticsError(
                f"backend {name!r} cannot diagnose infeasibility",
                "use a backend that declares the IIS capability ('highs' or 'pyomo')",
            )
    else:
        be = backend_with(Capability.IIS)
    if be is None:
        raise DiagnosticsError(
            "no installed backend can diagnose infeasibility (none declares the IIS capability)",
            "install highspy",
        )
    return cast("IISBackend", be)


_SOLVER_LABEL = {"highs": "HiGHS"}


def explain_infeasible(
    source: Source, time_limit: float = DEFAULT_TIME_LIMIT, backend: str | None = None
) -> InfeasibilityReport:
    """An irreducible infeasible subset of constraint instances and bounds, in document names.

    LP: HiGHS's IIS, verified and made irreducible by a deletion filter.
    MILP (and anything HiGHS's IIS cannot handle): the LP relaxation's IIS, if
    the relaxation is already infeasible, as the starting set, else every
    constraint instance and finite bound; then a deletion filter drops one
    candidate at a time (in growing chunks) and keeps it only if dropping it
    makes the rest feasible.  Nonlinear constraints are handled the same way
    through :func:`modeling.solve` when the linear part alone is feasible.
    With the time budget spent, the set is still infeasible but may not be
    minimal (``irreducible`` is False).

    ``backend`` names the solver side (a backend declaring ``Capability.IIS``:
    ``highs``, or ``pyomo`` for a deletion filter over SCIP); by default the
    first that can run.

    >>> report = explain_infeasible("datasets/samples/infeasible_feed_blend.yaml")  # doctest: +SKIP
    >>> [m.label for m in report.constraints]  # doctest: +SKIP
    ['min_protein', 'max_fat']
    """
    model = _model(source)
    t0 = time.monotonic()
    deadline = t0 + float(time_limit)
    solver = _iis_backend(backend)
    linear = _LinearOracle(model, deadline, solver)
    lin_cands = _candidates(model, nonlinear=False)
    verdict = linear(lin_cands)
    method = "deletion filter"
    describer = _Describer(model)
    if verdict is True:
        seed = _iis_seed(model, deadline, solver)
        cands = lin_cands
        if seed is not None and linear(seed) is True:
            cands = seed
            name = getattr(solver, "name", "")
            method = f"{_SOLVER_LABEL.get(name, name)} IIS + deletion filter"
        order = {c: n for n, c in enumerate(lin_cands)}
        cands = sorted(cands, key=lambda c: order.get(c, len(order)))
        support = linear.support if linear.continuous else None
        members, complete = _deletion_filter(cands, linear, deadline, support)
    elif model.nonlinear_blocks:
        oracle = _SolveOracle(model, deadline)
        cands = _candidates(model, nonlinear=True)
        verdict = oracle(cands)
        if verdict is not True:
            raise DiagnosticsError(
                "could not show that the model is infeasible"
                + (" within the time limit" if verdict is None else ": it has a feasible point"),
                "solve it to see its status; raise time_limit for a slow nonlinear model",
            )
        method = "deletion filter with modeling.solve"
        members, complete = _deletion_filter(cands, oracle, deadline)
    elif verdict is False:
        raise DiagnosticsError(
            "the model is feasible: there is no infeasible subset to explain",
            "an 'infeasible' status from a solver may have come from a time limit or "
            "numerical trouble; solve again and read the status",
        )
    else:
        raise DiagnosticsError(
            "could not decide feasibility within the time limit", "raise time_limit"
        )

    def doc_order(c: Cand) -> tuple[int, int, int, int]:
        kind, i, k = c
        if kind == "row":
            return (0, _block_of_row(model, i)[0].index, i, 0)
        if kind == "nl":
            return (0, model.con_blocks[i].index, k, 0)
        return (1, i, int(kind == "ub"), 0)

    out: list[IISMember] = []
    for kind, i, k in sorted(members, key=doc_order):
        if kind == "row":
            out.append(describer.row(i))
        elif kind == "lb":
            out.append(describer.bound(i, "lower"))
        elif kind == "ub":
            out.append(describer.bound(i, "upper"))
        else:
            out.append(describer.nonlinear(i, k))
    message = "" if complete else "The time budget ran out: the subset may not be minimal."
    return InfeasibilityReport(
        members=out,
        method=method,
        irreducible=complete,
        model_class=str(model.model_class),
        name=model.formulation.name,
        elapsed_s=time.monotonic() - t0,
        message=message,
    )
