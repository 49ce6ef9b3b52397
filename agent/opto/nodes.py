"""Nodes of a traced computation: values, trainable parameters, operator outputs, exceptions.

Ordinary Python on nodes records a graph::

    x = ParameterNode(2.0, name="x", description="the input to tune")
    y = node(3.0, name="y")
    z = 2 * x + 3 * y            # MessageNodes: mul, mul, add
    z.data, [p.py_name for p in z.parents]

Every operator output is a :class:`MessageNode` whose parents are its inputs,
so ``z.backward("make it larger")`` can hand each parameter the part of the
graph that explains the feedback (see :mod:`agent.opto.propagators`).

What is traced and what is not (as in Trace):

- arithmetic, unary and bitwise operators, ``<``/``<=``/``>``/``>=``,
  ``round``/``math.floor``/``ceil``/``trunc``, indexing, attribute access,
  calls, iteration, every method of the wrapped value (``s.upper()``,
  ``d.keys()``, ...) are traced; container mutators (``append``, ``update``,
  ...) work on a copy and return it, so the input node keeps its value;
- ``==``/``!=`` compare the wrapped values and return a plain ``bool`` (so
  ``in`` and dictionaries behave); use :meth:`Node.eq`/:meth:`Node.ne` for the
  traced versions; hashing is by identity;
- ``bool(n)``, ``len(n)``, ``str(n)`` and ``x in n`` return plain values
  (Python requires it); :meth:`Node.len` is the traced length.

Names are ``base:index`` (``x:0``); the *py_name* (``x0``) is what an optimizer
shows the LLM and reads back. Indices come from counters in the active
:func:`name_scope` (never a registry of nodes), so a fresh scope restarts them
without leaking anything between runs or tests.
"""

from __future__ import annotations

import copy
import math
import operator
import re
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = [
    "ExceptionNode",
    "ExecutionError",
    "MessageNode",
    "NameScope",
    "Node",
    "ParameterNode",
    "TraceMissingInputsError",
    "is_tracing",
    "name_scope",
    "node",
    "stop_tracing",
]


# ---------------------------------------------------------------------------
# naming and tracing switches


class NameScope:
    """Counters that number nodes per base name (``add:0``, ``add:1``, ...).

    Holds integers only, never nodes, so keeping one alive keeps no graph alive.
    """

    __slots__ = ("_counters",)

    def __init__(self) -> None:
        self._counters: dict[str, int] = {}

    def next_index(self, base: str) -> int:
        """The next free index for ``base``."""
        index = self._counters.get(base, 0)
        self._counters[base] = index + 1
        return index


_DEFAULT_SCOPE = NameScope()  # counts only; name_scope() gives a run or test its own
_SCOPE: ContextVar[NameScope | None] = ContextVar("opto_name_scope", default=None)


def _scope() -> NameScope:
    scope = _SCOPE.get()
    return scope if scope is not None else _DEFAULT_SCOPE


_TRACING: ContextVar[bool] = ContextVar("opto_tracing", default=True)
# nodes whose data a bundled function read, keyed by id (see agent.opto.bundle)
_USED: ContextVar[dict[int, Node] | None] = ContextVar("opto_used_nodes", default=None)


@contextmanager
def name_scope() -> Iterator[NameScope]:
    """Number nodes from 0 again inside the block (one per optimization run or test)."""
    token = _SCOPE.set(NameScope())
    try:
        yield _scope()
    finally:
        _SCOPE.reset(token)


@contextmanager
def stop_tracing() -> Iterator[None]:
    """Inside the block operators compute values but record no parents (no graph)."""
    token = _TRACING.set(False)
    try:
        yield
    finally:
        _TRACING.reset(token)


def is_tracing() -> bool:
    """Whether operators currently record edges."""
    return _TRACING.get()


_BASE_CLEAN = re.compile(r"[^0-9A-Za-z_]")


_BASES: dict[str, str] = {}


def _clean_base(name: str) -> str:
    """A valid identifier prefix for ``name`` (cached: tracing asks for the same few)."""
    base = _BASES.get(name)
    if base is None:
        base = _BASE_CLEAN.sub("_", name.strip()) or "node"
        base = base if not base[0].isdigit() else f"n_{base}"
        if len(_BASES) < 4096:
            _BASES[name] = base
    return base


# ---------------------------------------------------------------------------
# errors


