"""The LLM layer through the real ``openai`` client against the loopback stub server."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import threading
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import stub_model

from agent import usage as usage_module
from agent.cache import ResponseCache, request_key
from agent.errors import (
    AuthError,
    BadRequestError,
    ContextWindowError,
    LLMError,
    ParseError,
    RateLimitError,
    TransportError,
    map_openai_error,
    parse_retry_after,
)
from agent.llm import (
    ChatModel,
    OpenAIChatModel,
    complete_json,
    extract_json,
    system,
    user,
)
from agent.settings import get_settings, settings_context
from agent.stub_server import Delay, Drop, HTTPError, StubServer, Text
from agent.usage import Usage, cost_usd, price_for, register_price

HELLO = [system("You are terse."), user("Say hello.")]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No OPENAI_* / OPTIWISE_* variables from the developer's shell."""
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "OPTIWISE_")):
            monkeypatch.delenv(name)
    return monkeypatch


# ------------------------------------------------------------------ completions


def test_plain_completion_reports_text_usage_and_cost(llm_stub: StubServer) -> None:
    llm_stub.push(Text("Hello!", prompt_tokens=1000, completion_tokens=500))
    chat = stub_model(llm_stub, model="gpt-4o-mini")

    reply = chat.complete(HELLO)

    assert reply.content == "Hello!"
    assert reply.finish_reason == "stop"
    assert not reply.cached and reply.attempts == 1
    assert reply.usage.prompt_tokens == 1000 and reply.usage.completion_tokens == 500
    assert reply.usage.total == 1500 and reply.usage.calls == 1
    assert reply.usage.cost_usd == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
    assert reply.usage.cost_known
    assert reply.request_id and reply.request_id.startswith("req_stub_")
    assert chat.total_usage == reply.usage
    (request,) = llm_stub.chat_requests
    assert request.headers["authorization"] == "Bearer test-key"
    assert request.body["model"] == "gpt-4o-mini"
    assert request.body["temperature"] == 0.0
    assert request.messages == [dict(m) for m in HELLO]
    assert "response_format" not in request.body


def test_unknown_model_costs_nothing_and_says_so(llm_stub: StubServer) -> None:
    llm_stub.push("hi")
    reply = stub_model(llm_stub, model="my-local-llama").complete(HELLO)
    assert reply.model == "my-local-llama"
    assert reply.usage.cost_usd == 0.0
    assert not reply.usage.cost_known


def test_stub_speaks_the_models_endpoint(llm_stub: StubServer) -> None:
    client = openai.OpenAI(base_url=llm_stub.base_url, api_key="k", max_retries=0)
    assert [m.id for m in client.models.list()] == ["stub-model"]


def test_stub_bodies_pass_the_clients_strict_validation(llm_stub: StubServer) -> None:
    llm_stub.push("strict reply", "strict stream")
    client = openai.OpenAI(
        base_url=llm_stub.base_url, api_key="k", max_retries=0, _strict_response_validation=True
    )
    completion = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}]
    )
    assert completion.choices[0].message.content == "strict reply"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    chunks = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "strict stream"


def test_reasoning_models_get_max_completion_tokens_and_no_temperature(
    llm_stub: StubServer,
) -> None:
    llm_stub.push("ok", "ok")
    chat = stub_model(llm_stub, max_tokens=50)
    chat.complete(HELLO, model="o3-mini")
    chat.complete(HELLO, model="gpt-4o")
    reasoning, classic = (r.body for r in llm_stub.chat_requests)
    assert reasoning["max_completion_tokens"] == 50 and "max_tokens" not in reasoning
    assert "temperature" not in reasoning
    assert classic["max_tokens"] == 50 and classic["temperature"] == 0.0


def test_unknown_override_is_a_type_error(llm_stub: StubServer) -> None:
    with pytest.raises(TypeError, match="temprature"):
        stub_model(llm_stub).complete(HELLO, temprature=0.3)


# ------------------------------------------------------------------- JSON replies

