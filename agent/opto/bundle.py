"""``bundle``: make a Python function one traced operator, optionally with trainable code.

::

    @bundle()
    def score(answer, label):
        '''1.0 when the answer equals the label.'''
        return float(answer.strip() == label)

    out = score(node(" 42"), "42")      # a MessageNode; parents: answer, label

    @bundle(trainable=True)
    def act(board):
        '''Pick the next cell to fire at.'''
        return (0, 0)

    act.parameter                        # ParameterNode holding the source of act
    act.parameter.set("def act(board):\\n    return (1, 1)\\n")
    act(board).data                      # (1, 1): runs from the current text

What a call does: arguments are bound to the signature (defaults filled in,
``*args`` become ``args_0``, ``args_1``, ...), raw values are wrapped as nodes
named after their parameter, the function runs on the raw values with
tracing off, and the result becomes a MessageNode whose description is the
docstring. Any node the function *read but was not given* (a closure or
global node, detected through ``.data`` reads and operators) raises
:class:`~agent.opto.nodes.TraceMissingInputsError`, since the optimizer
would otherwise not see it; with ``allow_external_dependencies=True`` such
nodes become extra parents instead.

On an exception the call raises :class:`~agent.opto.nodes.ExecutionError`
whose ``exception_node`` carries the function's source with the failing line
marked (``<--- (ZeroDivisionError) division by zero``), through every frame
of the call that has Python source.

Trainable code and its risk: the current text of the code parameter is
compiled and ``exec``-ed **in this process**. The namespace is a copy of the
function's module globals plus its closure variables, with builtins that
lack ``open``, ``eval``, ``exec``, ``compile``, ``input`` and ``breakpoint``,
and an ``__import__`` limited to a few pure modules (:data:`SAFE_MODULES`).
That keeps an honest proposal from reaching the file system by accident; it
is **not a sandbox** (code can still reach anything through the objects it is
given). Only optimize code with an LLM you trust, on a machine where running
its proposals is acceptable.
"""

from __future__ import annotations

import ast
import builtins
import functools
import hashlib
import inspect
import linecache
import textwrap
import traceback
from collections.abc import Callable, Mapping
from types import CodeType, FrameType
from typing import Any, TypeVar, overload

from agent.opto.nodes import (
    _SCOPE,
    _TRACING,
    _USED,
    ExceptionNode,
    ExecutionError,
    MessageNode,
    Node,
    ParameterNode,
    TraceMissingInputsError,
    _clean_base,
    _fast_node,
    make_message,
)

__all__ = ["SAFE_MODULES", "FunModule", "bundle", "marked_source"]

F = TypeVar("F", bound=Callable[..., Any])

SAFE_MODULES = frozenset(
    {
        "math",
        "random",
        "itertools",
        "functools",
        "collections",
        "re",
        "statistics",
        "heapq",
        "bisect",
        "string",
        "operator",
        "json",
        "fractions",
        "decimal",
        "typing",
        "dataclasses",
    }
)
_BLOCKED_BUILTINS = frozenset({"open", "eval", "exec", "compile", "input", "breakpoint"})


def _limited_import(
    name: str,
    globals: Mapping[str, Any] | None = None,
    locals: Mapping[str, Any] | None = None,
    fromlist: Any = (),
    level: int = 0,
) -> Any:
    if level != 0 or name.split(".")[0] not in SAFE_MODULES:
        allowed = ", ".join(sorted(SAFE_MODULES))
        raise ImportError(f"trainable code may import only {allowed}; not {name!r}")
    return builtins.__import__(name, globals, locals, fromlist, level)


def _safe_builtins() -> dict[str, Any]:
    safe = {k: v for k, v in vars(builtins).items() if k not in _BLOCKED_BUILTINS}
    safe["__import__"] = _limited_import
    return safe


_SAFE_BUILTINS = _safe_builtins()


