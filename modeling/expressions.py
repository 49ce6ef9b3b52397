"""The expression language of spec v1: parsed with :mod:`ast`, never evaluated.

:func:`parse` turns a string into a small tree of our own node types,
accepting only the whitelisted Python syntax of the spec; anything else is a
located :class:`~modeling.errors.Issue`.  :func:`check_expression` then checks
names, index counts and constant-ness against the document's symbols.  The
tree is interpreted by :mod:`modeling.compiler`; no Python code from a
document is ever run.
"""

from __future__ import annotations

import ast
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from modeling.errors import Issue, did_you_mean
from modeling.formulation import FUNCTIONS, RESERVED
from modeling.limits import MAX_EXPONENT, literal_value, value_issue

# A chain of + and - longer than this is built as a balanced tree (depth log2 n), so
# that a flat sum of any length never meets a recursion limit downstream (compiler,
# exports, backends).  Shorter chains keep the exact shape they were written in.
BALANCE_ABOVE = 32
# Python's own parser recurses once per operator of a chain and gives up near 3,000;
# longer chains are grouped into parenthesised runs of this many terms before parsing.
_GROUP = 256

# ---------------------------------------------------------------- node types


@dataclass(frozen=True, slots=True)
class Num:
    value: float


@dataclass(frozen=True, slots=True)
class Str:
    value: str


@dataclass(frozen=True, slots=True)
class Name:
    id: str


@dataclass(frozen=True, slots=True)
class Index:
    """``base[i, j]``: a subscripted parameter or variable."""

    base: str
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class BinOp:
    op: str  # + - * /
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Node


@dataclass(frozen=True, slots=True)
class Pow:
    base: Node
    exponent: Node


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Generator:
    """``for (i, j) in ARCS if cond``; ``whole`` when one name binds a tuple."""

    targets: tuple[str, ...]
    set: str
    conds: tuple[Node, ...]
    unpacked: bool


@dataclass(frozen=True, slots=True)
class Sum:
    body: Node
    gens: tuple[Generator, ...]


@dataclass(frozen=True, slots=True)
class Aggregate:
    """``min(... for ...)`` / ``max(... for ...)``."""

    func: str
    body: Node
    gens: tuple[Generator, ...]


@dataclass(frozen=True, slots=True)
class Compare:
    left: Node
    ops: tuple[str, ...]  # == != < <= > >=
    rights: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # and / or
    values: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


Node = (
    Num | Str | Name | Index | BinOp | Neg | Pow | Call | Sum | Aggregate | Compare | BoolOp | Not
)


@dataclass(frozen=True)
class Relation:
    """A constraint: ``lo <= body <= hi`` with ``lhs - rhs`` kept apart for display."""

    lhs: Node
    op: str  # <= >= ==
    rhs: Node
    lo: Node | None = None  # range constraints: constant ends
    hi: Node | None = None
    body: Node | None = None


class ParseFailure(Exception):
    def __init__(self, message: str, hint: str = "", code: str = "syntax") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_CMPOPS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_NODE_NAMES = {
    ast.Lambda: "lambda",
    ast.IfExp: "'x if c else y'",
    ast.Attribute: "attribute access ('.')",
    ast.ListComp: "a list comprehension",
    ast.Dict: "a dict",
    ast.Set: "a set literal",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Starred: "'*'",
    ast.JoinedStr: "an f-string",
    ast.NamedExpr: "':='",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.Slice: "a slice",
}


def _source(text: str, node: ast.AST) -> str:
    seg = ast.get_source_segment(text, node)
    return seg if seg is not None else ""