DOC = {
    "variables": {"x": {"type": "integer"}},
    "objective": {"sense": "maximize", "expression": "x"},
}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(DOC),
        "```json\n" + json.dumps(DOC, indent=2) + "\n```",
        "```\n" + json.dumps(DOC) + "\n```",
        "Here is the model:\n\n" + json.dumps(DOC) + "\n\nIt maximizes x.",
        "Sets are written {like this}.\n" + json.dumps(DOC) + "\nDone.",
        "```json\n{'bad': 1}\n```\nCorrected:\n```json\n" + json.dumps(DOC) + "\n```",
        '<think>maybe {x} or {"y": 1}</think>\n' + json.dumps(DOC),
    ],
    ids=["raw", "json-fence", "bare-fence", "prose", "prose-braces", "second-fence", "think"],
)
def test_extract_json_finds_the_object(text: str) -> None:
    assert extract_json(text) == DOC


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I cannot help with that.", "no JSON object"),
        ("", "empty"),
        ('{"variables": {"x": 1},}', "not valid JSON"),
        ("[1, 2, 3]", "expected a JSON object"),
        ('Sure: {"variables": {"x": {"type": "integ', "never closed"),
    ],
    ids=["prose", "empty", "trailing-comma", "list", "truncated"],
)
def test_extract_json_rejects_non_json_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason) as info:
        extract_json(text)
    assert info.value.raw == text
    assert not info.value.is_retryable()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(
    obj=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    wrap=st.sampled_from(["{}", "```json\n{}\n```", "Answer:\n{}\nThanks.", "```\n{}\n```"]),
)
def test_extract_json_round_trips_any_object(obj: dict[str, Any], wrap: str) -> None:
    assert extract_json(wrap.replace("{}", json.dumps(obj), 1)) == obj


def test_complete_json_parses_a_fenced_reply(llm_stub: StubServer) -> None:
    llm_stub.push("Sure!\n```json\n" + json.dumps(DOC) + "\n```")
    data, reply = complete_json(stub_model(llm_stub), [system("Answer in JSON."), user("go")])
    assert data == DOC
    assert reply.usage.calls == 1
    assert llm_stub.chat_requests[0].body["response_format"] == {"type": "json_object"}


def test_complete_json_raises_parse_error_with_the_reply(llm_stub: StubServer) -> None:
    llm_stub.push("I am not sure what you mean.")
    with pytest.raises(ParseError) as info:
        complete_json(stub_model(llm_stub), [user("JSON please")])
    assert info.value.raw == "I am not sure what you mean."
    assert info.value.reply.usage.calls == 1


def _reject_response_format(body: dict[str, Any]) -> Any:
    if "response_format" in body:
        return HTTPError.api_error(
            400, "Unsupported parameter: response_format", param="response_format"
        )
    return json.dumps({"ok": True})


def test_json_mode_auto_falls_back_when_the_server_rejects_response_format(
    llm_stub: StubServer,
) -> None:
    llm_stub.handler = _reject_response_format
    chat = stub_model(llm_stub, json_mode="auto")
    messages = [system("Reply in JSON."), user("go")]

    data, reply = complete_json(chat, messages)
    assert data == {"ok": True}
    assert reply.attempts == 1  # the fallback is not a retry
    first, second = llm_stub.chat_requests
    assert first.body["response_format"] == {"type": "json_object"}
    assert "response_format" not in second.body

    complete_json(chat, messages)  # remembered: no second rejection
    assert len(llm_stub.chat_requests) == 3
    assert "response_format" not in llm_stub.chat_requests[2].body


def test_json_mode_on_does_not_fall_back_and_off_never_asks(llm_stub: StubServer) -> None:
    llm_stub.handler = _reject_response_format
    messages = [system("Reply in JSON."), user("go")]
    with pytest.raises(BadRequestError, match="response_format"):
        complete_json(stub_model(llm_stub, json_mode="on"), messages)
    assert complete_json(stub_model(llm_stub, json_mode="off"), messages)[0] == {"ok": True}
    assert len(llm_stub.chat_requests) == 2


def test_json_mode_auto_skips_response_format_when_no_message_says_json(
    llm_stub: StubServer,
) -> None:
    # OpenAI rejects json_object unless a message mentions JSON; auto mode must not trip on it.
    llm_stub.push('{"a": 1}')
    assert complete_json(stub_model(llm_stub), [user("give me an object")])[0] == {"a": 1}
    assert "response_format" not in llm_stub.chat_requests[0].body


# ---------------------------------------------------------------- errors, retries


