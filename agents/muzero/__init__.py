"""mallocMuZero: planning with the search library (``heurist.agents.search``) on heurist envs.

AlphaZero mode: ``TrueSimulator`` makes the env's true simulator (``snapshot``/``restore``) the
search's recurrent function; ``search_episodes`` plays whole episodes choosing every action by
search; ``plan_mapping`` / ``plan_packing`` plan Malloc mapping / packing instances and ``plan_routes`` PVRP instances (the
``PVRPSequential`` env), every solution checked by the env's oracles.

MuZero mode: ``LearnedModel`` (a ``MuZeroNet``) is the recurrent function instead
(``search_episodes(..., model=)``, ``plan_mapping(..., model=)``); ``MuZeroTrainer`` trains it by
batched self-play, a prioritised ``Replay`` (``SumTree``) and the K-step ``unroll_loss``.

Artifacts: ``load_search_policy("malloc-prior")`` (a shipped name or a folder) gives
``plan_mapping``'s keywords by the artifact's role: the shipped distilled prior
(``distill.export_prior``) as AlphaZero mode's prior, a ``train_muzero.py`` network as MuZero
mode's model.

Packing order (``packing_order``): ``label_instances`` / ``solution_labels`` label zero-slack
instances for the exact ``minimalloc`` search, ``train_packing_order`` / ``train_solution_order``
/ ``train_order_picker`` fit the learned buffer order to them.
"""
from heurist.agents.muzero.model import LearnedModel, UnrollBatch, count_parameters, unroll_loss
from heurist.agents.muzero.packing import PackingResult, plan_packing
from heurist.agents.muzero.packing_order import (
    OrderLabels,
    label_instance,
    label_instances,
    solution_labels,
    train_order_picker,
    train_packing_order,
    train_solution_order,
    zero_slack,
)
from heurist.agents.muzero.planner import (
    EpisodeResult,
    MappingResult,
    plan_mapping,
    search_episodes,
)
from heurist.agents.muzero.replay import Replay
from heurist.agents.muzero.rollout import mapping_rollout
from heurist.agents.muzero.routing import RouteResult, nearest_prior, plan_routes
from heurist.agents.muzero.search_policy import SearchPolicy, load_search_policy
from heurist.agents.muzero.simulator import PriorFn, TrueSimulator
from heurist.agents.muzero.sumtree import SumTree
from heurist.agents.muzero.train import MuZeroConfig, MuZeroTrainer, self_play

__all__ = ["EpisodeResult", "LearnedModel", "MappingResult", "MuZeroConfig", "MuZeroTrainer",
           "OrderLabels", "PackingResult", "PriorFn", "Replay", "RouteResult", "SearchPolicy",
           "SumTree", "TrueSimulator", "UnrollBatch", "count_parameters", "label_instance",
           "label_instances", "load_search_policy", "mapping_rollout", "nearest_prior",
           "plan_mapping", "plan_packing", "plan_routes", "search_episodes", "self_play",
           "solution_labels", "train_order_picker", "train_packing_order",
           "train_solution_order", "unroll_loss", "zero_slack"]
