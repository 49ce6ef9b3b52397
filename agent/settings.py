"""Settings of the LLM layer: environment, a scoped override, explicit overrides.

Values are resolved in this order (later wins):

1. defaults below;
2. the environment: ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, and ``OPTIWISE_<FIELD>``
   for every other field (``OPTIWISE_MODEL``, ``OPTIWISE_TEMPERATURE``,
   ``OPTIWISE_CACHE_DIR``, ...);
3. the innermost active :func:`settings_context` block;
4. keyword overrides passed to :func:`get_settings`.

Example::

    with settings_context(model="deepseek-chat", base_url="https://api.deepseek.com"):
        chat = OpenAIChatModel()          # resolves its settings here
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["JsonMode", "LLMSettings", "get_settings", "settings_context"]

JsonMode = Literal["auto", "on", "off"]


class LLMSettings(BaseSettings):
    """How to reach the LLM and how to call it.

    A local OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio) needs
    only ``base_url``; OpenAI itself needs only ``api_key``.
    """

    model_config = SettingsConfigDict(
        env_prefix="OPTIWISE_",
        extra="ignore",
        populate_by_name=True,
        env_ignore_empty=True,
        validate_default=True,
    )

    api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "OPTIWISE_API_KEY"),
        description="API key; optional for local servers.",
    )
    base_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "OPTIWISE_BASE_URL"),
        description="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1.",
    )
    model: str = Field(default="gpt-4o-mini", description="Model name sent to the server.")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    seed: int | None = Field(
        default=None, description="Sampling seed, where the server honours it."
    )
    max_tokens: int | None = Field(default=None, gt=0, description="Cap on reply tokens.")
    timeout: float = Field(default=120.0, gt=0, description="Seconds per HTTP request.")
    max_retries: int = Field(default=4, ge=0, description="Retries after a retryable error.")
    retry_initial_delay: float = Field(
        default=0.5, ge=0, description="First backoff delay in seconds; doubles per retry."
    )
    retry_max_delay: float = Field(default=30.0, ge=0, description="Cap on one backoff delay.")
    cache_dir: Path | None = Field(
        default=None, description="Directory of the response cache; None turns caching off."
    )
    json_mode: JsonMode = Field(
        default="auto",
        description=(
            "Whether JSON requests send response_format={'type': 'json_object'}: "
            "'on' always, 'off' never, 'auto' tries it and drops it if the server rejects it."
        ),
    )

    @property
    def configured(self) -> bool:
        """True when there is somewhere to send a request: a key, or a (local) base URL."""
        return self.api_key is not None or self.base_url is not None

    def merged(self, **overrides: Any) -> LLMSettings:
        """A validated copy with ``overrides`` applied (unknown names raise TypeError).

        The environment is not read again: the copy differs from ``self`` only in
        ``overrides``.
        """
        if not overrides:
            return self
        _check_names(overrides)
        return LLMSettings.model_validate({**self.model_dump(), **overrides})


_CONTEXT: ContextVar[Mapping[str, Any]] = ContextVar(
    "optiwise_llm_settings", default=MappingProxyType({})
)


def _check_names(overrides: Mapping[str, Any]) -> None:
    unknown = sorted(set(overrides) - set(LLMSettings.model_fields))
    if unknown:
        known = ", ".join(LLMSettings.model_fields)
        raise TypeError(f"unknown LLM setting(s) {', '.join(unknown)}; known settings: {known}")


@contextmanager
def settings_context(**overrides: Any) -> Iterator[LLMSettings]:
    """Override settings inside a ``with`` block (nestable; safe across threads and tasks).

    The override lives in a ``contextvars.ContextVar``, so it follows asyncio tasks
    created inside the block and never leaks into other threads. Yields the
    settings as resolved inside the block.
    """
    _check_names(overrides)
    token = _CONTEXT.set({**_CONTEXT.get(), **overrides})
    try:
        yield get_settings()
    finally:
        _CONTEXT.reset(token)


def get_settings(**overrides: Any) -> LLMSettings:
    """Settings from the environment, the active :func:`settings_context` and ``overrides``."""
    _check_names(overrides)
    return LLMSettings(**{**_CONTEXT.get(), **overrides})
