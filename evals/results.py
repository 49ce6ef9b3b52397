"""Per-problem run results and the append-only ``results.jsonl`` they live in.

One line per finished problem, written with flush + fsync, so a run that is
killed keeps everything it finished.  Reading tolerates exactly the damage a
kill can do: a truncated last line is ignored (and cut off before appending
again), so that problem is simply redone.  Each line carries the reference
answer too, so a run can be re-scored under another protocol without the
dataset or the solver.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import BaseModel, ValidationError

from evals.loaders import BREAKDOWN_KEYS, SIZE_KEYS
from evals.problems import Answer, Problem
from evals.scoring import Prediction, score

RESULTS_FILE = "results.jsonl"

LIMIT_TERMINATIONS = frozenset({"time_limit", "iteration_limit"})
"""Solver stop reasons (:class:`modeling.result.Termination` values) that mean "stopped at
its limit" rather than "proved something"."""

LIMIT_STOPS = frozenset({"time_limit_incumbent", "time_limit_none", "limit_incumbent"})
"""``solver_stop`` values (the agent's vocabulary) that mean "stopped at a limit"."""

# Outcome keys that may hold the solver's stop reason: ``termination`` (the
# modeling layer's name), or inside ``solver`` (the agent state's dict).
_TERMINATION_KEYS = ("termination", "solver_termination", "stop_status")

# Harness categories that are not verify findings (see ``findings_from_categories``).
_NOT_FINDINGS = frozenset({"timeout", "bad_objective", "bad_outcome", "llm_error", "error"})

# Evidence is kept short in results.jsonl; the trace has the whole finding.
_EVIDENCE_CHARS = 300

TIMEOUT_RETRIES = 1
"""How many times a resumed run retries a problem that hit ``--timeout``.

A problem that timed out once gets one more try (the first may have met a slow
endpoint); one that times out again is final, so a problem that always hangs
cannot make every resume wait out its timeout again."""

# Exceptions (by class name) that say nothing about the problem: the endpoint was
# down, slow or busy. The agent reports the LLM layer's errors in its message as
# "... (RateLimitError): ..." / "(TransportError)"; the runner records a solver's
# exception as the category "exception:<Type>".
_TRANSIENT_EXCEPTIONS = {
    "RateLimitError": "rate limit",
    "TransportError": "network",
    "APIConnectionError": "network",
    "APITimeoutError": "network",
    "InternalServerError": "network",
    "ConnectionError": "network",
    "ConnectionRefusedError": "network",
    "ConnectionResetError": "network",
    "RemoteProtocolError": "network",
}
_LLM_FAILURE = re.compile(r"\((RateLimitError|TransportError)\)")


@functools.lru_cache(maxsize=8192)
def _prediction(status: str, objective: float | None) -> Prediction:
    """The (frozen, so shareable) Prediction of one answer.

    A run's summary scores every result under every protocol, before and after
    repair: building and validating a Prediction each time was a third of the
    ~60 ms a 200-problem run spent summarizing itself at its end.
    """
    return Prediction(status=status, objective=objective)


