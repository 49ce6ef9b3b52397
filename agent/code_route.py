"""The code route: the LLM writes a Pyomo script, we run it in the sandbox and read its answer.

The main route never executes LLM output: it asks for a declarative formulation.
This route is the alternative that OptiBench and OptMATH evaluate (the model
writes solver code), usable alone or as a second voter beside the formulation
route, since two routes that fail differently agree only when they are right. ::

    result = solve_with_code("A bakery makes bread and cake ...", llm)
    result.status, result.objective, result.code
    [a.error for a in result.attempts]       # why each failed script failed
    result.to_dict()                          # for traces and eval records

Each round: the ``code`` prompt (or, after a failure, a repair message that
carries the traceback, the timeout or the protocol error) goes to the LLM; the
script is taken from the reply's ```python fence (a bare ``` fence, or the
whole reply); :func:`agent.sandbox.run_python` runs it under limits; the
script's last line ``{"status": ..., "objective": ...}`` is the answer. A
crash, a timeout, a memory or CPU kill, a broken result line, or a reported
status in ``repair_statuses`` (by default ``"error"``) earns a repair round,
up to ``max_repairs``. The repair message comes from the prompt ``code_repair``
when the prompt set has one (variables ``$problem``, ``$code``, ``$error``),
so it is tunable like every prompt; otherwise from a built-in text.

An exhausted budget or a failed LLM call ends with status ``"error"`` and an
``error`` that says what went wrong; it never raises for what the LLM or its
script did. Read :mod:`agent.sandbox` for what the sandbox does and does not
protect against. Where the sandbox cannot isolate scripts (no bubblewrap, user
namespaces disabled) the route refuses before asking the LLM anything, with
status ``"error"`` and an ``error`` that says why and how to opt out
(``isolate=False`` or ``OPTIWISE_UNSAFE_NO_ISOLATION=1``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.errors import LLMError
from agent.llm import ChatMessage, ChatModel, LLMReply, assistant, user
from agent.prompts import PromptSet
from agent.sandbox import IsolationUnavailable, SandboxResult, arun_python, isolation, run_python
from agent.usage import Usage

__all__ = [
    "CodeAttempt",
    "CodeRouteResult",
    "asolve_with_code",
    "extract_code",
    "solve_with_code",
]

REPAIR_PROMPT = "code_repair"
# Used when the prompt set has no "code_repair" prompt; a tuned set can supply its own.
_DEFAULT_REPAIR = """The script you wrote did not give a usable answer.

$error

