"""The synthesis loop: generate and label instances, back-translate, check forward, dedup, write.

Output folder (``--out DIR``)::

    instances.jsonl   every generated instance: formulation, solver label, operations
    progress.jsonl    one line per finished instance, appended as it finishes (resume)
    problems.jsonl    accepted problems, one Problem per line (what evals and tune read)
    hard.jsonl        back-translated pairs the forward check rejected (same shape)
    dropped.jsonl     problems dropped as duplicates of a benchmark problem, and why
    report.json       counts, skipped seeds, the variants deduplicated against, settings

A problem line is ``{"id", "dataset", "question", "answer", "metadata"}``;
``answer`` is the :class:`~evals.problems.Answer` (``kind`` number or
infeasible), ``metadata`` holds the ``formulation``, ``status``,
``model_class``, ``n_variables``, ``n_constraints`` and ``provenance``
(seed, generator operations, rng seed, model, forward check).

A run that is stopped (Ctrl-C, a kill, a crash) resumes: every finished
instance is in ``progress.jsonl`` (flushed and fsync'ed line by line), and
:func:`run_synthesis` skips the instances found there as accepted, rejected or
dropped; those that ended in an error are tried again. The agent's CPU work of
the forward check may run on an executor (:mod:`evals.executors`: ``local``,
``process``, ``ray``); the LLM calls stay in this process.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from evals.problems import Answer, number
from evals.synth.backtranslate import (
    ForwardCheck,
    backtranslate,
    backtranslate_messages,
    forward_check,
    problem_text,
)
from evals.synth.dedup import BenchmarkIndex, Duplicate, normalize_text
from evals.synth.generators import GenerationError, Instance, Settings, generate
from evals.synth.seeds import Seed, SeedError, Table, table_of

if TYPE_CHECKING:
    from agent.api import OptimizationAgent
    from agent.llm import ChatModel
    from evals.executors import Executor

__all__ = [
    "BATCH_PREFIX",
    "PROGRESS",
    "Outcome",
    "SynthReport",
    "export_batch",
    "import_batch_texts",
    "make_instances",
    "problem_record",
    "read_instances",
    "read_progress",
    "run_synthesis",
    "write_instances",
]

BATCH_PREFIX = "synth"
"""The dataset part of a back-translation request's custom id (``synth:<instance id>``)."""

Log = Callable[[str], None]

PROGRESS = "progress.jsonl"
"""The journal of finished instances in the output folder (what a resumed run skips)."""


def _quiet(_: str) -> None:
    return None


# ------------------------------------------------------------- generation


def instance_rng_seed(seed_id: str, global_seed: int, index: int) -> int:
    """The rng seed of one instance: a pure function of seed id, run seed and index."""
    return random.Random(f"{seed_id}:{global_seed}:{index}").getrandbits(32)


def make_instances(
    seeds: Sequence[Seed],
    n: int,
    *,
    settings: Settings,
    global_seed: int = 0,
    log: Log = _quiet,
) -> tuple[list[Instance], list[dict[str, str]]]:
    """``n`` labelled instances, round-robin over the seeds in a seeded order.

    A seed that does not check, or yields no acceptable instance twice, is
    retired and listed in the second return value with the reason.
    """
    order = list(seeds)
    random.Random(global_seed).shuffle(order)
    tables: dict[str, Table] = {}
    skipped: list[dict[str, str]] = []
    failures: dict[str, int] = {}
    counts: dict[str, int] = {}
    live = list(order)
    out: list[Instance] = []
    k = 0
    while len(out) < n and live:
        seed = live[k % len(live)]
        k += 1
        try:
            if seed.id not in tables:
                tables[seed.id] = table_of(seed.formulation, seed.source)
            index = counts.get(seed.id, 0)
            counts[seed.id] = index + 1
            instance = generate(
                seed,
                index,
                instance_rng_seed(seed.id, global_seed, index),
                settings,
                base=tables[seed.id],
            )
        except SeedError as exc:
            skipped.append({"seed": seed.id, "reason": str(exc)})
            live.remove(seed)
            log(f"skipped seed {seed.id}: {exc}")
            continue
        except GenerationError as exc:
            failures[seed.id] = failures.get(seed.id, 0) + 1
            if failures[seed.id] >= 2:
                skipped.append({"seed": seed.id, "reason": str(exc)})
                live.remove(seed)
                log(f"retired seed {seed.id}: {exc}")
            continue
        out.append(instance)
    return out, skipped


