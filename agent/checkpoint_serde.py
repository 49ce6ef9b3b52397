"""The serializer of chat checkpoints: plain strings for status enums, an explicit allowlist.

LangGraph's default serializer stores a :class:`modeling.result.Status` as a
Python type reference and, reading it back, warns "Deserializing unregistered
type ... This will be blocked in a future version" (and a stricter langgraph
would refuse it, losing the thread). :class:`CheckpointSerializer` writes every
string enum (``Status``, ``Termination``, ...) as its plain string value, so new
checkpoints hold only built-in types; it still reads the two enums by name, so
threads saved before this change reopen without a warning, in the default and
in the strict (``LANGGRAPH_STRICT_MSGPACK=true``) mode alike.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

__all__ = ["LEGACY_TYPES", "CheckpointSerializer", "plain"]

LEGACY_TYPES: tuple[tuple[str, str], ...] = (
    ("modeling.result", "Status"),
    ("modeling.result", "Termination"),
)
"""Types older checkpoints hold, read back by name (new checkpoints store their values)."""


def plain(value: Any) -> Any:
    """``value`` with every string enum inside dicts, lists and tuples replaced by its value.

    Containers are rebuilt only when something inside changed; named tuples and
    other objects are left as they are.
    """
    if isinstance(value, Enum) and isinstance(value, str):
        return str(value.value)
    if isinstance(value, dict):
        items = {k: plain(v) for k, v in value.items()}
        changed = any(items[k] is not v for k, v in value.items())
        return items if changed and type(value) is dict else value
    if isinstance(value, list) and type(value) is list:
        new = [plain(v) for v in value]
        return new if any(a is not b for a, b in zip(new, value, strict=True)) else value
    if type(value) is tuple:
        new_t = tuple(plain(v) for v in value)
        return new_t if any(a is not b for a, b in zip(new_t, value, strict=True)) else value
    return value


class CheckpointSerializer(JsonPlusSerializer):
    """LangGraph's msgpack serializer, writing string enums as plain strings."""

    def __init__(self) -> None:
        super().__init__(allowed_msgpack_modules=LEGACY_TYPES)

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize ``obj`` with its string enums as plain strings."""
        return super().dumps_typed(plain(obj))
