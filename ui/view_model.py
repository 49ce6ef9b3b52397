"""What the app's pages show, computed without Streamlit.

Every function here turns optiwise objects (a :class:`~modeling.SolveResult`,
a :class:`~agent.ChatReply`, saved threads, eval results) into plain rows,
labels and texts, so the pages only draw them and the rules are tested
directly (``tests/app/test_view_model.py``).  Modeling work stays in
:mod:`modeling` (``scenarios.apply_changes``, ``scenarios.yaml_diff``); this
module decides only how things read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from modeling import SolveResult
from modeling.format import format_number
from modeling.scenarios import yaml_diff

if TYPE_CHECKING:
    from agent.chat import ChatReply
    from modeling.compiler import CompiledModel
    from modeling.errors import Issue
    from modeling.samples import Sample

__all__ = [
    "TOOL_MODE_CHOICES",
    "AppSettings",
    "EditableParameter",
    "TurnChip",
    "comparison_rows",
    "diff_text",
    "doc_digest",
    "editable_parameters",
    "find_runs",
    "fixed_width_blocks",
    "find_tune_runs",
    "history_message",
    "issue_lines",
    "model_summary",
    "parameter_changes",
    "result_rows",
    "sample_line",
    "solution_tables",
    "sweep_rows",
    "thread_labels",
    "tool_call_rows",
    "tool_mode_label",
    "turn_chip",
    "tune_history",
    "turn_message",
    "values_frames",
]

_ZERO = 1e-9


def _is_rule(line: str) -> bool:
    """``  -----  ----``: the dashes under a plain-text table's header."""
    return bool(line.strip()) and set(line.strip()) <= {"-", " "} and "  " in line.strip()


def fixed_width_blocks(text: str) -> str:
    """Markdown for a reply that holds plain-text tables (the chat's diagnoses).

    A diagnosis ("why is it infeasible?" on a solved model: the sensitivity
    report) aligns its columns with spaces, as ``optiwise explain`` prints
    them. Markdown collapses the spaces into one paragraph and turns the
    ``-----`` rule into a horizontal line, so each run of indented lines that
    holds such a rule is put in a fenced block, drawn in a fixed-width font.
    Other text, an LLM's markdown included, is returned unchanged.
    """
    lines = text.split("\n")
    out: list[str] = []
    k = 0
    while k < len(lines):
        if not lines[k].startswith("  "):
            out.append(lines[k])
            k += 1
            continue
        end = k
        while end < len(lines) and lines[end].startswith("  "):
            end += 1
        block = lines[k:end]
        if any(_is_rule(line) for line in block):
            out.extend(["```text", *block, "```"])
        else:
            out.extend(block)
        k = end
    return "\n".join(out)


class AppSettings(BaseSettings):
    """Settings of the app itself (the LLM's are :func:`agent.settings.get_settings`).

    ``OPTIWISE_RUNS_DIR``: where the Evals page looks for runs; by default
    ``runs`` in the current directory, where ``optiwise eval`` writes them.
    """

    model_config = SettingsConfigDict(env_prefix="OPTIWISE_", extra="ignore")

    runs_dir: Path = Field(
        default=Path("runs"), description="Folder of eval runs (relative to the current folder)."
    )


# ------------------------------------------------------------------ results


def values_frames(result: SolveResult) -> dict[str, pd.DataFrame]:
    """One table per variable: index columns named after its sets, then the value."""
    frames: dict[str, pd.DataFrame] = {}
    model = result.model
    for name, v in result.values.items():
        if isinstance(v, dict):
            cols: list[str] = []
            if model is not None and name in model.blocks:
                for s in model.blocks[name].sets:
                    dim = model.data.sets[s].dim
                    cols += [s] if dim == 1 else [f"{s}.{k + 1}" for k in range(dim)]
            rows = [(*(k if isinstance(k, tuple) else (k,)), x) for k, x in v.items()]
            width = len(rows[0]) - 1 if rows else 0
            if len(cols) != width:
                cols = [f"i{k + 1}" for k in range(width)]
            frames[name] = pd.DataFrame(rows, columns=[*cols, "value"])
        else:
            frames[name] = pd.DataFrame([(name, v)], columns=["variable", "value"])
    return frames


