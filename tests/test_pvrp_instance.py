"""PVRP instances: validation, generator distributions, determinism and the .npz format."""
import numpy as np
import pytest

from heurist.envs.pvrp import PVRPInstances, Weights, generate, load_npz, save_npz


def _arrays(S=2, N=4, M=2, zc=False):
    rng = np.random.default_rng(0)
    out = {"depot": rng.random((S, 2)), "locs": rng.random((S, N, 2)),
               "demand": rng.integers(1, 10, (S, N)), "capacity": np.full((S, M), 40),
               "speed": np.ones((S, M)), "preference": rng.random((S, M, N))}
    if zc:
        out["allowed"] = np.ones((S, M, N), dtype=bool)
    return out


def test_sizes_and_select():
    """S, N, M, is_zc reflect the arrays; select(i) is a batch of one holding instance i."""
    inst = PVRPInstances(**_arrays(S=3, N=5, M=2, zc=True))
    assert (inst.S, inst.N, inst.M, inst.is_zc) == (3, 5, 2, True)
    one = inst.select(1)
    assert one.S == 1 and np.array_equal(one.locs[0], inst.locs[1])
    assert np.array_equal(inst[2].demand[0], inst.demand[2])
    assert inst[[0, 2]].S == 2


def test_to_tensordict_round_trip():
    """to_tensordict has batch [S] and the same keys; from_tensordict restores equal arrays."""
    inst = generate(3, n_clients=6, n_vehicles=2, variant="zc", rng=5)
    td = inst.to_tensordict()
    assert td.batch_size == (3,) and set(td.keys()) == set(inst.arrays())
    back = PVRPInstances.from_tensordict(td)
    for key, value in inst.arrays().items():
        assert np.array_equal(getattr(back, key), value), key


@pytest.mark.parametrize("key,bad,msg", [
    ("locs", np.zeros((2, 4, 3)), "'locs'"),
    ("demand", np.zeros((2, 4), dtype=int), "'demand'"),
    ("demand", np.full((2, 4), 1.5), "'demand'"),
    ("speed", np.zeros((2, 2)), "'speed'"),
    ("preference", np.zeros((2, 3, 4)), "'preference'"),
    ("capacity", np.full((2, 2), 3), "'demand'"),
    ("demand", np.full((2, 4), 1e30), r"'demand': must be <= 2\^24 = 16777216 .* got max 1e\+30"),
    ("demand", np.full((2, 4), -3.0), "'demand': must be >= 1, got min -3.0"),
    ("speed", np.array([["a", "b"], ["c", "d"]]), "'speed': must be numeric, got dtype <U1"),
    ("locs", np.full((2, 4, 2), 1j), "'locs': must be numeric, got dtype complex128"),
    ("capacity", np.full((2, 2), 2**64 - 1, dtype=np.uint64), "'capacity': too large for int64"),
])
def test_bad_arrays_name_the_key(key, bad, msg):
    """A bad shape, dtype or value raises ValueError naming the offending key."""
    arrays = _arrays()
    arrays["demand"][:] = 5
    arrays[key] = bad
    with pytest.raises(ValueError, match=msg):
        PVRPInstances(**arrays)


def test_zc_infeasible_clients_rejected():
    """A client with no allowed vehicle, or none able to carry it, is rejected."""
    arrays = _arrays(zc=True)
    arrays["allowed"][1, :, 2] = False
    with pytest.raises(ValueError, match="client 3 has no allowed vehicle"):
        PVRPInstances(**arrays)
    arrays = _arrays(zc=True)
    arrays["demand"][0, 0] = 9
    arrays["capacity"] = np.array([[8, 40], [40, 40]])
    arrays["allowed"][0, 1, 0] = False
    with pytest.raises(ValueError, match="exceeds the capacity of every allowed vehicle"):
        PVRPInstances(**arrays)


def test_weights_validated():
    """Negative or all-zero weights are refused."""
    with pytest.raises(ValueError, match="w_time"):
        Weights(w_time=-1.0)
    with pytest.raises(ValueError, match="both be 0"):
        Weights(w_time=0.0, w_pref=0.0)


