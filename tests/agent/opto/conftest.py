"""Every opto test numbers its nodes from 0 (no names leak between tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agent.opto import name_scope


@pytest.fixture(autouse=True)
def _fresh_names() -> Iterator[None]:
    with name_scope():
        yield
