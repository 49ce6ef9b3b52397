"""optiwise — the Streamlit app.

Pages: Chat, Model, Gallery, Evals, Settings.  The app holds no modeling or
agent logic of its own: it calls the same public API a pipeline would
(:mod:`modeling`, :mod:`agent`, :mod:`evals`).  Start it with ``make run``.
"""

from __future__ import annotations

import difflib
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
import yaml

import modeling
from modeling import SolveResult, Status

ROOT = Path(__file__).resolve().parent
SAMPLES = ROOT / "datasets" / "samples"
PAGES = ["Chat", "Model", "Gallery", "Evals", "Settings"]

st.set_page_config(page_title="optiwise", page_icon="📐", layout="wide")


# ------------------------------------------------------------------ state


def _state() -> Any:
    ss = st.session_state
    ss.setdefault("page", "Chat")
    ss.setdefault("doc_text", "")
    ss.setdefault("result", None)
    ss.setdefault("scenarios", [])
    ss.setdefault("messages", [])
    ss.setdefault("thread_id", None)
    ss.setdefault("chat_prefill", "")
    ss.setdefault(
        "settings",
        {
            "base_url": os.environ.get("OPENAI_BASE_URL", ""),
            "model": os.environ.get("OPTIWISE_MODEL", "gpt-4o-mini"),
            "temperature": 0.0,
            "samples": 1,
            "max_repairs": 3,
            "backend": "auto",
            "time_limit": 60.0,
        },
    )
    return ss


def _api_key() -> str | None:
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    try:
        secret = st.secrets.get("OPENAI_API_KEY")  # type: ignore[union-attr]
    except Exception:  # no secrets file is the normal case
        secret = None
    return str(secret) if secret else None


def set_later(**values: Any) -> None:
    """Change widget-backed state on the next run (Streamlit forbids it after the widget)."""
    st.session_state.setdefault("_pending", {}).update(values)


def _apply_pending() -> None:
    pending = st.session_state.pop("_pending", None) or {}
    for key, value in pending.items():
        st.session_state[key] = value


def llm_configured() -> bool:
    ss = st.session_state
    return bool(_api_key() or ss["settings"].get("base_url"))


def _banner() -> None:
    st.info(
        "**No LLM endpoint is configured**, so Chat cannot formulate problems yet. "
        "Set `OPENAI_API_KEY` for OpenAI, or `OPENAI_BASE_URL` for a local "
        "OpenAI-compatible server (Ollama: `http://localhost:11434/v1`, vLLM: "
        "`http://localhost:8000/v1`), plus `OPTIWISE_MODEL`, then restart — or enter "
        "the endpoint under **Settings**. Model, Gallery and Evals work without one, "
        "on the embedded HiGHS and SCIP solvers.",
        icon="🔌",
    )


# --------------------------------------------------------------- helpers