Fix it and reply with the complete corrected script (not a diff) in one ```python block. \
It must still end by printing exactly one line of JSON to standard output, \
{"status": "optimal", "objective": 1234.5}, where status is one of optimal, infeasible, \
unbounded, infeasible_or_unbounded, error and objective is null when there is none.
"""
_HINTS = {
    "timeout": "Make sure the script terminates quickly: no input(), no endless loops, "
    "a compact model, and a time limit for the solver.",
    "cpu": "Make the model smaller or give the solver a time limit.",
    "memory": "Build the model without huge dense data structures.",
}
_EXCERPT_CHARS = 2000
_FENCE = re.compile(
    r"^[ \t]*```[ \t]*(?P<lang>[A-Za-z0-9_+-]*)[^\n]*\n(?P<body>.*?)(?:^[ \t]*```[ \t]*$|\Z)",
    re.DOTALL | re.MULTILINE,
)
_PYTHON_LANGS = frozenset({"python", "py", "python3", "py3"})


def extract_code(reply: str) -> str:
    """The script in an LLM reply: the longest ```python block, else the longest bare
    ``` block, else the whole reply. An unclosed fence (a cut-off reply) runs to the end.

    The longest block rather than the first, because models like to add a short
    "how to run it" snippet next to the script.
    """
    python: list[str] = []
    bare: list[str] = []
    for match in _FENCE.finditer(reply):
        lang = match.group("lang").lower()
        body = match.group("body").strip("\n")
        if lang in _PYTHON_LANGS:
            python.append(body)
        elif not lang:
            bare.append(body)
    for blocks in (python, bare):
        if blocks:
            return max(blocks, key=len).strip("\n") + "\n"
    return reply.strip() + "\n" if reply.strip() else ""


def _excerpt(text: str, limit: int = _EXCERPT_CHARS) -> str:
    return text if len(text) <= limit else "[...]" + text[-limit:]


@dataclass(frozen=True)
class CodeAttempt:
    """One round: the script the LLM wrote and what running it gave.

    ``error`` is None only for the attempt whose answer was accepted. ``stdout``
    and ``stderr`` are the last part of the output; ``exit_code`` and
    ``killed_by`` are None when the script did not run (no code in the reply).
    """

    round: int
    code: str
    status: str
    objective: float | None
    error: str | None
    exit_code: int | None = None
    killed_by: str | None = None
    stdout: str = ""
    stderr: str = ""
    run_s: float = 0.0
    llm_latency_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "round": self.round,
            "code": self.code,
            "status": self.status,
            "objective": self.objective,
            "error": self.error,
            "exit_code": self.exit_code,
            "killed_by": self.killed_by,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "run_s": round(self.run_s, 4),
            "llm_latency_s": round(self.llm_latency_s, 4),
        }


@dataclass(frozen=True)
class CodeRouteResult:
    """The code route's answer: status (spec vocabulary), objective, the script, every attempt.

    ``code`` is the script whose answer was accepted, or the last one tried.
    ``error`` says why there is no answer (None when there is one).
    """

    status: str
    objective: float | None
    code: str | None
    attempts: list[CodeAttempt] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        """A script ran and reported an accepted answer (which may be ``infeasible``)."""
        return self.error is None

    @property
    def repairs(self) -> int:
        """Repair rounds used (attempts after the first)."""
        return max(0, len(self.attempts) - 1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for traces and eval records."""
        return {
            "route": "code",
            "status": self.status,
            "objective": self.objective,
            "ok": self.ok,
            "error": self.error,
            "code": self.code,
            "repairs": self.repairs,
            "wall_s": round(self.wall_s, 4),
            "usage": self.usage.to_dict(),
            "attempts": [a.to_dict() for a in self.attempts],
        }


class _Session:
    """The route's bookkeeping, shared by the sync and async drivers."""

    def __init__(
        self,
        text: str,
        prompts: PromptSet | None,
        max_repairs: int,
        repair_statuses: Collection[str],
    ) -> None:
        if max_repairs < 0:
            raise ValueError(f"max_repairs must be >= 0, got {max_repairs}")
        self.text = text
        self.prompts = prompts if prompts is not None else PromptSet.default()
        # set(): PromptSet.__getitem__ raises PromptError, not KeyError, so `in` would raise.
        if REPAIR_PROMPT not in set(self.prompts):
            self.prompts = self.prompts.updated({REPAIR_PROMPT: _DEFAULT_REPAIR})
        self.max_repairs = max_repairs
        self.repair_statuses = frozenset(repair_statuses)
        self.messages: list[ChatMessage] = [user(self.prompts.render("code", problem=text))]
        self.attempts: list[CodeAttempt] = []
        self.usage = Usage()
        self.started = time.perf_counter()

    @property
    def rounds(self) -> int:
        return self.max_repairs + 1

    def take_reply(self, reply: LLMReply) -> str | CodeAttempt:
        """The script to run, or a failed attempt when the reply holds none."""
        self.usage = self.usage + reply.usage
        code = extract_code(reply.content)
        if reply.truncated:
            error = (
                "your reply was cut off at the token limit before the script was complete; "
                "write a shorter script"
            )
        elif not code.strip():
            error = "your reply held no script; reply with the whole script in one ```python block"
        else:
            return code
        return CodeAttempt(
            round=len(self.attempts),
            code=code,
            status="error",
            objective=None,
            error=error,
            llm_latency_s=reply.latency_s,
        )

    def judge(self, code: str, run: SandboxResult, reply: LLMReply) -> CodeAttempt:
        """Turn a sandbox run into an attempt; its ``error`` is the repair feedback."""
        error: str | None = None
        if not run.ok:
            error = run.report()
            hint = _HINTS.get(run.killed_by or "")
            if hint:
                error = f"{error}\n\n{hint}"
        elif run.status in ("optimal", "feasible") and run.objective is None:
            # Valid for the protocol (a feasibility problem has none), useless as an answer
            # here: the code prompt always has an objective, so the script lost its value.
            error = (
                f'The script reported status "{run.status}" but objective null; '
                "print the objective's value, pyo.value(model.obj)."
            )
        elif run.status in self.repair_statuses:
            error = f'The script ran but reported status "{run.status}".'
            evidence = run.traceback or run.stderr.strip()
            if evidence:
                error += f"\n\nStandard error (last part):\n```\n{_excerpt(evidence)}\n```"
        return CodeAttempt(
            round=len(self.attempts),
            code=code,
            status=run.status,
            objective=run.objective,
            error=error,
            exit_code=run.exit_code,
            killed_by=run.killed_by,
            stdout=_excerpt(run.stdout),
            stderr=_excerpt(run.stderr),
            run_s=run.wall_s,
            llm_latency_s=reply.latency_s,
        )

    def record(self, attempt: CodeAttempt, reply: LLMReply) -> CodeRouteResult | None:
        """Keep the attempt; the final result, or None to go on with a repair round."""
        self.attempts.append(attempt)
        if attempt.error is None:
            return self._result(attempt.status, attempt.objective, attempt.code, None)
        if len(self.attempts) >= self.rounds:
            return self._result(
                "error",
                None,
                attempt.code or None,
                f"no usable answer after {len(self.attempts)} script(s) "
                f"({self.max_repairs} repair round(s) allowed); last failure: "
                f"{_first_line(attempt.error)}",
            )
        repair = self.prompts.render(
            REPAIR_PROMPT, problem=self.text, code=attempt.code, error=attempt.error
        )
        self.messages = [*self.messages, assistant(reply.content), user(repair)]
        return None

    def refused(self, exc: IsolationUnavailable) -> CodeRouteResult:
        return self._result("error", None, None, f"the code route is unavailable: {exc}")

    def llm_failed(self, exc: LLMError) -> CodeRouteResult:
        tries = getattr(exc, "attempts", 1)
        code = self.attempts[-1].code if self.attempts else None
        return self._result(
            "error",
            None,
            code or None,
            f"the LLM call failed after {tries} attempt(s) ({type(exc).__name__}): {exc}",
        )

    def _result(
        self, status: str, objective: float | None, code: str | None, error: str | None
    ) -> CodeRouteResult:
        return CodeRouteResult(
            status=status,
            objective=objective,
            code=code,
            attempts=list(self.attempts),
            usage=self.usage,
            error=error,
            wall_s=time.perf_counter() - self.started,
        )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def solve_with_code(
    text: str,
    llm: ChatModel,
    *,
    timeout_s: float = 60,
    max_repairs: int = 2,
    prompts: PromptSet | None = None,
    memory_mb: int | None = 1024,
    cpu_s: float | None = None,
    repair_statuses: Collection[str] = ("error",),
    llm_options: Mapping[str, Any] | None = None,
    isolate: bool | None = None,
) -> CodeRouteResult:
    """Solve the problem ``text`` by having ``llm`` write a Pyomo script; see the module doc.

    ``timeout_s``, ``memory_mb`` and ``cpu_s`` limit each script run;
    ``llm_options`` are passed to every LLM call (``temperature``, ``cache_tag``
    to draw distinct samples when voting, ...); ``isolate``: see
    :func:`agent.sandbox.isolation` (None: isolate unless the environment opts out).
    """
    session = _Session(text, prompts, max_repairs, repair_statuses)
    options = dict(llm_options or {})
    try:
        isolated = isolation(isolate)
    except IsolationUnavailable as exc:
        return session.refused(exc)
    while True:
        try:
            reply = llm.complete(session.messages, **options)
        except LLMError as exc:
            return session.llm_failed(exc)
        taken = session.take_reply(reply)
        if isinstance(taken, str):
            run = run_python(
                taken, timeout_s=timeout_s, memory_mb=memory_mb, cpu_s=cpu_s, isolate=isolated
            )
            attempt = session.judge(taken, run, reply)
        else:
            attempt = taken
        result = session.record(attempt, reply)
        if result is not None:
            return result


async def asolve_with_code(
    text: str,
    llm: ChatModel,
    *,
    timeout_s: float = 60,
    max_repairs: int = 2,
    prompts: PromptSet | None = None,
    memory_mb: int | None = 1024,
    cpu_s: float | None = None,
    repair_statuses: Collection[str] = ("error",),
    llm_options: Mapping[str, Any] | None = None,
    isolate: bool | None = None,
) -> CodeRouteResult:
    """Async :func:`solve_with_code`; scripts run in worker threads, and cancelling
    the task kills a running script at once."""
    session = _Session(text, prompts, max_repairs, repair_statuses)
    options = dict(llm_options or {})
    try:
        isolated = await asyncio.to_thread(isolation, isolate)
    except IsolationUnavailable as exc:
        return session.refused(exc)
    while True:
        try:
            reply = await llm.acomplete(session.messages, **options)
        except LLMError as exc:
            return session.llm_failed(exc)
        taken = session.take_reply(reply)
        if isinstance(taken, str):
            run = await arun_python(
                taken, timeout_s=timeout_s, memory_mb=memory_mb, cpu_s=cpu_s, isolate=isolated
            )
            attempt = session.judge(taken, run, reply)
        else:
            attempt = taken
        result = session.record(attempt, reply)
        if result is not None:
            return result
