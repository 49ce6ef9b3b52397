"""optiwise's agent: the LLM layer, the LangGraph modeling agent and chat.

The LLM-free tools it uses live in :mod:`modeling` (``modeling.scenarios``,
``modeling.blackbox``, ``modeling.diagnostics``).

The public API::

    from agent import OptimizationAgent, FakeLLM
    agent = OptimizationAgent(model="gpt-4o-mini")           # OPENAI_API_KEY / OPENAI_BASE_URL
    result = agent.solve("A bakery makes bread and cake ...")
    result.status, result.objective, result.answer, result.attempts, result.usage

    chat = agent.chat(thread_id="bakery")                     # persisted in SQLite
    chat.send("flour costs 10% more").comparison

Names are imported lazily, so ``import agent.cli`` does not pay for LangGraph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modeling._lazy import lazy_exports

if TYPE_CHECKING:
    from agent.api import OptimizationAgent
    from agent.chat import ChatReply, ChatSession
    from agent.context import AgentConfig
    from agent.errors import LLMError, ParseError
    from agent.fake import FakeLLM
    from agent.llm import ChatModel, LLMReply, OpenAIChatModel
    from agent.prompts import PromptSet
    from agent.result import AgentResult
    from agent.settings import LLMSettings, get_settings, settings_context
    from agent.state import Attempt
    from agent.trace import Trace
    from agent.usage import Usage

_EXPORTS = {
    "AgentConfig": "agent.context",
    "AgentResult": "agent.result",
    "Attempt": "agent.state",
    "ChatModel": "agent.llm",
    "ChatReply": "agent.chat",
    "ChatSession": "agent.chat",
    "FakeLLM": "agent.fake",
    "LLMError": "agent.errors",
    "LLMReply": "agent.llm",
    "LLMSettings": "agent.settings",
    "OpenAIChatModel": "agent.llm",
    "OptimizationAgent": "agent.api",
    "ParseError": "agent.errors",
    "PromptSet": "agent.prompts",
    "Trace": "agent.trace",
    "Usage": "agent.usage",
    "get_settings": "agent.settings",
    "settings_context": "agent.settings",
}

__all__ = [
    "AgentConfig",
    "AgentResult",
    "Attempt",
    "ChatModel",
    "ChatReply",
    "ChatSession",
    "FakeLLM",
    "LLMError",
    "LLMReply",
    "LLMSettings",
    "OpenAIChatModel",
    "OptimizationAgent",
    "ParseError",
    "PromptSet",
    "Trace",
    "Usage",
    "get_settings",
    "settings_context",
]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__getattr__ = lazy_exports(globals(), _EXPORTS)
