"""Human feedback rules as data: error category → which context to show and a corrective message.

PROMST puts human effort into rules rather than prompts. A rule file is TOML::

    extends = ["common"]            # built-in rule files (or paths) merged first

    [rules.collision]
    label = "Collision"             # the heading the optimizer LLM sees
    show_prompt = false             # include the task prompt
    show_reply = true               # include the offending reply (the last one)
    last_rounds = 0                 # include the last k rounds (state, reply, feedback)
    message = "The robot ran into $detail. Check every cell of a path against the obstacles."

    [rules.default]                 # any category without its own rule
    show_reply = true
    message = "The episode ended with $category: $detail"

``message`` may use ``$category``, ``$kind``, ``$detail``, ``$steps``,
``$max_steps``, ``$score`` and ``$instance``; an unknown placeholder is an error
when the file is loaded, not when the search runs. Built-in files live in
``agent/promst/rules/`` (``common``, ``gridworld``, ``boxnet``, ``boxlift``,
``warehouse``, ``optiwise``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from agent.promst.episode import Episode, render_round
from agent.promst.task import SUCCESS

__all__ = ["PLACEHOLDERS", "Feedback", "FeedbackRule", "RuleError", "RuleSet", "builtin_rules"]

PLACEHOLDERS = frozenset({"category", "kind", "detail", "steps", "max_steps", "score", "instance"})
_FIELDS = frozenset({"label", "show_prompt", "show_reply", "last_rounds", "message"})


class RuleError(ValueError):
    """A rule file is malformed; the message names the file and the rule."""


@dataclass(frozen=True)
class FeedbackRule:
    """What to show the optimizer for one error category (see the module docstring)."""

    category: str
    label: str
    message: str
    show_prompt: bool = False
    show_reply: bool = False
    last_rounds: int = 0


@dataclass(frozen=True)
class Feedback:
    """The rule-rendered feedback of one failed episode."""

    category: str
    label: str
    text: str
    instance: str
    score: float


def builtin_rules() -> list[str]:
    """Names of the rule files shipped with the package."""
    root = resources.files("agent.promst").joinpath("rules")
    return sorted(e.name.removesuffix(".toml") for e in root.iterdir() if e.name.endswith(".toml"))


def _read(source: str | Path) -> tuple[str, str]:
    """(text, where) of a built-in name or a path."""
    if isinstance(source, Path) or str(source).endswith(".toml"):
        path = Path(source)
        if not path.is_file():
            raise RuleError(f"no rule file at {path}")
        return path.read_text(encoding="utf-8"), str(path)
    entry = resources.files("agent.promst").joinpath("rules", f"{source}.toml")
    if not entry.is_file():
        raise RuleError(
            f"no built-in rule file {source!r}; known: {', '.join(builtin_rules())} "
            "(or pass a path ending in .toml)"
        )
    return entry.read_text(encoding="utf-8"), f"rules/{source}.toml"


def _check_message(message: str, where: str) -> None:
    for match in Template.pattern.finditer(message):
        name = match.group("named") or match.group("braced")
        if name is not None and name not in PLACEHOLDERS:
            raise RuleError(
                f"{where}: unknown placeholder ${name}; use one of "
                f"{', '.join('$' + p for p in sorted(PLACEHOLDERS))} (write $$ for a dollar sign)"
            )


def _rule(category: str, data: Any, where: str, base: FeedbackRule | None) -> FeedbackRule:
    if not isinstance(data, Mapping):
        raise RuleError(f"{where}: [rules.{category}] must be a table")
    unknown = set(data) - _FIELDS
    if unknown:
        raise RuleError(
            f"{where}: [rules.{category}] has unknown field(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(_FIELDS))}"
        )
    rule = base or FeedbackRule(category, category.replace("_", " ").capitalize(), "")
    updates: dict[str, Any] = {}
    for name, kind in (
        ("label", str),
        ("message", str),
        ("show_prompt", bool),
        ("show_reply", bool),
    ):
        if name in data:
            if not isinstance(data[name], kind):
                raise RuleError(f"{where}: [rules.{category}] {name} must be {kind.__name__}")
            updates[name] = data[name]
    if "last_rounds" in data:
        k = data["last_rounds"]
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise RuleError(f"{where}: [rules.{category}] last_rounds must be an integer >= 0")
        updates["last_rounds"] = k
    rule = replace(rule, category=category, **updates)
    _check_message(rule.message, f"{where} [rules.{category}]")
    return rule


class RuleSet:
    """Feedback rules by category; renders the feedback of a failed episode."""

    def __init__(self, rules: Iterable[FeedbackRule]) -> None:
        self.rules: dict[str, FeedbackRule] = {r.category: r for r in rules}

    def __repr__(self) -> str:
        return f"RuleSet({sorted(self.rules)})"

    @classmethod
    def load(cls, *sources: str | Path) -> RuleSet:
        """Merge rule files in order (later wins, field by field); each may ``extends`` others."""
        merged: dict[str, FeedbackRule] = {}
        seen: set[str] = set()

        def load_one(source: str | Path) -> None:
            key = str(source)
            if key in seen:
                return
            seen.add(key)
            text, where = _read(source)
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as err:
                raise RuleError(f"{where}: not valid TOML: {err}") from None
            unknown = set(data) - {"extends", "rules"}
            if unknown:
                raise RuleError(
                    f"{where}: unknown top-level key(s) {', '.join(sorted(unknown))}; "
                    "expected 'extends' and [rules.<category>] tables"
                )
            extends = data.get("extends", [])
            if isinstance(extends, str):
                extends = [extends]
            for parent in extends:
                load_one(parent)
            rules = data.get("rules", {})
            if not isinstance(rules, Mapping):
                raise RuleError(f"{where}: 'rules' must be a table of [rules.<category>]")
            for category, body in rules.items():
                merged[category] = _rule(category, body, where, merged.get(category))

        for source in sources:
            load_one(source)
        return cls(merged.values())

    def rule_for(self, category: str) -> FeedbackRule:
        """The rule of ``category``, else the ``default`` rule, else a bare one."""
        if category in self.rules:
            return self.rules[category]
        if "default" in self.rules:
            return replace(self.rules["default"], category=category)
        return FeedbackRule(
            category, category.replace("_", " ").capitalize(), "$detail", show_reply=True
        )

    def feedback(self, episode: Episode, prompt: str) -> Feedback | None:
        """The feedback text for ``episode`` under ``prompt``; None for a success."""
        if episode.outcome == SUCCESS:
            return None
        rule = self.rule_for(episode.outcome)
        err = episode.error
        values = {
            "category": episode.outcome,
            "kind": err.kind if err else "",
            "detail": err.detail if err else "",
            "steps": str(episode.steps),
            "max_steps": str(episode.max_steps),
            "score": f"{episode.score:.2f}",
            "instance": episode.instance,
        }
        parts = [f"Error type: {rule.label} (instance: {episode.instance})"]
        if rule.show_prompt:
            parts.append(f"Task prompt:\n{prompt}")
        if rule.last_rounds and episode.rounds:
            shown = episode.rounds[-rule.last_rounds :]
            parts.append(
                f"Last {len(shown)} round(s):\n" + "\n\n".join(render_round(r) for r in shown)
            )
        if rule.show_reply and episode.rounds:
            parts.append(f"Offending reply:\n{episode.rounds[-1].reply}")
        message = Template(rule.message).safe_substitute(values)
        if message:
            parts.append(f"Feedback: {message}")
        return Feedback(
            episode.outcome, rule.label, "\n".join(parts), episode.instance, episode.score
        )
