"""Regenerates the CAMP-style PVRP evaluation grid as .npz files.

N in {40, 60, 80, 100} x M in {3, 5, 7} x preference in {random, angle, cluster}, for PVRP-P and
PVRP-ZC. File ``{variant}_n{N}_m{M}_{preference}.npz``; each file draws from its own stream
``SeedSequence([seed, N, M, preference index, variant index])`` so any file can be rebuilt alone.
ZC files carry the preference draw too (unused by the ZC objective) and zones from ``--zones``.

    python scripts/make_pvrp_grid.py --out data/pvrp --instances 16      # small, for CI
    python scripts/make_pvrp_grid.py --out data/pvrp --instances 1280    # full evaluation
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
from tqdm import tqdm

from heurist.envs.pvrp import ZONES, generate, save_npz

__all__ = ["grid_files", "main"]

N_CLIENTS = (40, 60, 80, 100)
N_VEHICLES = (3, 5, 7)
PREFERENCES = ("random", "angle", "cluster")
VARIANTS = ("p", "zc")


def grid_files(out: Path, *, instances: int, seed: int = 1234, zones: str = "random",
               n_clients=N_CLIENTS, n_vehicles=N_VEHICLES, preferences=PREFERENCES,
               variants=VARIANTS, progress: bool = True) -> list[Path]:
    """Writes every grid cell to ``out``; returns the paths."""
    cells = list(itertools.product(variants, n_clients, n_vehicles, preferences))
    paths = []
    for variant, n, m, pref in tqdm(cells, desc="pvrp grid", disable=not progress):
        stream = np.random.SeedSequence([seed, n, m, PREFERENCES.index(pref), VARIANTS.index(variant)])
        inst = generate(instances, n_clients=n, n_vehicles=m, variant=variant, preference=pref,
                        zones=zones, rng=np.random.default_rng(stream))
        paths.append(save_npz(out / f"{variant}_n{n}_m{m}_{pref}.npz", inst))
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--instances", type=int, default=16,
                        help="instances per file (16 for CI, 1280 for the full evaluation)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--zones", choices=ZONES, default="random", help="ZC zone kind")
    parser.add_argument("--n-clients", type=int, nargs="+", default=list(N_CLIENTS))
    parser.add_argument("--n-vehicles", type=int, nargs="+", default=list(N_VEHICLES))
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = parser.parse_args(argv)
    if args.instances < 1:
        raise SystemExit(f"--instances must be >= 1, got {args.instances}")
    paths = grid_files(args.out, instances=args.instances, seed=args.seed, zones=args.zones,
                       n_clients=args.n_clients, n_vehicles=args.n_vehicles, variants=args.variants)
    print(f"wrote {len(paths)} files to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
