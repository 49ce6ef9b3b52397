"""``optiwise data ...`` and ``optiwise eval ...`` subcommands.

- ``optiwise data list [--json]``: every registered variant, count, license, present?
- ``optiwise data fetch NAME... [--data-dir DIR]``: download and verify.
- ``optiwise data show NAME [--limit N]``: the entry and its first problems.
- ``optiwise eval --dataset NAME [--formulations DIR] ...``: run (or score stored
  formulations) into ``runs/``.
- ``optiwise eval rescore RUN_DIR --protocol P``: re-score without calling anything.
- ``optiwise eval compare RUN_DIR... [--out FILE.md] [--plot FILE.png]``.

Running the LLM agent from ``optiwise eval --dataset`` goes through
:func:`run_command` with a solver factory; until the agent registers one,
only ``--formulations`` mode is available from the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evals.fetch import DataNotFoundError, FetchError, fetch, locate
from evals.registry import UnknownDatasetError, get, list_datasets, load_registry
from evals.scoring import ALL_PROTOCOLS, DEFAULT_PROTOCOL, PROTOCOLS

SolverFactory = Callable[[argparse.Namespace], Any]

# Set by the agent package (or passed to run_command) to run the LLM agent.
SOLVER_FACTORY: SolverFactory | None = None


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
    p_show.add_argument("--data-dir", help="mirror folder to look in")
    p_show.set_defaults(handler=_data_show)

    ev = subparsers.add_parser(
        "eval",
        help="run or score an eval; rescore and compare runs",
        description="Without a subcommand: run an eval (--dataset, optionally --formulations).",
    )
    ev.add_argument("--dataset", help="variant name or alias, e.g. nl4opt, mamo_easy.original")
    ev.add_argument(
        "--formulations", metavar="DIR", help="score stored <id>.yaml/.json formulations"
    )
    ev.add_argument("--model", help="model name for the run directory")
    ev.add_argument("--run-id", help="reuse to resume a run")
    ev.add_argument("--out-dir", default="runs", help="runs root (default: runs)")
    ev.add_argument("--limit", type=int, help="first N problems only")
    ev.add_argument("--ids", help="comma-separated problem ids")
    ev.add_argument("--concurrency", type=int, default=8)
    ev.add_argument("--timeout", type=float, help="seconds per problem")
    ev.add_argument(
        "--protocols",
        default=",".join(ALL_PROTOCOLS),
        help=f"comma-separated scoring protocols (default: all; known: {', '.join(PROTOCOLS)})",
    )
    ev.add_argument("--no-progress", action="store_true", help="no live progress line")
    ev.add_argument("--data-dir", help="mirror folder to read the dataset from")
    ev.set_defaults(handler=lambda args: run_command(args, SOLVER_FACTORY))
    ev_sub = ev.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")

    p_rescore = ev_sub.add_parser("rescore", help="re-score a run under another protocol")
    p_rescore.add_argument("run_dir", metavar="RUN_DIR")
    p_rescore.add_argument("--protocol", default=DEFAULT_PROTOCOL, choices=sorted(PROTOCOLS))
    p_rescore.add_argument("--json", action="store_true")
    p_rescore.set_defaults(handler=_eval_rescore)

    p_compare = ev_sub.add_parser("compare", help="compare runs (markdown table, plot)")
    p_compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p_compare.add_argument("--out", metavar="FILE.md", help="write the markdown here")
    p_compare.add_argument("--plot", metavar="FILE.png", help="write a bar chart here")
    p_compare.add_argument("--protocol", default=DEFAULT_PROTOCOL, choices=sorted(PROTOCOLS))
    p_compare.add_argument(
        "--published", default="highlights", choices=("highlights", "all", "none")
    )
    p_compare.set_defaults(handler=_eval_compare)


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


def _data_show(args: argparse.Namespace) -> int:
    from evals.loaders import load

    try:
        entry = get(args.name)
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
        print(f"\n[{problem.id}] answer: {_describe_answer(problem)}")
        if problem.metadata:
            shown = {
                k: v
                for k, v in problem.metadata.items()
                if isinstance(v, str | int | float) and len(str(v)) <= 80
            }
            if shown:
                print(f"  metadata: {shown}")
        print(f"  {question[:400]}{'…' if len(question) > 400 else ''}")
    return 0


def run_command(args: argparse.Namespace, solver_factory: SolverFactory | None) -> int:
    """``optiwise eval --dataset NAME``: run the agent (or stored formulations) on a dataset.

    ``solver_factory(args)`` builds the :class:`~evals.runner.Solver`; with
    ``--formulations DIR`` a :class:`~evals.formulations.FormulationSolver`
    is used instead and no factory is needed.
    """
    from evals.formulations import FormulationSolver
    from evals.runner import RunConfigMismatch, run_eval, safe_name

    if not getattr(args, "dataset", None):
        _err("usage: optiwise eval --dataset NAME [--formulations DIR] | rescore | compare")
        return 2
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        _err(f"error: unknown protocol(s) {unknown}; known: {', '.join(PROTOCOLS)}")
        return 2
    solver: Any
    if args.formulations:
        directory = Path(args.formulations)
        if not directory.is_dir():
            _err(f"error: {directory} is not a directory")
            return 2
        solver = FormulationSolver(directory)
        model = args.model or f"formulations-{safe_name(directory.resolve().name)}"
    elif solver_factory is None:
        _err(
            "error: the LLM agent is not wired into `optiwise eval` yet; score stored "
            "formulations with --formulations DIR"
        )
        return 2
    else:
        solver = solver_factory(args)
        model = args.model or str(getattr(solver, "model_name", "") or "agent")
    ids = [i.strip() for i in args.ids.split(",") if i.strip()] if args.ids else None
    try:
        summary = run_eval(
            args.dataset,
            solver,
            model_name=model,
            out_dir=args.out_dir,
            run_id=args.run_id,
            limit=args.limit,
            ids=ids,
            concurrency=args.concurrency,
            timeout_s=args.timeout,
            protocols=protocols,
            progress=not args.no_progress,
            data_dir=args.data_dir,
        )
    except (UnknownDatasetError, DataNotFoundError, RunConfigMismatch, KeyError) as exc:
        _err(f"error: {exc}")
        return 1
    print(f"run: {summary.run_dir}")
    for name, score in summary.protocols.items():
        acc = "–" if score.accuracy is None else f"{100 * score.accuracy:.1f}%"
        print(f"  {name:<9} {acc:>7}  ({score.correct}/{score.scored})")
    if summary.interrupted:
        _err(f"interrupted: rerun with --run-id {summary.run_id} to resume")
        return 130
    return 0


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


def _eval_compare(args: argparse.Namespace) -> int:
    from evals.report import compare, plot_compare

    try:
        text = compare(args.run_dirs, protocol=args.protocol, published=args.published)
        if args.plot:
            plot_compare(args.run_dirs, args.plot, protocol=args.protocol)
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
