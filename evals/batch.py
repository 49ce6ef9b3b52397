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
   endpoint needed (``optiwise eval batch-export/batch-import --run-id R``):
   ``export`` writes the pending requests of each unfinished problem (the first
   formulate, a repair, a review; one per voting sample) as one file;
   ``import_`` applies the replies and advances each problem; repeat until
   nothing is pending, then score the run with :class:`ReplaySolver` and the
   normal runner. State lives in ``<run dir>/batch_rounds.json``; a problem is
   advanced by replaying its recorded replies through the real agent
   (:class:`ReplayChatModel`), so its next request is exactly what a live run
   would send. A missing reply stays pending; a line that carries an error is
   exported again, up to :data:`MAX_FAILED_REPLIES` times, then its attempt
   ends with an LLM error; a reply that is not JSON is the agent's to handle
   (a failed attempt, repaired in the next round), as it would be live.

Batch output lines that failed (``error`` set, or an HTTP status other than
200) count as errors; with ``continue_repairs`` those problems are formulated
live instead. Imported tokens are priced at half the list price (the Batch
API's discount, :data:`BATCH_DISCOUNT`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.agent_solver import agent_info, outcome_from_result, save_trace, unavailable_outcome
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
    "split_request_id",
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
    problem: str,
    *,
    config: AgentConfig | None = None,
    prompts: PromptSet | None = None,
    data: str | Path | None = None,
) -> list[ChatMessage]:
    """The messages of the agent's first formulate request for ``problem``.

    A thin wrapper over the formulate node's own request builder, so an
    exported request carries the same system prompt, few-shot examples and
    problem text as a live run with the same ``config`` and ``prompts``; with
    ``data`` (the problem's data folder) its tables are described exactly as a
    live run describes them (:meth:`agent.context.RunContext.described`), and
    the data stay on disk.
    """
    from agent import nodes
    from agent.context import AgentConfig, RunContext
    from agent.data_context import opened_data
    from agent.fake import FakeLLM
    from agent.prompts import PromptSet
    from agent.trace import Trace

    with opened_data(data) as prepared:
        ctx = RunContext.described(
            llm=FakeLLM(),  # never called: only the request is built
            config=config or AgentConfig(),
            prompts=prompts or PromptSet.default(),
            trace=Trace(),
            data=prepared,
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
    """One Batch API line: the first formulate request of ``problem`` by ``agent``.

    A problem with a data folder (:attr:`~evals.problems.Problem.data_dir`) gets its
    tables described in the request, as a live run does; the folder is not copied.
    """
    messages = formulate_messages(
        problem.question, config=agent.config, prompts=agent.prompts, data=problem.data_dir
    )
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

    A problem that comes with tables is described with them (the data stay on disk;
    ``batch-import`` reads them from the same folder). A problem a live run would not
    run gets no line: one whose tables are not shipped (``missing_data``) or whose data
    folder is not there; :class:`BatchImportSolver` gives it the live run's outcome.

    >>> agent = OptimizationAgent(model="gpt-4o-mini")               # doctest: +SKIP
    >>> lines = export_requests("nl4opt", "requests.jsonl", agent)  # doctest: +SKIP
    """
    _check_batchable(agent)
    loaded = dataset if isinstance(dataset, Dataset) else load(dataset, data_dir=data_dir)
    lines = [
        batch_request(agent, loaded.name, p)
        for p in select_problems(loaded, ids=ids, limit=limit)
        if _unrunnable(p) is None
    ]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    tmp.replace(target)
    return lines


def _unrunnable(problem: Problem) -> dict[str, Any] | None:
    """The outcome a live run gives a problem it cannot run (no request is made), else None."""
    unavailable = unavailable_outcome(problem)
    if unavailable is not None:
        return unavailable
    data = problem.data_dir
    if data is not None and not Path(data).is_dir():
        return {
            "status": "error",
            "objective": None,
            "error_categories": ["data"],
            "message": f"the problem's data folder {data} is not there (fetch the dataset)",
        }
    return None


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
    line_id: str | None = None
    """The output line's own id (OpenAI's ``batch_req_…``): an import applies a line once."""

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
    line_id = data.get("id")
    reply = _parse_reply(cid, data)
    if isinstance(line_id, str) and line_id:
        reply = dataclasses.replace(reply, line_id=line_id)
    return reply


def _parse_reply(cid: str, data: Mapping[str, Any]) -> BatchReply:
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
        """The imported reply as the first attempt, repaired live when ``live`` is set.

        The problem's data folder goes with it, as in a live run (its tables are read
        from disk when the imported document is checked and solved)."""
        started = time.perf_counter()
        unrunnable = _unrunnable(problem)
        if unrunnable is not None:
            return unrunnable
        data = problem.data_dir
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
            result = await self._agent(self.live).asolve(problem.question, data)
            outcome = outcome_from_result(result)
            outcome["error_categories"] = [category, *outcome["error_categories"]]
            outcome["message"] = f"batch request failed ({why}); formulated live. " + str(
                outcome.get("message") or ""
            )
        else:
            seeded = SeededChatModel(reply.llm_reply(self.model), self.live, model=self.model)
            result = await self._agent(seeded).asolve(problem.question, data)
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
_REPLAYED = (
    "max_repairs",
    "review",
    "hints",
    "sanity",
    "examples",
    "backend",
    "time_limit",
    "samples",
    "sample_temperature",
    "vote_rtol",
)
"""The agent settings a replay depends on, recorded with the rounds."""
_DEFAULTS_BEFORE_SAMPLES = {"samples": 1, "sample_temperature": 0.7, "vote_rtol": 1e-6}
"""Values of settings added to :data:`_REPLAYED` later, for rounds files written before."""
MAX_FAILED_REPLIES = 3
"""A request whose batch line carried an error this many times ends its attempt with an LLM
error, as a live call does once the client's retries are spent."""