def write_instances(instances: Iterable[Instance], path: Path) -> None:
    """One instance per line."""
    _write_jsonl(path, (i.to_dict() for i in instances))


def read_instances(path: Path) -> list[Instance]:
    """The instances a previous ``--batch-export`` wrote."""
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no instances here; run `optiwise synth --batch-export FILE --out "
            f"{path.parent}` first (it writes the instances the import reads)"
        )
    out = []
    for number_, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(Instance.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError) as exc:
                raise ValueError(f"{path}:{number_}: not an instance line ({exc})") from exc
    return out


def _write_jsonl(path: Path, records: Iterable[Mapping[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


# ---------------------------------------------------------------- records


def label_answer(instance: Instance) -> Answer:
    """The harness's :class:`Answer` for the solver's label."""
    if instance.status == "optimal" and instance.objective is not None:
        return number(float(instance.objective), instance.objective)
    return Answer(kind="infeasible", raw=instance.status, reason=f"solver: {instance.status}")


def problem_record(
    instance: Instance,
    question: str,
    *,
    dataset: str,
    model: str,
    settings: Settings,
    forward: ForwardCheck | None = None,
    question_form: str = "backtranslated",
    forward_model: str = "",
) -> dict[str, Any]:
    """One output line in the Problem shape, with the formulation and provenance."""
    provenance: dict[str, Any] = {
        "seed": instance.seed,
        "generator": [op.get("op") for op in instance.operations],
        "operations": instance.operations,
        "rng_seed": instance.rng_seed,
        "complexity": settings.complexity,
        "spread": settings.data_spread,
        "solver": instance.solver,
        "model": model,
        "question_form": question_form,
    }
    if forward is not None:
        provenance["forward"] = {
            "model": forward_model or model,
            "accepted": forward.accepted,
            "status": forward.status,
            "objective": forward.objective,
            "message": forward.message,
        }
    metadata: dict[str, Any] = {
        "source": "optiwise-synth",
        "status": instance.status,
        "model_class": instance.model_class,
        "n_variables": instance.n_variables,
        "n_constraints": instance.n_constraints,
        "formulation": instance.formulation,
        "provenance": provenance,
    }
    if forward is not None and not forward.accepted and forward.formulation is not None:
        metadata["forward_formulation"] = forward.formulation
    return {
        "id": instance.id,
        "dataset": dataset,
        "question": question,
        "answer": label_answer(instance).model_dump(mode="json"),
        "metadata": metadata,
    }


def formulation_question(instance: Instance) -> str:
    """The question used with ``--no-backtranslate``: the model itself, to be solved."""
    document = yaml.safe_dump(instance.formulation, sort_keys=False)
    return (
        "Solve this optimization model (an optiwise spec-v1 document) and report the "
        f"optimal objective value.\n\n```yaml\n{document}```"
    )


# ------------------------------------------------------------------ batch


def export_batch(instances: Sequence[Instance], llm: Any, path: Path) -> int:
    """Write one Batch API request per instance (its back-translation call); returns the count.

    ``llm`` must be an :class:`agent.llm.OpenAIChatModel`: its own request
    preparation builds the body, so a batch request is what a live call sends.
    """
    from evals.batch import custom_id, request_body

    records = (
        {
            "custom_id": custom_id(BATCH_PREFIX, i.id),
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": request_body(llm, backtranslate_messages(i)),
        }
        for i in instances
    )
    return _write_jsonl(path, records)


def import_batch_texts(
    paths: str | Path | Sequence[str | Path],
) -> tuple[dict[str, str], dict[str, str]]:
    """Word problems by instance id from a batch output file, and the errors by id."""
    from agent.errors import ParseError
    from evals.batch import read_batch_output, split_custom_id

    output = read_batch_output(paths if isinstance(paths, str | Path) else list(paths))
    texts: dict[str, str] = {}
    errors: dict[str, str] = {}
    for cid, reply in output.replies.items():
        prefix, instance_id = split_custom_id(cid)
        if prefix != BATCH_PREFIX:
            continue
        if reply.ok and reply.content:
            try:
                texts[instance_id] = problem_text(reply.content)
            except ParseError as exc:
                errors[instance_id] = exc.reason
        else:
            errors[instance_id] = reply.error or "empty reply"
    return texts, errors


# -------------------------------------------------------------------- run


@dataclass
class Outcome:
    """What happened to one instance."""

    instance: Instance
    question: str = ""
    forward: ForwardCheck | None = None
    duplicate: Duplicate | None = None
    error: str = ""


@dataclass
class SynthReport:
    """Counts and where the files are."""

    out: Path
    generated: int = 0
    accepted: int = 0
    hard: int = 0
    dropped: int = 0
    errors: int = 0
    skipped_seeds: list[dict[str, str]] = field(default_factory=list)
    dedup_variants: list[str] = field(default_factory=list)
    dropped_by: dict[str, int] = field(default_factory=dict)
    resumed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return {
            "out": str(self.out),
            "generated": self.generated,
            "resumed": self.resumed,
            "accepted": self.accepted,
            "hard": self.hard,
            "dropped": self.dropped,
            "dropped_by": self.dropped_by,
            "errors": self.errors,
            "skipped_seeds": self.skipped_seeds,
            "dedup_variants": self.dedup_variants,
        }

    def summary(self) -> str:
        """One line for the terminal."""
        by = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped_by.items()))
        again = f" ({self.resumed} finished by an earlier run)" if self.resumed else ""
        return (
            f"{self.generated} generated{again}: {self.accepted} accepted, {self.hard} rejected "
            f"(hard set), {self.dropped} dropped as duplicates{f' ({by})' if by else ''}, "
            f"{self.errors} errors; {len(self.skipped_seeds)} seed(s) skipped → {self.out}"
        )


async def _one(
    instance: Instance,
    *,
    llm: ChatModel | None,
    agent: OptimizationAgent | None,
    index: BenchmarkIndex | None,
    texts: Mapping[str, str] | None,
    seen: dict[str, str],
    gate: asyncio.Semaphore,
    executor: Executor | None = None,
) -> Outcome:
    async with gate:
        outcome = Outcome(instance)
        try:
            if texts is not None:
                if instance.id not in texts:
                    outcome.error = "no back-translation in the imported batch output"
                    return outcome
                outcome.question = texts[instance.id]
            else:
                assert llm is not None
                outcome.question = await backtranslate(llm, instance)
            if not outcome.question:
                outcome.error = "the back-translation is empty"
                return outcome
            norm = normalize_text(outcome.question)
            if norm in seen:
                outcome.duplicate = Duplicate("repeat", "synth", seen[norm], 1.0)
                return outcome
            seen[norm] = instance.id
            if index is not None:
                outcome.duplicate = index.match(
                    outcome.question, objective=instance.objective, structure=instance.structure
                )
                if outcome.duplicate is not None:
                    return outcome
            assert agent is not None
            outcome.forward = await forward_check(
                agent, instance, outcome.question, executor=executor
            )
        except Exception as exc:  # one failing call must not end the run; reported per item
            outcome.error = f"{type(exc).__name__}: {exc}"
        return outcome


def read_progress(out: Path) -> dict[str, dict[str, Any]]:
    """The finished instances a previous run journaled in ``out``: id -> line.

    A line is ``{"id", "kind", "record"}`` with ``kind`` one of ``accepted``,
    ``hard``, ``dropped``, ``error``. A torn last line (the run was killed while
    writing it) is ignored; a later line for the same id wins.
    """
    path = out / PROGRESS
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict) and "id" in item and "kind" in item:
            done[str(item["id"])] = item
    return done


