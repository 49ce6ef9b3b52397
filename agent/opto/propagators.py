"""Backward passes: how feedback on an output reaches each node of its graph.

:func:`backward` walks the graph from the output down, highest level first, so
a node is handled only after every child that sent it feedback. What is sent
is up to a :class:`Propagator`:

- :class:`GraphPropagator` (the default) sends a :class:`TraceGraph`: the
  user's feedback plus the *minimal subgraph* that explains it, i.e. the
  nodes on paths from a node to the output and the direct parents of those
  nodes. In ``2*x + 3*y`` the subgraph of ``x`` holds the node ``3*y`` (as an
  input of the ``add``) but not ``y``.
- :class:`SumPropagator` adds numbers and joins strings (a toy showing that a
  propagator may carry anything, gradients included).

Per-operator overrides: ``GraphPropagator(overrides={"add": fn})`` where
``fn(node, feedback) -> {parent: feedback}``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from agent.opto.nodes import Node

__all__ = [
    "FEEDBACK_ORACLE",
    "GraphPropagator",
    "Propagator",
    "SumPropagator",
    "TraceGraph",
    "backward",
]


class _Oracle:
    """The pseudo-child that the user's feedback comes from."""

    def __repr__(self) -> str:
        return "FEEDBACK_ORACLE"


FEEDBACK_ORACLE = _Oracle()

Override = Callable[[Node, Any], dict[Node, Any]]


class Propagator:
    """Turns the feedback a node received into feedback for each of its parents."""

    def __init__(self, overrides: Mapping[str, Override] | None = None) -> None:
        self.overrides: dict[str, Override] = dict(overrides or {})

    def init_feedback(self, output: Node, feedback: Any) -> Any:
        """The feedback object attached to the output."""
        return feedback

    def aggregate(self, feedback: Mapping[Any, list[Any]]) -> Any:
        """Combine what all children sent into one value."""
        raise NotImplementedError

    def propagate(self, child: Node, feedback: Any) -> dict[Node, Any]:
        """Feedback for every parent of ``child``."""
        raise NotImplementedError

    def __call__(self, child: Node) -> dict[Node, Any]:
        combined = self.aggregate(child.feedback)
        override = self.overrides.get(child.op_name)
        result = override(child, combined) if override else self.propagate(child, combined)
        missing = [p.name for p in child.parents if p not in result]
        if missing:
            raise ValueError(
                f"propagator {type(self).__name__} gave no feedback for parents "
                f"{', '.join(missing)} of {child.name}; it must return one for every parent"
            )
        return result


class TraceGraph:
    """A subgraph (nodes in level order, deduplicated by identity) plus the user's feedback.

    Built lazily: a graph is a few nodes of its own plus the graphs it was
    merged from, and the node list is computed once on first use. Each
    backward step therefore costs O(parents) instead of copying the whole
    subgraph, which would make a long chain quadratic.
    """

    __slots__ = ("_nodes", "_own", "_parts", "user_feedback")

    def __init__(
        self,
        nodes: Iterable[Node] = (),
        user_feedback: Any = None,
        parts: Iterable[TraceGraph] = (),
    ) -> None:
        self._own = tuple(nodes)
        self._parts = tuple(parts)
        self._nodes: list[Node] | None = None
        self.user_feedback = user_feedback

    @property
    def nodes(self) -> list[Node]:
        """The nodes, sorted by level (ties keep first-seen order)."""
        if self._nodes is None:
            seen_nodes: set[int] = set()
            seen_graphs: set[int] = set()
            ordered: list[Node] = []
            stack: list[TraceGraph] = [self]
            while stack:
                graph = stack.pop()
                if id(graph) in seen_graphs:
                    continue
                seen_graphs.add(id(graph))
                own: Iterable[Node]
                if graph._nodes is not None and graph is not self:
                    own = graph._nodes
                else:
                    own = graph._own
                    stack.extend(reversed(graph._parts))
                for item in own:
                    if id(item) not in seen_nodes:
                        seen_nodes.add(id(item))
                        ordered.append(item)
            ordered.sort(key=lambda n: n.level)
            self._nodes = ordered
        return self._nodes

    def __repr__(self) -> str:
        names = ", ".join(n.name for n in self.nodes)
        return f"TraceGraph([{names}], feedback={self.user_feedback!r})"

    def __add__(self, other: TraceGraph) -> TraceGraph:
        return TraceGraph.sum((self, other))

    def __contains__(self, item: object) -> bool:
        return any(n is item for n in self.nodes)

    @staticmethod
    def sum(graphs: Iterable[TraceGraph]) -> TraceGraph:
        """The union of several trace graphs (they must carry the same feedback)."""
        parts = list(graphs)
        if len(parts) == 1:
            return parts[0]
        feedback = None
        for graph in parts:
            if graph.user_feedback is None:
                continue
            if feedback is not None and graph.user_feedback != feedback:
                raise ValueError(
                    "cannot merge trace graphs with different feedback; run zero_feedback() "
                    "between steps, or backward once on an output that combines them"
                )
            feedback = graph.user_feedback
        return TraceGraph((), feedback, parts)


class GraphPropagator(Propagator):
    """Sends each parent the subgraph between it and the output (the default)."""

    def init_feedback(self, output: Node, feedback: Any) -> TraceGraph:
        return TraceGraph([output], feedback)

    def aggregate(self, feedback: Mapping[Any, list[Any]]) -> TraceGraph:
        return TraceGraph.sum(g for items in feedback.values() for g in items)

    def propagate(self, child: Node, feedback: Any) -> dict[Node, Any]:
        graph = TraceGraph([child, *child.parents], feedback.user_feedback, [feedback])
        return {parent: graph for parent in child.parents}


class SumPropagator(Propagator):
    """Numbers add up and strings are joined; every parent gets the total."""

    def aggregate(self, feedback: Mapping[Any, list[Any]]) -> Any:
        items = [f for fs in feedback.values() for f in fs]
        if not items:
            return ""
        if all(isinstance(i, str) for i in items):
            return "\n".join(items)
        return sum(items)

    def propagate(self, child: Node, feedback: Any) -> dict[Node, Any]:
        return {parent: feedback for parent in child.parents}


def backward(
    output: Node,
    feedback: Any,
    *,
    propagator: Propagator | None = None,
    retain_graph: bool = False,
) -> None:
    """Propagate ``feedback`` from ``output`` to every node above it (see the module docstring)."""
    prop = propagator if propagator is not None else GraphPropagator()
    if output._backwarded:
        raise RuntimeError(
            f"backward already ran through {output.name}; pass retain_graph=True the first "
            "time to walk a graph more than once"
        )
    output.feedback.setdefault(FEEDBACK_ORACLE, []).append(prop.init_feedback(output, feedback))
    if output.is_root():
        return
    counter = itertools.count()
    queue: list[tuple[int, int, Node]] = [(-output.level, next(counter), output)]
    queued = {id(output)}
    while queue:
        _, _, current = heapq.heappop(queue)
        results = prop(current)
        if not retain_graph:
            current.feedback = {}
            current._backwarded = True
        for parent in current.parents:
            parent.feedback.setdefault(current, []).append(results[parent])
            if parent.parents and id(parent) not in queued:
                queued.add(id(parent))
                heapq.heappush(queue, (-parent.level, next(counter), parent))