class _Builder:
    def __init__(self, text: str) -> None:
        self.text = text

    def fail(
        self, node: ast.AST, message: str, hint: str = "", code: str = "syntax"
    ) -> ParseFailure:
        seg = _source(self.text, node)
        where = f" in '{seg}'" if seg and seg != self.text.strip() else ""
        return ParseFailure(message + where, hint, code)

    def expr(self, node: ast.expr) -> Node:
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or v is None:
                raise self.fail(node, f"'{v}' is not allowed", "use numbers")
            if isinstance(v, int | float):
                try:
                    number = float(v)
                except OverflowError:
                    number = math.inf
                if not math.isfinite(number):
                    raise self.fail(
                        node, "a number is too large", "write a finite number", code="value"
                    )
                return Num(number)
            if isinstance(v, str):
                return Str(v)
            raise self.fail(node, f"the constant {v!r} is not allowed")
        if isinstance(node, ast.Name):
            return Name(node.id)
        if isinstance(node, ast.Subscript):
            if not isinstance(node.value, ast.Name):
                raise self.fail(
                    node, "only a parameter or variable name can be subscripted", "write name[i, j]"
                )
            sl = node.slice
            items = sl.elts if isinstance(sl, ast.Tuple) else [sl]
            if any(isinstance(i, ast.Slice) for i in items):
                raise self.fail(node, "slices are not allowed", "index with set elements")
            return Index(node.value.id, tuple(self.expr(i) for i in items))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
            return self.chain(node)
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                return Pow(self.expr(node.left), self.expr(node.right))
            op = _BINOPS.get(type(node.op))
            if op is None:
                sym = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.BitXor: "^"}.get(
                    type(node.op), type(node.op).__name__
                )
                hint = "use ** for powers" if sym == "^" else "use + - * / and **"
                raise self.fail(node, f"operator '{sym}' is not allowed", hint)
            return BinOp(op, self.expr(node.left), self.expr(node.right))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                operand = self.expr(node.operand)
                if isinstance(operand, Num):
                    return Num(-operand.value)
                return Neg(operand)
            if isinstance(node.op, ast.UAdd):
                return self.expr(node.operand)
            if isinstance(node.op, ast.Not):
                return Not(self.expr(node.operand))
            raise self.fail(node, "operator '~' is not allowed")
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Compare):
            ops = []
            for o in node.ops:
                cmp = _CMPOPS.get(type(o))
                if cmp is None:
                    raise self.fail(
                        node,
                        "'in', 'is' are not allowed in comparisons",
                        "compare with == != < <= > >=",
                    )
                ops.append(cmp)
            return Compare(
                self.expr(node.left), tuple(ops), tuple(self.expr(c) for c in node.comparators)
            )
        if isinstance(node, ast.BoolOp):
            return BoolOp(
                "and" if isinstance(node.op, ast.And) else "or",
                tuple(self.expr(v) for v in node.values),
            )
        if isinstance(node, ast.GeneratorExp):
            raise self.fail(
                node,
                "a generator must be inside sum(), min() or max()",
                "write sum(... for i in I)",
            )
        what = _NODE_NAMES.get(type(node), type(node).__name__)
        raise self.fail(node, f"{what} is not allowed in expressions")

    def chain(self, node: ast.BinOp) -> Node:
        """``a + b - c + …`` walked iteratively; long chains become balanced trees."""
        terms: list[tuple[str, ast.expr]] = []
        cur: ast.expr = node
        while isinstance(cur, ast.BinOp) and isinstance(cur.op, ast.Add | ast.Sub):
            terms.append(("+" if isinstance(cur.op, ast.Add) else "-", cur.right))
            cur = cur.left
        terms.append(("+", cur))
        terms.reverse()
        built = [(sign, self.expr(t)) for sign, t in terms]
        if len(built) <= BALANCE_ABOVE:
            out = built[0][1]
            for sign, t in built[1:]:
                out = BinOp(sign, out, t)
            return out
        return balanced_sum(built)

    def generators(self, comps: list[ast.comprehension]) -> tuple[Generator, ...]:
        gens = []
        for comp in comps:
            if comp.is_async:
                raise self.fail(comp.iter, "async comprehensions are not allowed")
            t = comp.target
            targets: tuple[str, ...]
            if isinstance(t, ast.Name):
                targets, unpacked = (t.id,), False
            elif isinstance(t, ast.Tuple) and all(isinstance(e, ast.Name) for e in t.elts):
                targets = tuple(e.id for e in t.elts if isinstance(e, ast.Name))
                unpacked = True
            else:
                raise self.fail(
                    comp.target,
                    "the target of 'for' must be a name or (i, j)",
                    "write 'for i in I' or 'for (i, j) in ARCS'",
                )
            if not isinstance(comp.iter, ast.Name):
                hint = "the 'in' target is always a set name"
                if isinstance(comp.iter, ast.Call) and getattr(comp.iter.func, "id", "") == "range":
                    hint = "declare the range as a set, e.g. T: {from: 1, to: 12}"
                raise self.fail(comp.iter, "'for' must iterate over a set name", hint)
            gens.append(
                Generator(targets, comp.iter.id, tuple(self.expr(c) for c in comp.ifs), unpacked)
            )
        return tuple(gens)

    def call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail(
                node,
                "only the functions sum, abs, min, max, exp, log, sqrt, sin, cos can be called",
            )
        fname = node.func.id
        if node.keywords:
            names = ", ".join(f"{k.arg}=" for k in node.keywords if k.arg)
            hint = (
                f"write sum(...) + 1 instead of {names}"
                if fname == "sum" and "start=" in names
                else "pass plain arguments only"
            )
            raise self.fail(
                node, f"{fname}() takes no keyword arguments ({names or '**'})", hint, code="sum"
            )
        if fname == "sum" or (fname in ("min", "max") and len(node.args) == 1):
            if len(node.args) != 1 or not isinstance(node.args[0], ast.GeneratorExp | ast.ListComp):
                raise self.fail(
                    node,
                    f"{fname}() takes one generator",
                    f"write {fname}(x[i] for i in I)",
                    code="sum",
                )
            gen = node.args[0]
            assert isinstance(gen, ast.GeneratorExp | ast.ListComp)
            body = self.expr(gen.elt)
            gens = self.generators(gen.generators)
            if fname == "sum":
                return Sum(body, gens)
            return Aggregate(fname, body, gens)
        if fname not in FUNCTIONS:
            hint = did_you_mean(fname, FUNCTIONS | {"sum"})
            raise self.fail(
                node,
                f"unknown function '{fname}'",
                hint or "allowed: sum, abs, min, max, exp, log, sqrt, sin, cos",
                code="function",
            )
        args = tuple(self.expr(a) for a in node.args)
        if fname in ("min", "max"):
            if len(args) < 2:
                raise self.fail(node, f"{fname}() needs two or more arguments or a generator")
        elif len(args) != 1:
            raise self.fail(node, f"{fname}() takes exactly one argument")
        return Call(fname, args)


