"""Averages the logits of several slot-attention paging policies trained with the same recipe and
different seeds into one artifact (``SlotAttentionPolicy(members=M)``, issue 11 §2).

    python scripts/paging_slot_ensemble.py --out DIR RUN_POLICY_DIR [RUN_POLICY_DIR ...]

Every member must have the same network config, env options and input predictor (checked). The
manifest keeps the first member's training config (with ``agent.members`` and each member's
seed), the members' summed training CPU seconds and their own validation misses; measure the
ensemble with ``scripts/benchmark_paging_slot.py --artifact DIR --users val``.
"""
from __future__ import annotations

import sys


def main(argv=None) -> int:
    from heurist.cli.common import OneLineParser

    ap = OneLineParser(prog="paging_slot_ensemble.py", description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="artifact folder to write")
    ap.add_argument("members", nargs="+", help="exported slot-policy folders")
    ap.add_argument("--skip-channel", type=int, default=None,
                    help="slot channel added to the averaged logits (6: expected log2 gap)")
    ap.add_argument("--skip-weight", type=float, default=0.0)
    args = ap.parse_args(argv)
    if len(args.members) < 2 and args.skip_channel is None:
        ap.error("give at least 2 member folders, or one and --skip-channel")

    import copy

    from heurist.policies.export import load_network
    from heurist.policies.export.slot_policy import export_policy
    from heurist.policies.nets import SlotAttentionPolicy

    nets, manifests = [], []
    for folder in args.members:
        try:
            net, manifest = load_network(folder)
        except (OSError, ValueError) as exc:
            ap.error(f"{folder}: {exc}")
        if manifest["network"]["class"] != "SlotAttentionPolicy" or "members" in net.config:
            ap.error(f"{folder}: not a single slot-attention policy")
        nets.append(net)
        manifests.append(manifest)
    first = manifests[0]
    for folder, m in zip(args.members[1:], manifests[1:]):
        if m["network"]["config"] != first["network"]["config"]:
            ap.error(f"{folder}: network config differs from the first member's")
        if m["training"]["env"] != first["training"]["env"]:
            ap.error(f"{folder}: env config differs from the first member's")
        if m["provenance"].get("input_predictor") != first["provenance"].get("input_predictor"):
            ap.error(f"{folder}: input predictor differs from the first member's")
    try:
        ens = SlotAttentionPolicy(**first["network"]["config"], members=len(nets),
                                  skip_channel=args.skip_channel, skip_weight=args.skip_weight)
    except ValueError as exc:
        ap.error(str(exc))
    for dst, src in zip(ens.members if len(nets) > 1 else [ens], nets):
        dst.load_state_dict(src.state_dict())
    training = copy.deepcopy(first["training"])
    training["agent"]["members"] = len(nets)
    if args.skip_channel is not None:
        training["agent"].update(skip_channel=args.skip_channel, skip_weight=args.skip_weight)
    training["member_seeds"] = [m["training"]["trainer"]["seed"] for m in manifests]
    metrics = {"members": [{"seed": m["training"]["trainer"]["seed"],
                            "validation_misses": m["metrics"]["misses"]["Learned"],
                            "train_cpu_seconds": m["metrics"]["train_cpu_seconds"]}
                           for m in manifests],
               "train_cpu_seconds": sum(m["metrics"]["train_cpu_seconds"] for m in manifests),
               "train_seconds": sum(m["metrics"]["train_seconds"] for m in manifests),
               "cache_size": first["metrics"]["cache_size"],
               "input_predictor": first["metrics"].get("input_predictor"),
               "train_users": first["metrics"]["train_users"],
               "validation_users": first["metrics"]["test_users"]}
    path = export_policy(ens, args.out, training=training, metrics=metrics,
                         provenance=first["provenance"], replace=True)
    print(f"ensemble of {len(nets)}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
