"""Helpers shared by the tests (not fixtures: those live in ``conftest.py``).

Imported as ``from support import ...``; ``pyproject.toml`` puts ``tests/`` on
``sys.path`` for pytest.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agent.llm import OpenAIChatModel
from agent.settings import LLMSettings
from agent.stub_server import StubServer

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "datasets" / "samples"

__all__ = ["ROOT", "SAMPLES", "benchmark_mirror", "stub_model", "stub_settings"]


def benchmark_mirror() -> Path:
    """The benchmark mirror of a test marked ``@pytest.mark.needs_data``.

    The marker (see ``conftest.py``) has already skipped the test when
    ``$OPTIWISE_DATA_DIR`` is not a folder, so here it is one.
    """
    root = os.environ.get("OPTIWISE_DATA_DIR")
    assert root, "mark the test @pytest.mark.needs_data: it reads the benchmark mirror"
    return Path(root)


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
