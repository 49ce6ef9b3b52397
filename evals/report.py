"""Summaries and reports of eval runs: one run, a re-score, several runs compared.

Everything here is computed from a run directory's ``results.jsonl`` (each
line carries its reference answer), so a report can be rebuilt, or a run
re-scored under another protocol, without the dataset and without calling a
model.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from evals.loaders import BREAKDOWN_KEYS
from evals.published import figures
from evals.results import RESULTS_FILE, ProblemResult, read_results
from evals.scoring import (
    ALL_PROTOCOLS,
    DEFAULT_PROTOCOL,
    NO_OPTIMUM,
    get_protocol,
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
    )


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
        f"{summary.n_flagged_answer} flagged as ambiguous",
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
