"""Pytest helpers for code that talks to an LLM: a loopback stub and settings for it.

``tests/conftest.py`` imports the fixture so that every test can ask for it::

    from agent.testing import llm_stub  # noqa: F401

    def test_something(llm_stub):
        llm_stub.push('{"variables": {}}')
        chat = stub_model(llm_stub)
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agent.llm import OpenAIChatModel
from agent.settings import LLMSettings
from agent.stub_server import StubServer

__all__ = ["llm_stub", "stub_model", "stub_settings"]


def stub_settings(stub: StubServer, **overrides: Any) -> LLMSettings:
    """Settings aimed at ``stub``: a test key, short timeouts, fast retries, no cache.

    They are explicit rather than read from the environment, so a developer's
    ``OPENAI_*`` or ``OPTIWISE_*`` variables cannot send a test to a real server.
    """
    values: dict[str, Any] = {
        "base_url": stub.base_url,
        "api_key": "test-key",
        "model": "gpt-4o-mini",
        "temperature": 0.0,
        "seed": None,
        "max_tokens": None,
        "timeout": 5.0,
        "max_retries": 2,
        "retry_initial_delay": 0.01,
        "retry_max_delay": 0.05,
        "cache_dir": None,
        "json_mode": "auto",
    }
    values.update(overrides)
    return LLMSettings(**values)


def stub_model(stub: StubServer, **overrides: Any) -> OpenAIChatModel:
    """An :class:`OpenAIChatModel` over the real ``openai`` client, talking to ``stub``."""
    return OpenAIChatModel(stub_settings(stub, **overrides))


@pytest.fixture
def llm_stub() -> Iterator[StubServer]:
    """A started :class:`StubServer` with an empty script; closed after the test."""
    with StubServer() as stub:
        yield stub
