"""Package attributes imported on first use (PEP 562), for packages whose modules are heavy.

``optiwise`` builds its parser from every command module, and a package
``__init__`` that imports its modules eagerly makes every command pay for them
(the openai client, LangGraph).  Such a package names where each public name
lives and sets ``__getattr__ = lazy_exports(globals(), WHERE)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(namespace: dict[str, Any], where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``name`` from ``where[name]`` once, then caches it."""
    package = namespace.get("__name__", "?")

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
