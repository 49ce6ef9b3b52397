"""Chat page: describe a problem, change it, ask about it; threads are saved and reopen.

Data tables (CSV; Excel and Parquet where their readers are installed) can be
attached to a message: they are checked (name, kind, size: :mod:`agent.chat_data`),
saved in the thread's data folder, listed with the message, and read by every
later turn of the thread; the LLM sees them described, never whole.
"""

from __future__ import annotations

import uuid
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
import yaml

from agent.chat import list_threads
from agent.chat_data import UploadError, accepted_suffixes, check_upload, max_upload_bytes
from ui.results import show_formulation_math
from ui.shell import go
from ui.state import banner, chat_session, llm_configured, set_later
from ui.turns import DeferredRerun
from ui.view_model import (
    TOOL_MODE_CHOICES,
    fixed_width_blocks,
    history_message,
    thread_labels,
    turn_chip,
    turn_message,
)


def render() -> None:
    st.header("Chat")
    ss = st.session_state
    if not llm_configured():
        banner()
    _tool_mode_picker()
    _thread_picker()
    for k, m in enumerate(ss["messages"]):
        with st.chat_message(m["role"]):
            _render_message(m, k)
    sent = st.chat_input(
        "Describe an optimization problem, or ask a follow-up… (+ attaches data tables)",
        accept_file="multiple",
        file_type=accepted_suffixes(),
    )
    prompt, files = _message_parts(sent)
    prompt = prompt or ss.pop("prefill_sent", None)
    if files:
        refused = _refused(files)
        if refused:
            st.error("Not sent: " + "; ".join(refused))
            return
    if not prompt and ss.get("chat_prefill"):
        with st.container(border=True):
            st.caption("From the gallery — edit it if you like, then send it to formulate it:")
            st.text_area("Problem", key="chat_prefill", height=160)
            c1, c2, _ = st.columns([1, 1, 6])
            c1.button("Send", key="send_prefill", type="primary", on_click=_send_prefill)
            c2.button("Discard", key="discard_prefill", on_click=_discard_prefill)
    if not prompt and not files:
        return
    prompt = prompt or ""
    if prompt and not llm_configured():
        st.error("Connect an LLM endpoint first (see the banner above).")
        return
    said: dict[str, Any] = {"role": "user", "content": prompt}
    if files:
        said["files"] = list(files)
    ss["messages"].append(said)
    with st.chat_message("user"):
        _render_message(said, len(ss["messages"]))
    rerun = DeferredRerun()
    with st.chat_message("assistant"):
        reply = _run_turn(prompt, files, rerun)
        ss["messages"].append(reply)  # kept before anything else is drawn (a rerun may come)
        rerun.call(_render_message, reply, len(ss["messages"]))
    rerun.reraise()


def _message_parts(sent: Any) -> tuple[str | None, dict[str, bytes]]:
    """The text and the attached files (name -> bytes) of what ``st.chat_input`` returned."""
    if sent is None:
        return None, {}
    if isinstance(sent, str):
        return sent or None, {}
    text = str(getattr(sent, "text", "") or "") or None
    files = {str(f.name): bytes(f.getvalue()) for f in getattr(sent, "files", None) or []}
    return text, files


def _refused(files: dict[str, bytes]) -> list[str]:
    """Why each refused upload is refused (bad name, kind or size); [] when all are fine."""
    limit = max_upload_bytes()
    out = []
    for name, content in files.items():
        try:
            check_upload(name, content, limit)
        except UploadError as exc:
            out.append(str(exc))
    return out


def _tool_mode_picker() -> None:
    """The chat's tool mode, in the sidebar (the same setting as on the Settings page)."""
    s = st.session_state["settings"]
    modes = list(TOOL_MODE_CHOICES)
    with st.sidebar:
        s["tool_mode"] = st.selectbox(
            "Chat tools",
            modes,
            index=modes.index(s["tool_mode"]) if s["tool_mode"] in modes else 0,
            key="chat_tool_mode",
            help="off: fixed routes. auto/native/json: the LLM answers a follow-up by "
            "calling tools (solve, edit, what-if, sweep, IIS, sensitivity); auto picks "
            "native tool calls or JSON actions by what the endpoint accepts.",
        )


def _send_prefill() -> None:
    """Send the gallery's problem once: the box is emptied before the page is drawn again."""
    ss = st.session_state
    ss["prefill_sent"] = ss.get("chat_prefill") or None
    ss["chat_prefill"] = ""


def _discard_prefill() -> None:
    st.session_state["chat_prefill"] = ""


