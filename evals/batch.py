"""Run an eval through the OpenAI Batch API: export requests, import replies, round by round.

A batch costs half the price of live calls and has no rate limit to fight, but
it is one round trip: the agent's repair loop cannot run inside one. So:

1. ``export_requests`` writes the *first-round formulate request* of every
   selected problem as one Batch API line::

       {"custom_id": "<dataset>:<problem id>", "method": "POST",
        "url": "/v1/chat/completions", "body": {"model": ..., "messages": [...], ...}}

   The messages are built by the agent's own formulate step and the body by
   its own chat model, so a request is byte-for-byte what a live run sends.

2. ``import_batch`` reads the batch's output file and turns each reply into
   the first attempt, exactly as the agent does (the same JSON extraction,
   check, solve and verify), scored into a normal, resumable run directory.
   With ``continue_repairs`` the problems whose first attempt failed go on
   with the agent's repair rounds through the configured endpoint: the agent
   is seeded with the imported reply (:class:`SeededChatModel` answers the
   first call with it and hands every later call to the live model).

3. :class:`BatchRounds` runs *every* round through Batch files, no live
   endpoint needed: ``export`` writes the pending request of each unfinished
   problem (the first formulate, a repair, a review) as one file; ``import_``
   applies the replies and advances each problem; repeat until nothing is
   pending, then score the run with :class:`ReplaySolver` and the normal
   runner. State lives in ``<run dir>/batch_rounds.json``; a problem is advanced
   by replaying its recorded replies through the real agent
   (:class:`ReplayChatModel`), so its next request is exactly what a live run
   would send. Missing or failed replies are exported again, up to
   :data:`MAX_FAILED_REPLIES` times.

Batch output lines that failed (``error`` set, or an HTTP status other than
200) count as errors; with ``continue_repairs`` those problems are formulated
live instead. Imported tokens are priced at half the list price (the Batch
API's discount, :data:`BATCH_DISCOUNT`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.agent_solver import agent_info, outcome_from_result, save_trace
from evals.loaders import Dataset, load
from evals.problems import Problem
from evals.registry import DatasetEntry

if TYPE_CHECKING:
    from agent.api import OptimizationAgent
    from agent.context import AgentConfig
    from agent.llm import ChatMessage, ChatModel, ChatStream, LLMReply
    from agent.prompts import PromptSet

__all__ = [
    "BATCH_DISCOUNT",
    "MAX_FAILED_REPLIES",
    "ROUNDS_FILE",
    "BatchFormatError",
    "BatchImportSolver",
    "BatchOutput",
    "BatchReply",
    "BatchRounds",
    "ReplayChatModel",
    "ReplaySolver",
    "RoundSummary",
    "SeededChatModel",
    "batch_request",
    "custom_id",
    "export_requests",
    "formulate_messages",
    "load_batch_output",
    "parse_batch_line",
    "read_batch_output",
    "request_body",
    "round_id",
    "select_problems",
    "split_custom_id",
    "split_round_id",
]

BATCH_URL = "/v1/chat/completions"
BATCH_DISCOUNT = 0.5
"""Batch API replies cost this fraction of the list price."""


class BatchFormatError(ValueError):
    """A batch output file does not belong to this dataset, or holds nothing usable."""


# ------------------------------------------------------------------- requests


def custom_id(dataset: str, problem_id: str) -> str:
    """``"<dataset>:<problem id>"``: how a batch line names its problem."""
    return f"{dataset}:{problem_id}"


def split_custom_id(text: str) -> tuple[str, str]:
    """``(dataset, problem id)`` of a custom id (problem ids may contain ``:``)."""
    dataset, sep, problem_id = text.partition(":")
    if not sep or not dataset or not problem_id:
        raise BatchFormatError(f"custom_id {text!r} is not '<dataset>:<problem id>'")
    return dataset, problem_id


def formulate_messages(
    problem: str, *, config: AgentConfig | None = None, prompts: PromptSet | None = None
) -> list[ChatMessage]:
    """The messages of the agent's first formulate request for ``problem``.

    A thin wrapper over the formulate node's own request builder, so an
    exported request carries the same system prompt, few-shot examples and
    problem text as a live run with the same ``config`` and ``prompts``.
    """
    from agent import nodes
    from agent.context import AgentConfig, RunContext
    from agent.fake import FakeLLM
    from agent.prompts import PromptSet

    ctx = RunContext(
        llm=FakeLLM(),  # never called: only the request is built
        config=config or AgentConfig(),
        prompts=prompts or PromptSet.default(),
    )
    return nodes.formulate_messages(problem, ctx)


def request_body(
    llm: ChatModel, messages: Sequence[ChatMessage], **overrides: Any
) -> dict[str, Any]:
    """The chat-completions body ``llm`` would POST for ``messages`` (a JSON request).

    ``llm`` must be an :class:`~agent.llm.OpenAIChatModel`: its own request
    preparation decides model, temperature, seed, token cap and
    ``response_format``, so the batch body matches a live call.
    """
    from agent.llm import OpenAIChatModel

    if not isinstance(llm, OpenAIChatModel):
        raise TypeError(f"a batch request needs an OpenAIChatModel, not {type(llm).__name__}")
    return llm.request_params(messages, **{"json": True, "cache": False, **overrides})


def batch_request(agent: OptimizationAgent, dataset: str, problem: Problem) -> dict[str, Any]:
    """One Batch API line: the first formulate request of ``problem`` by ``agent``."""
    messages = formulate_messages(problem.question, config=agent.config, prompts=agent.prompts)
    return {
        "custom_id": custom_id(dataset, problem.id),
        "method": "POST",
        "url": BATCH_URL,
        "body": request_body(agent.llm, messages),
    }


def select_problems(
    dataset: Dataset, *, ids: Sequence[str] | None = None, limit: int | None = None
) -> list[Problem]:
    """The problems a run selects: ``ids`` (in that order), then the first ``limit``."""
    problems = list(dataset.problems)
    if ids:
        by_id = dataset.by_id()
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise KeyError(f"{dataset.name} has no problem ids {missing[:10]}")
        problems = [by_id[i] for i in dict.fromkeys(ids)]
    if limit is not None:
        problems = problems[: max(0, limit)]
    return problems


def _check_batchable(agent: OptimizationAgent) -> None:
    config = agent.config
    if config.samples != 1 or config.strategy != "formulation":
        raise ValueError(
            "a batch holds one formulate request per problem: use samples=1 and "
            "strategy='formulation'"
        )


def export_requests(
    dataset: str | DatasetEntry | Dataset,
    path: str | Path,
    agent: OptimizationAgent,
    *,
    limit: int | None = None,
    ids: Sequence[str] | None = None,
    data_dir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Write the first-round formulate requests of a dataset as a Batch API JSONL file.

    >>> agent = OptimizationAgent(model="gpt-4o-mini")               # doctest: +SKIP
    >>> lines = export_requests("nl4opt", "requests.jsonl", agent)  # doctest: +SKIP
    """
    _check_batchable(agent)
    loaded = dataset if isinstance(dataset, Dataset) else load(dataset, data_dir=data_dir)
    lines = [
        batch_request(agent, loaded.name, p) for p in select_problems(loaded, ids=ids, limit=limit)
    ]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    tmp.replace(target)
    return lines


