"""``optiwise tune``: improve the agent's own prompts from benchmark feedback.

The trainable parameters are prompts of the agent's :class:`~agent.prompts.PromptSet`
(``formulate`` and ``repair`` by default; any of system, formulate, repair,
review, ...), the pool of worked examples (``examples``) and a code hook,
``repair_feedback``: the Python function that turns verify findings into the
repair message's error list (:mod:`agent.feedback`). A proposed hook must
parse and run on sample findings in the sandbox before it is scored, and the
agent runs it sandboxed too. One step with OptoPrime or OPRO:

1. run the agent with the current prompts on a seeded minibatch of the
   train split, inside one traced operator whose inputs are the prompts;
2. give the optimizer the per-problem text feedback (:mod:`evals.tune.feedback`);
3. ``propose()`` new prompts (a proposal must keep every ``$placeholder``
   of the prompt it replaces);
4. score the proposal on the validation split; ``update()`` when it scores
   at least the current prompts, else ``reject()``.

With GEPA the ``gepa`` package runs the search (minibatch acceptance,
Pareto pool over validation items), with the same feedback as side
information.

Everything lands in ``--out DIR``: ``steps.jsonl`` (one record per step:
the minibatch, feedback, the optimizer's prompts and reply, the proposal,
scores, accepted or not, spend), ``state.json`` (what a killed run resumes
from), ``prompts/`` (the best prompt set so far, loadable with
``optiwise ask/eval --prompts DIR`` or ``OptimizationAgent(prompts=PromptSet.load(DIR))``),
and at the end ``report.md`` (validation score per step, test score of the
start and final prompts, the diff, the cost) and ``scores.png`` when
matplotlib is installed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any, Literal

from agent.feedback import DEFAULT_SOURCE, HOOK_NAME, check_hook
from agent.llm import ChatModel, LLMReply
from agent.opto import (
    GEPA,
    OPRO,
    Evaluation,
    ExecutionError,
    OptoPrime,
    ParameterNode,
    Proposal,
    apply_op,
    name_scope,
)
from agent.prompts import PromptSet
from agent.usage import price_for
from evals.problems import Problem
from evals.scoring import DEFAULT_PROTOCOL
from evals.tune.budget import Budget, BudgetedChatModel, BudgetExceeded, TuneStopped
from evals.tune.data import Splits
from evals.tune.feedback import ProblemFeedback, problem_feedback

__all__ = [
    "HOOK",
    "BatchPending",
    "TuneConfig",
    "TuneResult",
    "Tuner",
    "batch_id",
    "estimate",
    "estimate_lines",
    "run_promst",
    "step_reason",
]

OptimizerName = Literal["optoprime", "opro", "gepa", "promst"]
DEFAULT_COMPONENTS = ("formulate", "repair")
EXAMPLES = "examples"
"""The pseudo-component for the pool of worked examples (sample ids the agent retrieves from)."""
HOOK = HOOK_NAME
"""The code component: the source of ``repair_feedback(findings) -> str`` (:mod:`agent.feedback`)."""
NOT_PROMPTS = (EXAMPLES, HOOK)
HOOK_FILE = f"{HOOK_NAME}.py"
"""Where the tuned hook is saved, beside the prompts (``prompts/repair_feedback.py``)."""
STATE_FILE = "state.json"
STEPS_FILE = "steps.jsonl"


@dataclass
class TuneConfig:
    """What to tune and how; see ``optiwise tune --help`` for each field."""

    out: Path
    optimizer: OptimizerName = "optoprime"
    components: tuple[str, ...] = DEFAULT_COMPONENTS
    steps: int = 5
    minibatch: int = 3
    seed: int = 0
    budget_calls: int | None = None
    budget_usd: float | None = None
    protocol: str = DEFAULT_PROTOCOL
    max_repairs: int = 1
    examples: int = 2
    concurrency: int = 4
    executor: str = "local"  # local | process | ray: where the agent's CPU work runs
    workers: int | None = None  # process/ray pool size (default: evals.executors.default_workers)
    ray_address: str | None = None
    task_model: str | None = None
    optimizer_model: str | None = None
    start_examples: tuple[str, ...] | None = None  # starting pool (default: every usable sample)
    export_batch: bool = False  # write every evaluation's task requests to batch/
    batch_only: bool = False  # never call the task model live: stop at requests without replies

    def fingerprint(self, splits: Splits) -> str:
        """What must match for a run folder to be resumed."""
        key = {
            "optimizer": self.optimizer,
            "components": list(self.components),
            "minibatch": self.minibatch,
            "seed": self.seed,
            "protocol": self.protocol,
            "splits": splits.to_dict(),
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TuneResult:
    """The outcome of a run (also written to the run folder)."""

    best_prompts: dict[str, str]
    best_val: float
    start_val: float
    history: list[dict[str, Any]]
    test_start: float | None
    test_best: float | None
    stopped: str
    calls: dict[str, int]
    cost_usd: float
    out: Path
    resumed_from: int = 0
    log: list[str] = field(default_factory=list)


class BatchPending(TuneStopped):
    """Batch-only mode needs replies to requests it has written; re-run after importing them."""

    kind = "batch"

    def __init__(self, path: Path, count: int) -> None:
        self.path = path
        super().__init__(
            f"{count} task request(s) written to {path}; submit it to the Batch API and re-run "
            "with --import-batch OUTPUT.jsonl"
        )


def batch_id(digest: str, problem: Problem) -> str:
    """The custom id of a problem's formulate request under a prompt set."""
    return f"{digest[:12]}:{problem.id}"


