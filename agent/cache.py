"""On-disk cache of LLM replies, keyed by the full request.

One JSON file per request under ``<dir>/<key[:2]>/<key>.json``. Files are
written to a temporary name and moved into place with ``os.replace``, which is
atomic on POSIX and Windows, so threads, asyncio tasks and separate processes
can share one directory without locks: a reader sees either no file or a whole
one, and two writers of the same key write the same reply. The cost of that
simplicity is that two concurrent identical requests may both reach the server.

The key is the SHA-256 of the canonical JSON of everything that shapes the
reply: model, messages, temperature, seed, max_tokens, response_format,
base_url (and an optional tag, so that several samples of one request can be
cached side by side).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["CACHE_FORMAT", "ResponseCache", "request_key"]

CACHE_FORMAT = 1


def request_key(request: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of the canonical JSON of ``request`` (key order does not matter)."""
    canonical = json.dumps(
        {"format": CACHE_FORMAT, **request},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """A directory of cached replies; see the module docstring for the layout.

    ``hits`` and ``misses`` count lookups made through this object.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.directory)!r})"

    def path_for(self, key: str) -> Path:
        """Where the entry of ``key`` lives."""
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored reply for ``key``, or None (a missing or unreadable entry is a miss)."""
        try:
            with self.path_for(key).open(encoding="utf-8") as fh:
                entry = json.load(fh)
            reply = entry["reply"]
            if not isinstance(reply, dict):
                raise TypeError("reply is not an object")
        except (OSError, ValueError, KeyError, TypeError):
            with self._lock:
                self.misses += 1
            return None
        with self._lock:
            self.hits += 1
        return reply

    def put(self, key: str, request: Mapping[str, Any], reply: Mapping[str, Any]) -> None:
        """Store ``reply`` (JSON-serializable) for ``key``; the request is kept for inspection."""
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "format": CACHE_FORMAT,
            "key": key,
            "created": time.time(),
            "request": dict(request),
            "reply": dict(reply),
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(entry, fh, ensure_ascii=False, default=str)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("??/*.json"))

    def clear(self) -> None:
        """Delete every entry (the directory itself stays)."""
        for path in self.directory.glob("??/*.json"):
            path.unlink(missing_ok=True)
