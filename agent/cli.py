"""The ``optiwise`` command line.

Each part of the project registers its own subcommands; this module only
assembles them.  Handlers import their heavy dependencies lazily so that
``optiwise check`` does not pay for LangGraph or Streamlit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import evals.cli
import evals.synth.cli
import evals.tune.cli
import modeling.cli
import modeling.numeric.cli
from agent import cli_ask

# Each part of the project registers its own subcommands.
_COMMAND_MODULES = (
    modeling.cli,
    modeling.numeric.cli,
    cli_ask,
    evals.cli,
    evals.tune.cli,
    evals.synth.cli,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optiwise",
        description="Formulate, solve and evaluate optimization models.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 1
    code = handler(args)
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
