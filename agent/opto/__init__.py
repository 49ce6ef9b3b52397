"""Traced workflows and generative optimizers (after Trace/OPTO, OptoPrime, OPRO and GEPA).

::

    from agent.opto import OptoPrime, ParameterNode, bundle, node

    threshold = ParameterNode(0.5, name="threshold", description="cut-off for 'yes'")

    @bundle()
    def decide(score, threshold):
        '''Say yes when the score reaches the threshold.'''
        return "yes" if score >= threshold else "no"

    out = decide(node(0.3), threshold)
    opt = OptoPrime([threshold], llm=chat)       # any agent.llm.ChatModel
    opt.zero_feedback()
    opt.backward(out, "0.3 should have been a yes")
    proposal = opt.propose(); print(proposal.show()); opt.update(proposal)

Concepts keep Trace's names (node, ParameterNode, MessageNode, bundle,
backward, OptoPrime) so its users feel at home; the implementation is ours
and calls LLMs only through :mod:`agent.llm`.
"""

from __future__ import annotations

from agent.opto.bundle import FunModule, bundle
from agent.opto.gepa_optimizer import GEPA, Evaluation, OptoGEPAAdapter
from agent.opto.modules import Module
from agent.opto.nodes import (
    ExceptionNode,
    ExecutionError,
    MessageNode,
    Node,
    ParameterNode,
    TraceMissingInputsError,
    apply_op,
    is_tracing,
    name_scope,
    node,
    stop_tracing,
)
from agent.opto.opro import OPRO
from agent.opto.optimizer import Optimizer, Proposal
from agent.opto.optoprime import SECTIONS, MinibatchSelector, OptoPrime, OptoPrimeMulti, summarize
from agent.opto.parsing import ParsedReply, cast_value, parse_reply
from agent.opto.propagators import (
    GraphPropagator,
    Propagator,
    SumPropagator,
    TraceGraph,
    backward,
)

__all__ = [
    "GEPA",
    "OPRO",
    "SECTIONS",
    "Evaluation",
    "ExceptionNode",
    "ExecutionError",
    "FunModule",
    "GraphPropagator",
    "MessageNode",
    "MinibatchSelector",
    "Module",
    "Node",
    "OptoGEPAAdapter",
    "OptoPrime",
    "OptoPrimeMulti",
    "Optimizer",
    "ParameterNode",
    "ParsedReply",
    "Propagator",
    "Proposal",
    "SumPropagator",
    "TraceGraph",
    "TraceMissingInputsError",
    "apply_op",
    "backward",
    "bundle",
    "cast_value",
    "is_tracing",
    "name_scope",
    "node",
    "parse_reply",
    "stop_tracing",
    "summarize",
]