def load_samples() -> list[dict[str, Any]]:
    out = []
    for path in sorted(SAMPLES.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and "formulation" in data:
            out.append(data)
    return out


def doc_from_text(text: str) -> Any:
    return modeling.load(text)


def values_frames(result: SolveResult) -> dict[str, pd.DataFrame]:
    """One table per variable: index columns named after its sets, then the value."""
    frames: dict[str, pd.DataFrame] = {}
    model = result.model
    for name, v in result.values.items():
        if isinstance(v, dict):
            sets = model.blocks[name].sets if model is not None else []
            cols: list[str] = []
            if model is not None:
                for s in sets:
                    dim = model.data.sets[s].dim
                    cols += [s] if dim == 1 else [f"{s}.{k + 1}" for k in range(dim)]
            rows = [(*k, x) for k, x in v.items()]
            width = len(rows[0]) - 1 if rows else 0
            if len(cols) != width:
                cols = [f"i{k + 1}" for k in range(width)]
            frames[name] = pd.DataFrame(rows, columns=[*cols, "value"])
        else:
            frames[name] = pd.DataFrame([(name, v)], columns=["variable", "value"])
    return frames


def show_result(result: SolveResult, key: str) -> None:
    status = result.status
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Status", str(status))
    c2.metric("Objective", "—" if result.objective is None else f"{result.objective:,.6g}")
    c3.metric("Model class", result.model_class or "—")
    c4.metric("Solver", f"{result.solver} {result.solver_version}".strip() or "—")
    if status is Status.INVALID:
        st.error("The formulation breaks the spec:")
        for issue in result.errors:
            st.markdown(
                f"- `{issue.location}`: {issue.message}"
                + (f" — *{issue.hint}*" if issue.hint else "")
            )
        return
    if status is Status.ERROR:
        st.error(result.message)
        return
    if status in (Status.INFEASIBLE, Status.INFEASIBLE_OR_UNBOUNDED):
        st.warning(
            "The model is infeasible. An irreducible infeasible subset, in the model's own names:"
        )
        _show_iis(result, key)
        return
    if status is Status.UNBOUNDED:
        st.warning("The model is unbounded: the objective can improve without limit.")
        _show_unbounded(result)
        return
    if not status.has_solution:
        st.warning(result.message or str(status))
        return
    frames = values_frames(result)
    tabs = st.tabs(["Solution", "Chart", "Sensitivity", "Checks"])
    with tabs[0]:
        for name, df in frames.items():
            nz = df[df["value"].abs() > 1e-9] if len(df) > 1 else df
            st.markdown(f"**{name}** ({len(nz)} nonzero of {len(df)})")
            st.dataframe(nz, hide_index=True, width="stretch")
    with tabs[1]:
        indexed = {n: df for n, df in frames.items() if len(df) > 1}
        if indexed:
            name = st.selectbox("Variable", list(indexed), key=f"chart_{key}")
            df = indexed[name]
            labels = df.drop(columns="value").astype(str).agg(", ".join, axis=1)
            st.bar_chart(pd.DataFrame({"value": df["value"].to_numpy()}, index=labels))
        else:
            st.caption("Only scalar variables; nothing to chart.")
    with tabs[2]:
        _show_sensitivity(result)
    with tabs[3]:
        _show_sanity(result)


def _diagnostics() -> Any:
    try:
        import modeling.diagnostics as diag
    except ImportError:
        return None
    return diag


def _export() -> Any:
    try:
        import modeling.export as export
    except ImportError:
        return None
    return export


def _source_of(result: SolveResult) -> Any:
    return result.model.formulation if result.model is not None else None


def _show_iis(result: SolveResult, key: str) -> None:
    diag = _diagnostics()
    src = _source_of(result)
    if diag is None or src is None:
        st.caption("Diagnostics are not available.")
        return
    with st.spinner("Computing an irreducible infeasible subset…"):
        try:
            report = diag.explain_infeasible(src)
        except Exception as exc:
            st.error(f"Could not compute the IIS: {exc}")
            return
    st.code(report.to_text(), language="text")


def _show_unbounded(result: SolveResult) -> None:
    diag = _diagnostics()
    src = _source_of(result)
    if diag is None or src is None:
        return
    try:
        report = diag.explain_unbounded(src)
    except Exception as exc:
        st.caption(f"Could not find the unbounded directions: {exc}")
        return
    st.code(report.to_text(), language="text")


def _show_sensitivity(result: SolveResult) -> None:
    if result.model_class != "LP":
        st.caption(
            f"Duals, reduced costs and ranges exist for LPs; this model is a {result.model_class}."
        )
        return
    diag = _diagnostics()
    src = _source_of(result)
    if diag is None or src is None:
        st.caption("Diagnostics are not available.")
        return
    try:
        report = diag.sensitivity(src)
        rows = report.to_rows()
    except Exception as exc:
        st.caption(f"Sensitivity failed: {exc}")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _show_sanity(result: SolveResult) -> None:
    diag = _diagnostics()
    if diag is None:
        return
    try:
        findings = diag.sanity_check(result)
    except Exception as exc:
        st.caption(f"Checks failed: {exc}")
        return
    if not findings:
        st.success("No integrality, bound or constraint violations; magnitudes look sane.")
    for f in findings:
        st.warning(str(f))


def show_formulation_math(source: Any) -> None:
    export = _export()
    if export is None:
        return
    try:
        st.latex(export.to_latex(source))
    except Exception as exc:
        st.caption(f"(LaTeX unavailable: {exc})")


def _solve_kwargs() -> dict[str, Any]:
    s = st.session_state["settings"]
    return {"backend": s["backend"], "time_limit": float(s["time_limit"])}


# ------------------------------------------------------------------ pages


def page_model() -> None:
    st.header("Model")
    st.caption(
        "The formulation as a document (YAML or JSON, spec v1). Edits are validated "
        "as you type; errors name their location."
    )
    ss = st.session_state
    left, right = st.columns([3, 2])
    with left:
        text = st.text_area(
            "Formulation",
            key="doc_text",
            height=420,
            placeholder="Open a sample from the Gallery, or paste a formulation.",
        )
    issues = modeling.check(text) if text.strip() else []
    with right:
        if not text.strip():
            st.info("No formulation yet.")
            return
        if issues:
            st.error(f"{len(issues)} problem{'s' if len(issues) != 1 else ''} in the document:")
            for issue in issues:
                st.markdown(
                    f"- `{issue.location}`: {issue.message}"
                    + (f" — *{issue.hint}*" if issue.hint else "")
                )
        else:
            model = modeling.compile_model(text)
            st.success(
                f"Valid {model.model_class}: {model.ncols} variables, "
                f"{model.nrows + sum(b.count for b in model.nonlinear_blocks)} "
                f"constraints, {len(model.A[2])} nonzeros."
            )
            _param_editor(text)
    if issues:
        return
    b1, b2, b3 = st.columns([1, 1, 4])
    if b1.button("Solve", type="primary", key="model_solve"):
        with st.spinner("Solving…"):
            ss["result"] = modeling.solve(text, **_solve_kwargs())
    result: SolveResult | None = ss.get("result")
    if result is not None and b2.button("Save as scenario", key="save_scenario"):
        ss["scenarios"].append(
            {
                "name": f"scenario {len(ss['scenarios']) + 1}",
                "status": str(result.status),
                "objective": result.objective,
                "values": result.values,
            }
        )
    if result is not None:
        show_result(result, "model")
    if ss["scenarios"]:
        st.subheader("Scenarios")
        st.dataframe(
            pd.DataFrame([{k: v for k, v in s.items() if k != "values"} for s in ss["scenarios"]]),
            hide_index=True,
        )
    with st.expander("Mathematics (LaTeX)"):
        show_formulation_math(text)
    _downloads(text)


def _param_editor(text: str) -> None:
    """Editable tables for the document's 1- and 2-index parameters."""
    try:
        doc = modeling.load(text)
        model = modeling.compile_model(doc)
    except Exception:
        return
    params = [
        p
        for p in model.data.params.values()
        if 1 <= len(p.sets) <= 2 and all(model.data.sets[s].dim == 1 for s in p.sets)
    ]
    if not params:
        return
    with st.expander("Edit parameters as tables"):
        name = st.selectbox("Parameter", [p.name for p in params], key="param_pick")
        p = next(q for q in params if q.name == name)
        rows = [str(e) for e in model.data.sets[p.sets[0]].elements]
        if len(p.sets) == 1:
            df = pd.DataFrame({name: p.array}, index=rows)
        else:
            cols = [str(e) for e in model.data.sets[p.sets[1]].elements]
            df = pd.DataFrame(p.array, index=rows, columns=cols)
        edited = st.data_editor(df, key=f"edit_{name}")
        if st.button("Apply to the document", key="apply_params"):
            data = doc.to_dict()
            values = edited.to_numpy().tolist()
            data["parameters"][name] = {
                "index": p.sets,
                "values": [r[0] for r in values] if len(p.sets) == 1 else values,
            }
            set_later(doc_text=yaml.safe_dump(data, sort_keys=False), result=None)
            st.rerun()


def _downloads(text: str) -> None:
    export = _export()
    st.subheader("Download")
    cols = st.columns(5)
    cols[0].download_button("Formulation (.yaml)", text, file_name="formulation.yaml")
    if export is None:
        return
    for col, (label, fn, fname) in zip(
        cols[1:],
        [
            ("LaTeX", "to_latex", "model.tex"),
            ("Pyomo script", "to_pyomo_script", "model.py"),
            ("LP file", "to_lp", "model.lp"),
            ("MPS file", "to_mps", "model.mps"),
        ],
        strict=True,
    ):
        func = getattr(export, fn, None)
        if func is None:
            continue
        try:
            content = func(text)
        except Exception as exc:
            col.caption(f"{label}: {exc}")
            continue
        col.download_button(label, content, file_name=fname, key=f"dl_{fn}")


def page_gallery() -> None:
    st.header("Gallery")
    st.caption(
        "Problems written by the optiwise team, each with a verified optimum. Open one "
        "in Chat to let the agent formulate it, or in Model to see our formulation."
    )
    samples = load_samples()
    classes = sorted({s.get("model_class", "") for s in samples})
    pick = st.multiselect("Model class", classes, default=[], key="gallery_filter")
    for s in samples:
        if pick and s.get("model_class") not in pick:
            continue
        with st.container(border=True):
            c1, c2, c3 = st.columns([6, 1, 1])
            ans = s.get("answer", {})
            obj = ans.get("objective")
            c1.markdown(
                f"**{s.get('title', s['id'])}** · `{s.get('model_class')}` · "
                f"{ans.get('status')}{'' if obj is None else f' · {obj:,.6g}'}"
            )
            c1.caption(" ".join(f"#{t}" for t in s.get("tags", [])))
            if c2.button("Chat", key=f"chat_{s['id']}"):
                set_later(chat_prefill=s["problem"], page="Chat")
                st.rerun()
            if c3.button("Model", key=f"model_{s['id']}"):
                set_later(
                    doc_text=yaml.safe_dump(s["formulation"], sort_keys=False),
                    result=None,
                    page="Model",
                )
                st.rerun()
            with c1.expander("Problem"):
                st.markdown(s["problem"])
    _benchmark_browser()


def _benchmark_browser() -> None:
    try:
        from evals import loaders, registry
    except ImportError:
        return
    st.subheader("Benchmark problems")
    try:
        entries = [d for d in registry.list_datasets() if registry.is_present(d.name)]
    except Exception as exc:
        st.caption(f"Benchmarks unavailable: {exc}")
        return
    if not entries:
        st.caption(
            "No benchmark data found. Point `OPTIWISE_DATA_DIR` at a mirror or run "
            "`optiwise data fetch NAME`."
        )
        return
    name = st.selectbox("Dataset", [d.name for d in entries], key="bench_pick")
    try:
        problems = loaders.load_problems(name)
    except Exception as exc:
        st.error(f"Could not load {name}: {exc}")
        return
    k = st.number_input("Problem", 0, max(0, len(problems) - 1), 0, key="bench_k")
    prob = problems[int(k)]
    st.markdown(
        f"`{prob.id}` — label: `{prob.answer.value if prob.answer.value is not None else prob.answer.kind}`"
    )
    st.markdown(prob.question)
    if st.button("Open in Chat", key="bench_chat"):
        set_later(chat_prefill=prob.question, page="Chat")
        st.rerun()


def page_settings() -> None:
    st.header("Settings")
    s = st.session_state["settings"]
    st.caption(
        "The API key comes from the environment (`OPENAI_API_KEY`) or Streamlit "
        "secrets; it is never shown, logged or stored in a thread."
    )
    st.markdown("API key: " + ("**set**" if _api_key() else "**not set**"))
    s["base_url"] = st.text_input(
        "Endpoint (base_url)",
        s["base_url"],
        placeholder="https://api.openai.com/v1 or http://localhost:11434/v1",
    )
    s["model"] = st.text_input("Model", s["model"])
    s["temperature"] = st.slider("Temperature", 0.0, 1.5, float(s["temperature"]), 0.1)
    s["samples"] = st.number_input("Samples (self-consistency)", 1, 9, int(s["samples"]))
    s["max_repairs"] = st.number_input("Repair rounds", 0, 10, int(s["max_repairs"]))
    s["backend"] = st.selectbox(
        "Solver backend",
        ["auto", "highs", "pyomo", "pulp"],
        index=["auto", "highs", "pyomo", "pulp"].index(s["backend"]),
    )
    s["time_limit"] = st.number_input("Time limit (s)", 1.0, 3600.0, float(s["time_limit"]))


def _agent() -> Any:
    s = st.session_state["settings"]
    from agent import OptimizationAgent

    return OptimizationAgent(
        model=s["model"],
        base_url=s["base_url"] or None,
        api_key=_api_key(),
        max_repairs=int(s["max_repairs"]),
        samples=int(s["samples"]),
        backend=s["backend"],
        time_limit=float(s["time_limit"]),
    )


def _threads_path() -> Path | None:
    env = os.environ.get("OPTIWISE_THREADS")
    return Path(env) if env else None


def _thread_picker() -> None:
    """Reopen a saved thread, or start a new one.

    The picker follows the conversation (its value is set from ``thread_id``
    before it is drawn), and only a person's choice switches threads, through
    ``on_change``.  Comparing the widget's value with ``thread_id`` instead made a
    conversation started from "New conversation" look like a switch back to it on
    its second message: the thread was reset and the pending message thrown away.
    """
    ss = st.session_state
    try:
        from agent.chat import list_threads

        threads = list_threads(_threads_path())
    except Exception:  # no thread store yet
        threads = []
    if not threads:
        return
    current = ss.get("thread_id") or ""
    labels = thread_labels(threads, current)
    ss["thread_pick"] = current
    st.selectbox(
        "Thread",
        list(labels),
        format_func=lambda k: labels.get(k, k),
        key="thread_pick",
        on_change=_switch_thread,
    )


def thread_labels(threads: list[dict[str, str]], current: str = "") -> dict[str, str]:
    """Picker labels by thread id, each one different.

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


def _switch_thread() -> None:
    """The person picked another thread: show its history (runs before the page)."""
    ss = st.session_state
    pick = ss.get("thread_pick") or ""
    ss["thread_id"] = pick or None
    ss["messages"] = _history_of(pick) if pick else []


def _history_of(thread_id: str) -> list[dict[str, Any]]:
    with _agent().chat(thread_id=thread_id, path=_threads_path()) as session:
        msgs: list[dict[str, Any]] = [dict(m) for m in session.history]
        if msgs and session.formulation:
            msgs[-1]["formulation"] = session.formulation
    return msgs


def page_chat() -> None:
    st.header("Chat")
    ss = st.session_state
    if not llm_configured():
        _banner()
    _thread_picker()
    for k, m in enumerate(ss["messages"]):
        with st.chat_message(m["role"]):
            _render_message(m, k)
    prompt = st.chat_input("Describe an optimization problem, or ask a follow-up…")
    if not prompt and ss.get("chat_prefill"):
        st.caption("From the gallery — press Send to formulate it:")
        st.text_area("Problem", key="chat_prefill", height=160)
        if st.button("Send", key="send_prefill"):
            prompt = ss["chat_prefill"]
            set_later(chat_prefill="")
    if not prompt:
        return
    if not llm_configured():
        st.error("Connect an LLM endpoint first (see the banner above).")
        return
    ss["messages"].append({"role": "user", "content": prompt})
    with st.chat_message("user"):
        st.markdown(prompt)
    with st.chat_message("assistant"):
        reply = _run_turn(prompt)
        _render_message(reply, len(ss["messages"]))
    ss["messages"].append(reply)


def _run_turn(prompt: str) -> dict[str, Any]:
    ss = st.session_state
    if ss.get("thread_id") is None:
        ss["thread_id"] = uuid.uuid4().hex[:12]
    with st.status("Reading the message…", expanded=False) as status:
        try:
            with _agent().chat(thread_id=ss["thread_id"], path=_threads_path()) as chat:
                turn = chat.send(prompt, on_event=lambda label: status.update(label=label))
        except Exception as exc:  # shown as a message a user can act on, never a traceback
            status.update(label="Failed", state="error")
            return {"role": "assistant", "content": f"Something went wrong: {exc}"}
        ok = turn.status in ("optimal", "feasible", "infeasible", "unbounded", "")
        status.update(
            label=f"Done: {turn.status or turn.route}", state="complete" if ok else "error"
        )
    message: dict[str, Any] = {
        "role": "assistant",
        "content": turn.answer,
        "status": turn.status,
        "formulation": turn.formulation,
        "diff": turn.diff,
        "attempts": [a.to_dict() for a in turn.attempts],
    }
    if turn.solution:
        message["solution"] = solution_tables(turn.solution)
    if turn.comparison:
        message["comparison"] = comparison_rows(turn.comparison)
    return message


def solution_tables(solution: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Spec-form values (``name -> v | {"e1,e2": v}``) as rows, zeros left out."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for name, v in solution.items():
        if isinstance(v, dict):
            rows = [{"index": k, "value": x} for k, x in v.items() if x and abs(x) > 1e-9]
            tables[name] = rows or [{"index": "(all)", "value": 0.0}]
        else:
            tables[name] = [{"index": "", "value": v}]
    return tables


def comparison_rows(cmp: dict[str, Any]) -> list[dict[str, Any]]:
    """Before/after: the objective first, then every value that changed."""
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


def _render_message(m: dict[str, Any], k: int) -> None:
    st.markdown(m.get("content", ""))
    if m.get("comparison"):
        st.markdown("**Before and after**")
        st.dataframe(pd.DataFrame(m["comparison"]), hide_index=True)
    if m.get("diff"):
        with st.expander("Change to the formulation", expanded=True):
            st.code(m["diff"], language="diff")
    if m.get("solution"):
        with st.expander("Solution", expanded=not m.get("comparison")):
            for name, rows in m["solution"].items():
                st.markdown(f"**{name}**")
                st.dataframe(pd.DataFrame(rows), hide_index=True)
            charted = [(n, r) for n, r in m["solution"].items() if len(r) > 1]
            if charted:
                name, rows = max(charted, key=lambda item: len(item[1]))
                st.caption(f"{name} (nonzero values)")
                st.bar_chart(
                    pd.DataFrame(
                        {"value": [r["value"] for r in rows]}, index=[str(r["index"]) for r in rows]
                    )
                )
    doc = m.get("formulation")
    if doc:
        with st.expander("Formulation", expanded=False):
            show_formulation_math(doc)
            st.code(yaml.safe_dump(doc, sort_keys=False), language="yaml")
            if st.button("Open in Model", key=f"open_model_{k}"):
                set_later(doc_text=yaml.safe_dump(doc, sort_keys=False), result=None, page="Model")
                st.rerun()
    attempts = m.get("attempts") or []
    if len(attempts) > 1 or any(a.get("errors") for a in attempts):
        with st.expander(f"Attempts ({len(attempts)})"):
            for att in attempts:
                st.markdown(
                    f"**Round {att.get('round')}** ({att.get('source')}): "
                    f"`{att.get('status')}`"
                    + (
                        f" — objective {att['objective']}"
                        if att.get("objective") is not None
                        else ""
                    )
                )
                for err in att.get("errors") or []:
                    st.markdown(f"- `{err.get('location', '')}`: {err.get('message', '')}")


def page_evals() -> None:
    st.header("Evals")
    runs_root = Path(os.environ.get("OPTIWISE_RUNS_DIR", ROOT / "runs"))
    runs = sorted(p.parent for p in runs_root.glob("**/summary.json")) if runs_root.exists() else []
    if not runs:
        st.info(
            f"No eval runs under `{runs_root}` yet. Run e.g. `optiwise eval --dataset "
            "nl4opt --limit 20 --model gpt-4o-mini`, or score formulations made elsewhere "
            "with `optiwise eval --dataset nl4opt --formulations DIR`."
        )
        return
    labels = [str(r.relative_to(runs_root)) for r in runs]
    chosen = st.multiselect("Runs", labels, default=labels[-1:], key="eval_runs")
    dirs = [runs_root / c for c in chosen]
    if not dirs:
        return
    from evals import report

    protocol = st.selectbox(
        "Scoring protocol", ["sirl", "optimind", "mamo", "orlm", "optmath"], key="eval_protocol"
    )
    try:
        st.markdown(report.compare(dirs, protocol=protocol))
        with tempfile.TemporaryDirectory() as tmp:
            png = report.plot_compare(dirs, Path(tmp) / "compare.png", protocol=protocol)
            st.image(png.read_bytes())
    except Exception as exc:  # a damaged run directory must not break the page
        st.warning(f"Could not compare these runs: {exc}")
    run = st.selectbox("Drill into a run", chosen, key="eval_drill")
    from evals.results import read_results

    results = read_results(runs_root / run / "results.jsonl")
    if not results:
        st.caption("No results in this run yet.")
        return
    rows = [r.model_dump(mode="json") for r in results]
    table = pd.DataFrame(
        [
            {k: r.get(k) for k in ("id", "status", "objective", "first_status", "repair_rounds")}
            | {"label": (r.get("answer") or {}).get("value")}
            for r in rows
        ]
    )
    st.dataframe(table, hide_index=True)
    pid = st.selectbox("Problem", [str(r["id"]) for r in rows], key="eval_pid")
    item = next(r for r in rows if str(r["id"]) == pid)
    st.markdown(
        f"**Answer** `{item.get('objective')}` vs **label** "
        f"`{(item.get('answer') or {}).get('value')}` — status `{item.get('status')}`"
    )
    question = _question_of(str(item.get("dataset", "")), str(item["id"]))
    if question:
        with st.expander("Question", expanded=True):
            st.markdown(question)
    if item.get("formulation"):
        with st.expander("Formulation"):
            st.code(yaml.safe_dump(item["formulation"], sort_keys=False), language="yaml")
    with st.expander("Everything recorded"):
        st.json(item)


@st.cache_data(show_spinner=False)
def _questions(dataset: str) -> dict[str, str]:
    from evals import loaders

    return {p.id: p.question for p in loaders.load_problems(dataset)}


def _question_of(dataset: str, pid: str) -> str:
    try:
        return _questions(dataset).get(pid, "")
    except Exception:  # the data may not be on this machine
        return ""


def diff_text(old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(old.splitlines(True), new.splitlines(True), "before", "after")
    )


def main() -> None:
    ss = _state()
    _apply_pending()
    with st.sidebar:
        st.title("optiwise")
        st.caption("Plain-language optimization → solved models")
        st.radio("Page", PAGES, key="page")
        st.divider()
        if llm_configured():
            st.caption(
                f"LLM: `{ss['settings']['model']}`"
                + (f" at `{ss['settings']['base_url']}`" if ss["settings"]["base_url"] else "")
            )
        else:
            st.caption("LLM: not configured")
    page = ss["page"]
    if page != "Chat" and not llm_configured():
        _banner()
    {
        "Chat": page_chat,
        "Model": page_model,
        "Gallery": page_gallery,
        "Evals": page_evals,
        "Settings": page_settings,
    }[page]()


main()