def solution_tables(solution: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Spec-form values (``name -> v | {"e1,e2": v}``) as rows, zeros left out."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for name, v in solution.items():
        if isinstance(v, Mapping):
            rows = [{"index": k, "value": x} for k, x in v.items() if x and abs(x) > _ZERO]
            tables[name] = rows or [{"index": "(all)", "value": 0.0}]
        else:
            tables[name] = [{"index": "", "value": v}]
    return tables


def comparison_rows(cmp: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Before/after: the objective first, then the status if it changed, then each value."""
    rows = [
        {
            "what": "objective",
            "before": cmp.get("objective_before"),
            "after": cmp.get("objective_after"),
            "change": cmp.get("delta"),
        }
    ]
    if cmp.get("status_before") != cmp.get("status_after"):
        rows.append(
            {
                "what": "status",
                "before": cmp.get("status_before"),
                "after": cmp.get("status_after"),
                "change": None,
            }
        )
    for c in cmp.get("changed") or []:
        rows.append(
            {"what": c["name"], "before": c["before"], "after": c["after"], "change": c["delta"]}
        )
    return rows


def issue_lines(issues: Iterable[Issue]) -> list[str]:
    """One markdown line per issue: the location in code style, the message, the hint."""
    return [f"`{i.location}`: {i.message}" + (f" — *{i.hint}*" if i.hint else "") for i in issues]


def model_summary(model: CompiledModel) -> str:
    """``Valid LP: 6 variables, 5 constraints, 12 nonzeros.``"""
    constraints = model.nrows + sum(b.count for b in model.nonlinear_blocks)
    return (
        f"Valid {model.model_class}: {model.ncols} variables, {constraints} constraints, "
        f"{model.matrix.nnz} nonzeros."
    )


def doc_digest(text: str) -> str:
    """A short fingerprint of a document's text: the key of everything computed from it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def diff_text(old: str, new: str) -> str:
    """What changed between two document texts, as the chat shows an edit.

    Both texts are read as documents and diffed by :func:`modeling.scenarios.yaml_diff`,
    so hunks name their place (``parameters.demand.values.north``); text that is
    not a mapping is diffed as an empty document.
    """

    def doc(text: str) -> dict[str, Any] | None:
        try:
            data = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            return None
        return dict(data) if isinstance(data, Mapping) else None

    return yaml_diff(doc(old), doc(new))


# ------------------------------------------------------------ parameters


@dataclass(frozen=True)
class EditableParameter:
    """A 1- or 2-index parameter shown as a table: rows (and columns) are set elements."""

    name: str
    sets: tuple[str, ...]
    rows: tuple[Any, ...]
    columns: tuple[Any, ...] | None
    values: tuple[Any, ...]  # a value per row, or a row of values per row

    def frame(self) -> pd.DataFrame:
        """The table to edit (element names as text labels)."""
        index = [str(e) for e in self.rows]
        if self.columns is None:
            return pd.DataFrame({self.name: list(self.values)}, index=index)
        columns = [str(e) for e in self.columns]
        return pd.DataFrame([list(r) for r in self.values], index=index, columns=columns)


def editable_parameters(model: CompiledModel) -> list[EditableParameter]:
    """The model's parameters indexed by one or two simple sets, in document order."""
    out: list[EditableParameter] = []
    sets = model.data.sets
    for p in model.data.params.values():
        if not 1 <= len(p.sets) <= 2 or any(sets[s].dim != 1 for s in p.sets):
            continue
        rows = tuple(sets[p.sets[0]].elements)
        array = p.array.tolist()
        if len(p.sets) == 1:
            out.append(EditableParameter(p.name, tuple(p.sets), rows, None, tuple(array)))
        else:
            columns = tuple(sets[p.sets[1]].elements)
            out.append(
                EditableParameter(
                    p.name, tuple(p.sets), rows, columns, tuple(tuple(r) for r in array)
                )
            )
    return out


def parameter_changes(param: EditableParameter, edited: pd.DataFrame) -> dict[str, Any]:
    """The entries a person changed in ``param``'s table, for ``scenarios.apply_changes``.

    Empty when nothing changed.  Keys are the set elements themselves (a tuple
    for two indices), so numbers and names with commas survive the round trip.
    """
    values = edited.to_numpy().tolist()
    changed: dict[Any, float] = {}
    for i, row in enumerate(param.rows):
        if param.columns is None:
            new, old = values[i][0], param.values[i]
            if float(new) != float(old):
                changed[row] = float(new)
            continue
        for j, col in enumerate(param.columns):
            new, old = values[i][j], param.values[i][j]
            if float(new) != float(old):
                changed[(row, col)] = float(new)
    return {param.name: changed} if changed else {}


# ------------------------------------------------------------------ chat


def thread_labels(threads: Sequence[Mapping[str, str]], current: str = "") -> dict[str, str]:
    """Picker labels by thread id (``""`` is a new conversation), each one different.

    Streamlit sends a selectbox's choice back as its label, so two threads about
    the same problem (same title) must still read differently, or picking one
    opens the other: the short thread id is part of every label.
    """
    labels = {"": "New conversation"}
    for t in threads:
        title = t.get("title") or "(untitled)"
        labels[t["thread_id"]] = f"{title} · {t['thread_id'][:8]}"
    if current and current not in labels:
        labels[current] = f"This conversation · {current[:8]}"
    return labels


TOOL_MODE_CHOICES: tuple[str, ...] = ("off", "auto", "native", "json")
"""The chat's tool modes in the order the app offers them (off first: the default)."""

_TOOL_MODE_LABELS = {
    "off": "off: fixed routes (formulate, edit, diagnose, answer)",
    "auto": "auto: native tool calls, JSON actions if the endpoint rejects them",
    "native": "native: OpenAI tool calls",
    "json": "json: tool calls as JSON actions in plain text",
}


def tool_mode_label(mode: str) -> str:
    """How a tool mode reads in a picker (the mode first, then what it does)."""
    return _TOOL_MODE_LABELS.get(mode, mode)


def _short_json(value: Any, limit: int) -> str:
    from agent.tool_chat import compact_json

    text = compact_json(value, max_chars=limit)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tool_call_rows(calls: Iterable[Mapping[str, Any]], limit: int = 160) -> list[dict[str, Any]]:
    """One row per tool the LLM ran: tool, ok, arguments and result as short JSON.

    A failed call shows its error as the result (it is what the LLM was told),
    so a person sees why a call was refused and that nothing was applied.
    """
    rows = []
    for call in calls:
        result = call.get("result") or {}
        shown: Any = result.get("error", result) if isinstance(result, Mapping) else result
        if isinstance(shown, Mapping):
            shown = {k: v for k, v in shown.items() if k not in ("diff", "plot")}
        rows.append(
            {
                "tool": str(call.get("name", "")),
                "ok": bool(call.get("ok")),
                "arguments": _short_json(call.get("arguments") or {}, limit),
                "result": shown if isinstance(shown, str) else _short_json(shown, limit),
            }
        )
    return rows


def sweep_rows(sweep: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A parametric sweep as a table: ``value`` (of the parameter), ``objective``, ``status``."""
    rows = sweep.get("rows") or [
        {"value": x, "objective": y, "status": ""}
        for x, y in zip(sweep.get("x") or [], sweep.get("y") or [], strict=False)
    ]
    return [
        {"value": r.get("value"), "objective": r.get("objective"), "status": r.get("status", "")}
        for r in rows
    ]


@dataclass(frozen=True)
class TurnChip:
    """The status line above a chat reply: its label and whether it reads as an error."""

    label: str
    failed: bool
    failure: str = ""  # what went wrong, for a warning under the chip


def _llm_failure(reply: ChatReply) -> str:
    for call in reply.trace.llm_calls:
        if call.get("error"):
            return str(call["error"])
    return ""


def turn_chip(reply: ChatReply) -> TurnChip:
    """How a finished turn reads: "Done: optimal", or the failure that happened.

    An edit whose LLM call failed leaves the previous model (and its status)
    current, so the status alone would read "optimal"; the trace's failed LLM
    call says what really happened.
    """
    failure = _llm_failure(reply)
    if failure:
        return TurnChip("Failed: the LLM call did not succeed", True, failure)
    status = reply.status
    ok = not status or status in ("optimal", "feasible", "infeasible", "unbounded")
    return TurnChip(f"Done: {status or reply.route}", not ok)


def turn_message(reply: ChatReply) -> dict[str, Any]:
    """A reply as the chat stores and redraws it (plain data, no live objects)."""
    chip = turn_chip(reply)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.answer,
        "status": reply.status,
        "failure": chip.failure,
        "formulation": reply.formulation,
        "diff": reply.diff,
        "attempts": [a.to_dict() for a in reply.attempts],
    }
    if reply.solution and not chip.failed:
        message["solution"] = solution_tables(reply.solution)
    if reply.comparison:
        message["comparison"] = comparison_rows(reply.comparison)
    if reply.tool_calls:
        message["tool_calls"] = tool_call_rows(reply.tool_calls)
        message["tool_mode"] = reply.tool_mode
    if reply.sweeps:
        message["sweeps"] = _sweep_views(reply.sweeps)
    return message


def _sweep_views(sweeps: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"label": str(sw.get("x_label") or sw.get("parameter") or "value"), "rows": sweep_rows(sw)}
        for sw in sweeps
    ]


def history_message(turn: Mapping[str, Any]) -> dict[str, Any]:
    """A saved turn of a thread (``ChatSession.history``) as the chat draws it when reopened.

    The text, and for a turn that ran tools its calls and sweeps, as :func:`turn_message`
    shows them the first time.
    """
    message: dict[str, Any] = {
        "role": turn.get("role", "assistant"),
        "content": turn.get("content", ""),
    }
    if turn.get("tools"):
        message["tool_calls"] = tool_call_rows(turn["tools"])
        message["tool_mode"] = turn.get("tool_mode")
    if turn.get("sweeps"):
        message["sweeps"] = _sweep_views(turn["sweeps"])
    if turn.get("files"):  # data tables sent with the message
        message["files"] = [str(f) for f in turn["files"]]
    return message


# ---------------------------------------------------------- gallery, evals


def sample_line(sample: Sample) -> str:
    """``**Title** · `LP` · optimal · 2528`` for the gallery."""
    status = str(sample.expected_status)
    value = (
        ""
        if sample.expected_objective is None
        else f" · {format_number(sample.expected_objective)}"
    )
    return f"**{sample.title}** · `{sample.model_class}` · {status}{value}"


def find_runs(root: Path) -> list[Path]:
    """Run folders (those with a ``summary.json``) under ``root``, sorted."""
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.glob("**/summary.json"))


def find_tune_runs(root: Path) -> list[Path]:
    """``optiwise tune`` output folders (a ``state.json`` beside a ``steps.jsonl``) under ``root``."""
    if not root.is_dir():
        return []
    return sorted(
        p.parent for p in root.glob("**/state.json") if (p.parent / "steps.jsonl").is_file()
    )


def tune_history(run: Path) -> list[dict[str, Any]]:
    """Validation score per step of a tuning run (``state.json``'s history), oldest first.

    Each row: ``step``, ``validation`` (the score on the validation split) and whether the
    proposal of that step was ``accepted``. A damaged or missing file gives no rows.
    """
    try:
        state = json.loads((run / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    history = state.get("history") if isinstance(state, dict) else None
    rows = []
    for item in history or []:
        if isinstance(item, dict) and isinstance(item.get("val"), int | float):
            rows.append(
                {
                    "step": item.get("step"),
                    "validation": float(item["val"]),
                    "accepted": bool(item.get("accepted")),
                }
            )
    return rows


def result_rows(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The drill-down table of a run: one row per problem, its answer beside the label."""
    keys = ("id", "status", "objective", "first_status", "repair_rounds")
    return [
        {k: r.get(k) for k in keys} | {"label": (r.get("answer") or {}).get("value")}
        for r in results
    ]
