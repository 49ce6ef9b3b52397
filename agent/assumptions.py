"""Stated assumptions in a conversation: list them, ask for the data, and notice it arriving.

A formulation may say what the problem text left out and what the model assumed
instead (spec v1.2, ``assumptions: [{text, parameters}]``). The chat shows them
after a new problem is formulated and asks the person to confirm them or to give
the data; the follow-up that gives it ("the capacity is 120") is an ordinary
edit, after which the assumption standing in for that data is gone::

    stated_assumptions(doc)                 # [{"text": ..., "parameters": [...]}, ...]
    assumptions_note(doc)                   # the lines the chat appends to its reply
    doc, resolved = resolve_assumptions(before, after)
    is_confirmation("Yes, those are fine.")  # True: keep them, no LLM call

The raw document is read (not :class:`modeling.formulation.Formulation`), so a
document the checker has not accepted yet still shows what it assumed.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "assumptions_note",
    "confirmed_note",
    "is_confirmation",
    "resolve_assumptions",
    "resolved_note",
    "stated_assumptions",
]


def stated_assumptions(document: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The document's assumptions as ``{"text", "parameters"}`` (entries without text skipped)."""
    raw = (document or {}).get("assumptions")
    if not isinstance(raw, list):
        return []
    out: list[dict[str, Any]] = []
    for entry in raw:
        if not isinstance(entry, Mapping):
            continue
        text = str(entry.get("text") or "").strip()
        if not text:
            continue
        names = entry.get("parameters") or []
        if isinstance(names, str):
            names = [names]
        out.append({"text": text, "parameters": [str(n) for n in names]})
    return out


def _line(a: Mapping[str, Any]) -> str:
    names = a.get("parameters") or []
    cited = f" (affects {', '.join(f'`{n}`' for n in names)})" if names else ""
    return f"- {a['text']}{cited}"


def assumptions_note(document: Mapping[str, Any] | None) -> str:
    """What the chat appends to a new model's reply: the assumptions and a request for data.

    Empty when the document states none.
    """
    found = stated_assumptions(document)
    if not found:
        return ""
    example = next((n for a in found for n in a["parameters"]), "")
    hint = f' (for example "the {example} is …")' if example else ""
    return (
        "**The problem text left some data out; this model assumes:**\n"
        + "\n".join(_line(a) for a in found)
        + "\n\nPlease confirm these assumptions, or give the missing data"
        + hint
        + " and I will change the model."
    )


def resolved_note(resolved: Sequence[Mapping[str, Any]], still: Sequence[Mapping[str, Any]]) -> str:
    """What the chat appends after an edit: assumptions it settled and those still standing."""
    parts = []
    if resolved:
        parts.append(
            "**No longer assumed** (you gave the data):\n" + "\n".join(_line(a) for a in resolved)
        )
    if resolved and still:
        parts.append("**Still assumed:**\n" + "\n".join(_line(a) for a in still))
    return "\n\n".join(parts)


def _parameter_values(document: Mapping[str, Any] | None) -> dict[str, Any]:
    params = (document or {}).get("parameters")
    return dict(params) if isinstance(params, Mapping) else {}


def resolve_assumptions(
    before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``after`` without the assumptions an edit settled, and those settled ones.

    An assumption is settled when the edit (from ``before`` to ``after``) dropped it
    (the LLM used the data given), or when every parameter it cites took a new
    value in the edit: that value is the person's, not the assumed one. The model
    itself is unchanged (assumptions never change what a document solves to).
    """
    old = stated_assumptions(before)
    new = stated_assumptions(after)
    old_params, new_params = _parameter_values(before), _parameter_values(after)
    changed = {n for n in new_params if n in old_params and new_params[n] != old_params[n]}
    kept_texts = {a["text"] for a in new}
    resolved = [a for a in old if a["text"] not in kept_texts]
    still = []
    for a in new:
        cited = set(a["parameters"])
        if cited and cited <= changed:
            resolved.append(a)
        else:
            still.append(a)
    doc = copy.deepcopy(dict(after))
    if len(still) != len(new):
        kept = {a["text"] for a in still}
        raw = doc.get("assumptions") or []
        doc["assumptions"] = [
            e for e in raw if not isinstance(e, Mapping) or str(e.get("text") or "").strip() in kept
        ]
        if not doc["assumptions"]:
            doc.pop("assumptions")
    return doc, resolved


_CONFIRM = re.compile(
    r"^\s*(yes|yep|yeah|ok|okay|sure|correct|confirm|confirmed|i confirm|agreed|agree|fine|"
    r"right|that'?s (right|fine|correct|ok)|(looks|sounds|seems) (good|right|fine|ok)|"
    r"(they|those|these|the assumptions) (are|look|sound) (fine|right|good|correct|ok))\b",
    re.IGNORECASE,
)
_BUT = re.compile(r"\b(but|except|however|instead|not|no|change|actually)\b|\d", re.IGNORECASE)


def is_confirmation(message: str) -> bool:
    """True for a short "yes, those are fine" that confirms the assumptions as they stand.

    A message with a number or a "but" ("yes, but the capacity is 120") gives data:
    it is an edit, not a confirmation.
    """
    text = message.strip()
    return len(text) <= 80 and bool(_CONFIRM.match(text)) and not _BUT.search(text)


def confirmed_note(document: Mapping[str, Any] | None) -> str:
    """The reply to a confirmation: the model keeps its assumptions as stated."""
    found = stated_assumptions(document)
    return (
        "Noted: the model keeps these assumptions as stated.\n"
        + "\n".join(_line(a) for a in found)
        + "\n\nGive the data any time to replace one."
    )