@pytest.mark.parametrize("variant", ["p", "zc"])
@pytest.mark.parametrize("preference", ["random", "angle", "cluster", "block"])
def test_same_seed_same_instances(variant, preference):
    """The same seed gives identical batches; another seed gives different locations."""
    kw = {"n_clients": 8, "n_vehicles": 3, "variant": variant, "preference": preference}
    a, b, c = generate(4, **kw, rng=7), generate(4, **kw, rng=7), generate(4, **kw, rng=8)
    for key, value in a.arrays().items():
        assert np.array_equal(getattr(b, key), value), key
    assert not np.array_equal(a.locs, c.locs)


def test_generator_ranges_and_profiles():
    """Demands lie in 1..9; capacity and speed take per-vehicle values; ZC only when asked."""
    inst = generate(50, n_clients=20, n_vehicles=3, capacity=[30, 40, 50], speed=[1.0, 1.5, 2.0],
                    rng=1)
    # the seeded draw: every demand 1..9 occurs, none else
    assert np.bincount(inst.demand.ravel()).tolist() == [0, 129, 117, 102, 109, 107, 90, 121, 117, 108]
    assert not inst.is_zc
    assert np.array_equal(inst.capacity[7], [30, 40, 50]) and np.array_equal(inst.speed[3], [1, 1.5, 2])
    assert (inst.locs.min(), inst.locs.max()) == pytest.approx((9.60405599956804e-05,
                                                                0.9997911436030891), rel=1e-12)


@pytest.mark.parametrize("preference", ["angle", "block"])
def test_sector_preferences_are_one_hot(preference):
    """angle and block give each client preference 1 for exactly one vehicle and 0 for the rest."""
    inst = generate(20, n_clients=30, n_vehicles=5, preference=preference, rng=2)
    assert set(np.unique(inst.preference)) <= {0.0, 1.0}
    assert np.all(inst.preference.sum(axis=1) == 1)


def test_block_every_vehicle_owns_cells():
    """Block preferences deal every vehicle at least one grid cell (seen with many clients)."""
    inst = generate(10, n_clients=2000, n_vehicles=5, preference="block", rng=3)
    assert inst.preference.sum(axis=2).min() == 193


def test_cluster_preference_is_distance_to_centre():
    """Cluster preferences are 1 - d / sqrt 2 of the distance d to the vehicle's centre."""
    inst = generate(5, n_clients=40, n_vehicles=3, preference="cluster", rng=4)
    assert (inst.preference.min(), inst.preference.max()) == pytest.approx(
        (0.14969250514144639, 0.9804970111525612), rel=1e-12)


def test_random_zones_forbid_a_constant_count():
    """Random zones: within an instance every client keeps the same number >= ceil(M/3) of vehicles."""
    inst = generate(40, n_clients=15, n_vehicles=6, variant="zc", rng=5)
    counts = inst.allowed.sum(axis=1)  # [S, N]
    assert np.all(counts == counts[:, :1])
    # r varies between instances: 3..6 allowed vehicles (never fewer than ceil(6/3) = 2)
    values, freq = np.unique(counts[:, 0], return_counts=True)
    assert values.tolist() == [3, 4, 5, 6] and freq.tolist() == [4, 9, 14, 13]


def test_sector_zones_allow_two_neighbours():
    """Sector zones allow the client's sector vehicle and the next one (two vehicles when M >= 2)."""
    inst = generate(10, n_clients=30, n_vehicles=4, variant="zc", zones="sector", rng=6)
    assert np.all(inst.allowed.sum(axis=1) == 2)
    k0 = inst.allowed.argmax(axis=1)
    # allowed vehicles are cyclic neighbours: either (k, k+1) or the wrap-around pair (0, M-1)
    second = np.where(inst.allowed[:, 0, :] & inst.allowed[:, 3, :], 3, k0 + 1)
    assert np.all(np.take_along_axis(inst.allowed, second[:, None, :], axis=1))


def test_generator_rejects_bad_arguments():
    """Unknown kinds and a capacity below the largest demand give ValueError."""
    with pytest.raises(ValueError, match="preference"):
        generate(1, n_clients=3, n_vehicles=2, preference="nope")
    with pytest.raises(ValueError, match="variant"):
        generate(1, n_clients=3, n_vehicles=2, variant="x")
    with pytest.raises(ValueError, match="capacity"):
        generate(1, n_clients=3, n_vehicles=2, capacity=[40, 40, 40])
    with pytest.raises(ValueError, match="capacity"):
        generate(1, n_clients=3, n_vehicles=2, capacity=5)


