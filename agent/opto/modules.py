"""Module: a container that collects its trainable parameters and saves/loads them.

::

    class Agent(Module):
        def __init__(self):
            self.prompt = ParameterNode("Answer briefly.", name="prompt")
            self.tools = [Tool(), Tool()]          # nested modules are found too

        @bundle(trainable=True)
        def postprocess(self, text):
            '''Clean the model's answer.'''
            return text.strip()

    agent = Agent()
    agent.parameters()        # [prompt, postprocess's code, tools' parameters ...]
    agent.save("agent.json"); Agent().load("agent.json")

Parameters are saved under their attribute path (``prompt``,
``tools.0.weight``, ``postprocess.__code``), not their node names, so a file
written by one process loads in another whatever the name counters were.
Values must be JSON data (text, numbers, lists, dicts), which every
parameter kind we optimize is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.opto.bundle import FunModule
from agent.opto.nodes import ParameterNode

__all__ = ["Module"]


class Module:
    """Base class for traced programs with parameters (see the module docstring)."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The program; ``module(...)`` calls it."""
        raise NotImplementedError(f"{type(self).__name__} defines no forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def named_parameters(self) -> Iterator[tuple[str, ParameterNode]]:
        """``(attribute path, parameter)`` for every trainable parameter, each once."""
        seen: set[int] = set()
        yield from _walk(self, "", seen)

    def parameters(self) -> list[ParameterNode]:
        """Every trainable parameter: attributes, trainable bundled methods, nested modules."""
        return [p for _, p in self.named_parameters()]

    def parameters_dict(self) -> dict[str, Any]:
        """Attribute path -> current value."""
        return {path: p._data for path, p in self.named_parameters()}

    def save(self, path: str | Path) -> None:
        """Write the parameters' values as JSON."""
        Path(path).write_text(json.dumps(self.parameters_dict(), indent=2, ensure_ascii=False))

    def load(self, path: str | Path) -> None:
        """Set the parameters from a file written by :meth:`save`.

        Raises KeyError naming the missing paths if the file lacks any.
        """
        values = json.loads(Path(path).read_text())
        named = dict(self.named_parameters())
        missing = sorted(set(named) - set(values))
        if missing:
            raise KeyError(f"{path} has no value for {', '.join(missing)}")
        for key, param in named.items():
            param.set(values[key])


def _walk(obj: Any, prefix: str, seen: set[int]) -> Iterator[tuple[str, ParameterNode]]:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, ParameterNode):
        if obj.trainable:
            yield prefix.rstrip("."), obj
        return
    if isinstance(obj, FunModule):
        if obj.parameter is not None:
            yield from _walk(obj.parameter, f"{prefix}__code", seen)
        return
    if isinstance(obj, Module):
        for klass in type(obj).__mro__:
            for name, attr in vars(klass).items():
                if isinstance(attr, FunModule) and attr.trainable:
                    bound = getattr(obj, name)  # the per-instance copy
                    yield from _walk(bound, f"{prefix}{name}.", seen)
        for name, value in vars(obj).items():
            if name.startswith("__opto_bound_"):
                continue
            yield from _walk(value, f"{prefix}{name}.", seen)
        return
    if isinstance(obj, (list, tuple)):
        for i, item in enumerate(obj):
            yield from _walk(item, f"{prefix}{i}.", seen)
    elif isinstance(obj, dict):
        for key, item in obj.items():
            yield from _walk(item, f"{prefix}{key}.", seen)
