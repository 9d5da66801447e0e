"""Our policies inside real runtimes. ``executorch_planner``: heurist's packing planners as
ExecuTorch memory-planning algorithms (needs the ``executorch`` extra; nothing is imported here,
so ``import heurist.policies.runtimes`` stays free of it)."""
__all__: list[str] = []