def step_reason(
    empty: bool, errors: Sequence[str], val: float, before: float, terminated: bool = False
) -> str:
    """Why a step's proposal was accepted or not, in one line (for ``report.md``)."""
    problems = "; ".join(dict.fromkeys(str(e) for e in errors))
    if terminated:
        return "the optimizer proposed no change (it declared the prompts final)"
    if empty:
        return f"no usable proposal: {problems}" if problems else "the proposal changed nothing"
    verdict = (
        f"validation {val:.3f} >= {before:.3f} before"
        if val >= before
        else f"validation {val:.3f} < {before:.3f} before"
    )
    return f"{verdict} (parts not used: {problems})" if problems else verdict


def _cell(text: str, limit: int = 200) -> str:
    """``text`` fit for one Markdown table cell: one line, pipes escaped, shortened."""
    one = " ".join(text.split())
    if len(one) > limit:
        one = one[: limit - 1] + "…"
    return one.replace("|", "\\|")


def _as_text(value: Any) -> str:
    """A component's value as stored in the run state (lists of example ids as JSON)."""
    return value if isinstance(value, str) else json.dumps(sorted(value))


def _available_examples() -> dict[str, str]:
    """Sample id -> title of every packaged sample usable as a worked example."""
    from agent.examples import examples
    from modeling.samples import load_samples

    usable = {e.id for e in examples()}
    return {s.id: s.title for s in load_samples() if s.id in usable}


def _placeholders(text: str) -> frozenset[str]:
    return PromptSet({"p": text}).variables("p")


