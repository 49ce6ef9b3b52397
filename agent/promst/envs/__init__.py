"""Self-contained multi-step environments (pure Python, seeded) in the spirit of PROMST's tasks.

``make_task(name)`` builds a :class:`agent.promst.task.Task`: seeded training and
test instances at several sizes, the starting prompt (``agent/promst/prompts/<env>.md``)
and the environment's rule file (``agent/promst/rules/<env>.toml``)::

    task = make_task("gridworld", sizes=("small", "medium"), per_size=2, seed=0)
    env = task.train[0].make(); print(env.reset())

Environments: ``gridworld`` (any order), ``gridworld_ordered``, ``boxnet``,
``boxlift``, ``warehouse``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from importlib import resources

from agent.promst.envs.boxlift import BOXLIFT_SIZES, BoxLift, BoxLiftLayout
from agent.promst.envs.boxnet import BOXNET_SIZES, BoxNet, BoxNetLayout
from agent.promst.envs.gridworld import GRID_SIZES, GridLayout, GridWorld
from agent.promst.envs.warehouse import WAREHOUSE_SIZES, Warehouse, WarehouseLayout
from agent.promst.rules import RuleSet
from agent.promst.task import Environment, Instance, Task

__all__ = [
    "BOXLIFT_SIZES",
    "BOXNET_SIZES",
    "ENVIRONMENTS",
    "GRID_SIZES",
    "SIZES",
    "WAREHOUSE_SIZES",
    "BoxLift",
    "BoxLiftLayout",
    "BoxNet",
    "BoxNetLayout",
    "GridLayout",
    "GridWorld",
    "Warehouse",
    "WarehouseLayout",
    "make_env",
    "make_task",
    "starting_prompt",
]

SIZES = tuple(GRID_SIZES)  # every environment has the same four size names

# name -> (generator(size, seed), prompt file, rule file)
ENVIRONMENTS: dict[str, tuple[Callable[[str, int], Environment], str, str]] = {
    "gridworld": (partial(GridWorld.generate, ordered=False), "gridworld", "gridworld"),
    "gridworld_ordered": (partial(GridWorld.generate, ordered=True), "gridworld", "gridworld"),
    "boxnet": (BoxNet.generate, "boxnet", "boxnet"),
    "boxlift": (BoxLift.generate, "boxlift", "boxlift"),
    "warehouse": (Warehouse.generate, "warehouse", "warehouse"),
}


def _known(name: str) -> None:
    if name not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {name!r}; choose from {', '.join(ENVIRONMENTS)}")


def make_env(name: str, size: str = "small", seed: int = 0) -> Environment:
    """One instance of environment ``name``; the same (size, seed) always gives the same one."""
    _known(name)
    return ENVIRONMENTS[name][0](size, seed)


def starting_prompt(name: str) -> str:
    """The human-written starting prompt shipped for environment ``name``."""
    _known(name)
    return (
        resources.files("agent.promst")
        .joinpath("prompts", f"{ENVIRONMENTS[name][1]}.md")
        .read_text(encoding="utf-8")
    )


def make_task(
    name: str,
    *,
    sizes: Sequence[str] = SIZES,
    per_size: int = 2,
    test_per_size: int = 2,
    seed: int = 0,
    prompt: str | None = None,
) -> Task:
    """A task over ``name``: ``per_size`` training and ``test_per_size`` test instances per size.

    Training seeds are ``seed, seed + 1, ...``; test seeds start at ``seed + 10_000`` so
    the two sets never share an instance.
    """
    _known(name)
    for size in sizes:
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
    make = ENVIRONMENTS[name][0]

    def instances(first: int, count: int) -> list[Instance]:
        return [
            Instance(f"{name}-{size}-{s}", partial(make, size, s))
            for size in sizes
            for s in range(first, first + count)
        ]

    return Task(
        name=name,
        prompt=starting_prompt(name) if prompt is None else prompt,
        train=instances(seed, per_size),
        test=instances(seed + 10_000, test_per_size),
        rules=RuleSet.load(ENVIRONMENTS[name][2]),
        metadata={"sizes": list(sizes), "per_size": per_size, "seed": seed},
    )