class ProblemResult(BaseModel):
    """One problem's outcome in a run, as stored in ``results.jsonl``.

    ``status``/``objective`` are the final answer; ``first_status``/
    ``first_objective`` the answer before any repair round, so reports can
    show what repair bought.  ``scores`` holds the protocols' verdicts at
    run time (re-scoring recomputes them from ``answer``).
    """

    id: str
    dataset: str
    status: str
    objective: float | None = None
    first_status: str
    first_objective: float | None = None
    repair_rounds: int = 0
    error_categories: list[str] = []
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    trace_id: str | None = None
    message: str = ""
    formulation: Any = None
    answer: Answer
    scores: dict[str, bool | None] = {}
    first_scores: dict[str, bool | None] = {}
    metadata: dict[str, Any] = {}
    finished_at: str = ""
    tries: int = 1
    timeouts: int = 0
    termination: str | None = None
    """Why the solver stopped (``time_limit``, ``optimal``, …) when the outcome said so;
    None for results written before the field existed or by solvers that do not report it."""
    solver_stop: str | None = None
    """Why the solver stopped on the final document, in the agent's vocabulary
    (``optimal``, ``time_limit_incumbent``, ``time_limit_none``, ``limit_incumbent``,
    ``infeasible``, …, ``error``, ``not_solved``; :func:`agent.state.solver_stop`)."""
    samples: list[dict[str, Any]] = []
    """Each independent sample's ``{status, objective}`` when the solver drew several
    (self-consistency votes); pass@k is estimated from them. Empty: one sample, the answer."""
    findings: list[dict[str, Any]] | None = None
    """The verify findings of every attempt: ``{code, severity, round, status, objective,
    evidence}`` (``round`` 0 = the first document; status/objective = that attempt's answer).
    None when the outcome did not list them; reports then fall back to ``error_categories``."""

    @property
    def prediction(self) -> Prediction:
        """The final answer as a :class:`Prediction`."""
        return _prediction(self.status, self.objective)

    @property
    def first_prediction(self) -> Prediction:
        """The answer before repair as a :class:`Prediction`."""
        return _prediction(self.first_status, self.first_objective)

    @property
    def transient(self) -> str | None:
        """Why this result says nothing about the problem, or None when it is a verdict.

        ``"timeout"`` (our ``--timeout``), ``"rate limit"`` (HTTP 429 after the
        retries) or ``"network"`` (an unreachable endpoint, a dropped connection,
        HTTP 5xx after the retries). A resumed run retries these; solved problems
        and genuine failures (an invalid formulation, a wrong answer, a refused
        key, an exhausted quota) are kept.
        """
        if self.status != "error":
            return None
        if "timeout" in self.error_categories:
            return "timeout"
        if "insufficient_quota" in self.message:
            return None  # HTTP 429 for an account without credit: waiting does not help
        for category in self.error_categories:
            if category.startswith("exception:"):
                kind = _TRANSIENT_EXCEPTIONS.get(category.split(":", 1)[1])
                if kind is not None:
                    return kind
        match = _LLM_FAILURE.search(self.message)
        return _TRANSIENT_EXCEPTIONS[match.group(1)] if match else None

    @property
    def assumptions(self) -> list[dict[str, Any]]:
        """The formulation's stated assumptions (data the text left out), empty if none."""
        doc = self.formulation
        raw = doc.get("assumptions") if isinstance(doc, Mapping) else None
        if not isinstance(raw, list):
            return []
        return [a if isinstance(a, dict) else {"text": str(a)} for a in raw]

    @property
    def size(self) -> int | None:
        """Variables + constraints of the instance (from the dataset's metadata), if known."""
        try:
            return int(self.metadata["n_variables"]) + int(self.metadata["n_constraints"])
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def stopped_at_limit(self) -> bool:
        """The solver stopped at its time (or iteration) limit instead of proving an answer.

        Read from :attr:`solver_stop` or :attr:`termination` when recorded; otherwise
        from the status: ``time_limit`` (no point found) or ``feasible`` (a point not
        proven optimal, which the modeling layer reports only when a limit stopped
        the search).
        """
        if self.solver_stop is not None:
            return self.solver_stop in LIMIT_STOPS
        if self.termination is not None:
            return self.termination in LIMIT_TERMINATIONS
        return self.status in ("time_limit", "feasible")

    def finding_records(self) -> list[dict[str, Any]]:
        """:attr:`findings`, or for older results one record per finding code in
        ``error_categories`` (``round`` None, judged by the final answer)."""
        if self.findings is not None:
            return self.findings
        return [
            {
                "code": code,
                "severity": severity_of(code),
                "round": None,
                "status": self.status,
                "objective": self.objective,
                "evidence": "",
            }
            for code in dict.fromkeys(self.error_categories)
            if code not in _NOT_FINDINGS and not code.startswith("exception:")
        ]

    def sample_predictions(self) -> list[Prediction]:
        """The independent samples' answers; the final answer when none were recorded."""
        if not self.samples:
            return [self.prediction]
        return [Prediction.from_mapping(s) for s in self.samples]

    def retryable(self, timeout_retries: int = TIMEOUT_RETRIES) -> bool:
        """A resumed run should try this problem again (see :attr:`transient`)."""
        reason = self.transient
        if reason == "timeout":
            return self.timeouts <= timeout_retries
        return reason is not None


