"""Reading an optimizer LLM's reply, and turning suggested values into parameter values.

Small and fast models break JSON in predictable ways, so :func:`parse_reply`
tries, in order: the text inside a ```json fence (or the whole reply),
``json.loads``; the span from the first ``{`` to the last ``}``; the same
span with unclosed strings and brackets closed (a reply cut at the token
limit); and finally a key-by-key regex scan of the ``"suggestion"`` block
(tolerates missing commas and unescaped quotes in the middle). Key names are
matched loosely (``suggestions``, ``Suggestion``, ``updates`` ...), a bare
object whose keys are variable names counts as the suggestion, and variable
names are matched up to case, backticks and a ``:`` (``__code:8`` =
``__code8``).

:func:`cast_value` converts a suggested value to the parameter's type:
literals are parsed for numbers and structures (``"[1, 2]"`` becomes a list,
not a list of characters), text stays text, and code must parse and still
define the function it replaces.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from agent.opto.nodes import ParameterNode

__all__ = ["ParsedReply", "cast_value", "match_name", "parse_reply"]

_SUGGESTION_KEYS = (
    "suggestion",
    "suggestions",
    "suggested_values",
    "suggested_variables",
    "updates",
    "new_values",
    "variables",
    "proposal",
)
_REASONING_KEYS = ("reasoning", "reason", "thoughts", "thinking", "analysis", "explanation")
_ANSWER_KEYS = ("answer", "final_answer")
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)


@dataclass
class ParsedReply:
    """What a reply said; ``method`` names the fallback that succeeded (for the log)."""

    suggestion: dict[str, Any] = field(default_factory=dict)
    reasoning: str = ""
    answer: str = ""
    terminated: bool = False
    method: str = "none"
    notes: list[str] = field(default_factory=list)


def _strip_fences(text: str) -> str:
    for match in _FENCE.finditer(text):
        if "{" in match.group(2):
            return match.group(2)
    stripped = text.strip()
    if stripped.startswith("```"):  # an unclosed fence (cut at the token limit)
        return re.sub(r"^```[A-Za-z0-9_+-]*\s*", "", stripped)
    return text


def _close_partial(text: str) -> str:
    """Close an unterminated string and open brackets, dropping a dangling comma or key."""
    stack: list[str] = []
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    fixed = text + ('"' if in_string else "")
    fixed = re.sub(r"[,:\s]+$", "", fixed)
    return fixed + "".join(reversed(stack))


def _loads_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text, strict=False)
    except (json.JSONDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


_PAIR = re.compile(
    r'"([^"\n]+)"\s*:\s*("(?:[^"\\]|\\.)*"|\[[^\]]*\]|\{[^}]*\}|[^,}\s"]+)', re.DOTALL
)


def _scan_suggestion(text: str) -> dict[str, Any]:
    """Last resort: ``"key": value`` pairs after the suggestion key, one by one."""
    keys = "|".join(_SUGGESTION_KEYS)
    match = re.search(r'"(?:' + keys + r')"\s*:\s*\{', text, re.IGNORECASE)
    if match is None:
        return {}
    body = text[match.end() :]
    found: dict[str, Any] = {}
    for key, raw in _PAIR.findall(body):
        raw = raw.strip()
        try:
            found[key] = json.loads(raw, strict=False)
        except (json.JSONDecodeError, ValueError):
            found[key] = raw.strip('"')
    return found


def _lookup(data: Mapping[str, Any], keys: Iterable[str]) -> tuple[bool, Any]:
    lowered = {str(k).strip().lower(): v for k, v in data.items()}
    for key in keys:
        if key in lowered:
            return True, lowered[key]
    return False, None


def match_name(key: str, names: Iterable[str]) -> str | None:
    """The variable name ``key`` refers to (exact, then loose), or None."""
    names = list(names)
    if key in names:
        return key
    norm = re.sub(r"^\([^)]*\)\s*", "", str(key)).strip().strip("`'\"#").replace(":", "").lower()
    for name in names:
        if name.lower() == norm:
            return name
    return None


def parse_reply(text: str, names: Iterable[str] = ()) -> ParsedReply:
    """Parse an optimizer reply (see the module docstring); never raises."""
    names = list(names)
    result = ParsedReply(terminated="TERMINATE" in text)
    body = _strip_fences(text)
    data = _loads_object(body)
    method = "json"
    if data is None:
        start, end = body.find("{"), body.rfind("}")
        if start != -1 and end > start:
            data = _loads_object(body[start : end + 1])
            method = "braces"
    if data is None and "{" in body:
        data = _loads_object(_close_partial(body[body.find("{") :]))
        method = "repaired"
    if data is None:
        scanned = _scan_suggestion(body)
        if scanned:
            data = {"suggestion": scanned}
            method = "scan"
    if data is None:
        result.notes.append("no JSON object found in the reply")
        return result
    result.method = method
    ok, reasoning = _lookup(data, _REASONING_KEYS)
    result.reasoning = str(reasoning) if ok and reasoning is not None else ""
    ok, answer = _lookup(data, _ANSWER_KEYS)
    result.answer = str(answer) if ok and answer is not None else ""
    ok, suggestion = _lookup(data, _SUGGESTION_KEYS)
    if not ok or not isinstance(suggestion, Mapping):
        bare = {k: v for k, v in data.items() if match_name(k, names) is not None}
        suggestion = bare
        if bare:
            result.notes.append("suggestion given as a bare object")
    for key, value in suggestion.items():
        name = match_name(str(key), names) if names else str(key)
        if name is None:
            result.notes.append(f"ignored unknown variable {key!r}")
            continue
        result.suggestion[name] = value
    return result


def _strip_code_fence(text: str) -> str:
    match = _FENCE.search(text)
    return match.group(2) if match else text


def cast_value(param: ParameterNode, value: Any) -> Any:
    """``value`` converted to ``param``'s type; raises ValueError saying why it cannot be."""
    old = param._data
    if param.is_code:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"code for {param.py_name} must be non-empty Python source")
        code = _strip_code_fence(value)
        try:
            tree = ast.parse(code)
        except SyntaxError as exc:
            raise ValueError(
                f"code for {param.py_name} does not parse: line {exc.lineno}: {exc.msg}"
            ) from exc
        wanted = _function_name(str(old))
        defined = {
            n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        if wanted is not None and wanted not in defined:
            raise ValueError(f"code for {param.py_name} must define the function {wanted}")
        return code if code.endswith("\n") else code + "\n"
    if isinstance(old, bool):
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "yes", "1"):
                return True
            if lowered in ("false", "no", "0"):
                return False
            raise ValueError(f"{value!r} is not a boolean")
        return bool(value)
    if isinstance(old, (int, float, complex)):
        try:
            number = _literal(value) if isinstance(value, str) else value
        except ValueError:
            number = None
        if isinstance(number, bool) or not isinstance(number, (int, float, complex)):
            raise ValueError(f"{value!r} is not a number")
        if isinstance(old, int) and isinstance(number, float):
            return round(number)
        return type(old)(cast(Any, number))
    if isinstance(old, str):
        if isinstance(value, str):
            return value
        return (
            json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)
        )
    if isinstance(old, (list, tuple, dict, set, frozenset)):
        structure = _literal(value) if isinstance(value, str) else value
        if isinstance(old, dict) and not isinstance(structure, dict):
            raise ValueError(f"{_short(value)} is not a mapping")
        if not isinstance(old, dict) and not isinstance(structure, (list, tuple, set, frozenset)):
            raise ValueError(f"{_short(value)} is not a sequence")
        return type(old)(structure)
    if old is None:
        return _literal(value) if isinstance(value, str) else value
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


def _literal(text: str) -> Any:
    text = text.strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ValueError(f"{_short(text)} is not a literal") from exc


def _function_name(code: str) -> str | None:
    match = re.search(r"^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)", code, re.MULTILINE)
    return match.group(1) if match else None
