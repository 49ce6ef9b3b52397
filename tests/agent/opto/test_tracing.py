"""Graph recording, bundle, exceptions, backward and modules of agent.opto."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from agent.opto import (
    ExceptionNode,
    ExecutionError,
    MessageNode,
    Module,
    Node,
    ParameterNode,
    SumPropagator,
    TraceGraph,
    TraceMissingInputsError,
    bundle,
    name_scope,
    node,
    stop_tracing,
)


def _subgraph(param: ParameterNode) -> TraceGraph:
    return TraceGraph.sum(g for items in param.feedback.values() for g in items)


def test_minimal_subgraph_of_x_holds_3y_node_but_not_y() -> None:
    x = ParameterNode(1.0, name="x")
    y = ParameterNode(2.0, name="y")
    three_y = 3 * y
    out = 2 * x + three_y
    out.backward("make it larger")
    graph_x = _subgraph(x)
    assert three_y in graph_x and out in graph_x and x in graph_x
    assert y not in graph_x
    assert graph_x.user_feedback == "make it larger"
    assert x not in _subgraph(y)


def test_operators_record_message_nodes_with_parents_and_levels() -> None:
    x = ParameterNode(3, name="x")
    out = (x * 2 - 1) ** 2
    assert isinstance(out, MessageNode) and out.data == 25
    assert out.level == 3 and out.parents[0].parents[0].parents[0] is x
    assert [c.op_name for c in x.children] == ["multiply"]
    # comparisons, indexing, attributes, methods and calls are traced
    s = node("a,b", name="s")
    assert s.split(",").data == ["a", "b"] and s.split(",").parents[0] is s
    assert (x > 2).data is True and (x > 2).op_name == "greater_than"
    assert node([5, 6])[1].data == 6
    assert node(3 + 4j).real.op_name == "getattr"
    f = node(lambda a, b: a * b, name="f")
    call = f(x, b=2)
    assert call.data == 6 and x in call.parents
    assert [n.data for n in node([7, 8])] == [7, 8]


def test_bool_len_eq_stay_untraced_and_mutators_copy() -> None:
    items = node([1, 2], name="items")
    assert len(items) == 2 and bool(items) is True
    assert items == [1, 2] and isinstance(items == [1, 2], bool)
    assert items.len().data == 2 and isinstance(items.len(), MessageNode)
    longer = items.append(3)
    assert items.data == [1, 2] and longer.data == [1, 2, 3]


def test_names_are_stable_readable_and_reset_per_scope() -> None:
    a = ParameterNode("p", name="prompt")
    b = ParameterNode("q", name="prompt")
    assert (a.name, a.py_name, b.py_name) == ("prompt:0", "prompt0", "prompt1")
    with name_scope():
        assert ParameterNode("r", name="prompt").py_name == "prompt0"
    assert ParameterNode("s", name="prompt").py_name == "prompt2"


def test_stop_tracing_records_no_edges() -> None:
    x = ParameterNode(1, name="x")
    with stop_tracing():
        y = x + 1
    assert y.data == 2 and y.parents == []


def test_bundle_docstring_is_description_and_inputs_are_named() -> None:
    @bundle()
    def scale(value, factor=2, *rest, **extra):
        """Scale a value by a factor."""
        return value * factor + sum(rest) + sum(extra.values())

    x = ParameterNode(5, name="x")
    out = scale(x, 3, 1, 1, bonus=10)
    assert out.data == 27
    assert out.description == "[scale] Scale a value by a factor."
    assert list(out.inputs) == ["value", "factor", "args_0", "args_1", "bonus"]
    assert out.inputs["value"] is x and out.inputs["factor"].py_name == "factor0"


def test_bundle_detects_closure_nodes_read_but_not_given() -> None:
    hidden = ParameterNode(10, name="hidden")

    @bundle()
    def leaky(value):
        """Reads a node it was not given."""
        return value + hidden.data

    with pytest.raises(TraceMissingInputsError, match="hidden:0"):
        leaky(1)

    @bundle(allow_external_dependencies=True)
    def allowed(value):
        """Same, allowed: the node becomes a parent."""
        return value + hidden.data

    out = allowed(1)
    assert out.data == 11 and hidden in out.parents


def test_error_inside_operator_becomes_exception_node_with_marked_source() -> None:
    @bundle()
    def ratio(a, b):
        """a over b."""
        total = a + b
        return a / (total - total)

    x = ParameterNode(1.0, name="x")
    with pytest.raises(ExecutionError) as info:
        ratio(x, 2.0)
    exc_node = info.value.exception_node
    assert isinstance(exc_node, ExceptionNode) and x in exc_node.parents
    full = exc_node.create_feedback("full")
    marked = [line for line in full.splitlines() if "<---" in line]
    assert marked == [
        "        return a / (total - total)  <--- (ZeroDivisionError) float division by zero"
    ]
    assert exc_node.data == "(ZeroDivisionError) float division by zero"
    # a primitive operator fails the same way
    with pytest.raises(ExecutionError) as info2:
        node("a") - 1
    assert "subtract" in info2.value.exception_node.create_feedback("full")


def test_trainable_code_runs_from_its_current_text() -> None:
    @bundle(trainable=True)
    def act(board):
        """Pick a cell."""
        return (0, 0)

    code = act.parameter
    assert code is not None and code.is_code and code.py_name == "__code0"
    assert code.data.startswith("def act(board):") and "@bundle" not in code.data
    assert "def act(board):" in (code.constraint or "")
    out = act([[0]])
    assert out.data == (0, 0) and code in out.parents
    code.set('def act(board):\n    """Pick a cell."""\n    return (len(board), 1)\n')
    assert act([[0], [1]]).data == (2, 1)


def test_syntax_error_in_trainable_code_has_the_code_parameter_as_parent() -> None:
    @bundle(trainable=True)
    def act(board):
        """Pick a cell."""
        return (0, 0)

    assert act.parameter is not None
    act.parameter.set("def act(board):\n    return (0,\n")
    with pytest.raises(ExecutionError) as info:
        act([[0]])
    exc_node = info.value.exception_node
    assert exc_node.parents == [act.parameter]
    assert "<--- (SyntaxError)" in exc_node.create_feedback("full")


def test_trainable_code_cannot_open_files_or_import_os() -> None:
    @bundle(trainable=True)
    def peek(path):
        """Read nothing."""
        return path

    assert peek.parameter is not None
    peek.parameter.set("def peek(path):\n    return open(path).read()\n")
    with pytest.raises(ExecutionError, match="NameError"):
        peek("/etc/hostname")
    peek.parameter.set("def peek(path):\n    import os\n    return os.listdir(path)\n")
    with pytest.raises(ExecutionError, match="may import only"):
        peek("/")


def test_bundled_methods_get_one_code_parameter_per_instance() -> None:
    class Player(Module):
        @bundle(trainable=True)
        def move(self, n):
            """Next move."""
            return n + 1

    a, b = Player(), Player()
    assert a.move.parameter is not b.move.parameter
    assert a.move.parameter is not None
    a.move.parameter.set("def move(self, n):\n    return n + 100\n")
    assert a.move(1).data == 101 and b.move(1).data == 2


def test_async_bundle_returns_a_message_node() -> None:
    @bundle()
    async def fetch(value):
        """Pretend to wait for a server."""
        await asyncio.sleep(0)
        return value * 2

    out = asyncio.run(fetch(ParameterNode(4, name="n")))
    assert isinstance(out, MessageNode) and out.data == 8


def test_sum_propagator_is_swappable() -> None:
    x = ParameterNode(1.0, name="x")
    out = x * 2 + 1
    out.backward(3.0, propagator=SumPropagator())
    assert sum(f for fs in x.feedback.values() for f in fs) == 3.0


def test_backward_twice_needs_retain_graph() -> None:
    x = ParameterNode(1.0, name="x")
    out = x + 1
    out.backward("a")
    with pytest.raises(RuntimeError, match="retain_graph"):
        out.backward("b")


def test_module_collects_parameters_and_saves_loads(tmp_path: Path) -> None:
    class Inner(Module):
        def __init__(self) -> None:
            self.weight = ParameterNode(0.5, name="weight")

    class Agent(Module):
        def __init__(self) -> None:
            self.prompt = ParameterNode("Be brief.", name="prompt")
            self.fixed = node("not trainable")
            self.parts = [Inner()]

        @bundle(trainable=True)
        def clean(self, text):
            """Clean the answer."""
            return text.strip()

    agent = Agent()
    names = [path for path, _ in agent.named_parameters()]
    assert names == ["clean.__code", "prompt", "parts.0.weight"]
    agent.prompt.set("Be very brief.")
    agent.parts[0].weight.set(0.9)
    path = tmp_path / "agent.json"
    agent.save(path)
    assert json.loads(path.read_text())["parts.0.weight"] == 0.9
    other = Agent()
    other.load(path)
    assert other.prompt.data == "Be very brief." and other.parts[0].weight.data == 0.9
    assert isinstance(other.fixed, Node) and not other.fixed.trainable
