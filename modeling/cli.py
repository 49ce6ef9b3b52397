"""``optiwise solve | check | export | explain``: the modeling layer on the command line.

Every handler turns bad input into located issues and an exit status, never a
traceback: 0 when an answer was reached (``infeasible`` is an answer), 2 for a
document that breaks the spec (or a file that cannot be read), 1 for anything
else.  With ``--json`` standard output holds exactly one JSON document; solver
banners and logs, which C libraries write straight to file descriptor 1, are
sent to standard error while the model is compiled and solved.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modeling._stdio import redirect_stdout
from modeling.errors import FormulationError, Issue
from modeling.format import format_number

if TYPE_CHECKING:
    from modeling.compiler import CompiledModel
    from modeling.formulation import Formulation
    from modeling.result import SolveResult

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INVALID = 2

MAX_ROWS = 50  # rows of the value and binding-constraint tables before truncating
_ZERO = 1e-9  # values at most this far from 0 are left out of the report

Handler = Callable[[argparse.Namespace], int]


# ------------------------------------------------------------------ registration


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``solve``, ``check``, ``export`` and ``explain`` to the ``optiwise`` parser."""
    p = subparsers.add_parser(
        "solve",
        help="solve a formulation (JSON or YAML)",
        description="Compile and solve a five-element formulation. Exit status: 0 when a "
        "status was decided (optimal, feasible, infeasible, unbounded, time_limit, ...), "
        "2 when the document is invalid, 1 on any other error.",
    )
    _file_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (spec v1)")
    p.add_argument(
        "--backend",
        choices=("auto", "highs", "pyomo", "pulp"),
        default="auto",
        help="solver backend (default: auto, by model class)",
    )
    p.add_argument("--solver", metavar="NAME", help="solver inside the backend (e.g. scip, cbc)")
    p.add_argument(
        "--time-limit", type=_nonnegative_float, metavar="S", help="time limit in seconds"
    )
    p.add_argument(
        "--mip-gap",
        type=_nonnegative_float,
        default=1e-7,
        metavar="G",
        help="relative MIP gap (default: 1e-7)",
    )
    p.add_argument(
        "--verbose", action="store_true", help="show the solver's log (on standard error)"
    )
    p.add_argument(
        "--in-process",
        action="store_true",
        help="with --time-limit, solve in this process (saves the worker's start, about a "
        "second; the limit is then the solver's own, which it checks only between "
        "iterations, and building the model is not bounded)",
    )
    p.set_defaults(handler=_guarded(_cmd_solve))

    p = subparsers.add_parser(
        "check",
        help="validate a formulation without solving it",
        description="List every problem of a formulation, each with its location and a hint; "
        "for a valid one, its model class and size. Exit status: 0 valid, 2 invalid.",
    )
    _file_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_guarded(_cmd_check))

    p = subparsers.add_parser(
        "export",
        help="write a formulation as LaTeX, a Pyomo script, LP or MPS",
        description="Translate a formulation to another format; to standard output unless -o.",
    )
    _file_argument(p)
    p.add_argument(
        "--to", required=True, choices=("latex", "pyomo", "lp", "mps"), help="output format"
    )
    p.add_argument("-o", "--output", metavar="OUT", help="write to this file")
    p.add_argument(
        "--data-refs",
        action="store_true",
        help="keep the table references instead of inlining the data: the Pyomo script "
        "reads the tables when it runs (with optiwise; the data folder is its argument, "
        "by default --data relative to the script), LaTeX names the files; LP and MPS "
        "always hold the data",
    )
    p.set_defaults(handler=_guarded(_cmd_export))

    p = subparsers.add_parser(
        "explain",
        help="solve a formulation and explain the result",
        description="Solve a formulation and explain the result in its own names "
        "(binding constraints, infeasibility, unboundedness, sanity checks).",
    )
    _file_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--time-limit", type=_nonnegative_float, metavar="S", help="time limit in seconds"
    )
    p.set_defaults(handler=_guarded(_cmd_explain))


