"""``optiwise eval batch-export/batch-import --run-id R``: a whole eval through Batch files.

Round by round, with no live endpoint::

    optiwise eval batch-export --dataset nl4opt --model gpt-4o --run-id R   # round 1
    # upload runs/.../R/batch/requests-1.jsonl, run the batch, download its output
    optiwise eval batch-import --run-id R output-1.jsonl [errors-1.jsonl]
    optiwise eval batch-export --run-id R                                    # round 2 ...

``batch-export`` creates the run on first use (from ``--dataset`` or
``--problems`` and the agent options: ``--max-repairs``, ``--samples``,
``--review``, ``--solver-time-limit``, ``--prompts``, ``--no-hints``) and later
finds it by its id under ``--out``. Every later round uses the settings the run
was created with; an option given again with another value is refused.
``batch-import`` applies the replies (:meth:`evals.batch.BatchRounds.import_`),
says per problem what happened to each request, scores the problems that
finished into ``results.jsonl`` with the normal runner, and rewrites
``summary.json`` and ``report.md``. When nothing is pending the run is final:
the same files, and the same scores, as the run done live.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from evals.batch import (
    ROUNDS_FILE,
    BatchFormatError,
    BatchRounds,
    ReplaySolver,
    RoundSummary,
    split_request_id,
)
from evals.fetch import DataNotFoundError
from evals.loaders import Dataset
from evals.registry import UnknownDatasetError

__all__ = ["export_rounds", "import_rounds", "rounds_run_dir"]

_SECTION = "batch_rounds"
"""The run's ``config.json`` section that marks it as a batch-rounds run."""

# The agent options a round may repeat, with their parser defaults ("not given").
_SETTINGS = (
    ("max_repairs", "--max-repairs", 3),
    ("samples", "--samples", 1),
    ("review", "--review", False),
    ("hints", "--no-hints", True),
)


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _runs_with_id(out_dir: Path, run_id: str) -> list[Path]:
    return sorted(p.parent for p in out_dir.glob(f"*/*/*/{run_id}/config.json"))


def rounds_run_dir(args: argparse.Namespace) -> Path | None:
    """The run directory of ``--run-id`` if it is a batch-rounds run (has a rounds file)."""
    for run_dir in _runs_with_id(Path(args.out_dir), args.run_id):
        if (run_dir / ROUNDS_FILE).exists():
            return run_dir
    return None


@dataclasses.dataclass
class _Run:
    """An opened batch-rounds run: its dataset, model, runner plan and rounds."""

    dataset: Dataset
    model: str
    plan: Any
    rounds: BatchRounds


def _load_dataset(args: argparse.Namespace, config: dict[str, Any]) -> Dataset:
    """The dataset of an existing run: its problems file (unchanged), or its registry entry."""
    from evals.cli import _Stop
    from evals.loaders import load
    from evals.problem_file import ProblemFileError, file_info, load_problem_file

    recorded = config.get("problems_file")
    if isinstance(recorded, dict):
        path = Path(str(recorded.get("path")))
        try:
            dataset = load_problem_file(path)
        except ProblemFileError as exc:
            raise _Stop(f"error: the run's problems file: {exc}", 1) from exc
        if file_info(path)["sha256"] != recorded.get("sha256"):
            raise _Stop(
                f"error: {path} changed since the run started (sha256 differs); the replies "
                "belong to the old problems: restore it or start another --run-id",
                1,
            )
        return dataset
    data_dir = args.data_dir
    source, entry = config.get("source"), config.get("entry") or {}
    if data_dir is None and source and entry.get("local_path"):
        # The mirror the run was started from: the recorded file minus its local path.
        depth = len(Path(str(entry["local_path"])).parts)
        root = Path(str(source)).parents[depth - 1]
        if (root / str(entry["local_path"])).exists():
            data_dir = str(root)
    return load(str(config["dataset"]), data_dir=data_dir)


