"""How verify findings become the repair message: a trainable code hook.

The repair prompt's ``$errors`` section is written by one small function,
``repair_feedback(findings) -> str``. The built-in one (:func:`repair_feedback`)
formats each finding as ``location: message (hint)`` with its detail, or its
evidence when the message does not already say it, indented below. That is
exactly what the agent did before the hook existed.

``optiwise tune --components repair,repair_feedback`` lets the optimizer LLM
rewrite the function's source (a code parameter, see :mod:`agent.opto`).
Code an LLM wrote is never executed in our process: :func:`repair_errors` runs
a non-default source in :func:`agent.sandbox.run_python` (bubblewrap when
available: no network, no file system but its work folder, no view of our
process or environment, memory and time limits), one short child process per
repair message. That costs ~0.1 s, once per repair round, next to an LLM call
of seconds, so per-call isolation is affordable and a restricted template
language (less expressive, still an attack surface) is not needed. A hook that
fails (syntax, exception, time-out, a non-string result) never breaks a run:
the built-in formatting is used and the failure is kept in :data:`last_failure`.

::

    from agent.feedback import repair_errors, DEFAULT_SOURCE, check_hook
    repair_errors(findings)                  # the built-in formatting, in-process
    repair_errors(findings, hook=tuned_src)  # the tuned function, sandboxed
    check_hook(tuned_src)                    # None, or why it cannot be used

The agent takes a tuned hook from ``AgentConfig.repair_hook`` (its source).
"""

from __future__ import annotations

import ast
import inspect
import json
import threading
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

__all__ = [
    "DEFAULT_SOURCE",
    "HOOK_NAME",
    "SAMPLE_FINDINGS",
    "HookError",
    "check_hook",
    "evidence_line",
    "last_failure",
    "repair_errors",
    "repair_feedback",
    "run_hook",
]

HOOK_NAME = "repair_feedback"
"""The function a hook's source must define (same name, one argument: the findings)."""

_MARK = "OPTIWISE_HOOK_OUTPUT "
_MAX_CHARS = 20_000  # a hook's message longer than this is cut


class HookError(ValueError):
    """A hook's source could not be used; the message says why (and where, for syntax)."""


def evidence_line(finding: Mapping[str, Any]) -> str:
    """The evidence of a finding as a repair-prompt detail, unless the message says it."""
    evidence = str(finding.get("evidence") or "")
    return (
        f"evidence: {evidence}" if evidence and evidence not in str(finding.get("message")) else ""
    )


def repair_feedback(findings: list[dict[str, Any]]) -> str:
    """Turn the findings of the last attempt into the repair prompt's error list.

    Each finding is a dict with 'location', 'message', optional 'hint', 'code',
    'severity', 'detail' and 'evidence'. One line per finding:
    'location: message (hint)', then its detail (or, if the message does not
    already contain it, 'evidence: ...') indented by two spaces.
    """
    lines = []
    for f in findings:
        text = f"{f.get('location') or 'document'}: {f.get('message')}"
        if f.get("hint"):
            text += f" ({f['hint']})"
        lines.append(text)
        detail = f.get("detail")
        if not detail:
            evidence = str(f.get("evidence") or "")
            if evidence and evidence not in str(f.get("message")):
                detail = f"evidence: {evidence}"
        if detail:
            lines.append("  " + str(detail).replace("\n", "\n  "))
    return "\n".join(lines)


DEFAULT_SOURCE = inspect.getsource(repair_feedback)
"""The built-in hook's source: the starting value of the trainable code parameter."""

SAMPLE_FINDINGS: list[dict[str, Any]] = [
    {
        "code": "infeasible",
        "severity": "error",
        "location": "constraints.capacity",
        "message": "the model is infeasible",
        "hint": "check the direction of the capacity constraint",
        "evidence": "IIS: capacity[1], demand[1]",
    },
    {
        "code": "suspicious",
        "severity": "warning",
        "location": "variables.x",
        "message": "x is 0 in the optimal solution",
        "detail": "all 3 products are unused\nthe objective is 0",
    },
]
"""Findings a candidate hook is tried on before it is accepted (:func:`check_hook`)."""

_lock = threading.Lock()
last_failure: list[str] = []
"""Why recent hook runs fell back to the built-in formatting (newest last, at most 20)."""


def _note_failure(reason: str) -> None:
    with _lock:
        last_failure.append(reason)
        del last_failure[:-20]


def _is_default(source: str | None) -> bool:
    return source is None or source.strip() == DEFAULT_SOURCE.strip()


def _syntax_problem(source: str) -> str | None:
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        return f"line {err.lineno}: {err.msg}"
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    if HOOK_NAME not in names:
        return f"the source must define a top-level function {HOOK_NAME}(findings)"
    return None


def _script(source: str, payload: str) -> str:
    return (
        "import json\nfrom typing import Any\n\n"
        f"{source}\n\n"
        f"_findings = json.loads({payload!r})\n"
        f"_out = {HOOK_NAME}(_findings)\n"
        "if not isinstance(_out, str):\n"
        "    raise TypeError(f'the hook returned {type(_out).__name__}, not str')\n"
        f"print({_MARK!r} + json.dumps(_out))\n"
    )


@lru_cache(maxsize=512)
def _run_cached(source: str, payload: str, timeout_s: float) -> str:
    from agent.sandbox import run_python

    result = run_python(_script(source, payload), timeout_s=timeout_s, memory_mb=512)
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(_MARK):
            try:
                out = json.loads(line[len(_MARK) :])
            except ValueError:
                break
            if isinstance(out, str):
                return out[:_MAX_CHARS]
            break
    why = result.killed_by or (result.stderr.strip().splitlines() or ["no output"])[-1]
    raise HookError(f"the {HOOK_NAME} hook failed in the sandbox: {why}")


def run_hook(source: str, findings: Sequence[Mapping[str, Any]], timeout_s: float = 5.0) -> str:
    """Run a hook's source on ``findings`` in the sandbox; raise :class:`HookError` if unusable."""
    problem = _syntax_problem(source)
    if problem is not None:
        raise HookError(f"the {HOOK_NAME} hook does not parse: {problem}")
    payload = json.dumps([dict(f) for f in findings], default=str, sort_keys=True)
    return _run_cached(source, payload, timeout_s)


def check_hook(source: str) -> str | None:
    """None if ``source`` runs on :data:`SAMPLE_FINDINGS` and returns text, else why not."""
    try:
        out = run_hook(source, SAMPLE_FINDINGS)
    except HookError as err:
        return str(err)
    return None if out.strip() else f"the {HOOK_NAME} hook returned an empty message"


def repair_errors(findings: Sequence[Mapping[str, Any]], hook: str | None = None) -> str:
    """The repair prompt's ``$errors`` text for ``findings``.

    ``hook`` is the source of a tuned ``repair_feedback`` (None or the built-in
    source: :func:`repair_feedback` runs in-process). Another source runs in the
    sandbox; if it fails, the built-in formatting is returned and the reason
    appended to :data:`last_failure`.
    """
    items = [dict(f) for f in findings]
    if _is_default(hook):
        return repair_feedback(items)
    assert hook is not None
    try:
        return run_hook(hook, items)
    except HookError as err:
        _note_failure(str(err))
        return repair_feedback(items)