def _number(value: Any, default: float = 0.0) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) else default


def _categories(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [str(k) for k in value]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    return [str(value)]


def _json_default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def jsonable(value: Any) -> Any:
    """A JSON-safe copy (pydantic models and dataclasses as dicts, the rest as text)."""
    return json.loads(json.dumps(value, default=_json_default))


def _termination(outcome: Mapping[str, Any]) -> str | None:
    for key in _TERMINATION_KEYS:
        value = outcome.get(key)
        if value:
            return str(getattr(value, "value", value))
    solver = outcome.get("solver")
    if isinstance(solver, Mapping) and solver.get("termination"):
        return str(solver["termination"])
    return None


def _severity_table() -> Mapping[str, str]:
    """``agent.verify.SEVERITY`` (finding type → severity); empty if the agent is absent."""
    try:
        from agent.verify import SEVERITY
    except ImportError:  # pragma: no cover - the agent ships with optiwise
        return {}
    return SEVERITY


def severity_of(code: str) -> str:
    """A finding type's severity (``error`` for spec issue codes and unknown types)."""
    return str(_severity_table().get(code, "error"))


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _EVIDENCE_CHARS else text[: _EVIDENCE_CHARS - 1] + "…"


def findings_from_attempts(attempts: Iterable[Any]) -> list[dict[str, Any]]:
    """Per-attempt findings from the agent's attempts (dicts or ``agent.state.Attempt``).

    Each of an attempt's ``errors`` becomes ``{code, severity, round, status,
    objective, evidence}``: which finding fired, how serious it is, and the answer
    of the model it fired on, so a report can say how often that model was right.
    """
    found: list[dict[str, Any]] = []
    for index, attempt in enumerate(attempts):
        data = attempt.to_dict() if hasattr(attempt, "to_dict") else attempt
        if not isinstance(data, Mapping):
            continue
        status = str(data.get("status") or "error")
        objective = data.get("objective") if status in ("optimal", "feasible") else None
        for error in data.get("errors") or []:
            if not isinstance(error, Mapping):
                continue
            code = str(error.get("code") or "invalid")
            found.append(
                {
                    "code": code,
                    "severity": str(error.get("severity") or severity_of(code)),
                    "round": int(_number(data.get("round"), index)),
                    "status": status,
                    "objective": objective,
                    "evidence": _short(error.get("evidence") or error.get("message") or ""),
                }
            )
    return found


def _outcome_findings(outcome: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    given = outcome.get("findings")
    if isinstance(given, list):
        return [dict(f) for f in jsonable(given) if isinstance(f, dict) and f.get("code")]
    attempts = outcome.get("attempts")
    if isinstance(attempts, list):
        return findings_from_attempts(jsonable(attempts))
    return None


def _samples(outcome: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = outcome.get("samples")
    if not isinstance(raw, list) or len(raw) < 2:
        return []
    samples = []
    for item in raw:
        data = item if isinstance(item, Mapping) else {}
        pred = Prediction.from_mapping(data)
        samples.append({"status": pred.status, "objective": pred.objective})
    return samples


def build_result(
    problem: Problem,
    outcome: Mapping[str, Any],
    *,
    protocols: Iterable[str],
    latency_s: float,
    previous: ProblemResult | None = None,
) -> ProblemResult:
    """Turn a solver's outcome dict into a scored :class:`ProblemResult`.

    Missing keys get neutral defaults; a missing first attempt means there was
    no repair (first = final); statuses outside the spec become ``error``.
    ``previous`` is the result this one retries: its tries and time-outs add up.
    """
    final = Prediction.from_mapping(outcome)
    first = Prediction.from_mapping(outcome, first=True)
    categories = _categories(outcome.get("error_categories"))
    if outcome.get("objective") is not None and final.objective is None:
        categories.append("bad_objective")
    names = list(protocols)
    trace = outcome.get("trace_id")
    return ProblemResult(
        id=problem.id,
        dataset=problem.dataset,
        status=final.status,
        objective=final.objective,
        first_status=first.status,
        first_objective=first.objective,
        repair_rounds=int(_number(outcome.get("repair_rounds"))),
        error_categories=categories,
        prompt_tokens=int(_number(outcome.get("prompt_tokens"))),
        completion_tokens=int(_number(outcome.get("completion_tokens"))),
        cost_usd=_number(outcome.get("cost_usd")),
        latency_s=_number(outcome.get("latency_s"), latency_s) or latency_s,
        trace_id=None if trace is None else str(trace),
        message=str(outcome.get("message") or "")[:2000],
        formulation=jsonable(outcome.get("formulation")),
        answer=problem.answer,
        scores=score(final, problem.answer, names),
        first_scores=score(first, problem.answer, names),
        metadata={
            k: problem.metadata[k] for k in (*BREAKDOWN_KEYS, *SIZE_KEYS) if k in problem.metadata
        },
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        tries=1 + (previous.tries if previous is not None else 0),
        timeouts=int("timeout" in categories) + (previous.timeouts if previous else 0),
        termination=_termination(outcome),
        solver_stop=str(outcome["solver_stop"]) if outcome.get("solver_stop") else None,
        samples=_samples(outcome),
        findings=_outcome_findings(outcome),
    )


def repair_tail(path: Path) -> int:
    """Cut a truncated last line (no trailing newline) off ``path``; returns bytes cut."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return 0
        # Find the last newline; everything after it is a partial line.
        block = 1 << 16
        position = size
        keep = 0
        while position > 0:
            start = max(0, position - block)
            handle.seek(start)
            chunk = handle.read(position - start)
            index = chunk.rfind(b"\n")
            if index >= 0:
                keep = start + index + 1
                break
            position = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
        return size - keep


def read_results(path: Path) -> list[ProblemResult]:
    """Every complete result line, last one per id winning, in file order.

    A truncated final line is ignored; a damaged line in the middle is skipped
    with a warning (its problem will be redone).
    """
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        lines.pop()  # no trailing newline: the last line was cut by a kill
    by_id: dict[str, ProblemResult] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            result = ProblemResult.model_validate(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as exc:
            warnings.warn(f"{path}:{number}: unreadable result line skipped ({exc})", stacklevel=2)
            continue
        by_id.pop(result.id, None)
        by_id[result.id] = result
    return list(by_id.values())


class ResultWriter:
    """Appends result lines durably (flush + fsync after each)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        repair_tail(path)
        self.path = path
        self._handle = path.open("a", encoding="utf-8")

    def write(self, result: ProblemResult) -> None:
        """Append one result as a JSON line and force it to disk."""
        self.write_many([result])

    def write_many(self, results: Sequence[ProblemResult]) -> None:
        """Append results as JSON lines, in order, and force them to disk with one fsync.

        An fsync takes milliseconds of waiting (3-6 ms here) whatever it carries, so
        the lines of problems that finished together share one (a group commit).
        """
        if not results:
            return
        self._handle.write("".join(r.model_dump_json() + "\n" for r in results))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the file (idempotent)."""
        if not self._handle.closed:
            self._handle.close()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temp file and a rename, so readers never see half a file."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write text through a temp file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