def _file_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="a JSON or YAML formulation; '-' for stdin")
    p.add_argument(
        "--data",
        metavar="DIR",
        help="the problem's data folder: the tables the formulation names are read from here",
    )


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if math.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number >= 0")
    return value


def _guarded(handler: Handler) -> Handler:
    """Run a handler; a bug of ours becomes a one-line error and exit 1, not a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            # The reader went away (``optiwise solve x.yaml | head``): stop quietly.
            with contextlib.suppress(OSError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_ERROR
        except Exception as exc:
            message = f"internal error: {exc!r}"
            if getattr(args, "json", False):
                _print_json(_error_result(message).to_spec())
            else:
                print(f"optiwise {args.command}: {message}", file=sys.stderr)
            if os.environ.get("OPTIWISE_DEBUG"):
                traceback.print_exc()
            return EXIT_ERROR

    return run


# ------------------------------------------------------------------ input and output


def read_source(file: str) -> str:
    """The text of FILE ('-' is standard input); a :class:`FormulationError` located at FILE.

    A newline is ensured so that :func:`modeling.load` never mistakes a one-line
    document for a file name.
    """
    where = "stdin" if file == "-" else file
    try:
        if file == "-":
            text = sys.stdin.read()
        else:
            text = Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _file_error(where, "file not found", "check the path") from None
    except IsADirectoryError:
        raise _file_error(where, "is a directory", "give a JSON or YAML file") from None
    except PermissionError:
        raise _file_error(
            where, "cannot be read (permission denied)", "check its permissions"
        ) from None
    except UnicodeDecodeError:
        raise _file_error(where, "is not UTF-8 text", "save it as UTF-8 JSON or YAML") from None
    except OSError as exc:
        raise _file_error(where, f"cannot be read ({exc.strerror or exc})", "") from None
    return text if text.endswith("\n") else text + "\n"


def read_formulation(file: str, data: str | None) -> Formulation:
    """FILE loaded as a formulation whose tables are read from the folder ``data``.

    Raises :class:`FormulationError` for an unreadable file, a document that
    breaks the spec's shape, or a data folder that is not a folder.
    """
    from modeling.formulation import load

    text = read_source(file)
    if data is not None and not Path(data).is_dir():
        raise _file_error(data, "is not a folder", "give the folder that holds the tables")
    return load(text, data=data)


def _file_error(where: str, message: str, hint: str) -> FormulationError:
    return FormulationError([Issue(where, message, hint, code="file")])


def jsonable(value: Any) -> Any:
    """JSON-safe data: NaN and infinities become null, unknown objects their str()."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return jsonable(value.item())
    return str(value)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n")
    sys.stdout.flush()


def exit_code(status: str) -> int:
    """0 when a status was decided, 2 for ``invalid``, 1 otherwise."""
    from modeling.result import Status

    try:
        st = Status(status)
    except ValueError:
        return EXIT_ERROR
    if st is Status.INVALID:
        return EXIT_INVALID
    return EXIT_OK if st.decided else EXIT_ERROR


