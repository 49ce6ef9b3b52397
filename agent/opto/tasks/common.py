"""What the task commands share: choosing the optimizer's LLM."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from agent.fake import FakeLLM
from agent.llm import ChatMessage, ChatModel, OpenAIChatModel
from agent.settings import get_settings

__all__ = ["add_llm_arguments", "choose_llm"]


def add_llm_arguments(parser: argparse.ArgumentParser) -> None:
    """``--scripted`` and ``--model`` for a task command."""
    parser.add_argument(
        "--scripted",
        action="store_true",
        help="use the scripted optimizer even when an endpoint is configured",
    )
    parser.add_argument(
        "--model", default=None, help="optimizer model (default: OPTIWISE_MODEL or gpt-4o-mini)"
    )


def choose_llm(
    scripted: Callable[[list[ChatMessage]], str], *, force_scripted: bool = False
) -> tuple[ChatModel, str]:
    """The configured endpoint, or a FakeLLM answering every call with ``scripted``.

    Returns the model and a label for the report ("scripted" or the model name).
    """
    settings = get_settings()
    if settings.configured and not force_scripted:
        return OpenAIChatModel(settings), settings.model
    return FakeLLM(rules=[(lambda _text: True, scripted)], model="scripted"), "scripted"
