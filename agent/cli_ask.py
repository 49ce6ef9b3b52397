"""``optiwise ask "TEXT"``: a word problem in, a solved and explained model out.

TEXT is the problem itself, a path to a file holding it, or ``-`` for standard
input. The LLM endpoint comes from ``--base-url`` / ``--model`` or the
environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPTIWISE_MODEL``).
Exit status, as ``optiwise solve`` gives it for the same outcome
(:func:`modeling.cli.exit_code`): 0 when a status was decided (``infeasible``,
a ``feasible`` point at the time limit and ``time_limit`` are answers), 2 when
no valid formulation was produced (``invalid``), 1 otherwise (no endpoint, an
LLM failure, a solver error). With
``--json`` standard output holds exactly one JSON object.

``--data DIR`` gives the problem's data folder: the LLM sees each table's
columns, types, ranges and first rows (never the whole table) and maps them in
the formulation; the solve reads the files. Every solve runs in a worker that
is killed at ``--time-limit`` plus a grace period (``--in-process`` opts out).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from agent.prompts import PromptSet
from agent.result_info import solver_stop_of
from modeling._stdio import redirect_stdout
from modeling.cli import exit_code, jsonable

EXIT_OK = 0
EXIT_ERROR = 1

NO_ENDPOINT = """\
optiwise ask: no LLM endpoint is configured.
Set one of:
  export OPENAI_API_KEY=sk-...                      # OpenAI
  export OPENAI_BASE_URL=http://localhost:11434/v1  # a local OpenAI-compatible server
                                                    # (Ollama, vLLM, llama.cpp, LM Studio)
or pass --base-url URL (and --model NAME) on the command line."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ask`` to the ``optiwise`` parser."""
    p = subparsers.add_parser(
        "ask",
        help="formulate, solve and explain an optimization problem written in words",
        description="Turn a word problem into a formulation, solve it (repairing the "
        "formulation when it is invalid, infeasible or suspicious) and explain the answer. "
        "The answer ends with the assumptions the model states for data the text left out.",
        epilog="Exit status (as `optiwise solve` gives it for the same outcome): 0 when a "
        "status was decided (optimal, feasible at a limit, infeasible, unbounded, time_limit), "
        "2 when no valid formulation was produced (invalid), 1 on any other error (no "
        "endpoint, an LLM failure, a solver error).",
    )
    p.add_argument("text", metavar="TEXT", help="the problem, a file holding it, or '-' for stdin")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument(
        "--samples", type=_positive_int, default=1, metavar="N", help="self-consistency samples"
    )
    p.add_argument(
        "--strategy",
        choices=("formulation", "code", "both"),
        default="formulation",
        help="formulation document (default), a Pyomo script, or both",
    )
    p.add_argument(
        "--max-repairs", type=_nonnegative_int, default=3, metavar="K", help="repair rounds"
    )
    p.add_argument("--model", metavar="M", help="model name (default: OPTIWISE_MODEL)")
    p.add_argument("--base-url", metavar="URL", help="OpenAI-compatible endpoint")
    p.add_argument(
        "--review", action="store_true", help="have the LLM review the solved formulation"
    )
    p.add_argument(
        "--no-hints",
        dest="hints",
        action="store_false",
        help="leave the problem-class modeling hints out of the formulate prompt (ablation)",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        help="the problem's data folder: its tables are described to the LLM (columns, types, "
        "ranges, first rows) and read by the formulation",
    )
    p.add_argument(
        "--time-limit",
        type=_positive_float,
        default=60.0,
        metavar="S",
        help="seconds per solve; the solve's worker is killed shortly after (default 60)",
    )
    p.add_argument(
        "--in-process",
        action="store_true",
        help="solve in this process instead of a killable worker (faster start; a model that "
        "hangs while it is built then ignores the time limit)",
    )
    p.add_argument(
        "--unsafe-no-isolation",
        action="store_true",
        help="run LLM-written scripts (--strategy code/both) without the bubblewrap sandbox; "
        "they can then read your files and API key and reach the network",
    )
    p.add_argument(
        "--prompts",
        metavar="DIR",
        help="a prompt-set folder (e.g. the prompts/ that `optiwise tune` wrote); "
        "built-in prompts fill the gaps; a repair_feedback.py there is the tuned repair hook",
    )
    p.add_argument("--trace", metavar="FILE", help="write the run's trace (JSON) to FILE")
    p.set_defaults(handler=_run)


def _positive_int(text: str) -> int:
    value = _nonnegative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def read_problem(text: str) -> str:
    """The problem: standard input for '-', a file's text for an existing path, else TEXT.

    A YAML or JSON file holding a mapping with a ``problem`` text (a sample file of
    ``datasets/samples``, a benchmark record) gives that text, not the whole file.
    """
    if text == "-":
        return sys.stdin.read()
    if "\n" not in text and len(text) < 1024:
        path = Path(text).expanduser()
        with contextlib.suppress(OSError):
            if path.is_file():
                content = path.read_text(encoding="utf-8")
                if path.suffix.lower() in (".yaml", ".yml", ".json"):
                    return _problem_field(content) or content
                return content
    return text


