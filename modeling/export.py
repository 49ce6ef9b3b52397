"""Write a formulation in other people's formats: LaTeX, a Pyomo script, LP and MPS files.

Everything is generated from the parsed expression trees of
:mod:`modeling.expressions` — never by rewriting the source strings — so the
output means exactly what the compiler solves:

* :func:`to_latex` — the model for display (KaTeX/Streamlit ``st.latex``,
  amsmath only);
* :func:`to_pyomo_script` — a standalone, readable Pyomo program with the
  data embedded, solving with HiGHS (or SCIP for nonlinear models);
* :func:`to_lp` / :func:`to_mps` — solver files written by HiGHS with row and
  column names taken from the formulation.

A generated script is code that someone will run, so nothing from the
document reaches it except validated identifiers and values emitted with
``repr()`` (strings) or as numbers.
"""

from __future__ import annotations

import keyword
import math
import re
import tempfile
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modeling.compiler import CompiledModel, ModelClass, Source, compile_model
from modeling.data import SetData, param_entries
from modeling.expressions import (
    BALANCE_ABOVE,
    Aggregate,
    BinOp,
    BoolOp,
    Call,
    Compare,
    Generator,
    Index,
    Name,
    Neg,
    Node,
    Not,
    Num,
    Pow,
    Relation,
    Str,
    Sum,
    parse_expression,
    parse_forall,
    parse_relation,
    walk,
)
from modeling.formulation import Formulation


class ExportError(ValueError):
    """A model that a format cannot hold; the message says which format can."""


def _model(source: Source) -> CompiledModel:
    return compile_model(source)


# precedence levels shared by both renderers
_ADD, _NEG, _MUL, _POW, _ATOM = 1, 1.5, 2, 4, 5


# ================================================================== LaTeX

_GREEK = frozenset(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa mu nu xi pi rho sigma tau "
    "upsilon phi chi psi omega Gamma Delta Theta Xi Pi Sigma Upsilon Phi Psi Omega".split()
)
_TEX_TEXT = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "%": r"\%",
    "&": r"\&",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_TEX_CMP = {"==": "=", "!=": r"\neq", "<": "<", "<=": r"\le", ">": ">", ">=": r"\ge"}
_TEX_FUNC = {"exp": r"\exp", "log": r"\ln", "sin": r"\sin", "cos": r"\cos"}


def tex_text(s: str) -> str:
    """Text for ``\\text{…}``: LaTeX's special characters escaped, control characters dropped."""
    out = []
    for ch in str(s):
        if ch in _TEX_TEXT:
            out.append(_TEX_TEXT[ch])
        elif not ch.isprintable():
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def tex_name(name: str) -> str:
    """A document name in math: ``x``, ``\\alpha``, ``\\mathit{supply\\_cap}``."""
    if name in _GREEK:
        return "\\" + name
    if len(name) == 1:
        return name
    return r"\mathit{" + name.replace("_", r"\_") + "}"


def tex_number(v: float) -> str:
    """``300``, ``2.5``, ``1.5 \\times 10^{-7}``."""
    if math.isinf(v):
        return r"\infty" if v > 0 else r"-\infty"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    text = f"{v:.6g}"
    if "e" in text:
        mant, exp = text.split("e")
        return rf"{mant} \times 10^{{{int(exp)}}}"
    return text


def _tex_element(e: Any) -> str:
    if isinstance(e, tuple):
        return "(" + ", ".join(_tex_element(p) for p in e) + ")"
    if isinstance(e, int | float) and not isinstance(e, bool):
        return tex_number(float(e))
    return r"\text{" + tex_text(str(e)) + "}"


class _Latex:
    """Renders expression trees; returns (text, precedence) so parents add brackets."""

    def __init__(self, f: Formulation) -> None:
        self.f = f

    def render(self, node: Node, need: float = 0) -> str:
        text, prec = self.node(node)
        if prec < need:
            return r"\left(" + text + r"\right)"
        return text

    def node(self, node: Node) -> tuple[str, float]:
        if isinstance(node, Num):
            return tex_number(node.value), (_NEG if node.value < 0 else _ATOM)
        if isinstance(node, Str):
            return r"\text{" + tex_text(node.value) + "}", _ATOM
        if isinstance(node, Name):
            return tex_name(node.id), _ATOM
        if isinstance(node, Index):
            items = ",".join(self.render(i) for i in node.items)
            return f"{tex_name(node.base)}_{{{items}}}", _ATOM
        if isinstance(node, Neg):
            return "-" + self.render(node.operand, _MUL), _NEG
        if isinstance(node, BinOp):
            if node.op in "+-":
                terms = signed_terms(node)
                if len(terms) > BALANCE_ABOVE:  # a long (balanced) chain: shown flat
                    return _join_terms(terms, lambda t, need: self.render(t, need)), _ADD
                left = self.render(node.left, _ADD)
                right = self.render(node.right, _MUL)
                return f"{left} {node.op} {right}", _ADD
            if node.op == "*":
                left = self.render(node.left, _NEG)  # (-a) b reads as -a b
                right = self.render(node.right, _MUL)
                sep = r" \cdot " if re.match(r"[-\d]|\\frac|\\left", right) else r" \, "
                return left + sep + right, _MUL
            num = self.render(node.left)
            den = self.render(node.right)
            return rf"\frac{{{num}}}{{{den}}}", _MUL + 0.5
        if isinstance(node, Pow):
            base = self.render(node.base, _ATOM)
            return f"{{{base}}}^{{{self.render(node.exponent)}}}", _POW
        if isinstance(node, Call):
            args = [self.render(a) for a in node.args]
            if node.func == "sqrt":
                return rf"\sqrt{{{args[0]}}}", _ATOM
            if node.func == "abs":
                return r"\left|" + args[0] + r"\right|", _ATOM
            if node.func in ("min", "max"):
                return rf"\{node.func}\left(" + ", ".join(args) + r"\right)", _ATOM
            return _TEX_FUNC[node.func] + r"\left(" + args[0] + r"\right)", _MUL + 0.5
        if isinstance(node, Sum):
            return self.sum_prefix(r"\sum", node.gens) + " " + self.render(node.body, _MUL), _MUL
        if isinstance(node, Aggregate):
            head = self.sum_prefix("\\" + node.func, node.gens)
            return head + " " + self.render(node.body, _MUL), _MUL
        if isinstance(node, Compare):
            parts = [self.render(node.left, _ADD)]
            for op, rnode in zip(node.ops, node.rights, strict=True):
                parts += [_TEX_CMP[op], self.render(rnode, _ADD)]
            return " ".join(parts), _ADD - 0.5
        if isinstance(node, BoolOp):
            sym, prec = (r" \land ", 0.4) if node.op == "and" else (r" \lor ", 0.3)
            return sym.join(self.render(v, prec + 0.01) for v in node.values), prec
        if isinstance(node, Not):
            return r"\lnot " + self.render(node.operand, _ATOM), _ATOM
        raise TypeError(f"cannot render {type(node).__name__}")

    def binding(self, g: Generator) -> str:
        target = (
            tex_name(g.targets[0])
            if not g.unpacked
            else ("(" + ",".join(tex_name(t) for t in g.targets) + ")")
        )
        return f"{target} \\in {tex_name(g.set)}"

    def conditions(self, gens: Sequence[Generator]) -> list[str]:
        return [self.render(c) for g in gens for c in g.conds]

    def sum_prefix(self, op: str, gens: Sequence[Generator]) -> str:
        conds = self.conditions(gens)
        if not conds:
            return " ".join(f"{op}_{{{self.binding(g)}}}" for g in gens)
        binds = r",\ ".join(self.binding(g) for g in gens)
        where = r",\ ".join(conds)
        return op + r"_{\substack{" + binds + r" \\ " + where + "}}"

    def forall(self, gens: Sequence[Generator]) -> str:
        if not gens:
            return ""
        text = r"\forall " + r",\ ".join(self.binding(g) for g in gens)
        conds = self.conditions(gens)
        if conds:
            text += r" : " + r",\ ".join(conds)
        return text

    def relation(self, rel: Relation) -> str:
        if rel.body is not None and rel.lo is not None and rel.hi is not None:
            return rf"{self.render(rel.lo)} \le {self.render(rel.body)} \le {self.render(rel.hi)}"
        return f"{self.render(rel.lhs)} {_TEX_CMP[rel.op]} {self.render(rel.rhs)}"


