"""Command line: optimize an environment's prompt with PROMST (or APE, APO, OptoPrime, OPRO, GEPA).

::

    # a real endpoint (OPENAI_API_KEY, or OPENAI_BASE_URL for a local server)
    python -m agent.promst.run --env gridworld --sizes small,medium --per-size 2 \\
        --model gpt-4o-mini --optimizer-model gpt-4o --budget-usd 2 --out runs/promst-grid

    # offline: the scripted grid-world agent and optimizer (no endpoint needed)
    python -m agent.promst.run --env gridworld_ordered --scripted --start weak

    # optiwise's own pipeline: tune the formulate prompt on a benchmark split
    python -m agent.promst.run --env optiwise --dataset nl4opt --train 20 --validation 20 \
        --data-dir "$OPTIWISE_DATA_DIR" --budget-usd 5 --out runs/promst-formulate

Writes ``OUT/tree.json`` (every prompt with parent, score, prediction, status),
``OUT/best_prompt.md`` and ``OUT/summary.json`` (scores on train and test,
evaluations, skipped candidates, usage and cost). With ``--env optiwise``: ``OUT/prompts/``
(a prompt set: ``OptimizationAgent(prompts=PromptSet.load(OUT / "prompts"))``),
``OUT/tree.json`` and ``OUT/report.json`` (validation accuracy before and after).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from agent.llm import ChatModel
from agent.promst.budget import Budget
from agent.promst.envs import ENVIRONMENTS, SIZES, make_task
from agent.promst.evaluate import Evaluation, ScoreFunction, efficiency_weighted, partial_credit
from agent.promst.optimizer import Candidate
from agent.promst.rules import RuleError, RuleSet
from agent.promst.search import SEARCH_METHODS, SearchConfig, run_search
from agent.settings import get_settings

__all__ = ["WEAK_START", "build_parser", "main"]

WEAK_START = "You control a robot on a grid. Collect the goals."


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for docs and tests)."""
    p = argparse.ArgumentParser(
        prog="python -m agent.promst.run",
        description="Optimize the task prompt of a multi-step environment with PROMST.",
    )
    p.add_argument(
        "--env",
        required=True,
        choices=[*sorted(ENVIRONMENTS), "optiwise"],
        help="an environment, or 'optiwise': the agent's own pipeline on --dataset",
    )
    p.add_argument("--dataset", default=None, help="optiwise: a registered benchmark variant")
    p.add_argument("--data-dir", type=Path, default=None, help="optiwise: benchmark data folder")
    p.add_argument("--train", type=_positive, default=10, help="optiwise: training problems")
    p.add_argument("--validation", type=int, default=10, help="optiwise: validation problems")
    p.add_argument("--prompt-name", default="formulate", help="optiwise: the prompt to tune")
    p.add_argument("--max-repairs", type=int, default=1, help="optiwise: repair rounds")
    p.add_argument(
        "--sizes", default="small,medium", help=f"comma-separated, from {','.join(SIZES)}"
    )
    p.add_argument("--per-size", type=_positive, default=2, help="training instances per size")
    p.add_argument("--test-per-size", type=int, default=2, help="held-out instances per size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--method",
        choices=SEARCH_METHODS,
        default="promst",
        help="PROMST's tree search, APE or APO in it, or OptoPrime, OPRO or GEPA in the same loop",
    )
    p.add_argument("--n-children", type=_positive, default=4)
    p.add_argument("--n-selected", type=_positive, default=2)
    p.add_argument("--min-depth", type=_positive, default=2)
    p.add_argument("--max-depth", type=_positive, default=6)
    p.add_argument("--no-score-model", action="store_true", help="evaluate every candidate")
    p.add_argument(
        "--efficiency",
        type=float,
        default=0.0,
        metavar="W",
        help="also reward fewer steps: score * (1 - W * steps / max_steps)",
    )
    p.add_argument("--max-steps", type=_positive, default=None, help="cap the step limit")
    p.add_argument("--budget-calls", type=_positive, default=None)
    p.add_argument("--budget-tokens", type=_positive, default=None)
    p.add_argument("--budget-usd", type=float, default=None)
    p.add_argument("--model", default=None, help="task LLM (default: OPTIWISE_MODEL)")
    p.add_argument("--optimizer-model", default=None, help="optimizer LLM (default: --model)")
    p.add_argument("--prompt", type=Path, default=None, help="starting prompt file")
    p.add_argument(
        "--start",
        choices=("shipped", "weak"),
        default="shipped",
        help="'weak' starts grid worlds from a one-line prompt",
    )
    p.add_argument("--rules", type=Path, default=None, help="your feedback rule file (.toml)")
    p.add_argument("--workers", type=_positive, default=1, help="episodes run in parallel")
    p.add_argument(
        "--scripted", action="store_true", help="offline demo: scripted LLMs (grid worlds only)"
    )
    p.add_argument("--out", type=Path, default=None, help="folder for tree.json, best_prompt.md")
    return p