def _fmt(x: float | None) -> str:
    """The CLI's numbers: :func:`modeling.format.format_number` with 10 significant digits."""
    return format_number(x, digits=10)


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    if not rows:
        return []
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def _n(count: int, word: str) -> str:
    """``1 variable``, ``2 variables``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def _issue_lines(issues: Sequence[Issue]) -> list[str]:
    return [str(i) for i in issues]


# ------------------------------------------------------------------ sizes and tables


def model_sizes(model: CompiledModel) -> dict[str, int]:
    """Variables, constraints (instances) and nonzeros of the linear constraint matrix."""
    import numpy as np

    nnz = int(model.matrix.nnz)
    nonlinear = sum(b.count for b in model.con_blocks if not b.linear)
    return {
        "variables": int(model.ncols),
        "integer_variables": int(np.count_nonzero(model.col_type)),
        "constraints": int(model.nrows + nonlinear),
        "nonlinear_constraints": int(nonlinear),
        "nonzeros": nnz,
    }


def _value_rows(result: SolveResult) -> list[tuple[str, str]]:
    from modeling.compiler import instance_label

    rows: list[tuple[str, str]] = []
    for name, v in result.values.items():
        items = v.items() if isinstance(v, dict) else [((), v)]
        for key, x in items:
            if x is not None and abs(float(x)) > _ZERO:
                rows.append((instance_label(name, tuple(key)), _fmt(float(x))))
    return rows


def _binding_rows(result: SolveResult) -> list[tuple[str, str, str, str]]:
    """Constraints holding at a bound (name, activity, bound, dual).

    Which constraints bind is :func:`modeling.diagnostics.binding_constraints`'
    rule, so this table lists what ``optiwise explain`` and the agent list.
    """
    from modeling.diagnostics import binding_constraints

    model, x = result.model, result.x
    if model is None or x is None:
        return []
    duals = result.row_duals
    rows: list[tuple[str, str, str, str]] = []
    for b in binding_constraints(model, x):
        op = {"equal": "=", "upper": "<=", "lower": ">="}[b.side]
        dual = ""
        if duals is not None and b.row is not None and b.row < len(duals):
            dual = _fmt(float(duals[b.row]))
        # Activity and bound both leave out the constant terms of the constraint.
        rows.append((b.label, _fmt(b.activity), f"{op} {_fmt(b.bound)}", dual))
    return rows


def assumption_lines(f: Formulation) -> list[str]:
    """The document's stated assumptions (spec v1.2) for a report; [] when it states none."""
    if not f.assumptions:
        return []
    lines = ["", "assumptions (the text left these out; the model rests on them):"]
    for a in f.assumptions:
        names = f" [affects: {', '.join(a.parameters)}]" if a.parameters else ""
        lines.append(f"  - {a.text}{names}")
    return lines


def format_report(result: SolveResult, name: str = "") -> str:
    """A readable report of a solve: status, objective, class, solver, timings, values."""
    from modeling.result import Status

    lines: list[str] = []
    title = f"{name}: " if name else ""
    lines.append(f"{title}{result.status}")
    info: list[tuple[str, str]] = []
    if result.objective is not None:
        info.append(("objective", _fmt(result.objective)))
    if result.bound is not None and result.status is not Status.OPTIMAL:
        info.append(("bound", _fmt(result.bound)))
    if result.gap is not None and result.status is not Status.OPTIMAL:
        info.append(("gap", f"{result.gap:.3g}"))
    if result.model_class:
        cls = result.model_class
        if result.model is not None:
            s = model_sizes(result.model)
            cls += (
                f" ({_n(s['variables'], 'variable')}, {_n(s['constraints'], 'constraint')}, "
                f"{_n(s['nonzeros'], 'nonzero')})"
            )
        info.append(("model class", cls))
    if result.solver:
        solver = result.solver + (f" {result.solver_version}" if result.solver_version else "")
        if result.backend and result.backend != result.solver:
            solver += f" (backend {result.backend})"
        info.append(("solver", solver))
    if result.termination and str(result.termination) != str(result.status):
        info.append(("termination", str(result.termination)))
    t = result.timings
    info.append(
        (
            "time",
            f"{t.total_s:.3f} s (compile {t.compile_s:.3f}, build {t.build_s:.3f}, "
            f"solve {t.solve_s:.3f})",
        )
    )
    if result.message and not result.errors:
        info.append(("message", result.message.strip().splitlines()[0]))
    width = max(len(k) for k, _ in info)
    lines.extend(f"  {k.ljust(width)}  {v}" for k, v in info)

    if result.model is not None:
        lines += assumption_lines(result.model.formulation)

    if result.errors:
        lines.append("")
        lines.append(f"{_n(len(result.errors), 'problem')}:")
        lines.extend(f"  {line}" for line in _issue_lines(result.errors))

    if result.status.has_solution:
        values = _value_rows(result)
        lines.append("")
        if values:
            lines.append("variables (nonzero values):")
            lines.extend(_table(values[:MAX_ROWS]))
            if len(values) > MAX_ROWS:
                lines.append(
                    f"  ... and {len(values) - MAX_ROWS} more nonzero values (use --json for all)"
                )
        else:
            lines.append("variables: all zero")
        binding = _binding_rows(result)
        if binding:
            lines.append("")
            has_dual = any(r[3] for r in binding)
            header = ("constraint", "activity", "bound", "dual")
            rows: list[Sequence[str]] = [header, *binding[:MAX_ROWS]]
            if not has_dual:
                rows = [r[:3] for r in rows]
            lines.append("binding constraints:")
            lines.extend(_table(rows))
            if len(binding) > MAX_ROWS:
                lines.append(f"  ... and {len(binding) - MAX_ROWS} more binding constraints")
    return "\n".join(lines)


