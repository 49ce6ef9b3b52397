"""A record of one agent run: every node, every LLM call, every attempt's errors.

The trace is what the tuning optimizers read (which prompt produced which
reply, and what went wrong with it) and what a person reads when an answer
looks odd. Everything in it is plain JSON data, so it can be saved next to
an eval result and loaded back::

    result = agent.solve(text)
    result.trace.id                       # 'tr-3f2a9c...'
    [e["node"] for e in result.trace.events if e["kind"] == "node"]
    result.trace.save("runs/trace.json")

Events carry ``candidate`` (the self-consistency sample they belong to) and a
monotonic ``t`` in seconds since the trace began.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.usage import Usage

__all__ = ["Span", "Trace", "summarize"]

_TEXT_LIMIT = 300


def _short(text: str, limit: int = _TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize(value: Any, depth: int = 0) -> Any:
    """A short JSON-ready picture of a state value (documents become their outline).

    >>> summarize({"variables": {"x": {}}, "objective": {}, "constraints": [1, 2]})
    'document(1 variables, 2 constraints)'
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _short(value)
    if isinstance(value, Mapping):
        if "variables" in value and "objective" in value:
            cons = value.get("constraints") or []
            nvars = len(value.get("variables") or {})
            return f"document({nvars} variables, {len(cons)} constraints)"
        if depth >= 2:
            return f"{{{len(value)} keys}}"
        return {str(k): summarize(v, depth + 1) for k, v in list(value.items())[:12]}
    if isinstance(value, list | tuple):
        if depth >= 2 or len(value) > 8:
            return f"[{len(value)} items]"
        return [summarize(v, depth + 1) for v in value]
    return _short(repr(value))


def _jsonable(value: Any) -> Any:
    """Value made safe for ``json.dumps`` (tuple keys and odd objects become strings)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {
            (
                k
                if isinstance(k, str)
                else ",".join(map(str, k))
                if isinstance(k, tuple)
                else str(k)
            ): (_jsonable(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


class Span:
    """The record of one node while it runs; ``output()`` sets what it returned."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.event = event

    def output(self, update: Any) -> None:
        self.event["output"] = summarize(update)


class Trace:
    """Events of one run, in order; thread-safe, JSON-serializable, with a trace id."""

    def __init__(self, trace_id: str | None = None, **meta: Any) -> None:
        self.id = trace_id or f"tr-{uuid.uuid4().hex[:16]}"
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.meta: dict[str, Any] = _jsonable(meta)
        self.events: list[dict[str, Any]] = []
        self._t0 = time.perf_counter()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Trace({self.id!r}, {len(self.events)} events)"

    def _now(self) -> float:
        return round(time.perf_counter() - self._t0, 6)

    def add(self, kind: str, candidate: int = 0, /, **fields: Any) -> dict[str, Any]:
        """Append an event of ``kind`` (node, llm, attempt, note, ...) and return it."""
        event = {"kind": kind, "t": self._now(), "candidate": candidate, **_jsonable(fields)}
        with self._lock:
            self.events.append(event)
        return event

    @contextmanager
    def node(self, name: str, state: Mapping[str, Any], candidate: int = 0) -> Iterator[Span]:
        """Record one node: its input summary, output summary and duration."""
        keys = ("problem", "message", "document", "status", "objective", "repairs", "route")
        seen = {k: summarize(state.get(k)) for k in keys if state.get(k) is not None}
        event = self.add("node", candidate, node=name, input=seen)
        started = time.perf_counter()
        try:
            yield Span(event)
        except BaseException as exc:
            # GraphInterrupt passes through here too; it is a pause, not a failure.
            event["raised"] = type(exc).__name__
            raise
        finally:
            event["duration_s"] = round(time.perf_counter() - started, 6)

    def llm_call(
        self,
        node: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        candidate: int = 0,
        reply: str | None = None,
        model: str | None = None,
        usage: Usage | None = None,
        latency_s: float = 0.0,
        cached: bool = False,
        error: str | None = None,
    ) -> None:
        """Record one LLM request and its reply (or error)."""
        u = usage or Usage()
        self.add(
            "llm",
            candidate,
            node=node,
            messages=[{"role": m.get("role"), "content": m.get("content")} for m in messages],
            reply=reply,
            model=model,
            prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens,
            cost_usd=u.cost_usd,
            cost_known=u.cost_known,
            latency_s=round(latency_s, 6),
            cached=cached,
            error=error,
        )

    def attempt(self, record: Mapping[str, Any], candidate: int = 0) -> None:
        """Record one attempt's outcome (document outline, status, errors)."""
        self.add(
            "attempt",
            candidate,
            round=record.get("round"),
            source=record.get("source"),
            document=summarize(record.get("document")),
            status=record.get("status"),
            objective=record.get("objective"),
            errors=record.get("errors", []),
            categories=record.get("categories", []),
        )

    def proposal(self, change: Mapping[str, Any], candidate: int = 0) -> None:
        """Record a proposed change to the formulation (a repair, an edit, a human edit)."""
        fields = {k: v for k, v in change.items() if k not in ("before", "after")}
        fields["change"] = fields.pop("kind", "change")
        self.add("proposal", candidate, **fields)

    def note(self, message: str, candidate: int = 0, **fields: Any) -> None:
        """A free-text remark (a skipped diagnostic, a vote, ...)."""
        self.add("note", candidate, message=message, **fields)

    @property
    def llm_calls(self) -> list[dict[str, Any]]:
        """The recorded LLM calls, in order."""
        with self._lock:
            return [e for e in self.events if e["kind"] == "llm"]

    @property
    def usage(self) -> Usage:
        """Tokens and cost summed over the recorded LLM calls that returned."""
        return self.usage_for()

    def usage_for(self, candidate: int | None = None) -> Usage:
        """Usage of one candidate's calls (all calls when ``candidate`` is None)."""
        total = Usage()
        for e in self.llm_calls:
            if candidate is not None and e.get("candidate") != candidate:
                continue
            if e.get("error") is None:
                total = total + Usage(
                    e["prompt_tokens"],
                    e["completion_tokens"],
                    e["cost_usd"],
                    calls=1,
                    cached_calls=1 if e.get("cached") else 0,
                    cost_known=bool(e.get("cost_known", True)),
                )
        return total

    def merge(self, other: Trace) -> None:
        """Append another trace's events (used for sub-runs such as the code route)."""
        with other._lock:
            events = list(other.events)
        with self._lock:
            self.events.extend(events)

    def to_dict(self) -> dict[str, Any]:
        """The whole trace as plain JSON-ready data."""
        with self._lock:
            events = list(self.events)
        return {
            "id": self.id,
            "started_at": self.started_at,
            "meta": self.meta,
            "usage": self.usage.to_dict(),
            "events": events,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def save(self, path: str | Path) -> Path:
        """Write the trace as JSON (parent folders created)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.to_json(), encoding="utf-8")
        return target

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trace:
        """A trace loaded back from :meth:`to_dict` output."""
        trace = cls(str(data.get("id") or ""), **dict(data.get("meta") or {}))
        trace.started_at = str(data.get("started_at", trace.started_at))
        trace.events = [dict(e) for e in data.get("events", [])]
        return trace