# -------------------------------------------------------------------- replies


@dataclass(frozen=True)
class BatchReply:
    """One line of a batch output file: the reply's text, or why there is none."""

    custom_id: str
    content: str | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    request_id: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the request returned a completion."""
        return self.error is None and self.content is not None

    def llm_reply(self, model: str) -> LLMReply:
        """The reply as the agent's chat model would have returned it (batch-priced)."""
        from agent.llm import LLMReply
        from agent.usage import Usage, price_for

        served = self.model or model
        priced = served if price_for(served) is not None else model
        usage = Usage.for_call(priced, self.prompt_tokens, self.completion_tokens)
        usage = dataclasses.replace(usage, cost_usd=usage.cost_usd * BATCH_DISCOUNT)
        return LLMReply(
            content=self.content or "",
            model=served,
            usage=usage,
            latency_s=0.0,
            finish_reason=self.finish_reason,
            request_id=self.request_id,
        )


@dataclass
class BatchOutput:
    """A parsed batch output: replies by custom id, and the lines that could not be read."""

    replies: dict[str, BatchReply] = field(default_factory=dict)
    bad_lines: list[str] = field(default_factory=list)
    sha256: str = ""
    files: list[str] = field(default_factory=list)

    @property
    def n_errors(self) -> int:
        """Lines that carry an error instead of a completion."""
        return sum(not r.ok for r in self.replies.values())