def round_id(dataset: str, problem_id: str, call: int, sample: int | None = None) -> str:
    """The custom id of the ``call``-th LLM request (0 = formulate) of a problem.

    ``sample`` is the voting sample (candidate) the request belongs to; it is
    left out of the id for a run with one sample (``"<dataset>:<id>@r<call>"``,
    and plain ``"<dataset>:<id>"`` for the first formulate, as
    :func:`export_requests` writes it).
    """
    tail = "" if sample is None else f"@s{sample}r{call}"
    if sample is None and call:
        tail = f"@r{call}"
    return custom_id(dataset, problem_id) + tail


_REQUEST_TAIL = re.compile(r"^(?P<head>.+)@(?:s(?P<sample>\d+))?r(?P<call>\d+)$")


def split_request_id(text: str) -> tuple[str, str, int | None, int]:
    """``(dataset, problem id, sample or None, call)`` of a :func:`round_id`."""
    dataset, problem_id = split_custom_id(text)
    match = _REQUEST_TAIL.match(problem_id)
    if match is None:
        return dataset, problem_id, None, 0
    sample = match.group("sample")
    return (
        dataset,
        match.group("head"),
        None if sample is None else int(sample),
        int(match.group("call")),
    )


def split_round_id(text: str) -> tuple[str, str, int]:
    """``(dataset, problem id, call)`` of a :func:`round_id` (the sample left out)."""
    dataset, problem_id, _, call = split_request_id(text)
    return dataset, problem_id, call


def _sample_of(overrides: Mapping[str, Any]) -> int:
    """The voting sample a call belongs to: the agent tags sample ``i`` ``"sample-i"``."""
    tag = str(overrides.get("cache_tag") or "")
    head, _, index = tag.rpartition("-")
    return int(index) if head == "sample" and index.isdigit() else 0


