"""``optiwise data ...`` and ``optiwise eval ...`` subcommands.

- ``optiwise data list [--json]``: every registered variant, count, license, present?
- ``optiwise data fetch NAME... [--data-dir DIR]``: download and verify.
- ``optiwise data show NAME [--limit N]``: the entry and its first problems.
- ``optiwise eval --dataset NAME --model M [--base-url URL] ...``: run the LLM agent on a
  dataset into ``runs/`` (resumable with ``--run-id``; a resume retries the problems that
  ended on transient errors unless ``--no-retry``); one request checks the endpoint and
  model first (``--no-preflight`` skips it); ``--json`` ends standard output with the
  summary as one JSON object. ``--solver-time-limit S`` is the agent's budget per solve;
  ``--timeout S`` the wall clock of a whole problem (over it: a time-out, retried once).
- ``optiwise eval --problems FILE.jsonl ...``: the same on a user's problems file in the
  ``Problem`` shape (what ``optiwise synth`` writes), without a registry entry.
- ``optiwise eval --dataset NAME --formulations DIR``: score stored formulations.
- ``optiwise eval batch-export --run-id R [--dataset NAME --model M ...]`` and
  ``optiwise eval batch-import --run-id R OUTPUT.jsonl``: every round of an eval (first
  attempts, repairs, reviews, voting samples) through OpenAI Batch files, until nothing is
  pending; then the run is scored like a live one (:mod:`evals.batch_cli`).
- ``optiwise eval batch-export --dataset NAME --model M -o requests.jsonl``: the first
  formulate request of every problem as an OpenAI Batch API file.
- ``optiwise eval batch-import --dataset NAME --model M OUTPUT.jsonl [--continue-repairs]``:
  score a batch's replies as first attempts (and repair the failures live).
- ``optiwise eval rescore RUN_DIR --protocol P``: re-score without calling anything.
- ``optiwise eval report RUN_DIR [--protocol P]``: rewrite summary.json and report.md.
- ``optiwise data flags NAME [--out FILE]``: per-item label flags from fix logs.
- ``optiwise eval compare RUN_DIR... [--out FILE.md] [--plot FILE.png]``.

The agent's endpoint comes from ``--base-url``/``--model`` or the environment
(``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPTIWISE_MODEL``); the response cache is on
when ``--cache-dir`` or ``OPTIWISE_CACHE_DIR`` names a directory.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.fetch import DataNotFoundError, FetchError, fetch, locate
from evals.registry import (
    DatasetEntry,
    UnknownDatasetError,
    get,
    list_datasets,
    load_registry,
)
from evals.scoring import ALL_PROTOCOLS, DEFAULT_PROTOCOL, PROTOCOLS

SolverFactory = Callable[[argparse.Namespace], Any]


def _prompt_set(folder: str | None) -> Any:
    """The prompt set a run uses: the folder's (built-ins fill the gaps) or the built-ins."""
    from agent.prompts import PromptSet

    return PromptSet.load(folder) if folder else PromptSet.default()


