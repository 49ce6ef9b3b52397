"""The app's session: defaults, deferred widget changes, and the LLM and agent settings.

Settings come from the project's own settings objects, never from the
environment directly: the LLM's from :func:`agent.settings.get_settings`
(``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPTIWISE_MODEL``, ...), the agent's
from :meth:`agent.context.AgentConfig.from_env`, the app's from
:class:`ui.view_model.AppSettings`.  The Settings page overrides them for the
session only.  Chat threads live where :mod:`agent.chat` keeps them
(``$OPTIWISE_HOME/threads.sqlite``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

from agent.context import AgentConfig
from agent.settings import LLMSettings, get_settings

if TYPE_CHECKING:
    from agent.chat import ChatSession
    from agent.tool_chat import ToolMode

__all__ = [
    "agent_config",
    "banner",
    "chat_session",
    "init_state",
    "llm_configured",
    "llm_settings",
    "secret_api_key",
    "set_later",
    "solve_kwargs",
    "tool_mode",
    "tool_mode_problem",
]


def init_state() -> None:
    """Session defaults, then the changes :func:`set_later` deferred to this run."""
    ss = st.session_state
    if "settings" not in ss:
        llm = get_settings()
        config = AgentConfig.from_env()
        ss["settings"] = {
            "base_url": llm.base_url or "",
            "model": llm.model,
            "temperature": llm.temperature,
            "samples": config.samples,
            "max_repairs": config.max_repairs,
            "backend": config.backend,
            "time_limit": float(config.time_limit or 60.0),
        }
    ss["settings"].setdefault("tool_mode", _default_tool_mode())
    defaults: dict[str, Any] = {
        "doc_text": "",
        "result": None,
        "scenarios": [],
        "messages": [],
        "thread_id": None,
        "chat_prefill": "",
    }
    for key, value in defaults.items():
        ss.setdefault(key, value)
    pending = ss.pop("_pending", None) or {}
    for key, value in pending.items():
        ss[key] = value


def _default_tool_mode() -> str:
    """``OPTIWISE_TOOL_MODE`` as :class:`agent.tool_chat.ToolChatConfig` reads it; off if unset.

    A value it rejects is reported on the Settings page, not raised here: the app still starts.
    """
    from agent.tool_chat import ToolChatConfig

    try:
        return ToolChatConfig.from_env().tool_mode
    except ValueError:
        return "off"


def tool_mode_problem() -> str:
    """Why ``OPTIWISE_TOOL_MODE`` / ``OPTIWISE_MAX_TOOL_CALLS`` were not used ("" when fine)."""
    from agent.tool_chat import ToolChatConfig

    try:
        ToolChatConfig.from_env()
    except ValueError as exc:
        return str(exc)
    return ""


def tool_mode() -> ToolMode:
    """How the chat answers follow-ups: ``off`` (the regex router), ``auto``, ``native``, ``json``."""
    from agent.tool_chat import as_tool_mode

    try:
        return as_tool_mode(str(st.session_state["settings"].get("tool_mode") or "off"))
    except ValueError:
        return "off"


def set_later(**values: Any) -> None:
    """Change widget-backed state on the next run (Streamlit forbids it after the widget)."""
    st.session_state.setdefault("_pending", {}).update(values)


def secret_api_key() -> str | None:
    """``OPENAI_API_KEY`` from Streamlit secrets, where a deployed app keeps it."""
    try:
        secret = st.secrets.get("OPENAI_API_KEY")
    except Exception:  # no secrets file is the normal case
        secret = None
    return str(secret) if secret else None


def llm_settings() -> LLMSettings:
    """The LLM settings of this session: the environment's, with the Settings page's changes."""
    s = st.session_state["settings"]
    overrides: dict[str, Any] = {
        "model": s["model"],
        "temperature": float(s["temperature"]),
        "base_url": s["base_url"] or None,
    }
    settings = get_settings(**overrides)
    if settings.api_key is None:
        key = secret_api_key()
        if key:
            settings = settings.merged(api_key=key)
    return settings


def llm_configured() -> bool:
    """True when chat has somewhere to send requests (a key, or a local endpoint)."""
    return llm_settings().configured


def agent_config() -> AgentConfig:
    """The agent's settings for this session (repair rounds, samples, backend, time limit)."""
    s = st.session_state["settings"]
    return AgentConfig.from_env(
        max_repairs=int(s["max_repairs"]),
        samples=int(s["samples"]),
        backend=s["backend"],
        time_limit=float(s["time_limit"]),
    )


def solve_kwargs() -> dict[str, Any]:
    """Backend and time limit for a solve started from the Model page."""
    s = st.session_state["settings"]
    return {"backend": s["backend"], "time_limit": float(s["time_limit"])}


def chat_session(thread_id: str) -> ChatSession:
    """The saved thread ``thread_id`` (created on first use), with this session's LLM."""
    from agent.chat import ChatSession
    from agent.llm import OpenAIChatModel

    return ChatSession(
        OpenAIChatModel(llm_settings()), agent_config(), thread_id=thread_id, tool_mode=tool_mode()
    )


def banner() -> None:
    """Say how to connect an LLM; everything but Chat works without one."""
    st.info(
        "**No LLM endpoint is configured**, so Chat cannot formulate problems yet. "
        "Set `OPENAI_API_KEY` for OpenAI, or `OPENAI_BASE_URL` for a local "
        "OpenAI-compatible server (Ollama: `http://localhost:11434/v1`, vLLM: "
        "`http://localhost:8000/v1`), plus `OPTIWISE_MODEL`, then restart — or enter "
        "the endpoint under **Settings**. Model, Gallery and Evals work without one, "
        "on the embedded HiGHS and SCIP solvers.",
        icon="🔌",
    )