# ------------------------------------------------------------------ handlers


def _error_result(message: str) -> SolveResult:
    from modeling.result import SolveResult, Status, Termination

    return SolveResult(Status.ERROR, Termination.ERROR, message=message)


def _invalid_result(exc: FormulationError) -> SolveResult:
    from modeling.result import SolveResult

    return SolveResult.invalid(exc.issues, str(exc))


def _load_appsi() -> None:
    """Load Pyomo's APPSI extension before standard output is redirected.

    Loaded for the first time inside :func:`redirect_stdout`, its first solve
    deadlocks in Pyomo's output capture (``TeeStream: deadlock observed joining
    reader threads``, ~105 s, then an error); loaded before, it solves at once.
    """
    with contextlib.suppress(Exception):
        from pyomo.contrib.appsi.cmodel import cmodel_available

        bool(cmodel_available)


def _cmd_solve(args: argparse.Namespace) -> int:
    from modeling.solve import solve
    from modeling.worker import configure, solve_isolated

    spec: dict[str, Any] | None = None
    try:
        doc = read_formulation(args.file, args.data)
    except FormulationError as exc:
        result = _invalid_result(exc)
    else:
        options: dict[str, Any] = {
            "backend": args.backend,
            "solver": args.solver,
            "time_limit": args.time_limit,
            "mip_gap": args.mip_gap,
            "verbose": args.verbose,
        }
        if str(args.solver or "").lower().startswith("appsi"):
            _load_appsi()
        with redirect_stdout("stderr"):
            if args.time_limit is not None and not args.in_process:
                # a worker that is killed at the limit: model building obeys it too; a
                # one-shot command's worker imports only what HiGHS needs up front
                configure("core")
                result = solve_isolated(doc, **options)
            else:
                result = solve(doc, **options)
            spec = result.to_spec() if args.json else None
    if args.json:
        _print_json(spec if spec is not None else result.to_spec())
    else:
        name = ""
        if result.model is not None and result.model.formulation.name:
            name = result.model.formulation.name
        print(format_report(result, name or ("stdin" if args.file == "-" else args.file)))
    return exit_code(str(result.status))


def _cmd_check(args: argparse.Namespace) -> int:
    from modeling.compiler import compile_model

    issues: list[Issue] = []
    model: CompiledModel | None = None
    try:
        model = compile_model(read_formulation(args.file, args.data))
    except FormulationError as exc:
        issues = exc.issues
    if args.json:
        data: dict[str, Any] = {
            "valid": not issues,
            "issues": [i.to_dict() for i in issues],
        }
        if model is not None:
            data["model_class"] = str(model.model_class)
            data["convex"] = model.convex
            data["sizes"] = model_sizes(model)
        _print_json(data)
    elif issues:
        print(f"invalid: {_n(len(issues), 'problem')}")
        for line in _issue_lines(issues):
            print(f"  {line}")
    else:
        assert model is not None
        s = model_sizes(model)
        convex = ""
        if model.model_class in ("QP", "MIQP"):
            convex = ", convex" if model.convex else ", nonconvex"
        ints = f" ({s['integer_variables']} integer)" if s["integer_variables"] else ""
        print(f"valid: {model.model_class}{convex}")
        print(
            f"  {_n(s['variables'], 'variable')}{ints}, {_n(s['constraints'], 'constraint')}, "
            f"{_n(s['nonzeros'], 'nonzero')}"
        )
        for line in assumption_lines(model.formulation):
            print(line)
    return EXIT_INVALID if issues else EXIT_OK


