"""``heurist export CHECKPOINT --out DIR``: a training checkpoint as a policy artifact folder
(``weights.safetensors`` + ``manifest.json``, read back without unpickling).

The checkpoint (``checkpoint.pt`` of ``scripts/train.py``) holds the weights and the run's whole
config; ``results.json`` beside it, when present, gives the metrics and the train/test split.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

from heurist.cli.common import check_parent

__all__ = ["register", "run"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="write a training checkpoint as a policy artifact (safetensors + JSON)",
        description="Writes CHECKPOINT's network as the folder DIR: weights.safetensors and "
        "manifest.json (format, env and feature layout, network config, training config and "
        "metrics, data provenance, sha256 of the weights).")
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="checkpoint.pt of a training run")
    parser.add_argument("--out", required=True, metavar="DIR", help="new folder to write")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    parser.set_defaults(func=run)


def _check_out(out: Path) -> Path:
    if out.exists():
        raise ValueError(f"--out {out}: already exists; give a new folder (nothing was written)")
    check_parent(out)
    return out


def _read_checkpoint(path: Path) -> dict:
    import torch

    if path.is_dir():
        raise ValueError(f"{path}: is a directory; give the run's checkpoint.pt")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    hint = "pass the checkpoint.pt that scripts/train.py writes"
    if not zipfile.is_zipfile(path):  # torch.save writes a zip; torch's own message is about pickle
        raise ValueError(f"{path}: not a heurist training checkpoint (not a torch.save file); "
                         f"{hint}")
    try:  # a training checkpoint: plain tensors and builtins (weights_only, no code)
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file is "not a checkpoint"
        raise ValueError(f"{path}: not a heurist training checkpoint (unreadable, or it holds "
                         f"objects other than tensors and builtins, which heurist never "
                         f"unpickles); {hint}") from None
    if not (isinstance(blob, dict) and {"net", "config"} <= set(blob)
            and isinstance(blob["config"], dict) and "agent" in blob["config"]):
        raise ValueError(f"{path}: not a heurist training checkpoint (no 'net' and 'config'; "
                         f"{hint})")
    return blob


def _provenance(config: dict, results: dict) -> dict:
    from heurist.agents.data import find_traces, split_traces
    from heurist.policies.export import data_provenance

    env = config.get("env", {})
    try:
        files = find_traces(env.get("data_dir"))
        train, test = split_traces(files, n_train=int(env.get("n_train", 70)))
    except (FileNotFoundError, ValueError) as exc:  # the data moved: say so, export anyway
        return {"data": {"data_dir": env.get("data_dir"), "sha256": None,
                         "note": f"not found at export: {exc}"}}
    train_names = results.get("train_users", [p.name for p in train])
    test_names = results.get("test_users", [p.name for p in test])
    return {"data": data_provenance(files[0].parent, train_names, test_names)}


def run(args) -> int:
    from heurist.agents.trainer import build_net
    from heurist.policies.export import export_policy, read_manifest

    out = _check_out(Path(args.out))
    ckpt = Path(args.checkpoint)
    blob = _read_checkpoint(ckpt)
    results_path = ckpt.parent / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    from omegaconf import OmegaConf

    net = build_net(OmegaConf.create(blob["config"]["agent"]), env_cfg=blob["config"].get("env"))
    try:
        net.load_state_dict(blob["net"])
    except RuntimeError as exc:
        raise ValueError(f"{ckpt}: weights do not fit the config's network "
                         f"({str(exc).splitlines()[0]})") from None
    training = {**blob["config"], "iteration": int(blob.get("iteration", 0))}
    export_policy(net, out, training=training, metrics=results,
                  provenance={**_provenance(blob["config"], results), "checkpoint": str(ckpt)})
    manifest = read_manifest(out)
    if args.json:
        print(json.dumps(manifest, indent=2))
    else:
        print(f"wrote {out}: {manifest['network']['class']} "
              f"({manifest['network']['parameters']:,} parameters), weights sha256 "
              f"{manifest['weights']['sha256']}")
    return 0
