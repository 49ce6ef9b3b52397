"""PROMST: prompt optimization for multi-step tasks, on optiwise's LLM layer.

After "PRompt Optimization in Multi-Step Tasks (PROMST): Integrating Human
Feedback and Heuristic-based Sampling". A task LLM acts step by step in an
environment under a prompt; human-written feedback rules turn its failures into
text; an optimizer LLM summarizes that feedback per error category and rewrites
the prompt; a learned score model skips unpromising candidates; a tree search
keeps the best and stops when scores keep falling. APE and APO run in the same
code path as baselines, and so do OptoPrime, OPRO and GEPA
(:mod:`agent.promst.opto_search`); :mod:`agent.promst.compare` puts all six in
one table.

::

    from agent.promst import make_task, run_search, SearchConfig, Budget
    task = make_task("gridworld", sizes=("small", "medium"), per_size=2)
    result = run_search(task, task_llm, optimizer_llm, SearchConfig(), budget=Budget(calls=2000))
    print(result.best.score, result.test, result.best.text)

Command line: ``python -m agent.promst.run --env gridworld --help``. optiwise's own
pipeline as a task: :class:`agent.promst.optiwise_task.OptiwiseTask` (imported on first
use, as it loads the agent's graph).
"""

from __future__ import annotations

from typing import Any

from agent.promst.budget import Budget, BudgetExhausted, Meter, MeteredLLM
from agent.promst.envs import ENVIRONMENTS, SIZES, make_env, make_task, starting_prompt
from agent.promst.episode import Episode, EpisodeConfig, Round, run_episode, step_messages
from agent.promst.evaluate import (
    Evaluation,
    ScoreFunction,
    efficiency_weighted,
    evaluate_prompt,
    partial_credit,
)
from agent.promst.generate import CandidateGenerator, GeneratorConfig, Proposal
from agent.promst.optimizer import Candidate, PromptOptimizer, drive
from agent.promst.rules import Feedback, FeedbackRule, RuleError, RuleSet, builtin_rules
from agent.promst.score_model import ScoreModel, ScoreModelConfig
from agent.promst.search import (
    SEARCH_METHODS,
    PromptEvaluator,
    SearchConfig,
    SearchResult,
    TreeSearch,
    run_search,
    search_prompt,
    top_prompts,
)
from agent.promst.task import (
    ActionFormatError,
    Environment,
    Instance,
    MoveError,
    StepResult,
    Task,
    json_action,
    json_object,
)

__all__ = [
    "ENVIRONMENTS",
    "SEARCH_METHODS",
    "SIZES",
    "OptiwiseTask",
    "ActionFormatError",
    "Budget",
    "BudgetExhausted",
    "Candidate",
    "CandidateGenerator",
    "Environment",
    "Episode",
    "EpisodeConfig",
    "Evaluation",
    "Feedback",
    "FeedbackRule",
    "GeneratorConfig",
    "Instance",
    "Meter",
    "MeteredLLM",
    "MoveError",
    "PromptEvaluator",
    "PromptOptimizer",
    "Proposal",
    "Round",
    "RuleError",
    "RuleSet",
    "ScoreFunction",
    "ScoreModel",
    "ScoreModelConfig",
    "SearchConfig",
    "SearchResult",
    "StepResult",
    "Task",
    "TreeSearch",
    "builtin_rules",
    "drive",
    "efficiency_weighted",
    "evaluate_prompt",
    "json_action",
    "json_object",
    "make_env",
    "make_task",
    "partial_credit",
    "run_episode",
    "run_search",
    "search_prompt",
    "starting_prompt",
    "step_messages",
    "top_prompts",
]


def __getattr__(name: str) -> Any:
    # The optiwise task imports LangGraph and the solvers: load it only when asked for.
    if name == "OptiwiseTask":
        from agent.promst.optiwise_task import OptiwiseTask

        return OptiwiseTask
    raise AttributeError(f"module 'agent.promst' has no attribute {name!r}")