def balanced_sum(items: list[tuple[str, Node]]) -> Node:
    """``±t1 ± t2 ± …`` as a tree of depth log2(n) with the same value.

    Pairs are merged level by level: ``(s1, a), (s2, b)`` becomes
    ``(s1, a + b)`` when the signs agree and ``(s1, a - b)`` otherwise, since
    ``-a - b == -(a + b)`` and ``-a + b == -(a - b)``.  The first term of a
    chain is always positive, so the root needs no negation.
    """
    level = list(items)
    while len(level) > 1:
        nxt: list[tuple[str, Node]] = []
        for k in range(0, len(level) - 1, 2):
            (s1, a), (s2, b) = level[k], level[k + 1]
            nxt.append((s1, BinOp("+" if s1 == s2 else "-", a, b)))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    sign, node = level[0]
    return node if sign == "+" else Neg(node)


_TOKEN = re.compile(
    r"\s+|[A-Za-z_][A-Za-z0-9_]*|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[jJ]?"
    r"|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\*\*|//|==|!=|<=|>=|:=|->|."
)
_SUM_LEVEL_WORDS = frozenset({"for", "in", "if", "else", "and", "or", "not", "is", "lambda"})


def group_long_chains(text: str) -> str:
    """Wrap runs of a very long ``+``/``-`` chain in parentheses, keeping its value.

    ``t0 + t1 - t2 + …`` with thousands of terms becomes
    ``(t0 + … + t255) + (- t256 + …) + …``: each run keeps its own signs
    (a run that began after ``-`` starts with a unary minus), so Python's
    parser sees chains of at most :data:`_GROUP` terms per level.  Texts
    without such chains are returned unchanged.
    """
    if text.count("+") + text.count("-") <= _GROUP:
        return text
    # per bracket level: where the current region starts and its binary + / - operators
    stack: list[tuple[int, list[tuple[int, str]]]] = [(0, [])]
    edits: list[tuple[int, int, str]] = []  # (offset, length replaced, replacement)
    prev_operand = False

    def close_region(end: int, restart: int) -> None:
        start, ops = stack[-1]
        if len(ops) > _GROUP:
            edits.append((start, 0, "("))
            for k in range(_GROUP, len(ops), _GROUP):
                at, sign = ops[k]
                edits.append((at, 1, f") + ({sign}"))
            edits.append((end, 0, ")"))
        stack[-1] = (restart, [])

    for m in _TOKEN.finditer(text):
        tok = m.group()
        at = m.start()
        if tok.isspace():
            continue
        if tok in ("(", "[", "{"):
            stack.append((m.end(), []))
            prev_operand = False
        elif tok in (")", "]", "}"):
            close_region(at, at)
            if len(stack) > 1:
                stack.pop()
            prev_operand = True
        elif tok in ("+", "-") and prev_operand:
            stack[-1][1].append((at, tok))
            prev_operand = False
        elif tok in ("*", "/", "**", ".", "+", "-"):  # + and - here are unary
            prev_operand = False
        elif tok in _SUM_LEVEL_WORDS or not (tok[0].isalnum() or tok[0] in "_.'\""):
            close_region(at, m.end())
            prev_operand = False
        else:
            prev_operand = True
    while stack:
        close_region(len(text), len(text))
        stack.pop()
    pieces: list[str] = []
    pos = 0
    for at, length, piece in sorted(edits, key=lambda e: (e[0], -e[1])):
        pieces.append(text[pos:at])
        pieces.append(piece)
        pos = max(pos, at + length) if at >= pos else pos
    pieces.append(text[pos:])
    return "".join(pieces)


