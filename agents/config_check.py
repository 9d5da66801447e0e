"""Value checks of the composed training and evaluation configs, before any work starts.

Hydra's configs here are plain YAML, so ``trainer.reinforce_iters=-1`` or ``agent.lr=0`` composes
fine and would fail (or, worse, silently do nothing) minutes later. Each check raises a
``ValueError`` whose message is one line naming the key as an override (``key=value``) and what is
valid, which ``scripts/train.py`` and ``scripts/evaluate.py`` print as their one error line.
"""
from __future__ import annotations

import math
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

__all__ = ["MUZERO_AGENTS", "check_evaluate_config", "check_muzero_config", "check_train_config"]

# Seeds go to torch.manual_seed, which takes at most 64 bits.
_MAX_SEED = 2**63 - 1
# (key, lowest valid value) of every integer setting; booleans and floats have their own lists.
_TRAIN_INTS = (
    ("env.cache_size", 1), ("env.train_window", 1), ("env.n_train", 1),
    ("agent.embed_dim", 1), ("agent.n_heads", 1), ("agent.n_layers", 1), ("agent.ff_dim", 1),
    ("trainer.imitation_iters", 0), ("trainer.reinforce_iters", 0),
    ("trainer.imitation_batch", 1), ("trainer.imitation_epochs", 1), ("trainer.minibatch", 1),
    ("trainer.reinforce_batch", 1), ("trainer.n_samples", 1), ("trainer.chunk", 1),
    ("trainer.ckpt_every", 1), ("trainer.threads", 1),
)
_TRAIN_POSITIVE_FLOATS = ("agent.lr", "agent.reinforce_lr", "agent.clip", "trainer.max_grad_norm")
_TRAIN_BOOLS = ("trainer.resume", "trainer.evaluate", "trainer.export", "trainer.require_beats_lru")
_LOGGER_KINDS = ("wandb", "csv")
_WANDB_MODES = ("offline", "online", "disabled")
_MISSING = object()


def _get(cfg: DictConfig, key: str, default=_MISSING):
    """The resolved value of ``key`` (``default`` if absent and given); a missing key or a broken
    interpolation is a ValueError."""
    try:
        value = OmegaConf.select(cfg, key, throw_on_missing=True, default=_MISSING)
    except OmegaConfBaseException as exc:
        raise ValueError(f"{key}: {str(exc).splitlines()[0]}") from None
    if value is _MISSING:
        if default is not _MISSING:
            return default
        raise ValueError(f"{key} is missing from the config (was it deleted with ~{key}?)")
    return value


def _int(cfg: DictConfig, key: str, low: int, high: int | None = None, *,
         default=_MISSING) -> int:
    value = _get(cfg, key, default)
    valid = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (
            high is not None and value > high):
        raise ValueError(f"{key}={value}: must be {valid}")
    return value


def _positive_float(cfg: DictConfig, key: str) -> float:
    value = _get(cfg, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0):
        raise ValueError(f"{key}={value}: must be a finite number > 0")
    return float(value)


def _bool(cfg: DictConfig, key: str, *, default=_MISSING) -> bool:
    value = _get(cfg, key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key}={value}: must be true or false")  # noqa: TRY004 (exit 2)
    return value


def _choice(cfg: DictConfig, key: str, valid: tuple[str, ...]) -> str:
    value = _get(cfg, key)
    if value not in valid:
        raise ValueError(f"{key}={value}: must be one of {', '.join(valid)}")
    return value


def _check_predictor(cfg: DictConfig) -> None:
    from heurist.envs.paging.predictions import make_predictor

    spec = _get(cfg, "env.predictor")
    if spec in (None, "none"):
        return
    try:
        make_predictor(spec)
    except ValueError as exc:
        raise ValueError(f"env.predictor={spec}: {exc} (or none)") from None


def _check_data(cfg: DictConfig) -> None:
    """The trace folder exists and ``env.n_train`` leaves at least one held-out user."""
    from heurist.agents.data import find_traces

    data_dir = _get(cfg, "env.data_dir")
    if data_dir is not None and not isinstance(data_dir, str):
        raise ValueError(f"env.data_dir={data_dir}: must be a folder path or null "
                         f"(the shipped set)")
    n_files = len(find_traces(data_dir))  # FileNotFoundError names env.data_dir
    _int(cfg, "env.n_train", 1, n_files - 1)


