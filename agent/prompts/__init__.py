"""Prompts as data: ``agent/prompts/<name>.md``, loaded by name, rendered with ``$var``.

Prompts are parameters of the agent: the tuning optimizers rewrite them, and a
tuned set is saved to a directory and loaded back. Code never hard-codes
prompt text.

Rendering uses ``string.Template`` syntax: ``$problem`` or ``${problem}``,
``$$`` for a literal dollar sign. It was picked over ``str.format`` because
prompts are full of JSON braces. A placeholder without a value raises
:class:`PromptError`; extra values are ignored (a tuned prompt may drop one);
a ``$`` not followed by a name (``$5``) stays as written. Non-string values
are rendered as indented JSON when they are dicts or lists, else with ``str``::

    prompts = PromptSet.default()
    text = prompts.render("repair", problem=p, document=doc_dict, errors="\\n".join(errs))
    tuned = prompts.updated(formulate="...new text with $problem and $examples...")
    tuned.save("runs/tuned-prompts"); PromptSet.load("runs/tuned-prompts")
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from string import Template

__all__ = ["PROMPT_NAMES", "PromptError", "PromptSet", "load_prompt"]

PROMPT_NAMES = (
    "system",
    "formulate",
    "repair",
    "explain",
    "review",
    "edit",
    "code",
    "code_repair",
    "tool_chat",
)
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


class PromptError(ValueError):
    """A prompt is unknown, or rendering it lacks a variable."""


def _builtin_names() -> list[str]:
    root = resources.files(__name__)
    return sorted(
        entry.name.removesuffix(".md") for entry in root.iterdir() if entry.name.endswith(".md")
    )


def load_prompt(name: str) -> str:
    """The text of the built-in prompt ``name`` (``agent/prompts/<name>.md``)."""
    if not _NAME.match(name):
        raise PromptError(f"invalid prompt name {name!r}")
    entry = resources.files(__name__).joinpath(f"{name}.md")
    if not entry.is_file():
        known = ", ".join(_builtin_names())
        raise PromptError(f"no built-in prompt named {name!r}; known prompts: {known}")
    return entry.read_text(encoding="utf-8")


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2, ensure_ascii=False)
    return str(value)


class PromptSet(Mapping[str, str]):
    """An immutable mapping prompt name → template text."""

    def __init__(self, prompts: Mapping[str, str]) -> None:
        for name, text in prompts.items():
            if not _NAME.match(name):
                raise PromptError(f"invalid prompt name {name!r}: use letters, digits, _ and -")
            if not isinstance(text, str):
                raise PromptError(f"prompt {name!r} must be text, got {type(text).__name__}")
        self._prompts = dict(prompts)

    @classmethod
    def default(cls) -> PromptSet:
        """The prompts shipped with the package."""
        return _default_set()

    @classmethod
    def load(cls, directory: str | Path, *, defaults: bool = True) -> PromptSet:
        """Read every ``*.md`` of ``directory``; with ``defaults``, built-ins fill the gaps.

        So a tuned set that saved only ``formulate.md`` still has a ``system`` prompt.
        """
        folder = Path(directory)
        if not folder.is_dir():
            raise PromptError(f"no prompt directory at {folder}")
        loaded = {p.stem: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.md"))}
        base = dict(_default_set()) if defaults else {}
        return cls({**base, **loaded})

    def save(self, directory: str | Path) -> Path:
        """Write each prompt to ``directory/<name>.md`` (created if needed); returns the path."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in self._prompts.items():
            (folder / f"{name}.md").write_text(text, encoding="utf-8")
        return folder

    def updated(self, prompts: Mapping[str, str] | None = None, **more: str) -> PromptSet:
        """A new set with some prompts replaced or added (this one is unchanged)."""
        return PromptSet({**self._prompts, **(prompts or {}), **more})

    def __getitem__(self, name: str) -> str:
        try:
            return self._prompts[name]
        except KeyError:
            known = ", ".join(sorted(self._prompts))
            raise PromptError(f"no prompt named {name!r} in this set; known: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._prompts

    def __iter__(self) -> Iterator[str]:
        return iter(self._prompts)

    def __len__(self) -> int:
        return len(self._prompts)

    def __repr__(self) -> str:
        return f"PromptSet({sorted(self._prompts)}, digest={self.digest()[:12]!r})"

    def variables(self, name: str) -> frozenset[str]:
        """The ``$placeholders`` prompt ``name`` expects."""
        found = set()
        for match in Template.pattern.finditer(self[name]):
            var = match.group("named") or match.group("braced")
            if var:
                found.add(var)
        return frozenset(found)

    def render(self, name: str, /, **variables: object) -> str:
        """Prompt ``name`` with its ``$placeholders`` filled in (see the module docstring)."""
        missing: list[str] = []

        def fill(match: re.Match[str]) -> str:
            var = match.group("named") or match.group("braced")
            if var is not None:
                if var in variables:
                    return _as_text(variables[var])
                missing.append(var)
                return match.group(0)
            if match.group("escaped") is not None:
                return "$"
            return match.group(0)

        text = Template.pattern.sub(fill, self[name])
        if missing:
            names = ", ".join(f"${v}" for v in dict.fromkeys(missing))
            raise PromptError(
                f"prompt {name!r} needs {names}; pass them as render({name!r}, {missing[0]}=...)"
            )
        return text

    def digest(self) -> str:
        """SHA-256 of the whole set: record it with an eval run to know which prompts ran."""
        canonical = json.dumps(self._prompts, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@functools.cache
def _default_set() -> PromptSet:
    return PromptSet({name: load_prompt(name) for name in _builtin_names()})
