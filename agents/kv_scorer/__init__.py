"""Learning the KV-cache eviction scorer (issue 11): training data from SmolLM2's attention over
real text with a fixed train/test split by document (:mod:`.data`, :mod:`.record`), imitation of
the future-attention oracle and export to the policy artifact format (:mod:`.train`). The
inference side is :mod:`heurist.policies.kv.learned`."""
__all__: list[str] = []