class Tuner:
    """One tuning run (see the module docstring)."""

    def __init__(
        self,
        config: TuneConfig,
        splits: Splits,
        *,
        task_llm: ChatModel,
        optimizer_llm: ChatModel,
        start: PromptSet | None = None,
        start_hook: str | None = None,
    ) -> None:
        self.config = config
        self.splits = splits
        self.start_hook = start_hook
        self.budget = Budget(config.budget_calls, config.budget_usd)
        self.task_llm = BudgetedChatModel(task_llm, self.budget, "task")
        self.optimizer_llm = BudgetedChatModel(optimizer_llm, self.budget, "optimizer")
        self.start = start or PromptSet.default()
        unknown = [c for c in config.components if c not in self.start and c not in NOT_PROMPTS]
        if unknown:
            known = ", ".join([*self.start, *NOT_PROMPTS])
            raise ValueError(f"no prompt named {', '.join(unknown)}; known: {known}")
        self.out = Path(config.out)
        self.available_examples = _available_examples()
        self.start_texts = {c: self._start_text(c) for c in config.components}
        self._cache: dict[tuple[str, str], ProblemFeedback] = {}
        self._pool: Any = None  # a running evals.executors executor, reused across evaluations
        self.batch_replies: dict[str, LLMReply] = {}
        if config.batch_only and config.optimizer == "gepa":
            raise ValueError("batch-only mode works with optoprime and opro, not gepa")

    # -- evaluation --------------------------------------------------------------

    def prompt_set(self, texts: Mapping[str, str]) -> PromptSet:
        """The full prompt set with ``texts`` replacing the tuned components."""
        return self.start.updated({k: v for k, v in texts.items() if k not in NOT_PROMPTS})

    def _start_text(self, component: str) -> str:
        if component == EXAMPLES:
            return self._start_pool()
        if component == HOOK:
            return self.start_hook or DEFAULT_SOURCE
        return self.start[component]

    def _start_pool(self) -> str:
        ids = self.config.start_examples or tuple(self.available_examples)
        unknown = sorted(set(ids) - set(self.available_examples))
        if unknown:
            raise ValueError(f"unknown worked example(s) {', '.join(unknown)}")
        return json.dumps(sorted(ids))

    def pool_dir(self, texts: Mapping[str, str]) -> Path | None:
        """A folder holding the worked examples of ``texts`` (None: the packaged pool)."""
        if EXAMPLES not in texts:
            return None
        from modeling.samples import samples_dir

        ids = sorted(json.loads(texts[EXAMPLES]))
        folder = self.out / "pools" / hashlib.sha1(",".join(ids).encode()).hexdigest()[:12]
        if not folder.is_dir():
            folder.mkdir(parents=True)
            source = samples_dir()
            for sample_id in ids:
                text = source.joinpath(f"{sample_id}.yaml").read_text(encoding="utf-8")
                (folder / f"{sample_id}.yaml").write_text(text, encoding="utf-8")
        return folder

    def evaluate(
        self, texts: Mapping[str, str], problems: Sequence[Problem]
    ) -> list[ProblemFeedback]:
        """Run the agent with ``texts`` on ``problems``; feedback per problem (cached by prompts).

        With imported batch replies, a problem whose formulate request was in
        the batch starts from that reply (repair rounds, if any, go live); in
        batch-only mode a problem without one stops the run with its request
        written to ``batch/`` (:class:`BatchPending`).
        """
        from agent.api import OptimizationAgent
        from agent.context import AgentConfig

        prompts = self.prompt_set(texts)
        pool = self.pool_dir(texts)
        hook = texts.get(HOOK)
        digest = prompts.digest()
        if pool is not None:
            digest = hashlib.sha256((digest + pool.name).encode()).hexdigest()
        if hook is not None and hook.strip() != DEFAULT_SOURCE.strip():
            digest = hashlib.sha256((digest + hook).encode()).hexdigest()
        else:
            hook = None
        todo = [p for p in problems if (digest, p.id) not in self._cache]
        if not todo:
            return [self._cache[(digest, p.id)] for p in problems]
        if self.budget.exhausted:
            raise BudgetExceeded("the budget is used up")
        options: dict[str, Any] = {
            "config": AgentConfig(
                max_repairs=self.config.max_repairs,
                examples=self.config.examples,
                examples_dir=pool,
                repair_hook=hook,
            )
        }
        seeded = [p for p in todo if batch_id(digest, p) in self.batch_replies]
        live = [p for p in todo if batch_id(digest, p) not in self.batch_replies]
        if live and (self.config.batch_only or self.config.export_batch):
            path = self.export_requests(prompts, live, digest, pool)
            if self.config.batch_only:
                raise BatchPending(path, len(live))
        results: dict[str, Any] = {}
        for problem in seeded:  # each needs its own single-use seeded model
            from evals.batch import SeededChatModel

            reply = self.batch_replies[batch_id(digest, problem)]
            then = None if self.config.batch_only else self.task_llm
            llm = SeededChatModel(reply, then, model=reply.model)
            results[problem.id] = OptimizationAgent(llm=llm, prompts=prompts, **options).solve(
                problem.question
            )
        if live:
            agent = OptimizationAgent(llm=self.task_llm, prompts=prompts, **options)
            questions = [p.question for p in live]
            if self.config.executor == "local":
                answers = agent.solve_many(questions, self.config.concurrency)
            else:
                from evals.executors import solve_many

                answers = solve_many(
                    agent,
                    questions,
                    concurrency=self.config.concurrency,
                    executor=self._executor(agent),
                )
            results.update({p.id: r for p, r in zip(live, answers, strict=True)})
        if self.budget.exhausted:  # the agent turns a refused call into an error result
            raise BudgetExceeded("the budget ran out during an evaluation")
        for problem in todo:
            self._cache[(digest, problem.id)] = problem_feedback(
                problem, results[problem.id], self.config.protocol
            )
        return [self._cache[(digest, p.id)] for p in problems]

    def _executor(self, agent: Any) -> Any:
        """The process or Ray pool (started on first use, closed when the run ends).

        One pool serves every prompt set and hook: each job carries its agent's
        config and prompts, and the workers' LLM calls come back to the parent's
        budgeted task model.
        """
        if self._pool is None:
            from evals.executors import make_executor

            self._pool = make_executor(
                self.config.executor,
                agent,
                workers=self.config.workers,
                ray_address=self.config.ray_address,
            )
        return self._pool

    def close(self) -> None:
        """Stop the executor's workers, if any were started."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def export_requests(
        self,
        prompts: PromptSet,
        problems: Sequence[Problem],
        digest: str | None = None,
        pool: Path | None = None,
    ) -> Path:
        """Write the formulate requests of ``problems`` as a Batch API file; returns its path.

        The body is what the task model would POST (an :class:`OpenAIChatModel`
        builds it); with another chat model (a scripted one) it is the model
        name and the messages.
        """
        from agent.context import AgentConfig
        from agent.llm import OpenAIChatModel
        from evals.batch import BATCH_URL, formulate_messages, request_body

        inner = self.task_llm.inner
        config = AgentConfig(
            max_repairs=self.config.max_repairs,
            examples=self.config.examples,
            examples_dir=pool,
        )
        digest = digest or prompts.digest()
        folder = self.out / "batch"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"requests-{digest[:12]}-{len(list(folder.glob('requests-*')))}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for problem in problems:
                messages = formulate_messages(problem.question, config=config, prompts=prompts)
                body: dict[str, Any] = (
                    request_body(inner, messages)
                    if isinstance(inner, OpenAIChatModel)
                    else {"model": self.task_llm.model_name, "messages": messages}
                )
                line = {
                    "custom_id": batch_id(digest, problem),
                    "method": "POST",
                    "url": BATCH_URL,
                    "body": body,
                }
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        return path

    def import_batch(self, paths: Sequence[str | Path]) -> int:
        """Load Batch API output files; their replies answer matching requests. Returns the count."""
        from evals.batch import read_batch_output

        output = read_batch_output(list(paths))
        model = self.task_llm.model_name
        for cid, reply in output.replies.items():
            if reply.ok:
                self.batch_replies[cid] = reply.llm_reply(model)
        return len(output.replies)

    def score(self, texts: Mapping[str, str], problems: Sequence[Problem]) -> float:
        """Mean score (share right) of ``texts`` on ``problems``."""
        feedback = self.evaluate(texts, problems)
        return fmean(f.score for f in feedback) if feedback else 0.0

    def minibatch(self, step: int) -> list[Problem]:
        """The train problems of ``step`` (seeded, so a resumed run draws the same)."""
        rng = random.Random(self.config.seed * 1_000_003 + step)
        size = min(self.config.minibatch, len(self.splits.train))
        return rng.sample(self.splits.train, size)

    # -- state -------------------------------------------------------------------

    def _state_path(self) -> Path:
        return self.out / STATE_FILE

    def _load_state(self) -> dict[str, Any] | None:
        path = self._state_path()
        if not path.exists():
            return None
        state: dict[str, Any] = json.loads(path.read_text())
        if state.get("fingerprint") != self.config.fingerprint(self.splits):
            raise ValueError(
                f"{self.out} holds a tuning run with other settings or splits; "
                "use a new --out folder, or the same options to resume it"
            )
        return state

    def _save_state(self, state: dict[str, Any]) -> None:
        state["budget"] = self.budget.to_dict()
        tmp = self._state_path().with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, default=repr))
        tmp.replace(self._state_path())
        self.prompt_set(state["best"]).save(self.out / "prompts")
        self._save_pool(state["best"])
        if HOOK in state["best"]:
            (self.out / "prompts" / HOOK_FILE).write_text(state["best"][HOOK], encoding="utf-8")

    def _save_pool(self, texts: Mapping[str, str]) -> None:
        pool = self.pool_dir(texts)
        if pool is None:
            return
        target = self.out / "examples"
        target.mkdir(exist_ok=True)
        for old in target.glob("*.yaml"):
            old.unlink()
        for sample in pool.glob("*.yaml"):
            (target / sample.name).write_text(sample.read_text(encoding="utf-8"), encoding="utf-8")

    def _log_step(self, record: dict[str, Any]) -> None:
        record = {**record, "calls": dict(self.budget.calls), "cost_usd": self.budget.total_usd}
        with (self.out / STEPS_FILE).open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=repr) + "\n")

    # -- the run -----------------------------------------------------------------

    def run(self) -> TuneResult:
        """Tune (resuming the run in ``out`` if there is one), then score on the test split."""
        try:
            return self._run()
        finally:
            self.close()

    def _run(self) -> TuneResult:
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "splits.json").write_text(json.dumps(self.splits.to_dict(), indent=2))
        state = self._load_state()
        resumed_from = 0
        if state is not None:
            self.budget.restore(state.get("budget", {}))
            resumed_from = int(state["step"])
        stopped = "finished"
        try:
            if state is None:
                state = self._baseline()
            if self.config.optimizer == "gepa":
                state = self._run_gepa(state)
            else:
                state = self._run_steps(state)
        except TuneStopped as exc:
            stopped = f"{exc.kind}: {exc}"
            if state is None:  # not even the baseline: nothing to resume, keep the start prompts
                self.prompt_set(self.start_texts).save(self.out / "prompts")
                return self._stopped_early(stopped)
            self._save_state(state)
        return self._finish(state, stopped, resumed_from)

    def _stopped_early(self, stopped: str) -> TuneResult:
        return TuneResult(
            best_prompts=dict(self.start_texts),
            best_val=float("nan"),
            start_val=float("nan"),
            history=[],
            test_start=None,
            test_best=None,
            stopped=stopped,
            calls=dict(self.budget.calls),
            cost_usd=self.budget.total_usd,
            out=self.out,
        )

    def _initial_state(self, val: float) -> dict[str, Any]:
        return {
            "fingerprint": self.config.fingerprint(self.splits),
            "step": 0,
            "current": dict(self.start_texts),
            "current_val": val,
            "best": dict(self.start_texts),
            "best_val": val,
            "start_val": val,
            "history": [{"step": 0, "val": val, "accepted": True}],
            "memory": [],
            "opro": [],
        }

    def _baseline(self) -> dict[str, Any]:
        val = self.score(self.start_texts, self.splits.val)
        state = self._initial_state(val)
        self._log_step({"step": 0, "kind": "baseline", "val_score": val})
        self._save_state(state)
        return state

    def _parameters(self, texts: Mapping[str, str]) -> list[ParameterNode]:
        params = []
        for component in self.config.components:
            if component == EXAMPLES:
                catalogue = "; ".join(f"{k}: {v}" for k, v in self.available_examples.items())
                params.append(
                    ParameterNode(
                        sorted(json.loads(texts[component])),
                        name=component,
                        description=(
                            "Ids of the worked examples (solved sample problems) the agent "
                            "retrieves its few-shot examples from, by similarity to each "
                            f"problem. Available ids and titles: {catalogue}"
                        ),
                        constraint="A JSON list of at least 2 ids from the available ones.",
                    )
                )
                continue
            if component == HOOK:
                params.append(
                    ParameterNode(
                        texts[component],
                        name=component,
                        description=(
                            "Python source of the function that turns the findings of the last "
                            "attempt (parse and check errors, solver statuses, verify findings: "
                            "dicts with location, message, hint, code, severity, detail, "
                            "evidence) into the error list of the repair prompt the LLM reads."
                        ),
                        constraint=(
                            f"Define {HOOK_NAME}(findings) returning a str; standard library only; "
                            "it runs in a sandbox without files, network or environment."
                        ),
                        is_code=True,
                    )
                )
                continue
            keep = ", ".join(f"${v}" for v in sorted(_placeholders(self.start_texts[component])))
            params.append(
                ParameterNode(
                    texts[component],
                    name=component,
                    description=f"The agent's '{component}' prompt template.",
                    constraint=(
                        f"Keep every placeholder ({keep}); they are filled in when the "
                        "prompt is rendered. Write $$ for a literal dollar sign."
                        if keep
                        else "Write $$ for a literal dollar sign."
                    ),
                )
            )
        return params

    def _guard(self, proposal: Proposal, params: Sequence[ParameterNode]) -> None:
        """Drop proposed prompts that lose a placeholder."""
        by_name = {p.py_name: c for p, c in zip(params, self.config.components, strict=True)}
        for name in list(proposal.updates):
            component = by_name[name]
            if component == EXAMPLES:
                ids = proposal.updates[name]
                bad = [i for i in ids if i not in self.available_examples]
                if bad or len(ids) < 2 or not all(isinstance(i, str) for i in ids):
                    del proposal.updates[name]
                    proposal.errors.append(
                        f"examples: {len(ids)} ids, unknown {bad}; need 2+ known ids; not used"
                    )
                continue
            if component == HOOK:
                problem = check_hook(str(proposal.updates[name]))
                if problem is not None:
                    del proposal.updates[name]
                    proposal.errors.append(f"{HOOK_NAME}: {problem}; not used")
                continue
            missing = _placeholders(self.start_texts[component]) - _placeholders(
                str(proposal.updates[name])
            )
            if missing:
                del proposal.updates[name]
                lost = ", ".join(f"${m}" for m in sorted(missing))
                proposal.errors.append(f"{component}: the new text drops {lost}; not used")

    def _run_steps(self, state: dict[str, Any]) -> dict[str, Any]:
        cfg = self.config
        for step in range(int(state["step"]) + 1, cfg.steps + 1):
            with name_scope():
                params = self._parameters(state["current"])
                optimizer: OptoPrime | OPRO
                if cfg.optimizer == "optoprime":
                    optimizer = OptoPrime(
                        params, llm=self.optimizer_llm, model=cfg.optimizer_model, memory_size=3
                    )
                    optimizer.memory.extend(state["memory"])
                else:
                    optimizer = OPRO(params, llm=self.optimizer_llm, model=cfg.optimizer_model)
                    optimizer.history = list(state["opro"])
                batch = self.minibatch(step)
                feedback, output = self._traced_run(params, batch)
                text = self._batch_feedback(feedback)
                if isinstance(optimizer, OPRO):
                    optimizer.record(fmean(f.score for f in feedback), text)
                else:
                    optimizer.zero_feedback()
                    optimizer.backward(output, text)
                proposal = optimizer.propose()
                self._guard(proposal, params)
                optimizer.log[-1]["errors"] = list(proposal.errors)  # the guard's too
                names = {p.py_name: c for p, c in zip(params, cfg.components, strict=True)}
                candidate = dict(state["current"])
                candidate.update({names[k]: _as_text(v) for k, v in proposal.updates.items()})
                accepted = False
                val = before = state["current_val"]
                if not proposal.empty:
                    val = self.score(candidate, self.splits.val)
                    proposal.score = val
                    accepted = val >= state["current_val"]
                why = step_reason(proposal.empty, proposal.errors, val, before, proposal.terminated)
                if accepted:
                    optimizer.update(proposal)
                    state["current"], state["current_val"] = candidate, val
                    if val > state["best_val"]:
                        state["best"], state["best_val"] = dict(candidate), val
                else:
                    optimizer.reject(proposal)
                if isinstance(optimizer, OptoPrime):
                    state["memory"] = list(optimizer.memory)
                else:
                    state["opro"] = optimizer.history
                state["step"] = step
                state["history"].append(
                    {"step": step, "val": val, "accepted": accepted, "why": why}
                )
                self._log_step(
                    {
                        "step": step,
                        "kind": cfg.optimizer,
                        "minibatch": [p.id for p in batch],
                        "train_score": fmean(f.score for f in feedback),
                        "feedback": [f.to_dict() for f in feedback],
                        "proposal": optimizer.log[-1],
                        "val_score": val,
                        "accepted": accepted,
                        "why": why,
                    }
                )
                self._save_state(state)
        return state

    def _traced_run(
        self, params: Sequence[ParameterNode], batch: Sequence[Problem]
    ) -> tuple[list[ProblemFeedback], Any]:
        """Run the agent on ``batch`` as one traced operator whose inputs are the prompts."""
        components = self.config.components
        holder: list[list[ProblemFeedback]] = []

        def run_agent(*texts: Any) -> str:
            feedback = self.evaluate(
                {c: _as_text(t) for c, t in zip(components, texts, strict=True)}, batch
            )
            holder.append(feedback)
            right = sum(f.score for f in feedback)
            return f"{right:g} of {len(feedback)} problems right: " + ", ".join(
                f"{f.problem_id}={'right' if f.correct else 'wrong'}" for f in feedback
            )

        description = (
            "[run_agent] Runs optiwise's modeling agent with these prompt templates on a "
            "minibatch of word problems: formulate a model, solve it, repair it from errors; "
            "returns which answers match the labels."
        )
        try:
            output = apply_op("run_agent", run_agent, list(params), list(components), description)
        except ExecutionError as err:
            cause = err.__cause__
            if isinstance(cause, TuneStopped):
                raise cause from None
            raise
        return holder[0], output

    @staticmethod
    def _batch_feedback(feedback: Sequence[ProblemFeedback]) -> str:
        right = sum(f.score for f in feedback)
        head = f"{right:g} of {len(feedback)} problems answered right."
        return "\n\n".join([head, *(f.text for f in feedback)])

    def _run_gepa(self, state: dict[str, Any]) -> dict[str, Any]:
        cfg = self.config
        with name_scope():
            params = self._parameters(state["current"])
            by_name = {p.py_name: c for p, c in zip(params, cfg.components, strict=True)}

            def evaluate(problem: Problem) -> Evaluation:
                texts = {by_name[p.py_name]: _as_text(p.data) for p in params}
                fb = self.evaluate(texts, [problem])[0]
                return Evaluation(fb.score, fb.text, fb.status)

            val_n = max(1, len(self.splits.val))
            metric_calls = cfg.steps * (2 * cfg.minibatch + val_n) + val_n
            opt = GEPA(
                params,
                evaluate,
                trainset=self.splits.train,
                valset=self.splits.val,
                llm=self.optimizer_llm,
                model=cfg.optimizer_model,
                max_metric_calls=metric_calls,
                reflection_minibatch_size=cfg.minibatch,
                seed=cfg.seed,
                run_dir=str(self.out / "gepa"),
                stop_callbacks=[lambda _state: self.budget.exhausted],
                raise_on_exception=False,
            )
            proposal = opt.propose()
            if self.budget.exhausted:
                raise BudgetExceeded("the budget ran out during the GEPA search")
            self._guard(proposal, params)
            opt.log[-1]["errors"] = list(proposal.errors)  # the guard's too
            candidate = dict(state["current"])
            candidate.update({by_name[k]: _as_text(v) for k, v in proposal.updates.items()})
            before = state["current_val"]
            val = self.score(candidate, self.splits.val)
            accepted = val >= state["current_val"]
            why = step_reason(proposal.empty, proposal.errors, val, before, proposal.terminated)
            if accepted:
                opt.update(proposal)
                state["current"], state["current_val"] = candidate, val
                if val > state["best_val"]:
                    state["best"], state["best_val"] = dict(candidate), val
            else:
                opt.reject(proposal)
            scores = list(proposal.info.get("val_scores", []))
            for i, s in enumerate(scores[1:], 1):
                state["history"].append({"step": i, "val": s, "accepted": s >= scores[0]})
            state["step"] = cfg.steps
            self._log_step(
                {
                    "step": cfg.steps,
                    "kind": "gepa",
                    "candidates": proposal.info.get("candidates"),
                    "val_scores": scores,
                    "proposal": opt.log[-1],
                    "val_score": val,
                    "accepted": accepted,
                    "why": why,
                }
            )
            self._save_state(state)
        return state

    # -- the end -----------------------------------------------------------------

    def _finish(self, state: dict[str, Any], stopped: str, resumed_from: int) -> TuneResult:
        test_start = test_best = None
        if self.splits.test and not self.budget.exhausted:
            try:
                test_start = self.score(self.start_texts, self.splits.test)
                test_best = self.score(state["best"], self.splits.test)
            except TuneStopped as exc:
                stopped = f"{exc.kind}: {exc} (before the test split was scored)"
        result = TuneResult(
            best_prompts=dict(state["best"]),
            best_val=float(state["best_val"]),
            start_val=float(state["start_val"]),
            history=list(state["history"]),
            test_start=test_start,
            test_best=test_best,
            stopped=stopped,
            calls=dict(self.budget.calls),
            cost_usd=self.budget.total_usd,
            out=self.out,
            resumed_from=resumed_from,
        )
        self._save_state(state)
        (self.out / "result.json").write_text(
            json.dumps(
                {k: v for k, v in asdict(result).items() if k != "out"}, indent=2, default=repr
            )
        )
        (self.out / "report.md").write_text(self.report(result))
        self._plot(result)
        return result

    def report(self, result: TuneResult) -> str:
        """The run's report in Markdown."""
        lines = [
            f"# optiwise tune: {self.config.optimizer}",
            "",
            f"Stopped: {result.stopped}.",
            f"Splits: {len(self.splits.train)} train, {len(self.splits.val)} validation, "
            f"{len(self.splits.test)} test ({len(self.splits.duplicates)} duplicates and "
            f"{len(self.splits.leaked)} problems found in registered test sets kept out of the search).",
            f"Calls: {result.calls.get('task', 0)} task, {result.calls.get('optimizer', 0)} optimizer; "
            f"cost ${result.cost_usd:.4f}.",
            "",
            "| step | validation score | accepted | why |",
            "|---:|---:|:---:|:---|",
        ]
        lines.extend(
            f"| {h['step']} | {h['val']:.3f} | {'yes' if h['accepted'] else 'no'} | "
            f"{_cell(str(h.get('why') or ('start' if h['step'] == 0 else '')))} |"
            for h in result.history
        )
        if result.test_best is not None:
            lines += [
                "",
                f"Test split (never seen by the search): start {result.test_start:.3f}, "
                f"tuned {result.test_best:.3f}.",
            ]
        lines += ["", "## Changes against the starting prompts", ""]
        changed = False
        for component in self.config.components:
            old, new = self.start_texts[component], result.best_prompts[component]
            if old == new:
                continue
            changed = True
            name = HOOK_FILE if component == HOOK else f"{component}.md"
            diff = difflib.unified_diff(
                old.splitlines(), new.splitlines(), name, f"{name} (tuned)", lineterm=""
            )
            lines += ["```diff", *diff, "```", ""]
        if not changed:
            lines.append("No prompt changed.")
        lines += ["", f"Load the tuned prompts with `--prompts {self.out / 'prompts'}`."]
        if HOOK in self.config.components:
            lines.append(
                f"The tuned repair-message hook is `{self.out / 'prompts' / HOOK_FILE}` "
                "(`AgentConfig(repair_hook=<its source>)`; it runs sandboxed)."
            )
        if EXAMPLES in self.config.components:
            lines.append(
                f"The tuned pool of worked examples is in `{self.out / 'examples'}` "
                "(`OptimizationAgent(examples_dir=...)`)."
            )
        return "\n".join(lines) + "\n"

    def _plot(self, result: TuneResult) -> None:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot([h["step"] for h in result.history], [h["val"] for h in result.history], marker="o")
        ax.set_xlabel("step")
        ax.set_ylabel("validation score")
        ax.set_title(f"optiwise tune ({self.config.optimizer})")
        fig.tight_layout()
        fig.savefig(self.out / "scores.png", dpi=100)
        plt.close(fig)