@pytest.mark.parametrize("variant", ["p", "zc"])
def test_npz_round_trip(tmp_path, variant):
    """save_npz then load_npz restores every array; allowed is present exactly for ZC."""
    inst = generate(3, n_clients=7, n_vehicles=3, variant=variant, rng=9)
    path = save_npz(tmp_path / "x.npz", inst)
    back = load_npz(path)
    assert back.is_zc == (variant == "zc")
    for key, value in inst.arrays().items():
        assert np.array_equal(getattr(back, key), value), key
        assert getattr(back, key).dtype == value.dtype, key


def test_npz_missing_key_names_file_and_key(tmp_path):
    """A file without a required key raises ValueError with the file name and the key."""
    arrays = generate(2, n_clients=4, n_vehicles=2, rng=1).arrays()
    del arrays["speed"]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=r"bad\.npz: key 'speed': missing"):
        load_npz(tmp_path / "bad.npz")


def test_npz_unknown_key_names_file_and_key(tmp_path):
    """A misspelt key (here ``allowd``) is a ValueError naming the file and the key, not a P batch."""
    arrays = generate(2, n_clients=4, n_vehicles=2, variant="zc", rng=1).arrays()
    arrays["allowd"] = arrays.pop("allowed")
    np.savez(tmp_path / "typo.npz", **arrays)
    with pytest.raises(ValueError, match=r"typo\.npz: key 'allowd': unknown key"):
        load_npz(tmp_path / "typo.npz")


def test_npz_bad_shape_and_infeasible_zone(tmp_path):
    """Bad shapes and clients without an allowed vehicle are named with file and key."""
    arrays = generate(2, n_clients=4, n_vehicles=2, variant="zc", rng=1).arrays()
    np.savez(tmp_path / "shape.npz", **{**arrays, "depot": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"shape\.npz: key 'depot'"):
        load_npz(tmp_path / "shape.npz")
    allowed = arrays["allowed"].copy()
    allowed[0, :, 1] = False
    np.savez(tmp_path / "zone.npz", **{**arrays, "allowed": allowed})
    with pytest.raises(ValueError, match=r"zone\.npz: key 'allowed'.*client 2"):
        load_npz(tmp_path / "zone.npz")


def test_npz_not_a_file(tmp_path):
    """A missing path is FileNotFoundError; a directory, text, an empty file, a bare .npy and an
    empty archive are each a ValueError saying what the file is."""
    with pytest.raises(FileNotFoundError, match=r"absent\.npz: no such file"):
        load_npz(tmp_path / "absent.npz")
    with pytest.raises(ValueError, match=r": is a directory, not a \.npz file"):
        load_npz(tmp_path)
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ValueError, match=r"junk\.npz: not a \.npz archive \(no zip signature\)"):
        load_npz(tmp_path / "junk.npz")
    (tmp_path / "zero.npz").write_bytes(b"")
    with pytest.raises(ValueError, match=r"zero\.npz: the file is empty \(0 bytes\)"):
        load_npz(tmp_path / "zero.npz")
    with open(tmp_path / "one.npz", "wb") as fh:
        np.save(fh, np.arange(3))
    with pytest.raises(ValueError, match=r"one\.npz: is a single \.npy array"):
        load_npz(tmp_path / "one.npz")
    np.savez(tmp_path / "none.npz")
    with pytest.raises(ValueError, match=r"none\.npz: the archive holds no arrays"):
        load_npz(tmp_path / "none.npz")


def test_grid_script_writes_reproducible_files(tmp_path):
    """make_pvrp_grid.py writes one loadable file per cell, identical when rerun with the seed."""
    import runpy
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "make_pvrp_grid.py"
    for out in ("a", "b"):
        argv = [str(script), "--out", str(tmp_path / out), "--instances", "2", "--n-clients", "5",
                "--n-vehicles", "2", "3"]
        old, sys.argv = sys.argv, argv
        try:
            with pytest.raises(SystemExit) as exc:
                runpy.run_path(str(script), run_name="__main__")
        finally:
            sys.argv = old
        assert exc.value.code == 0
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(files) == 2 * 2 * 3 and "zc_n5_m3_angle.npz" in files
    for name in files:
        a, b = load_npz(tmp_path / "a" / name), load_npz(tmp_path / "b" / name)
        assert a.S == 2 and a.is_zc == name.startswith("zc")
        assert np.array_equal(a.locs, b.locs) and np.array_equal(a.preference, b.preference)
