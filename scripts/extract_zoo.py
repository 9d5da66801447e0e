"""Extracts the malloc model zoo into the on-disk cache, with progress.

    python scripts/extract_zoo.py [--models gpt2,smollm2,...] [--modes inference,training]
        [--batches 1,8] [--seqs 128,512] [--refresh]

Vision models ignore ``--seqs``. Prints one summary line per instance.
"""
from __future__ import annotations

import argparse
import itertools

from rich.console import Console
from rich.progress import track

from heurist.envs.malloc.cache import load_or_extract
from heurist.envs.malloc.oracle import peak_live_bytes
from heurist.envs.malloc.zoo import ZOO

__all__ = ["main", "zoo_jobs"]


def zoo_jobs(models, modes, batches, seqs):
    """The (model, mode, batch, seq) tuples to extract; vision models take one seq."""
    jobs = []
    for m, mode, b in itertools.product(models, modes, batches):
        for s in (seqs if ZOO[m].kind == "text" else seqs[:1]):
            jobs.append((m, mode, b, s))
    return jobs


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(ZOO))
    ap.add_argument("--modes", default="inference,training")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--seqs", default="128,512")
    ap.add_argument("--refresh", action="store_true")
    a = ap.parse_args(argv)
    models = a.models.split(",")
    for m in models:
        if m not in ZOO:
            ap.error(f"unknown model {m!r}; known: {', '.join(ZOO)}")
    jobs = zoo_jobs(models, a.modes.split(","), [int(x) for x in a.batches.split(",")],
                    [int(x) for x in a.seqs.split(",")])
    con = Console()
    for m, mode, b, s in track(jobs, description="extracting", console=con):
        inst = load_or_extract(m, batch=b, seq=s, mode=mode, refresh=a.refresh)
        peak = peak_live_bytes(inst)
        con.print(f"{inst.name}: N={inst.n} ops={inst.n_ops} uses={inst.n_uses} "
                  f"peak={peak / 2**20:.1f} MiB GFLOP={inst.op_flops.sum() / 1e9:.2f}")


if __name__ == "__main__":
    main()