def _parse_ast(text: str, mode: str = "eval") -> ast.AST:
    if not isinstance(text, str) or not text.strip():
        raise ParseFailure("is empty", "write an expression")
    try:
        return ast.parse(group_long_chains(text.strip()), mode=mode)
    except SyntaxError as exc:
        msg = exc.msg or "syntax error"
        if "Exceeds the limit" in msg and "digits" in msg:
            raise ParseFailure(
                "has a number with more than 4,300 digits",
                "write it with an exponent, e.g. 1.5e30 (values of 1e20 and more are "
                "infinite to solvers)",
                code="value",
            ) from None
        if "Generator expression must be parenthesized" in msg:
            raise ParseFailure(
                "gives sum(), min() or max() more than the generator",
                "they take one generator only: write sum(x[i] for i in I) + 1, not "
                "sum(..., start=1)",
                code="sum",
            ) from None
        hint = "check brackets and operators"
        if "'=='" in msg or _lone_equals(text):
            hint = "use == for equality"
        raise ParseFailure(f"is not a valid expression ({msg})", hint) from None
    except (ValueError, RecursionError, MemoryError):
        raise ParseFailure("cannot be parsed", "simplify the expression") from None


def _lone_equals(text: str) -> bool:
    """A single '=' outside brackets (an attempted equation), not a keyword argument."""
    depth = 0
    for k, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "=" and depth == 0:
            before = text[k - 1] if k else ""
            after = text[k + 1] if k + 1 < len(text) else ""
            if before not in "=<>!" and after != "=":
                return True
    return False


@functools.lru_cache(maxsize=128)  # check, limits and export parse the same texts
def parse_expression(text: str) -> Node:
    """Parse an objective-style expression (no relation)."""
    tree = _parse_ast(text)
    assert isinstance(tree, ast.Expression)
    b = _Builder(text.strip())
    try:
        node = b.expr(tree.body)
    except RecursionError:
        raise ParseFailure("is nested too deeply", "simplify the expression") from None
    if isinstance(node, Compare):
        raise ParseFailure(
            "is a relation, not an expression",
            "the objective is an expression without <=, >= or ==",
            code="relation",
        )
    return node


