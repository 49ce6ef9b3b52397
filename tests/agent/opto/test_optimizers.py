"""OptoPrime, OptoPrimeMulti, OPRO and GEPA driven by the scripted FakeLLM."""

from __future__ import annotations

import json
import re

import pytest

from agent.fake import FakeLLM
from agent.llm import ChatMessage
from agent.opto import (
    GEPA,
    OPRO,
    SECTIONS,
    Evaluation,
    ExecutionError,
    MinibatchSelector,
    OptoPrime,
    OptoPrimeMulti,
    ParameterNode,
    bundle,
    cast_value,
    node,
    parse_reply,
)


def _sections(prompt: str) -> dict[str, str]:
    """Section title -> body of an OptoPrime user prompt."""
    problem = prompt.split("=" * 40)[1]
    parts = re.split(r"^(#\w+)\n", problem, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def _reply(suggestion: dict[str, object], reasoning: str = "because") -> str:
    return json.dumps({"reasoning": reasoning, "answer": "", "suggestion": suggestion})


@bundle()
def blend(a, b):
    """Blend two numbers: a times b."""
    return a * b


def _program() -> tuple[ParameterNode, object]:
    x = ParameterNode(
        1.5, name="x", description="the knob to turn", constraint="x must stay in [0, 10]"
    )
    y = node(4.0, name="y")
    hidden = blend(x, y)
    return x, hidden + 1


def test_each_prompt_section_holds_its_content() -> None:
    x, out = _program()
    fake = FakeLLM([_reply({"x0": 2.0})])
    opt = OptoPrime([x], llm=fake)
    opt.zero_feedback()
    opt.backward(out, "The output should be larger.")
    opt.step()
    messages = fake.calls[0].messages
    assert "#Variables" in messages[0]["content"] and '"suggestion"' in messages[0]["content"]
    sections = _sections(messages[1]["content"])
    assert list(sections) == list(SECTIONS)
    assert sections["#Instruction"] == opt.objective
    assert sections["#Code"].splitlines() == [
        "blend0 = blend(a=x0, b=y0)",
        "add0 = add(x=blend0, y=int0)",
    ]
    assert "[blend] Blend two numbers: a times b." in sections["#Documentation"]
    assert "[add]" in sections["#Documentation"]
    assert sections["#Variables"] == "(float) x0=1.5"
    assert "the knob to turn" in sections["#Constraints"]
    assert "x must stay in [0, 10]" in sections["#Constraints"]
    assert sorted(sections["#Inputs"].splitlines()) == ["(float) y0=4.0", "(int) int0=1"]
    assert sections["#Others"] == "(float) blend0=6.0"
    assert sections["#Outputs"] == "(float) add0=7.0"
    assert sections["#Feedback"] == "The output should be larger."
    assert x.data == 2.0


def test_masked_sections_are_blank() -> None:
    x, out = _program()
    fake = FakeLLM([_reply({"x0": 2.0})])
    opt = OptoPrime([x], llm=fake, mask=("#Code", "#Others"))
    opt.backward(out, "larger")
    opt.step()
    sections = _sections(fake.calls[0].messages[1]["content"])
    assert sections["#Code"] == "" and sections["#Others"] == ""
    assert sections["#Variables"] == "(float) x0=1.5"


def test_memory_appears_from_the_second_step() -> None:
    x, out = _program()
    fake = FakeLLM([_reply({"x0": 2.0}), _reply({"x0": 3.0})])
    opt = OptoPrime([x], llm=fake, memory_size=3)
    opt.backward(out, "first feedback")
    opt.step()
    assert "in the past" not in fake.calls[0].last_user
    opt.zero_feedback()
    _, out2 = _program_with(x)
    opt.backward(out2, "second feedback")
    opt.step()
    second = fake.calls[1].last_user
    past = second.split("in the past:", 1)[1]
    memory = json.loads(past[: past.index("Your response")].strip())
    assert memory == {"variables": {"x0": 1.5}, "feedback": "first feedback"}
    assert x.data == 3.0


def _program_with(x: ParameterNode) -> tuple[ParameterNode, object]:
    return x, blend(x, node(4.0, name="y")) + 1


def test_terminate_leaves_parameters_alone() -> None:
    x, out = _program()
    fake = FakeLLM(["TERMINATE"])
    opt = OptoPrime([x], llm=fake)
    opt.backward(out, "Success.")
    proposal = opt.step()
    assert proposal.terminated and proposal.empty and x.data == 1.5


@pytest.mark.parametrize(
    ("reply", "method"),
    [
        ('```json\n{"reasoning": "r", "suggestion": {"x0": 5}}\n```', "json"),
        ('Sure! Here it is: {"reasoning": "r", "suggestion": {"x0": 5}} Hope it helps.', "braces"),
        ('{"reasoning": "r", "suggestion": {"x0": 5, "prompt0": "Be', "repaired"),
        ('{"Reasoning": "r", "Suggestions": {"x:0": "5"}}', "json"),
        ('{"x0": 5}', "json"),
        ('{"reasoning": "a "quoted" word", "suggestion": {"x0": 5 "prompt0": "hi"}}', "scan"),
    ],
)
def test_malformed_replies_go_through_the_fallbacks(reply: str, method: str) -> None:
    parsed = parse_reply(reply, ["x0", "prompt0"])
    assert parsed.method == method
    assert float(parsed.suggestion["x0"]) == 5


def test_unparsable_reply_changes_nothing_and_says_why() -> None:
    x, out = _program()
    opt = OptoPrime([x], llm=FakeLLM(["I would increase x a bit."]))
    opt.backward(out, "larger")
    proposal = opt.step()
    assert proposal.updates == {} and x.data == 1.5
    assert "no JSON object" in proposal.errors[0]


def test_updates_are_cast_to_the_parameter_type() -> None:
    count = ParameterNode(3, name="count")
    weights = ParameterNode([0.5, 0.5], name="weights")
    table = ParameterNode({"a": 1}, name="table")
    text = ParameterNode("hello", name="text")
    flag = ParameterNode(True, name="flag")
    assert cast_value(count, "7") == 7 and cast_value(count, 6.6) == 7
    assert cast_value(weights, "[0.2, 0.8]") == [0.2, 0.8]
    assert cast_value(table, '{"b": 2}') == {"b": 2}
    assert cast_value(text, {"k": 1}) == '{"k": 1}'
    assert cast_value(flag, "false") is False
    with pytest.raises(ValueError, match="not a number"):
        cast_value(count, "many")

    @bundle(trainable=True)
    def pick(board):
        """Pick."""
        return 0

    assert pick.parameter is not None
    new = "```python\ndef pick(board):\n    return 1\n```"
    assert cast_value(pick.parameter, new) == "def pick(board):\n    return 1\n"
    with pytest.raises(ValueError, match="does not parse"):
        cast_value(pick.parameter, "def pick(board):\n    return (\n")
    with pytest.raises(ValueError, match="must define the function pick"):
        cast_value(pick.parameter, "def other(board):\n    return 1\n")


def test_code_suggestion_that_does_not_parse_is_kept_out() -> None:
    @bundle(trainable=True)
    def pick(board):
        """Pick a cell."""
        return board[0]

    assert pick.parameter is not None
    before = pick.parameter.data
    out = pick([3, 4])
    opt = OptoPrime(
        [pick.parameter], llm=FakeLLM([_reply({"__code0": "def pick(board):\n  return ("})])
    )
    opt.backward(out, "pick the second cell")
    proposal = opt.step()
    assert pick.parameter.data == before
    assert "does not parse" in proposal.errors[0]


def test_exception_feedback_reaches_the_code_parameter() -> None:
    @bundle(trainable=True)
    def pick(board):
        """Pick a cell."""
        return board[5]

    assert pick.parameter is not None
    fake = FakeLLM([_reply({"__code0": "def pick(board):\n    return board[-1]\n"})])
    opt = OptoPrime([pick.parameter], llm=fake)
    try:
        out = pick([3, 4])
    except ExecutionError as err:
        out = err.exception_node
    opt.backward(out, out.create_feedback("full"))
    opt.step()
    sections = _sections(fake.calls[0].last_user)
    assert "<--- (IndexError) list index out of range" in sections["#Feedback"]
    assert sections["#Variables"].startswith("(code) __code0:def pick(board):")
    assert pick([3, 4]).data == 4


def test_separate_optimizer_model_is_used_for_the_call() -> None:
    x, out = _program()
    fake = FakeLLM([_reply({"x0": 2.0})])
    opt = OptoPrime([x], llm=fake, model="strong-model")
    opt.backward(out, "larger")
    proposal = opt.propose()
    assert fake.calls[0].kwargs["model"] == "strong-model" and fake.calls[0].kwargs["json"]
    assert x.data == 1.5 and proposal.status == "pending"
    opt.reject(proposal)
    assert opt.log[-1]["status"] == "rejected" and x.data == 1.5
    assert "x0: 1.5 -> 2.0" in proposal.show()


def test_multi_candidate_with_minibatch_selector_picks_the_best_scoring() -> None:
    x, out = _program()
    fake = FakeLLM([_reply({"x0": 9.0}), _reply({"x0": 4.0}), _reply({"x0": 1.0})])

    def evaluate(target: float) -> float:
        return -abs(x.data - target)

    selector = MinibatchSelector(evaluate, [3.5, 4.5])
    opt = OptoPrimeMulti([x], llm=fake, num_candidates=3, selector=selector)
    opt.backward(out, "closer to 4")
    proposal = opt.step()
    assert [c.kwargs["temperature"] for c in fake.calls] == [1.0, 0.5, 0.0]
    assert x.data == 4.0 and proposal.score == pytest.approx(-0.5)
    assert proposal.info["baseline_score"] == pytest.approx(-2.5)


def test_opro_shows_history_by_score_and_updates() -> None:
    prompt = ParameterNode("Answer.", name="prompt", description="the task prompt")
    fake = FakeLLM([_reply({"prompt0": "Answer step by step."})])
    opt = OPRO([prompt], llm=fake)
    opt.record(0.7, "good")
    prompt.set("Answer quickly.")
    opt.record(0.2, "too sloppy")
    opt.step()
    text = fake.calls[0].last_user
    assert text.index("Answer quickly.") < text.index('"Answer."')  # ascending score
    assert "#Code" not in text and prompt.data == "Answer step by step."


def test_gepa_optimizes_a_text_parameter_through_the_gepa_package() -> None:
    prompt = ParameterNode("Answer the question.", name="prompt")
    items = [{"q": f"q{i}", "label": "yes"} for i in range(4)]

    def evaluate(item: dict[str, str]) -> Evaluation:
        ok = "always say yes" in prompt.data.lower()
        return Evaluation(float(ok), "correct" if ok else f"wrong: expected {item['label']}")

    def reflect(messages: list[ChatMessage]) -> str:
        assert "wrong: expected yes" in messages[-1]["content"]  # feedback is side information
        return "```\nAnswer the question. Always say yes.\n```"

    fake = FakeLLM(rules=[(lambda _text: True, reflect)])
    opt = GEPA(
        [prompt], evaluate, trainset=items[:2], valset=items[2:], llm=fake, max_metric_calls=12
    )
    proposal = opt.propose()
    assert prompt.data == "Answer the question."  # propose() changes nothing
    opt.update(proposal)
    assert prompt.data == "Answer the question. Always say yes."
    assert proposal.score == 1.0 and proposal.info["seed_score"] == 0.0
    assert fake.calls and fake.calls[0].kwargs.get("json") is False
