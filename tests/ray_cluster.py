"""The local Ray cluster the Ray tests share (imported by them, not a test module)."""
from __future__ import annotations

import contextlib

#: env var naming the folder where a worker leaves its marker before killing itself once
KILL_MARKER = "HEURIST_TEST_KILL_DIR"


@contextlib.contextmanager
def local_cluster(module, markers):
    """A 2-CPU local Ray cluster whose workers can unpickle ``module``'s functions (they lack
    ``tests/`` on their path) and see ``markers`` as ``$HEURIST_TEST_KILL_DIR``."""
    import ray

    ray.cloudpickle.register_pickle_by_value(module)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {KILL_MARKER: str(markers)}})
    try:
        yield markers
    finally:
        ray.shutdown()