@functools.lru_cache(maxsize=128)  # check, limits and export parse the same texts
def parse_relation(text: str) -> Relation:
    """Parse a constraint: one relation or a range with constant ends."""
    tree = _parse_ast(text)
    assert isinstance(tree, ast.Expression)
    b = _Builder(text.strip())
    try:
        node = b.expr(tree.body)
    except RecursionError:
        raise ParseFailure("is nested too deeply", "simplify the expression") from None
    if not isinstance(node, Compare):
        raise ParseFailure(
            "is not a relation", "write lhs <= rhs, lhs >= rhs or lhs == rhs", code="relation"
        )
    for op in node.ops:
        if op in ("<", ">"):
            strict = "<=" if op == "<" else ">="
            raise ParseFailure(
                f"uses a strict '{op}'",
                f"use '{strict}' (and + 1 for integer quantities)",
                code="strict",
            )
        if op == "!=":
            raise ParseFailure(
                "uses '!=' as a constraint", "a constraint is <=, >= or ==", code="relation"
            )
    if len(node.ops) == 1:
        return Relation(node.left, node.ops[0], node.rights[0])
    if len(node.ops) == 2:
        o1, o2 = node.ops
        if o1 == o2 and o1 in ("<=", ">="):
            lo, body, hi = node.left, node.rights[0], node.rights[1]
            if o1 == ">=":
                lo, hi = hi, lo
            return Relation(node.left, o1, node.rights[1], lo=lo, hi=hi, body=body)
        raise ParseFailure(
            "mixes directions in a range",
            "write lo <= expr <= hi or hi >= expr >= lo",
            code="relation",
        )
    raise ParseFailure(
        "chains more than two comparisons", "split it into separate constraints", code="relation"
    )


@functools.lru_cache(maxsize=128)  # check, limits and export parse the same texts
def parse_forall(text: str) -> tuple[Generator, ...]:
    """Parse ``for i in I for j in J if i != j`` into generators."""
    src = f"[0 {text.strip()}]"
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError:
        raise ParseFailure(
            "is not a valid 'for ... in ...' clause",
            "write 'for i in I' or 'for i in I for j in J if i != j'",
        ) from None
    except (ValueError, RecursionError, MemoryError):
        raise ParseFailure("cannot be parsed", "simplify it") from None
    assert isinstance(tree, ast.Expression)
    if not isinstance(tree.body, ast.ListComp):
        raise ParseFailure(
            "is not a valid 'for ... in ...' clause",
            "write 'for i in I' or 'for i in I for j in J if i != j'",
        )
    return _Builder(src).generators(tree.body.generators)


# ------------------------------------------------------------ static checks


@dataclass
class Symbols:
    """What a document defines: set dimensions, parameter and variable index sets."""

    sets: dict[str, int]  # name -> dimension (1, or tuple length)
    params: dict[str, list[str]]  # name -> index sets ([] for scalars)
    variables: dict[str, list[str]]
    all_names: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.all_names = set(self.sets) | set(self.params) | set(self.variables)

    def width(self, index: list[str]) -> int:
        return sum(self.sets.get(s, 1) for s in index)


@dataclass(frozen=True)
class Bound:
    """An index name in scope: the set it came from (None after unpacking) and its width."""

    set: str | None
    width: int


