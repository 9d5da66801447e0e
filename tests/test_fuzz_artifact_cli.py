"""Fuzzing ``heurist export`` and ``heurist inspect`` with generated bad files and folders."""
from __future__ import annotations

import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heurist.cli import main

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
_names = itertools.count()
JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                       lambda kids: st.lists(kids, max_size=3)
                       | st.dictionaries(st.sampled_from(["format", "version", "weights_sha256",
                                                          "network", "env", "x"]), kids,
                                         max_size=4), max_leaves=8)


def one_error_line(captured, command: str, name: str) -> None:
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"heurist {command}: error: ")
    assert name in lines[0] and "Traceback" not in captured.err


@SETTINGS
@given(st.one_of(st.binary(max_size=200), st.just(b"PK\x03\x04" + b"\0" * 40)))
def test_export_of_a_bad_checkpoint_is_one_line(tmp_path, capsys, body):
    """Any non-checkpoint file: exit 2, one line naming it, and no --out folder created."""
    src = tmp_path / f"ckpt{next(_names)}.pt"
    src.write_bytes(body)
    out = tmp_path / f"art{next(_names)}"
    assert main(["export", str(src), "--out", str(out)]) == 2
    one_error_line(capsys.readouterr(), "export", src.name)
    assert not out.exists()


@SETTINGS
@given(st.one_of(st.binary(max_size=120), JSONISH.map(lambda v: json.dumps(v).encode())),
       st.booleans())
def test_inspect_of_a_bad_artifact_is_one_line(tmp_path, capsys, manifest, with_weights):
    """A folder with a broken manifest (and maybe junk weights): exit 2, one line naming it."""
    folder = tmp_path / f"art{next(_names)}"
    folder.mkdir()
    (folder / "manifest.json").write_bytes(manifest)
    if with_weights:
        (folder / "weights.safetensors").write_bytes(b"\x08\0\0\0\0\0\0\0{}      ")
    assert main(["inspect", str(folder)]) == 2
    one_error_line(capsys.readouterr(), "inspect", folder.name)