def _print_issues(issues: Sequence[Issue], file: Any = None) -> None:
    for line in _issue_lines(issues):
        print(line, file=file or sys.stdout)


def _cmd_export(args: argparse.Namespace) -> int:
    from modeling import export

    out: Path | None = Path(args.output) if args.output else None
    if args.data_refs and args.to in ("lp", "mps"):
        print(
            f"optiwise export: --data-refs does not apply to {args.to.upper()}: an {args.to.upper()} "
            "file holds every coefficient (use --to pyomo or --to latex to keep the tables apart)",
            file=sys.stderr,
        )
        return EXIT_INVALID
    try:
        text = read_formulation(args.file, args.data)
        with redirect_stdout("stderr"):
            if args.to == "latex":
                result = export.to_latex(text, data_refs=args.data_refs)
            elif args.to == "pyomo":
                result = export.to_pyomo_script(
                    text, data_refs=args.data_refs, data_dir=_script_data_dir(args.data, out)
                )
            elif args.to == "lp":
                result = export.to_lp(text, out)
            else:
                result = export.to_mps(text, out)
        result = str(result)
        if out is not None and args.to in ("latex", "pyomo"):
            out.write_text(result, encoding="utf-8")
    except FormulationError as exc:
        _print_issues(exc.issues, sys.stderr)
        return EXIT_INVALID
    except export.ExportError as exc:
        print(f"optiwise export: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"optiwise export: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    if out is None:
        sys.stdout.write(result if result.endswith("\n") else result + "\n")
    else:
        print(f"wrote {out}", file=sys.stderr)
    return EXIT_OK


def _script_data_dir(data: str | None, out: Path | None) -> str | None:
    """The data folder a ``--data-refs`` script falls back to: relative to the script when
    it is written to a file (so the two can move together), else absolute."""
    if data is None:
        return None
    folder = Path(data).resolve()
    if out is None:
        return str(folder)
    return os.path.relpath(folder, out.resolve().parent)


def _cmd_explain(args: argparse.Namespace) -> int:
    from modeling import diagnostics
    from modeling.worker import HardLimitExceeded, WorkerCrashed, configure, diagnose_isolated

    configure("core")  # one-shot: the worker imports Pyomo/SCIP only if the model needs them
    try:
        text = read_formulation(args.file, args.data)
        with redirect_stdout("stderr"):
            # in a killable worker: the solve and the diagnosis (IIS, ray, ranging) are
            # bounded by their budget plus a grace, model building included
            report = diagnose_isolated("explain", text, time_limit=args.time_limit)
            data = report.to_dict()
            shown = None if args.json else report.to_text()
    except FormulationError as exc:
        if args.json:
            _print_json(_invalid_result(exc).to_spec())
        else:
            print(f"invalid: {_n(len(exc.issues), 'problem')}")
            _print_issues(exc.issues)
        return EXIT_INVALID
    except (diagnostics.DiagnosticsError, HardLimitExceeded, WorkerCrashed) as exc:
        if args.json:
            _print_json(_error_result(str(exc)).to_spec())
        else:
            print(f"optiwise explain: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.json:
        _print_json(data)
    else:
        print(shown)
    status = data.get("status") if isinstance(data, dict) else None
    return exit_code(str(status)) if status is not None else EXIT_OK
