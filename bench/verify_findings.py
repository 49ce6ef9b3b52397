"""How often each verify finding fires on models known to be right, and on known-wrong variants.

Every packaged sample's formulation is right for its problem; a wrong variant
of each optimal sample drops its integrality (every integer variable made
continuous) — the mistake the ``integrality`` finding is for. Both go through
the agent's own check, solve and verify (:mod:`agent.verify`); no LLM is involved.

    .venv/bin/python bench/verify_findings.py
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from agent import nodes
from agent.context import RunContext
from agent.fake import FakeLLM
from agent.state import AgentState
from agent.verify import SEVERITY, severity_of, verify
from modeling.samples import load_samples


def findings(problem: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The findings of one check-solve-verify pass, as the agent records them."""
    ctx = RunContext(llm=FakeLLM([]))
    state: AgentState = {"problem": problem, "document": doc, "attempts": []}
    state.update(nodes.check(state, ctx))  # type: ignore[typeddict-item]
    if state["status"] == "valid":
        state.update(nodes.solve(state, ctx))  # type: ignore[typeddict-item]
        state.update(verify(state, ctx))  # type: ignore[typeddict-item]
    return list((state.get("attempts") or [{}])[-1].get("errors") or [])


def main() -> None:
    right: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    n_right = n_wrong = 0
    for s in load_samples():
        n_right += 1
        right.update(f["code"] for f in findings(s.problem, dict(s.formulation)))
        doc = copy.deepcopy(dict(s.formulation))
        relaxed = False
        for v in (doc.get("variables") or {}).values():
            if isinstance(v, dict) and str(v.get("type", "")).lower() in ("integer", "int"):
                v["type"] = "continuous"
                relaxed = True
        if relaxed and str(s.expected_status) == "optimal":
            n_wrong += 1
            wrong.update(f["code"] for f in findings(s.problem, doc))
    print(f"{'finding':28} {'severity':10} {'right models':>13} {'wrong models':>13}")
    print(f"{'(models checked)':28} {'':10} {n_right:>13} {n_wrong:>13}")
    for code in sorted(set(SEVERITY) | set(right) | set(wrong)):
        sev = severity_of({"code": code})
        print(f"{code:28} {sev:10} {right[code]:>13} {wrong[code]:>13}")


if __name__ == "__main__":
    main()
