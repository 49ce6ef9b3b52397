"""Candidate generation: PROMST's summarize-then-rewrite, and the APE and APO baselines.

PROMST (per child, an independent draw): shuffle the parent's rule feedback;
per error category pool the texts up to ``feedback_tokens`` and ask the
optimizer LLM for a concise summary (one call per category); then one rewrite
call with the current prompt, the summaries and the chain of ancestor prompts.

APE: one call asking for a semantics-preserving variation of the prompt.
APO (ProTeGi-style): one "gradient" call with the last two rounds of each failed
episode ("why did the prompt lead to this?"), then the same rewrite call.

Every method produces children only for a parent that had failures. The
optimizer prompts are data in ``agent/promst/prompts/`` (``summarize``,
``rewrite``, ``ape``, ``apo_gradient``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from string import Template
from typing import Any, Literal

from agent.llm import ChatModel, user
from agent.promst.episode import approx_tokens, render_round
from agent.promst.evaluate import Evaluation

__all__ = [
    "METHODS",
    "CandidateGenerator",
    "GeneratorConfig",
    "Method",
    "Proposal",
    "load_template",
]

Method = Literal["promst", "ape", "apo"]
METHODS: tuple[Method, ...] = ("promst", "ape", "apo")


def load_template(name: str) -> Template:
    """An optimizer prompt template shipped in ``agent/promst/prompts/<name>.md``."""
    entry = resources.files("agent.promst").joinpath("prompts", f"{name}.md")
    if not entry.is_file():
        raise FileNotFoundError(f"no PROMST prompt template {name!r} in agent/promst/prompts/")
    return Template(entry.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class GeneratorConfig:
    """``feedback_tokens`` bounds the pooled feedback per category (PROMST's default 15k)."""

    method: Method = "promst"
    feedback_tokens: int = 15_000
    apo_examples: int = 4
    llm_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Proposal:
    """A generated prompt and why: the per-category summaries (or APO gradient) behind it."""

    text: str
    method: Method
    rationale: dict[str, str] = field(default_factory=dict)


_FENCE = re.compile(r"^```[a-zA-Z]*\n(.*?)\n```$", re.S)
_TAGGED = re.compile(r"^<prompt>\s*(.*?)\s*</prompt>$", re.S)


def clean_prompt(reply: str) -> str:
    """The prompt text of an optimizer reply: fences, <prompt> tags and outer quotes removed."""
    text = reply.strip()
    for pattern in (_FENCE, _TAGGED):
        match = pattern.match(text)
        if match:
            text = match.group(1).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


class CandidateGenerator:
    """Proposes children of a prompt from its evaluation, through the optimizer LLM."""

    def __init__(
        self, llm: ChatModel, config: GeneratorConfig | None = None, *, seed: int = 0
    ) -> None:
        self.llm = llm
        self.config = config or GeneratorConfig()
        if self.config.method not in METHODS:
            raise ValueError(
                f"unknown method {self.config.method!r}; choose from {', '.join(METHODS)}"
            )
        self.rng = random.Random(seed)
        self._draw = 0
        self._templates = {
            name: load_template(name) for name in ("summarize", "rewrite", "ape", "apo_gradient")
        }

    def _ask(self, text: str) -> str:
        self._draw += 1
        # Independent draws of one prompt must not share a cached reply.
        options = {"cache_tag": f"promst-draw-{self._draw}", **self.config.llm_options}
        return self.llm.complete([user(text)], **options).content

    def children(self, evaluation: Evaluation, ancestors: Sequence[str], n: int) -> list[Proposal]:
        """Up to ``n`` children of ``evaluation.prompt`` (none if it had no failures).

        ``ancestors`` are the prompts from the root to the parent's parent.
        """
        if not evaluation.errors:
            return []
        method = self.config.method
        out = []
        for _ in range(n):
            if method == "ape":
                out.append(self._ape(evaluation))
            elif method == "apo":
                out.append(self._apo(evaluation, ancestors))
            else:
                out.append(self._promst(evaluation, ancestors))
        return out

    def summaries(self, evaluation: Evaluation) -> dict[str, str]:
        """One summary per error category (one LLM call each), from shuffled pooled feedback."""
        items = list(evaluation.feedback)
        self.rng.shuffle(items)
        pools: dict[str, list[str]] = {}
        labels: dict[str, str] = {}
        used: dict[str, int] = {}
        for item in items:
            cost = approx_tokens(item.text)
            if used.get(item.category, 0) + cost > self.config.feedback_tokens and pools.get(
                item.category
            ):
                continue
            pools.setdefault(item.category, []).append(item.text)
            labels[item.category] = item.label
            used[item.category] = used.get(item.category, 0) + cost
        out: dict[str, str] = {}
        for category in sorted(pools):
            text = self._templates["summarize"].substitute(
                prompt=evaluation.prompt,
                label=labels[category],
                category=category,
                feedback="\n\n---\n\n".join(pools[category]),
            )
            out[category] = self._ask(text).strip()
        return out

    def rewrite(self, prompt: str, summaries: dict[str, str], ancestors: Sequence[str]) -> str:
        """The rewrite call: current prompt, error summaries and the ancestor chain."""
        chain = [*ancestors, prompt]
        text = self._templates["rewrite"].substitute(
            prompt=prompt,
            summaries="\n\n".join(
                f"Error type {i}: {category}\n{summary}"
                for i, (category, summary) in enumerate(summaries.items(), 1)
            ),
            ancestors="\n\n".join(f"Prompt {i}:\n{p}" for i, p in enumerate(chain, 1)),
        )
        return clean_prompt(self._ask(text))

    def _promst(self, evaluation: Evaluation, ancestors: Sequence[str]) -> Proposal:
        summaries = self.summaries(evaluation)
        return Proposal(self.rewrite(evaluation.prompt, summaries, ancestors), "promst", summaries)

    def _ape(self, evaluation: Evaluation) -> Proposal:
        text = self._templates["ape"].substitute(prompt=evaluation.prompt)
        return Proposal(clean_prompt(self._ask(text)), "ape")

    def _apo(self, evaluation: Evaluation, ancestors: Sequence[str]) -> Proposal:
        failed = [e for e in evaluation.episodes if not e.success]
        self.rng.shuffle(failed)
        examples = []
        for episode in failed[: self.config.apo_examples]:
            rounds = "\n\n".join(render_round(r) for r in episode.rounds[-2:])
            examples.append(f"Example ({episode.outcome}):\n{rounds}")
        gradient = self._ask(
            self._templates["apo_gradient"].substitute(
                prompt=evaluation.prompt, errors="\n\n---\n\n".join(examples)
            )
        ).strip()
        rationale = {"gradient": gradient}
        return Proposal(self.rewrite(evaluation.prompt, rationale, ancestors), "apo", rationale)