class ExecutionError(Exception):
    """An operator raised; ``exception_node`` is the traced error to give feedback on.

    Usage::

        try:
            out = program(x)
        except ExecutionError as err:
            out = err.exception_node
        out.backward(out.create_feedback("full"))
    """

    def __init__(self, exception_node: ExceptionNode) -> None:
        self.exception_node = exception_node
        super().__init__(exception_node.info.get("error_comment") or str(exception_node.data))


class TraceMissingInputsError(Exception):
    """A bundled function read nodes it was not given, so the graph would be incomplete."""


# ---------------------------------------------------------------------------
# nodes


class Node:
    """A traced value.

    ``description`` starts with a bracketed tag (``[Node] ...``, ``[add] ...``);
    ``constraint`` is free text an optimizer must respect; ``feedback`` maps
    each child (or the feedback oracle) to the feedback it sent.
    """

    __slots__ = (
        "__weakref__",
        "_backwarded",
        "_base",
        "_children",
        "_data",
        "_index",
        "_names",
        "constraint",
        "description",
        "feedback",
        "info",
        "level",
        "parents",
        "trainable",
    )
    _TAG = "[Node]"
    _EAGER_NAME = False  # parameters are numbered at creation, other nodes when first named
    _data: Any

    def __init__(
        self,
        value: Any,
        *,
        name: str | None = None,
        description: str | None = None,
        constraint: str | None = None,
    ) -> None:
        if isinstance(value, Node):
            value = value._data
        self._data = value
        self._base = _clean_base(name) if name else ""
        self._names = _SCOPE.get()
        self._index = -1
        if self._EAGER_NAME:
            self._number()
        self.description = _tagged(description, self._TAG) if description else self._TAG
        self.constraint = constraint
        self.trainable = False
        self.parents: list[Node] = []
        self._children: list[weakref.ref[Node]] = []
        self.level = 0
        self.feedback: dict[Any, list[Any]] = {}
        self.info: dict[str, Any] = {}
        self._backwarded = False

    # -- identity and value -------------------------------------------------

    def _number(self) -> None:
        if not self._base:
            self._base = _clean_base(type(self._data).__name__)
        scope = self._names if self._names is not None else _DEFAULT_SCOPE
        self._index = scope.next_index(self._base)

    @property
    def name(self) -> str:
        """``base:index``, unique within the name scope the node was created in.

        Parameters are numbered when created; operator outputs and constants
        when first named (rendering a prompt), which keeps numbers small and
        saves the work for the many nodes no prompt ever shows.
        """
        if self._index < 0:
            self._number()
        return f"{self._base}:{self._index}"

    @property
    def py_name(self) -> str:
        """The identifier an optimizer prompt uses (``x:0`` -> ``x0``)."""
        if self._index < 0:
            self._number()
        return f"{self._base}{self._index}"

    @property
    def data(self) -> Any:
        """The wrapped value; reading it inside a bundled function marks this node as used."""
        used = _USED.get()
        if used is not None:
            used[id(self)] = self
        return self._data

    @property
    def children(self) -> list[Node]:
        """Operator outputs computed from this node that are still alive."""
        alive = [c for ref in self._children if (c := ref()) is not None]
        return alive

    @property
    def op_name(self) -> str:
        """The bracket tag of the description without brackets (``add``, ``Node``)."""
        tag = self.description.split("]", 1)[0]
        return tag.lstrip("[")

    def is_root(self) -> bool:
        """True when the node has no parents."""
        return not self.parents

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, {_short_repr(self._data)})"

    def __str__(self) -> str:
        return str(self._data)

    def __format__(self, spec: str) -> str:
        return format(self._data, spec)

    def __bool__(self) -> bool:
        return bool(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, item: Any) -> bool:
        return (item._data if isinstance(item, Node) else item) in self._data

    def __eq__(self, other: object) -> bool:
        return bool(self._data == (other._data if isinstance(other, Node) else other))

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = object.__hash__

    def __copy__(self) -> Node:
        return self.detach()

    def __deepcopy__(self, memo: dict[int, Any]) -> Node:
        return self.detach(deep=True)

    def detach(self, *, deep: bool = False) -> Node:
        """A copy of this node with no parents, no children, no feedback and a fresh name."""
        new = object.__new__(type(self))
        for slot in _all_slots(type(self)):
            if slot == "__weakref__":
                continue
            if hasattr(self, slot):
                object.__setattr__(new, slot, getattr(self, slot))
        new._data = copy.deepcopy(self._data) if deep else self._data
        new._names = _SCOPE.get()
        new._index = -1
        if new._EAGER_NAME:
            new._number()
        new.parents = []
        new._children = []
        new.level = 0
        new.feedback = {}
        new.info = dict(self.info)
        new._backwarded = False
        return new

    # -- feedback -----------------------------------------------------------

    def zero_feedback(self) -> None:
        """Forget received feedback."""
        self.feedback = {}

    def backward(
        self,
        feedback: Any = "",
        *,
        propagator: Any = None,
        retain_graph: bool = False,
    ) -> None:
        """Send ``feedback`` on this output back through the graph, level by level.

        ``propagator`` (default :class:`agent.opto.propagators.GraphPropagator`)
        turns a node's received feedback into feedback for each parent. Each node
        is processed after all its children (highest level first). Without
        ``retain_graph`` a graph can be walked backward once.
        """
        from agent.opto.propagators import backward as _backward

        _backward(self, feedback, propagator=propagator, retain_graph=retain_graph)

    # -- traced operators -----------------------------------------------------

    def __add__(self, other: Any) -> MessageNode:
        return apply_op("add", operator.add, (self, other))

    def __radd__(self, other: Any) -> MessageNode:
        return apply_op("add", operator.add, (other, self))

    def __sub__(self, other: Any) -> MessageNode:
        return apply_op("subtract", operator.sub, (self, other))

    def __rsub__(self, other: Any) -> MessageNode:
        return apply_op("subtract", operator.sub, (other, self))

    def __mul__(self, other: Any) -> MessageNode:
        return apply_op("multiply", operator.mul, (self, other))

    def __rmul__(self, other: Any) -> MessageNode:
        return apply_op("multiply", operator.mul, (other, self))

    def __truediv__(self, other: Any) -> MessageNode:
        return apply_op("divide", operator.truediv, (self, other))

    def __rtruediv__(self, other: Any) -> MessageNode:
        return apply_op("divide", operator.truediv, (other, self))

    def __floordiv__(self, other: Any) -> MessageNode:
        return apply_op("floor_divide", operator.floordiv, (self, other))

    def __rfloordiv__(self, other: Any) -> MessageNode:
        return apply_op("floor_divide", operator.floordiv, (other, self))

    def __mod__(self, other: Any) -> MessageNode:
        return apply_op("mod", operator.mod, (self, other))

    def __rmod__(self, other: Any) -> MessageNode:
        return apply_op("mod", operator.mod, (other, self))

    def __pow__(self, other: Any) -> MessageNode:
        return apply_op("power", operator.pow, (self, other))

    def __rpow__(self, other: Any) -> MessageNode:
        return apply_op("power", operator.pow, (other, self))

    def __and__(self, other: Any) -> MessageNode:
        return apply_op("and", operator.and_, (self, other))

    def __rand__(self, other: Any) -> MessageNode:
        return apply_op("and", operator.and_, (other, self))

    def __or__(self, other: Any) -> MessageNode:
        return apply_op("or", operator.or_, (self, other))

    def __ror__(self, other: Any) -> MessageNode:
        return apply_op("or", operator.or_, (other, self))

    def __xor__(self, other: Any) -> MessageNode:
        return apply_op("xor", operator.xor, (self, other))

    def __rxor__(self, other: Any) -> MessageNode:
        return apply_op("xor", operator.xor, (other, self))

    def __neg__(self) -> MessageNode:
        return apply_op("negate", operator.neg, (self,))

    def __pos__(self) -> MessageNode:
        return apply_op("positive", operator.pos, (self,))

    def __abs__(self) -> MessageNode:
        return apply_op("abs", abs, (self,))

    def __invert__(self) -> MessageNode:
        return apply_op("invert", operator.invert, (self,))

    def __lt__(self, other: Any) -> MessageNode:
        return apply_op("less_than", operator.lt, (self, other))

    def __le__(self, other: Any) -> MessageNode:
        return apply_op("less_equal", operator.le, (self, other))

    def __gt__(self, other: Any) -> MessageNode:
        return apply_op("greater_than", operator.gt, (self, other))

    def __ge__(self, other: Any) -> MessageNode:
        return apply_op("greater_equal", operator.ge, (self, other))

    def __round__(self, ndigits: int | None = None) -> MessageNode:
        return apply_op("round", round, (self, ndigits))

    def __floor__(self) -> MessageNode:
        return apply_op("floor", math.floor, (self,))

    def __ceil__(self) -> MessageNode:
        return apply_op("ceil", math.ceil, (self,))

    def __trunc__(self) -> MessageNode:
        return apply_op("trunc", math.trunc, (self,))

    def __getitem__(self, key: Any) -> MessageNode:
        return apply_op("getitem", operator.getitem, (self, key))

    def __call__(self, *args: Any, **kwargs: Any) -> MessageNode:
        inputs = (self, *args, *kwargs.values())
        names = ("fun", *(f"args_{i}" for i in range(len(args))), *kwargs)
        n_args = len(args)
        keys = list(kwargs)

        def call(fun: Any, *values: Any) -> Any:
            return fun(*values[:n_args], **dict(zip(keys, values[n_args:], strict=True)))

        return apply_op("call", call, inputs, names)

    def __iter__(self) -> Iterator[MessageNode]:
        data = self._data
        if isinstance(data, Mapping):
            keys = self.keys()
            return iter([keys[i] for i in range(len(keys._data))])
        if isinstance(data, (set, frozenset)):
            items = apply_op("list", list, (self,))
            return iter([items[i] for i in range(len(items._data))])
        try:
            count = len(data)
        except TypeError as exc:
            raise ExecutionError(
                _exception_node(
                    "iterate",
                    {"x": self},
                    exc,
                    f"{self.py_name} of type {type(data).__name__} cannot be iterated",
                )
            ) from exc
        return iter([self[i] for i in range(count)])

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        data = object.__getattribute__(self, "_data")
        if not hasattr(data, name):
            raise AttributeError(
                f"node {self.name} wraps a {type(data).__name__}, which has no attribute {name!r}"
            )
        attr = getattr(data, name)
        if callable(attr):
            return _BoundMethod(self, name)
        return apply_op("getattr", getattr, (self, name), ("obj", "attr"))

    # -- explicit traced helpers ---------------------------------------------

    def eq(self, other: Any) -> MessageNode:
        """Traced ``==``."""
        return apply_op("equal", operator.eq, (self, other))

    def ne(self, other: Any) -> MessageNode:
        """Traced ``!=``."""
        return apply_op("not_equal", operator.ne, (self, other))

    def len(self) -> MessageNode:
        """Traced ``len``."""
        return apply_op("len", len, (self,))

    def getattr(self, name: str) -> MessageNode:
        """Traced attribute access, also for names that :class:`Node` itself defines."""
        return apply_op("getattr", getattr, (self, name), ("obj", "attr"))

    def call(self, method: str, *args: Any, **kwargs: Any) -> MessageNode:
        """Traced call of the wrapped value's method ``method``."""
        return _BoundMethod(self, method)(*args, **kwargs)