class _Journal:
    """Appends one line per finished instance, flushed and fsync'ed, so a kill loses none."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = path.open("a", encoding="utf-8")

    def write(self, item: Mapping[str, Any]) -> None:
        self.fh.write(json.dumps(item, ensure_ascii=False) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


def _journal_line(
    o: Outcome,
    *,
    dataset: str,
    model: str,
    settings: Settings,
    forward_model: str,
) -> dict[str, Any] | None:
    """The progress line of one outcome (None: nothing to record)."""
    if o.error:
        record: dict[str, Any] = {"id": o.instance.id, "error": o.error, "question": o.question}
        return {"id": o.instance.id, "kind": "error", "record": record}
    if o.duplicate is not None:
        record = {"id": o.instance.id, "question": o.question, **o.duplicate.to_dict()}
        return {"id": o.instance.id, "kind": "dropped", "record": record}
    if o.forward is not None:
        record = problem_record(
            o.instance,
            o.question,
            dataset=dataset,
            model=model,
            settings=settings,
            forward=o.forward,
            forward_model=forward_model,
        )
        kind = "accepted" if o.forward.accepted else "hard"
        return {"id": o.instance.id, "kind": kind, "record": record}
    return None


async def run_synthesis(
    instances: Sequence[Instance],
    out: Path,
    *,
    settings: Settings,
    model: str,
    forward_model: str = "",
    dataset: str = "synth",
    llm: ChatModel | None = None,
    agent: OptimizationAgent | None = None,
    index: BenchmarkIndex | None = None,
    texts: Mapping[str, str] | None = None,
    backtranslate_texts: bool = True,
    concurrency: int = 8,
    skipped_seeds: Sequence[dict[str, str]] = (),
    log: Log = _quiet,
    executor: Executor | None = None,
    resume: bool = True,
) -> SynthReport:
    """Back-translate (or take ``texts``), dedup, check forward and write the output folder.

    Each finished instance is journaled to ``OUT/progress.jsonl`` as it finishes.
    With ``resume`` (the default) the instances a previous run in ``out`` finished
    as accepted, rejected or dropped are not redone (their lines are kept); those
    that ended in an error are tried again. ``resume=False`` starts the journal
    over. ``executor`` runs the forward check's agent work (its CPU: check,
    compile, solve, verify) in worker processes or Ray actors.
    """
    out.mkdir(parents=True, exist_ok=True)
    report = SynthReport(out=out, generated=len(instances), skipped_seeds=list(skipped_seeds))
    report.dedup_variants = list(index.variants) if index is not None else []
    write_instances(instances, out / "instances.jsonl")
    accepted: list[dict[str, Any]] = []
    hard: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    if not backtranslate_texts:
        for i in instances:
            accepted.append(
                problem_record(
                    i,
                    formulation_question(i),
                    dataset=dataset,
                    model="",
                    settings=settings,
                    question_form="formulation",
                )
            )
    else:
        if not resume:
            (out / PROGRESS).unlink(missing_ok=True)
        ids = {i.id for i in instances}
        done = {k: v for k, v in read_progress(out).items() if k in ids and v["kind"] != "error"}
        if done:
            log(f"resuming: {len(done)} of {len(instances)} instance(s) already done in {out}")
        report.resumed = len(done)
        seen: dict[str, str] = {}
        for item in done.values():
            question = str(item["record"].get("question") or "")
            if question:
                seen[normalize_text(question)] = str(item["id"])
        todo = [i for i in instances if i.id not in done]
        gate = asyncio.Semaphore(max(1, concurrency))
        journal = _Journal(out / PROGRESS)
        finished: dict[str, dict[str, Any]] = dict(done)

        async def one(i: Instance) -> None:
            o = await _one(
                i,
                llm=llm,
                agent=agent,
                index=index,
                texts=texts,
                seen=seen,
                gate=gate,
                executor=executor,
            )
            line = _journal_line(
                o, dataset=dataset, model=model, settings=settings, forward_model=forward_model
            )
            if line is not None:
                journal.write(line)
                finished[i.id] = line
            if o.error:
                log(f"{o.instance.id}: {o.error}")

        try:
            await asyncio.gather(*(one(i) for i in todo))
        finally:
            journal.close()
        buckets = {"accepted": accepted, "hard": hard, "dropped": dropped, "error": errors}
        for i in instances:  # in instance order, whichever run finished them
            line_ = finished.get(i.id)
            if line_ is None:
                continue
            buckets[line_["kind"]].append(line_["record"])
            if line_["kind"] == "dropped":
                reason = str(line_["record"].get("reason"))
                report.dropped_by[reason] = report.dropped_by.get(reason, 0) + 1
    report.accepted = _write_jsonl(out / "problems.jsonl", accepted)
    report.hard = _write_jsonl(out / "hard.jsonl", hard)
    report.dropped = _write_jsonl(out / "dropped.jsonl", dropped)
    report.errors = len(errors)
    if errors:
        _write_jsonl(out / "errors.jsonl", errors)
    else:
        (out / "errors.jsonl").unlink(missing_ok=True)
    summary = {
        **report.to_dict(),
        "settings": {
            "complexity": settings.complexity,
            "spread": settings.data_spread,
            "time_limit": settings.time_limit,
            "keep_infeasible": settings.keep_infeasible,
        },
        "model": model,
        "dataset": dataset,
    }
    (out / "report.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return report
