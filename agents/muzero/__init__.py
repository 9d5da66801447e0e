"""mallocMuZero: planning with the search library (``heurist.agents.search``) on heurist envs.

AlphaZero mode: ``TrueSimulator`` makes the env's true simulator (``snapshot``/``restore``) the
search's recurrent function; ``search_episodes`` plays whole episodes choosing every action by
search; ``plan_mapping`` plans Malloc mapping instances, every plan checked by the env's oracles.
"""
from heurist.agents.muzero.planner import (
    EpisodeResult,
    MappingResult,
    plan_mapping,
    search_episodes,
)
from heurist.agents.muzero.simulator import PriorFn, TrueSimulator

__all__ = ["EpisodeResult", "MappingResult", "PriorFn", "TrueSimulator", "plan_mapping",
           "search_episodes"]