def _open_run(args: argparse.Namespace, *, create: bool) -> _Run:
    """Find (or, with ``create``, start) the batch-rounds run ``--run-id``."""
    from agent.context import AgentConfig
    from agent.prompts import PromptSet
    from evals.cli import (
        _file_sections,
        _ids,
        _llm_settings,
        _protocols,
        _selection,
        _Stop,
        solver_time_limit,
        tuned_repair_hook,
    )
    from evals.loaders import load
    from evals.report import CONFIG_FILE, load_config
    from evals.results import jsonable, write_json_atomic
    from evals.runner import prepare_run, safe_name

    out_dir, run_id = Path(args.out_dir), str(args.run_id)
    config: dict[str, Any] | None = None
    if getattr(args, "dataset", None) or getattr(args, "problems", None):
        chosen = _selection(args)
        dataset = chosen if isinstance(chosen, Dataset) else load(chosen, data_dir=args.data_dir)
        model = str(_llm_settings(args).model)
        run_dir = out_dir / dataset.family / dataset.variant / safe_name(model) / run_id
        if (run_dir / CONFIG_FILE).exists():
            config = load_config(run_dir)
        elif create:
            args.new_run_dir = run_dir  # undone if this first export fails (see export_rounds)
    else:
        hits = _runs_with_id(out_dir, run_id)
        if not hits:
            raise _Stop(
                f"error: no run {run_id!r} under {out_dir}; start it with `optiwise eval "
                f"batch-export --dataset NAME (or --problems FILE.jsonl) --model M --run-id "
                f"{run_id}`",
                1,
            )
        if len(hits) > 1:
            where = ", ".join(str(h) for h in hits)
            raise _Stop(
                f"error: several runs are called {run_id!r} ({where}); name one with "
                "--dataset and --model",
                2,
            )
        run_dir = hits[0]
        config = load_config(run_dir)
        model = str(config.get("model"))
        if getattr(args, "model", None) and args.model != model:
            raise _Stop(f"error: run {run_id!r} runs model {model!r}, not {args.model!r}", 2)
        dataset = _load_dataset(args, config)
    args.model = model
    if config is None and not create:
        raise _Stop(
            f"error: {run_dir} is not a run yet; start it with `optiwise eval batch-export "
            f"--run-id {run_id}` and the same --dataset/--problems and --model",
            1,
        )
    has_rounds = (run_dir / ROUNDS_FILE).exists()
    if config is not None and not has_rounds and not create:
        raise _Stop(f"error: {run_dir} has no batch rounds; `batch-export --run-id` starts them", 1)
    ids = config.get("ids") if config is not None else _ids(args)
    limit = config.get("limit") if config is not None else args.limit
    plan = prepare_run(
        dataset,
        model_name=model,
        out_dir=out_dir,
        run_id=run_id,
        limit=limit,
        ids=ids,
        concurrency=args.concurrency,
        protocols=_protocols(args),
        data_dir=args.data_dir,
    )
    section = plan.config.get(_SECTION)
    stored: dict[str, Any] = section if isinstance(section, dict) else {}
    folder = getattr(args, "prompts", None) or stored.get("prompts")
    prompts = PromptSet.load(folder) if folder else None
    selected = [p.id for p in plan.problems]
    if has_rounds:
        rounds = BatchRounds.for_run(
            dataset, run_id=run_id, model=model, out_dir=out_dir, ids=selected, prompts=prompts
        )
        _check_settings(args, rounds)
    else:
        try:
            agent_config = AgentConfig.from_env(
                max_repairs=args.max_repairs,
                samples=args.samples,
                review=bool(args.review),
                hints=bool(args.hints),
                time_limit=solver_time_limit(args),
                strategy="formulation",
                repair_hook=tuned_repair_hook(folder),
            )
        except ValueError as exc:
            raise _Stop(f"error: {exc}", 2) from exc
        rounds = BatchRounds.for_run(
            dataset,
            run_id=run_id,
            model=model,
            out_dir=out_dir,
            ids=selected,
            config=agent_config,
            prompts=prompts,
        )
        rounds.save()
    # The rounds are the authority on how this run's answers were made.
    plan.config["agent"] = jsonable(ReplaySolver(rounds).describe())
    plan.config[_SECTION] = {"prompts": str(folder) if folder else None, "rounds": ROUNDS_FILE}
    plan.config.update(_file_sections(dataset))
    write_json_atomic(plan.run_dir / CONFIG_FILE, plan.config)
    return _Run(dataset=dataset, model=model, plan=plan, rounds=rounds)


