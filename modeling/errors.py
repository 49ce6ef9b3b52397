"""Typed, located errors about a formulation.

Every problem found in a document is an :class:`Issue` with a location inside
the document (``constraints[2].expression``), a short message and a hint that
says what to write instead.  The agent's repair loop feeds these back to the
LLM, so they are kept precise and short.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Issue:
    """One problem in a formulation document."""

    location: str
    message: str
    hint: str = ""
    code: str = "invalid"

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def to_dict(self) -> dict[str, str]:
        """The spec's error object (``location``, ``message``) plus hint and code."""
        return asdict(self)


class FormulationError(ValueError):
    """A document that breaks the formulation spec; carries every issue found."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues: list[Issue] = list(issues)
        if not self.issues:
            self.issues = [Issue("", "invalid formulation")]
        super().__init__(self._summary())

    def __reduce__(self) -> tuple[type[FormulationError], tuple[list[Issue]]]:
        """Pickle as its issues (a worker process sends it back whole, message included)."""
        return (type(self), (self.issues,))

    def _summary(self) -> str:
        head = "; ".join(str(i) for i in self.issues[:3])
        more = len(self.issues) - 3
        return head + (f"; and {more} more" if more > 0 else "")


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A 'did you mean …?' hint for a misspelt name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""