def tuned_repair_hook(folder: str | Path | None) -> str | None:
    """The source of ``repair_feedback.py`` in a prompt folder (what ``optiwise tune`` saves
    when it tunes the repair hook), or None: the agent then formats repairs as built in."""
    if not folder:
        return None
    path = Path(folder) / "repair_feedback.py"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def register(subparsers: Any) -> None:
    """Add the ``data`` and ``eval`` command groups to the ``optiwise`` CLI."""
    data = subparsers.add_parser("data", help="benchmark registry: list, fetch, show")
    data.set_defaults(handler=lambda args: _usage(data))
    data_sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    p_list = data_sub.add_parser("list", help="every registered benchmark variant")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")
    p_list.add_argument("--data-dir", help="mirror folder to look in (default: env, cache)")
    p_list.set_defaults(handler=_data_list)

    p_fetch = data_sub.add_parser("fetch", help="download a variant and verify its sha256")
    p_fetch.add_argument("names", nargs="+", metavar="NAME", help="variant name or alias")
    p_fetch.add_argument("--data-dir", help="download into this folder (default: user cache)")
    p_fetch.add_argument("--force", action="store_true", help="download even if present")
    p_fetch.add_argument("--base-url", help="raw file base URL (default: GitHub raw)")
    p_fetch.set_defaults(handler=_data_fetch)

    p_show = data_sub.add_parser("show", help="a variant's registry entry and first problems")
    p_show.add_argument("name", metavar="NAME")
    p_show.add_argument("--limit", type=int, default=3, help="problems to show (default 3)")
    p_show.add_argument("--ids", help="comma-separated problem ids to show instead")
    p_show.add_argument("--data-dir", help="mirror folder to look in")
    p_show.set_defaults(handler=_data_show)

    p_flags = data_sub.add_parser(
        "flags",
        help="per-item label flags (wrong ground truth, missing data, ambiguous) from fix logs",
    )
    p_flags.add_argument("name", metavar="NAME", help="variant whose labels to flag")
    p_flags.add_argument(
        "--out",
        help="file to write (.json: a JSON array, else JSON lines; default NAME.flags.json)",
    )
    p_flags.add_argument("--data-dir", help="mirror folder to look in")
    p_flags.set_defaults(handler=_data_flags)

    ev = subparsers.add_parser(
        "eval",
        help="run or score an eval; batch export/import; rescore and compare runs",
        description="Without a subcommand: run the LLM agent on a dataset (--dataset, "
        "--model, --base-url), or score stored formulations (--formulations DIR).",
    )
    _dataset_options(ev)
    ev.add_argument(
        "--formulations", metavar="DIR", help="score stored <id>.yaml/.json formulations"
    )
    _agent_options(ev)
    _run_options(ev)
    ev.set_defaults(handler=lambda args: run_command(args, SOLVER_FACTORY))
    ev_sub = ev.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")

    p_export = ev_sub.add_parser(
        "batch-export",
        help="write a run's pending requests (or every first request) as an OpenAI Batch file",
        description="With --run-id R: write the pending requests of run R (first formulates, "
        "repairs, reviews, every voting sample) as one OpenAI Batch API file, creating the run "
        "if it is new; `batch-import --run-id R` applies the replies; repeat until nothing is "
        "pending. Without --run-id: the first formulate request of every problem (-o FILE). "
        "Requests are exactly what a live run sends. No endpoint is needed.",
    )
    _dataset_options(p_export, suppress=True)
    p_export.add_argument(
        "-o",
        "--output",
        metavar="FILE.jsonl",
        help="the requests file to write (with --run-id, default: <run dir>/batch/"
        "requests-<round>.jsonl)",
    )
    _agent_options(p_export, suppress=True, batch=True)
    _run_options(p_export, suppress=True)
    for action in p_export._actions:
        # Accepted (the parser is shared with live runs) but meaningless here: no endpoint
        # is called, nothing is solved concurrently or timed, so --help does not list them.
        if set(action.option_strings) & _NOT_FOR_EXPORT:
            action.help = argparse.SUPPRESS
    p_export.set_defaults(handler=_eval_batch_export)

    p_import = ev_sub.add_parser(
        "batch-import",
        help="apply an OpenAI Batch output: advance a batch-rounds run, or score first attempts",
        description="With --run-id R of a run started by `batch-export --run-id R`: apply the "
        "replies, advance each problem (check, solve, verify; a needed repair goes into the "
        "next export) and score what finished; when nothing is pending the run is final. "
        "Otherwise: turn each reply into the agent's first attempt (parse, check, solve) and "
        "score it into a run directory; with --continue-repairs, failed problems go on with "
        "the agent's repair rounds through the configured endpoint.",
    )
    p_import.add_argument(
        "batch_files",
        nargs="+",
        metavar="BATCH_OUTPUT.jsonl",
        help="the batch's output file (and, optionally, its error file)",
    )
    _dataset_options(p_import, suppress=True)
    p_import.add_argument(
        "--continue-repairs",
        action="store_true",
        help="repair failed first attempts through the live endpoint",
    )
    _agent_options(p_import, suppress=True, batch=True)
    _run_options(p_import, suppress=True)
    p_import.set_defaults(handler=_eval_batch_import)

    p_rescore = ev_sub.add_parser("rescore", help="re-score a run under another protocol")
    p_rescore.add_argument("run_dir", metavar="RUN_DIR")
    p_rescore.add_argument("--protocol", default=DEFAULT_PROTOCOL, choices=sorted(PROTOCOLS))
    p_rescore.add_argument("--json", action="store_true")
    p_rescore.set_defaults(handler=_eval_rescore)

    p_report = ev_sub.add_parser(
        "report", help="rewrite a run's summary.json and report.md from its results (no calls)"
    )
    p_report.add_argument("run_dir", metavar="RUN_DIR")
    p_report.add_argument(
        "--protocol", choices=sorted(PROTOCOLS), help="default protocol (default: the run's own)"
    )
    p_report.add_argument("--print", action="store_true", help="print report.md after writing it")
    p_report.set_defaults(handler=_eval_report)

    p_compare = ev_sub.add_parser("compare", help="compare runs (markdown table, plot)")
    p_compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p_compare.add_argument("--out", metavar="FILE.md", help="write the markdown here")
    p_compare.add_argument("--plot", metavar="FILE.png", help="write a bar chart here")
    p_compare.add_argument("--protocol", default=DEFAULT_PROTOCOL, choices=sorted(PROTOCOLS))
    p_compare.add_argument(
        "--published", default="highlights", choices=("highlights", "all", "none")
    )
    p_compare.set_defaults(handler=_eval_compare)


_NOT_FOR_EXPORT = frozenset(
    {
        "--base-url",
        "--concurrency",
        "--no-preflight",
        "--retry-errors",
        "--no-retry",
        "--timeout",
        "--no-progress",
        "--cache-dir",
        "--no-cache",
    }
)
"""Options ``batch-export`` accepts but does not use (hidden from its ``--help``)."""


def _opt(parser: Any, suppress: bool, *flags: str, default: Any = None, **kwargs: Any) -> None:
    """An option whose default is left to the parent parser when ``suppress`` is set."""
    parser.add_argument(*flags, default=argparse.SUPPRESS if suppress else default, **kwargs)


def _dataset_options(parser: Any, suppress: bool = False) -> None:
    _opt(parser, suppress, "--dataset", help="variant name or alias, e.g. nl4opt, mamo_easy")
    _opt(
        parser,
        suppress,
        "--problems",
        metavar="FILE.jsonl",
        help="a problems file in the Problem shape (what `optiwise synth` writes) instead of "
        "a registered --dataset",
    )
    _opt(
        parser,
        suppress,
        "--split",
        choices=("test", "dev", "validation"),
        help="the family's variant of this split (e.g. nl4opt --split dev)",
    )
    _opt(parser, suppress, "--model", help="model name (default: OPTIWISE_MODEL or gpt-4o-mini)")
    _opt(parser, suppress, "--limit", type=int, help="first N problems only")
    _opt(parser, suppress, "--ids", help="comma-separated problem ids")
    _opt(parser, suppress, "--data-dir", help="mirror folder to read the dataset from")