def _index_names(sets: Sequence[str]) -> list[str]:
    """TeX index symbols for a variable's or parameter's sets: Plants, Markets → p, m."""
    out: list[str] = []
    for s in sets:
        base = s[0].lower() if s[0].isalpha() else "i"
        cand = base
        while cand in out:
            cand += "'"
        out.append(cand)
    return out


def _tex_bound(value: float | str | None, m: CompiledModel, idx: Sequence[str]) -> str:
    if isinstance(value, str):
        p = m.data.params.get(value)
        if p is not None and not p.scalar and idx:
            return f"{tex_name(value)}_{{{','.join(idx)}}}"
        return tex_name(value)
    return tex_number(float(value)) if value is not None else ""


def _tex_domain(name: str, m: CompiledModel) -> tuple[str, str]:
    v = m.formulation.variables[name]
    idx = _index_names(v.index)
    var = tex_name(name) + (f"_{{{','.join(idx)}}}" if idx else "")
    forall = ""
    if idx:
        pairs = [f"{i} \\in {tex_name(s)}" for i, s in zip(idx, v.index, strict=True)]
        forall = r"\forall " + r",\ ".join(pairs)
    if v.type == "binary":
        return rf"{var} \in \{{0,1\}}", forall
    lo = v.lower
    hi = v.upper
    lo_inf = lo is None or (isinstance(lo, float) and math.isinf(lo))
    hi_inf = hi is None or (isinstance(hi, float) and math.isinf(hi))
    field = r"\mathbb{Z}" if v.type == "integer" else r"\mathbb{R}"
    if hi_inf and lo_inf:
        return rf"{var} \in {field}", forall
    if hi_inf and not isinstance(lo, str) and lo == 0:
        return rf"{var} \in {field}_{{\ge 0}}", forall
    parts = []
    if not lo_inf:
        parts.append(_tex_bound(lo, m, idx) + r" \le ")
    parts.append(var)
    if not hi_inf:
        parts.append(r" \le " + _tex_bound(hi, m, idx))
    text = "".join(parts)
    if v.type == "integer":
        text = rf"{var} \in \mathbb{{Z}},\ " + text
    return text, forall


def _tex_set(s: SetData, limit: int = 8) -> str:
    els = s.elements
    if (
        len(els) > 3
        and all(type(e) is int for e in els)
        and els == list(range(els[0], els[0] + len(els)))
    ):
        return rf"\{{{els[0]}, \ldots, {els[-1]}\}}"
    shown = [_tex_element(e) for e in els[:limit]]
    if len(els) > limit:
        shown += [r"\ldots", _tex_element(els[-1])]
    return r"\{" + ", ".join(shown) + r"\}"


def _tex_param(name: str, m: CompiledModel, limit: int = 6) -> str:
    p = m.data.params[name]
    if p.scalar:
        return f"{tex_name(name)} = {tex_number(float(p.array))}"
    idx = _index_names(p.sets)
    head = f"{tex_name(name)}_{{{','.join(idx)}}}"
    where = r",\ ".join(f"{i} \\in {tex_name(s)}" for i, s in zip(idx, p.sets, strict=True))
    entries = []
    axes = [m.data.sets[s].elements for s in p.sets]
    for n, at in enumerate(np.ndindex(*p.array.shape)):
        if n >= limit:
            entries.append(r"\ldots")
            break
        v = float(p.array[at])
        if math.isnan(v):
            continue
        key = [axes[k][i] for k, i in enumerate(at)]
        label = _tex_element(key[0]) if len(key) == 1 else _tex_element(tuple(key))
        entries.append(f"{label}: {tex_number(v)}")
    return rf"{head},\ {where}:\quad " + r",\ ".join(entries)