def _error_text(error: Any) -> str:
    if isinstance(error, Mapping):
        message = str(error.get("message") or "")
        code = error.get("code") or error.get("type")
        return f"{code}: {message}" if code and message else message or str(code or error)
    return str(error)


def parse_batch_line(data: Mapping[str, Any]) -> BatchReply:
    """One output line (``{"custom_id", "response": {...}, "error"}``) as a :class:`BatchReply`."""
    cid = data.get("custom_id")
    if not isinstance(cid, str) or not cid:
        raise BatchFormatError("a batch output line has no custom_id")
    if data.get("error"):
        return BatchReply(cid, error=_error_text(data["error"]))
    response = data.get("response")
    if not isinstance(response, Mapping):
        return BatchReply(cid, error="the line has neither a response nor an error")
    status = response.get("status_code")
    body = response.get("body")
    request_id = response.get("request_id")
    if status != 200:
        detail = body.get("error") if isinstance(body, Mapping) else body
        return BatchReply(cid, error=f"HTTP {status}: {_error_text(detail)}", request_id=request_id)
    if not isinstance(body, Mapping):
        return BatchReply(cid, error="the response has no body", request_id=request_id)
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return BatchReply(cid, error="the completion has no choices", request_id=request_id)
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, Mapping) else None
    raw_usage = body.get("usage")
    usage: Mapping[str, Any] = raw_usage if isinstance(raw_usage, Mapping) else {}
    return BatchReply(
        cid,
        content=str(content or ""),
        model=str(body.get("model") or "") or None,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        finish_reason=choices[0].get("finish_reason"),
        request_id=str(request_id or body.get("id") or "") or None,
    )


def read_batch_output(paths: str | Path | Iterable[str | Path]) -> BatchOutput:
    """Parse one or more batch output files (the output file and the error file).

    A completion wins over an error for the same custom id; unreadable lines
    are kept in ``bad_lines`` (with a warning) rather than stopping the import.
    """
    files = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    out = BatchOutput(files=[str(p) for p in files])
    digest = hashlib.sha256()
    for path in files:
        raw = path.read_bytes()
        digest.update(raw)
        for number, line in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise BatchFormatError("not a JSON object")
                reply = parse_batch_line(data)
            except (json.JSONDecodeError, BatchFormatError) as exc:
                out.bad_lines.append(f"{path.name}:{number}: {exc}")
                warnings.warn(
                    f"{path}:{number}: unreadable batch line skipped ({exc})", stacklevel=2
                )
                continue
            known = out.replies.get(reply.custom_id)
            if known is None or (reply.ok or not known.ok):
                out.replies[reply.custom_id] = reply
    out.sha256 = digest.hexdigest()
    return out


# ------------------------------------------------------------ the seeded model


class SeededChatModel:
    """A chat model whose first answer is given; later calls go to ``then``.

    It puts an imported batch reply where the agent's formulate call would be,
    so parsing, checking, solving and repairing run unchanged. Without ``then``
    a second call fails with an :class:`~agent.errors.LLMError` (the agent ends
    the run with status ``error``), which never happens with ``max_repairs=0``.
    """

    def __init__(
        self, first: LLMReply | None, then: ChatModel | None = None, *, model: str = "batch"
    ) -> None:
        self._first = first
        self.then = then
        self.model = model
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SeededChatModel(model={self.model!r}, seeded={self._first is not None})"

    @property
    def model_name(self) -> str:
        """The model the batch was run with."""
        return self.model

    def _take(self, overrides: Mapping[str, Any]) -> LLMReply | None:
        from agent.llm import check_call_options

        check_call_options(overrides)
        with self._lock:
            first, self._first = self._first, None
        if first is not None:
            return dataclasses.replace(first, latency_s=0.0)
        if self.then is None:
            from agent.errors import LLMError

            raise LLMError(
                "only the imported batch reply is available",
                hint="continue with repairs through a live endpoint (--continue-repairs)",
            )
        return None

    def complete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """The seeded reply the first time, then the live model's."""
        reply = self._take(overrides)
        if reply is not None:
            return reply
        assert self.then is not None
        return self.then.complete(messages, **overrides)

    async def acomplete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """Async :meth:`complete`."""
        reply = self._take(overrides)
        if reply is not None:
            return reply
        assert self.then is not None
        return await self.then.acomplete(messages, **overrides)

    def stream(self, messages: Sequence[ChatMessage], **overrides: Any) -> ChatStream:
        """The reply in one piece (the seeded one first)."""
        from agent.llm import ChatStream

        def deltas(out: ChatStream) -> Iterator[str]:
            reply = self.complete(messages, **overrides)
            if reply.content:
                yield reply.content
            out._finish(reply)

        return ChatStream(deltas)


