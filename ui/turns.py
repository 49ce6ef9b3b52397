"""A chat turn that a rerun cannot cut short (the Chat page's turns).

Streamlit stops a running script at its next ``st`` call when the person sends
another message or clicks anything. A chat turn draws its progress while the
agent works, so such a rerun abandoned the turn half-way: its reply was never
shown nor saved and the thread kept a checked but unsolved model. With
``runner.fastReruns = false`` (``.streamlit/config.toml``) the rerun arrives as
a ``RerunException`` at such a call, which :class:`DeferredRerun` holds back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamlit.runtime.scriptrunner import RerunException

__all__ = ["DeferredRerun"]


class DeferredRerun:
    """Holds back a rerun that arrives while a turn runs, until the turn's reply is kept.

    Every ``st`` call made during a turn goes through :meth:`call`, which keeps
    the first rerun request and skips later drawing; :meth:`reraise` hands the
    request to Streamlit once the reply is stored, so the new message is then
    answered after this one, from the finished turn. Stop (``StopException``)
    is not held back.
    """

    def __init__(self) -> None:
        self.pending: RerunException | None = None

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """``fn(*args, **kwargs)``; a rerun it raises is kept for :meth:`reraise`."""
        if self.pending is not None:  # the page is redrawn anyway: skip the drawing
            return
        try:
            fn(*args, **kwargs)
        except RerunException as exc:
            self.pending = exc

    def reraise(self) -> None:
        """Let Streamlit rerun now, when a rerun was asked for during the turn."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            raise pending
