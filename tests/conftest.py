"""Shared pytest fixtures: the loopback OpenAI-compatible stub (``llm_stub``), test isolation."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.stub_server import StubServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def llm_stub() -> Iterator[StubServer]:
    """A started :class:`StubServer` with an empty script; closed after the test."""
    with StubServer() as stub:
        yield stub


@pytest.fixture(autouse=True)
def _no_real_endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never reach a real LLM, and never write to the user's home."""
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPTIWISE_MODEL", "OPTIWISE_CACHE_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPTIWISE_HOME", str(tmp_path / "optiwise-home"))
    if "OPTIWISE_DATA_DIR" not in os.environ:
        shared = ROOT.parent / "shared" / "benchmarks"
        if shared.is_dir():
            monkeypatch.setenv("OPTIWISE_DATA_DIR", str(shared))
