"""The pickle-free policy artifact: round trip, the refusals (checksum, version, network, feature
layout), loading without any unpickler, and ``heurist export`` / ``heurist inspect``."""
from __future__ import annotations

import hashlib
import json
import pickle
import struct

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from heurist.agents.checkpoint import save_checkpoint
from heurist.agents.trainer import build_net
from heurist.cli import main
from heurist.envs.paging.env import REQUEST_FEATURES, SLOT_FEATURES
from heurist.policies.export import (
    FORMAT_NAME,
    FORMAT_VERSION,
    data_provenance,
    export_policy,
    load_policy,
    read_manifest,
)
from heurist.policies.nets import SlotAttentionPolicy

F, F2 = len(SLOT_FEATURES), len(REQUEST_FEATURES)
CONFIG = {"slot_dim": F, "request_dim": F2, "embed_dim": 16, "n_heads": 2, "n_layers": 1,
          "ff_dim": 32, "clip": 10.0}


def _net(seed=0):
    torch.manual_seed(seed)
    return SlotAttentionPolicy(**{k: v for k, v in CONFIG.items()})


def _obs(seed=1, B=3, k=5):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(B, k, dtype=torch.bool)
    mask[0, 3:] = False
    return {"slot_features": torch.rand(B, k, F, generator=g),
            "request_features": torch.rand(B, F2, generator=g), "action_mask": mask}


def _rewrite_manifest(folder, edit):
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


@pytest.fixture()
def artifact(tmp_path):
    return export_policy(_net(), tmp_path / "policy", metrics={"misses": 533},
                         training={"lr": 0.001})


def test_round_trip_same_scores_and_manifest(artifact):
    """Loaded back, the policy gives the (eval-mode) network's exact logits; the manifest records
    the format, the env's feature names, the config and the weights file's sha256 and size."""
    loaded = load_policy(artifact)
    obs = _obs()
    with torch.no_grad():
        want = _net().eval()(obs["slot_features"], obs["request_features"], obs["action_mask"])
    assert torch.equal(loaded.logits(obs), want)
    m = loaded.manifest
    blob = (artifact / "weights.safetensors").read_bytes()
    assert m["format"] == {"name": FORMAT_NAME, "version": FORMAT_VERSION} == \
        {"name": "heurist-policy", "version": 1}
    assert m["env"] == {"name": "Paging", "features": {"slot_features": list(SLOT_FEATURES),
                                                       "request_features": list(REQUEST_FEATURES)}}
    assert m["network"]["class"] == "SlotAttentionPolicy"
    assert m["network"]["config"] == CONFIG
    assert m["network"]["parameters"] == sum(p.numel() for p in _net().parameters())
    assert m["weights"] == {"file": "weights.safetensors", "bytes": len(blob),
                            "sha256": hashlib.sha256(blob).hexdigest(),
                            "tensors": len(_net().state_dict())}
    assert (m["metrics"], m["training"]) == ({"misses": 533}, {"lr": 0.001})
    assert sorted(p.name for p in artifact.iterdir()) == ["manifest.json", "weights.safetensors"]