def _table_source(spec: Any) -> str | None:
    """Where a set or parameter is read from, in words (None: it is written inline)."""
    if not isinstance(spec, Mapping) or "table" not in spec:
        return None
    what = []
    for key in ("column", "columns", "column_labels", "keys", "value", "layout"):
        if spec.get(key) is not None:
            value = spec[key]
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            what.append(f"{key.replace('_', ' ')} {shown}")
    extra = f" ({'; '.join(what)})" if what else ""
    return f"{spec['table']}{extra}"


def to_latex(source: Source, data: bool = True, data_refs: bool = False) -> str:
    """The whole model as one LaTeX ``aligned`` block (amsmath only; KaTeX renders it).

    Objective with ``\\min``/``\\max``, each constraint with its ``\\forall``
    clause and name, the variables' domains and — with ``data`` — the sets
    and parameters with their first values; with ``data_refs`` those read from
    a table name the file (and the set's size) instead.

    >>> print(to_latex("transport.yaml"))  # the spec's example  # doctest: +SKIP
    \\begin{aligned}
    \\min\\quad & \\sum_{p \\in \\mathit{Plants}} \\sum_{m \\in \\mathit{Markets}} ...
    """
    m = _model(source)
    f = m.formulation
    lx = _Latex(f)
    rows: list[str] = []
    sense = r"\min" if f.objective.sense == "minimize" else r"\max"
    rows.append(rf"{sense}\quad & {lx.render(parse_expression(f.objective.expression))}")
    first = True
    for c in f.constraints:
        rel = parse_relation(c.expression)
        gens = parse_forall(c.forall) if c.forall else ()
        head = r"\text{s.t.}\quad " if first else ""
        first = False
        rows.append(
            rf"{head}& {lx.relation(rel)} && {lx.forall(gens)} && (\text{{{tex_text(c.name)}}})"
        )
    for name in f.variables:
        dom, forall = _tex_domain(name, m)
        head = r"\text{s.t.}\quad " if first else ""
        first = False
        rows.append(f"{head}& {dom} && {forall}")
    if data:
        where = r"\text{where}\quad "
        for name, s in m.data.sets.items():
            ref = _table_source(f.sets.get(name)) if data_refs else None
            shown = _tex_set(s) if ref is None else rf"\text{{{tex_text(ref)}}}"
            size = "" if ref is None else rf",\ |{tex_name(name)}| = {len(s)}"
            rows.append(f"{where}& {tex_name(name)} = {shown}{size}")
            where = ""
        for name in m.data.params:
            ref = _table_source(f.parameters.get(name)) if data_refs else None
            if ref is None:
                rows.append(f"{where}& {_tex_param(name, m)}")
            else:
                p = m.data.params[name]
                idx = _index_names(p.sets)
                head = f"{tex_name(name)}_{{{','.join(idx)}}}"
                rows.append(rf"{where}& {head}:\ \text{{{tex_text(ref)}}}")
            where = ""
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


# ================================================================== Pyomo script

_FUNCS_PYO = {"exp": "exp", "log": "log", "sqrt": "sqrt", "sin": "sin", "cos": "cos"}


def _py_num(v: float) -> str:
    """A number as a Python literal (``float('inf')`` for infinities)."""
    v = float(v)
    if math.isnan(v):
        return "float('nan')"
    if math.isinf(v):
        return "float('inf')" if v > 0 else "-float('inf')"
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _py_value(e: Any) -> str:
    """A set element or key as a Python literal: strings only through ``repr()``."""
    if isinstance(e, tuple):
        inner = ", ".join(_py_value(p) for p in e)
        return f"({inner},)" if len(e) == 1 else f"({inner})"
    if isinstance(e, bool):
        raise TypeError("booleans are not set elements")
    if isinstance(e, int):
        return str(int(e))
    if isinstance(e, float):
        return _py_num(e)
    return repr(str(e))


def _fresh(base: str, taken: set[str]) -> str:
    """``base`` or ``base_``, ``base__``… — the first that is free, then marked taken."""
    name = base
    while name in taken or keyword.iskeyword(name):
        name += "_"
    taken.add(name)
    return name


def _pyomo_reserved() -> set[str]:
    """Attribute names a ConcreteModel already has (``name``, ``solutions``, …)."""
    try:
        import pyomo.environ as pyo

        return set(dir(pyo.ConcreteModel()))
    except Exception:  # pragma: no cover - pyomo is a dependency
        return {"name", "doc", "solutions", "component", "parent_block", "model"}


def signed_terms(node: Node) -> list[tuple[str, Node]]:
    """The terms of a ``+``/``-`` tree, left to right, each with its sign; no recursion.

    ``a - (b - c)`` gives ``[(+, a), (-, b), (+, c)]``: the parser stores long
    sums as balanced trees (see :func:`modeling.expressions.balanced_sum`), and
    the exports write them back as one flat chain.
    """
    out: list[tuple[str, Node]] = []
    stack: list[tuple[Node, bool]] = [(node, True)]
    while stack:
        cur, positive = stack.pop()
        if isinstance(cur, BinOp) and cur.op in "+-":
            stack.append((cur.right, positive == (cur.op == "+")))
            stack.append((cur.left, positive))
        elif isinstance(cur, Neg):  # a run of a long chain that began after '-'
            stack.append((cur.operand, not positive))
        elif isinstance(cur, Num) and cur.value < 0:
            out.append(("-" if positive else "+", Num(-cur.value)))
        else:
            out.append(("+" if positive else "-", cur))
    return out


def _join_terms(
    terms: list[tuple[str, Node]], render: Callable[[Node, float], str], group: int = 0
) -> str:
    """``a - b + c …`` from signed terms; ``group`` > 0 brackets runs of that many terms.

    Python's parser gives up on a chain of ~3,000 operators, so the Pyomo
    script writes a long sum as ``(run) + (run) + …``.
    """
    if group and len(terms) > group:
        runs = [terms[k : k + group] for k in range(0, len(terms), group)]
        return " + ".join("(" + _join_terms(run, render) + ")" for run in runs)
    first_sign, first = terms[0]
    parts = [("-" + render(first, _MUL)) if first_sign == "-" else render(first, _ADD)]
    for sign, t in terms[1:]:
        parts.append(f"{sign} {render(t, _MUL)}")
    return " ".join(parts)


