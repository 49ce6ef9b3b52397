"""The Streamlit app, page by page, through ``streamlit.testing.v1.AppTest``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from streamlit.testing.v1 import AppTest

from agent.stub_server import StubServer

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def _goto(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"ui/pages/{page.lower()}.py").run()
    assert not at.exception, at.exception
    return at


def _on_page(at: AppTest, title: str) -> bool:
    return any(h.value == title for h in at.header)


def _follow(at: AppTest, page: str) -> AppTest:
    """Assert the app switched to ``page``, and keep AppTest there.

    AppTest reruns the page it was last told to, not the one the script switched
    to, so a test follows the app's ``st.switch_page`` explicitly.
    """
    assert not at.exception, at.exception
    assert _on_page(at, page), [h.value for h in at.header]
    return _goto(at, page)


def _button(at: AppTest, key: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.key == key)


def test_banner_without_llm_and_model_page_still_works() -> None:
    at = _app()
    assert any("No LLM endpoint is configured" in i.value for i in at.info)
    assert any("OPENAI_BASE_URL" in i.value for i in at.info)
    _goto(at, "Model")
    assert any("No LLM endpoint is configured" in i.value for i in at.info)


def test_gallery_opens_a_sample_in_model_and_solves_it() -> None:
    at = _goto(_app(), "Gallery")
    _follow(_button(at, "model_transport_basic").click().run(), "Model")
    assert "transport_basic" in at.text_area(key="doc_text").value
    assert any("Valid LP" in s.value for s in at.success)
    _button(at, "model_solve").click().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Status"] == "optimal"
    assert metrics["Objective"] == "2528"
    assert metrics["Model class"] == "LP"


def test_gallery_sends_a_problem_to_chat() -> None:
    at = _goto(_app(), "Gallery")
    _button(at, "chat_knapsack_relief_cargo").click().run()
    _follow(at, "Chat")
    assert "relief" in at.session_state["chat_prefill"].lower()


def test_invalid_edit_shows_located_errors() -> None:
    at = _goto(_app(), "Gallery")
    _follow(_button(at, "model_transport_basic").click().run(), "Model")
    text = at.text_area(key="doc_text").value
    broken = text.replace("sum(", "summ(", 1)
    at.text_area(key="doc_text").set_value(broken).run()
    assert not at.exception
    assert any("1 problem" in e.value for e in at.error)
    messages = " ".join(m.value for m in at.markdown)
    assert "objective.expression" in messages and "did you mean 'sum'" in messages


def test_infeasible_model_shows_the_iis_in_its_own_names() -> None:
    sample = yaml.safe_load((ROOT / "datasets/samples/infeasible_feed_blend.yaml").read_text())
    at = _goto(_app(), "Model")
    at.text_area(key="doc_text").set_value(yaml.safe_dump(sample["formulation"])).run()
    _button(at, "model_solve").click().run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Status"] == "infeasible"
    assert any("irreducible infeasible subset" in w.value for w in at.warning)
    names = [c.get("name") for c in sample["formulation"]["constraints"]]
    shown = " ".join(c.value for c in at.code)
    assert any(n in shown for n in names)


def test_settings_never_show_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-test-key")
    at = _goto(_app(), "Settings")
    page = json.dumps([str(e) for e in at.main]) + json.dumps([str(e) for e in at.sidebar])
    assert "sk-very-secret" not in page
    assert any("API key: **set**" in m.value for m in at.markdown)
    assert not any("No LLM endpoint" in i.value for i in at.info)


def test_evals_page_compares_runs_and_drills_into_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evals.loaders import Dataset
    from evals.problems import Problem, normalize_answer
    from evals.runner import run_eval

    problems = tuple(
        Problem(
            id=f"p{i}",
            dataset="toy.v1",
            question=f"Question number {i}?",
            answer=normalize_answer(10 * (i + 1)),
            metadata={},
        )
        for i in range(4)
    )
    dataset = Dataset(name="toy.v1", family="toy", variant="v1", problems=problems)

    class Half:
        async def solve(self, problem: Problem) -> dict[str, object]:
            value = problem.answer.value or 0.0
            right = problem.id in ("p0", "p1")
            return {"status": "optimal", "objective": value if right else value + 1}

    run_eval(
        dataset, Half(), model_name="m", out_dir=tmp_path / "runs", run_id="r1", progress=False
    )
    # the page reads ./runs where `optiwise eval` writes them, not runs/ beside app.py
    monkeypatch.delenv("OPTIWISE_RUNS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    at = _goto(_app(), "Evals")
    assert not at.exception, at.exception
    [label] = at.multiselect(key="eval_runs").value
    assert label.endswith("r1")
    tables = " ".join(m.value for m in at.markdown)
    assert "50" in tables  # 2 of 4 right
    assert len(at.dataframe) >= 1
    at.selectbox(key="eval_pid").set_value("p2").run()
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert "`31.0`" in shown and "`30.0`" in shown


def _texts(at: AppTest) -> list[tuple[str, str]]:
    return [(m.name, " ".join(x.value for x in m.markdown)) for m in at.chat_message]


def test_chat_keeps_every_turn_with_saved_threads_and_reopens_them(
    chat_stub: StubServer, conversation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", chat_stub.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")

    # an earlier conversation fills the thread store (the store starts empty)
    first = _app()
    assert not any("No LLM endpoint" in i.value for i in first.info)
    first.chat_input[0].set_value(conversation.problem).run()
    assert not first.exception, first.exception
    reply = first.chat_message[-1]
    assert "2,528" in _texts(first)[-1][1] or "2528" in _texts(first)[-1][1]
    assert any(len(df.value) > 0 for df in reply.dataframe)
    assert len(reply.get("vega_lite_chart")) >= 1  # the solution as a chart

    # a new conversation with a thread already saved: every turn stays
    at = _app()
    assert len(at.selectbox(key="thread_pick").options) == 2
    for message in (conversation.problem, conversation.edit, conversation.question):
        at.chat_input[0].set_value(message).run()
        assert not at.exception, at.exception
    shown = _texts(at)
    assert [role for role, _ in shown] == ["user", "assistant"] * 3
    assert [text for role, text in shown if role == "user"] == [
        conversation.problem,
        conversation.edit,
        conversation.question,
    ]
    edit_reply = at.chat_message[3]
    diff = " ".join(c.value for c in edit_reply.code)
    assert "demand" in diff and "+" in diff
    table = edit_reply.dataframe[0].value
    assert list(table["what"])[0] == "objective"
    before, after = table["before"].iloc[0], table["after"].iloc[0]
    assert before == pytest.approx(2528.0) and after < before
    assert conversation.answer in shown[-1][1]
    assert len(chat_stub.chat_requests) == 4  # one per turn: nothing was dropped or redone
    thread = at.session_state["thread_id"]

    # a fresh session lists both threads, each label different, and reopens the second
    again = _app()
    picker = again.selectbox(key="thread_pick")
    assert len(picker.options) == 3 and len(set(picker.options)) == 3
    picker.set_value(thread).run()
    assert not again.exception, again.exception
    assert [text for role, text in _texts(again) if role == "user"] == [
        conversation.problem,
        conversation.edit,
        conversation.question,
    ]
    assert conversation.answer in _texts(again)[-1][1]


def test_model_page_offers_every_download() -> None:
    at = _open_transport_in_model()
    for fname in ("model.tex", "model.py", "model.lp", "model.mps"):
        _button(at, f"export_{fname}").click().run()
        assert not at.exception, at.exception
    labels = [b.label for b in at.get("download_button")]
    for want in ("Formulation (.yaml)", "model.tex", "model.py", "model.lp", "model.mps"):
        assert any(want in label for label in labels), labels


def _open_transport_in_model() -> AppTest:
    at = _goto(_app(), "Gallery")
    return _follow(_button(at, "model_transport_basic").click().run(), "Model")


def test_a_solve_result_is_hidden_once_the_document_changes() -> None:
    at = _open_transport_in_model()
    _button(at, "model_solve").click().run()
    assert {m.label: m.value for m in at.metric}["Objective"] == "2528"
    text = at.text_area(key="doc_text").value
    at.text_area(key="doc_text").set_value(text.replace("north: 260", "north: 240")).run()
    assert not at.exception, at.exception
    assert not at.metric  # the old result is not shown as this document's
    assert any("changed since the last solve" in w.value for w in at.warning)
    assert any("north: 240" in c.value for c in at.code)  # what changed since
    _button(at, "model_solve").click().run()
    assert {m.label: m.value for m in at.metric}["Objective"] == "2444"
    assert not any("changed since the last solve" in w.value for w in at.warning)


def test_model_page_checks_once_per_text_and_exports_on_demand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import modeling
    import modeling.export

    calls: dict[str, int] = {}

    def counting(module: object, name: str) -> None:
        real = getattr(module, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    for name in ("check", "compile_model"):
        counting(modeling, name)
    for name in ("to_latex", "to_pyomo_script", "to_lp", "to_mps"):
        counting(modeling.export, name)

    at = _open_transport_in_model()
    assert calls == {"check": 1, "compile_model": 1}  # nothing exported yet
    assert [b.label for b in at.get("download_button")] == ["Formulation (.yaml)"]
    _button(at, "export_model.lp").click().run()
    assert not at.exception, at.exception
    downloads = {b.label for b in at.get("download_button")}
    assert "Download model.lp" in downloads
    _button(at, "export_model.tex").click().run()
    assert any("\\min" in x.value or "\\max" in x.value for x in at.latex)
    assert calls == {"check": 1, "compile_model": 1, "to_lp": 1, "to_latex": 1}
    assert "Download model.lp" in {b.label for b in at.get("download_button")}


def test_a_failed_llm_call_is_shown_as_a_failure(
    chat_stub: StubServer, conversation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.stub_server import HTTPError

    monkeypatch.setenv("OPENAI_BASE_URL", chat_stub.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    at = _app()
    at.chat_input[0].set_value(conversation.problem).run()
    chat_stub.push(HTTPError.unauthorized())  # the edit's LLM call fails
    at.chat_input[0].set_value(conversation.edit).run()
    assert not at.exception, at.exception
    reply = at.chat_message[-1]
    [chip] = [c for c in reply.children.values() if type(c).__name__ == "Status"]
    assert chip.label.startswith("Failed"), chip.label  # not a green "Done: optimal"
    text = " ".join(m.value for m in reply.markdown) + " ".join(e.value for e in reply.error)
    assert "failed" in text and "401" in text  # what failed, said in the reply
    assert not reply.get("vega_lite_chart")  # the old solution is not shown as this turn's


def test_the_gallery_problem_is_sent_once(
    chat_stub: StubServer, conversation: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", chat_stub.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    at = _goto(_app(), "Gallery")
    _follow(_button(at, "chat_transport_basic").click().run(), "Chat")
    assert at.text_area(key="chat_prefill").value == conversation.problem
    _button(at, "send_prefill").click().run()
    assert not at.exception, at.exception
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert not any(t.key == "chat_prefill" for t in at.text_area)  # the box is gone
    at.run()  # nothing left to send again
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert not any(t.key == "chat_prefill" for t in at.text_area)
    assert len(chat_stub.chat_requests) == 1


def test_tune_page_shows_a_tuning_runs_scores_report_and_prompts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "runs" / "tune1"
    (run / "prompts").mkdir(parents=True)
    history = [
        {"step": 0, "val": 0.2, "accepted": True},
        {"step": 1, "val": 0.6, "accepted": True},
        {"step": 2, "val": 0.4, "accepted": False},
    ]
    (run / "state.json").write_text(json.dumps({"history": history}), encoding="utf-8")
    (run / "steps.jsonl").write_text("{}\n", encoding="utf-8")
    (run / "report.md").write_text("# Tuning report\n\nvalidation 0.2 -> 0.6\n", encoding="utf-8")
    (run / "prompts" / "formulate.md").write_text("State units.\n$problem\n", encoding="utf-8")
    monkeypatch.delenv("OPTIWISE_RUNS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)

    at = _goto(_app(), "Tune")

    assert not at.exception, at.exception
    assert at.selectbox(key="tune_run").value == "tune1"
    shown = at.dataframe[0].value
    assert list(shown["validation"]) == [0.2, 0.6, 0.4]
    assert list(shown["accepted"]) == [True, True, False]
    assert any("validation 0.2 -> 0.6" in m.value for m in at.markdown)
    assert any("State units." in c.value for c in at.code)