def estimate(
    config: TuneConfig,
    splits: Splits,
    start: PromptSet | None = None,
    task_model: str = "",
    optimizer_model: str = "",
) -> dict[str, Any]:
    """Projected calls, tokens and USD before any call (assumptions stated in the result).

    Task calls assume one formulate call per problem run, up to ``1 + max_repairs``;
    token counts are characters / 4 of the prompts, plus ~700 completion
    tokens per formulation.
    """
    prompts = start or PromptSet.default()
    val, test, mb = len(splits.val), len(splits.test), min(config.minibatch, len(splits.train))
    if config.optimizer == "gepa":
        runs = config.steps * (2 * mb + val) + val + val + 2 * test
        optimizer_calls = config.steps
    else:
        runs = val + config.steps * (mb + val) + 2 * test
        optimizer_calls = config.steps
    questions = [p.question for p in [*splits.train, *splits.val, *splits.test]]
    avg_question = fmean(len(q) for q in questions) if questions else 1000.0
    task_in = (len(prompts["system"]) + len(prompts["formulate"]) + avg_question + 3000) / 4
    task_out = 700.0
    sizes = {HOOK: len(DEFAULT_SOURCE), EXAMPLES: 400}
    tuned = sum(sizes.get(c) or len(prompts[c]) for c in config.components)
    opt_in = (tuned + mb * 800 + 3000) / 4
    opt_out = tuned / 4 + 300
    task_price = price_for(task_model) if task_model else None
    opt_price = (
        price_for(optimizer_model or task_model) if (optimizer_model or task_model) else None
    )

    def usd(price: Any, calls: float, tin: float, tout: float) -> float | None:
        if price is None:
            return None
        return calls * (tin * price.input_per_m + tout * price.output_per_m) / 1e6

    low, high = runs, runs * (1 + config.max_repairs)
    result: dict[str, Any] = {
        "problem_runs": runs,
        "task_calls": [low, high],
        "optimizer_calls": optimizer_calls,
        "task_tokens_per_call": [round(task_in), round(task_out)],
        "optimizer_tokens_per_call": [round(opt_in), round(opt_out)],
        "task_usd": [
            usd(task_price, low, task_in, task_out),
            usd(task_price, high, task_in, task_out),
        ],
        "optimizer_usd": usd(opt_price, optimizer_calls, opt_in, opt_out),
        "task_model": task_model,
        "optimizer_model": optimizer_model or task_model,
    }
    return result