def _all_slots(cls: type) -> list[str]:
    slots: list[str] = []
    for klass in cls.__mro__:
        slots.extend(getattr(klass, "__slots__", ()))
    return slots


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tagged(description: str | None, tag: str) -> str:
    if not description:
        return tag
    return description if description.startswith("[") else f"{tag} {description}"


class ParameterNode(Node):
    """A trainable value: text, a number, a structure or code (``is_code=True``).

    ``description`` says what it is for and ``constraint`` what a new value
    must satisfy; both are shown to the optimizer. Optimizers replace
    ``data`` through :meth:`set`.
    """

    __slots__ = ("is_code",)
    _TAG = "[ParameterNode]"
    _EAGER_NAME = True

    def __init__(
        self,
        value: Any,
        *,
        name: str | None = None,
        description: str | None = None,
        constraint: str | None = None,
        trainable: bool = True,
        is_code: bool = False,
    ) -> None:
        super().__init__(
            value, name=name or "param", description=description, constraint=constraint
        )
        self.trainable = trainable
        self.is_code = is_code

    @property
    def kind(self) -> str:
        """``code``, ``text``, ``number``, ``bool`` or ``structure``, for prompts and casting."""
        if self.is_code:
            return "code"
        if isinstance(self._data, bool):
            return "bool"
        if isinstance(self._data, (int, float, complex)):
            return "number"
        if isinstance(self._data, str):
            return "text"
        return "structure"

    def set(self, value: Any) -> None:
        """Replace the value (no type check; optimizers cast before calling this)."""
        self._data = value