class _Checker:
    def __init__(self, symbols: Symbols, location: str, issues: list[Issue]) -> None:
        self.sym = symbols
        self.loc = location
        self.issues = issues

    def add(self, message: str, hint: str = "", code: str = "invalid") -> None:
        self.issues.append(Issue(self.loc, message, hint, code))

    def bind(self, gens: tuple[Generator, ...], scope: dict[str, Bound]) -> dict[str, Bound]:
        scope = dict(scope)
        for g in gens:
            if g.set not in self.sym.sets:
                what = self._kind(g.set)
                if what:
                    self.add(
                        f"'for ... in {g.set}': {g.set} is a {what}, not a set",
                        "iterate over a set name",
                        code="undefined",
                    )
                else:
                    self.add(
                        f"unknown set '{g.set}'",
                        did_you_mean(g.set, self.sym.sets) or "declare it under sets",
                        code="undefined",
                    )
                dim = 1
            else:
                dim = self.sym.sets[g.set]
            if g.unpacked and len(g.targets) != dim:
                self.add(
                    f"'for ({', '.join(g.targets)}) in {g.set}' unpacks {len(g.targets)} "
                    f"names but {g.set} has {'tuples of ' + str(dim) if dim > 1 else 'single elements'}",
                    f"unpack {dim} names" if dim > 1 else f"write 'for i in {g.set}'",
                    code="index",
                )
            for t in g.targets:
                if t in self.sym.all_names:
                    self.add(
                        f"index name '{t}' is already the name of a {self._kind(t)}",
                        f"use another index name, e.g. '{t.lower()}_' or a single letter",
                        code="shadow",
                    )
                elif t in RESERVED:
                    self.add(
                        f"index name '{t}' is a reserved word", "use another name", code="name"
                    )
            for t in g.targets:
                if g.unpacked:
                    scope[t] = Bound(None, 1)
                else:
                    scope[t] = Bound(g.set, dim)
            for c in g.conds:
                self.condition(c, scope)
        return scope

    def power(self, node: Pow) -> bool:
        """Refuse powers no solver can take; False when reported (skip the operands).

        Constant powers are evaluated without overflow (``2**2**2**2**2**2`` is
        too large, not "a negative base"); a variable base takes a constant
        exponent of magnitude at most :data:`~modeling.limits.MAX_EXPONENT`,
        since solver interfaces multiply integer powers out term by term.
        """
        whole = literal_value(node)
        if whole is not None:
            if math.isinf(whole):
                self.add(
                    "a constant power is too large to compute",
                    "write the number with an exponent, e.g. 1e30, and keep it below 1e20",
                    code="value",
                )
                return False
            if math.isnan(whole):
                self.add(
                    "a constant power has no real value (a negative base with a fractional "
                    "exponent, or 0 to a negative power)",
                    "check the signs of the base and the exponent",
                    code="value",
                )
                return False
            found = value_issue(whole, self.loc)
            if found is not None:
                self.issues.append(found)
                return False
            return True
        k = literal_value(node.exponent)
        if k is not None and not (math.isfinite(k) and abs(k) <= MAX_EXPONENT):
            shown = f"{k:g}" if math.isfinite(k) else "too large to compute"
            self.add(
                f"the exponent is {shown}; a power of a variable allows at most "
                f"{MAX_EXPONENT} in magnitude",
                "rescale the model (a power that large is 0 or astronomically large on any "
                "range but [-1, 1])",
                code="exponent",
            )
            return False
        return True

    def _kind(self, name: str) -> str:
        if name in self.sym.sets:
            return "set"
        if name in self.sym.params:
            return "parameter"
        if name in self.sym.variables:
            return "variable"
        return ""

    def condition(self, node: Node, scope: dict[str, Bound]) -> None:
        if isinstance(node, BoolOp):
            for v in node.values:
                self.condition(v, scope)
        elif isinstance(node, Not):
            self.condition(node.operand, scope)
        elif isinstance(node, Compare):
            for term in (node.left, *node.rights):
                self.value(term, scope, constant=True, where="a condition")
        else:
            self.add("a condition must be a comparison", "write e.g. 'if i != j'", code="condition")

    def index_item(self, node: Node, scope: dict[str, Bound]) -> int:
        """Check one subscript item; return how many index positions it fills."""
        if isinstance(node, Name) and node.id in scope:
            return scope[node.id].width
        if isinstance(node, Str | Num):
            return 1
        if isinstance(node, Name | BinOp | Neg | Index | Call):
            self.value(node, scope, constant=True, where="an index")
            return 1
        self.add(
            "an index must be an index name, a label or integer arithmetic",
            "write x[i], x['north'] or x[t - 1]",
            code="index",
        )
        return 1

    def value(self, node: Node, scope: dict[str, Bound], constant: bool, where: str) -> None:
        """Check a numeric expression; ``constant`` forbids variables (conditions, indices)."""
        if isinstance(node, Num):
            found = value_issue(node.value, self.loc)
            if found is not None:
                self.issues.append(found)
            return
        if isinstance(node, Str):
            return
        if isinstance(node, Name):
            n = node.id
            if n in scope:
                return
            if n in self.sym.variables:
                if constant:
                    self.add(
                        f"variable '{n}' cannot appear in {where}",
                        "conditions and indices use constants only",
                        code="constant",
                    )
                elif self.sym.variables[n]:
                    idx = self.sym.variables[n]
                    self.add(
                        f"variable '{n}' is indexed by [{', '.join(idx)}]",
                        f"write {n}[...] inside a sum over {', '.join(idx)}",
                        code="index",
                    )
                return
            if n in self.sym.params:
                if self.sym.params[n]:
                    idx = self.sym.params[n]
                    self.add(
                        f"parameter '{n}' is indexed by [{', '.join(idx)}]",
                        f"write {n}[...]",
                        code="index",
                    )
                return
            if n in self.sym.sets:
                self.add(
                    f"set '{n}' cannot be used as a value",
                    f"use it after 'in', e.g. 'for i in {n}'",
                    code="undefined",
                )
                return
            candidates = self.sym.all_names | set(scope)
            self.add(
                f"unknown name '{n}'",
                did_you_mean(n, candidates)
                or "define it as a parameter or variable, or bind it with 'for'",
                code="undefined",
            )
            return
        if isinstance(node, Index):
            b = node.base
            if b in self.sym.variables:
                index = self.sym.variables[b]
                if constant:
                    self.add(
                        f"variable '{b}' cannot appear in {where}",
                        "conditions and indices use constants only",
                        code="constant",
                    )
            elif b in self.sym.params:
                index = self.sym.params[b]
            elif b in self.sym.sets:
                self.add(f"set '{b}' cannot be subscripted", "", code="index")
                return
            elif b in scope:
                self.add(f"index name '{b}' cannot be subscripted", "", code="index")
                return
            else:
                self.add(
                    f"unknown name '{b}'",
                    did_you_mean(b, self.sym.variables.keys() | self.sym.params.keys())
                    or "define it as a parameter or variable",
                    code="undefined",
                )
                return
            if not index:
                self.add(f"'{b}' is a scalar and takes no index", f"write {b}", code="index")
                return
            got = sum(self.index_item(i, scope) for i in node.items)
            want = self.sym.width(index)
            if got != want:
                self.add(
                    f"'{b}' takes {want} index{'es' if want != 1 else ''} "
                    f"([{', '.join(index)}]) but got {got}",
                    f"write {b}[{', '.join(_letters(want))}]",
                    code="index",
                )
            return
        if isinstance(node, BinOp):
            self.value(node.left, scope, constant, where)
            self.value(node.right, scope, constant, where)
            return
        if isinstance(node, Neg):
            self.value(node.operand, scope, constant, where)
            return
        if isinstance(node, Pow):
            if self.power(node):
                self.value(node.base, scope, constant, where)
                self.value(node.exponent, scope, True, "an exponent")
            return
        if isinstance(node, Call):
            for a in node.args:
                self.value(a, scope, constant, where)
            return
        if isinstance(node, Sum | Aggregate):
            inner = self.bind(node.gens, scope)
            self.value(node.body, inner, constant, where)
            return
        if isinstance(node, Compare):
            self.add(
                "a comparison can only appear as the constraint's relation or in 'if'",
                "",
                code="relation",
            )
            return
        if isinstance(node, BoolOp | Not):
            self.add("'and', 'or', 'not' can only appear in 'if' conditions", "", code="condition")
            return