def _agent_options(parser: Any, suppress: bool = False, batch: bool = False) -> None:
    """The agent's options; ``batch``: those a Batch run can use (no strategy, no executor)."""
    _opt(parser, suppress, "--base-url", metavar="URL", help="OpenAI-compatible endpoint")
    _opt(
        parser,
        suppress,
        "--samples",
        type=int,
        default=1,
        metavar="N",
        help="self-consistency samples (default 1)",
    )
    _opt(parser, suppress, "--review", action="store_true", help="LLM review of solved models")
    _opt(
        parser,
        suppress,
        "--prompts",
        metavar="DIR",
        help="a prompt-set folder (e.g. the prompts/ that `optiwise tune` wrote)",
    )
    _opt(
        parser,
        suppress,
        "--no-hints",
        dest="hints",
        action="store_false",
        default=True,
        help="leave the problem-class modeling hints out of the formulate prompt (ablation)",
    )
    if not batch:
        _opt(
            parser,
            suppress,
            "--strategy",
            choices=("formulation", "code", "both"),
            default="formulation",
            help="formulation document (default), a Pyomo script, or both",
        )
        _opt(
            parser,
            suppress,
            "--unsafe-no-isolation",
            action="store_true",
            default=False,
            help="run LLM-written scripts (--strategy code/both) without the bubblewrap "
            "sandbox; they can then read your files and API key and reach the network",
        )
        _opt(
            parser,
            suppress,
            "--executor",
            choices=("local", "process", "ray"),
            default="local",
            help="where the agent's CPU work (check, compile, solve, verify) runs: this "
            "process (default), a pool of worker processes, or Ray actors; LLM calls stay "
            "in this process. A run resumes on any executor",
        )
        _opt(
            parser,
            suppress,
            "--workers",
            type=int,
            metavar="N",
            help="worker processes (default: one per core but one, which the LLM calls "
            "use) or Ray actors (default: one per core; with --ray-address, one per CPU "
            "of the cluster)",
        )
        _opt(
            parser,
            suppress,
            "--ray-address",
            metavar="ADDR",
            help="Ray cluster to use with --executor ray (e.g. ray://head:10001 or auto; "
            "default: start a local Ray)",
        )
    _opt(
        parser,
        suppress,
        "--max-repairs",
        type=int,
        default=3,
        metavar="K",
        help="repair rounds (default 3)",
    )
    _opt(
        parser,
        suppress,
        "--solver-time-limit",
        "--time-limit",
        dest="time_limit",
        type=float,
        metavar="S",
        help="the solver's time budget per solve, passed to the agent (default: "
        "OPTIWISE_TIME_LIMIT or 60). Not the per-problem wall clock: see --timeout",
    )
    _opt(
        parser,
        suppress,
        "--cache-dir",
        metavar="DIR",
        help="LLM response cache (default: OPTIWISE_CACHE_DIR; no cache when unset)",
    )
    _opt(
        parser,
        suppress,
        "--no-cache",
        action="store_true",
        default=False,
        help="bypass the response cache",
    )


def _run_options(parser: Any, suppress: bool = False) -> None:
    _opt(parser, suppress, "--run-id", help="reuse to resume a run")
    _opt(
        parser,
        suppress,
        "--out-dir",
        "--out",
        dest="out_dir",
        default="runs",
        metavar="DIR",
        help="runs root (default: runs)",
    )
    _opt(parser, suppress, "--concurrency", type=int, default=8, help="problems at a time")
    _opt(
        parser,
        suppress,
        "--timeout",
        type=float,
        help="wall-clock seconds per problem (LLM calls, every solve and repair); a "
        "problem over it is stopped and recorded as a time-out (retried once on resume, "
        "then final). The solver's own budget is --solver-time-limit",
    )
    _opt(
        parser,
        suppress,
        "--retry-errors",
        dest="retry_errors",
        action="store_const",
        const=True,
        default=True,
        help="on resume, retry problems that ended on transient errors: endpoint "
        "unreachable, HTTP 5xx/429 after retries, time-outs (the default)",
    )
    _opt(
        parser,
        suppress,
        "--no-retry",
        dest="retry_errors",
        action="store_const",
        const=False,
        help="on resume, keep every finished result, transient errors included",
    )
    _opt(
        parser,
        suppress,
        "--no-preflight",
        action="store_true",
        default=False,
        help="skip the request that checks the endpoint and model before the run",
    )
    _opt(
        parser,
        suppress,
        "--protocols",
        default=",".join(ALL_PROTOCOLS),
        help=f"comma-separated scoring protocols (default: all; known: {', '.join(PROTOCOLS)})",
    )
    _opt(
        parser,
        suppress,
        "--no-progress",
        action="store_true",
        default=False,
        help="no live progress line",
    )
    _opt(
        parser,
        suppress,
        "--no-traces",
        action="store_true",
        default=False,
        help="do not write traces/<trace id>.json",
    )
    _opt(
        parser,
        suppress,
        "--json",
        action="store_true",
        default=False,
        help="end standard output with the summary as one JSON object",
    )


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _short_license(text: str) -> str:
    return text.split(" (")[0].split(";")[0]