class MessageNode(Node):
    """The output of an operator; ``inputs`` maps the operator's argument names to nodes."""

    __slots__ = ("inputs",)
    _TAG = "[MessageNode]"

    def __init__(
        self,
        value: Any,
        *,
        inputs: Mapping[str, Node],
        description: str,
        name: str | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(value, name=name, description=description)
        self.inputs: dict[str, Node] = inputs if type(inputs) is dict else dict(inputs)
        if info:
            self.info.update(info)
        if _TRACING.get():
            parents: list[Node] = []
            for item in self.inputs.values():
                for seen in parents:
                    if seen is item:
                        break
                else:
                    parents.append(item)
            self.parents = parents
            ref: weakref.ref[Node] = weakref.ref(self)
            level = 0
            for parent in parents:
                parent._children.append(ref)
                if parent.level >= level:
                    level = parent.level + 1
            self.level = level


class ExceptionNode(MessageNode):
    """An operator's failure: ``data`` is ``"(ErrorType) message"``.

    ``info["error_comment"]`` holds the failing source with the line marked;
    :meth:`create_feedback` returns either form.
    """

    __slots__ = ()
    _TAG = "[exception]"

    def create_feedback(self, style: str = "simple") -> str:
        """``simple``: the error message; ``full``: the source with the failing line marked."""
        if style == "full":
            return str(self.info.get("error_comment") or self._data)
        return str(self._data)


def node(
    value: Any,
    name: str | None = None,
    *,
    trainable: bool = False,
    description: str | None = None,
    constraint: str | None = None,
    is_code: bool = False,
) -> Node:
    """Wrap a value: a :class:`ParameterNode` when ``trainable``, else a :class:`Node`.

    A node given as ``value`` is returned unchanged when not trainable.
    """
    if trainable:
        if isinstance(value, Node):
            value = value._data
        return ParameterNode(
            value, name=name, description=description, constraint=constraint, is_code=is_code
        )
    if isinstance(value, Node):
        return value
    return Node(value, name=name, description=description, constraint=constraint)


# ---------------------------------------------------------------------------
# the operator machinery

_N = TypeVar("_N", bound=Node)

OP_DOCS: dict[str, str] = {
    "add": "x + y (numbers add, strings and lists concatenate).",
    "subtract": "x - y.",
    "multiply": "x * y.",
    "divide": "x / y.",
    "floor_divide": "x // y.",
    "mod": "x % y.",
    "power": "x ** y.",
    "and": "x & y.",
    "or": "x | y.",
    "xor": "x ^ y.",
    "negate": "-x.",
    "positive": "+x.",
    "abs": "abs(x).",
    "invert": "~x.",
    "less_than": "x < y.",
    "less_equal": "x <= y.",
    "greater_than": "x > y.",
    "greater_equal": "x >= y.",
    "equal": "x == y.",
    "not_equal": "x != y.",
    "round": "round(x, y).",
    "floor": "math.floor(x).",
    "ceil": "math.ceil(x).",
    "trunc": "math.trunc(x).",
    "getitem": "x[y].",
    "getattr": "getattr(obj, attr).",
    "call": "fun(*args): call the function value fun.",
    "len": "len(x).",
    "list": "list(x).",
}
_ARG_NAMES = ("x", "y", "z")
_MUTATORS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "remove",
        "sort",
        "reverse",
        "clear",
        "update",
        "add",
        "discard",
        "setdefault",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
    }
)


