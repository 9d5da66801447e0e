"""Learning the paging eviction policy: networks (``nets``), rollouts, imitation and REINFORCE
updates, checkpoints, loggers, and the training and evaluation runs behind ``scripts/``.

Nothing is re-exported here: importing a submodule pulls in torch, so callers name the one they use.
"""
__all__: list[str] = []