def _data_list(args: argparse.Namespace) -> int:
    registry = load_registry()
    rows: list[dict[str, Any]] = []
    for entry in list_datasets(registry=registry):
        path = locate(entry, args.data_dir)
        rows.append(
            {
                "name": entry.name,
                "family": entry.family,
                "variant": entry.variant,
                "aliases": registry.alias_of(entry.name),
                "count": entry.count,
                "license": entry.license,
                "present": path is not None,
                "path": str(path) if path else None,
                "split": entry.split,
                "repo": entry.repo,
                "commit": entry.commit,
                "hash_known": entry.hash_known,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    width = max(len(r["name"]) for r in rows)
    print(f"{'name':<{width}}  {'count':>5}  present  {'license':<16}  aliases")
    for r in rows:
        mark = "yes" if r["present"] else "no"
        aliases = ", ".join(r["aliases"])
        print(
            f"{r['name']:<{width}}  {r['count']:>5}  {mark:<7}  "
            f"{_short_license(r['license']):<16}  {aliases}"
        )
    missing = sum(not r["present"] for r in rows)
    if missing:
        print(f"\n{missing} not present: `optiwise data fetch NAME` downloads one.")
    return 0


def _data_fetch(args: argparse.Namespace) -> int:
    status = 0
    for name in args.names:
        try:
            entry = get(name)
            report = fetch(
                entry,
                data_dir=args.data_dir,
                base_url=args.base_url,
                force=args.force,
                log=_err,
            )
        except (UnknownDatasetError, FetchError) as exc:
            _err(f"error: {exc}")
            status = 1
            continue
        print(
            f"{entry.name}: {len(report.written)} written, {len(report.skipped)} up to date "
            f"in {report.destination}"
        )
    return status


def _describe_answer(problem: Any) -> str:
    answer = problem.answer
    text = answer.kind if answer.value is None else f"{answer.value:g}"
    if answer.flagged:
        text += f"  [flagged: {answer.reason}]"
    return text


def _data_flags(args: argparse.Namespace) -> int:
    from evals.label_flags import log_paths, read_fix_logs, summarize_flags, write_flags
    from evals.loaders import load

    try:
        entry = get(args.name)
    except UnknownDatasetError as exc:
        _err(f"error: {exc}")
        return 1
    logs = log_paths(entry.family, data_dir=args.data_dir)
    if not logs:
        with_logs = [
            e.name for e in list_datasets() if e.family == entry.family and e.name != entry.name
        ]
        hint = f" (try `optiwise data fetch {' '.join(with_logs)}`)" if with_logs else ""
        _err(f"error: no fix log of family {entry.family!r} on disk{hint}")
        return 1
    entries = read_fix_logs(logs)
    try:
        problems = load(entry, data_dir=args.data_dir).problems
    except DataNotFoundError as exc:
        _err(f"warning: {exc}; the flags are written without {entry.name}'s ids")
        problems = ()
    out = Path(args.out or f"{entry.name}.flags.json")
    write_flags(out, entries, problems)
    counts = ", ".join(f"{k} {v}" for k, v in summarize_flags(entries).items())
    print(f"wrote {out}: {len(entries)} log rows from {len(logs)} log(s); {counts}")
    return 0


def _data_show(args: argparse.Namespace) -> int:
    from evals.loaders import load

    try:
        entry = get(args.name)
        wanted = _ids(args)
        if wanted:
            full = load(entry, data_dir=args.data_dir)
            by_id = full.by_id()
            missing = [i for i in wanted if i not in by_id]
            if missing:
                known = ", ".join(p.id for p in full.problems[:5])
                _err(
                    f"error: {entry.name} has no problem id(s) {missing[:10]} (ids look like: {known}, ...)"
                )
                return 1
            dataset = dataclasses.replace(full, problems=tuple(by_id[i] for i in wanted))
        else:
            dataset = load(entry, data_dir=args.data_dir, limit=max(0, args.limit))
    except (UnknownDatasetError, DataNotFoundError) as exc:
        _err(f"error: {exc}")
        return 1
    registry = load_registry()
    aliases = ", ".join(registry.alias_of(entry.name)) or "-"
    print(f"{entry.name}: {entry.title}")
    print(f"  aliases: {aliases}")
    print(f"  upstream: {entry.repo}@{entry.commit} {entry.path}")
    print(f"  local: {dataset.source}")
    print(f"  format: {entry.format}; count: {entry.count}; split: {entry.split}")
    print(f"  license: {entry.license}")
    digest = entry.manifest_sha256 if entry.is_folder else entry.sha256
    print(f"  sha256{' (manifest)' if entry.is_folder else ''}: {digest or 'unknown'}")
    if entry.notes:
        print(f"  notes: {entry.notes}")
    for problem in dataset.problems:
        question = " ".join(problem.question.split())
        print(f"\nid [{problem.id}] answer: {_describe_answer(problem)}")
        if problem.metadata:
            shown = {
                k: v
                for k, v in problem.metadata.items()
                if isinstance(v, str | int | float) and len(str(v)) <= 80
            }
            if shown:
                print(f"  metadata: {shown}")
        print(f"  {question[:400]}{'…' if len(question) > 400 else ''}")
    if dataset.problems:
        first = ",".join(p.id for p in dataset.problems[:2])
        print(
            f"\nselect problems by id: optiwise eval --dataset {entry.name} --ids {first} ...; "
            f"more: optiwise data show {entry.name} --limit N (or --ids ID,...)"
        )
    return 0


class _Stop(Exception):
    """A command-line error: the message to print and the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def solver_time_limit(args: argparse.Namespace) -> float | None:
    """The agent's per-solve budget: ``--solver-time-limit``, else ``AgentConfig``'s default.

    The default honours ``OPTIWISE_TIME_LIMIT``; it is distinct from ``--timeout``,
    the wall clock of a whole problem (every LLM call, solve and repair).
    """
    from agent.context import AgentConfig

    value = getattr(args, "time_limit", None)
    if value is None:
        try:
            return AgentConfig.from_env().time_limit
        except ValueError as exc:
            raise _Stop(f"error: invalid OPTIWISE_TIME_LIMIT: {exc}", 2) from exc
    if not value > 0:
        raise _Stop(f"error: --solver-time-limit must be > 0 seconds, got {value}", 2)
    return float(value)


def _selection(args: argparse.Namespace) -> DatasetEntry | Any:
    """What to evaluate: the ``--dataset`` entry, or the loaded ``--problems`` file."""
    problems = getattr(args, "problems", None)
    if problems and getattr(args, "dataset", None):
        raise _Stop("error: give --dataset NAME or --problems FILE.jsonl, not both", 2)
    if problems:
        from evals.problem_file import ProblemFileError, load_problem_file

        try:
            return load_problem_file(problems)
        except ProblemFileError as exc:
            raise _Stop(f"error: {exc}", 2) from exc
    return _resolve_dataset(args)


def _file_sections(dataset: Any) -> dict[str, dict[str, Any]]:
    """The ``problems_file`` section of a ``--problems`` run (its path and sha256)."""
    from evals.loaders import Dataset

    if isinstance(dataset, Dataset) and dataset.family == "file" and dataset.info.get("sha256"):
        return {"problems_file": dict(dataset.info)}
    return {}


def _resolve_dataset(args: argparse.Namespace) -> DatasetEntry:
    """The registry entry of ``--dataset``, switched to its family's ``--split`` variant."""
    if not getattr(args, "dataset", None):
        raise _Stop("error: --dataset NAME is required (see `optiwise data list`)", 2)
    entry = get(args.dataset)
    split = getattr(args, "split", None)
    if not split or entry.split == split:
        return entry
    others = [e for e in list_datasets() if e.family == entry.family and e.split == split]
    if len(others) == 1:
        _err(f"note: {entry.name} is a {entry.split} split; using {others[0].name} ({split})")
        return others[0]
    if not others:
        raise _Stop(f"error: {entry.family} has no {split} split (only {entry.split})", 2)
    names = ", ".join(e.name for e in others)
    raise _Stop(f"error: {entry.family} has several {split} variants; name one: {names}", 2)


def _protocols(args: argparse.Namespace) -> list[str]:
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise _Stop(f"error: unknown protocol(s) {unknown}; known: {', '.join(PROTOCOLS)}", 2)
    return protocols


def _ids(args: argparse.Namespace) -> list[str] | None:
    return [i.strip() for i in args.ids.split(",") if i.strip()] if args.ids else None


def _llm_settings(args: argparse.Namespace) -> Any:
    """LLM settings from the environment and ``--model``/``--base-url``/``--cache-dir``."""
    from agent.settings import get_settings

    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "model": getattr(args, "model", None),
            "base_url": getattr(args, "base_url", None),
            "cache_dir": getattr(args, "cache_dir", None),
        }.items()
        if v is not None
    }
    if getattr(args, "no_cache", False):
        overrides["cache_dir"] = None
    try:
        return get_settings(**overrides)
    except Exception as exc:  # invalid OPTIWISE_* values in the environment
        raise _Stop(f"error: invalid LLM settings: {exc}", 2) from exc