# -------------------------------------------------------------- the importer


class BatchImportSolver:
    """A :class:`~evals.runner.Solver` whose first LLM reply comes from a batch output.

    ``live`` is the chat model for the repair rounds (and for problems whose
    batch line failed); without it the agent stops after the first attempt.
    """

    def __init__(
        self,
        output: BatchOutput,
        *,
        dataset: str,
        model: str,
        config: AgentConfig | None = None,
        prompts: PromptSet | None = None,
        live: ChatModel | None = None,
        trace_dir: str | Path | None = None,
    ) -> None:
        from agent.context import AgentConfig
        from agent.prompts import PromptSet

        base = config or AgentConfig()
        if base.samples != 1 or base.strategy != "formulation":
            raise ValueError("a batch import continues one formulation per problem (samples=1)")
        self.output = output
        self.dataset = dataset
        self.model = model
        self.live = live
        self.config = base if live is not None else base.with_(max_repairs=0)
        self.prompts = prompts or PromptSet.default()
        self.trace_dir = Path(trace_dir) if trace_dir is not None else None

    @property
    def model_name(self) -> str:
        """The model the batch ran."""
        return self.model

    def _agent(self, llm: ChatModel) -> OptimizationAgent:
        from agent.api import OptimizationAgent

        return OptimizationAgent(llm=llm, config=self.config, prompts=self.prompts)

    def describe(self) -> dict[str, Any]:
        """The ``agent`` section of the run's ``config.json``."""
        info = agent_info(self._agent(self.live or SeededChatModel(None, model=self.model)))
        info["model"] = self.model
        if self.live is None:
            info["base_url"] = None
        return info

    def batch_info(self) -> dict[str, Any]:
        """The ``batch`` section of the run's ``config.json``."""
        return {
            "files": self.output.files,
            "sha256": self.output.sha256,
            "lines": len(self.output.replies),
            "errored_lines": self.output.n_errors,
            "unreadable_lines": len(self.output.bad_lines),
            "continue_repairs": self.live is not None,
            "price_factor": BATCH_DISCOUNT,
        }

    async def solve(self, problem: Problem) -> dict[str, Any]:
        """The imported reply as the first attempt, repaired live when ``live`` is set."""
        started = time.perf_counter()
        reply = self.output.replies.get(custom_id(self.dataset, problem.id))
        if reply is None or not reply.ok:
            why = "no line in the batch output" if reply is None else str(reply.error)
            category = "batch_missing" if reply is None else "batch_error"
            if self.live is None:
                return {
                    "status": "error",
                    "error_categories": [category],
                    "message": f"batch request failed: {why}",
                    "latency_s": time.perf_counter() - started,
                }
            result = await self._agent(self.live).asolve(problem.question)
            outcome = outcome_from_result(result)
            outcome["error_categories"] = [category, *outcome["error_categories"]]
            outcome["message"] = f"batch request failed ({why}); formulated live. " + str(
                outcome.get("message") or ""
            )
        else:
            seeded = SeededChatModel(reply.llm_reply(self.model), self.live, model=self.model)
            result = await self._agent(seeded).asolve(problem.question)
            outcome = outcome_from_result(result)
        if self.trace_dir is not None:
            save_trace(result, self.trace_dir)
        return outcome


def load_batch_output(
    dataset: Dataset, paths: str | Path | Iterable[str | Path]
) -> tuple[BatchOutput, list[str]]:
    """Read batch output for ``dataset``: the output and the ids it answers, in dataset order.

    Raises :class:`BatchFormatError` when no line belongs to the dataset or a
    custom id names a problem the dataset does not have.
    """
    output = read_batch_output(paths)
    foreign: list[str] = []
    unknown: list[str] = []
    by_id = dataset.by_id()
    answered: set[str] = set()
    for cid in output.replies:
        name, problem_id = split_custom_id(cid)
        if name != dataset.name:
            foreign.append(cid)
        elif problem_id not in by_id:
            unknown.append(problem_id)
        else:
            answered.add(problem_id)
    if foreign and not answered:
        names = sorted({split_custom_id(c)[0] for c in foreign})
        raise BatchFormatError(
            f"the batch output is for dataset {', '.join(names)}, not {dataset.name}; "
            "pass the dataset it was exported from"
        )
    if unknown:
        raise BatchFormatError(f"{dataset.name} has no problem ids {unknown[:10]}")
    if foreign:
        warnings.warn(
            f"{len(foreign)} batch line(s) of other datasets ignored (e.g. {foreign[0]})",
            stacklevel=2,
        )
    return output, [p.id for p in dataset.problems if p.id in answered]


