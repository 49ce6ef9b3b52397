"""Fixtures of the evaluation tests that fetch datasets.

- ``upstream``: a loopback HTTP server standing in for GitHub's raw file host;
- ``fetch_cache``: fetches go to a cache in the test's folder, with no mirror and no
  raw-file base URL from the developer's environment (use it with
  ``pytestmark = pytest.mark.usefixtures("fetch_cache")``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


class _Quiet(SimpleHTTPRequestHandler):
    """Serves a folder without logging each request to stderr."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback server whose files live at ``{root}/{repo}/{commit}/{path}``: (base URL, root)."""
    root = tmp_path / "upstream"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fetch_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fetch cache in the test's folder, no ``$OPTIWISE_DATA_DIR`` and no raw-file base URL."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("OPTIWISE_CACHE_HOME", str(cache))
    monkeypatch.delenv("OPTIWISE_DATA_DIR", raising=False)
    monkeypatch.delenv("OPTIWISE_RAW_BASE_URL", raising=False)
    return cache
