"""optiwise synth end to end: generators, solver labels, back-translation, forward check, dedup.

The LLM is the scripted FakeLLM (back-translation text, and the forward
formulation: the instance's own for accepted pairs, a perturbed one for the
rejected pair); solvers are real.  The benchmark to dedup against is a tiny
registry in tmp_path.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from support import TOY_ENTRY, synth, synth_stub_reply

from agent import OptimizationAgent
from agent.fake import FakeLLM
from agent.llm import ChatMessage, OpenAIChatModel
from evals.registry import load_registry
from evals.synth import Settings, generate, load_seeds, table_of
from evals.synth.dedup import BenchmarkIndex
from evals.synth.generators import Instance, structure_of
from evals.synth.pipeline import (
    export_batch,
    import_batch_texts,
    make_instances,
    run_synthesis,
)
from evals.tune.data import read_problem_file
from modeling import solve

SEEDS = ["transport_basic", "production_mix"]
TAG = re.compile(r"Case (\S+):")


def story(instance: Instance) -> str:
    """The scripted back-translation: the instance's data in words, tagged with its id."""
    doc = instance.formulation
    lines = [f"Case {instance.id}: a planner has the following data."]
    for name, spec in (doc.get("parameters") or {}).items():
        values = spec.get("values", spec.get("rows")) if isinstance(spec, dict) else spec
        lines.append(f"The {name.replace('_', ' ')} figures are {json.dumps(values)}.")
    lines.append(f"Sets: {json.dumps(doc.get('sets'))}.")
    lines.append("What is the best achievable objective value?")
    return " ".join(lines)


def scripted_llm(instances: list[Instance], rejected: set[str]) -> FakeLLM:
    by_id = {i.id: i for i in instances}

    def write(messages: list[ChatMessage]) -> str:
        text = str(messages[-1]["content"])
        name = re.search(r"name: (\S+)_synth_(\d+)", text)
        assert name is not None
        instance = by_id[f"{name.group(1)}-{name.group(2)}"]
        return json.dumps({"problem": story(instance)})

    def formulate(messages: list[ChatMessage]) -> str:
        tag = TAG.search(str(messages[-1]["content"]))
        assert tag is not None
        instance = by_id[tag.group(1)]
        doc = json.loads(json.dumps(instance.formulation))
        if instance.id in rejected:
            doc["objective"]["expression"] = f"1.03 * ({doc['objective']['expression']})"
        return json.dumps(doc)

    return FakeLLM(rules=[("Write the word problem for this model", write), (TAG, formulate)])