def _check_settings(args: argparse.Namespace, rounds: BatchRounds) -> None:
    """An agent option given again must match the run's (the replies were made under it)."""
    from evals.cli import _Stop

    clashes = []
    for attr, flag, default in _SETTINGS:
        given = getattr(args, attr, None)
        if given is None or given == default:
            continue  # not given: the run's setting holds
        if given != getattr(rounds.config, attr):
            clashes.append(f"{flag} (the run has {getattr(rounds.config, attr)!r})")
    limit = getattr(args, "time_limit", None)
    if limit is not None and limit != rounds.config.time_limit:
        clashes.append(f"--solver-time-limit (the run has {rounds.config.time_limit!r})")
    if clashes:
        raise _Stop(
            f"error: run {args.run_id!r} was started with other agent settings: "
            + "; ".join(clashes)
            + ". Every round uses the run's settings: drop the option or use another --run-id",
            2,
        )


def _score(run: _Run, args: argparse.Namespace) -> Any:
    """Score the problems that finished since the last time; rewrite summary and report."""
    from evals.runner import execute, finalize

    rounds = run.rounds
    fresh = [pid for pid in rounds.finished() if not rounds.state[pid].get("scored")]
    if fresh:
        wanted = set(fresh)
        sub = dataclasses.replace(
            run.plan, problems=[p for p in run.plan.problems if p.id in wanted]
        )
        asyncio.run(
            execute(sub, ReplaySolver(rounds), progress=False, retry_errors=False, redo=fresh)
        )
        for pid in fresh:
            rounds.state[pid]["scored"] = True
        rounds.save()
    return finalize(run.plan)


def _where(args: argparse.Namespace) -> str:
    return "" if str(args.out_dir) == "runs" else f" --out {args.out_dir}"


def _errors(exc: BaseException) -> int:
    _err(f"error: {exc}")
    return 1


def _undo_new_run(args: argparse.Namespace) -> None:
    """Remove what a failed first export wrote, so the run id can be started again."""
    from evals.report import CONFIG_FILE

    run_dir = getattr(args, "new_run_dir", None)
    if not isinstance(run_dir, Path):
        return
    for name in (CONFIG_FILE, ROUNDS_FILE):
        (run_dir / name).unlink(missing_ok=True)
    for folder in (run_dir / "batch", run_dir / "traces", run_dir):
        try:
            folder.rmdir()  # only when empty: nothing else is removed
        except OSError:
            pass


def export_rounds(args: argparse.Namespace) -> int:
    """``batch-export --run-id R``: the run's pending requests as one Batch file."""
    from agent.llm import OpenAIChatModel
    from evals.cli import _llm_settings, _print_summary, _quiet_stdout, _Stop
    from evals.runner import RunConfigMismatch

    try:
        run = _open_run(args, create=True)
        settings = _llm_settings(args).merged(cache_dir=None)
        number = run.rounds.imports + 1
        default = run.plan.run_dir / "batch" / f"requests-{number}.jsonl"
        path = Path(args.output) if getattr(args, "output", None) else default
        with _quiet_stdout():
            lines = run.rounds.export(path, OpenAIChatModel(settings))
        if not lines:
            summary = _score(run, args)
    except _Stop as exc:
        _undo_new_run(args)
        _err(str(exc))
        return exc.status
    except (
        UnknownDatasetError,
        DataNotFoundError,
        RunConfigMismatch,
        BatchFormatError,
        KeyError,
        OSError,
        ValueError,
    ) as exc:
        _undo_new_run(args)
        return _errors(exc)
    if not lines:
        print(f"nothing pending: every problem of run {args.run_id} has finished")
        _print_summary(summary, args.json)
        return 0
    pending = run.rounds.pending()
    first = sum(1 for line in lines if split_request_id(line["custom_id"])[3] == 0)
    print(
        f"round {number}: wrote {len(lines)} request(s) for {len(pending)} pending problem(s) "
        f"of {run.dataset.name} (model {run.model}; {first} first formulate, "
        f"{len(lines) - first} repair/review) to {path}"
    )
    _err(
        "next: upload it with purpose 'batch', create a batch on /v1/chat/completions, and "
        "when it is done\n"
        f"  optiwise eval batch-import --run-id {args.run_id}{_where(args)} OUTPUT.jsonl "
        "[ERRORS.jsonl]"
    )
    return 0


