"""Everything that acts: one sub-package per decision problem (``paging``, ``malloc``, ``pvrp``,
``kv``), the learned policies' networks (``nets``) and their artifact format (``export``).

Nothing is re-exported here, so ``import heurist.policies.paging`` does not load the solvers of the
other problems.
"""
__all__: list[str] = []
