"""Everything that learns: rollouts, imitation and REINFORCE updates, checkpoints, loggers, the
training and evaluation runs behind ``scripts/`` and the checks of their Hydra command lines. The
learned policy's inference network and artifact format are run-time parts: ``heurist.policies``.

Nothing is re-exported here: importing a submodule pulls in torch, so callers name the one they use.
"""
__all__: list[str] = []
