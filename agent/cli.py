"""The ``optiwise`` command line.

Each part of the project registers its own subcommands; this module only
assembles them.  Handlers import their heavy dependencies lazily so that
``optiwise check`` does not pay for LangGraph or Streamlit.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that expose ``register(subparsers)``; missing ones are skipped so a
# partial install still gives a working CLI.
_COMMAND_MODULES = ("modeling.cli", "agent.cli_ask", "evals.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optiwise",
        description="Formulate, solve and evaluate optimization models.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
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
