"""Keep what C libraries print off standard output: the one fd-1 redirection.

Why this exists: ``optiwise solve --json`` (and ``ask --json``, ``evals run
--json``) promise a standard output holding one JSON document, but HiGHS prints
a banner from C++ the first time it is constructed, solvers log to file
descriptor 1 from C, and Pyomo logs to ``sys.stdout``. Redirecting
``sys.stdout`` alone misses the C writes; redirecting fd 1 catches both.

Two rules every earlier copy learnt the hard way:

* C stdio buffers are flushed on entry *and* on exit, else text buffered
  before the redirection leaks into it, or text written inside it (into a
  pipe's buffer) comes out after fd 1 is restored;
* nested and concurrent uses share one redirection, undone when the last one
  ends; two threads each saving and restoring fd 1 on their own would leave
  it pointing at stderr for good.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any, Literal

_LOCK = threading.RLock()
_depth = 0
_saved: tuple[int | None, Any] | None = None  # (duplicate of the real fd 1, real sys.stdout)


def flush_c_stdio() -> None:
    """Flush every C ``FILE*`` buffer of the process (``fflush(NULL)``); never raises."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).fflush(None)


def _flush_all() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    flush_c_stdio()


@contextlib.contextmanager
def redirect_stdout(
    to: Literal["stderr", "devnull"] = "stderr", enabled: bool = True
) -> Iterator[None]:
    """Send standard output (file descriptor 1 and ``sys.stdout``) elsewhere for a while.

    Args:
        to: ``"stderr"`` keeps the text visible on standard error (solver logs,
            the CLI's ``--json`` commands); ``"devnull"`` discards it (HiGHS'
            one-time copyright banner).
        enabled: ``False`` makes this a no-op, so callers can write
            ``with redirect_stdout(enabled=not verbose):``.

    ``"stderr"`` redirections nest and may overlap across threads: the first
    one in redirects, the last one out restores. A ``"devnull"`` redirection is
    exclusive and short: it holds the lock while it lasts and restores what fd 1
    pointed to before (which may be an enclosing ``"stderr"`` redirection).

    >>> with redirect_stdout():
    ...     print("to stderr")
    """
    if not enabled:
        yield
        return
    if to == "devnull":
        with _LOCK, open(os.devnull, "w") as devnull:
            _flush_all()
            saved, stream = os.dup(1), sys.stdout
            try:
                os.dup2(devnull.fileno(), 1)
                sys.stdout = devnull
                yield
            finally:
                _flush_all()  # a pipe's C buffer would print it after fd 1 is back
                sys.stdout = stream
                os.dup2(saved, 1)
                os.close(saved)
        return
    _enter()
    try:
        yield
    finally:
        _exit()


def _enter() -> None:
    global _depth, _saved
    with _LOCK:
        if _depth == 0:
            _flush_all()
            fd: int | None
            try:
                fd = os.dup(1)
                os.dup2(2, 1)
            except OSError:
                fd = None
            _saved = (fd, sys.stdout)
            sys.stdout = sys.stderr
        _depth += 1


def _exit() -> None:
    global _depth, _saved
    with _LOCK:
        _depth -= 1
        if _depth == 0 and _saved is not None:
            fd, stream = _saved
            _saved = None
            _flush_all()
            sys.stdout = stream
            if fd is not None:
                os.dup2(fd, 1)
                os.close(fd)


__all__ = ["flush_c_stdio", "redirect_stdout"]