def test_rate_limit_is_retried_after_retry_after(llm_stub: StubServer) -> None:
    llm_stub.push(HTTPError.rate_limit(retry_after=0.2), "made it")
    chat = stub_model(llm_stub, retry_max_delay=5.0)
    started = time.perf_counter()
    reply = chat.complete(HELLO)
    assert reply.content == "made it"
    assert reply.attempts == 2
    assert len(llm_stub.chat_requests) == 2
    assert time.perf_counter() - started >= 0.2  # honoured the header, not the 10 ms backoff


def test_rate_limit_zero_retry_after_retries_at_once(llm_stub: StubServer) -> None:
    llm_stub.push(HTTPError.rate_limit(retry_after=0), HTTPError.rate_limit(0, ms=True), "ok")
    reply = stub_model(llm_stub).complete(HELLO)
    assert (reply.content, reply.attempts, len(llm_stub.chat_requests)) == ("ok", 3, 3)


def test_rate_limit_gives_up_after_max_retries(llm_stub: StubServer) -> None:
    llm_stub.push(*[HTTPError.rate_limit(retry_after=0)] * 3)
    with pytest.raises(RateLimitError) as info:
        stub_model(llm_stub, max_retries=2).complete(HELLO)
    assert info.value.attempts == 3 and info.value.retry_after == 0
    assert len(llm_stub.chat_requests) == 3


def test_exhausted_quota_is_not_retried(llm_stub: StubServer) -> None:
    llm_stub.push(HTTPError.api_error(429, "You exceeded your quota.", code="insufficient_quota"))
    with pytest.raises(RateLimitError) as info:
        stub_model(llm_stub).complete(HELLO)
    assert not info.value.is_retryable()
    assert len(llm_stub.chat_requests) == 1


def test_server_error_is_retried(llm_stub: StubServer) -> None:
    llm_stub.push(HTTPError.server_error(500), HTTPError.server_error(503), "recovered")
    reply = stub_model(llm_stub).complete(HELLO)
    assert reply.content == "recovered" and reply.attempts == 3


def test_timeout_becomes_transport_error_after_retries(llm_stub: StubServer) -> None:
    llm_stub.push(Delay(5.0, "too late"), Delay(5.0, "too late"))
    chat = stub_model(llm_stub, timeout=0.2, max_retries=1)
    started = time.perf_counter()
    with pytest.raises(TransportError, match="timed out") as info:
        chat.complete(HELLO)
    assert time.perf_counter() - started < 3
    assert info.value.is_retryable() and info.value.attempts == 2
    assert len(llm_stub.chat_requests) == 2


def test_dropped_connection_is_a_transport_error(llm_stub: StubServer) -> None:
    llm_stub.push(Drop(), "after the drop")
    assert stub_model(llm_stub).complete(HELLO).content == "after the drop"
    llm_stub.push(Drop())
    with pytest.raises(TransportError):
        stub_model(llm_stub, max_retries=0).complete(HELLO)


def test_bad_key_is_an_auth_error_and_not_retried(llm_stub: StubServer) -> None:
    llm_stub.push(HTTPError.unauthorized(), "never served")
    with pytest.raises(AuthError, match="Incorrect API key") as info:
        stub_model(llm_stub).complete(HELLO)
    assert info.value.status_code == 401 and not info.value.is_retryable()
    assert len(llm_stub.chat_requests) == 1


def test_context_overflow_is_a_context_window_error(llm_stub: StubServer) -> None:
    llm_stub.push(HTTPError.context_length())
    with pytest.raises(ContextWindowError) as info:
        stub_model(llm_stub).complete(HELLO)
    assert info.value.code == "context_length_exceeded"
    assert not info.value.is_retryable()
    assert len(llm_stub.chat_requests) == 1


def test_context_overflow_is_recognised_from_the_message_alone(llm_stub: StubServer) -> None:
    # vLLM and llama.cpp send no code, only text.
    llm_stub.push(
        HTTPError.api_error(400, "This model's maximum context length is 4096 tokens."),
        HTTPError.api_error(400, "the request exceeds the available context size"),
        HTTPError.api_error(404, "The model `gpt-9` does not exist", code="model_not_found"),
    )
    chat = stub_model(llm_stub)
    for expected in (ContextWindowError, ContextWindowError, BadRequestError):
        with pytest.raises(expected):
            chat.complete(HELLO)