def _has_variables(node: Node, variables: Mapping[str, Any]) -> bool:
    for n in walk(node):
        if isinstance(n, Name | Index) and (n.id if isinstance(n, Name) else n.base) in variables:
            return True
    return False


class _PyGen:
    """Python source for expression trees, inside rule functions taking the model as ``m``."""

    def __init__(
        self,
        f: Formulation,
        attrs: Mapping[str, str],
        pyo: str,
        marg: str,
        helpers: set[str],
        helper_names: Mapping[str, str],
    ) -> None:
        self.helper_names = helper_names
        self.f = f
        self.attrs = attrs
        self.pyo = pyo
        self.m = marg
        self.helpers = helpers
        self.params = set(f.parameters)
        self.variables = f.variables
        self.sets = set(f.sets)

    def ref(self, name: str) -> str:
        return f"{self.m}.{self.attrs[name]}"

    def render(self, node: Node, need: float = 0, const: bool = False) -> str:
        text, prec = self.node(node, const)
        return f"({text})" if prec < need else text

    def node(self, node: Node, const: bool) -> tuple[str, float]:
        pyo = self.pyo
        if isinstance(node, Num):
            return _py_num(node.value), (_NEG if node.value < 0 else _ATOM)
        if isinstance(node, Str):
            return repr(node.value), _ATOM
        if isinstance(node, Name):
            if node.id in self.params or node.id in self.variables:
                if const and node.id in self.params:
                    return f"{pyo}.value({self.ref(node.id)})", _ATOM
                return self.ref(node.id), _ATOM
            return node.id, _ATOM
        if isinstance(node, Index):
            items = ", ".join(self.render(i, const=True) for i in node.items)
            return f"{self.ref(node.base)}[{items}]", _ATOM
        if isinstance(node, Neg):
            return "-" + self.render(node.operand, _MUL, const), _NEG
        if isinstance(node, BinOp):
            if node.op in "+-":
                terms = signed_terms(node)
                if len(terms) > BALANCE_ABOVE:  # a long (balanced) chain: written flat
                    text = _join_terms(terms, lambda t, need: self.render(t, need, const), 500)
                    return text, _ADD
                left = self.render(node.left, _ADD, const)
                right = self.render(node.right, _MUL, const)
                return f"{left} {node.op} {right}", _ADD
            left = self.render(node.left, _NEG, const)  # Python reads -a * b as (-a) * b
            right = self.render(node.right, _POW, const)
            return f"{left} {node.op} {right}", _MUL
        if isinstance(node, Pow):
            base = self.render(node.base, _ATOM, const)
            return f"{base} ** {self.render(node.exponent, _POW, const)}", _POW
        if isinstance(node, Call):
            args = [self.render(a, const=const) for a in node.args]
            nonlinear = any(_has_variables(a, self.variables) for a in node.args)
            if node.func in ("abs", "min", "max"):
                if nonlinear:
                    self.helpers.add(node.func)
                    return f"{self.helper_names[node.func]}({', '.join(args)})", _ATOM
                return f"{node.func}({', '.join(args)})", _ATOM
            return f"{pyo}.{_FUNCS_PYO[node.func]}({args[0]})", _ATOM
        if isinstance(node, Sum):
            return f"sum({self.comprehension(node.body, node.gens, const)})", _ATOM
        if isinstance(node, Aggregate):
            body = self.comprehension(node.body, node.gens, const)
            if _has_variables(node.body, self.variables):
                self.helpers.add(node.func)
                return f"{self.helper_names[node.func]}(*[{body}])", _ATOM
            return f"{node.func}({body})", _ATOM
        if isinstance(node, Compare):
            parts = [self.render(node.left, _ADD, True)]
            for op, rnode in zip(node.ops, node.rights, strict=True):
                parts += [op, self.render(rnode, _ADD, True)]
            return " ".join(parts), 0.8
        if isinstance(node, BoolOp):
            return f" {node.op} ".join(self.render(v, 0.8, True) for v in node.values), 0.5
        if isinstance(node, Not):
            return "not " + self.render(node.operand, 0.8, True), 0.7
        raise TypeError(f"cannot generate code for {type(node).__name__}")

    def target(self, g: Generator) -> str:
        return ", ".join(g.targets)

    def comprehension(self, body: Node, gens: Sequence[Generator], const: bool) -> str:
        parts = [self.render(body, const=const)]
        for g in gens:
            parts.append(f"for {self.target(g)} in {self.ref(g.set)}")
            parts += [f"if {self.render(c, 0.6, True)}" for c in g.conds]
        return " ".join(parts)

    def relation(self, rel: Relation) -> str:
        if rel.body is not None and rel.lo is not None and rel.hi is not None:
            lo, body, hi = (self.render(n) for n in (rel.lo, rel.body, rel.hi))
            return f"{self.pyo}.inequality({lo}, {body}, {hi})"
        return f"{self.render(rel.lhs, _ADD)} {rel.op} {self.render(rel.rhs, _ADD)}"


_HELPERS = {
    "abs": '''def _abs(e):
    """|e| as a unary function node: SCIP's Pyomo interface reads it, abs() it does not."""
    from pyomo.core.expr.numeric_expr import UnaryFunctionExpression

    return UnaryFunctionExpression((e,), "abs", abs)
''',
    "min": '''def _min(*args):
    """min of expressions, exactly: min(a, b) = (a + b - |a - b|) / 2."""
    out = args[0]
    for a in args[1:]:
        out = (out + a - _abs(out - a)) / 2
    return out
''',
    "max": '''def _max(*args):
    """max of expressions, exactly: max(a, b) = (a + b + |a - b|) / 2."""
    out = args[0]
    for a in args[1:]:
        out = (out + a + _abs(out - a)) / 2
    return out
''',
    "relation": '''def _relation(expr):
    """A constraint that reduced to True/False (e.g. an empty sum) as Pyomo wants it."""
    if expr is True:
        return pyo.Constraint.Feasible
    if expr is False:
        return pyo.Constraint.Infeasible
    return expr
''',
}


def _param_default(name: str, m: CompiledModel) -> float | None:
    """The ``default`` a parameter's document gives (None: none)."""
    spec = m.formulation.parameters.get(name)
    if isinstance(spec, Mapping) and spec.get("default") is not None:
        return float(spec["default"])
    return None