# ------------------------------------------------------- every round by batch


ROUNDS_FILE = "batch_rounds.json"
"""Where a run directory keeps the replies of its batch rounds (see :class:`BatchRounds`)."""
_REPLAYED = ("max_repairs", "review", "hints", "sanity", "examples", "backend", "time_limit")
"""The agent settings a replay depends on, recorded with the rounds."""
MAX_FAILED_REPLIES = 3
"""A request whose reply was missing or unusable this many times ends its problem as an error."""


def round_id(dataset: str, problem_id: str, call: int) -> str:
    """The custom id of the ``call``-th LLM request (0 = formulate) of a problem."""
    return custom_id(dataset, problem_id) + (f"@r{call}" if call else "")


def split_round_id(text: str) -> tuple[str, str, int]:
    """``(dataset, problem id, call)`` of a :func:`round_id`."""
    dataset, problem_id = split_custom_id(text)
    head, sep, tail = problem_id.rpartition("@r")
    if sep and head and tail.isdigit():
        return dataset, head, int(tail)
    return dataset, problem_id, 0


class ReplayChatModel:
    """Answers the ``k``-th call with the ``k``-th recorded reply; records the first call past them.

    Replaying a problem's recorded replies through the real agent rebuilds its
    exact state (parsing, checking, solving and verifying are deterministic),
    so the first unanswered call is the problem's next request: a repair, a
    review or the first formulate. The agent ends that replay with an LLM error,
    which :class:`BatchRounds` reads as "pending", never as a result.
    """

    def __init__(self, replies: Sequence[LLMReply], model: str) -> None:
        self.replies = list(replies)
        self.model = model
        self.calls = 0
        self.pending: tuple[list[ChatMessage], dict[str, Any]] | None = None

    @property
    def model_name(self) -> str:
        """The model the batch runs."""
        return self.model

    def complete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """The next recorded reply, or a recorded pending request and an LLM error."""
        from agent.errors import LLMError

        k, self.calls = self.calls, self.calls + 1
        if k < len(self.replies):
            return dataclasses.replace(self.replies[k], latency_s=0.0)
        if self.pending is None:
            self.pending = (list(messages), dict(overrides))
        raise LLMError("waiting for the next batch round", hint="export the pending requests")

    async def acomplete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """Async :meth:`complete`."""
        return self.complete(messages, **overrides)

    def stream(self, messages: Sequence[ChatMessage], **overrides: Any) -> ChatStream:
        """The reply in one piece."""
        from agent.llm import ChatStream

        def deltas(out: ChatStream) -> Iterator[str]:
            reply = self.complete(messages, **overrides)
            if reply.content:
                yield reply.content
            out._finish(reply)

        return ChatStream(deltas)