class ReplayChatModel:
    """Answers each sample's ``k``-th call with its ``k``-th recorded reply; records the next.

    Replaying a problem's recorded replies through the real agent rebuilds its
    exact state (parsing, checking, solving and verifying are deterministic),
    so the first unanswered call of each voting sample is that sample's next
    request: a repair, a review or the first formulate. The agent ends that
    sample with an LLM error, which :class:`BatchRounds` reads as "pending",
    never as a result. A call listed in ``failed`` raises an LLM error with its
    message instead: the attempt ends as a live one whose call failed.
    """

    def __init__(
        self,
        replies: Sequence[LLMReply] | Mapping[int, Sequence[LLMReply]],
        model: str,
        failed: Mapping[tuple[int, int], str] | None = None,
    ) -> None:
        self.replies: dict[int, list[LLMReply]] = (
            {int(k): list(v) for k, v in replies.items()}
            if isinstance(replies, Mapping)
            else {0: list(replies)}
        )
        self.model = model
        self.failed = dict(failed or {})
        self.calls: dict[int, int] = {}
        self.waiting: dict[int, tuple[int, list[ChatMessage], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        """The model the batch runs."""
        return self.model

    @property
    def pending(self) -> tuple[list[ChatMessage], dict[str, Any]] | None:
        """The first sample's pending request (messages, overrides), if any."""
        if not self.waiting:
            return None
        _, messages, overrides = self.waiting[min(self.waiting)]
        return messages, overrides

    def complete(self, messages: Sequence[ChatMessage], **overrides: Any) -> LLMReply:
        """The next recorded reply, or a recorded pending request and an LLM error."""
        from agent.errors import LLMError

        sample = _sample_of(overrides)
        with self._lock:
            k = self.calls.get(sample, 0)
            self.calls[sample] = k + 1
            recorded = self.replies.get(sample, [])
            if k < len(recorded):
                return dataclasses.replace(recorded[k], latency_s=0.0)
            if (sample, k) in self.failed:
                raise LLMError(self.failed[(sample, k)], hint="the batch request kept failing")
            self.waiting.setdefault(sample, (k, list(messages), dict(overrides)))
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
    """What one import did, problem by problem.

    ``missing``: problems with a request that had no line in the output (it
    stays pending); ``errored``: a line carried an error (the request is
    exported again); ``malformed``: a completion that is not the JSON document
    asked for (the agent counts it as a failed attempt, as live); ``failed``:
    a request whose lines kept erroring, so its attempt ended as an LLM error.
    ``messages`` says, per problem, what happened to each of its requests.
    """

    applied: int = 0
    finished: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    errored: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    messages: dict[str, list[str]] = field(default_factory=dict)
    repeated: list[str] = field(default_factory=list)
    """Custom ids of lines applied by an earlier import (the same line again): ignored."""
    stale: list[str] = field(default_factory=list)
    """Custom ids of lines for requests no longer waited for (an earlier round's output)."""
    already_imported: bool = False
    """The same output file(s), byte for byte, were imported before: nothing was done."""
    counted: bool = False
    """The import changed something, so it counts as a round (False: the round stays)."""

    def note(self, problem_id: str, text: str) -> None:
        """Add a message about ``problem_id``."""
        self.messages.setdefault(problem_id, []).append(text)


def _key(sample: int, call: int) -> str:
    return f"{sample}:{call}"


def _unkey(text: str) -> tuple[int, int]:
    sample, _, call = text.partition(":")
    return int(sample), int(call)


def _is_json_document(text: str) -> bool:
    from agent.errors import ParseError
    from agent.llm import extract_json

    try:
        extract_json(text)
    except ParseError:
        return False
    return True


class BatchRounds:
    """Every LLM round of an eval through Batch files, kept in ``<run dir>/batch_rounds.json``.

    ``export(path, llm)`` writes the pending requests of every unfinished problem
    (the first formulate, a repair, a review; one per voting sample still
    working) as one Batch API file; ``import_(paths)`` applies the replies and
    advances each problem as far as it goes without an LLM; repeat until
    :meth:`pending` is empty. :meth:`outcome` is the runner's outcome of a
    finished problem (and :class:`ReplaySolver` scores a run with the normal
    runner).

    What happens to a reply that is not there or not usable (each as a live run
    would meet it):

    - *missing* (no line for the request, or an unreadable line): the request
      stays pending and is exported again, as often as it takes;
    - *errored* (the line carries an error: expired, HTTP 5xx/429 ...): exported
      again, like the live client's retries; after :data:`MAX_FAILED_REPLIES`
      such lines the attempt ends with an LLM error, as a live call does;
    - *malformed* (a completion that is not the JSON document asked for): handed
      to the agent like a live reply, so the attempt fails with a parse error
      and the next round holds its repair (or the problem ends ``invalid``
      when no repair is left).

    Voting samples (``samples > 1``) go through the same file: each sample's
    calls are keyed by its index (custom id ``<dataset>:<id>@s<i>r<call>``), so
    a sample waiting for a reply does not hold up the others' requests.
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
        data: Mapping[str, str | None] | None = None,
    ) -> None:
        from agent.context import AgentConfig
        from agent.prompts import PromptSet

        self.run_dir = Path(run_dir)
        self.dataset = dataset
        self.problems = dict(problems)
        self.data = {k: v for k, v in (data or {}).items() if v}
        """Problems' data folders (their tables go with every replay, as in a live run)."""
        self.model = model
        self.prompts = prompts or PromptSet.default()
        self.state: dict[str, dict[str, Any]] = {}
        self.imports = 0
        self.imported: list[str] = []
        """sha256 of each imported output (an identical re-import changes nothing)."""
        self.lines: list[str] = []
        """Ids of the output lines applied so far (a line is applied once)."""
        path = self.run_dir / ROUNDS_FILE
        stored: dict[str, Any] = {}
        stored_prompts: str | None = None
        if path.exists():
            saved: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("dataset") != dataset:
                raise BatchFormatError(
                    f"{path} holds rounds of dataset {saved.get('dataset')!r}, not {dataset!r}"
                )
            self.state = {k: _upgrade(v) for k, v in (saved.get("problems") or {}).items()}
            stored = {**_DEFAULTS_BEFORE_SAMPLES, **dict(saved.get("config") or {})}
            stored_prompts = saved.get("prompts_digest")
            self.imports = int(saved.get("imports") or 0)
            self.imported = [str(d) for d in saved.get("imported") or []]
            self.lines = [str(x) for x in saved.get("lines") or []]
        # A replay must run with the settings the recorded replies were made under.
        self.config = config or AgentConfig(**{k: v for k, v in stored.items() if k in _REPLAYED})
        mine = {k: getattr(self.config, k) for k in _REPLAYED}
        if stored and mine != {k: stored.get(k) for k in _REPLAYED}:
            changed = sorted(k for k in mine if mine[k] != stored.get(k))
            raise BatchFormatError(
                f"{path} was recorded with other agent settings ({', '.join(changed)}); "
                "use the same settings for every round of a run"
            )
        if stored_prompts and stored_prompts != self.prompts.digest():
            raise BatchFormatError(
                f"{path} was recorded with another prompt set (digest {stored_prompts[:12]}); "
                "pass the same --prompts for every round of a run"
            )
        if self.config.strategy != "formulation":
            raise ValueError("batch rounds run the formulation strategy (not code or both)")
        for pid in self.problems:
            self.state.setdefault(pid, _upgrade({}))

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
            data={p.id: getattr(p, "data_dir", None) for p in chosen},
        )
        from evals.agent_solver import unavailable_outcome

        for problem in chosen:
            # As live: a problem whose tables are not shipped is not run (no request).
            unavailable = unavailable_outcome(problem)
            entry = rounds.state[problem.id]
            if unavailable is not None and entry["outcome"] is None:
                entry.update(waiting=[], outcome=jsonable_outcome(unavailable))
        config_path = run_dir / CONFIG_FILE
        if not (run_dir / ROUNDS_FILE).exists() and config_path.exists():
            batch = json.loads(config_path.read_text(encoding="utf-8")).get("batch") or {}
            files = [Path(f) for f in batch.get("files") or [] if Path(f).exists()]
            if files and rounds.config.samples == 1:
                first = read_batch_output(files)
                for pid, entry in rounds.state.items():
                    reply = first.replies.get(custom_id(dataset.name, pid))
                    if reply is not None and reply.ok and not entry["samples"].get("0"):
                        entry["samples"]["0"] = [dataclasses.asdict(reply)]
                for pid in rounds.pending():
                    if rounds.state[pid]["samples"].get("0"):
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
                "prompts_digest": self.prompts.digest(),
                "imports": self.imports,
                "imported": self.imported,
                "lines": self.lines,
                "problems": self.state,
            },
        )
        return path

    def pending(self) -> list[str]:
        """The problems not finished yet, in order."""
        return [pid for pid in self.problems if self.state[pid]["outcome"] is None]

    def finished(self) -> list[str]:
        """The problems with an outcome, in order."""
        return [pid for pid in self.problems if self.state[pid]["outcome"] is not None]

    def outcome(self, problem_id: str) -> dict[str, Any] | None:
        """The runner outcome of a finished problem (None while it is pending)."""
        out = self.state[problem_id]["outcome"]
        return dict(out) if out is not None else None

    def waiting(self, problem_id: str) -> list[tuple[int, int]]:
        """``(sample, call)`` of each request the problem waits for (replays it if unknown)."""
        entry = self.state[problem_id]
        if entry["outcome"] is not None:
            return []
        if entry.get("waiting") is None:
            self._advance(problem_id)
        return [_unkey(k) for k in entry.get("waiting") or []]

    def request_id(self, problem_id: str, sample: int, call: int) -> str:
        """The custom id of a problem's request (the sample named only when voting)."""
        return round_id(self.dataset, problem_id, call, sample if self.config.samples > 1 else None)

    def _replay(self, problem_id: str) -> tuple[Any, ReplayChatModel]:
        from agent.api import OptimizationAgent

        entry = self.state[problem_id]
        replies = {
            int(s): [BatchReply(**r).llm_reply(self.model) for r in rs]
            for s, rs in entry["samples"].items()
        }
        failed = {_unkey(k): v for k, v in entry["gave_up"].items()}
        llm = ReplayChatModel(replies, self.model, failed)
        agent = OptimizationAgent(llm=llm, config=self.config, prompts=self.prompts)
        folder = self.data.get(problem_id)
        if folder:
            return agent.solve(self.problems[problem_id], folder), llm
        return agent.solve(self.problems[problem_id]), llm

    def _advance(
        self, problem_id: str
    ) -> dict[int, tuple[int, list[ChatMessage], dict[str, Any]]] | None:
        """Replay a problem: its requests by sample, or None when it finished (outcome stored)."""
        from evals.agent_solver import save_trace

        entry = self.state[problem_id]
        folder = self.data.get(problem_id)
        if folder and not Path(folder).is_dir():
            # As live (evals.agent_solver): an error outcome for this problem, not a failed export.
            entry["waiting"] = []
            entry["outcome"] = {
                "status": "error",
                "objective": None,
                "error_categories": ["data"],
                "message": f"the problem's data folder {folder} is not there",
            }
            return None
        result, llm = self._replay(problem_id)
        if llm.waiting:
            entry["waiting"] = [_key(s, w[0]) for s, w in sorted(llm.waiting.items())]
            return dict(llm.waiting)
        entry["waiting"] = []
        entry["outcome"] = jsonable_outcome(outcome_from_result(result))
        save_trace(result, self.run_dir / "traces")
        return None

    # -- rounds --------------------------------------------------------------
    def requests(self, llm: ChatModel) -> list[dict[str, Any]]:
        """The Batch API lines of every pending request (problems that finish are stored)."""
        lines = []
        for pid in self.pending():
            waiting = self._advance(pid)
            for sample, (call, messages, overrides) in sorted((waiting or {}).items()):
                kept = {k: v for k, v in overrides.items() if k not in ("cache", "cache_tag")}
                lines.append(
                    {
                        "custom_id": self.request_id(pid, sample, call),
                        "method": "POST",
                        "url": BATCH_URL,
                        "body": request_body(llm, messages, **kept),
                    }
                )
        return lines

    def export(self, path: str | Path, llm: ChatModel) -> list[dict[str, Any]]:
        """Write the pending requests of every unfinished problem as one Batch API file."""
        lines = self.requests(llm)
        self.save()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        tmp.replace(target)
        return lines

    def import_(self, paths: str | Path | Iterable[str | Path]) -> RoundSummary:
        """Apply a batch output to the pending problems and advance each as far as it goes."""
        output = read_batch_output(paths)
        summary = RoundSummary()
        if output.sha256 in self.imported:
            summary.already_imported = True
            summary.counted = False
            summary.pending = self.pending()
            return summary
        seen = set(self.lines)
        answers: dict[tuple[str, int, int], BatchReply] = {}
        for cid, line in output.replies.items():
            try:
                name, pid, sample, call = split_request_id(cid)
            except BatchFormatError:
                summary.unknown.append(cid)
                continue
            if name != self.dataset or pid not in self.problems:
                summary.unknown.append(cid)
                continue
            if line.line_id is not None and line.line_id in seen:
                summary.repeated.append(cid)
                continue
            answers[(pid, sample or 0, call)] = line
        used: set[tuple[str, int, int]] = set()
        for pid in self.pending():
            entry = self.state[pid]
            changed = False
            for sample, call in self.waiting(pid):
                rid = self.request_id(pid, sample, call)
                reply = answers.get((pid, sample, call))
                if reply is not None:
                    used.add((pid, sample, call))
                    if reply.line_id is not None:
                        self.lines.append(reply.line_id)
                if reply is None:
                    _add(summary.missing, pid)
                    summary.note(pid, f"{rid}: no reply in the batch output; exported again")
                    continue
                if not reply.ok:
                    failures = entry["failures"].setdefault(_key(sample, call), [])
                    failures.append(str(reply.error))
                    if len(failures) < MAX_FAILED_REPLIES:
                        _add(summary.errored, pid)
                        summary.note(
                            pid,
                            f"{rid}: the request failed ({reply.error}); exported again "
                            f"({len(failures)} of {MAX_FAILED_REPLIES} tries)",
                        )
                        continue
                    entry["gave_up"][_key(sample, call)] = (
                        f"batch request {rid} failed {len(failures)} times: " + "; ".join(failures)
                    )
                    _add(summary.failed, pid)
                    summary.note(
                        pid,
                        f"{rid}: failed {len(failures)} times ({reply.error}); the attempt ends "
                        "with an LLM error, as a live call does after its retries",
                    )
                    changed = True
                    continue
                if not _is_json_document(reply.content or ""):
                    _add(summary.malformed, pid)
                    summary.note(
                        pid,
                        f"{rid}: the reply is not a JSON document; the agent counts it as a "
                        "failed attempt (parse error), as it does live",
                    )
                entry["samples"].setdefault(str(sample), []).append(dataclasses.asdict(reply))
                summary.applied += 1
                changed = True
            if changed and self._advance(pid) is None:
                summary.finished.append(pid)
        for key, reply in answers.items():
            if key not in used:
                summary.stale.append(reply.custom_id)
        summary.pending = self.pending()
        summary.counted = bool(used)  # an import that matched no waiting request is no round
        if summary.counted:
            self.imports += 1
            self.imported.append(output.sha256)
        self.save()
        return summary