def estimate_lines(
    projection: Mapping[str, Any],
    *,
    budget_calls: int | None = None,
    budget_usd: float | None = None,
) -> list[str]:
    """The :func:`estimate` result as lines for a terminal (no call is made to get it)."""

    def money(value: float | None) -> str:
        return "unknown (no price for the model)" if value is None else f"${value:,.4f}"

    low, high = projection["task_calls"]
    t_in, t_out = projection["task_tokens_per_call"]
    o_in, o_out = projection["optimizer_tokens_per_call"]
    usd_low, usd_high = projection["task_usd"]
    task_cost = (
        money(usd_low)
        if usd_low is None or usd_low == usd_high
        else f"{money(usd_low)} to {money(usd_high)}"
    )
    lines = [
        "projection (before any call; about 4 characters a token):",
        f"  problem runs: {projection['problem_runs']}",
        f"  task model {projection['task_model'] or '(default)'}: {low} to {high} calls "
        f"(one per run, more with repairs), ~{t_in:,} tokens in / ~{t_out:,} out per call, "
        f"cost {task_cost}",
        f"  optimizer model {projection['optimizer_model'] or '(default)'}: "
        f"{projection['optimizer_calls']} calls, ~{o_in:,} tokens in / ~{o_out:,} out per call, "
        f"cost {money(projection['optimizer_usd'])}",
    ]
    total_high = high + int(projection["optimizer_calls"])
    usd_total = (
        None
        if usd_high is None or projection["optimizer_usd"] is None
        else float(usd_high) + float(projection["optimizer_usd"])
    )
    if budget_calls is not None:
        fits = "fits" if total_high <= budget_calls else "may stop the run early"
        lines.append(f"  budget: {budget_calls} calls, up to {total_high} projected ({fits})")
    if budget_usd is not None:
        if usd_total is None:
            lines.append(f"  budget: ${budget_usd:,.2f}; the projected cost is unknown")
        else:
            fits = "fits" if usd_total <= budget_usd else "may stop the run early"
            lines.append(
                f"  budget: ${budget_usd:,.2f}, up to ${usd_total:,.4f} projected ({fits})"
            )
    return lines