@dataclass
class RoundSummary:
    """What one import did: problems advanced, finished, still pending, replies unusable."""

    applied: int = 0
    finished: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class BatchRounds:
    """Every LLM round of an eval through Batch files, kept in ``<run dir>/batch_rounds.json``.

    ``export(path, llm)`` writes the pending request of every unfinished problem
    (the first formulate, a repair, a review) as one Batch API file;
    ``import_(paths)`` applies the replies and advances each problem as far as
    it goes without an LLM; repeat until :meth:`pending` is empty. Replies that
    are missing from the output, errored or malformed leave their request
    pending (it is exported again); after :data:`MAX_FAILED_REPLIES` such
    failures the problem ends as an error. :meth:`outcome` is the runner's
    outcome of a finished problem (and :class:`ReplaySolver` scores a run with
    the normal runner). Voting samples are not batched (``samples`` must be 1):
    their calls run concurrently, so a call's position is not a stable key.
    """

    def __init__(
        self,
        run_dir: str | Path,
        *,
        dataset: str,
        problems: Mapping[str, str],
        model: str,
        config: AgentConfig | None = None,
        prompts: PromptSet | None = None,
    ) -> None:
        from agent.context import AgentConfig
        from agent.prompts import PromptSet

        self.run_dir = Path(run_dir)
        self.dataset = dataset
        self.problems = dict(problems)
        self.model = model
        self.prompts = prompts or PromptSet.default()
        self.state: dict[str, dict[str, Any]] = {}
        path = self.run_dir / ROUNDS_FILE
        stored: dict[str, Any] = {}
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("dataset") != dataset:
                raise BatchFormatError(
                    f"{path} holds rounds of dataset {data.get('dataset')!r}, not {dataset!r}"
                )
            self.state = dict(data.get("problems") or {})
            stored = dict(data.get("config") or {})
        # A replay must run with the settings the recorded replies were made under.
        self.config = config or AgentConfig(**{k: v for k, v in stored.items() if k in _REPLAYED})
        mine = {k: getattr(self.config, k) for k in _REPLAYED}
        if stored and mine != stored:
            changed = sorted(k for k in mine if mine[k] != stored.get(k))
            raise BatchFormatError(
                f"{path} was recorded with other agent settings ({', '.join(changed)}); "
                "use the same settings for every round of a run"
            )
        if self.config.samples != 1 or self.config.strategy != "formulation":
            raise ValueError("batch rounds run one formulation per problem (samples=1)")
        for pid in self.problems:
            self.state.setdefault(pid, {"replies": [], "failures": [], "outcome": None})

    @classmethod
    def for_run(
        cls,
        dataset: Dataset,
        *,
        run_id: str,
        model: str,
        out_dir: str | Path = "runs",
        ids: Sequence[str] | None = None,
        config: AgentConfig | None = None,
        prompts: PromptSet | None = None,
    ) -> BatchRounds:
        """The rounds of run ``run_id`` (the runner's directory for it), created if new.

        A run that ``batch-import`` scored from a first batch (its ``config.json``
        names the output files) starts with those replies as every problem's
        first call, so the next export holds the repairs its first attempts need.
        """
        from evals.report import CONFIG_FILE
        from evals.runner import safe_name

        run_dir = Path(out_dir) / dataset.family / dataset.variant / safe_name(model) / run_id
        chosen = select_problems(dataset, ids=ids)
        rounds = cls(
            run_dir,
            dataset=dataset.name,
            problems={p.id: p.question for p in chosen},
            model=model,
            config=config,
            prompts=prompts,
        )
        config_path = run_dir / CONFIG_FILE
        if not (run_dir / ROUNDS_FILE).exists() and config_path.exists():
            batch = json.loads(config_path.read_text(encoding="utf-8")).get("batch") or {}
            files = [Path(f) for f in batch.get("files") or [] if Path(f).exists()]
            if files:
                first = read_batch_output(files)
                for pid, entry in rounds.state.items():
                    reply = first.replies.get(custom_id(dataset.name, pid))
                    if reply is not None and reply.ok and not entry["replies"]:
                        entry["replies"].append(dataclasses.asdict(reply))
                for pid in rounds.pending():
                    if rounds.state[pid]["replies"]:
                        rounds._advance(pid)
                rounds.save()
        return rounds

    # -- state ---------------------------------------------------------------
    def save(self) -> Path:
        """Write the rounds file (atomically)."""
        from evals.results import write_json_atomic

        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / ROUNDS_FILE
        config = {k: getattr(self.config, k) for k in _REPLAYED}
        write_json_atomic(
            path,
            {
                "dataset": self.dataset,
                "model": self.model,
                "config": config,
                "problems": self.state,
            },
        )
        return path

    def pending(self) -> list[str]:
        """The problems not finished yet, in order."""
        return [pid for pid in self.problems if self.state[pid]["outcome"] is None]

    def outcome(self, problem_id: str) -> dict[str, Any] | None:
        """The runner outcome of a finished problem (None while it is pending)."""
        out = self.state[problem_id]["outcome"]
        return dict(out) if out is not None else None

    def _replay(self, problem_id: str) -> tuple[Any, ReplayChatModel]:
        from agent.api import OptimizationAgent

        replies = [BatchReply(**r).llm_reply(self.model) for r in self.state[problem_id]["replies"]]
        llm = ReplayChatModel(replies, self.model)
        agent = OptimizationAgent(llm=llm, config=self.config, prompts=self.prompts)
        return agent.solve(self.problems[problem_id]), llm

    def _advance(self, problem_id: str) -> tuple[list[ChatMessage], dict[str, Any]] | None:
        """Replay a problem: its next request, or None when it finished (outcome stored)."""
        result, llm = self._replay(problem_id)
        if llm.pending is not None:
            return llm.pending
        self.state[problem_id]["outcome"] = jsonable_outcome(outcome_from_result(result))
        return None

    # -- rounds --------------------------------------------------------------
    def export(self, path: str | Path, llm: ChatModel) -> list[dict[str, Any]]:
        """Write the pending request of every unfinished problem as one Batch API file."""
        lines = []
        for pid in self.pending():
            request = self._advance(pid)
            if request is None:
                continue
            messages, overrides = request
            call = len(self.state[pid]["replies"])
            overrides = {k: v for k, v in overrides.items() if k not in ("cache", "cache_tag")}
            lines.append(
                {
                    "custom_id": round_id(self.dataset, pid, call),
                    "method": "POST",
                    "url": BATCH_URL,
                    "body": request_body(llm, messages, **overrides),
                }
            )
        self.save()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        return lines

    def import_(self, paths: str | Path | Iterable[str | Path]) -> RoundSummary:
        """Apply a batch output to the pending problems and advance each as far as it goes."""
        output = read_batch_output(paths)
        summary = RoundSummary()
        answers: dict[tuple[str, int], BatchReply] = {}
        for cid, line in output.replies.items():
            name, pid, call = split_round_id(cid)
            if name == self.dataset and pid in self.problems:
                answers[(pid, call)] = line
        for pid in self.pending():
            entry = self.state[pid]
            call = len(entry["replies"])
            reply = answers.get((pid, call))
            problem = None
            if reply is None:
                summary.missing.append(pid)
                problem = "no reply in the batch output"
            elif not reply.ok:
                summary.malformed.append(pid)
                problem = f"the reply failed: {reply.error}"
            if problem is not None:
                entry["failures"].append(f"request {call}: {problem}")
                if len(entry["failures"]) >= MAX_FAILED_REPLIES:
                    entry["outcome"] = {
                        "status": "error",
                        "error_categories": ["batch_error"],
                        "message": "batch replies kept failing: " + "; ".join(entry["failures"]),
                        "latency_s": 0.0,
                    }
                    summary.failed.append(pid)
                continue
            assert reply is not None
            entry["replies"].append(dataclasses.asdict(reply))
            summary.applied += 1
            if self._advance(pid) is None:
                summary.finished.append(pid)
        summary.pending = self.pending()
        self.save()
        return summary


