"""A Battleship-like game whose policy is two trainable functions, ``reason`` and ``act``.

The board is ``size`` x ``size`` with seeded ships; the policy sees the map
as strings (``.`` unknown, ``X`` hit, ``O`` miss), ``reason`` turns it into
a plan and ``act`` into a ``(row, col)`` shot. Both are
``bundle(trainable=True)`` methods, so OptoPrime rewrites their code from
per-shot feedback ("Got 1 reward: hit at (2, 3).", a repeated shot, or the
marked source of an exception). A policy's quality is the share of ship
cells it hits within a shot budget on unseen boards.

::

    python -m agent.opto.tasks.battleship --iterations 8 --shots 32

Without an endpoint the optimizer LLM is scripted (:class:`ScriptedCoder`):
it reads the code and feedback in OptoPrime's prompt and proposes, in turn,
a scan that has a bug, its fix after seeing the marked ``KeyError``, and a
hunt-and-target policy once shots miss. It exercises the machinery
(exception feedback, two code parameters updated together), not a model.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from agent.llm import ChatMessage, ChatModel
from agent.opto.bundle import bundle
from agent.opto.modules import Module
from agent.opto.nodes import ExecutionError, Node
from agent.opto.optoprime import OptoPrime
from agent.opto.tasks.common import add_llm_arguments, choose_llm

__all__ = ["Board", "BattleshipReport", "Policy", "ScriptedCoder", "evaluate_policy", "train"]

SHIPS = (4, 3, 3, 2)


class Board:
    """A seeded board; :meth:`shoot` returns the reward (1 for a new hit) and a message."""

    def __init__(self, seed: int, size: int = 8, ships: Sequence[int] = SHIPS) -> None:
        self.size = size
        rng = random.Random(seed)
        self.ships: set[tuple[int, int]] = set()
        for length in ships:
            while True:
                horizontal = rng.random() < 0.5
                r = rng.randrange(size if horizontal else size - length + 1)
                c = rng.randrange(size - length + 1 if horizontal else size)
                cells = {(r, c + i) if horizontal else (r + i, c) for i in range(length)}
                if not cells & self.ships:
                    self.ships |= cells
                    break
        self.shots: dict[tuple[int, int], bool] = {}

    def view(self) -> list[str]:
        """The map the policy sees."""
        return [
            "".join(
                "." if (r, c) not in self.shots else ("X" if self.shots[(r, c)] else "O")
                for c in range(self.size)
            )
            for r in range(self.size)
        ]

    @property
    def hits(self) -> int:
        """Ship cells hit so far."""
        return sum(self.shots.values())

    @property
    def done(self) -> bool:
        """All ships sunk."""
        return self.hits == len(self.ships)

    def shoot(self, move: Any) -> tuple[int, str]:
        """Fire at ``move``; invalid or repeated shots waste the turn."""
        if (
            not isinstance(move, (tuple, list))
            or len(move) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in move)
        ):
            return 0, (
                f"Got 0 reward: act returned {move!r}, but it must return a (row, col) pair "
                f"of ints in 0..{self.size - 1}."
            )
        r, c = int(move[0]), int(move[1])
        if not (0 <= r < self.size and 0 <= c < self.size):
            return (
                0,
                f"Got 0 reward: ({r}, {c}) is off the board (rows and columns 0..{self.size - 1}).",
            )
        if (r, c) in self.shots:
            return 0, f"Got 0 reward: ({r}, {c}) was already shot; the turn is wasted."
        hit = (r, c) in self.ships
        self.shots[(r, c)] = hit
        if hit:
            return 1, f"Got 1 reward: hit at ({r}, {c})."
        return 0, f"Got 0 reward: miss at ({r}, {c})."


class Policy(Module):
    """The trainable policy: ``act(board, reason(board))``."""

    @bundle(trainable=True)
    def reason(self, board):  # type: ignore[no-untyped-def]
        """Read the map (list of strings; '.' unknown, 'X' hit, 'O' miss) and return a plan dict for act."""
        return {}

    @bundle(trainable=True)
    def act(self, board, plan):  # type: ignore[no-untyped-def]
        """Return the (row, col) to shoot next, given the map and the plan from reason."""
        return (0, 0)

    def forward(self, board: list[str]) -> Node:
        plan = self.reason(board)
        return self.act(board, plan)  # type: ignore[no-any-return]


def evaluate_policy(policy: Policy, seeds: Sequence[int], shots: int, size: int = 8) -> float:
    """Mean share of ship cells hit within ``shots`` on boards of ``seeds``."""
    shares = []
    for seed in seeds:
        board = Board(seed, size)
        for _ in range(shots):
            try:
                move = policy(board.view()).data
            except ExecutionError:
                continue
            board.shoot(move)
            if board.done:
                break
        shares.append(board.hits / len(board.ships))
    return fmean(shares)


@dataclass
class BattleshipReport:
    """Scores before and after training, and the per-iteration feedback."""

    optimizer_label: str
    before: float
    after: float
    feedback: list[str] = field(default_factory=list)
    code: dict[str, str] = field(default_factory=dict)


def train(
    llm: ChatModel,
    *,
    iterations: int = 8,
    shots: int = 32,
    seed: int = 0,
    eval_boards: int = 5,
    size: int = 8,
    model: str | None = None,
    label: str = "scripted",
) -> BattleshipReport:
    """Train a fresh policy on one board, one shot per iteration; score it on unseen boards."""
    policy = Policy()
    eval_seeds = [seed + 1000 + i for i in range(eval_boards)]
    before = evaluate_policy(policy, eval_seeds, shots, size)
    opt = OptoPrime(policy.parameters(), llm=llm, model=model, memory_size=3)
    board = Board(seed, size)
    log: list[str] = []
    for _ in range(iterations):
        try:
            out = policy(board.view())
            _, feedback = board.shoot(out.data)
        except ExecutionError as err:
            out = err.exception_node
            feedback = err.exception_node.create_feedback("full")
        log.append(feedback)
        opt.zero_feedback()
        opt.backward(out, feedback)
        opt.step()
        if board.done:
            board = Board(seed + len(log), size)
    after = evaluate_policy(policy, eval_seeds, shots, size)
    code = {path: str(p.data) for path, p in policy.named_parameters()}
    return BattleshipReport(label, before, after, log, code)


_SCAN_WITH_BUG = '''def act(self, board, plan):
    """Return the (row, col) to shoot next, given the map and the plan from reason."""
    if plan["next"]:
        return plan["next"]
    return (0, 0)
'''
_SCAN = '''def act(self, board, plan):
    """Return the (row, col) to shoot next, given the map and the plan from reason."""
    for r, row in enumerate(board):
        for c, cell in enumerate(row):
            if cell == ".":
                return (r, c)
    return (0, 0)
'''
_HUNT_REASON = '''def reason(self, board):
    """Read the map (list of strings; '.' unknown, 'X' hit, 'O' miss) and return a plan dict for act."""
    n = len(board)
    targets = []
    for r in range(n):
        for c in range(n):
            if board[r][c] == "X":
                for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < n and 0 <= cc < n and board[rr][cc] == ".":
                        targets.append((rr, cc))
    return {"targets": targets}
'''
_HUNT_ACT = '''def act(self, board, plan):
    """Return the (row, col) to shoot next, given the map and the plan from reason."""
    if plan.get("targets"):
        return plan["targets"][0]
    for parity in (0, 1):
        for r, row in enumerate(board):
            for c, cell in enumerate(row):
                if cell == "." and (r + c) % 2 == parity:
                    return (r, c)
    return (0, 0)
'''
_CODE_VAR = re.compile(
    r"^\(code\) (\w+):(def (\w+)\(.*?)(?=^\(code\) |\Z)", re.MULTILINE | re.DOTALL
)


class ScriptedCoder:
    """A stand-in optimizer LLM for Battleship (see the module docstring)."""

    def __call__(self, messages: list[ChatMessage]) -> str:
        prompt = str(messages[-1]["content"])
        variables = prompt.split("#Variables\n", 1)[1].split("\n#Constraints\n", 1)[0]
        feedback = prompt.split("#Feedback\n", 1)[1].split("=" * 40, 1)[0]
        codes = {fun: (name, code) for name, code, fun in _CODE_VAR.findall(variables)}
        if "act" not in codes or "reason" not in codes:
            return "TERMINATE"
        act_name, act_code = codes["act"]
        reason_name, reason_code = codes["reason"]
        if "(KeyError)" in feedback:
            suggestion = {act_name: _SCAN}
            why = "act reads a key the plan does not have; scan the map for the first unknown cell"
        elif "for r" not in act_code and 'plan["' not in act_code:
            suggestion = {act_name: _SCAN_WITH_BUG}
            why = "act always fires at (0, 0); take the next cell from the plan"
        elif "targets" not in reason_code and ("miss" in feedback or "hit" in feedback):
            suggestion = {reason_name: _HUNT_REASON, act_name: _HUNT_ACT}
            why = "after a hit, fire next to it; otherwise search on a checkerboard"
        else:
            return "TERMINATE"
        return json.dumps({"reasoning": why, "answer": "", "suggestion": suggestion})


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agent.opto.tasks.battleship``."""
    parser = argparse.ArgumentParser(
        prog="python -m agent.opto.tasks.battleship", description=__doc__
    )
    parser.add_argument("--iterations", type=int, default=8)
    parser.add_argument("--shots", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-boards", type=int, default=5)
    add_llm_arguments(parser)
    args = parser.parse_args(argv)
    chat, label = choose_llm(ScriptedCoder(), force_scripted=args.scripted)
    report = train(
        chat,
        iterations=args.iterations,
        shots=args.shots,
        seed=args.seed,
        eval_boards=args.eval_boards,
        model=args.model,
        label=args.model or label,
    )
    for i, line in enumerate(report.feedback, 1):
        print(f"iteration {i}: {line.splitlines()[-1] if line else ''}")
    print(
        f"ship cells hit within {args.shots} shots on {args.eval_boards} unseen boards: "
        f"{report.before:.0%} before, {report.after:.0%} after ({report.optimizer_label})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