def _add(names: list[str], name: str) -> None:
    if name not in names:
        names.append(name)


def _upgrade(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A problem's rounds state in the current shape (files written before voting samples)."""
    out = dict(entry)
    samples = out.get("samples")
    if not isinstance(samples, dict):
        replies = list(out.pop("replies", None) or [])
        samples = {"0": replies} if replies else {}
    out["samples"] = samples
    failures = out.get("failures")
    if not isinstance(failures, dict):  # a list: the failures of sample 0's next call
        calls = len(samples.get("0", []))
        failures = {_key(0, calls): list(failures)} if failures else {}
    out["failures"] = failures
    out.setdefault("gave_up", {})
    out.setdefault("waiting", None)
    out.setdefault("outcome", None)
    return out


def jsonable_outcome(outcome: Mapping[str, Any]) -> dict[str, Any]:
    """An outcome mapping as plain JSON data (for the rounds file)."""
    from evals.results import jsonable

    data: dict[str, Any] = json.loads(json.dumps(jsonable(dict(outcome))))
    return data


class ReplaySolver:
    """A :class:`~evals.runner.Solver` that scores the finished problems of :class:`BatchRounds`.

    Run it with the normal runner: every outcome was computed by the agent from
    the batch replies; a problem still pending scores as an error saying so
    (``optiwise eval batch-import`` only scores the finished ones).
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