def jsonable_outcome(outcome: Mapping[str, Any]) -> dict[str, Any]:
    """An outcome mapping as plain JSON data (for the rounds file)."""
    from evals.results import jsonable

    data: dict[str, Any] = json.loads(json.dumps(jsonable(dict(outcome))))
    return data


class ReplaySolver:
    """A :class:`~evals.runner.Solver` that scores the finished problems of :class:`BatchRounds`.

    Run it with the normal runner once nothing is pending: every outcome was
    computed by the agent from the batch replies; a problem still pending
    scores as an error saying so.
    """

    def __init__(self, rounds: BatchRounds) -> None:
        self.rounds = rounds

    @property
    def model_name(self) -> str:
        """The model the batch ran."""
        return self.rounds.model

    def describe(self) -> dict[str, Any]:
        """The ``agent`` section of the run's ``config.json``."""
        from agent.api import OptimizationAgent

        llm = ReplayChatModel([], self.rounds.model)
        agent = OptimizationAgent(llm=llm, config=self.rounds.config, prompts=self.rounds.prompts)
        info = agent_info(agent)
        info.update(model=self.rounds.model, base_url=None, batch_rounds=True)
        return info

    async def solve(self, problem: Problem) -> dict[str, Any]:
        """The outcome the batch rounds reached for ``problem``."""
        out = self.rounds.outcome(problem.id) if problem.id in self.rounds.state else None
        if out is None:
            return {
                "status": "error",
                "error_categories": ["batch_pending"],
                "message": "still waiting for a batch reply: export and import another round",
                "latency_s": 0.0,
            }
        return out
