"""The chat model under many concurrent calls: per-call usage hook, several HTTP pools, raw replies.

The async path posts the request body as is and reads the reply's JSON itself
(the ``openai`` client's typed objects cost more CPU than the request), and spreads
calls over several HTTP clients of one event loop (one pool scanning 64 connections
per request was a quarter of the LLM process's CPU at 64 calls in flight).
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest
from support import stub_model

from agent.errors import ParseError
from agent.llm import user
from agent.stub_server import StubServer, Text
from agent.usage import Usage

JOB: contextvars.ContextVar[str] = contextvars.ContextVar("job", default="?")


def test_on_usage_reports_each_call_in_the_callers_context(llm_stub: StubServer) -> None:
    chat = stub_model(llm_stub, model="gpt-4o-mini")
    seen: list[tuple[str, Usage]] = []
    undo = chat.on_usage(lambda usage: seen.append((JOB.get(), usage)))

    async def job(name: str, tokens: int) -> None:
        JOB.set(name)
        llm_stub.push(Text(f"reply {name}", prompt_tokens=tokens, completion_tokens=1))
        await chat.acomplete([user(f"question {name}")])

    async def both() -> None:
        await asyncio.gather(asyncio.create_task(job("a", 10)))
        await asyncio.gather(asyncio.create_task(job("b", 20)))

    asyncio.run(both())
    assert [(name, u.prompt_tokens) for name, u in seen] == [("a", 10), ("b", 20)]
    assert chat.total_usage.prompt_tokens == 30

    undo()
    llm_stub.push(Text("more", prompt_tokens=5, completion_tokens=1))
    chat.complete([user("again")])
    assert len(seen) == 2  # no longer reported
    assert chat.total_usage.prompt_tokens == 35  # still counted in the total


def test_many_concurrent_calls_each_get_their_own_reply(llm_stub: StubServer) -> None:
    """40 calls in flight (several HTTP pools): every reply goes to its own request."""
    llm_stub.handler = lambda body: "echo: " + str(body["messages"][-1]["content"])
    llm_stub.latency = 0.05
    chat = stub_model(llm_stub)

    async def run() -> list[Any]:
        return list(await asyncio.gather(*(chat.acomplete([user(f"q{i}")]) for i in range(40))))

    replies = asyncio.run(run())
    assert [r.content for r in replies] == [f"echo: q{i}" for i in range(40)]
    assert all(r.request_id and r.usage.calls == 1 for r in replies)
    assert llm_stub.max_in_flight > 8  # they overlapped, beyond one pool's share
    assert chat.total_usage.calls == 40


def test_a_reply_without_choices_is_a_parse_error(llm_stub: StubServer) -> None:
    llm_stub.push({"no": "choices"})
    chat = stub_model(llm_stub)
    with pytest.raises(ParseError, match="no choices"):
        asyncio.run(chat.acomplete([user("hi")]))
