"""Scaling out on existing engines: Ray tasks for evaluation (:mod:`.ray_eval`), Ray actors for
MuZero self-play feeding the learner's replay (:mod:`.selfplay`) and data-parallel training of
the routing attention models with ``torchrun`` (:mod:`.ddp`).

Nothing is re-exported: each submodule imports its engine (Ray, torch.distributed) on use.
"""
__all__: list[str] = []