def apply_op(
    op: str,
    fun: Callable[..., Any],
    args: Sequence[Any],
    names: Sequence[str] | None = None,
    description: str | None = None,
) -> MessageNode:
    """Apply ``fun`` to the values of ``args`` and record one MessageNode named ``op``.

    Raw values in ``args`` become constant nodes. If ``fun`` raises, an
    :class:`ExceptionNode` with the same parents is created and an
    :class:`ExecutionError` carrying it is raised.
    """
    keys = names if names is not None else _ARG_NAMES[: len(args)]
    inputs: dict[str, Node] = {}
    values: list[Any] = []
    used = _USED.get()
    names_scope = _SCOPE.get()
    for key, arg in zip(keys, args, strict=True):
        if isinstance(arg, Node):
            if used is not None:
                used[id(arg)] = arg
            inputs[key] = arg
            values.append(arg._data)
        else:
            inputs[key] = _fast_node(Node, arg, "", "[Node]", names_scope)
            values.append(arg)
    try:
        result = fun(*values)
    except Exception as exc:
        raise ExecutionError(_exception_node(op, inputs, exc, description)) from exc
    # the hot path of tracing: MessageNode.__init__ inlined
    if description is None:
        description = _OP_DESCRIPTIONS.get(op) or _op_description(op)
    return make_message(result, inputs, description, _BASES.get(op) or _clean_base(op), names_scope)