def test_loading_never_unpickles(artifact, monkeypatch):
    """With pickle and torch.load made to fail, the artifact still loads; the weights file is
    safetensors (an 8-byte header length, then a JSON header)."""
    def refuse(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    assert load_policy(artifact).manifest["network"]["class"] == "SlotAttentionPolicy"
    blob = (artifact / "weights.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    assert json.loads(blob[8:8 + n])["encoder.layers.0.linear1.weight"]["shape"] == [32, 16]


def test_tampered_weights_refused(artifact):
    """One flipped byte in the weights is refused by the checksum, naming the file."""
    path = artifact / "weights.safetensors"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match=r"weights.safetensors: sha256 .* does not match the "
                                         r"manifest's .*: the weights were changed after export"):
        load_policy(artifact)


def test_wrong_format_version_refused(artifact):
    """A manifest of another format version is refused with both versions named."""
    _rewrite_manifest(artifact, lambda m: m["format"].update(version=2))
    with pytest.raises(ValueError, match="format version 2, this heurist reads version 1"):
        load_policy(artifact)


def test_unknown_network_refused(artifact):
    """A network name outside the registry is refused; nothing is imported from the manifest."""
    _rewrite_manifest(artifact, lambda m: m["network"].update({"class": "os.system"}))
    import re

    from heurist.policies.export import NETWORKS

    with pytest.raises(ValueError, match=r"unknown network 'os.system': this heurist knows "
                                         + re.escape(str(sorted(NETWORKS)))):
        load_policy(artifact)


def test_other_feature_layout_refused(artifact):
    """Weights trained on another feature layout are refused, with both layouts shown."""
    _rewrite_manifest(artifact, lambda m: m["env"]["features"]["slot_features"].reverse())
    with pytest.raises(ValueError, match="trained on Paging features .* the installed Paging env "
                                         "gives"):
        load_policy(artifact)


def test_existing_folder_refused_unless_replace(artifact):
    """Export never overwrites a folder unless asked; with replace the new weights land whole."""
    with pytest.raises(ValueError, match="already exists"):
        export_policy(_net(1), artifact)
    export_policy(_net(1), artifact, replace=True)
    assert torch.equal(load_policy(artifact).net.slot_in.weight, _net(1).slot_in.weight)
    assert sorted(p.name for p in artifact.parent.iterdir()) == ["policy"]


def test_data_provenance_of_the_shipped_set(shared_data):
    """Provenance names the shipped set and hashes names and bytes of the files in order."""
    folder = shared_data / "paging" / "brightkite"
    got = data_provenance(folder, ["bk0.txt"], ["bk11.txt"])
    digest = hashlib.sha256()
    for name in ("bk0.txt", "bk11.txt"):
        digest.update(name.encode() + b"\0" + hashlib.sha256((folder / name).read_bytes()).digest())
    assert got["sha256"] == digest.hexdigest()
    assert (got["train_files"], got["test_files"]) == (["bk0.txt"], ["bk11.txt"])


@pytest.fixture()
def checkpoint(tmp_path, shared_data):
    """A checkpoint as scripts/train.py writes it (the smoke experiment's config)."""
    with initialize_config_module("heurist.configs", version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=smoke", f"env.data_dir={shared_data / 'paging' / 'brightkite'}",
            f"trainer.run_dir={tmp_path / 'run'}"])
    torch.manual_seed(0)
    net = build_net(cfg.agent)
    path = save_checkpoint(tmp_path / "run" / "checkpoint.pt", {
        "net": net.state_dict(), "optimizer": {}, "iteration": 4,
        "config": OmegaConf.to_container(cfg, resolve=True)})
    (tmp_path / "run" / "results.json").write_text(json.dumps({"held_out/Learned": 812}))
    return path, net


def test_cli_export_then_inspect(checkpoint, tmp_path, capsys):
    """heurist export writes the artifact of a checkpoint; inspect --json prints its manifest."""
    path, net = checkpoint
    out = tmp_path / "art"
    assert main(["export", str(path), "--out", str(out)]) == 0
    manifest = read_manifest(out)
    assert capsys.readouterr().out == (f"wrote {out}: SlotAttentionPolicy "
                                       f"({manifest['network']['parameters']:,} parameters), "
                                       f"weights sha256 {manifest['weights']['sha256']}\n")
    assert torch.equal(load_policy(out).net.key.weight, net.key.weight)
    assert manifest["training"]["iteration"] == 4
    assert manifest["metrics"] == {"held_out/Learned": 812}
    assert manifest["provenance"]["data"]["dataset"] == "paging/brightkite"
    assert len(manifest["provenance"]["data"]["train_files"]) == 70
    assert main(["inspect", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == manifest
    assert main(["inspect", str(out)]) == 0
    assert "sha256    " + manifest["weights"]["sha256"] + " (verified)" in capsys.readouterr().out


def test_cli_refusals_exit_2_with_one_line(checkpoint, tmp_path, capsys):
    """Tampered weights, an existing --out and a non-checkpoint: exit 2, one stderr line,
    nothing written or touched."""
    path, _ = checkpoint
    out = tmp_path / "art"
    assert main(["export", str(path), "--out", str(out)]) == 0
    capsys.readouterr()
    before = (out / "manifest.json").read_bytes()
    assert main(["export", str(path), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (f"heurist export: error: --out {out}: already exists; give "
                                       f"a new folder (nothing was written)\n")
    assert (out / "manifest.json").read_bytes() == before
    weights = out / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    assert main(["inspect", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"heurist inspect: error: {weights}: sha256 ") and err.count("\n") == 1
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert main(["export", str(junk), "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.startswith(
        f"heurist export: error: {junk}: not a heurist training checkpoint")
    assert not (tmp_path / "x").exists()