def _models(args: argparse.Namespace) -> tuple[ChatModel, ChatModel]:
    if args.scripted:
        from agent.fake import FakeLLM
        from agent.promst.scripted import ScriptedOptimizer, scripted_grid_agent

        if not args.env.startswith("gridworld"):
            raise SystemExit("--scripted plays grid worlds only; use --env gridworld[_ordered]")
        task = FakeLLM(rules=[(lambda _t: True, scripted_grid_agent)])
        opt = FakeLLM(rules=[(lambda _t: True, ScriptedOptimizer(fix_rate=0.7, seed=args.seed))])
        return task, opt
    settings = get_settings()
    if not settings.configured:
        raise SystemExit(
            "no LLM is configured: set OPENAI_API_KEY (or OPENAI_BASE_URL / OPTIWISE_BASE_URL for "
            "a local server), or pass --scripted for the offline demo"
        )
    from agent.llm import OpenAIChatModel

    task_model = OpenAIChatModel(**({"model": args.model} if args.model else {}))
    opt_name = args.optimizer_model or args.model
    opt_model = OpenAIChatModel(**({"model": opt_name} if opt_name else {}))
    return task_model, opt_model


def main(argv: Sequence[str] | None = None) -> int:
    """Run the search; print progress to stderr and a summary to stdout."""
    args = build_parser().parse_args(argv)
    config = SearchConfig(
        n_children=args.n_children,
        n_selected=args.n_selected,
        min_depth=args.min_depth,
        max_depth=max(args.max_depth, args.min_depth),
        method=args.method,
        use_score_model=not args.no_score_model,
        seed=args.seed,
    )
    budget = Budget(args.budget_calls, args.budget_tokens, args.budget_usd)
    score_fn = efficiency_weighted(args.efficiency) if args.efficiency else partial_credit

    def progress(results: list[tuple[Candidate, Evaluation]]) -> None:
        for cand, ev in results:
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(ev.outcomes.items()))
            print(
                f"  #{cand.id} depth {cand.depth} score {ev.score:.3f} ({outcomes})",
                file=sys.stderr,
            )

    if args.env == "optiwise":
        return _tune_optiwise(args, config, budget, score_fn, progress)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    prompt = None
    if args.prompt is not None:
        prompt = args.prompt.read_text(encoding="utf-8")
    elif args.start == "weak":
        prompt = WEAK_START
    try:
        task = make_task(
            args.env,
            sizes=sizes,
            per_size=args.per_size,
            test_per_size=args.test_per_size,
            seed=args.seed,
            prompt=prompt,
        )
        if args.rules is not None:
            task.rules = RuleSet.load(args.rules)
    except (ValueError, RuleError) as err:
        print(f"promst: {err}", file=sys.stderr)
        return 2
    task.max_steps = args.max_steps
    task_llm, opt_llm = _models(args)
    print(
        f"promst: {args.method} on {args.env} ({len(task.train)} train instances)", file=sys.stderr
    )
    result = run_search(
        task,
        task_llm,
        opt_llm,
        config,
        budget=budget,
        score_fn=score_fn,
        workers=args.workers,
        on_round=progress,
    )
    usage = {role: u.to_dict() for role, u in result.usage.items()}
    summary = {
        "env": args.env,
        "method": args.method,
        "stopped": result.stopped,
        "start_train": result.start.score,
        "best_train": result.best.score,
        "test": result.test,
        "evaluated": result.evaluated,
        "skipped": result.skipped,
        "episodes": result.episodes,
        "usage": usage,
    }
    if args.out is not None:
        result.save(args.out / "tree.json")
        (args.out / "best_prompt.md").write_text(result.best.text, encoding="utf-8")
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps(summary, indent=2))
    print("\nbest prompt:\n" + result.best.text)
    return 0


def _tune_optiwise(
    args: argparse.Namespace,
    config: SearchConfig,
    budget: Budget,
    score_fn: ScoreFunction,
    progress: Callable[[list[tuple[Candidate, Evaluation]]], None],
) -> int:
    """``--env optiwise``: tune one prompt of the agent's prompt set on a benchmark split."""
    from agent.prompts import PromptSet
    from agent.promst.optiwise_task import OptiwiseTask

    if args.dataset is None:
        print("promst: --env optiwise needs --dataset NAME (a registered variant)", file=sys.stderr)
        return 2
    if args.scripted:
        raise SystemExit("--scripted plays grid worlds only; use a configured endpoint")
    prompts = PromptSet.default()
    if args.prompt is not None:
        prompts = prompts.updated({args.prompt_name: args.prompt.read_text(encoding="utf-8")})
    try:
        task = OptiwiseTask.from_dataset(
            args.dataset,
            train=args.train,
            validation=args.validation,
            seed=args.seed,
            data_dir=args.data_dir,
            prompt_name=args.prompt_name,
            prompts=prompts,
            max_repairs=args.max_repairs,
            score_fn=score_fn,
            workers=args.workers,
            **({"rules": RuleSet.load(args.rules)} if args.rules is not None else {}),
        )
    except (ValueError, KeyError, OSError, RuleError) as err:
        print(f"promst: {err}", file=sys.stderr)
        return 2
    task_llm, opt_llm = _models(args)
    print(f"promst: {args.method} on optiwise/{args.prompt_name}, {args.dataset}", file=sys.stderr)
    result = task.tune(task_llm, opt_llm, config, budget=budget, on_round=progress)
    if args.out is not None:
        result.save(args.out)
    print(json.dumps(result.report(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