class DeferredAgentSolver:
    """The agent's solver, built on first use.

    Importing the agent (LangGraph, the openai client) takes seconds; a run
    that is resumed with nothing left to do never needs it. :meth:`identity`
    gives the fields a resumed run is checked against without importing it.
    """

    def __init__(self, args: argparse.Namespace, settings: Any) -> None:
        self.args = args
        self.settings = settings
        self.trace_dir: Path | None = None
        self._solver: Any = None

    @property
    def model_name(self) -> str:
        """The model the requests go to."""
        return str(self.settings.model)

    def identity(self) -> dict[str, Any]:
        """The run-defining fields of the ``agent`` section (same values as :meth:`describe`)."""
        from evals.agent_solver import DEFAULT_BASE_URL

        return {
            "model": self.settings.model,
            "base_url": self.settings.base_url or DEFAULT_BASE_URL,
            "strategy": self.args.strategy,
            "samples": self.args.samples,
            "max_repairs": self.args.max_repairs,
            "review": self.args.review,
            "temperature": self.settings.temperature,
            "prompts_digest": _prompt_set(getattr(self.args, "prompts", None)).digest(),
        }

    def solver(self) -> Any:
        """The :class:`~evals.agent_solver.AgentSolver` (built once)."""
        if self._solver is None:
            from agent.api import OptimizationAgent
            from agent.llm import OpenAIChatModel
            from agent.prompts import PromptSet
            from evals.agent_solver import AgentSolver

            folder = getattr(self.args, "prompts", None)
            agent = OptimizationAgent(
                llm=OpenAIChatModel(self.settings),
                prompts=PromptSet.load(folder) if folder else None,
                max_repairs=self.args.max_repairs,
                samples=self.args.samples,
                review=self.args.review,
                strategy=self.args.strategy,
                time_limit=solver_time_limit(self.args),
                # with a process or Ray executor this process never solves: no worker here
                prewarm=getattr(self.args, "executor", "local") == "local",
            )
            if not getattr(self.args, "hints", True):
                agent.config = agent.config.with_(hints=False)
            hook = tuned_repair_hook(folder)
            if hook is not None:
                agent.config = agent.config.with_(repair_hook=hook)
            self._solver = AgentSolver(
                agent,
                executor=getattr(self.args, "executor", "local"),
                workers=getattr(self.args, "workers", None),
                ray_address=getattr(self.args, "ray_address", None),
            )
        self._solver.trace_dir = self.trace_dir
        return self._solver

    def close(self) -> None:
        """Stop the executor's workers, if the solver was built."""
        if self._solver is not None:
            self._solver.close()

    def warm_up(self) -> None:
        """Build the solver and start its executor's workers in the background."""
        self.solver().warm_up()

    def describe(self) -> dict[str, Any]:
        """The ``agent`` section of the run's ``config.json``."""
        info: dict[str, Any] = self.solver().describe()
        return info

    def preflight(self) -> str:
        """Check the endpoint and model (:func:`evals.preflight.preflight`); a one-line verdict."""
        from evals.preflight import preflight

        return preflight(self.settings)

    async def solve(self, problem: Any) -> Any:
        """Solve with the agent (building it first if needed)."""
        return await self.solver().solve(problem)


def agent_solver_factory(args: argparse.Namespace) -> DeferredAgentSolver:
    """The default :data:`SOLVER_FACTORY`: the LLM agent on the configured endpoint.

    Raises :class:`~evals.agent_solver.EndpointNotConfigured` when there is no
    API key and no base URL (the command then exits with status 2).
    """
    from evals.agent_solver import EndpointNotConfigured

    settings = _llm_settings(args)
    if not settings.configured:
        raise EndpointNotConfigured()
    if args.samples < 1:
        raise _Stop(f"error: --samples must be >= 1, got {args.samples}", 2)
    if args.max_repairs < 0:
        raise _Stop(f"error: --max-repairs must be >= 0, got {args.max_repairs}", 2)
    solver_time_limit(args)
    if args.strategy in ("code", "both"):
        _require_isolation(args)
    workers = getattr(args, "workers", None)
    if workers is not None and workers < 1:
        raise _Stop(f"error: --workers must be >= 1, got {workers}", 2)
    executor = getattr(args, "executor", "local")
    if getattr(args, "ray_address", None) and executor != "ray":
        raise _Stop("error: --ray-address needs --executor ray", 2)
    if executor == "process":
        from evals.executors import setting_error

        if problem := setting_error():  # e.g. a bad OPTIWISE_EVAL_WORKER_NICE
            raise _Stop(f"error: {problem}", 2)
    if executor == "ray":
        import importlib.util

        from evals.executors import RAY_MISSING

        if importlib.util.find_spec("ray") is None:
            raise _Stop(f"error: {RAY_MISSING}", 2)
    return DeferredAgentSolver(args, settings)


