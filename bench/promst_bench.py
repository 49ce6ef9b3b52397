#!/usr/bin/env python3
"""PROMST benchmark: environment speed per step, and what the score model saves.

Part 1 - µs per environment step
  For every environment and size, random replies (half legal-looking, pre-generated
  so generating them is not timed) are parsed and stepped; an episode that ends is
  reset. Reported: µs per step (parse + step, which renders the new state text),
  and the episode runner's own cost per step with an instant scripted LLM (history
  window, message building). The reference, measured in the same run, is one chat
  call through the real ``openai`` client to the loopback stub with zero latency:
  the cheapest an LLM step can ever be. ``ratio`` = env step / loopback call; a real
  endpoint takes 100-1000x longer than the loopback.

Part 2 - evaluations saved by the score model
  The same PROMST search (scripted grid-world agent, scripted optimizer that adds
  the right fix with probability 0.5 and filler sentences otherwise) with and without
  the score model, over several seeds and both grid worlds (any order, ordered),
  from the weak one-line start. Reported per run and in total: prompts evaluated,
  episodes run (each episode is a chain of task-LLM calls, the expensive part),
  candidates skipped, best train score, held-out test score of the best prompt.

Part 3 - one table: PROMST (without and with its score model), APE, APO, OptoPrime,
  OPRO and GEPA in the same code path (agent.promst.search.search_prompt: one drive loop,
  one evaluator, one metered budget per run) on the same tasks: the scripted grid worlds
  (any order, ordered; weak one-line start) and optiwise's own formulate -> check -> solve
  -> verify -> repair pipeline on five packaged samples (scripted modeler; shipped
  formulate prompt). Each method stops at the same budget of LLM calls (task + optimizer)
  or at its own stopping rule. The fake models carry real model names, so tokens
  (estimated from text) are priced in USD. Scripted LLMs make this about the machinery
  (calls and tokens spent, prompts evaluated, best score the scripted proposer reaches,
  calls until it was first reached, what the score model skips), not about which method
  a real model prefers. Table built by agent.promst.compare.

Usage: python bench/promst_bench.py [--quick] [--steps 20000] [--seeds 5] [--json OUT]
       python bench/promst_bench.py --only-table [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from agent.fake import FakeLLM  # noqa: E402
from agent.llm import OpenAIChatModel, user  # noqa: E402
from agent.promst import (  # noqa: E402
    ENVIRONMENTS,
    SIZES,
    Budget,
    EpisodeConfig,
    SearchConfig,
    make_env,
    make_task,
    run_episode,
    run_search,
)
from agent.promst.compare import (  # noqa: E402
    compare,
    format_table,
    scripted_grid_setup,
    scripted_optiwise_setup,
    summarize,
)
from agent.promst.envs import BoxLift, BoxNet, GridWorld, Warehouse  # noqa: E402
from agent.promst.run import WEAK_START  # noqa: E402
from agent.promst.scripted import ScriptedOptimizer, scripted_grid_agent  # noqa: E402
from agent.promst.task import Environment  # noqa: E402
from agent.settings import LLMSettings  # noqa: E402
from agent.stub_server import StubServer  # noqa: E402


def random_reply(env: Environment, rng: random.Random) -> str:
    """A plausible reply for ``env``'s current state (legal about half the time)."""
    if isinstance(env, GridWorld):
        plan = env.plan()
        if plan and rng.random() < 0.7:
            return json.dumps({"action": plan[0]})
        return json.dumps({"action": rng.choice(["up", "down", "left", "right", "pick"])})
    if isinstance(env, BoxNet):
        action = {}
        for box, (_, (r, c)) in list(env.boxes.items())[:6]:
            dr, dc = rng.choice([(0, 1), (0, -1), (1, 0), (-1, 0)])
            dest = "target" if rng.random() < 0.3 else f"[{r + dr},{c + dc}]"
            action[f"agent[{r},{c}]"] = f"move({box}, {dest})"
        return json.dumps(action)
    if isinstance(env, BoxLift):
        agents = [f"agent{i}" for i in range(len(env.layout.capacities))]
        rng.shuffle(agents)
        left = [i for i in range(len(env.layout.volumes)) if i not in env.lifted] or [0]
        return json.dumps({f"box{rng.choice(left)}": agents[: len(agents) // 2]})
    assert isinstance(env, Warehouse)
    verbs = ["up", "down", "left", "right", "stay", "pick", "drop"]
    return json.dumps({f"agent{i}": rng.choice(verbs) for i in range(len(env.positions))})


def python_loop_ms() -> float:
    """Wall time of a one-million-addition Python loop: how loaded this machine is right now."""
    start = time.perf_counter()
    total = 0
    for i in range(1_000_000):
        total += i
    return (time.perf_counter() - start) * 1e3


def time_env(name: str, size: str, steps: int) -> float:
    """µs per parse + step, resetting after an episode ends."""
    rng = random.Random(0)
    env = make_env(name, size, seed=1)
    env.reset()
    total = 0.0
    for _ in range(steps):
        reply = random_reply(env, rng)  # not timed
        start = time.perf_counter()
        result = env.step(env.parse(reply))
        if result.done:
            env.reset()
        total += time.perf_counter() - start
    return total / steps * 1e6


def runner_overhead_us(episodes: int) -> float:
    """µs per step of run_episode with an instant scripted grid agent, minus the agent itself."""
    llm = FakeLLM(rules=[(lambda _t: True, scripted_grid_agent)])
    prompt = "Reply with a JSON object only. Check the next cell is not an obstacle. Index order."
    steps = 0
    start = time.perf_counter()
    for seed in range(episodes):
        env = make_env("gridworld_ordered", "large", seed)
        steps += run_episode(llm, prompt, env, EpisodeConfig()).steps
    return (time.perf_counter() - start) / steps * 1e6


def loopback_call_us(calls: int) -> float:
    """µs per chat call to the zero-latency loopback stub through the openai client."""
    with StubServer(handler=lambda _body: '{"action": "up"}') as stub:
        model = OpenAIChatModel(
            LLMSettings(
                base_url=stub.base_url,
                api_key=SecretStr("bench"),
                model="gpt-4o-mini",
                max_retries=0,
                cache_dir=None,
            )
        )
        model.complete([user("warm up")])
        start = time.perf_counter()
        for i in range(calls):
            model.complete([user(f"state {i}")])
        elapsed = time.perf_counter() - start
        model.close()
    return elapsed / calls * 1e6


def search_pair(env: str, seed: int, per_size: int) -> dict[str, Any]:
    """The same search with and without the score model."""
    out: dict[str, Any] = {"env": env, "seed": seed}
    for label, use_model in (("without", False), ("with", True)):
        task = make_task(
            env,
            sizes=("small", "medium"),
            per_size=per_size,
            test_per_size=2,
            seed=seed,
            prompt=WEAK_START,
        )
        task_llm = FakeLLM(rules=[(lambda _t: True, scripted_grid_agent)])
        opt_llm = FakeLLM(rules=[(lambda _t: True, ScriptedOptimizer(fix_rate=0.5, seed=seed))])
        config = SearchConfig(
            n_children=4,
            n_selected=2,
            min_depth=2,
            max_depth=5,
            use_score_model=use_model,
            seed=seed,
        )
        start = time.perf_counter()
        result = run_search(task, task_llm, opt_llm, config)
        out[label] = {
            "evaluated": result.evaluated,
            "skipped": result.skipped,
            "episodes": result.episodes,
            "task_calls": result.usage["task"].calls,
            "best_train": result.best.score,
            "best_test": result.test.get("best"),
            "seconds": time.perf_counter() - start,
        }
    return out


BUDGETS = {
    "gridworld": Budget(calls=1500),
    "gridworld_ordered": Budget(calls=1500),
    "optiwise": Budget(calls=120),
}


def comparison(seeds: int) -> list[dict[str, Any]]:
    """Part 3: every method on every task under the same budget; prints the table."""
    print("\nPart 3: every method in the same code path, same tasks, same budget per task")
    setups = [
        scripted_grid_setup("gridworld"),
        scripted_grid_setup("gridworld_ordered"),
        scripted_optiwise_setup(),
    ]
    start = time.perf_counter()
    runs = compare(
        setups,
        BUDGETS,
        seeds=range(seeds),
        progress=lambda r: print(
            f"  {r.task} {r.method} seed {r.seed}: best {r.best_train:.2f}, {r.calls} calls, "
            f"stopped: {r.stopped.split(';')[0]} ({time.perf_counter() - start:.0f} s)",
            file=sys.stderr,
        ),
    )
    print(f"  means over {seeds} seed(s); scripted task and optimizer LLMs (fix odds 0.5)\n")
    print(format_table(summarize(runs), BUDGETS))
    return [r.to_dict() for r in runs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and seeds")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--only-table", action="store_true", help="only part 3, the comparison of all methods"
    )
    args = parser.parse_args()
    steps = 2_000 if args.quick else args.steps
    seeds = 2 if args.quick else args.seeds
    print(f"python {platform.python_version()} on {platform.machine()}, {steps} steps per cell")
    if args.only_table:
        runs = comparison(seeds)
        if args.json is not None:
            args.json.write_text(json.dumps({"comparison": runs}, indent=2))
        return 0

    loopback = loopback_call_us(50 if args.quick else 200)
    runner = runner_overhead_us(10 if args.quick else 40)
    print("\nPart 1: µs per environment step (parse + step), reference: one loopback LLM call")
    print(
        f"  machine load: a 1M-addition Python loop takes {python_loop_ms():,.0f} ms "
        "(about 30-50 ms on an idle desktop core); every µs below scales with it"
    )
    print(f"  loopback chat call through the openai client: {loopback:,.0f} µs")
    print(f"  episode runner per step (history, messages, scripted agent): {runner:,.0f} µs")
    header = f"  {'environment':<18}" + "".join(f"{s:>10}" for s in SIZES) + f"{'max ratio':>12}"
    print(header)
    env_rows: dict[str, dict[str, float]] = {}
    for name in ENVIRONMENTS:
        row = {size: time_env(name, size, steps) for size in SIZES}
        env_rows[name] = row
        ratio = max(row.values()) / loopback
        print(f"  {name:<18}" + "".join(f"{row[s]:>10.1f}" for s in SIZES) + f"{ratio:>12.4f}")

    print("\nPart 2: the same PROMST search with and without the score model")
    print(
        f"  {'env':<18}{'seed':>5} | {'evals':>6}{'episodes':>9}{'best':>6}{'test':>6} |"
        f" {'evals':>6}{'skipped':>8}{'episodes':>9}{'best':>6}{'test':>6}"
    )
    pairs = []
    for env in ("gridworld", "gridworld_ordered"):
        for seed in range(seeds):
            pair = search_pair(env, seed, per_size=2)
            pairs.append(pair)
            w, m = pair["without"], pair["with"]
            print(
                f"  {env:<18}{seed:>5} | {w['evaluated']:>6}{w['episodes']:>9}"
                f"{w['best_train']:>6.2f}{w['best_test']:>6.2f} | {m['evaluated']:>6}"
                f"{m['skipped']:>8}{m['episodes']:>9}{m['best_train']:>6.2f}{m['best_test']:>6.2f}"
            )
    ev_w = sum(p["without"]["episodes"] for p in pairs)
    ev_m = sum(p["with"]["episodes"] for p in pairs)
    pr_w = sum(p["without"]["evaluated"] for p in pairs)
    pr_m = sum(p["with"]["evaluated"] for p in pairs)
    loss_train = statistics.mean(
        p["without"]["best_train"] - p["with"]["best_train"] for p in pairs
    )
    loss_test = statistics.mean(p["without"]["best_test"] - p["with"]["best_test"] for p in pairs)
    print(
        f"\n  prompts evaluated: {pr_m} with vs {pr_w} without "
        f"({1 - pr_m / pr_w:.0%} saved); episodes: {ev_m} vs {ev_w} ({1 - ev_m / ev_w:.0%} saved)"
    )
    print(
        f"  mean loss in best score: train {loss_train:+.3f}, held-out test {loss_test:+.3f} "
        "(positive = the score model's search found worse)"
    )
    runs = comparison(seeds)
    if args.json is not None:
        report = {
            "loopback_us": loopback,
            "runner_us": runner,
            "env_us": env_rows,
            "pairs": pairs,
            "comparison": runs,
        }
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