def fake_registry(tmp_path: Path, questions: list[tuple[str, float]]) -> tuple[Path, Path]:
    """A registry file holding only ``toy.bench`` (these questions and labels); its data folder."""
    data = tmp_path / "data"
    (data / "toy").mkdir(parents=True)
    lines = [
        json.dumps({"en_question": q, "en_answer": a, "id": str(k)})
        for k, (q, a) in enumerate(questions)
    ]
    (data / "toy" / "bench.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    registry = tmp_path / "registry.toml"
    entry = TOY_ENTRY.format(variant="bench", count=len(questions), extra="")
    registry.write_text(entry, encoding="utf-8")
    return registry, data


@pytest.fixture(scope="module")
def instances() -> list[Instance]:
    seeds = load_seeds("samples", names=SEEDS)
    made, skipped = make_instances(seeds, 5, settings=Settings(complexity=2), global_seed=11)
    assert not skipped
    return made


def test_generated_instances_are_feasible_labelled_by_the_solver_and_reproducible(
    instances: list[Instance],
) -> None:
    seeds = load_seeds("samples", names=SEEDS)
    again, _ = make_instances(seeds, 5, settings=Settings(complexity=2), global_seed=11)
    assert [i.to_dict() for i in again] == [i.to_dict() for i in instances]
    other, _ = make_instances(seeds, 5, settings=Settings(complexity=2), global_seed=12)
    assert [i.formulation for i in other] != [i.formulation for i in instances]
    for instance in instances:
        result = solve(instance.formulation, time_limit=20)
        assert str(result.status) == "optimal" == instance.status
        assert instance.objective is not None and result.objective is not None
        assert abs(result.objective - instance.objective) <= 1e-6 * (abs(instance.objective) + 1)
        assert abs(instance.objective) > 1e-9
        assert structure_of(instance.formulation) == instance.structure
    # The data really vary around the seed.
    seed_label = {"transport_basic": 2528.0, "production_mix": 8520.0}
    assert any(i.objective != seed_label[i.seed] for i in instances)


def test_structure_changes_scale_sets_and_vary_constraint_families() -> None:
    seed = load_seeds("samples", names=["transport_basic"])[0]
    base = table_of(seed.formulation)
    seen_ops: set[str] = set()
    for k in range(8):
        inst = generate(seed, k, 100 + k, Settings(complexity=3), base=base)
        ops = {op["op"] for op in inst.operations}
        seen_ops |= ops
        names = [c["name"] for c in inst.formulation.get("constraints", [])]
        if "drop_family" in ops:
            assert len(names) == 1
        if "add_budget" in ops:
            assert any(n.startswith("total_") for n in names)
        if "scale" in ops:
            grown = next(op["added"] for op in inst.operations if op["op"] == "scale")
            for set_name, added in grown.items():
                assert inst.formulation["sets"][set_name][-len(added) :] == added
                assert len(inst.formulation["sets"][set_name]) == len(base.sets[set_name]) + len(
                    added
                )
        assert solve(inst.formulation, time_limit=20).status == "optimal"
    assert {"scale", "perturb"} <= seen_ops
    assert seen_ops & {"drop_family", "add_budget"}


def test_whole_loop_accepts_matches_rejects_the_rest_and_drops_a_planted_benchmark_duplicate(
    tmp_path: Path, instances: list[Instance]
) -> None:
    planted, rejected = instances[0], instances[1]
    copy = story(planted).replace("a planner", "the planner") + " Answer with a number."
    assert planted.objective is not None
    registry, data = fake_registry(
        tmp_path,
        [(copy, planted.objective), ("A bakery sells bread and cake; maximise profit.", 12.0)],
    )
    index = BenchmarkIndex.from_registry(data_dir=data, registry=load_registry(registry))
    assert index.variants == ["toy.bench"]
    llm = scripted_llm(instances, rejected={rejected.id})
    agent = OptimizationAgent(llm=llm, max_repairs=0, time_limit=20)
    out = tmp_path / "out"
    report = asyncio.run(
        run_synthesis(
            instances,
            out,
            settings=Settings(complexity=2),
            model="fake-llm",
            llm=llm,
            agent=agent,
            index=index,
        )
    )
    assert (report.accepted, report.hard, report.dropped, report.errors) == (3, 1, 1, 0)
    dropped = [json.loads(x) for x in (out / "dropped.jsonl").read_text().splitlines()]
    assert dropped[0]["id"] == planted.id
    assert (dropped[0]["reason"], dropped[0]["dataset"]) == ("text", "toy.bench")

    problems = read_problem_file(out / "problems.jsonl")
    labels = {i.id: i.objective for i in instances}
    assert {p.id for p in problems} == {i.id for i in instances[2:]}
    for p in problems:
        assert p.answer.kind == "number" and p.answer.value == labels[p.id]
        assert p.question.startswith(f"Case {p.id}:")
        prov = p.metadata["provenance"]
        assert prov["seed"] in SEEDS and prov["model"] == "fake-llm"
        assert prov["forward"]["accepted"] is True
        assert p.metadata["formulation"]["name"].startswith(prov["seed"])
    hard = read_problem_file(out / "hard.jsonl")
    assert [p.id for p in hard] == [rejected.id]
    forward = hard[0].metadata["provenance"]["forward"]
    assert forward["accepted"] is False and rejected.objective is not None
    assert forward["objective"] == pytest.approx(1.03 * rejected.objective)
    summary = json.loads((out / "report.json").read_text())
    assert summary["dropped_by"] == {"text": 1} and summary["dedup_variants"] == ["toy.bench"]


def test_batch_export_then_import_finishes_the_run(
    tmp_path: Path, instances: list[Instance]
) -> None:
    requests = tmp_path / "requests.jsonl"
    llm = OpenAIChatModel(model="gpt-4o-mini", api_key="sk-test")
    assert export_batch(instances, llm, requests) == len(instances)
    lines = [json.loads(x) for x in requests.read_text().splitlines()]
    assert lines[0]["custom_id"] == f"synth:{instances[0].id}"
    assert lines[0]["body"]["model"] == "gpt-4o-mini"
    assert "Write the word problem" in lines[0]["body"]["messages"][-1]["content"]
    by_id = {i.id: i for i in instances}
    output = tmp_path / "output.jsonl"
    replies = []
    for line in lines:
        iid = line["custom_id"].split(":", 1)[1]
        content = json.dumps({"problem": story(by_id[iid])})
        body = {"choices": [{"message": {"content": content}, "finish_reason": "stop"}]}
        replies.append(
            {"custom_id": line["custom_id"], "response": {"status_code": 200, "body": body}}
        )
    replies[-1] = {"custom_id": lines[-1]["custom_id"], "error": {"message": "expired"}}
    output.write_text("\n".join(json.dumps(r) for r in replies) + "\n")
    texts, errors = import_batch_texts(output)
    assert set(texts) == {i.id for i in instances[:-1]}
    assert list(errors) == [instances[-1].id]
    fake = scripted_llm(instances, rejected=set())
    report = asyncio.run(
        run_synthesis(
            instances,
            tmp_path / "out",
            settings=Settings(),
            model="gpt-4o-mini",
            agent=OptimizationAgent(llm=fake, max_repairs=0, time_limit=20),
            texts=texts,
        )
    )
    assert (report.accepted, report.errors) == (len(instances) - 1, 1)
    assert not any("Write the word problem" in c.last_user for c in fake.calls)


def test_cli_user_seed_folder_without_llm_and_batch_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    seed: dict[str, Any] = {
        "name": "two_products",
        "parameters": {"cap": 40, "profit": {"index": ["P"], "values": [3, 5]}},
        "sets": {"P": ["a", "b"]},
        "variables": {"x": {"index": ["P"]}},
        "objective": {"sense": "max", "expression": "sum(profit[p] * x[p] for p in P)"},
        "constraints": [{"name": "capacity", "expression": "sum(x[p] for p in P) <= cap"}],
    }
    (seeds / "two_products.yaml").write_text(json.dumps(seed))
    out = tmp_path / "out"
    assert synth("--seeds", str(seeds), "--n", "3", "--out", str(out), "--no-backtranslate") == 0
    problems = read_problem_file(out / "problems.jsonl")
    assert len(problems) == 3
    for p in problems:
        assert p.metadata["provenance"]["question_form"] == "formulation"
        assert solve(p.metadata["formulation"]).objective == pytest.approx(p.answer.value)
    requests = tmp_path / "req.jsonl"
    code = synth(
        "--seeds",
        str(seeds),
        "--n",
        "2",
        "--out",
        str(out / "b"),
        "--model",
        "gpt-4o-mini",
        "--batch-export",
        str(requests),
    )
    assert code == 0 and len(requests.read_text().splitlines()) == 2
    assert "--batch-import" in capsys.readouterr().out
    assert synth("--seeds", str(tmp_path / "nowhere"), "--out", str(out)) == 1
    assert "no such folder" in capsys.readouterr().err


def test_dedup_label_and_structure_needs_both_and_text_alone_suffices() -> None:
    from evals.problems import Problem, normalize_answer

    def bench(pid: str, question: str, label: float, **meta: Any) -> Problem:
        return Problem(
            id=pid,
            dataset="toy.bench",
            question=question,
            answer=normalize_answer(label),
            metadata=meta,
        )

    index = BenchmarkIndex()
    index.add(
        [
            bench(
                "s",
                "A mill blends two ores to make steel.",
                420.0,
                model_class="LP",
                n_variables=6,
                n_constraints=5,
            ),
            bench("t", "A farmer plants wheat and corn on 50 acres of land.", 77.0),
        ]
    )
    other_story = "Three trucks carry parcels between depots at least cost."
    hit = index.match(other_story, objective=420.0, structure=("LP", 6, 5))
    assert hit is not None and (hit.reason, hit.problem_id) == ("label+structure", "s")
    assert index.match(other_story, objective=420.0, structure=("LP", 6, 4)) is None
    assert index.match(other_story, objective=421.0, structure=("LP", 6, 5)) is None
    # No structure known upstream: the same label counts only with similar text.
    assert index.match(other_story, objective=77.0, structure=("LP", 2, 1)) is None
    near = "A farmer plants wheat and corn on 60 acres of land."
    hit = index.match(near, objective=None)
    assert hit is not None and hit.reason == "text" and hit.similarity >= 0.7


def test_infeasible_instances_only_when_asked_and_labelled_as_such(tmp_path: Path) -> None:
    from evals.synth.generators import GenerationError

    seed = load_seeds("samples", names=["infeasible_feed_blend"])[0]
    settings = Settings(complexity=1, spread=0.01, keep_infeasible=True)
    kept = generate(seed, 0, 5, settings)
    assert kept.status == "infeasible" and kept.objective is None
    with pytest.raises(GenerationError, match="keep-infeasible"):
        generate(seed, 0, 5, Settings(complexity=1, spread=0.01, tries=2))
    report = asyncio.run(
        run_synthesis([kept], tmp_path, settings=settings, model="", backtranslate_texts=False)
    )
    assert report.accepted == 1
    (problem,) = read_problem_file(tmp_path / "problems.jsonl")
    assert problem.answer.kind == "infeasible" and problem.metadata["status"] == "infeasible"


def test_a_seed_with_balanced_data_still_yields_instances_by_objective_draws() -> None:
    # min_cost_flow's supplies equal its demands: drawing them breaks feasibility, so
    # the later tries draw only the objective's data and keep the constraints.
    seed = load_seeds("samples", names=["min_cost_flow"])[0]
    inst = generate(seed, 0, 1, Settings(complexity=1))
    perturbed = next(op for op in inst.operations if op["op"] == "perturb")
    assert perturbed.get("objective_only") is True
    assert inst.status == "optimal" and inst.objective is not None
    assert solve(inst.formulation).objective == pytest.approx(inst.objective)


def test_cli_live_loop_through_the_real_openai_client(
    tmp_path: Path, llm_stub: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_stub.handler = synth_stub_reply
    out = tmp_path / "out"
    code = synth(
        "--seed-names",
        "transport_basic",
        "--n",
        "2",
        "--out",
        str(out),
        "--model",
        "gpt-4o-mini",
        "--base-url",
        llm_stub.base_url,
        "--no-dedup",
        "--max-repairs",
        "0",
        "--forward-model",
        "gpt-4o",
    )
    assert code == 0, capsys.readouterr().err
    assert "2 accepted" in capsys.readouterr().out
    problems = read_problem_file(out / "problems.jsonl")
    assert [p.metadata["provenance"]["model"] for p in problems] == ["gpt-4o-mini"] * 2
    assert [p.metadata["provenance"]["forward"]["model"] for p in problems] == ["gpt-4o"] * 2
    # One back-translation (--model) and one formulation (--forward-model) each.
    models = sorted(r.body["model"] for r in llm_stub.requests)
    assert models == ["gpt-4o", "gpt-4o", "gpt-4o-mini", "gpt-4o-mini"]