def _require_isolation(args: argparse.Namespace) -> None:
    """The code route runs LLM-written scripts: refuse the run up front if they cannot be isolated.

    Otherwise every problem would fail on its own with the same refusal.
    ``--unsafe-no-isolation`` opts out for this process (see :mod:`agent.sandbox`).
    """
    import os

    from agent.sandbox import UNSAFE_ENV, IsolationUnavailable, isolation

    if getattr(args, "unsafe_no_isolation", False):
        os.environ[UNSAFE_ENV] = "1"
        _err("warning: LLM-written scripts run WITHOUT isolation (--unsafe-no-isolation)")
        return
    try:
        isolation()
    except IsolationUnavailable as exc:
        raise _Stop(f"error: --strategy {args.strategy}: {exc}", 2) from exc


# The solver `optiwise eval --dataset` runs; tests swap it (or pass one to run_command).
SOLVER_FACTORY: SolverFactory | None = agent_solver_factory

# Fields of a config.json section that must not change when a run is resumed.
_FIXED = {
    "agent": (
        "model",
        "base_url",
        "strategy",
        "samples",
        "max_repairs",
        "review",
        "examples",
        "temperature",
        "prompts_digest",
    ),
    "batch": ("sha256", "continue_repairs"),
    "problems_file": ("sha256",),
}


def record_config(plan: Any, sections: dict[str, dict[str, Any]], *, write: bool = True) -> None:
    """Add ``sections`` (agent, batch) to the run's ``config.json``; check them on resume.

    A resumed run must not mix answers of another model, prompt set or repair
    budget into the same results, so a fixed field (present on both sides)
    that differs is refused. ``write=False`` only checks.
    """
    from evals.report import CONFIG_FILE
    from evals.results import jsonable, write_json_atomic
    from evals.runner import RunConfigMismatch

    changed = False
    for name, info in sections.items():
        info = jsonable(info)
        existing = plan.config.get(name)
        if isinstance(existing, dict):
            for key in _FIXED.get(name, ()):
                if key in existing and key in info and existing[key] != info[key]:
                    if name == "problems_file":
                        raise RunConfigMismatch(
                            f"the problems file {info.get('path') or existing.get('path')} changed "
                            f"since run {plan.run_dir.name} started (its results answer the old "
                            "problems); restore the file or use another --run-id"
                        )
                    raise RunConfigMismatch(
                        f"{plan.run_dir} was run with {name}.{key}={existing.get(key)!r}, "
                        f"not {info.get(key)!r}; use another --run-id"
                    )
            continue
        if write:
            plan.config[name] = info
            changed = True
    if changed:
        write_json_atomic(plan.run_dir / CONFIG_FILE, plan.config)