def _param_literal(name: str, m: CompiledModel) -> tuple[str, str | None]:
    """``initialize`` (a dict literal or number) and ``default`` of a parameter."""
    p = m.data.params[name]
    if p.scalar:
        return _py_num(float(p.array)), None
    default = _param_default(name, m)
    items = [
        f"{_py_value(k)}: {_py_num(v)}" for k, v in param_entries(p, m.data.sets, default).items()
    ]
    body = _wrap_items(items, fits=60)
    return body, (None if default is None else _py_num(default))


def _wrap_items(
    items: Sequence[str], open_: str = "{", close: str = "}", fits: int = 88, width: int = 92
) -> str:
    """A literal on one line if it fits in ``fits`` characters, else wrapped at ``width``."""
    one = open_ + ", ".join(items) + close
    if len(one) <= fits:
        return one
    lines = [open_]
    line = "   "
    for it in items:
        if len(line) + len(it) + 2 > width:
            lines.append(line.rstrip())
            line = "   "
        line += " " + it + ","
    lines.append(line.rstrip())
    lines.append(close)
    return "\n".join(lines)


def _solver_for(m: CompiledModel) -> str:
    """HiGHS for what it solves (appsi's interface is linear-only, so QPs use 'highs'), else SCIP."""
    if m.model_class in (ModelClass.LP, ModelClass.MILP):
        return "appsi_highs"
    if m.model_class is ModelClass.QP and m.convex:
        return "highs"
    return "scip_direct"


def _empty_rows(m: CompiledModel) -> set[int]:
    """Document indices of constraints with an instance that has no variables."""
    r, _, v = m.A
    counts = np.bincount(r[v != 0], minlength=m.nrows) if m.nrows else np.zeros(0)
    out = set()
    for b in m.con_blocks:
        if b.linear and np.any(counts[b.row_start : b.row_start + b.count] == 0):
            out.add(b.index)
    return out