def _thread_picker() -> None:
    """Reopen a saved thread, or start a new one.

    The picker follows the conversation (its value is set from ``thread_id``
    before it is drawn), and only a person's choice switches threads, through
    ``on_change``.  Comparing the widget's value with ``thread_id`` instead made a
    conversation started from "New conversation" look like a switch back to it on
    its second message: the thread was reset and the pending message thrown away.
    """
    ss = st.session_state
    threads = list_threads()
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


def _switch_thread() -> None:
    """The person picked another thread: show its history (runs before the page)."""
    ss = st.session_state
    pick = ss.get("thread_pick") or ""
    ss["thread_id"] = pick or None
    ss["chat_data_dir"] = None
    ss["messages"] = _history_of(pick) if pick else []


def _history_of(thread_id: str) -> list[dict[str, Any]]:
    with chat_session(thread_id) as session:
        msgs: list[dict[str, Any]] = [history_message(m) for m in session.history]
        if session.data_files():  # the reopened thread reads its tables again
            st.session_state["chat_data_dir"] = str(session.data_dir)
        if msgs and session.formulation:
            msgs[-1]["formulation"] = session.formulation
    return msgs


def _run_turn(
    prompt: str, files: dict[str, bytes] | None = None, rerun: DeferredRerun | None = None
) -> dict[str, Any]:
    """One chat turn; ``rerun`` holds back a rerun asked for meanwhile (ui/turns.py)."""
    ss = st.session_state
    guard = rerun or DeferredRerun()
    if ss.get("thread_id") is None:
        ss["thread_id"] = uuid.uuid4().hex[:12]
    with st.status("Reading the message…", expanded=False) as status:
        try:
            with chat_session(ss["thread_id"]) as chat:
                turn = chat.send(
                    prompt,
                    on_event=lambda label: guard.call(status.update, label=label),
                    files=files,
                )
                ss["chat_data_dir"] = str(chat.data_dir) if chat.data_files() else None
        except UploadError as exc:
            guard.call(status.update, label="Not sent", state="error")
            return {"role": "assistant", "content": f"The upload was refused: {exc}"}
        except Exception as exc:  # shown as a message a user can act on, never a traceback
            guard.call(status.update, label="Failed", state="error")
            return {"role": "assistant", "content": f"Something went wrong: {exc}"}
        chip = turn_chip(turn)
        guard.call(status.update, label=chip.label, state="error" if chip.failed else "complete")
    return turn_message(turn)


def _sweep_chart(frame: pd.DataFrame, label: str) -> alt.Chart:
    """Objective vs the swept value, a point per solve; the axes fit the data (not from 0)."""
    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("value:Q", title=label, scale=alt.Scale(zero=False)),
            y=alt.Y("objective:Q", title="objective", scale=alt.Scale(zero=False)),
            tooltip=["value", "objective", "status"],
        )
    )


def _render_message(m: dict[str, Any], k: int) -> None:
    failure = m.get("failure")
    if failure and failure not in m.get("content", ""):  # said once, not twice
        st.error(f"The LLM call failed: {failure}")
    if m.get("content"):
        st.markdown(fixed_width_blocks(m["content"]))
    if m.get("files"):
        st.caption(":material/attach_file: Data: " + ", ".join(f"`{f}`" for f in m["files"]))
    calls = m.get("tool_calls") or []
    if calls:
        failed = sum(1 for c in calls if not c.get("ok"))
        title = f"Tools used ({len(calls)}" + (f", {failed} failed" if failed else "") + ")"
        if m.get("tool_mode"):
            title += f" · {m['tool_mode']}"
        with st.expander(title, expanded=True):
            st.dataframe(pd.DataFrame(calls), hide_index=True)
    for sweep in m.get("sweeps") or []:
        frame = pd.DataFrame(sweep["rows"])
        st.markdown(f"**Objective vs {sweep['label']}**")
        st.altair_chart(_sweep_chart(frame, sweep["label"]))
        st.dataframe(frame.rename(columns={"value": sweep["label"]}), hide_index=True)
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
                set_later(
                    doc_text=yaml.safe_dump(doc, sort_keys=False),
                    result=None,
                    model_data_dir=st.session_state.get("chat_data_dir"),
                )
                go("model")
    attempts = m.get("attempts") or []
    if len(attempts) > 1 or any(a.get("errors") for a in attempts):
        with st.expander(f"Attempts ({len(attempts)})"):
            for att in attempts:
                objective = att.get("objective")
                st.markdown(
                    f"**Round {att.get('round')}** ({att.get('source')}): `{att.get('status')}`"
                    + (f" — objective {objective}" if objective is not None else "")
                )
                for err in att.get("errors") or []:
                    st.markdown(f"- `{err.get('location', '')}`: {err.get('message', '')}")


render()