def _problem_field(content: str) -> str | None:
    """The ``problem`` text of a YAML/JSON mapping, or None when there is none."""
    import yaml

    try:
        data = yaml.safe_load(content)
    except yaml.YAMLError:
        return None
    if isinstance(data, dict):
        problem = data.get("problem")
        if isinstance(problem, str) and problem.strip():
            return problem
    return None


def _isolation_refusal(args: argparse.Namespace) -> str | None:
    """Why ``--strategy code/both`` cannot run here (None: it can), before any LLM call.

    ``--unsafe-no-isolation`` opts out for this process, as on ``optiwise eval``
    (see :mod:`agent.sandbox`), with a warning on standard error.
    """
    if args.strategy not in ("code", "both"):
        return None
    from agent.sandbox import UNSAFE_ENV, IsolationUnavailable, isolation

    if args.unsafe_no_isolation:
        os.environ[UNSAFE_ENV] = "1"
        print(
            "warning: LLM-written scripts run WITHOUT isolation (--unsafe-no-isolation)",
            file=sys.stderr,
        )
        return None
    try:
        isolation()
    except IsolationUnavailable as exc:
        return f"optiwise ask: --strategy {args.strategy}: {exc}"
    return None


def _emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(data), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _fail(args: argparse.Namespace, message: str) -> int:
    print(message, file=sys.stderr)
    if args.json:
        _emit_json({"status": "error", "objective": None, "message": message})
    return EXIT_ERROR


def _run(args: argparse.Namespace) -> int:
    from agent.settings import get_settings

    overrides = {
        k: v for k, v in {"model": args.model, "base_url": args.base_url}.items() if v is not None
    }
    try:
        settings = get_settings(**overrides)
    except Exception as exc:  # invalid OPTIWISE_* values in the environment
        return _fail(args, f"optiwise ask: invalid LLM settings: {exc}")
    if not settings.configured:
        return _fail(args, NO_ENDPOINT)
    try:
        problem = read_problem(args.text)
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(args, f"optiwise ask: cannot read the problem: {exc}")
    if not problem.strip():
        return _fail(args, "optiwise ask: the problem text is empty")
    if args.data is not None and not Path(args.data).expanduser().is_dir():
        return _fail(
            args, f"optiwise ask: --data {args.data}: is not a folder (give the folder of tables)"
        )
    refused = _isolation_refusal(args)
    if refused:
        return _fail(args, refused)
    try:
        from agent.api import OptimizationAgent
        from agent.context import AgentConfig
        from agent.llm import OpenAIChatModel

        config = AgentConfig(
            max_repairs=args.max_repairs,
            samples=args.samples,
            review=args.review,
            strategy=args.strategy,
            time_limit=args.time_limit,
            hints=args.hints,
            solve_in_process=args.in_process,
        )
        prompts = PromptSet.load(args.prompts) if args.prompts else None
        hook = Path(args.prompts) / "repair_feedback.py" if args.prompts else None
        if hook is not None and hook.is_file():  # a tuned repair hook saved by optiwise tune
            config = config.with_(repair_hook=hook.read_text(encoding="utf-8"))
        agent = OptimizationAgent(llm=OpenAIChatModel(settings), config=config, prompts=prompts)
        with redirect_stdout("stderr"):  # solver banners (C code, fd 1) stay off stdout
            result = agent.solve(problem, data=args.data)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("OPTIWISE_DEBUG"):
            traceback.print_exc()
        return _fail(args, f"optiwise ask: internal error: {exc!r}")
    if args.trace:
        try:
            result.trace.save(args.trace)
        except OSError as exc:
            print(f"optiwise ask: could not write the trace: {exc}", file=sys.stderr)
    stop = solver_stop_of(result)
    if args.json:
        _emit_json({**result.to_dict(), "solver_stop": stop})
    else:
        print(result.answer)
        parts = [f"status: {result.status}"]
        if result.objective is not None:
            parts.append(f"objective: {result.objective:g}")
        if stop not in ("optimal", "not_solved"):
            parts.append(f"solver stop: {stop}")
        parts.append(f"repairs: {result.repairs}")
        if result.votes:
            parts.append(f"votes: {result.votes['counts']}")
        usage = result.usage
        cost = f"${usage.cost_usd:.4f}" if usage.cost_known else "cost unknown"
        parts.append(f"tokens: {usage.total} ({cost})")
        parts.append(f"trace: {result.trace.id}")
        print("\n" + "  ".join(parts))
    # the same exit status as `optiwise solve` for the same outcome (QA F6)
    return exit_code(result.status)
