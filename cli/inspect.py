"""``heurist inspect DIR``: the manifest of a policy artifact, after every load check (format
version, weights checksum, known network, the installed env's feature layout)."""
from __future__ import annotations

import json

__all__ = ["register", "run"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect", help="print and check a policy artifact's manifest",
        description="Checks the policy artifact DIR as loading does (format version, sha256 of "
        "the weights, network, feature layout) and prints its manifest.")
    parser.add_argument("folder", metavar="DIR", help="artifact folder (from heurist export)")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    parser.set_defaults(func=run)


def _summary(m: dict) -> str:
    fmt, net, w, env = m["format"], m["network"], m["weights"], m["env"]
    data = m["provenance"].get("data", {})
    lines = [f"format      {fmt['name']} v{fmt['version']}",
             f"env         {env['name']}",
             *(f"  {group}: {', '.join(names)}" for group, names in env["features"].items()),
             f"network     {net['class']} ({net['parameters']:,} parameters)",
             f"  config    {json.dumps(net['config'])}",
             f"weights     {w['file']} ({w['bytes']:,} bytes, {w['tensors']} tensors)",
             f"  sha256    {w['sha256']} (verified)",
             (f"data        {data.get('dataset') or data.get('data_dir')} "
              f"({len(data.get('train_files', []))} train / {len(data.get('test_files', []))} "
              f"test files, sha256 {data.get('sha256')})")]
    metrics = {k: v for k, v in m["metrics"].items() if isinstance(v, (int, float, str))}
    lines += [f"metrics     {json.dumps(metrics)}"] if metrics else []
    return "\n".join(lines)


def run(args) -> int:
    from heurist.policies.export.manifest import read_manifest

    # the distilled paging scorers are numpy arrays, not a torch network: their own loader runs
    # the same checks (format, sha256, class, feature layout, array shapes)
    if read_manifest(args.folder)["network"].get("class") == "DistilledPagingScorer":
        from heurist.policies.paging.distilled import load_distilled

        load_distilled(args.folder)
        manifest = read_manifest(args.folder)
    else:
        from heurist.policies.export import load_network

        _, manifest = load_network(args.folder)
    print(json.dumps(manifest, indent=2) if args.json else _summary(manifest))
    return 0
