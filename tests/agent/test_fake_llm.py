"""FakeLLM: the scripted in-process ChatModel that agent tests run on."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from agent.errors import LLMError, ParseError, RateLimitError
from agent.fake import FakeLLM, ScriptExhausted
from agent.llm import (
    ChatMessage,
    ChatModel,
    acomplete_json,
    assistant,
    complete_json,
    system,
    user,
)


def test_replies_come_in_order_and_calls_are_recorded() -> None:
    fake = FakeLLM(["first", "second"])
    history = [system("sys"), user("one")]

    assert fake.complete(history, temperature=0.5).content == "first"
    history.append(assistant("first"))  # the caller's list changes after the call
    assert fake.complete([user("two")]).content == "second"

    assert [c.last_user for c in fake.calls] == ["one", "two"]
    assert fake.calls[0].messages == [system("sys"), user("one")]
    assert fake.calls[0].kwargs == {"temperature": 0.5}
    assert fake.remaining == 0


def test_running_out_says_which_call_and_is_not_an_llm_error() -> None:
    fake = FakeLLM(["a", "b"])
    fake.complete([user("1")])
    fake.complete([user("2")])
    with pytest.raises(ScriptExhausted, match=r"no reply left for call #3; script more replies"):
        fake.complete([user("3")])
    assert not issubclass(ScriptExhausted, LLMError)  # agent error handling cannot swallow it


def test_rules_match_the_last_user_message_before_the_queue() -> None:
    fake = FakeLLM(
        ["from the queue"],
        rules=[
            ("infeasible", "rule: substring"),
            (re.compile(r"^what if", re.I), "rule: regex"),
            (lambda text: text.endswith("?!"), "rule: predicate"),
        ],
    )
    assert fake.complete([user("Why is it infeasible?")]).content == "rule: substring"
    assert fake.complete([user("infeasible again")]).content == "rule: substring"  # reusable
    assert fake.complete([user("What if demand rises?")]).content == "rule: regex"
    assert fake.complete([user("really?!")]).content == "rule: predicate"
    # An earlier user turn does not count; only the last one.
    messages = [user("infeasible"), assistant("..."), user("formulate")]
    assert fake.complete(messages).content == "from the queue"


def test_exceptions_and_callables_in_the_script() -> None:
    seen: list[list[ChatMessage]] = []

    def echo(messages: list[ChatMessage]) -> str:
        seen.append(messages)
        return "echo " + messages[-1]["content"]

    fake = FakeLLM([RateLimitError("slow down", retry_after=1), TimeoutError, echo])
    with pytest.raises(RateLimitError, match="slow down"):
        fake.complete([user("x")])
    with pytest.raises(TimeoutError):
        fake.complete([user("y")])
    assert fake.complete([user("z")]).content == "echo z"
    assert seen == [[user("z")]]
    assert len(fake.calls) == 3  # failed calls are recorded too


def test_usage_is_plausible_and_priced_by_model_name() -> None:
    text = "x" * 400
    reply = FakeLLM([text], model="gpt-4o-mini").complete([user("y" * 800)])
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (200, 100)
    assert reply.usage.cost_known and reply.usage.cost_usd > 0
    assert reply.model == "gpt-4o-mini" and not reply.cached

    unpriced = FakeLLM(["ok"]).complete([user("hi")])
    assert unpriced.usage.cost_usd == 0 and not unpriced.usage.cost_known


def test_total_usage_sums_every_call() -> None:
    fake = FakeLLM(["aaaa", "bbbbbbbb"])
    fake.complete([user("q")])
    fake.complete([user("q")])
    assert fake.total_usage.calls == 2 and fake.total_usage.completion_tokens == 3


def test_stream_yields_words_and_then_the_reply() -> None:
    fake = FakeLLM(["The optimum is 1707.5 dollars."])
    stream = fake.stream([user("explain")])
    deltas = list(stream)
    assert deltas == ["The ", "optimum ", "is ", "1707.5 ", "dollars."]
    assert stream.reply.content == "".join(deltas)


def test_acomplete_runs_concurrently() -> None:
    fake = FakeLLM(rules=[(lambda _: True, lambda messages: messages[-1]["content"].upper())])
    fake.latency = 0.1

    async def ask() -> list[str]:
        replies = await asyncio.gather(*(fake.acomplete([user(f"q{i}")]) for i in range(10)))
        return [r.content for r in replies]

    started = time.perf_counter()
    assert asyncio.run(ask()) == [f"Q{i}" for i in range(10)]
    assert time.perf_counter() - started < 0.6  # 10 x 0.1 s in sequence would be 1 s


def test_complete_json_works_on_the_fake_and_asks_for_json() -> None:
    fake = FakeLLM(['```json\n{"verdict": "ok", "issues": []}\n```'])
    data, reply = complete_json(fake, [user("review this")], temperature=0)
    assert data == {"verdict": "ok", "issues": []}
    assert fake.calls[0].kwargs == {"json": True, "temperature": 0}
    assert reply.usage.calls == 1


def test_fake_is_a_chat_model() -> None:
    assert isinstance(FakeLLM(), ChatModel)


def test_acomplete_json_parses_and_reports_bad_replies() -> None:
    fake = FakeLLM(['{"summary": "raised demand", "document": {}}', "no idea"])
    data, _ = asyncio.run(acomplete_json(fake, [user("edit")]))
    assert data["summary"] == "raised demand"
    with pytest.raises(ParseError) as info:
        asyncio.run(acomplete_json(fake, [user("edit")]))
    assert info.value.raw == "no idea" and info.value.reply.content == "no idea"


def test_unknown_keywords_fail_like_on_the_real_model() -> None:
    fake = FakeLLM(["unused"])
    with pytest.raises(TypeError, match="temprature"):
        fake.complete([user("x")], temprature=0.2)
    assert fake.complete([user("x")], temperature=0.2, cache_tag="s1").content == "unused"