def summary_json(summary: Any) -> dict[str, Any]:
    """The one-line JSON summary of ``--json``: accuracies, rates, tokens, cost, run dir."""
    protocols = summary.protocols
    return {
        "dataset": summary.dataset,
        "model": summary.model,
        "run_id": summary.run_id,
        "run_dir": summary.run_dir,
        "n": summary.n_expected,
        "n_done": summary.n_done,
        "complete": summary.complete,
        "interrupted": summary.interrupted,
        "default_protocol": summary.default_protocol,
        "accuracy": {n: s.accuracy for n, s in protocols.items()},
        "first_attempt_accuracy": {n: s.first_accuracy for n, s in protocols.items()},
        "correct": {n: s.correct for n, s in protocols.items()},
        "first_correct": {n: s.first_correct for n, s in protocols.items()},
        "scored": {n: s.scored for n, s in protocols.items()},
        "execution_rate": summary.execution_rate,
        "first_execution_rate": summary.first_execution_rate,
        "mean_repair_rounds": summary.mean_repair_rounds,
        "fixed_by_repair": summary.fixed_by_repair,
        "prompt_tokens": summary.prompt_tokens,
        "completion_tokens": summary.completion_tokens,
        "tokens": summary.prompt_tokens + summary.completion_tokens,
        "cost_usd": summary.cost_usd,
        "mean_latency_s": summary.mean_latency_s,
        "status_counts": summary.status_counts,
        "error_categories": summary.error_categories,
        "transient_errors": summary.transient_errors,
        "retried": summary.retried,
    }


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _print_summary(summary: Any, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(summary_json(summary), ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    print(f"run: {summary.run_dir}")
    for name, score in summary.protocols.items():
        print(
            f"  {name:<9} {_pct(score.accuracy):>7}  ({score.correct}/{score.scored})  "
            f"first attempt {_pct(score.first_accuracy)}"
        )
    tokens = summary.prompt_tokens + summary.completion_tokens
    print(
        f"  executed {_pct(summary.execution_rate)} (first attempt "
        f"{_pct(summary.first_execution_rate)}); tokens {tokens:,}; ${summary.cost_usd:.4f}"
    )
    if summary.retried:
        print(f"  retried {summary.retried} problem(s) after transient errors")
    if summary.transient_errors:
        print(
            f"  {summary.transient_errors} problem(s) ended on transient errors; rerun with "
            f"--run-id {summary.run_id} to retry them"
        )


def _quiet_stdout() -> Any:
    """Solver banners written by C code to fd 1 go to stderr while problems run."""
    from modeling._stdio import redirect_stdout

    return redirect_stdout()


def _check_coverage(found_missing: tuple[list[str], list[str]], solver: Any, plan: Any) -> None:
    """Stored formulations must match the selection's ids: none is an error, some a warning."""
    found, missing = found_missing
    if not missing:
        return
    ids = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
    if not found:
        names = ", ".join(p.name for p in solver.files()[:5])
        raise _Stop(
            f"error: none of the {len(missing)} selected problems of {plan.dataset.name} has a "
            f"formulation in {solver.directory} (looked for <id>.yaml/.yml/.json, e.g. "
            f"{missing[0]}.yaml; the folder holds {names}, ...). Check the folder and the "
            "dataset (`optiwise data show NAME` lists ids)",
            2,
        )
    _err(
        f"warning: {len(missing)} of {len(found) + len(missing)} selected problems have no "
        f"formulation in {solver.directory} and count as failures: {ids}"
    )


def _execute(
    args: argparse.Namespace,
    dataset: Any,
    solver: Any,
    *,
    model: str,
    ids: list[str] | None,
    run_id: str | None,
    sections: dict[str, dict[str, Any]],
) -> int:
    """Prepare (or resume) the run, solve what is left, print the summary."""
    import asyncio

    from evals.results import read_results
    from evals.runner import execute, finalize, prepare_run

    plan = prepare_run(
        dataset,
        model_name=model,
        out_dir=args.out_dir,
        run_id=run_id,
        limit=args.limit,
        ids=ids,
        concurrency=args.concurrency,
        timeout_s=args.timeout,
        protocols=_protocols(args),
        data_dir=args.data_dir,
    )
    coverage = getattr(solver, "coverage", None)
    if callable(coverage):
        _check_coverage(coverage([p.id for p in plan.problems]), solver, plan)
    identity = getattr(solver, "identity", None)
    if callable(identity):
        record_config(plan, {"agent": identity()}, write=False)
    record_config(plan, sections, write=False)  # a changed problems file: refused before any call
    retry_errors = getattr(args, "retry_errors", True)
    finished = {
        r.id for r in read_results(plan.results_path) if not (retry_errors and r.retryable())
    }
    kept = sum(p.id in finished for p in plan.problems)
    if kept and kept < len(plan.problems):
        _err(
            f"resuming run {plan.run_dir.name}: {kept} of {len(plan.problems)} problem(s) done "
            f"and kept, {len(plan.problems) - kept} to run"
        )
    if any(p.id not in finished for p in plan.problems):
        warm_up = getattr(solver, "warm_up", None)
        if callable(warm_up):
            warm_up()  # the executor's workers start in the background, during the preflight
        check = getattr(solver, "preflight", None)
        if callable(check) and not getattr(args, "no_preflight", False):
            from evals.preflight import PreflightError

            try:
                _err(check())
            except PreflightError as exc:
                close = getattr(solver, "close", None)
                if callable(close):  # the workers warm_up started
                    close()
                raise _Stop(f"error: {exc}", 1) from exc
        describe = getattr(solver, "describe", None)
        if callable(describe):
            sections = {"agent": describe(), **sections}
        record_config(plan, sections)
        if hasattr(solver, "trace_dir") and not args.no_traces:
            solver.trace_dir = plan.run_dir / "traces"
    with _quiet_stdout():
        try:
            summary = asyncio.run(
                execute(plan, solver, progress=not args.no_progress, retry_errors=retry_errors)
            )
        except KeyboardInterrupt:
            summary = finalize(plan, interrupted=True)
        finally:
            close = getattr(solver, "close", None)
            if callable(close):  # the executor's worker processes or Ray actors
                close()
    _print_summary(summary, args.json)
    if summary.interrupted:
        _err(f"interrupted: rerun with --run-id {summary.run_id} to resume")
        return 130
    return 0


def run_command(args: argparse.Namespace, solver_factory: SolverFactory | None) -> int:
    """``optiwise eval --dataset NAME``: run the agent (or stored formulations) on a dataset.

    ``solver_factory(args)`` builds the :class:`~evals.runner.Solver` (by
    default the agent over the configured endpoint, imported only when a
    problem is left to solve); with ``--formulations DIR`` a
    :class:`~evals.formulations.FormulationSolver` is used instead and no
    endpoint is needed. Exit status: 0 done, 1 a data or run-directory error,
    2 a usage error (no dataset, no endpoint, unknown protocol), 130 interrupted.
    """
    from evals.agent_solver import EndpointNotConfigured
    from evals.formulations import FormulationSolver
    from evals.runner import RunConfigMismatch, safe_name

    try:
        if not getattr(args, "dataset", None) and not getattr(args, "problems", None):
            raise _Stop(
                "usage: optiwise eval --dataset NAME | --problems FILE.jsonl --model M "
                "[--base-url URL] | --formulations DIR | batch-export | batch-import | rescore "
                "| compare",
                2,
            )
        _protocols(args)
        entry = _selection(args)
        solver: Any
        if args.formulations:
            directory = Path(args.formulations)
            if not directory.is_dir():
                raise _Stop(f"error: --formulations {directory}: no such directory", 2)
            solver = FormulationSolver(directory, timeout_s=args.timeout)
            if not solver.files():
                raise _Stop(
                    f"error: --formulations {directory} holds no .yaml/.yml/.json file; "
                    "expected one <problem id>.yaml per problem (see `optiwise data show "
                    "NAME` for the ids)",
                    2,
                )
            model = args.model or f"formulations-{safe_name(directory.resolve().name)}"
        elif solver_factory is None:
            raise _Stop("error: no solver: score stored formulations with --formulations DIR", 2)
        else:
            solver = solver_factory(args)
            model = args.model or str(getattr(solver, "model_name", "") or "agent")
        return _execute(
            args,
            entry,
            solver,
            model=model,
            ids=_ids(args),
            run_id=args.run_id,
            sections=_file_sections(entry),
        )
    except EndpointNotConfigured as exc:
        _err(str(exc))
        return 2
    except _Stop as exc:
        _err(str(exc))
        return exc.status
    except (UnknownDatasetError, DataNotFoundError, RunConfigMismatch, KeyError) as exc:
        _err(f"error: {exc}")
        return 1


def _eval_batch_export(args: argparse.Namespace) -> int:
    from agent.api import OptimizationAgent
    from agent.context import AgentConfig
    from agent.llm import OpenAIChatModel
    from agent.prompts import PromptSet
    from evals.batch import export_requests

    if getattr(args, "run_id", None):
        from evals.batch_cli import export_rounds

        return export_rounds(args)
    try:
        if not getattr(args, "output", None):
            raise _Stop(
                "error: -o FILE.jsonl is required (or --run-id R: the pending requests of a "
                "run, every round through Batch files)",
                2,
            )
        if getattr(args, "samples", 1) != 1:
            raise _Stop(
                "error: --samples N needs a run: `batch-export --run-id R --samples N` puts "
                "every sample's requests in the file",
                2,
            )
        entry = _selection(args)
        settings = _llm_settings(args).merged(cache_dir=None)
        folder = getattr(args, "prompts", None)
        agent = OptimizationAgent(
            llm=OpenAIChatModel(settings),
            config=AgentConfig(
                hints=getattr(args, "hints", True), repair_hook=tuned_repair_hook(folder)
            ),
            prompts=PromptSet.load(folder) if folder else None,
        )
        lines = export_requests(
            entry, args.output, agent, limit=args.limit, ids=_ids(args), data_dir=args.data_dir
        )
    except _Stop as exc:
        _err(str(exc))
        return exc.status
    except (UnknownDatasetError, DataNotFoundError, KeyError, OSError) as exc:
        _err(f"error: {exc}")
        return 1
    print(f"wrote {len(lines)} requests ({entry.name}, model {settings.model}) to {args.output}")
    _err(
        "next: upload it with purpose 'batch', create a batch on /v1/chat/completions, then\n"
        f"  optiwise eval batch-import --dataset {entry.name} --model {settings.model} "
        "OUTPUT.jsonl [--continue-repairs]\n"
        "(to run the repairs through Batch files too, start with `batch-export --run-id R`)"
    )
    return 0


def _eval_batch_import(args: argparse.Namespace) -> int:
    from agent.context import AgentConfig
    from agent.llm import OpenAIChatModel
    from agent.prompts import PromptSet
    from evals.agent_solver import EndpointNotConfigured
    from evals.batch import BatchFormatError, BatchImportSolver, load_batch_output
    from evals.batch_cli import import_rounds, rounds_run_dir
    from evals.loaders import Dataset, load
    from evals.runner import RunConfigMismatch

    try:
        if getattr(args, "run_id", None) and rounds_run_dir(args) is not None:
            return import_rounds(args)
        if args.max_repairs < 0:
            raise _Stop(f"error: --max-repairs must be >= 0, got {args.max_repairs}", 2)
        if getattr(args, "samples", 1) != 1:
            raise _Stop(
                "error: --samples N runs through batch rounds: start the run with "
                "`optiwise eval batch-export --run-id R --samples N`",
                2,
            )
        entry = _selection(args)
        _protocols(args)
        settings = _llm_settings(args)
        live = None
        if args.continue_repairs:
            if not settings.configured:
                raise EndpointNotConfigured()
            live = OpenAIChatModel(settings)
        dataset = entry if isinstance(entry, Dataset) else load(entry, data_dir=args.data_dir)
        output, answered = load_batch_output(dataset, args.batch_files)
        if not answered:
            raise _Stop(f"error: the batch output answers no problem of {dataset.name}")
        folder = getattr(args, "prompts", None)
        solver = BatchImportSolver(
            output,
            dataset=dataset.name,
            model=settings.model,
            config=AgentConfig(
                max_repairs=args.max_repairs,
                time_limit=solver_time_limit(args),
                hints=getattr(args, "hints", True),
                review=bool(getattr(args, "review", False)),
            ),
            prompts=PromptSet.load(folder) if folder else PromptSet.default(),
            live=live,
        )
        run_id = args.run_id or f"batch-{output.sha256[:10]}" + ("-repairs" if live else "")
        return _execute(
            args,
            dataset,
            solver,
            model=settings.model,
            ids=_ids(args) or answered,
            run_id=run_id,
            sections={"batch": solver.batch_info(), **_file_sections(dataset)},
        )
    except EndpointNotConfigured as exc:
        _err(str(exc).replace("optiwise eval:", "optiwise eval batch-import --continue-repairs:"))
        return 2
    except _Stop as exc:
        _err(str(exc))
        return exc.status
    except (
        UnknownDatasetError,
        DataNotFoundError,
        RunConfigMismatch,
        BatchFormatError,
        KeyError,
        OSError,
    ) as exc:
        _err(f"error: {exc}")
        return 1


def _eval_rescore(args: argparse.Namespace) -> int:
    from evals.report import rescore

    try:
        score = rescore(args.run_dir, args.protocol)
    except FileNotFoundError as exc:
        _err(f"error: {exc}")
        return 1
    if args.json:
        print(score.model_dump_json(indent=2))
        return 0
    acc = "–" if score.accuracy is None else f"{100 * score.accuracy:.1f}%"
    first = "–" if score.first_accuracy is None else f"{100 * score.first_accuracy:.1f}%"
    print(f"{args.protocol}: {acc} ({score.correct}/{score.scored}); first attempt {first}")
    print(f"  rule: {score.description}")
    return 0


def _eval_report(args: argparse.Namespace) -> int:
    from evals.report import rebuild_report

    try:
        path = rebuild_report(args.run_dir, default_protocol=args.protocol)
    except FileNotFoundError as exc:
        _err(f"error: {exc}")
        return 1
    if args.print:
        print(path.read_text(encoding="utf-8"), end="")
    else:
        print(f"wrote {path} and {path.with_name('summary.json')}")
    return 0


def _eval_compare(args: argparse.Namespace) -> int:
    from evals.report import compare, plot_compare
    from evals.results import RESULTS_FILE

    # A glob such as runs/*/*/*/* also matches runs with no results yet (a batch run before
    # its first import, a failed start): they are named and left out, the rest compared.
    runs = [d for d in args.run_dirs if (Path(d) / RESULTS_FILE).is_file()]
    skipped = [d for d in args.run_dirs if d not in runs]
    if skipped:
        _err(
            f"skipped {len(skipped)} folder(s) with no {RESULTS_FILE} (no results yet, or not "
            "a run): " + ", ".join(str(d) for d in skipped)
        )
    if not runs:
        _err(f"error: none of the {len(skipped)} folder(s) given is a run with results")
        return 1
    try:
        text = compare(runs, protocol=args.protocol, published=args.published)
        if args.plot:
            plot_compare(runs, args.plot, protocol=args.protocol)
    except FileNotFoundError as exc:
        _err(f"error: {exc}")
        return 1
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0