def _report_round(number: int, summary: RoundSummary) -> None:
    finished = len(summary.finished)
    if summary.already_imported:
        _err(
            f"round {number}: nothing applied: these file(s) were imported before (same bytes); "
            f"the round stays {number}, {len(summary.pending)} problem(s) pending"
        )
        return
    if not summary.counted:
        why = []
        if summary.repeated:
            why.append(f"{len(summary.repeated)} line(s) were applied by an earlier import")
        if summary.stale:
            why.append(
                f"{len(summary.stale)} line(s) answer requests of an earlier round, already "
                f"answered (e.g. {summary.stale[0]}): an older round's output?"
            )
        if summary.unknown:
            why.append(f"{len(summary.unknown)} line(s) name no request of this run")
        _err(
            f"round {number}: nothing applied, no reply for a request round {number} waits "
            f"for; the round stays {number} ({len(summary.pending)} problem(s) pending)"
            + ("".join(f"\n  {w}" for w in why))
        )
        return
    _err(
        f"round {number}: {summary.applied} repl{'y' if summary.applied == 1 else 'ies'} "
        f"applied; {finished} problem(s) finished, {len(summary.pending)} pending"
    )
    for messages in summary.messages.values():
        for message in messages:
            _err(f"  {message}")
    if summary.unknown:
        _err(
            f"  {len(summary.unknown)} line(s) name no request of this run and were ignored "
            f"(e.g. {summary.unknown[0]})"
        )
    if summary.repeated:
        _err(f"  {len(summary.repeated)} line(s) were applied by an earlier import: ignored")
    if summary.stale:
        _err(
            f"  {len(summary.stale)} line(s) answer requests of an earlier round (e.g. "
            f"{summary.stale[0]}): ignored"
        )


def import_rounds(args: argparse.Namespace) -> int:
    """``batch-import --run-id R FILES``: apply the replies, advance, score what finished."""
    from evals.cli import _print_summary, _quiet_stdout, _Stop, summary_json
    from evals.runner import RunConfigMismatch

    try:
        run = _open_run(args, create=False)
        number = run.rounds.imports + 1
        with _quiet_stdout():
            round_summary = run.rounds.import_(args.batch_files)
        _report_round(number, round_summary)
        summary = _score(run, args)
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
        ValueError,
    ) as exc:
        return _errors(exc)
    pending = round_summary.pending
    if pending:
        _err(
            f"{len(pending)} problem(s) still pending; next round: optiwise eval batch-export "
            f"--run-id {args.run_id}{_where(args)}"
        )
    else:
        _err(f"run {args.run_id} is complete: nothing is pending")
    if args.json:
        data = summary_json(summary)
        data["batch_rounds"] = {
            "round": number,
            "applied": round_summary.applied,
            "finished": round_summary.finished,
            "pending": pending,
            "missing": round_summary.missing,
            "errored": round_summary.errored,
            "malformed": round_summary.malformed,
            "failed": round_summary.failed,
        }
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    else:
        _print_summary(summary, False)
    return 0