def _letters(n: int) -> list[str]:
    return ["i", "j", "k", "l", "m", "n"][:n] if n <= 6 else [f"i{k}" for k in range(n)]


def check_expression(
    node: Node, symbols: Symbols, location: str, scope: Mapping[str, Bound] | None = None
) -> list[Issue]:
    """All static problems of one expression (names, index counts, constant-ness)."""
    issues: list[Issue] = []
    _Checker(symbols, location, issues).value(node, dict(scope or {}), False, "")
    return issues


def check_bounds(
    gens: tuple[Generator, ...], symbols: Symbols, location: str
) -> tuple[list[Issue], dict[str, Bound]]:
    issues: list[Issue] = []
    scope = _Checker(symbols, location, issues).bind(gens, {})
    return issues, scope


def check_constant(
    node: Node, symbols: Symbols, location: str, scope: Mapping[str, Bound], where: str
) -> list[Issue]:
    issues: list[Issue] = []
    _Checker(symbols, location, issues).value(node, dict(scope), True, where)
    return issues


def children(n: Node) -> list[Node]:
    """The direct sub-expressions of a node (generator conditions included)."""
    if isinstance(n, Index):
        return list(n.items)
    if isinstance(n, BinOp):
        return [n.left, n.right]
    if isinstance(n, Neg | Not):
        return [n.operand]
    if isinstance(n, Pow):
        return [n.base, n.exponent]
    if isinstance(n, Call):
        return list(n.args)
    if isinstance(n, Sum | Aggregate):
        out = [n.body]
        for g in n.gens:
            out.extend(g.conds)
        return out
    if isinstance(n, Compare):
        return [n.left, *n.rights]
    if isinstance(n, BoolOp):
        return list(n.values)
    return []


