"""Training of the learned paging predictors (issue 11 §2/§3): causal request features ->
next-arrival gap and reuse-distance distributions, exported through the artifact format. The
inference side lives in :mod:`heurist.policies.paging.learned_predictor`.

Run: ``python -m heurist.agents.paging_predictors --out DIR`` (see ``__main__``)."""
__all__: list[str] = []