def make_message(
    value: Any,
    inputs: dict[str, Node],
    description: str,
    base: str,
    names: NameScope | None,
    info: dict[str, Any] | None = None,
) -> MessageNode:
    """A MessageNode without the constructor chain: the hot path of tracing."""
    out = _fast_node(MessageNode, value, base, description, names)
    out.inputs = inputs
    if info:
        out.info = info
    if _TRACING.get():
        parents: list[Node] = []
        level = 0
        ref: weakref.ref[Node] = weakref.ref(out)
        for item in inputs.values():
            for seen in parents:
                if seen is item:
                    break
            else:
                parents.append(item)
                item._children.append(ref)
                if item.level >= level:
                    level = item.level + 1
        out.parents = parents
        out.level = level
    return out


def _fast_node(
    cls: type[_N], value: Any, base: str, description: str, names: NameScope | None
) -> _N:
    """A node built without the constructor chain (tracing creates many)."""
    new = object.__new__(cls)
    new._data = value
    new._base = base
    new._names = names
    new._index = -1
    new.description = description
    new.constraint = None
    new.trainable = False
    new.parents = []
    new._children = []
    new.level = 0
    new.feedback = {}
    new.info = {}
    new._backwarded = False
    return new


_OP_DESCRIPTIONS: dict[str, str] = {}


def _op_description(op: str) -> str:
    description = f"[{op}] {OP_DOCS.get(op, op)}"
    if len(_OP_DESCRIPTIONS) < 4096:
        _OP_DESCRIPTIONS[op] = description
    return description


def _exception_node(
    op: str,
    inputs: Mapping[str, Node],
    exc: BaseException,
    detail: str | None = None,
    error_comment: str | None = None,
) -> ExceptionNode:
    message = f"({type(exc).__name__}) {exc}"
    if error_comment is None:
        args = ", ".join(f"{k}={n.py_name}" for k, n in inputs.items())
        shown = ", ".join(f"{n.py_name}={_short_repr(n._data)}" for n in inputs.values())
        error_comment = f"{op}({args}) with {shown} raised {message}"
        if detail:
            error_comment += f": {detail}"
    return ExceptionNode(
        message,
        inputs=inputs,
        description=f"[exception] The operator {op} raises an exception.",
        name="exception_" + op,
        info={"error_comment": error_comment, "operator": op, "exception": exc},
    )


class _BoundMethod:
    """``node.method`` before it is called; calling it records one operator."""

    __slots__ = ("_name", "_node")

    def __init__(self, target: Node, name: str) -> None:
        self._node = target
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> MessageNode:
        name = self._name
        kind = type(self._node._data)
        if not kwargs:  # the common case, with cached names and description
            meta = _METHOD_META.get((name, kind, len(args)))
            if meta is None:
                meta = _method_meta(name, kind, len(args))
            fun, arg_names, doc = meta
            return apply_op(name, fun, (self._node, *args), arg_names, doc)
        n_args = len(args)
        keys = list(kwargs)
        mutator = name in _MUTATORS and issubclass(kind, (list, dict, set, bytearray))

        def method(obj: Any, *values: Any) -> Any:
            if mutator:
                obj = copy.copy(obj)
            result = getattr(obj, name)(
                *values[:n_args], **dict(zip(keys, values[n_args:], strict=True))
            )
            return obj if mutator else result

        arg_names = ("x", *(f"args_{i}" for i in range(n_args)), *keys)
        doc = _method_doc(name, kind, mutator)
        return apply_op(name, method, (self._node, *args, *kwargs.values()), arg_names, doc)


def _method_doc(name: str, kind: type, mutator: bool) -> str:
    doc = f"[{name}] x.{name}(*args) of a {kind.__name__}"
    if mutator:
        doc += " (applied to a copy of x, which is returned)"
    return doc + "."


_METHOD_META: dict[tuple[str, type, int], tuple[Callable[..., Any], tuple[str, ...], str]] = {}


def _method_meta(
    name: str, kind: type, n_args: int
) -> tuple[Callable[..., Any], tuple[str, ...], str]:
    mutator = name in _MUTATORS and issubclass(kind, (list, dict, set, bytearray))

    def method(obj: Any, *values: Any) -> Any:
        if mutator:
            obj = copy.copy(obj)
            getattr(obj, name)(*values)
            return obj
        return getattr(obj, name)(*values)

    arg_names = ("x", *(f"args_{i}" for i in range(n_args)))
    meta = (method, arg_names, _method_doc(name, kind, mutator))
    if len(_METHOD_META) < 4096:
        _METHOD_META[(name, kind, n_args)] = meta
    return meta