_ROUTING_INTS = (
    ("env.n_clients", 1), ("env.n_vehicles", 1), ("env.test_size", 1), ("env.val_size", 1),
    ("trainer.imitation_iters", 0), ("trainer.reinforce_iters", 0), ("trainer.batch_size", 1),
    ("trainer.n_samples", 1), ("trainer.val_every", 1), ("trainer.baseline_every", 1),
    ("trainer.ckpt_every", 1), ("trainer.threads", 1), ("agent.dim", 1),
    ("trainer.expert_iterations", 1), ("trainer.expert_workers", 1), ("trainer.imitation_epochs", 1),
)
_ROUTING_BOOLS = ("trainer.resume", "trainer.evaluate", "trainer.export", "trainer.amp",
                  "trainer.compile", "trainer.require_beats_classical", "agent.multistart")


def _check_routing(cfg: DictConfig) -> None:
    """The routing task's values (``env.kind=routing``)."""
    from heurist.agents.baselines import BASELINES
    from heurist.agents.routing_task import AGENTS, decode_spec
    from heurist.envs.pvrp import PREFERENCES, VARIANTS, ZONES

    for key, low in _ROUTING_INTS:
        _int(cfg, key, low)
    for key in ("trainer.seed", "env.test_seed", "env.val_seed"):
        _int(cfg, key, 0, _MAX_SEED)
    for key in ("agent.lr", "agent.critic_lr", "trainer.max_grad_norm", "env.capacity",
                "env.speed"):
        _positive_float(cfg, key)
    for key in ("env.w_time", "env.w_pref"):
        value = _get(cfg, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value >= 0):
            raise ValueError(f"{key}={value}: must be a finite number >= 0")
    for key in _ROUTING_BOOLS:
        _bool(cfg, key)
    _choice(cfg, "env.variant", VARIANTS)
    _choice(cfg, "env.preference", PREFERENCES)
    _choice(cfg, "env.zones", ZONES)
    _choice(cfg, "agent.name", tuple(AGENTS))
    _choice(cfg, "agent.baseline", BASELINES)
    _choice(cfg, "trainer.device", ("cpu", "cuda"))
    for key in ("trainer.max_seconds", "agent.lr_final"):
        if OmegaConf.select(cfg, key, default=None) is not None:
            _positive_float(cfg, key)
    init = OmegaConf.select(cfg, "trainer.init_from", default=None)
    if init is not None and not (Path(str(init)) / "manifest.json").is_file():
        raise ValueError(f"trainer.init_from={init}: not a policy artifact folder (no "
                         f"manifest.json there)")
    retire = _bool(cfg, "env.retire", default=False)
    if _get(cfg, "trainer.imitation_iters") > 0 and not retire:
        raise ValueError("trainer.imitation_iters > 0 (the PyVRP warm start) needs "
                         "env.retire=true: PyVRP's routes leave vehicles unused")
    if _get(cfg, "agent.name") != "ptrnet" and _get(cfg, "agent.dim") % _get(cfg, "agent.n_heads"):
        raise ValueError(f"agent.dim={cfg.agent.dim}: must be a multiple of "
                         f"agent.n_heads={cfg.agent.n_heads}")
    if _get(cfg, "agent.baseline") == "shared" and _get(cfg, "trainer.n_samples") < 2 and not (
            _get(cfg, "agent.multistart") or _get(cfg, "agent.name") == "symnco"):
        raise ValueError("trainer.n_samples=1: the shared baseline needs >= 2 rollouts per "
                         "instance (or agent.multistart=true)")
    if _get(cfg, "env.capacity") < 9:
        raise ValueError(f"env.capacity={cfg.env.capacity}: must be >= 9 (the largest demand)")
    for name in _get(cfg, "trainer.decode"):
        try:
            decode_spec(name)
        except ValueError as exc:
            raise ValueError(f"trainer.decode: {exc}") from None
    stop_after = _get(cfg, "trainer.stop_after")
    if stop_after is not None:
        _int(cfg, "trainer.stop_after", 0)
    _choice(cfg, "logger.kind", _LOGGER_KINDS)
    _choice(cfg, "logger.mode", _WANDB_MODES)


#: the search agents (configs/agent/{muzero,gumbel_muzero,alphazero}), trained by
#: agents/muzero/hydra_train.py
MUZERO_AGENTS = ("muzero", "gumbel_muzero", "alphazero")