def test_stub_without_replies_answers_a_clear_400(llm_stub: StubServer) -> None:
    with pytest.raises(BadRequestError, match="no reply left for request #1"):
        stub_model(llm_stub).complete(HELLO)


def test_retry_after_headers_are_parsed() -> None:
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "Retry-After": "9"}) == 0.25
    in_a_minute = parse_retry_after({"Retry-After": formatdate(time.time() + 60, usegmt=True)})
    assert in_a_minute is not None and 55 < in_a_minute <= 60
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_map_openai_error_keeps_llm_errors_and_wraps_the_rest() -> None:
    err = TransportError("x")
    assert map_openai_error(err) is err
    assert type(map_openai_error(ValueError("boom"))) is LLMError


def test_no_key_and_no_url_is_an_auth_error_before_any_request() -> None:
    chat = OpenAIChatModel(get_settings(api_key=None, base_url=None))
    assert not chat.settings.configured
    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        chat.complete(HELLO)


# ---------------------------------------------------------------------- streaming


def test_stream_yields_deltas_in_order_then_the_whole_reply(llm_stub: StubServer) -> None:
    llm_stub.push(Text("alpha beta  gamma", prompt_tokens=10, completion_tokens=3))
    stream = stub_model(llm_stub).stream(HELLO)
    deltas = list(stream)
    assert deltas == ["alpha ", "beta ", " ", "gamma"]
    assert stream.reply.content == "alpha beta  gamma"
    assert stream.reply.usage.prompt_tokens == 10 and stream.reply.finish_reason == "stop"
    body = llm_stub.chat_requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stream_retries_opening_and_maps_errors(llm_stub: StubServer) -> None:
    llm_stub.push(HTTPError.server_error(), "second try", HTTPError.unauthorized())
    chat = stub_model(llm_stub)
    stream = chat.stream(HELLO)
    assert "".join(stream) == "second try" and stream.reply.attempts == 2
    with pytest.raises(AuthError):
        list(chat.stream(HELLO))


def test_stream_drops_stream_options_if_the_server_rejects_them(llm_stub: StubServer) -> None:
    def old_server(body: dict[str, Any]) -> Any:
        if "stream_options" in body:
            return HTTPError.api_error(400, "Unrecognized request argument: stream_options")
        return "still streams"

    llm_stub.handler = old_server
    stream = stub_model(llm_stub).stream(HELLO)
    assert "".join(stream) == "still streams" and stream.reply.attempts == 1
    assert ["stream_options" in r.body for r in llm_stub.chat_requests] == [True, False]


def test_a_stream_closed_early_is_not_cached(llm_stub: StubServer, tmp_path: Path) -> None:
    llm_stub.handler = lambda body: "one two three"
    chat = stub_model(llm_stub, cache_dir=tmp_path)
    with chat.stream(HELLO) as stream:
        assert next(stream) == "one "
    assert not chat.complete(HELLO).cached
    assert chat.complete(HELLO).cached
    assert len(llm_stub.chat_requests) == 2


# ------------------------------------------------------------------------ settings


