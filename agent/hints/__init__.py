"""Modeling hints by problem class, as data: ``agent/hints/<class>.toml``.

Each file holds a ``title``, ``keywords`` (words and phrases that mark the class
in a problem text) and ``hints`` (short modeling advice written by us). The
formulate step picks the class whose keywords score highest on the problem
(:func:`pick_class`: keyword counting, no LLM call) and shows its hints after the
few-shot examples (:func:`render_hints`). ``AgentConfig.hints`` (``optiwise ask
--no-hints``) turns them off, so their effect can be measured by ablation.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources

__all__ = ["MIN_SCORE", "HintClass", "hint_classes", "pick_class", "render_hints", "score"]

MIN_SCORE = 3
"""Keyword hits a class needs before its hints are shown (fewer is noise)."""


@dataclass(frozen=True)
class HintClass:
    """One problem class: its name (the file's stem), title, keywords and hints."""

    name: str
    title: str
    keywords: tuple[str, ...]
    hints: tuple[str, ...]


@functools.cache
def hint_classes() -> tuple[HintClass, ...]:
    """Every packaged hint class, in name order."""
    out = []
    root = resources.files(__name__)
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        data = tomllib.loads(entry.read_text(encoding="utf-8"))
        try:
            out.append(
                HintClass(
                    name=entry.name.removesuffix(".toml"),
                    title=str(data["title"]),
                    keywords=tuple(str(k).lower() for k in data["keywords"]),
                    hints=tuple(str(h) for h in data["hints"]),
                )
            )
        except KeyError as exc:
            raise ValueError(
                f"agent/hints/{entry.name}: missing key {exc}; a hint file needs "
                "title, keywords and hints"
            ) from None
    return tuple(out)


@functools.cache
@functools.lru_cache(maxsize=1024)
def _pattern(keyword: str) -> re.Pattern[str]:
    # whole words, plurals too ("task" matches "tasks"); a stem like "diversif" its endings
    tail = r"\w*" if keyword.endswith("if") else r"(?:s|es)?\b"
    return re.compile(r"\b" + re.escape(keyword) + tail)


def score(text: str, cls: HintClass) -> int:
    """How many of ``cls``'s keywords occur in ``text`` (each counted once; phrases twice)."""
    return _score_lower(text.lower(), cls)


def _score_lower(low: str, cls: HintClass) -> int:
    # the plain substring test first: a keyword's pattern can only match where the keyword
    # occurs, and the test is ~100x cheaper than the regex (pick_class runs on every formulate)
    return sum(
        (2 if " " in k or "-" in k else 1)
        for k in cls.keywords
        if k in low and _pattern(k).search(low)
    )


def pick_class(text: str) -> HintClass | None:
    """The class whose keywords score highest on ``text`` (at least :data:`MIN_SCORE`)."""
    best: tuple[int, str, HintClass] | None = None
    low = text.lower()
    for cls in hint_classes():
        s = _score_lower(low, cls)
        if s >= MIN_SCORE and (best is None or s > best[0]):
            best = (s, cls.name, cls)
    return best[2] if best else None


def render_hints(cls: HintClass | None) -> str:
    """The hints as a prompt section ('' for no class)."""
    if cls is None:
        return ""
    lines = "\n".join(f"- {h}" for h in cls.hints)
    return (
        f"## Modeling hints: {cls.title}\n\n"
        "The problem looks like this class; use the hints that apply and ignore the rest.\n\n"
        f"{lines}"
    )
