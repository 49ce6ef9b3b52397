"""``optiwise minimize``: the numeric methods on an expression, from the command line.

::

    optiwise minimize "(x-1)**2 + (y-2)**2" --var x --var y --eq "x + y - 1"
    optiwise minimize "(x-3)**2 + exp(y) - y" --var x=0 --var y=1 --method adam --json

Exit status: 0 when the method reached its tolerance (``optimal``), 3 when it
stopped first (a limit; the last point is printed), 2 for an invalid
expression or argument, 1 for a method error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from modeling.numeric.api import FIRST_ORDER, METHODS, minimize
from modeling.numeric.result import NumericResult

__all__ = ["register", "run_command"]


def _var(text: str) -> tuple[str, float | None]:
    name, eq, start = text.partition("=")
    name = name.strip()
    if not name.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r}: a variable is NAME or NAME=START")
    if not eq:
        return name, None
    try:
        return name, float(start)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: START must be a number") from None


def _const(text: str) -> tuple[str, float]:
    name, eq, value = text.partition("=")
    try:
        if not eq or not name.strip().isidentifier():
            raise ValueError
        return name.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a constant is NAME=NUMBER") from None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``minimize`` to the ``optiwise`` parser."""
    p = subparsers.add_parser(
        "minimize",
        help="minimise an expression (optionally with equality constraints) numerically",
        description="Minimise a smooth expression of our formulation language over scalar "
        "variables, subject to equalities, with exact derivatives. Methods: sketched-newton "
        "(exact augmented Lagrangian + randomized sketching), slsqp, trust-constr (SciPy), "
        "adam, adamp, diffgrad, adadagrad (first-order; no equalities). Exit status: 0 "
        "optimal, 3 stopped at a limit, 2 invalid input, 1 method error.",
    )
    p.add_argument("expression", help='the objective, e.g. "(x-1)**2 + (y-2)**2"')
    p.add_argument(
        "--var",
        action="append",
        type=_var,
        default=[],
        metavar="NAME[=START]",
        help="a variable (repeat; start 0 unless given)",
    )
    p.add_argument(
        "--eq",
        action="append",
        default=[],
        metavar="EXPR",
        help='an equality constraint: "lhs == rhs" or an expression meaning EXPR == 0 (repeat)',
    )
    p.add_argument(
        "--const",
        action="append",
        type=_const,
        default=[],
        metavar="NAME=VALUE",
        help="a named constant (repeat)",
    )
    p.add_argument("--maximize", action="store_true", help="maximise instead")
    p.add_argument("--method", choices=METHODS, default="sketched-newton")
    p.add_argument("--tol", type=float, default=1e-6, help="KKT / gradient tolerance (1e-6)")
    p.add_argument("--max-iter", type=int, default=None, metavar="N")
    p.add_argument("--lr", type=float, default=None, help="step size of first-order methods")
    p.add_argument("--seed", type=int, default=0, help="sketch / sampling seed")
    p.add_argument("--history", action="store_true", help="include the per-iteration history")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run_command)


def _print_text(r: NumericResult, out: Callable[[str], Any]) -> None:
    out(f"status: {r.status} ({r.termination})")
    out(f"method: {r.method}, {r.iterations} iterations, {r.time:.3g} s")
    out(f"objective: {r.objective:.10g}")
    for k, v in r.solution.items():
        out(f"  {k} = {v:.10g}")
    if r.kkt_residual is not None:
        out(f"KKT residual: {r.kkt_residual:.3g}")
    if r.multipliers is not None and len(r.multipliers):
        out("multipliers: " + ", ".join(f"{v:.6g}" for v in r.multipliers))
    if r.message:
        out(r.message)


def run_command(args: argparse.Namespace) -> int:
    """The ``minimize`` handler (see the module doc for exit statuses)."""
    names = [n for n, _ in args.var]
    if not names:
        print("error: declare the variables with --var NAME[=START]", file=sys.stderr)
        return 2
    if len(set(names)) != len(names):
        print("error: a variable is declared twice", file=sys.stderr)
        return 2
    options: dict[str, Any] = {"seed": args.seed}
    if args.lr is not None:
        if args.method not in FIRST_ORDER:
            print("error: --lr is for first-order methods", file=sys.stderr)
            return 2
        options["lr"] = args.lr
    if args.method in ("slsqp", "trust-constr"):
        options.pop("seed")
    try:
        result = minimize(
            args.expression,
            dict(args.var),
            equalities=args.eq,
            constants=dict(args.const),
            sense="maximize" if args.maximize else "minimize",
            method=args.method,
            tol=args.tol,
            max_iter=args.max_iter,
            **options,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        doc = result.to_dict()
        if not args.history:
            doc.pop("history")
        print(json.dumps(doc, indent=2))
    else:
        _print_text(result, print)
    return {"optimal": 0, "stopped": 3}.get(result.status, 1)