def to_pyomo_script(
    source: Source, data_refs: bool = False, data_dir: str | Path | None = None
) -> str:
    """A standalone Python program that builds the model in Pyomo, solves it and prints.

    The data is embedded as Python literals — or, with ``data_refs``, the
    document's ``sets`` and ``parameters`` sections are kept as written (table
    references included) and the script reads the tables when it runs, with
    optiwise's own reader (:func:`modeling.data.read_data`, so optiwise must be
    installed where it runs), from the folder given as its first argument or
    else ``data_dir`` (by default the folder the model was read from).  Sets, parameters, variables,
    the objective and constraints keep the formulation's names; each
    ``forall`` becomes an indexed ``Constraint`` with a rule function whose
    ``if`` conditions return ``Constraint.Skip``.  It solves with HiGHS
    (``appsi_highs``) or, for NLP/MINLP/MIQP and nonconvex QP, SCIP
    (``scip_direct``) and prints ``status: …`` and ``objective: …``.
    """
    m = _model(source)
    f = m.formulation

    # Names the generated code introduces must not collide with document names or index
    # names (an index called 'model' would shadow the model inside a comprehension).
    index_names: set[str] = set()
    nodes: list[Node] = [parse_expression(f.objective.expression)]
    for c in f.constraints:
        rel = parse_relation(c.expression)
        nodes += [n for n in (rel.lhs, rel.rhs, rel.lo, rel.hi, rel.body) if n is not None]
        if c.forall:
            for g in parse_forall(c.forall):
                index_names.update(g.targets)
                for cond in g.conds:
                    nodes.append(cond)
    for node in nodes:
        for n in walk(node):
            if isinstance(n, Sum | Aggregate):
                for g in n.gens:
                    index_names.update(g.targets)
    doc_names = set(f.sets) | set(f.parameters) | set(f.variables) | {c.name for c in f.constraints}
    taken = set(index_names) | doc_names | {"sum", "abs", "min", "max", "float", "print"}
    pyo = _fresh("pyo", taken)
    model = _fresh("model", taken)
    marg = _fresh("m", set(index_names) | {pyo, model})
    module_names = set(taken) | {
        "TerminationCondition",
        "solver",
        "result",
        "condition",
        "var",
        "UnaryFunctionExpression",
    }
    helper_names = {
        h: _fresh(f"_{h}", module_names | index_names) for h in ("abs", "min", "max", "relation")
    }

    reserved = _pyomo_reserved()
    attrs: dict[str, str] = {}
    attr_taken: set[str] = set()
    for name in [*f.sets, *f.parameters, *f.variables, *(c.name for c in f.constraints)]:
        base = name if name not in reserved and not name.startswith("_") else f"{name}_"
        while base in reserved:
            base += "_"
        attrs[name] = _fresh(base, attr_taken)
    obj_attr = _fresh("objective", attr_taken | reserved)

    helpers: set[str] = set()
    gen = _PyGen(f, attrs, pyo, marg, helpers, helper_names)
    solver = _solver_for(m)
    body: list[str] = []
    reader: list[str] = []
    if data_refs:
        refs = _DataRefs(module_names, data_dir if data_dir is not None else f.data_dir)
        reader = refs.prelude(f)
        body += refs.sets_and_parameters(m, attrs, pyo, model)
    else:
        body.append("# ---------------------------------------------------------------- sets")
    for name, s in ({} if data_refs else m.data.sets).items():
        fits = 100 - len(f"{model}.{attrs[name]} = {pyo}.Set(initialize=, dimen=2, ordered=True)")
        elements = _wrap_items([_py_value(e) for e in s.elements], "[", "]", fits)
        dimen = f", dimen={s.dim}" if s.dim > 1 else ""
        body.append(
            f"{model}.{attrs[name]} = {pyo}.Set(initialize={elements}{dimen}, ordered=True)"
        )
    if m.data.params and not data_refs:
        body += ["", "# ---------------------------------------------------------- parameters"]
    for name, p in ({} if data_refs else m.data.params).items():
        init, default = _param_literal(name, m)
        idx = "".join(f"{model}.{attrs[s]}, " for s in p.sets)
        extra = f", default={default}" if default is not None else ""
        body.append(f"{model}.{attrs[name]} = {pyo}.Param({idx}initialize={init}{extra})")

    body += ["", "# ----------------------------------------------------------- variables"]
    for name, v in f.variables.items():
        body += _py_variable(name, v, m, attrs, pyo, model, marg, module_names)

    body += ["", "# ----------------------------------------------------------- objective"]
    rule = _fresh("objective_rule", module_names)
    sense = f"{pyo}.minimize" if f.objective.sense == "minimize" else f"{pyo}.maximize"
    obj_expr = gen.render(parse_expression(f.objective.expression))
    body.append(f"def {rule}({marg}):")
    if f.objective.description:
        body.append(f"    # {_comment(f.objective.description)}")
    body.append(f"    return {obj_expr}")
    body.append("")
    body.append("")
    body.append(f"{model}.{obj_attr} = {pyo}.Objective(rule={rule}, sense={sense})")

    empty = _empty_rows(m)
    if f.constraints:
        body += ["", "", "# --------------------------------------------------------- constraints"]
    for k, c in enumerate(f.constraints):
        rel = parse_relation(c.expression)
        gens = parse_forall(c.forall) if c.forall else ()
        rule = _fresh(f"{c.name}_rule", module_names)
        local = set(index_names) | {pyo, marg}
        args: list[str] = []
        prelude: list[str] = []
        for g in gens:
            dim = m.data.sets[g.set].dim
            if g.unpacked or dim == 1:
                args.extend(g.targets)
            else:
                parts = [_fresh(f"{g.targets[0]}_{n}", local) for n in range(dim)]
                args.extend(parts)
                prelude.append(f"    {g.targets[0]} = ({', '.join(parts)})")
        all_conds = [cond for g in gens for cond in g.conds]
        need = 0.6 if len(all_conds) > 1 else 0.0
        conds = [gen.render(cond, need, True) for cond in all_conds]
        expr = gen.relation(rel)
        if k in empty:
            helpers.add("relation")
            expr = f"{helper_names['relation']}({expr})"
        body.append(f"def {rule}({', '.join([marg, *args])}):")
        if c.description:
            body.append(f"    # {_comment(c.description)}")
        body += prelude
        if conds:
            body.append(f"    if not ({' and '.join(conds)}):")
            body.append(f"        return {pyo}.Constraint.Skip")
        body.append(f"    return {expr}")
        body.append("")
        body.append("")
        idx = "".join(f"{model}.{attrs[g.set]}, " for g in gens)
        doc = f", doc={c.description!r}" if c.description else ""
        line = f"{model}.{attrs[c.name]} = {pyo}.Constraint({idx}rule={rule}{doc})"
        if len(line) > 100:
            line = f"{model}.{attrs[c.name]} = {pyo}.Constraint(\n    {idx}rule={rule}{doc}\n)"
        body.append(line)

    head = [
        '"""A model generated by optiwise from a five-element formulation; edit it freely.',
        "",
        (
            f"Run it with: python this_file.py [DATA_DIR]  (needs pyomo, {_PACKAGE[solver]} and "
            "optiwise,\nwhich reads the tables of the data folder)."
            if data_refs
            else f"Run it with: python this_file.py  (needs pyomo and {_PACKAGE[solver]})."
        ),
        '"""',
        "",
        *assumption_comments(f, "#"),
        *([line for line in reader if line.startswith(("import ", "from "))]),
        f"import pyomo.environ as {pyo}",
        "from pyomo.opt import TerminationCondition",
        *([line for line in reader if not line.startswith(("import ", "from "))]),
        "",
    ]
    helper_code: list[str] = []
    if "min" in helpers or "max" in helpers:
        helpers.add("abs")
    for h in ("abs", "min", "max", "relation"):
        if h in helpers:
            code = _HELPERS[h].replace("pyo.", f"{pyo}.")
            for other, new in helper_names.items():
                code = re.sub(rf"\b_{other}\b", new, code)
            helper_code += ["", code]
    name_arg = f"name={f.name!r}" if f.name else ""
    setup = ["", f"{model} = {pyo}.ConcreteModel({name_arg})", ""]
    gap_option = "limits/gap" if solver == "scip_direct" else "mip_rel_gap"
    tail = [
        "",
        "",
        "if __name__ == '__main__':",
        f"    solver = {pyo}.SolverFactory({solver!r})",
        f"    solver.options[{gap_option!r}] = 1e-7",
        f"    result = solver.solve({model}, load_solutions=False)",
        "    condition = result.solver.termination_condition",
        "    print('status:', condition)",
        "    if condition in (TerminationCondition.optimal, TerminationCondition.feasible,",
        "                     TerminationCondition.locallyOptimal, TerminationCondition.globallyOptimal):",
        f"        {model}.solutions.load_from(result)",
        f"        print('objective:', repr({pyo}.value({model}.{obj_attr})))",
        f"        for var in {model}.component_data_objects({pyo}.Var):",
        "            if var.value is not None and abs(var.value) > 1e-9:",
        "                print(f'  {var.name} = {var.value:.10g}')",
    ]
    return _tidy(head + helper_code + setup + body + tail)


_PACKAGE = {"appsi_highs": "highspy", "highs": "highspy", "scip_direct": "pyscipopt"}


def _tidy(lines: Sequence[str]) -> str:
    """PEP 8 blank lines: two around top-level functions, never more than two in a row."""
    out: list[str] = []
    in_def = False
    for line in "\n".join(lines).split("\n"):
        top = bool(line) and not line[0].isspace() and not line.startswith((")", "]", "}"))
        if top and (line.startswith("def ") or in_def):
            k = len(out)
            while k and out[k - 1].startswith("#"):
                k -= 1  # a comment introducing the function stays attached to it
            intro = out[k:]
            del out[k:]
            while out and out[-1] == "":
                out.pop()
            if out:
                out += ["", ""]
            out += intro
            in_def = line.startswith("def ")
        if line == "" and len(out) >= 2 and out[-1] == "" and out[-2] == "":
            continue
        out.append(line)
    return "\n".join(out).strip("\n") + "\n"


