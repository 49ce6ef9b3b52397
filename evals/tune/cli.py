"""``optiwise tune``: the command line of :mod:`evals.tune`.

::

    optiwise tune --dataset nl4opt --train-split 20 --val-split 10 --optimizer optoprime \\
        --steps 5 --budget-calls 400 --budget-usd 2 --optimizer-model gpt-4.1 --out runs/tune1
    optiwise tune ... --estimate          # the projected calls and cost, no call made
    optiwise tune ... (same options)      # after a kill: resumes from the last step
    optiwise eval --dataset nl4opt --prompts runs/tune1/prompts

``register(subparsers)`` adds the command to a parser (the ``optiwise``
entry point assembles the parts of the project).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register", "run_command"]


def _split_size(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("a split size is a count or a fraction below 1")
    return value


DESCRIPTION = """\
Improve the agent's prompts from benchmark feedback. The problems are split
into train (the optimizer sees their feedback), validation (decides whether a
proposed change is kept) and test (scored once at the end, never seen by the
search). Each step runs the agent on a minibatch of train problems, asks the
optimizer model for a better prompt, and keeps it when the validation score
does not drop. The run folder OUT holds the tuned prompts (OUT/prompts, for
--prompts of ask and eval), report.md (each step, accepted or not and why),
steps.jsonl and state.json; the same command again resumes a stopped run.
Use --estimate first to see the projected calls and cost."""

EPILOG = """\
examples:
  optiwise tune --dataset nl4opt --train-split 20 --val-split 10 --steps 5 \\
      --budget-calls 400 --budget-usd 2 --optimizer-model gpt-4.1 --out runs/tune1 --estimate
  optiwise tune --synthetic 12 --optimizer opro --steps 3 --out runs/tune-toy
  optiwise eval --dataset nl4opt --prompts runs/tune1/prompts"""


def register(subparsers: Any) -> None:
    """Add ``tune`` to ``subparsers``."""
    p = subparsers.add_parser(
        "tune",
        help="improve the agent's prompts from benchmark feedback",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="registered variant name or alias")
    src.add_argument("--problems", metavar="FILE.jsonl", help="your own labelled problems")
    src.add_argument(
        "--synthetic", type=int, metavar="N", help="N seeded product-mix LPs with exact labels"
    )
    p.add_argument(
        "--data-dir", help="mirror folder to read the dataset from (default: OPTIWISE_DATA_DIR)"
    )
    p.add_argument(
        "--train-split",
        type=_split_size,
        default=0.5,
        metavar="N|F",
        help="problems the optimizer learns from: a count, or a fraction below 1 (default 0.5)",
    )
    p.add_argument(
        "--val-split",
        type=_split_size,
        default=0.25,
        metavar="N|F",
        help="problems that decide whether a change is kept: a count or a fraction (default 0.25)",
    )
    p.add_argument(
        "--test-split",
        type=_split_size,
        default=None,
        metavar="N|F",
        help="cap on the test split (default: every problem left)",
    )
    p.add_argument(
        "--optimizer",
        choices=("optoprime", "opro", "gepa", "promst"),
        default="optoprime",
        help="the search (default optoprime); promst tunes the first --components prompt "
        "with agent.promst's tree search",
    )
    p.add_argument(
        "--components",
        default="formulate,repair",
        help="prompts to tune, comma-separated (default formulate,repair); 'examples' makes "
        "the pool of worked examples trainable too, 'repair_feedback' the code hook that writes "
        "the repair message's error list (run sandboxed)",
    )
    p.add_argument(
        "--prompts", metavar="DIR", help="start from this prompt set (default: built-in)"
    )
    p.add_argument(
        "--steps", type=int, default=5, help="optimizer steps (proposals tried; default 5)"
    )
    p.add_argument(
        "--minibatch",
        type=int,
        default=3,
        help="train problems run per step to show the optimizer (default 3)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the splits, the minibatches and --synthetic (default 0)",
    )
    p.add_argument(
        "--budget-calls",
        type=int,
        default=None,
        metavar="N",
        help="stop cleanly after N LLM calls, task and optimizer together (default: no limit)",
    )
    p.add_argument(
        "--budget-usd",
        type=float,
        default=None,
        metavar="X",
        help="stop cleanly once the priced calls cost X dollars (default: no limit)",
    )
    p.add_argument("--model", help="task model (default: OPTIWISE_MODEL or gpt-4o-mini)")
    p.add_argument("--base-url", metavar="URL", help="OpenAI-compatible endpoint")
    p.add_argument("--optimizer-model", help="a separate (stronger) model for the optimizer")
    p.add_argument(
        "--max-repairs",
        type=int,
        default=1,
        help="repair rounds the agent gets per problem (default 1; fewer is cheaper)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="problems run at the same time (default 4)",
    )
    p.add_argument(
        "--executor",
        choices=("local", "process", "ray"),
        default="local",
        help="where the agent's CPU work (check, compile, solve, verify) runs: this process "
        "(default), a pool of worker processes, or Ray actors; LLM calls stay here, under the "
        "budget",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="process/ray pool size (default: processes one per core but one, Ray actors "
        "one per core)",
    )
    p.add_argument("--ray-address", default=None, help="a Ray cluster (default: start one)")
    p.add_argument(
        "--protocol", default=None, help="scoring protocol (default: the harness default)"
    )
    p.add_argument(
        "--no-holdout-check",
        action="store_true",
        help="skip reading registered test sets to keep their problems out of the search",
    )
    p.add_argument(
        "--export-batch",
        action="store_true",
        help="also write every evaluation's task requests as Batch API files to OUT/batch/",
    )
    p.add_argument(
        "--batch-only",
        action="store_true",
        help="never call the task model live: stop at requests without an imported reply "
        "(written to OUT/batch/); use with --max-repairs 0",
    )
    p.add_argument(
        "--import-batch",
        action="append",
        default=[],
        metavar="OUTPUT.jsonl",
        help="Batch API output file(s) whose replies answer the exported requests",
    )
    p.add_argument(
        "--estimate",
        action="store_true",
        help="print the projected calls, tokens and cost, and exit (no call is made)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="with --estimate: print the projection as one JSON object (for scripts)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="run folder (resumed if present)")
    p.set_defaults(handler=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Handler of ``optiwise tune``."""
    from agent.prompts import PromptSet
    from evals.scoring import DEFAULT_PROTOCOL
    from evals.tune.data import holdout_fingerprints, load_source, make_splits
    from evals.tune.runner import TuneConfig, Tuner, estimate, estimate_lines

    if args.json and not args.estimate:  # a tune run's own results are in its report.json
        print(
            "optiwise tune: --json prints the --estimate projection as JSON; add --estimate, "
            f"or drop --json and read the run's results from {Path(args.out) / 'report.json'}",
            file=sys.stderr,
        )
        return 2
    if args.executor == "process":
        from evals.executors import setting_error

        if problem := setting_error():
            print(f"optiwise tune: {problem}", file=sys.stderr)
            return 2
    name, problems = load_source(
        dataset=args.dataset,
        problems_file=args.problems,
        synthetic=args.synthetic,
        seed=args.seed,
        data_dir=args.data_dir,
    )
    holdout: set[str] = set()
    if not args.no_holdout_check:
        holdout, read = holdout_fingerprints(name, data_dir=args.data_dir)
        if read:
            print(f"kept problems of {len(read)} registered test variant(s) out of the search")
    try:
        splits = make_splits(
            problems,
            train=args.train_split,
            val=args.val_split,
            test=args.test_split,
            seed=args.seed,
            holdout=holdout,
        )
    except ValueError as exc:
        print(f"optiwise tune: {exc}", file=sys.stderr)
        return 2
    config = TuneConfig(
        out=Path(args.out),
        optimizer=args.optimizer,
        components=tuple(c.strip() for c in args.components.split(",") if c.strip()),
        steps=args.steps,
        minibatch=args.minibatch,
        seed=args.seed,
        budget_calls=args.budget_calls,
        budget_usd=args.budget_usd,
        protocol=args.protocol or DEFAULT_PROTOCOL,
        max_repairs=args.max_repairs,
        concurrency=args.concurrency,
        executor=args.executor,
        workers=args.workers,
        ray_address=args.ray_address,
        task_model=args.model,
        optimizer_model=args.optimizer_model,
        export_batch=args.export_batch,
        batch_only=args.batch_only,
    )
    start = PromptSet.load(args.prompts) if args.prompts else PromptSet.default()
    from evals.tune.runner import HOOK_FILE

    hook_file = Path(args.prompts) / HOOK_FILE if args.prompts else None
    start_hook = (
        hook_file.read_text(encoding="utf-8") if hook_file and hook_file.is_file() else None
    )
    from agent.settings import get_settings

    overrides = {k: v for k, v in {"model": args.model, "base_url": args.base_url}.items() if v}
    settings = get_settings(**overrides)
    print(
        f"{name}: {len(splits.train)} train, {len(splits.val)} validation, {len(splits.test)} test "
        f"({len(splits.duplicates)} duplicates dropped, {len(splits.leaked)} barred from the search)"
    )
    projection = estimate(
        config, splits, start, settings.model, args.optimizer_model or settings.model
    )
    if args.estimate and args.json:
        print(json.dumps(projection))
        return 0
    for line in estimate_lines(
        projection, budget_calls=args.budget_calls, budget_usd=args.budget_usd
    ):
        print(line)
    if args.estimate:
        return 0
    if not settings.configured:
        from evals.agent_solver import NO_ENDPOINT

        print(NO_ENDPOINT.replace("optiwise eval", "optiwise tune"), file=sys.stderr)
        return 2
    from agent.llm import OpenAIChatModel

    task_llm = OpenAIChatModel(settings)
    optimizer_llm = (
        OpenAIChatModel(settings, model=args.optimizer_model) if args.optimizer_model else task_llm
    )
    if config.optimizer == "promst":
        from evals.tune.runner import run_promst

        try:
            report = run_promst(
                config, splits, task_llm=task_llm, optimizer_llm=optimizer_llm, start=start
            )
        except ValueError as exc:
            print(f"optiwise tune: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(report.get("validation", {})))
        print(f"prompts: {config.out / 'prompts'}  report: {config.out / 'report.json'}")
        return 0
    try:
        tuner = Tuner(
            config,
            splits,
            task_llm=task_llm,
            optimizer_llm=optimizer_llm,
            start=start,
            start_hook=start_hook,
        )
    except ValueError as exc:
        print(f"optiwise tune: {exc}", file=sys.stderr)
        return 2
    if args.import_batch:
        count = tuner.import_batch(args.import_batch)
        print(f"imported {count} batch replies")
    result = tuner.run()
    print(f"stopped: {result.stopped}")
    print(f"validation: {result.start_val:.3f} -> {result.best_val:.3f}")
    if result.test_best is not None:
        print(f"test (unseen): {result.test_start:.3f} -> {result.test_best:.3f}")
    print(f"prompts: {config.out / 'prompts'}  report: {config.out / 'report.md'}")
    return 0
