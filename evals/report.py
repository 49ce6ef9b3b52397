"""Summaries and reports of eval runs: one run, a re-score, several runs compared.

Everything here is computed from a run directory's ``results.jsonl`` (each
line carries its reference answer), so a report can be rebuilt, or a run
re-scored under another protocol, without the dataset and without calling a
model.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from evals.loaders import BREAKDOWN_KEYS
from evals.model_size import compiled_sizes
from evals.published import figures
from evals.results import RESULTS_FILE, ProblemResult, read_results
from evals.scoring import (
    ALL_PROTOCOLS,
    DEFAULT_PROTOCOL,
    FAMILY_PROTOCOLS,
    NO_OPTIMUM,
    Prediction,
    get_protocol,
    pass_at_k,
)

CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.md"

# A breakdown key with more distinct values than this is not tabulated.
_MAX_BREAKDOWN_VALUES = 25


class ProtocolScore(BaseModel):
    """Accuracy under one protocol, final and before repair."""

    protocol: str
    description: str
    correct: int
    scored: int
    accuracy: float | None
    first_correct: int
    first_accuracy: float | None
    correct_unflagged: int
    scored_unflagged: int
    accuracy_unflagged: float | None


class BreakdownCell(BaseModel):
    """Accuracy of one metadata value (e.g. difficulty = Hard) under the default protocol."""

    n: int
    scored: int
    correct: int
    accuracy: float | None


class FailureSplit(BaseModel):
    """Where a run's scored problems ended, under one protocol (MIPLIB-NL's classes).

    ``execution``: no answer (invalid document, solver or harness error, no point);
    ``modeling``: an answer that is wrong (a wrong objective, or a wrong
    infeasible/unbounded verdict); ``time_limited``: the solver stopped at its
    limit and the answer is wrong or missing. ``correct_at_limit`` counts the right
    answers among runs stopped at the limit (an incumbent that happens to match).
    """

    protocol: str
    scored: int
    correct: int
    execution: int
    modeling: int
    time_limited: int
    correct_at_limit: int


SIZE_BUCKETS: tuple[tuple[str, int, float], ...] = (
    ("< 1k", 0, 1_000),
    ("1k–10k", 1_000, 10_000),
    ("≥ 10k", 10_000, float("inf")),
)
"""Buckets of variables + constraints (MIPLIB-NL's paper reports accuracy by these)."""


def size_bucket(size: int | None) -> str | None:
    """The :data:`SIZE_BUCKETS` label of ``variables + constraints`` (None when unknown)."""
    if size is None:
        return None
    return next(label for label, low, high in SIZE_BUCKETS if low <= size < high)


class PassAtK(BaseModel):
    """pass@k under one protocol, estimated from ``n`` samples per problem.

    ``n`` is the smallest sample count over the scored problems (every problem
    contributes the same ``n``, so the unbiased estimator applies; extra samples
    of a problem are ignored). ``values`` maps k (1..n) to the mean estimate.
    """

    protocol: str
    n: int
    problems: int
    values: dict[int, float]


class FindingRow(BaseModel):
    """How one finding type behaved in a run: how often it fired and whether it was right to.

    ``right_when_fired``: attempts it fired on whose own answer was correct
    (judged by the default protocol against the label); a finding of severity
    error on a right model is a false alarm that cost a repair round.
    ``final_right``: problems it fired on whose final answer was correct.
    ``per_attempt`` is False when only the final answer was known (older
    results: the finding codes of ``error_categories``).
    """

    code: str
    severity: str
    problems: int
    fired: int
    right_when_fired: int
    final_right: int
    per_attempt: bool


class AssumptionSplit(BaseModel):
    """Answers that rested on stated assumptions (data the text left out) versus the rest."""

    with_assumptions: int
    correct_with: int
    scored_with: int
    without: int
    correct_without: int
    scored_without: int
    total_assumptions: int


class RunSummary(BaseModel):
    """Everything ``summary.json`` holds about a run."""

    dataset: str
    family: str
    variant: str
    model: str
    run_id: str
    run_dir: str
    default_protocol: str
    n_expected: int
    n_done: int
    complete: bool
    interrupted: bool = False
    protocols: dict[str, ProtocolScore]
    n_unknown_answer: int
    n_flagged_answer: int
    execution_rate: float | None
    first_execution_rate: float | None
    mean_repair_rounds: float | None
    fixed_by_repair: int
    broken_by_repair: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    mean_latency_s: float | None
    status_counts: dict[str, int]
    outcome_counts: dict[str, int]
    error_categories: dict[str, int]
    breakdown: dict[str, dict[str, BreakdownCell]]
    transient_errors: int = 0
    """Results that still end on a transient error (a resumed run retries them)."""
    retried: int = 0
    """Problems the last invocation retried after transient errors."""
    failures: dict[str, FailureSplit] = {}
    """Execution / modeling / time-limited split, per protocol."""
    by_stop: dict[str, BreakdownCell] = {}
    """Accuracy per solver stop reason (default protocol), when results record one."""
    by_size: dict[str, BreakdownCell] = {}
    """Accuracy per :data:`SIZE_BUCKETS` bucket (default protocol); empty when no size is known."""
    size_source: str = ""
    """Where the sizes of :attr:`by_size` come from: ``dataset`` (stated by it), ``compiled``
    (the scored formulation compiled with its tables, :mod:`evals.model_size`), or both."""
    size_unknown_correct: int = 0
    """Problems of unknown size (left out of :attr:`by_size`) that are right all the same."""
    pass_at: dict[str, PassAtK] = {}
    """pass@k per protocol, when problems have more than one sample."""
    findings: list[FindingRow] = []
    """One row per verify finding type that fired."""
    assumptions: AssumptionSplit | None = None

    @property
    def accuracy(self) -> float | None:
        """Accuracy under the default protocol."""
        score = self.protocols.get(self.default_protocol)
        return score.accuracy if score else None


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def protocol_score(results: Sequence[ProblemResult], protocol: str) -> ProtocolScore:
    """Re-score results under a protocol (from stored answers; nothing is called)."""
    rule = get_protocol(protocol)
    correct = scored = first_correct = correct_unflagged = scored_unflagged = 0
    for result in results:
        verdict = rule.correct(result.prediction, result.answer)
        if verdict is None:
            continue
        scored += 1
        correct += int(verdict)
        first_correct += rule.correct(result.first_prediction, result.answer) is True
        if not result.answer.flagged:
            scored_unflagged += 1
            correct_unflagged += int(verdict)
    return ProtocolScore(
        protocol=protocol,
        description=rule.description,
        correct=correct,
        scored=scored,
        accuracy=_ratio(correct, scored),
        first_correct=first_correct,
        first_accuracy=_ratio(first_correct, scored),
        correct_unflagged=correct_unflagged,
        scored_unflagged=scored_unflagged,
        accuracy_unflagged=_ratio(correct_unflagged, scored_unflagged),
    )


def _outcome(result: ProblemResult, protocol: str) -> str:
    """A failure class for one result under a protocol."""
    verdict = get_protocol(protocol).correct(result.prediction, result.answer)
    pred = result.prediction
    if verdict is None:
        return "label unknown"
    if verdict:
        return "correct"
    if not pred.decided:
        return f"no answer ({pred.status})"
    if result.answer.kind == "infeasible":
        return "missed a no-optimum label"
    if pred.status in NO_OPTIMUM:
        return "said no optimum, label has one"
    return "wrong objective"


def failure_split(results: Sequence[ProblemResult], protocol: str) -> FailureSplit:
    """Count correct, execution, modeling and time-limited outcomes (unknown labels left out)."""
    rule = get_protocol(protocol)
    scored = correct = execution = modeling = limited = correct_at_limit = 0
    for result in results:
        verdict = rule.correct(result.prediction, result.answer)
        if verdict is None:
            continue
        scored += 1
        at_limit = result.stopped_at_limit
        if verdict:
            correct += 1
            correct_at_limit += at_limit
        elif at_limit:
            limited += 1
        elif result.prediction.decided:
            modeling += 1
        else:
            execution += 1
    return FailureSplit(
        protocol=protocol,
        scored=scored,
        correct=correct,
        execution=execution,
        modeling=modeling,
        time_limited=limited,
        correct_at_limit=correct_at_limit,
    )


def _cell(members: Sequence[ProblemResult], protocol: str) -> BreakdownCell:
    rule = get_protocol(protocol)
    verdicts = [rule.correct(m.prediction, m.answer) for m in members]
    scored = [v for v in verdicts if v is not None]
    return BreakdownCell(
        n=len(members),
        scored=len(scored),
        correct=sum(scored),
        accuracy=_ratio(sum(scored), len(scored)),
    )


def size_breakdown(
    results: Sequence[ProblemResult], protocol: str, sizes: Mapping[str, int] | None = None
) -> dict[str, BreakdownCell]:
    """Accuracy per size bucket, in bucket order, for the results whose size is known.

    A size the dataset states wins; ``sizes`` (result id → variables + constraints,
    e.g. the compiled scored formulation's) fills in the others.
    """
    groups: dict[str, list[ProblemResult]] = defaultdict(list)
    for result in results:
        size = result.size if result.size is not None else (sizes or {}).get(result.id)
        bucket = size_bucket(size)
        if bucket is not None:
            groups[bucket].append(result)
    return {
        label: _cell(groups[label], protocol) for label, _, _ in SIZE_BUCKETS if label in groups
    }


def stop_breakdown(results: Sequence[ProblemResult], protocol: str) -> dict[str, BreakdownCell]:
    """Accuracy per ``solver_stop`` (proved optimal, stopped at the time limit, ...)."""
    groups: dict[str, list[ProblemResult]] = defaultdict(list)
    for result in results:
        if result.solver_stop:
            groups[result.solver_stop].append(result)
    return {stop: _cell(groups[stop], protocol) for stop in sorted(groups)}


def pass_at(results: Sequence[ProblemResult], protocol: str) -> PassAtK | None:
    """pass@1..n from each problem's samples (None when every problem has a single sample)."""
    rule = get_protocol(protocol)
    counts: list[tuple[int, int]] = []
    for result in results:
        verdicts = [rule.correct(p, result.answer) for p in result.sample_predictions()]
        if any(v is None for v in verdicts):
            continue
        counts.append((len(verdicts), sum(bool(v) for v in verdicts)))
    if not counts:
        return None
    n = min(total for total, _ in counts)
    if n < 2:
        return None
    values: dict[int, float] = {}
    for k in range(1, n + 1):
        # Each problem's own estimate from all its samples (valid for any k <= its count).
        estimates = [pass_at_k(total, correct, k) for total, correct in counts]
        values[k] = sum(estimates) / len(estimates)
    return PassAtK(protocol=protocol, n=n, problems=len(counts), values=values)


def findings_table(results: Sequence[ProblemResult], protocol: str) -> list[FindingRow]:
    """Per finding type: severity, problems and attempts it fired on, and how often those were right.

    Rows are sorted by severity (error, suspicion, note), then by how often they fired.
    """
    rule = get_protocol(protocol)
    rows: dict[str, dict[str, Any]] = {}
    for result in results:
        final = rule.correct(result.prediction, result.answer)
        if final is None:
            continue
        seen: set[str] = set()
        counted: set[tuple[str, int]] = set()
        block, previous = 0, None
        for finding in result.finding_records():
            code = str(finding.get("code"))
            # One attempt may carry a finding several times (one per located data issue);
            # an attempt's records are consecutive and share its round and answer. The
            # column counts attempts, so each (code, attempt) is counted once.
            ident = (finding.get("round"), finding.get("status"), finding.get("objective"))
            if ident != previous or finding.get("round") is None:
                block, previous = block + 1, ident
            if (code, block) in counted:
                continue
            counted.add((code, block))
            row = rows.setdefault(
                code,
                {
                    "severity": str(finding.get("severity") or "error"),
                    "problems": 0,
                    "fired": 0,
                    "right": 0,
                    "final": 0,
                    "per_attempt": True,
                },
            )
            row["fired"] += 1
            row["per_attempt"] &= finding.get("round") is not None
            attempt = Prediction.from_mapping(finding)
            row["right"] += rule.correct(attempt, result.answer) is True
            if code not in seen:
                seen.add(code)
                row["problems"] += 1
                row["final"] += bool(final)
    order = {"error": 0, "suspicion": 1, "note": 2}
    return [
        FindingRow(
            code=code,
            severity=row["severity"],
            problems=row["problems"],
            fired=row["fired"],
            right_when_fired=row["right"],
            final_right=row["final"],
            per_attempt=row["per_attempt"],
        )
        for code, row in sorted(
            rows.items(), key=lambda kv: (order.get(kv[1]["severity"], 3), -kv[1]["fired"], kv[0])
        )
    ]


def assumption_split(results: Sequence[ProblemResult], protocol: str) -> AssumptionSplit:
    """How many answers rested on stated assumptions, and their accuracy against the rest."""
    rule = get_protocol(protocol)
    tally = {True: [0, 0, 0], False: [0, 0, 0]}  # n, correct, scored
    total = 0
    for result in results:
        stated = result.assumptions
        total += len(stated)
        bucket = tally[bool(stated)]
        bucket[0] += 1
        verdict = rule.correct(result.prediction, result.answer)
        if verdict is not None:
            bucket[2] += 1
            bucket[1] += int(verdict)
    return AssumptionSplit(
        with_assumptions=tally[True][0],
        correct_with=tally[True][1],
        scored_with=tally[True][2],
        without=tally[False][0],
        correct_without=tally[False][1],
        scored_without=tally[False][2],
        total_assumptions=total,
    )


def summarize(
    results: Sequence[ProblemResult],
    *,
    config: dict[str, Any],
    run_dir: Path,
    protocols: Iterable[str] = ALL_PROTOCOLS,
    default_protocol: str = DEFAULT_PROTOCOL,
    expected_ids: Iterable[str] = (),
    interrupted: bool = False,
) -> RunSummary:
    """Aggregate a run's results into a :class:`RunSummary`."""
    names = list(protocols)
    if default_protocol not in names:
        names.insert(0, default_protocol)
    family = str(config.get("family") or str(config.get("dataset", "")).split(".")[0])
    names += [p for p in FAMILY_PROTOCOLS.get(family, ()) if p not in names]
    done = {r.id for r in results}
    expected = set(expected_ids) | done
    rule = get_protocol(default_protocol)
    n = len(results)
    breakdown: dict[str, dict[str, BreakdownCell]] = {}
    for key in BREAKDOWN_KEYS:
        groups: dict[str, list[ProblemResult]] = defaultdict(list)
        for result in results:
            if key in result.metadata:
                groups[str(result.metadata[key])].append(result)
        if not groups or len(groups) > _MAX_BREAKDOWN_VALUES:
            continue
        cells = {}
        for value, members in sorted(groups.items()):
            verdicts = [rule.correct(m.prediction, m.answer) for m in members]
            scored = [v for v in verdicts if v is not None]
            cells[value] = BreakdownCell(
                n=len(members),
                scored=len(scored),
                correct=sum(scored),
                accuracy=_ratio(sum(scored), len(scored)),
            )
        breakdown[key] = cells
    categories: Counter[str] = Counter()
    for result in results:
        categories.update(set(result.error_categories))
    fixed = broken = 0
    for result in results:
        final = rule.correct(result.prediction, result.answer)
        first = rule.correct(result.first_prediction, result.answer)
        if final is None:
            continue
        fixed += bool(final) and not first
        broken += bool(first) and not final
    compiled = compiled_sizes(results, config, run_dir)
    stated = sum(r.size is not None for r in results)
    sources = [name for name, n in (("dataset", stated), ("compiled", len(compiled))) if n]
    unknown = [r for r in results if r.size is None and r.id not in compiled]
    return RunSummary(
        dataset=str(config.get("dataset", "")),
        family=str(config.get("family", "")),
        variant=str(config.get("variant", "")),
        model=str(config.get("model", "")),
        run_id=str(config.get("run_id", run_dir.name)),
        run_dir=str(run_dir),
        default_protocol=default_protocol,
        n_expected=len(expected),
        n_done=n,
        complete=expected <= done,
        interrupted=interrupted,
        protocols={name: protocol_score(results, name) for name in names},
        n_unknown_answer=sum(r.answer.kind == "unknown" for r in results),
        n_flagged_answer=sum(r.answer.flagged for r in results),
        execution_rate=_ratio(sum(r.prediction.decided for r in results), n),
        first_execution_rate=_ratio(sum(r.first_prediction.decided for r in results), n),
        mean_repair_rounds=(sum(r.repair_rounds for r in results) / n) if n else None,
        fixed_by_repair=fixed,
        broken_by_repair=broken,
        prompt_tokens=sum(r.prompt_tokens for r in results),
        completion_tokens=sum(r.completion_tokens for r in results),
        cost_usd=round(sum(r.cost_usd for r in results), 6),
        mean_latency_s=(sum(r.latency_s for r in results) / n) if n else None,
        status_counts=dict(Counter(r.status for r in results).most_common()),
        outcome_counts=dict(Counter(_outcome(r, default_protocol) for r in results).most_common()),
        error_categories=dict(categories.most_common()),
        breakdown=breakdown,
        transient_errors=sum(r.transient is not None for r in results),
        failures={
            name: failure_split(results, name)
            for name in _headline(default_protocol, names, family)
        },
        by_size=size_breakdown(results, default_protocol, compiled),
        size_source="+".join(sources),
        size_unknown_correct=sum(bool(rule.correct(r.prediction, r.answer)) for r in unknown),
        by_stop=stop_breakdown(results, default_protocol),
        pass_at={
            name: found
            for name in _headline(default_protocol, names, family)
            if (found := pass_at(results, name)) is not None
        },
        findings=findings_table(results, default_protocol),
        assumptions=assumption_split(results, default_protocol),
    )


def _headline(default: str, names: Sequence[str], family: str) -> list[str]:
    """The default protocol and the benchmark's own (the split and pass@k are shown for these)."""
    own = [p for p in FAMILY_PROTOCOLS.get(family, ()) if p in names]
    return list(dict.fromkeys([default, *own]))


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def render_report(summary: RunSummary, config: dict[str, Any] | None = None) -> str:
    """``report.md``: accuracy per protocol side by side, repair, usage, breakdowns."""
    config = config or {}
    entry = config.get("entry") or {}
    lines = [
        f"# {summary.dataset} — {summary.model}",
        "",
        f"- run: `{summary.run_id}` ({summary.n_done}/{summary.n_expected} problems"
        + (", complete" if summary.complete else ", INCOMPLETE")
        + (", interrupted" if summary.interrupted else "")
        + ")",
    ]
    if summary.transient_errors:
        lines.append(
            f"- {summary.transient_errors} problem(s) ended on transient errors (endpoint "
            "unreachable, HTTP 5xx/429, time-out): resume with the same run id to retry them"
        )
    if entry:
        digest = entry.get("sha256") or entry.get("manifest_sha256") or "unknown"
        lines.append(
            f"- data: {entry.get('repo', '?')}@{str(entry.get('commit', '?'))[:12]} "
            f"`{entry.get('path', '?')}` (sha256 {str(digest)[:16]}…, {entry.get('license', '?')})"
        )
    default = summary.protocols[summary.default_protocol]
    lines += [
        f"- default protocol: **{summary.default_protocol}** — {default.description}",
        f"- labels: {summary.n_unknown_answer} unknown (excluded from accuracy), "
        f"{summary.n_flagged_answer} flagged (ambiguous, doubtful or missing data; left out "
        "of 'unflagged labels only')",
        "",
        "## Accuracy by protocol",
        "",
        "| protocol | correct / scored | accuracy | first attempt | unflagged labels only |",
        "|---|---|---|---|---|",
    ]
    for name, score in summary.protocols.items():
        mark = " (default)" if name == summary.default_protocol else ""
        lines.append(
            f"| {name}{mark} | {score.correct} / {score.scored} | {_pct(score.accuracy)} | "
            f"{_pct(score.first_accuracy)} | {_pct(score.accuracy_unflagged)} "
            f"(n={score.scored_unflagged}) |"
        )
    lines += [
        "",
        "## Execution and repair",
        "",
        "| | first attempt | after repair |",
        "|---|---|---|",
        f"| execution rate (a number or a decided status) | {_pct(summary.first_execution_rate)} "
        f"| {_pct(summary.execution_rate)} |",
        f"| accuracy ({summary.default_protocol}) | {_pct(default.first_accuracy)} | "
        f"{_pct(default.accuracy)} |",
        "",
        f"Mean repair rounds: {summary.mean_repair_rounds or 0:.2f}; fixed by repair: "
        f"{summary.fixed_by_repair}; broken by repair: {summary.broken_by_repair}.",
        "",
        "## Usage",
        "",
        "| n | prompt tokens | completion tokens | cost (USD) | mean latency (s) |",
        "|---|---|---|---|---|",
        f"| {summary.n_done} | {summary.prompt_tokens} | {summary.completion_tokens} | "
        f"{summary.cost_usd:.4f} | {summary.mean_latency_s or 0:.2f} |",
    ]
    lines += _failure_lines(summary)
    lines += _pass_lines(summary)
    if summary.by_size:
        lines += [
            "",
            f"## By size: variables + constraints ({summary.default_protocol})",
            "",
            "| size | n | correct / scored | accuracy |",
            "|---|---|---|---|",
        ]
        for value, cell in summary.by_size.items():
            lines.append(
                f"| {value} | {cell.n} | {cell.correct} / {cell.scored} | {_pct(cell.accuracy)} |"
            )
        if "compiled" in summary.size_source:
            lines += [
                "",
                "Sizes: the dataset states none"
                + (" for some problems" if "dataset" in summary.size_source else "")
                + ", so those are bucketed by the compiled size of the formulation that was "
                "scored, read with the instance's tables (a correct model has about the "
                "reference model's size; a wrong one may not). This is not the paper's bucketing by the "
                "original MIPLIB instance.",
            ]
        unknown = summary.n_done - sum(c.n for c in summary.by_size.values())
        if unknown:
            why = (
                " (no formulation that compiles: most are execution failures)"
                if "compiled" in summary.size_source
                else ""
            )
            lines += [
                "",
                f"{unknown} problem(s) of unknown size{why} are not in this table; "
                f"{summary.size_unknown_correct} of them are right.",
            ]
    if summary.by_stop:
        lines += [
            "",
            f"## By solver stop ({summary.default_protocol})",
            "",
            "| why the solver stopped | n | correct / scored | accuracy |",
            "|---|---|---|---|",
        ]
        for value, cell in summary.by_stop.items():
            lines.append(
                f"| {value} | {cell.n} | {cell.correct} / {cell.scored} | {_pct(cell.accuracy)} |"
            )
    lines += _findings_lines(summary)
    lines += _assumption_lines(summary)
    for key, cells in summary.breakdown.items():
        lines += [
            "",
            f"## By {key} ({summary.default_protocol})",
            "",
            f"| {key} | n | correct / scored | accuracy |",
            "|---|---|---|---|",
        ]
        for value, cell in cells.items():
            lines.append(
                f"| {value} | {cell.n} | {cell.correct} / {cell.scored} | {_pct(cell.accuracy)} |"
            )
    lines += ["", "## Outcomes and failures", "", "| outcome | n |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in summary.outcome_counts.items()]
    lines += ["", "| final status | n |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in summary.status_counts.items()]
    if summary.error_categories:
        lines += ["", "| error category met | problems |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in summary.error_categories.items()]
    return "\n".join(lines) + "\n"


def _failure_lines(summary: RunSummary) -> list[str]:
    if not summary.failures:
        return []
    names = list(summary.failures)
    lines = [
        "",
        "## Failures: execution, modeling, time limit",
        "",
        "Execution: no answer (invalid document, solver or harness error). Modeling: an "
        "answer, but the wrong one. Time-limited: the solver stopped at its limit and the "
        "answer is wrong or missing (the solver's stop reason where the result records it: "
        "`solver_stop`, else `termination`, else the status `feasible` or `time_limit`).",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    rows = [
        ("correct", "correct"),
        ("execution failures", "execution"),
        ("modeling failures", "modeling"),
        ("time-limited", "time_limited"),
    ]
    for label, attr in rows:
        cells = []
        for name in names:
            split = summary.failures[name]
            count = int(getattr(split, attr))
            cells.append(f"{count} ({_pct(_ratio(count, split.scored))})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    limit_right = [summary.failures[n].correct_at_limit for n in names]
    lines.append(
        "| of the correct: stopped at the limit | " + " | ".join(map(str, limit_right)) + " |"
    )
    return lines


def _pass_lines(summary: RunSummary) -> list[str]:
    if not summary.pass_at:
        return []
    lines = ["", "## pass@k (unbiased estimator over each problem's samples)", ""]
    for name, found in summary.pass_at.items():
        ks = list(found.values)
        lines += [
            f"{name}: n = {found.n} samples per problem, {found.problems} problems",
            "",
            "| " + " | ".join(f"pass@{k}" for k in ks) + " |",
            "|" + "---|" * len(ks),
            "| " + " | ".join(_pct(found.values[k]) for k in ks) + " |",
            "",
        ]
    return lines[:-1]


def _findings_lines(summary: RunSummary) -> list[str]:
    if not summary.findings:
        return ["", "## Verify findings", "", "No finding fired on a scored problem."]
    per_attempt = all(row.per_attempt for row in summary.findings)
    lines = [
        "",
        f"## Verify findings ({summary.default_protocol})",
        "",
        "How often each finding type fired, at which severity (error: sent to repair; "
        "suspicion: sent to the optional review; note: reported only), and how often the "
        "model it fired on was right. A finding above note on a right model is a false alarm.",
    ]
    if not per_attempt:
        lines += [
            "",
            "Some results list only the finding codes met on the way (no per-attempt record): "
            "for those, 'fired' counts problems and the model is judged by its final answer.",
        ]
    lines += [
        "",
        "| finding | severity | problems | fired (attempts) | model it fired on was right "
        "| final answer right |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary.findings:
        lines.append(
            f"| {row.code} | {row.severity} | {row.problems} | {row.fired} | "
            f"{row.right_when_fired} ({_pct(_ratio(row.right_when_fired, row.fired))}) | "
            f"{row.final_right} ({_pct(_ratio(row.final_right, row.problems))}) |"
        )
    return lines


def _assumption_lines(summary: RunSummary) -> list[str]:
    split = summary.assumptions
    if split is None or not split.with_assumptions:
        return []
    return [
        "",
        f"## Answers resting on stated assumptions ({summary.default_protocol})",
        "",
        "| | problems | correct / scored | accuracy |",
        "|---|---|---|---|",
        f"| with assumptions ({split.total_assumptions} stated) | {split.with_assumptions} | "
        f"{split.correct_with} / {split.scored_with} | "
        f"{_pct(_ratio(split.correct_with, split.scored_with))} |",
        f"| without | {split.without} | {split.correct_without} / {split.scored_without} | "
        f"{_pct(_ratio(split.correct_without, split.scored_without))} |",
    ]


def load_config(run_dir: Path) -> dict[str, Any]:
    """A run's ``config.json`` (empty dict when missing)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _require_results(run_dir: Path) -> list[ProblemResult]:
    path = Path(run_dir) / RESULTS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no {RESULTS_FILE})")
    return read_results(path)


def rebuild_report(run_dir: str | Path, *, default_protocol: str | None = None) -> Path:
    """Rewrite a run's ``summary.json`` and ``report.md`` from its ``results.jsonl``.

    Calls nothing: an old run gets the current breakdowns (failure split, size
    buckets, pass@k, findings, assumptions) and, with ``default_protocol``, is
    summarised under another protocol (e.g. ``miplib_nl``). Returns the report's path.
    """
    from evals.results import write_json_atomic, write_text_atomic

    folder = Path(run_dir)
    results = _require_results(folder)
    config = load_config(folder)
    protocol = default_protocol or str(config.get("default_protocol") or DEFAULT_PROTOCOL)
    get_protocol(protocol)  # an unknown name fails here, listing the known ones
    ran = config.get("protocols")
    summary = summarize(
        results,
        config=config,
        run_dir=folder,
        protocols=list(ran) if isinstance(ran, dict) and ran else ALL_PROTOCOLS,
        default_protocol=protocol,
    )
    selected = config.get("n_selected")
    if isinstance(selected, int) and selected > summary.n_done:
        summary.n_expected, summary.complete = selected, False
    write_json_atomic(folder / SUMMARY_FILE, summary.model_dump())
    target = folder / REPORT_FILE
    write_text_atomic(target, render_report(summary, config))
    return target


def rescore(run_dir: str | Path, protocol: str = DEFAULT_PROTOCOL) -> ProtocolScore:
    """Re-score a finished (or partial) run under another protocol, calling nothing.

    >>> rescore("runs/mamo_easy/sirl_fixed/gpt-4o/20250101-000000", "orlm")  # doctest: +SKIP
    """
    return protocol_score(_require_results(Path(run_dir)), protocol)


def _collect(
    run_dirs: Sequence[str | Path], protocol: str
) -> tuple[list[str], list[str], dict[tuple[str, str], ProtocolScore], dict[str, str]]:
    rows: list[str] = []
    columns: list[str] = []
    cells: dict[tuple[str, str], ProtocolScore] = {}
    families: dict[str, str] = {}
    for item in run_dirs:
        run_dir = Path(item)
        config = load_config(run_dir)
        dataset = str(
            config.get("dataset") or f"{run_dir.parents[2].name}.{run_dir.parents[1].name}"
        )
        families[dataset] = str(config.get("family") or dataset.split(".")[0])
        # One row per model; a second run of a model on the same dataset gets its own row.
        label = str(config.get("model") or run_dir.parent.name)
        if (label, dataset) in cells:
            label = f"{label} / {config.get('run_id', run_dir.name)}"
        if label not in rows:
            rows.append(label)
        if dataset not in columns:
            columns.append(dataset)
        cells[(label, dataset)] = rescore(run_dir, protocol)
    return rows, columns, cells, families


def compare(
    run_dirs: Sequence[str | Path],
    *,
    protocol: str = DEFAULT_PROTOCOL,
    published: str = "highlights",
) -> str:
    """Markdown: runs as rows, datasets as columns, plus published figures beside them.

    ``published`` is ``"highlights"`` (a few reference rows), ``"all"`` or ``"none"``.
    """
    rows, columns, cells, families = _collect(run_dirs, protocol)
    rule = get_protocol(protocol)
    out = [
        f"## Accuracy ({protocol})",
        "",
        f"Protocol: {rule.description}",
        "",
        "| run | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for row in rows:
        values = []
        for column in columns:
            score = cells.get((row, column))
            values.append(
                "" if score is None else f"{_pct(score.accuracy)} ({score.correct}/{score.scored})"
            )
        out.append(f"| {row} | " + " | ".join(values) + " |")
    if published != "none":
        wanted = set(families.values())
        found = figures(wanted, highlights_only=published == "highlights")
        family_columns = list(dict.fromkeys(families[c] for c in columns))
        if found:
            out += [
                "",
                "## Published figures (not directly comparable)",
                "",
                "Other label versions and scoring rules; * = copied by that source from another "
                "paper. Source, protocol and label set per row.",
                "",
                "| model | source (protocol) | " + " | ".join(family_columns) + " |",
                "|---|---|" + "---|" * len(family_columns),
            ]
            grouped: dict[tuple[str, str, str], dict[str, str]] = defaultdict(dict)
            for fig in found:
                mark = "*" if fig.copied else ""
                cell = f"{fig.value:.1f}{mark}"
                if fig.variant:
                    cell += f" [{fig.variant}]"
                grouped[(fig.model, fig.source, fig.protocol)][fig.family] = cell
            for (model, source, proto), by_family in grouped.items():
                row_cells = [by_family.get(f, "") for f in family_columns]
                out.append(f"| {model} | {source} ({proto}) | " + " | ".join(row_cells) + " |")
    return "\n".join(out) + "\n"


def plot_compare(
    run_dirs: Sequence[str | Path], path: str | Path, *, protocol: str = DEFAULT_PROTOCOL
) -> Path:
    """A grouped bar chart (PNG) of accuracy per dataset, one bar per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, columns, cells, _ = _collect(run_dirs, protocol)
    width = 0.8 / max(1, len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(columns) + 2), 4.5))
    for i, row in enumerate(rows):
        xs, ys = [], []
        for j, column in enumerate(columns):
            score = cells.get((row, column))
            if score is not None and score.accuracy is not None:
                xs.append(j + (i - (len(rows) - 1) / 2) * width)
                ys.append(100 * score.accuracy)
        ax.bar(xs, ys, width=width, label=row)
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels(columns, rotation=20, ha="right")
    ax.set_ylabel(f"accuracy, % ({protocol})")
    ax.set_ylim(0, 100)
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=120)
    plt.close(fig)
    return target
