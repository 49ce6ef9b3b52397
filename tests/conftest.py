"""Shared pytest fixtures and hooks.

- ``llm_stub``: the loopback OpenAI-compatible stub;
- test isolation: no real endpoint, no writes to the user's home;
- the ``needs_data`` marker: a test that reads benchmark data from the mirror
  in ``$OPTIWISE_DATA_DIR`` (CI sets it in ``.ci/run``) is skipped, with one
  line saying how to provide the data, where that folder is not given.
  ``@pytest.mark.needs_data`` needs the folder; ``needs_data("nl4opt.sirl")``
  also needs that variant in it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.stub_server import StubServer
from evals.datadir import DATA_DIR_ENV
from evals.registry import get


def _missing_data(names: tuple[str, ...]) -> str | None:
    """Why a ``needs_data(*names)`` test cannot run here, in one line; None if it can."""
    root = os.environ.get(DATA_DIR_ENV)
    if not root or not Path(root).is_dir():
        where = f" ({root} is not a folder)" if root else ""
        return (
            f"needs benchmark data: set {DATA_DIR_ENV} to a mirror folder{where}, "
            "or fill one with `optiwise data fetch NAME --data-dir DIR`"
        )
    for name in names:
        entry = get(name)
        if not (Path(root) / entry.local_path).exists():
            return (
                f"needs {entry.name} in {DATA_DIR_ENV}={root}: "
                f"run `optiwise data fetch {entry.name} --data-dir {root}`"
            )
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip ``needs_data`` tests whose data are absent, saying how to provide them."""
    reasons: dict[tuple[str, ...], str | None] = {}
    for item in items:
        marker = item.get_closest_marker("needs_data")
        if marker is None:
            continue
        names = tuple(str(a) for a in marker.args)
        if names not in reasons:
            reasons[names] = _missing_data(names)
        reason = reasons[names]
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


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
