"""Learned routing policies as PVRP methods: a policy artifact (``weights.safetensors`` +
``manifest.json``, :mod:`heurist.policies.export`) decoded on a batch of instances, every solution
checked by the env oracles and by :func:`check_routes`, returned as the solvers' records.

``policy:NAME`` names a routing policy shipped in the package (``heurist/policies/artifacts/NAME``,
listed by :func:`shipped_policies`); ``policy:PATH`` any artifact folder. A policy refuses instances of the
other variant (P vs ZC) and any artifact of a non-routing network, with one line saying why.
"""
from __future__ import annotations

import time
from pathlib import Path

from heurist.envs.pvrp.instance import PVRPInstances, Weights
from heurist.policies.pvrp.batch import SolveRecord
from heurist.policies.shipped import ARTIFACTS, resolve_artifact, shipped_artifacts

__all__ = ["DECODES", "ZOO", "LearnedRoutingPolicy", "decode_spec", "load_learned",
           "resolve_policy", "shipped_policies"]

#: the package's shipped artifacts (every env's; the routing ones are those of PVRP envs)
ZOO = ARTIFACTS
#: ``--decode`` values: greedy, aug8 (greedy on the x8 dihedral copies, best kept), sample:N
DECODES = ("greedy", "aug8", "multistart", "multistart_aug8", "sample:N")
_ROUTING_ENVS = ("PVRP", "PVRPSequential")


def shipped_policies() -> dict[str, Path]:
    """Name -> artifact folder of the routing policies shipped in the package."""
    return shipped_artifacts(_ROUTING_ENVS)


def resolve_policy(spec: str) -> Path:
    """The artifact folder of ``spec`` (a shipped name or a path); ``FileNotFoundError`` names
    the shipped ones."""
    shipped = shipped_policies()
    path = resolve_artifact(spec, shipped)
    if path is None:
        names = ", ".join(shipped) or "none"
        raise FileNotFoundError(f"policy {spec!r}: neither a shipped policy ({names}) nor an "
                                f"artifact folder")
    return path


def decode_spec(decode: str) -> dict:
    """The :func:`~heurist.policies.decoding.rollout` keywords of a decode name."""
    name = str(decode)
    if name.startswith("sample:"):
        n = name.split(":", 1)[1]
        if not n.isdigit() or int(n) < 1:
            raise ValueError(f"decode {name}: sample:N needs an integer N >= 1")
        return {"strategy": "sample", "augment": False, "n_samples": int(n)}
    if name not in DECODES[:-1]:
        raise ValueError(f"decode {name}: must be one of {', '.join(DECODES)}")
    return {"strategy": "multistart" if name.startswith("multistart") else "greedy",
            "augment": name.endswith("aug8")}


class LearnedRoutingPolicy:
    """A loaded routing artifact: ``solve(inst, weights=, decode=)`` -> :class:`SolveRecord` list."""

    def __init__(self, net, manifest: dict, folder: Path) -> None:
        self.net, self.manifest, self.folder = net, manifest, folder
        self.env_name = manifest["env"]["name"]
        if self.env_name not in _ROUTING_ENVS:
            raise ValueError(f"{folder}: a policy for the {self.env_name} env, not a routing "
                             f"policy (PVRP or PVRPSequential)")
        env_cfg = manifest.get("training", {}).get("env", {})
        self.variant = env_cfg.get("variant")
        self.retire = bool(env_cfg.get("retire", False))  # trained with vehicles that may retire
        self.trained_on = (f"{env_cfg.get('problem', '?')} N={env_cfg.get('n_clients', '?')} "
                           f"M={env_cfg.get('n_vehicles', '?')}")

    def check_instances(self, inst: PVRPInstances, *, source: str) -> None:
        """Refuses the other variant (a P policy on ZC instances or the reverse)."""
        variant = "zc" if inst.is_zc else "p"
        if self.variant is not None and variant != self.variant:
            raise ValueError(f"{source}: PVRP-{variant.upper()} instances, but the policy "
                             f"{self.folder.name} was trained on PVRP-{self.variant.upper()} "
                             f"({self.trained_on})")

    def solve(self, inst: PVRPInstances, *, weights: Weights | None = None, decode: str = "greedy",
              seed: int = 0, chunk: int = 256, progress: bool = False) -> list[SolveRecord]:
        """Decodes every instance (chunks of ``chunk``); each solution passes the env oracle and
        ``check_routes`` (its objective equal to the env's evaluate) or ``RuntimeError``."""
        import torch
        from tqdm import tqdm

        from heurist.envs.pvrp import PVRPEnv, PVRPSequentialEnv
        from heurist.envs.pvrp.oracle import check_routes, decode_log
        from heurist.policies.decoding import rollout

        spec = decode_spec(decode)
        weights = weights or Weights()
        if weights.minmax:
            raise ValueError("learned policies are trained for the sum objective; --minmax is "
                             "not supported")
        env_cls = PVRPEnv if self.env_name == "PVRP" else PVRPSequentialEnv
        env = env_cls(n_clients=inst.N, n_vehicles=inst.M, weights=weights, retire=self.retire)
        records: list[SolveRecord] = []
        bar = tqdm(total=inst.S, desc=f"policy {self.folder.name}", disable=not progress,
                   leave=False)
        with torch.inference_mode():
            for start in range(0, inst.S, int(chunk)):
                part = inst[list(range(start, min(inst.S, start + int(chunk))))]
                td = part.to_tensordict()
                t0 = time.perf_counter()
                d = rollout(env, self.net, td, seed=seed, **spec)
                secs = (time.perf_counter() - t0) / part.S
                _, rows = decode_log(td, d.actions, priorities=d.priorities, retire=self.retire)
                for i, dec in enumerate(rows):
                    res = check_routes(part[i], dec.routes, weights=weights)
                    want = float(d.objective[i])
                    got = res.objective
                    if not res.ok or got is None or abs(got - want) > 1e-4 * (1 + abs(want)):
                        raise RuntimeError(f"instance {start + i}: the routes fail check_routes "
                                           f"or disagree with evaluate: {res.violations[:2]}")
                    records.append(SolveRecord(index=start + i, objective=float(got),
                                               seconds=secs, routes=dec.routes))
                bar.update(part.S)
        bar.close()
        return records


def load_learned(spec: str) -> LearnedRoutingPolicy:
    """The policy ``spec`` (shipped name or folder), every artifact check passed."""
    from heurist.policies.export import load_network

    folder = resolve_policy(spec)
    net, manifest = load_network(folder)
    return LearnedRoutingPolicy(net, manifest, folder)