def test_environment_variables_are_picked_up(
    llm_stub: StubServer, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("OPENAI_BASE_URL", llm_stub.base_url)
    clean_env.setenv("OPENAI_API_KEY", "env-key")
    clean_env.setenv("OPTIWISE_MODEL", "env-model")
    clean_env.setenv("OPTIWISE_TEMPERATURE", "0.7")
    clean_env.setenv("OPTIWISE_MAX_RETRIES", "0")
    llm_stub.push("from env")

    chat = OpenAIChatModel()

    assert chat.settings.configured and chat.settings.max_retries == 0
    assert chat.complete(HELLO).content == "from env"
    request = llm_stub.chat_requests[0]
    assert request.body["model"] == "env-model" and request.body["temperature"] == 0.7
    assert request.headers["authorization"] == "Bearer env-key"


def test_local_server_needs_no_key(llm_stub: StubServer, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_BASE_URL", llm_stub.base_url)
    llm_stub.push("local")
    chat = OpenAIChatModel()
    assert chat.settings.api_key is None and chat.settings.configured
    assert chat.complete(HELLO).content == "local"
    assert llm_stub.chat_requests[0].headers["authorization"] == "Bearer not-needed"


def test_settings_context_overrides_env_and_explicit_overrides_win(
    llm_stub: StubServer, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("OPTIWISE_MODEL", "env-model")
    llm_stub.push("a", "b")
    with settings_context(base_url=llm_stub.base_url, model="ctx-model", seed=7):
        assert get_settings().model == "ctx-model"
        assert get_settings(model="explicit").model == "explicit"
        with settings_context(temperature=0.3):
            inner = get_settings()
            assert (inner.model, inner.seed, inner.temperature) == ("ctx-model", 7, 0.3)
        chat = OpenAIChatModel()
    assert get_settings().model == "env-model" and get_settings().base_url is None

    chat.complete(HELLO)
    chat.complete(HELLO, model="per-call", seed=1)
    first, second = (r.body for r in llm_stub.chat_requests)
    assert (first["model"], first["seed"]) == ("ctx-model", 7)
    assert (second["model"], second["seed"]) == ("per-call", 1)


def test_settings_context_is_private_to_its_thread(clean_env: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    with settings_context(model="mine"):
        thread = threading.Thread(target=lambda: seen.append(get_settings().model))
        thread.start()
        thread.join()
    assert seen == ["gpt-4o-mini"]


def test_unknown_setting_names_are_rejected() -> None:
    with pytest.raises(TypeError, match="modle"), settings_context(modle="x"):
        pass


# --------------------------------------------------------------------------- cache


def test_cache_answers_a_rerun_without_the_server(llm_stub: StubServer, tmp_path: Path) -> None:
    llm_stub.push(Text("cached answer", prompt_tokens=100, completion_tokens=20))
    first = stub_model(llm_stub, cache_dir=tmp_path).complete(HELLO)
    rerun = stub_model(llm_stub, cache_dir=tmp_path)  # a new process would look the same

    second = rerun.complete(HELLO)

    assert len(llm_stub.chat_requests) == 1
    assert second.content == first.content == "cached answer"
    assert second.cached and not first.cached
    assert second.usage == Usage(calls=1, cached_calls=1)
    assert second.usage.cost_usd == 0.0 and second.attempts == 0
    assert first.usage.cost_usd > 0
    streamed = rerun.stream(HELLO)
    assert list(streamed) == ["cached answer"] and streamed.reply.cached
    assert len(llm_stub.chat_requests) == 1


def test_cache_key_covers_the_request(llm_stub: StubServer, tmp_path: Path) -> None:
    llm_stub.handler = lambda body: f"answer {len(llm_stub.chat_requests)}"
    chat = stub_model(llm_stub, cache_dir=tmp_path)
    chat.complete(HELLO)
    variants: list[dict[str, Any]] = [
        {"temperature": 0.5},
        {"seed": 3},
        {"model": "gpt-4o"},
        {"max_tokens": 10},
        {"cache_tag": "sample-2"},
        {"response_format": {"type": "json_object"}},
    ]
    for overrides in variants:
        assert not chat.complete(HELLO, **overrides).cached, overrides
    assert chat.complete([*HELLO, user("and more")]).cached is False
    assert chat.complete(HELLO, cache=False).cached is False
    assert chat.complete(HELLO).cached
    with StubServer(["from another server"]) as other:  # same request, another endpoint
        assert not stub_model(other, cache_dir=tmp_path).complete(HELLO).cached
    assert request_key({"a": 1, "b": 2}) == request_key({"b": 2, "a": 1})


def test_cache_is_off_by_default(clean_env: pytest.MonkeyPatch) -> None:
    assert get_settings().cache_dir is None
    assert OpenAIChatModel(get_settings(base_url="http://127.0.0.1:9/v1")).cache is None


def _hammer_cache(directory: str, worker: int) -> int:
    cache = ResponseCache(directory)
    for i in range(30):
        key = request_key({"i": i % 5})
        cache.put(key, {"i": i % 5}, {"content": f"reply {i % 5}", "by": worker})
        got = cache.get(key)
        assert got is not None and got["content"] == f"reply {i % 5}"
    return worker


def test_cache_is_safe_for_threads_and_processes(tmp_path: Path) -> None:
    threads = [threading.Thread(target=_hammer_cache, args=(str(tmp_path), n)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with multiprocessing.get_context("fork").Pool(3) as pool:
        assert sorted(pool.starmap(_hammer_cache, [(str(tmp_path), n) for n in range(3)])) == [
            0,
            1,
            2,
        ]
    cache = ResponseCache(tmp_path)
    assert len(cache) == 5
    assert not list(tmp_path.glob("*/*.tmp")) and not list(tmp_path.glob("*/.*"))


# --------------------------------------------------------------------------- async


def test_acomplete_runs_concurrent_calls(llm_stub: StubServer) -> None:
    llm_stub.latency = 0.3
    llm_stub.handler = lambda body: "echo: " + body["messages"][-1]["content"]
    chat = stub_model(llm_stub)

    async def ask_all() -> list[str]:
        replies = await asyncio.gather(*(chat.acomplete([user(f"q{i}")]) for i in range(8)))
        return [r.content for r in replies]

    started = time.perf_counter()
    contents = asyncio.run(ask_all())
    elapsed = time.perf_counter() - started
    assert contents == [f"echo: q{i}" for i in range(8)]
    assert llm_stub.max_in_flight == 8
    assert elapsed < 1.5  # 8 x 0.3 s in sequence would be 2.4 s
    assert chat.total_usage.calls == 8
    assert asyncio.run(chat.acomplete([user("again")])).content == "echo: again"  # new loop

    async def ask_and_close() -> str:
        reply = await chat.acomplete([user("last")])
        await chat.aclose()
        return reply.content

    assert asyncio.run(ask_and_close()) == "echo: last"


def test_acomplete_retries_and_maps_errors(llm_stub: StubServer) -> None:
    llm_stub.push(HTTPError.rate_limit(0), "async ok", HTTPError.context_length())
    chat = stub_model(llm_stub)
    reply = asyncio.run(chat.acomplete(HELLO))
    assert (reply.content, reply.attempts) == ("async ok", 2)
    with pytest.raises(ContextWindowError):
        asyncio.run(chat.acomplete(HELLO))


def test_openai_chat_model_is_a_chat_model(llm_stub: StubServer) -> None:
    assert isinstance(stub_model(llm_stub), ChatModel)


# --------------------------------------------------------------------------- usage


def test_usage_adds_up() -> None:
    a = Usage(10, 5, 0.01, calls=1)
    b = Usage(1, 2, 0.0, calls=1, cached_calls=1, cost_known=False)
    total = sum([a, b, Usage()], Usage())
    assert total == a + b
    assert (total.prompt_tokens, total.completion_tokens, total.total) == (11, 7, 18)
    assert (total.calls, total.cached_calls, total.cost_known) == (2, 1, False)
    assert sum([a, b]) == total
    assert total.to_dict()["total"] == 18


def test_price_lookup_handles_snapshots_and_prefixes() -> None:
    assert price_for("gpt-4o-2024-08-06") == price_for("gpt-4o") == price_for("openai/GPT-4o")
    assert price_for("gpt-4o-mini") != price_for("gpt-4o")
    assert cost_usd("deepseek-chat", 1_000_000, 0)[1]
    assert cost_usd("nobody-knows", 10, 10) == (0.0, False)


def test_prices_can_be_registered_or_loaded_from_a_file(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setattr(usage_module, "_registered", {})
    clean_env.setattr(usage_module, "_file_prices", {})
    register_price("my-llama", 1.0, 2.0)
    assert cost_usd("my-llama", 1_000_000, 1_000_000) == (3.0, True)

    toml_file = tmp_path / "prices.toml"
    toml_file.write_text('["team-model"]\ninput = 0.5\noutput = 1.5\n')
    clean_env.setenv("OPTIWISE_PRICES", str(toml_file))
    assert cost_usd("team-model", 2_000_000, 0) == (1.0, True)

    json_file = tmp_path / "prices.json"
    json_file.write_text(json.dumps({"prices": {"gpt-4o": [1, 1], "json-model": [0, 0]}}))
    clean_env.setenv("OPTIWISE_PRICES", str(json_file))
    assert cost_usd("json-model", 5, 5) == (0.0, True)
    assert cost_usd("gpt-4o", 1_000_000, 0) == (1.0, True)  # the file beats the built-in table
    register_price("gpt-4o", 3, 3)
    assert cost_usd("gpt-4o", 1_000_000, 0) == (3.0, True)  # registration beats the file
