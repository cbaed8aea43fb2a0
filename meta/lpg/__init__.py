"""Learned policy gradient (LPG, Oh et al. 2020) and temporally-aware LPG (TA-LPG).

* :mod:`jaxrl.meta.lpg.network` -- the rule: a backward-in-time GRU over the agent's trajectory.
* :mod:`jaxrl.meta.lpg.agent` -- an agent (policy + prediction vector) trained by a rule.
"""

from jaxrl.meta.lpg.agent import AgentConfig, AgentNet, AgentState, LPGAgent, lpg_loss
from jaxrl.meta.lpg.network import Y_DIM, LPGInputs, LPGNetwork, backward_gru, load_rule, save_rule, time_inputs

__all__ = [
    "Y_DIM",
    "AgentConfig",
    "AgentNet",
    "AgentState",
    "LPGAgent",
    "LPGInputs",
    "LPGNetwork",
    "backward_gru",
    "load_rule",
    "lpg_loss",
    "save_rule",
    "time_inputs",
]
