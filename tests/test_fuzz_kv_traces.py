"""Fuzz of the KV trace loader: a truncated, bit-flipped, re-headed or random file either loads as
a consistent trace or raises ValueError with one line naming the file; nothing else escapes."""
import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heurist.envs.kv.record import Trace
from heurist.envs.kv.trace_io import load_trace, save_trace

T, L, H = 12, 2, 3
FUZZ = settings(max_examples=80, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _trace() -> Trace:
    rng = np.random.default_rng(0)
    attn = np.tril(rng.random((L, H, T, T))).astype(np.float32)
    attn /= attn.sum(-1, keepdims=True)
    return Trace(ids=np.arange(T), n_prompt=5, layers=np.array([0, 7]), attn=attn,
                 key_norm=rng.random((L, H, T)).astype(np.float32), source="fuzz")


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """The bytes of one valid trace file per format (dense, top-4)."""
    d = tmp_path_factory.mktemp("kv_traces")
    out = {}
    for fmt in ("dense", "topk"):
        save_trace(d / f"{fmt}.safetensors", _trace(), fmt=fmt, k=4)
        out[fmt] = (d / f"{fmt}.safetensors").read_bytes()
    return out


def _check(path):
    """Loads ``path``: a Trace with consistent shapes, or a one-line ValueError naming it."""
    try:
        tr = load_trace(path)
    except ValueError as e:
        msg = str(e)
        assert msg.startswith(str(path)) and "\n" not in msg, msg
        return
    n = len(tr.ids)
    assert tr.attn.shape == (len(tr.layers), tr.attn.shape[1], n, n)
    assert tr.key_norm.shape == tr.attn.shape[:3]
    assert np.isfinite(tr.attn).all() and (tr.attn >= 0).all() and np.isfinite(tr.key_norm).all()
    assert not np.triu(tr.attn, 1).any()  # causal


def test_the_originals_load_exactly(originals, tmp_path):
    """The unmutated files load back to the saved ids, prompt length and layers."""
    for fmt, data in originals.items():
        path = tmp_path / f"{fmt}.safetensors"
        path.write_bytes(data)
        tr = load_trace(path)
        assert tr.ids.tolist() == list(range(T)) and tr.n_prompt == 5
        assert tr.layers.tolist() == [0, 7] and tr.attn.shape == (L, H, T, T)


def _rewrite(src_bytes, path, edit):
    """Writes ``src_bytes``' tensors to ``path`` after ``edit(arrays)``, metadata unchanged."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    src = path.with_suffix(".src")
    src.write_bytes(src_bytes)
    with safe_open(str(src), framework="numpy") as f:
        meta, arrays = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    edit(arrays)
    save_file(arrays, str(path), metadata=meta)


NAN = "attention or key norms hold NaN, inf or negative values"


@pytest.mark.parametrize(("fmt", "key", "index", "value", "message"), [
    ("topk", "topk_cols", (0, 0, 5, 0), 300, "topk_cols[0, 0, 5, 0] = 300 is not a causal column"),
    ("topk", "topk_cols", (1, 2, 5, 1), 9, "topk_cols[1, 2, 5, 1] = 9 is not a causal column"),
    ("topk", "topk_cols", (0, 1, 3, 0), -5, "topk_cols[0, 1, 3, 0] = -5 is not a causal column"),
    ("topk", "topk_resid", (0, 0, 4), np.nan, NAN),
    ("dense", "attn_tril", (1, 1, 10), -0.5, NAN),
    ("dense", "key_norm", (0, 2, 3), np.inf, NAN),
])
def test_corrupt_values_are_refused(originals, tmp_path, fmt, key, index, value, message):
    """Non-causal columns, NaN, inf or negative values are refused, naming the file."""
    path = tmp_path / "corrupt.safetensors"
    _rewrite(originals[fmt], path, lambda a: a[key].__setitem__(index, value))
    with pytest.raises(ValueError) as info:
        load_trace(path)
    assert str(info.value) == f"{path}: invalid trace file ({message})"


@FUZZ
@given(fmt=st.sampled_from(["dense", "topk"]), cut=st.integers(min_value=0, max_value=10**6))
def test_truncated_files(originals, tmp_path, fmt, cut):
    """Any truncation loads cleanly or raises one ValueError line naming the file."""
    data = originals[fmt]
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[:cut % len(data)])
    _check(path)


@FUZZ
@given(fmt=st.sampled_from(["dense", "topk"]),
       edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1,
                      max_size=8))
def test_byte_flips(originals, tmp_path, fmt, edits):
    """Bytes overwritten anywhere (header or data) load cleanly or raise one ValueError line."""
    data = bytearray(originals[fmt])
    for pos, val in edits:
        data[pos % len(data)] = val
    path = tmp_path / "flip.safetensors"
    path.write_bytes(bytes(data))
    _check(path)


@FUZZ
@given(fmt=st.sampled_from(["dense", "topk"]), key=st.sampled_from(
    ["format", "version", "n_prompt", "agg", "mode", "extra", "ids", "layers", "key_norm",
     "attn_tril", "topk_cols", "topk_vals", "topk_resid"]),
       value=st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["dense", "topk", "[]"])))
def test_rewritten_headers(originals, tmp_path, fmt, key, value):
    """A changed metadata value or dropped/renamed tensor loads or fails in one line."""
    data = originals[fmt]
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    if key in header["__metadata__"]:
        if value is None:
            del header["__metadata__"][key]
        else:
            header["__metadata__"][key] = value
    elif key in header:
        entry = header.pop(key)
        if value:  # renamed instead of dropped
            header[value] = entry
    raw = json.dumps(header).encode()
    path = tmp_path / "header.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n:])
    _check(path)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(tmp_path, data):
    """Random bytes raise one ValueError line naming the file."""
    path = tmp_path / "random.safetensors"
    path.write_bytes(data)
    with pytest.raises(ValueError) as info:
        load_trace(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