def run_promst(
    config: TuneConfig,
    splits: Splits,
    *,
    task_llm: ChatModel,
    optimizer_llm: ChatModel,
    start: PromptSet | None = None,
) -> dict[str, Any]:
    """``--optimizer promst``: PROMST's tree search (:mod:`agent.promst`) on the first component.

    PROMST keeps its own budget, tree and report; the run folder gets
    ``prompts/`` (loadable like the other optimizers'), ``tree.json`` and
    ``report.json``. Returns the report.
    """
    from agent.promst import Budget as PromstBudget
    from agent.promst import OptiwiseTask, SearchConfig

    if config.components[0] in NOT_PROMPTS:
        raise ValueError(
            f"--optimizer promst tunes one prompt (the first of --components), not "
            f"{config.components[0]!r}; use optoprime, opro or gepa for it"
        )
    task = OptiwiseTask(
        list(splits.train),
        list(splits.val),
        prompt_name=config.components[0],
        prompts=start or PromptSet.default(),
        max_repairs=config.max_repairs,
        examples=config.examples,
        protocol=config.protocol,
    )
    result = task.tune(
        task_llm,
        optimizer_llm,
        SearchConfig(seed=config.seed),
        budget=PromstBudget(calls=config.budget_calls, usd=config.budget_usd),
    )
    result.save(config.out)
    report: dict[str, Any] = result.report()
    return report