def check_muzero_config(cfg: DictConfig) -> None:
    """Every value ``agents/muzero/hydra_train.train_muzero`` reads is of the right type and
    range (``ValueError`` with a one-line message), before any work."""
    from heurist.agents.muzero.hydra_train import muzero_config

    _int(cfg, "agent.workers", 0, default=0)
    muzero_config(cfg)
    _int(cfg, "agent.iterations", 1)
    _int(cfg, "agent.eval_instances", 0, default=0)
    _int(cfg, "agent.search.simulations", 1)
    _choice(cfg, "agent.search.policy", ("gumbel", "puct"))
    _int(cfg, "trainer.ckpt_every", 1)
    _int(cfg, "trainer.threads", 1)
    for key in ("trainer.resume", "trainer.evaluate", "trainer.export"):
        _bool(cfg, key)
    if _get(cfg, "trainer.stop_after", None) is not None:
        _int(cfg, "trainer.stop_after", 0)
    budget = _get(cfg, "trainer.max_seconds", None)
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                               or not budget > 0):
        raise ValueError(f"trainer.max_seconds={budget}: must be a number > 0 (or null)")
    _choice(cfg, "logger.kind", _LOGGER_KINDS)
    _choice(cfg, "logger.mode", _WANDB_MODES)


def check_train_config(cfg: DictConfig) -> None:
    """Every value ``scripts/train.py`` reads is of the right type and range (``ValueError``,
    or ``FileNotFoundError`` for the trace folder, with a one-line message)."""
    agent = OmegaConf.select(cfg, "agent.name", default=None)
    if agent in MUZERO_AGENTS:
        check_muzero_config(cfg)
        return
    kind = OmegaConf.select(cfg, "env.kind", default="paging")
    if kind == "routing":
        _check_routing(cfg)
        return
    if kind != "paging":
        raise ValueError(f"env.kind={kind}: must be paging or routing")
    for key, low in _TRAIN_INTS:
        _int(cfg, key, low)
    _int(cfg, "trainer.seed", 0, _MAX_SEED)
    _int(cfg, "env.eval_seed", 0, _MAX_SEED)
    for key in _TRAIN_POSITIVE_FLOATS:
        _positive_float(cfg, key)
    for key in _TRAIN_BOOLS:
        _bool(cfg, key)
    if _get(cfg, "agent.embed_dim") % _get(cfg, "agent.n_heads"):
        raise ValueError(f"agent.embed_dim={cfg.agent.embed_dim}: must be a multiple of "
                         f"agent.n_heads={cfg.agent.n_heads}")
    stop_after = _get(cfg, "trainer.stop_after")
    if stop_after is not None:
        _int(cfg, "trainer.stop_after", 0)
    _choice(cfg, "logger.kind", _LOGGER_KINDS)
    _choice(cfg, "logger.mode", _WANDB_MODES)
    _check_predictor(cfg)
    _check_data(cfg)


def check_evaluate_config(cfg: DictConfig) -> None:
    """Every value ``scripts/evaluate.py`` reads is set, of the right type and range."""
    from heurist.policies.paging import get_policy

    policy = OmegaConf.select(cfg, "policy", default=None)  # ??? (unset) selects as None
    if not policy:
        raise ValueError("policy is not set: pass policy=outputs/train/<run>/policy "
                         "(an exported policy folder or a checkpoint.pt)")
    path = Path(str(policy)).expanduser()
    if path.is_dir() and not (path / "manifest.json").is_file():
        raise ValueError(f"policy={policy}: is a folder without manifest.json; pass the run's "
                         f"policy folder (or its checkpoint.pt)")
    if not path.exists():
        raise FileNotFoundError(f"policy={policy}: not found")
    sizes = _get(cfg, "cache_sizes")
    if OmegaConf.is_list(sizes):
        sizes = list(sizes)
    if not isinstance(sizes, list) or not sizes or any(
            isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in sizes):
        raise ValueError(f"cache_sizes={sizes}: must be a non-empty list of integers >= 1, "
                         f"e.g. cache_sizes=[5,10,20,40]")
    baselines = _get(cfg, "baselines")
    if not OmegaConf.is_list(baselines):
        raise ValueError(f"baselines={baselines}: must be a list, e.g. baselines=[LRU,OPT]")
    for name in baselines:
        try:
            get_policy(str(name))
        except ValueError as exc:
            raise ValueError(f"baselines: {exc}") from None
    _int(cfg, "threads", 1)
    _int(cfg, "env.eval_seed", 0, _MAX_SEED)
    _check_predictor(cfg)
    _check_data(cfg)