def assumption_comments(f: Formulation, mark: str) -> list[str]:
    """The document's stated assumptions (spec v1.2) as comment lines starting with ``mark``.

    An export keeps what the model rests on: ``#`` for a Python script, ``\\``
    for an LP file, ``*`` for MPS.  Each assumption is one bullet, wrapped at
    100 characters, followed by the names it affects; no lines without assumptions.
    """
    if not f.assumptions:
        return []
    lines = [f"{mark} Assumptions (what the problem text left out and the model assumes):"]
    for a in f.assumptions:
        text = _comment(a.text)
        if a.parameters:
            text += f" [affects: {', '.join(a.parameters)}]"
        wrapped = textwrap.wrap(text, width=96 - len(mark)) or [""]
        lines.append(f"{mark}   - {wrapped[0]}")
        lines += [f"{mark}     {more}" for more in wrapped[1:]]
    return [*lines, ""] if mark == "#" else lines


def _comment(text: str) -> str:
    """Free text on one comment line: no line breaks or control characters survive."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _py_bound(value: float | str | None, gen_param: str | None, default: str) -> str:
    if value is None:
        return "None"
    if isinstance(value, str):
        return gen_param or default
    if math.isinf(value):
        return "None"
    return _py_num(value)


class _DataRefs:
    """The data section of a ``--data-refs`` Pyomo script: the tables are read when it runs.

    The document's ``sets`` and ``parameters`` sections are written as Python
    literals (``repr`` for strings: nothing from the document becomes code) and
    handed to :func:`modeling.data.read_data` with the data folder.
    """

    def __init__(self, taken: set[str], data_dir: str | Path | None) -> None:
        self.data_dir = data_dir
        self.names = {
            k: _fresh(k, taken)
            for k in ("sys", "Path", "read_data", "param_entries", "DATA_DIR", "SETS")
        }
        self.names["PARAMETERS"] = _fresh("PARAMETERS", taken)
        self.names["data"] = _fresh("data", taken)

    def prelude(self, f: Formulation) -> list[str]:
        n = self.names
        folder = "." if self.data_dir is None else str(self.data_dir)
        here = not Path(folder).is_absolute()  # relative: to the script's own folder
        imports = [
            "import sys" if n["sys"] == "sys" else f"import sys as {n['sys']}",
            "from pathlib import Path"
            if n["Path"] == "Path"
            else f"from pathlib import Path as {n['Path']}",
            "from modeling.data import param_entries"
            + ("" if n["param_entries"] == "param_entries" else f" as {n['param_entries']}"),
            "from modeling.data import read_data"
            + ("" if n["read_data"] == "read_data" else f" as {n['read_data']}"),
        ]
        return [
            *imports,
            "",
            "# ----------------------------------------------------------------- data",
            "# The data folder: the first argument, else the folder the model was exported with.",
            f"{n['DATA_DIR']} = (",
            f"    {n['Path']}({n['sys']}.argv[1])",
            f"    if len({n['sys']}.argv) > 1",
            f"    else {n['Path']}(__file__).resolve().parent / {folder!r}"
            if here
            else f"    else {n['Path']}({folder!r})",
            ")",
            "",
            "# The document's sets and parameters as written; optiwise reads the tables they name.",
            f"{n['SETS']} = {_py_literal(f.sets)}",
            f"{n['PARAMETERS']} = {_py_literal(f.parameters)}",
            f"{n['data']} = {n['read_data']}({n['SETS']}, {n['PARAMETERS']}, {n['DATA_DIR']})",
        ]

    def sets_and_parameters(
        self, m: CompiledModel, attrs: Mapping[str, str], pyo: str, model: str
    ) -> list[str]:
        n = self.names
        out = ["# ---------------------------------------------------------------- sets"]
        for name, s in m.data.sets.items():
            dimen = f", dimen={s.dim}" if s.dim > 1 else ""
            out.append(
                f"{model}.{attrs[name]} = {pyo}.Set(initialize={n['data']}.sets[{name!r}]"
                f".elements{dimen}, ordered=True)"
            )
        if m.data.params:
            out += ["", "# ---------------------------------------------------------- parameters"]
        for name, p in m.data.params.items():
            ref = f"{n['data']}.params[{name!r}]"
            if p.scalar:
                out.append(f"{model}.{attrs[name]} = {pyo}.Param(initialize=float({ref}.array))")
                continue
            default = _param_default(name, m)
            idx = "".join(f"{model}.{attrs[s]}, " for s in p.sets)
            d_arg = "" if default is None else f", {_py_num(default)}"
            extra = "" if default is None else f", default={_py_num(default)}"
            out.append(
                f"{model}.{attrs[name]} = {pyo}.Param(\n    {idx}initialize="
                f"{n['param_entries']}({ref}, {n['data']}.sets{d_arg}){extra}\n)"
            )
        return out


def _py_literal(value: Any, indent: int = 0, width: int = 96) -> str:
    """A document value (mappings, lists, strings, numbers, booleans, null) as Python source.

    On one line when it fits in ``width`` columns, else one item per line.
    """
    if isinstance(value, Mapping):
        parts = [(f"{_py_literal(str(k))}: ", v) for k, v in value.items()]
        brackets = "{", "}"
    elif isinstance(value, list | tuple):
        parts = [("", v) for v in value]
        brackets = "[", "]"
    elif value is None or isinstance(value, bool | int):
        return repr(value)
    elif isinstance(value, float):
        return _py_num(value)
    else:
        return repr(str(value))
    one = brackets[0] + ", ".join(k + _py_literal(v, 0, 10**9) for k, v in parts) + brackets[1]
    if indent + len(one) <= width:
        return one
    pad = " " * (indent + 4)
    lines = [f"{pad}{k}{_py_literal(v, indent + 4 + len(k), width)}," for k, v in parts]
    return brackets[0] + "\n" + "\n".join(lines) + "\n" + " " * indent + brackets[1]


def _py_variable(
    name: str,
    v: Any,
    m: CompiledModel,
    attrs: Mapping[str, str],
    pyo: str,
    model: str,
    marg: str,
    module_names: set[str],
) -> list[str]:
    idx = "".join(f"{model}.{attrs[s]}, " for s in v.index)
    if v.type == "binary":
        return [f"{model}.{attrs[name]} = {pyo}.Var({idx}domain={pyo}.Binary)"]
    integer = v.type == "integer"
    lo, hi = v.lower, v.upper
    lo_none = lo is None or (isinstance(lo, float) and math.isinf(lo))
    hi_none = hi is None or (isinstance(hi, float) and math.isinf(hi))
    if hi_none and not isinstance(lo, str) and lo == 0:
        dom = "NonNegativeIntegers" if integer else "NonNegativeReals"
        return [f"{model}.{attrs[name]} = {pyo}.Var({idx}domain={pyo}.{dom})"]
    dom = "Integers" if integer else "Reals"
    if lo_none and hi_none:
        return [f"{model}.{attrs[name]} = {pyo}.Var({idx}domain={pyo}.{dom})"]
    if not isinstance(lo, str) and not isinstance(hi, str):
        lo_t = "None" if lo_none else _py_num(float(lo))  # type: ignore[arg-type]
        hi_t = "None" if hi_none else _py_num(float(hi))  # type: ignore[arg-type]
        return [
            f"{model}.{attrs[name]} = {pyo}.Var({idx}domain={pyo}.{dom}, bounds=({lo_t}, {hi_t}))"
        ]
    # a bound given by a parameter: a rule reads it for each index
    width = sum(m.data.sets[s].dim for s in v.index)
    keys = [f"k{n + 1}" for n in range(width)]

    def side(value: float | str | None, none: bool) -> str:
        if none:
            return "None"
        if isinstance(value, str):
            p = m.data.params[value]
            ref = f"{marg}.{attrs[value]}"
            if p.scalar or not keys:
                return f"{pyo}.value({ref})"
            return f"{ref}[{', '.join(keys)}]"
        return _py_num(float(value))  # type: ignore[arg-type]

    rule = _fresh(f"{name}_bounds", module_names)
    return [
        f"def {rule}({', '.join([marg, *keys])}):",
        f"    return ({side(lo, lo_none)}, {side(hi, hi_none)})",
        "",
        "",
        f"{model}.{attrs[name]} = {pyo}.Var({idx}domain={pyo}.{dom}, bounds={rule})",
    ]


# ================================================================== LP and MPS

_LP_KEYWORDS = frozenset(
    "min minimize minimise minimum max maximize maximise maximum st subject such to that "
    "bound bounds general generals gen integer integers int binary binaries bin semi semis "
    "semicontinuous sos sos1 sos2 end free inf infinity obj".split()
)


def lp_name(name: str, key: Sequence[Any] = ()) -> str:
    """An LP/MPS-safe name: ``ship(seattle,topeka)`` becomes ``ship_seattle_topeka_``."""
    text = name
    if key:
        text += "(" + ",".join(str(e) for e in key) + ")"
    text = re.sub(r"[^A-Za-z0-9_]", "_", text)
    if text.lower() in _LP_KEYWORDS or re.match(r"^[eE]\d", text) or not text[:1].isalpha():
        text = "_" + text
    return text[:200]


def _unique(names: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for n in names:
        cand, k = n, 2
        while cand in seen:
            cand = f"{n}_{k}"
            k += 1
        seen.add(cand)
        out.append(cand)
    return out


def _named_highs(m: CompiledModel) -> Any:
    """The HiGHS build with formulation names, and a maximised QP kept a maximisation."""
    import highspy

    from modeling.backends.highs import build

    if m.obj_tree is not None or m.nonlinear_blocks:
        raise ExportError(
            f"LP/MPS files hold linear and quadratic models only; this is a {m.model_class} "
            "(nonlinear terms in "
            + ("the objective" if m.obj_tree is not None else "constraints")
            + "). Export it as a Pyomo script instead (optiwise export --to pyomo; "
            "modeling.export.to_pyomo_script)."
        )
    h: Any = build(m)
    quadratic = len(m.obj_q[2]) > 0
    if quadratic and m.sense == "maximize":
        # build() passes a maximised QP negated; a file should read as written.
        n = m.ncols
        lp = h.getLp()
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        h.changeColsCost(n, np.arange(n, dtype=np.int32), -np.asarray(lp.col_cost_))
        h.changeObjectiveOffset(-float(lp.offset_))
        hess = h.getModel().hessian_
        hess.value_ = [-v for v in hess.value_]
        h.passHessian(hess)
    col_names = []
    for b in m.blocks.values():
        keys = m.column_keys(b)
        col_names += [lp_name(b.name, k) for k in keys]
    row_names = [""] * m.nrows
    for blk in m.con_blocks:
        if blk.linear:
            for k, key in enumerate(blk.keys()):
                row_names[blk.row_start + k] = lp_name(blk.name, key)
    for j, nm in enumerate(_unique(col_names)):
        h.passColName(j, nm)
    for i, nm in enumerate(_unique(row_names)):
        h.passRowName(i, nm)
    return h


def _write(source: Source, suffix: str, path: str | Path | None) -> str:
    m = _model(source)
    h = _named_highs(m)
    with tempfile.TemporaryDirectory(prefix="optiwise-") as tmp:
        out = Path(tmp) / f"model{suffix}"
        status = h.writeModel(str(out))
        if not out.exists():
            raise ExportError(f"HiGHS could not write the {suffix[1:].upper()} file ({status})")
        text = out.read_text(encoding="utf-8")
    notes = assumption_comments(m.formulation, "\\" if suffix == ".lp" else "*")
    if notes:
        text = "\n".join(notes) + "\n" + text
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def to_lp(source: Source, path: str | Path | None = None) -> str:
    """The model in CPLEX LP format (written by HiGHS); also written to ``path`` if given.

    Rows and columns carry the formulation's names made LP-safe
    (``ship['seattle', 'topeka']`` → ``ship_seattle_topeka_``).  LP, MILP and
    QP only: nonlinear models raise :class:`ExportError`.
    """
    return _write(source, ".lp", path)


def to_mps(source: Source, path: str | Path | None = None) -> str:
    """The model in (free) MPS format, as :func:`to_lp` does for LP files."""
    return _write(source, ".mps", path)


__all__ = [
    "ExportError",
    "assumption_comments",
    "lp_name",
    "tex_name",
    "tex_number",
    "tex_text",
    "to_latex",
    "to_lp",
    "to_mps",
    "to_pyomo_script",
]