def walk(node: Node) -> list[Node]:
    """Every node of a tree, depth first, without recursion (generator conditions included)."""
    out: list[Node] = []
    stack: list[Node] = [node]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(reversed(children(n)))
    return out


def raw_expression_issues(data: Mapping[str, object]) -> list[Issue]:
    """Problems of the expressions of a document whose *shape* is broken, best effort.

    :func:`modeling.formulation.load` stops at shape errors (a wrong type, a
    missing key); this reads the names the raw document declares and checks
    every expression it can find, so that one report lists both kinds.
    """
    sets = data.get("sets")
    params = data.get("parameters")
    variables = data.get("variables")
    set_dims: dict[str, int] = {}
    if isinstance(sets, Mapping):
        for name, spec in sets.items():
            dim = 1
            if isinstance(spec, list) and spec and isinstance(spec[0], list | tuple):
                dim = max(len(spec[0]), 1)
            set_dims[str(name)] = dim

    def index_of(spec: object) -> list[str]:
        if isinstance(spec, Mapping):
            idx = spec.get("index")
            if isinstance(idx, str):
                return [idx]
            if isinstance(idx, list):
                return [str(i) for i in idx]
        return []

    sym = Symbols(
        set_dims,
        {str(k): index_of(v) for k, v in params.items()} if isinstance(params, Mapping) else {},
        {str(k): index_of(v) for k, v in variables.items()}
        if isinstance(variables, Mapping)
        else {},
    )
    issues: list[Issue] = []
    objective = data.get("objective")
    if isinstance(objective, Mapping) and isinstance(objective.get("expression"), str):
        loc = "objective.expression"
        try:
            issues.extend(check_expression(parse_expression(objective["expression"]), sym, loc))
        except ParseFailure as exc:
            issues.append(Issue(loc, exc.message, exc.hint, exc.code))
    constraints = data.get("constraints")
    items: list[tuple[str, object]] = []
    if isinstance(constraints, list):
        items = [(f"constraints[{k}]", c) for k, c in enumerate(constraints)]
    elif isinstance(constraints, Mapping):  # the lenient mapping form: name -> body
        items = [
            (f"constraints[{k}]", {"expression": c} if isinstance(c, str) else c)
            for k, c in enumerate(constraints.values())
        ]
    for where, c in items:
        if not isinstance(c, Mapping) or not isinstance(c.get("expression"), str):
            continue
        scope: dict[str, Bound] = {}
        forall = c.get("forall")
        if isinstance(forall, str) and forall.strip():
            text = forall.strip()
            if not text.startswith("for"):
                text = "for " + text
            try:
                found, scope = check_bounds(parse_forall(text), sym, f"{where}.forall")
                issues.extend(found)
            except ParseFailure as exc:
                issues.append(Issue(f"{where}.forall", exc.message, exc.hint, exc.code))
                continue
        loc = f"{where}.expression"
        try:
            rel = parse_relation(c["expression"])
        except ParseFailure as exc:
            issues.append(Issue(loc, exc.message, exc.hint, exc.code))
            continue
        for part in (rel.lhs, rel.rhs) if rel.body is None else (rel.lo, rel.body, rel.hi):
            if part is not None:
                issues.extend(check_expression(part, sym, loc, scope))
    return issues