def marked_source(exc: BaseException, start: CodeType | None = None) -> str:
    """The source of each frame of ``exc``'s traceback with the failing line marked.

    Frames before the one running ``start`` are skipped (the wrapper's own
    frames); the walk stops at the first frame without Python source. The
    innermost frame gets ``<--- (Type) message``, outer ones
    ``<--- error raised in this call, see below``.
    """
    frames: list[tuple[FrameType, int]] = list(traceback.walk_tb(exc.__traceback__))
    if start is not None:
        for i, (frame, _) in enumerate(frames):
            if frame.f_code is start:
                frames = frames[i:]
                break
    message = f"({type(exc).__name__}) {exc}"
    blocks: list[str] = []
    for i, (frame, lineno) in enumerate(frames):
        try:
            lines, first = inspect.getsourcelines(frame.f_code)
        except (OSError, TypeError):
            break
        lines = list(lines)
        first = max(first, 1)
        at = lineno - first
        if 0 <= at < len(lines):
            mark = message if i == len(frames) - 1 else "error raised in this call, see below"
            lines[at] = f"{lines[at].rstrip()}  <--- {mark}\n"
        blocks.append("".join(lines).rstrip())
    blocks.append(message)
    return "\n\n".join(blocks)


def _strip_decorators(source: str) -> str:
    """The function's source without decorator lines, dedented."""
    source = textwrap.dedent(source)
    tree = ast.parse(source)
    fun = tree.body[0]
    if not isinstance(fun, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise TypeError("bundle(trainable=True) needs a function defined with def")
    lines = source.splitlines(keepends=True)
    start = fun.lineno - 1  # the def line (decorators come before it)
    return "".join(lines[start:])


def _header(source: str) -> str:
    """The def line(s) and docstring of a function's source (the code constraint)."""
    tree = ast.parse(source)
    fun = tree.body[0]
    assert isinstance(fun, (ast.FunctionDef, ast.AsyncFunctionDef))
    lines = source.splitlines()
    body0 = fun.body[0]
    if (
        isinstance(body0, ast.Expr)
        and isinstance(body0.value, ast.Constant)
        and isinstance(body0.value.value, str)
    ):
        end = body0.end_lineno or body0.lineno
    else:
        end = body0.lineno - 1
    return "\n".join(lines[:end])


class FunModule:
    """A bundled function (see :func:`bundle`). ``parameter`` is the code node when trainable."""

    def __init__(
        self,
        fun: Callable[..., Any],
        *,
        description: str | None = None,
        trainable: bool = False,
        catch_execution_error: bool = True,
        allow_external_dependencies: bool = False,
        _source: str | None = None,
    ) -> None:
        self.fun = fun
        self.name = fun.__name__
        self._base = _clean_base(self.name)
        self.signature = inspect.signature(fun)
        params = list(self.signature.parameters.values())
        simple = all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params)
        self._simple_layout = [(p, [p.name]) for p in params] if simple else None
        self.is_async = inspect.iscoroutinefunction(fun)
        doc = description or inspect.getdoc(fun) or f"the function {self.name}"
        self.description = f"[{self.name}] {doc}"
        self.trainable = trainable
        self.catch_execution_error = catch_execution_error
        self.allow_external_dependencies = allow_external_dependencies
        self.parameter: ParameterNode | None = None
        self._compiled: tuple[str, Callable[..., Any]] | None = None
        self._bound_self: Any = None
        if trainable:
            source = _source if _source is not None else _strip_decorators(inspect.getsource(fun))
            self.parameter = ParameterNode(
                source,
                name="__code",
                description=f"[ParameterNode] The code of the function {self.name}. {doc}",
                constraint=f"The code should start with:\n{_header(source)}",
                is_code=True,
            )
        functools.update_wrapper(self, fun)

    def __repr__(self) -> str:
        return f"FunModule({self.name}, trainable={self.trainable})"

    # -- methods: one operator (and code parameter) per instance --------------

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        attr = f"__opto_bound_{self.name}"
        bound = obj.__dict__.get(attr)
        if bound is None:
            bound = FunModule(
                self.fun,
                description=self.description.split("] ", 1)[-1],
                trainable=self.trainable,
                catch_execution_error=self.catch_execution_error,
                allow_external_dependencies=self.allow_external_dependencies,
                _source=self.parameter._data if self.parameter is not None else None,
            )
            bound._bound_self = obj
            obj.__dict__[attr] = bound
        return bound

    # -- calling --------------------------------------------------------------

    def _inputs(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[dict[str, Node], list[tuple[inspect.Parameter, list[str]]]]:
        """Input nodes by name, and which input keys feed which parameter (to call back)."""
        call_args = (self._bound_self, *args) if self._bound_self is not None else args
        layout_fast = self._simple_layout
        if layout_fast is not None and not kwargs and len(call_args) == len(layout_fast):
            start = 0 if self._bound_self is None else 1
            fast = layout_fast[start:]
            return {
                p.name: _as_node(value, p.name)
                for (p, _), value in zip(fast, call_args[start:], strict=True)
            }, fast
        bound = self.signature.bind(*call_args, **kwargs)
        bound.apply_defaults()
        inputs: dict[str, Node] = {}
        layout: list[tuple[inspect.Parameter, list[str]]] = []
        params = self.signature.parameters
        for i, (key, value) in enumerate(bound.arguments.items()):
            if i == 0 and self._bound_self is not None:
                continue  # self is an object, not a traced input
            param = params[key]
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                keys = [f"args_{j}" for j in range(len(value))]
                items = list(value)
            elif param.kind is inspect.Parameter.VAR_KEYWORD:
                keys = list(value)
                items = list(value.values())
            else:
                keys = [key]
                items = [value]
            for k, item in zip(keys, items, strict=True):
                inputs[k] = _as_node(item, k)
            layout.append((param, keys))
        return inputs, layout

    def _call_values(
        self, inputs: dict[str, Node], layout: list[tuple[inspect.Parameter, list[str]]]
    ) -> tuple[list[Any], dict[str, Any]]:
        args: list[Any] = [self._bound_self] if self._bound_self is not None else []
        kwargs: dict[str, Any] = {}
        for param, keys in layout:
            values = [inputs[k]._data for k in keys]
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                args.extend(values)
            elif param.kind is inspect.Parameter.VAR_KEYWORD:
                kwargs.update(zip(keys, values, strict=True))
            elif param.kind is inspect.Parameter.KEYWORD_ONLY:
                kwargs[param.name] = values[0]
            else:
                args.append(values[0])
        return args, kwargs

    def _function(self) -> Callable[..., Any]:
        """The function to run: the original, or the code parameter's current text compiled."""
        if self.parameter is None:
            return self.fun
        code = str(self.parameter._data)
        if self._compiled is not None and self._compiled[0] == code:
            return self._compiled[1]
        digest = hashlib.sha1(code.encode()).hexdigest()[:10]
        filename = f"<opto-code {self.parameter.py_name} {digest}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
        namespace = dict(getattr(self.fun, "__globals__", {}))
        closure = inspect.getclosurevars(self.fun).nonlocals
        namespace.update(closure)
        namespace["__builtins__"] = _SAFE_BUILTINS
        namespace.pop(self.name, None)
        try:
            compiled = compile(code, filename, "exec")
            exec(compiled, namespace)  # noqa: S102 - trainable code, see the module docstring
        except SyntaxError as exc:
            raise ExecutionError(self._code_error(exc, _syntax_comment(code, exc))) from exc
        except Exception as exc:
            raise ExecutionError(self._code_error(exc, marked_source(exc))) from exc
        fun = namespace.get(self.name)
        if not callable(fun):
            exc2 = NameError(f"the code must define a function named {self.name}")
            raise ExecutionError(self._code_error(exc2, f"{code}\n({type(exc2).__name__}) {exc2}"))
        self._compiled = (code, fun)
        return fun

    def _code_error(self, exc: BaseException, comment: str) -> ExceptionNode:
        assert self.parameter is not None
        return ExceptionNode(
            f"({type(exc).__name__}) {exc}",
            inputs={"__code": self.parameter},
            description=f"[exception] The code of {self.name} cannot be run.",
            name=f"exception_{self.name}",
            info={"error_comment": comment, "operator": self.name, "exception": exc},
        )

    def _finish(
        self,
        inputs: dict[str, Node],
        used: dict[int, Node],
        result: Any,
        error: BaseException | None,
        fun: Callable[..., Any],
    ) -> MessageNode:
        external: list[Node] = []
        if used:  # the common case reads no node at all: nothing to compare
            given = {id(n) for n in inputs.values()}
            external = [n for key, n in used.items() if key not in given]
        if external and not self.allow_external_dependencies:
            names = ", ".join(n.name for n in external)
            raise TraceMissingInputsError(
                f"bundled function {self.name} read node(s) {names} that were not passed as "
                "arguments; pass them in, or use @bundle(allow_external_dependencies=True) "
                "to record them as extra parents"
            )
        all_inputs = inputs  # built for this call, so it can be extended in place
        for n in external:
            all_inputs[n.py_name] = n
        if self.parameter is not None:
            all_inputs["__code"] = self.parameter
        info: dict[str, Any] = {"fun_name": self.name}
        if external:
            info["external_dependencies"] = [n.name for n in external]
        if error is not None:
            if not self.catch_execution_error:
                raise error
            comment = marked_source(error, getattr(fun, "__code__", None))
            exc_node = ExceptionNode(
                f"({type(error).__name__}) {error}",
                inputs=all_inputs,
                description=f"[exception] The operator {self.name} raises an exception.",
                name=f"exception_{self.name}",
                info={**info, "error_comment": comment, "exception": error},
            )
            raise ExecutionError(exc_node) from error
        if isinstance(result, Node):
            result = result._data
        return make_message(result, all_inputs, self.description, self._base, _SCOPE.get(), info)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        inputs, layout = self._inputs(args, kwargs)
        fun = self._function()
        call_args, call_kwargs = self._call_values(inputs, layout)
        if self.is_async:
            return self._acall(inputs, fun, call_args, call_kwargs)
        used: dict[int, Node] = {}
        used_token = _USED.set(used)
        trace_token = _TRACING.set(False)
        result: Any = None
        error: BaseException | None = None
        try:
            result = fun(*call_args, **call_kwargs)
        except ExecutionError as exc:
            error = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        except Exception as exc:
            error = exc
        finally:
            _TRACING.reset(trace_token)
            _USED.reset(used_token)
        return self._finish(inputs, used, result, error, fun)

    async def _acall(
        self,
        inputs: dict[str, Node],
        fun: Callable[..., Any],
        call_args: list[Any],
        call_kwargs: dict[str, Any],
    ) -> MessageNode:
        used: dict[int, Node] = {}
        used_token = _USED.set(used)
        trace_token = _TRACING.set(False)
        result: Any = None
        error: BaseException | None = None
        try:
            result = await fun(*call_args, **call_kwargs)
        except Exception as exc:
            error = exc
        finally:
            _TRACING.reset(trace_token)
            _USED.reset(used_token)
        return self._finish(inputs, used, result, error, fun)


def _syntax_comment(code: str, exc: SyntaxError) -> str:
    lines = code.splitlines()
    message = f"({type(exc).__name__}) {exc.msg}"
    if exc.lineno is not None and 1 <= exc.lineno <= len(lines):
        lines[exc.lineno - 1] = f"{lines[exc.lineno - 1]}  <--- {message}"
    return "\n".join(lines) + f"\n\n{message}"


def _as_node(value: Any, name: str) -> Node:
    if isinstance(value, Node):
        return value
    if isinstance(value, FunModule) and value.parameter is not None:
        return value.parameter
    return _fast_node(Node, value, _clean_base(name), "[Node]", _SCOPE.get())


@overload
def bundle(fun: F) -> FunModule: ...


@overload
def bundle(
    fun: None = None,
    *,
    description: str | None = None,
    trainable: bool = False,
    catch_execution_error: bool = True,
    allow_external_dependencies: bool = False,
) -> Callable[[Callable[..., Any]], FunModule]: ...


def bundle(
    fun: Callable[..., Any] | None = None,
    *,
    description: str | None = None,
    trainable: bool = False,
    catch_execution_error: bool = True,
    allow_external_dependencies: bool = False,
) -> FunModule | Callable[[Callable[..., Any]], FunModule]:
    """Decorator: the function becomes one traced operator (see the module docstring).

    Usable as ``@bundle``, ``@bundle()`` or ``bundle(trainable=True)(fun)``.
    """

    def wrap(f: Callable[..., Any]) -> FunModule:
        return FunModule(
            f,
            description=description,
            trainable=trainable,
            catch_execution_error=catch_execution_error,
            allow_external_dependencies=allow_external_dependencies,
        )

    if fun is not None:
        return wrap(fun)
    return wrap
