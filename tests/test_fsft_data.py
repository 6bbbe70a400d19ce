import numpy as np
import pytest

from aitom.classify.deep.fsft.data import batch_dataset, few_shot_split, sample_pair_groups, stratified_pool
from aitom.errors import InputError

NAMES = ("a", "b", "c", "d")


def labels(n_per_class, k=4):
    return np.repeat(np.arange(k), n_per_class)


def test_split_is_disjoint_stratified_and_seeded():
    ys, yt = labels(20), labels(30)
    sp = few_shot_split(ys, yt, NAMES, shots=5, target_test_fraction=0.5, source_val_fraction=0.1, seed=3)
    assert np.array_equal(np.bincount(yt[sp.target_shots]), [5] * 4)
    t = [set(sp.target_shots), set(sp.target_unlabelled), set(sp.target_test)]
    assert not (t[0] & t[1] or t[0] & t[2] or t[1] & t[2])
    assert set().union(*t) == set(range(len(yt)))
    assert not set(sp.source_train) & set(sp.source_val)
    assert len(sp.target_test) == 4 * round(0.5 * 25)
    again = few_shot_split(ys, yt, NAMES, shots=5, target_test_fraction=0.5, source_val_fraction=0.1, seed=3)
    assert again.to_dict() == sp.to_dict()
    other = few_shot_split(ys, yt, NAMES, shots=5, target_test_fraction=0.5, source_val_fraction=0.1, seed=4)
    assert not np.array_equal(other.target_shots, sp.target_shots)


def test_split_one_shot_and_unlabelled_target():
    yt = np.concatenate([labels(3), np.full(7, -1)])
    sp = few_shot_split(labels(5), yt, NAMES, shots=1)
    assert len(sp.target_shots) == 4
    assert set(np.flatnonzero(yt < 0)) <= set(sp.target_unlabelled)


def test_split_rejects_too_few_shots_naming_the_class():
    yt = labels(5)
    yt[yt == 2] = -1
    with pytest.raises(InputError, match="'c'.*0 labelled"):
        few_shot_split(labels(5), yt, NAMES, shots=3)
    with pytest.raises(InputError, match="shots"):
        few_shot_split(labels(5), labels(5), NAMES, shots=0)


def test_pair_groups_relations_balance_and_diversity():
    rng = np.random.default_rng(0)
    ys, yt = labels(6), labels(3)
    p = sample_pair_groups(ys, yt, 400, rng)
    assert np.array_equal(np.bincount(p["group"]), [400] * 4)
    same = p["label_a"] == p["label_b"]
    np.testing.assert_array_equal(same, np.isin(p["group"], [0, 1]))
    np.testing.assert_array_equal(p["b_target"], np.isin(p["group"], [1, 3]))
    assert np.array_equal(ys[p["a"]], p["label_a"])
    lb = np.where(p["b_target"], yt[np.minimum(p["b"], len(yt) - 1)], ys[p["b"]])
    assert np.array_equal(lb, p["label_b"])
    assert p["b"][p["b_target"]].max() < len(yt)  # target members come from the shots pool only
    g1 = p["group"] == 0
    assert not np.any(p["a"][g1] == p["b"][g1])
    for g in (2, 3):  # every ordered pair of different classes occurs
        m = p["group"] == g
        combos = set(zip(p["label_a"][m], p["label_b"][m]))
        assert len(combos) == 4 * 3


def test_pair_groups_subset():
    p = sample_pair_groups(labels(4), labels(2), 10, np.random.default_rng(1), groups=(1, 3))
    assert set(p["group"]) == {1, 3} and p["b_target"].all()


def test_stratified_pool():
    y = labels(10)
    pool = stratified_pool(y, np.arange(len(y)), 3, np.random.default_rng(0))
    assert np.array_equal(np.bincount(y[pool]), [3] * 4)


def test_batch_dataset_streams_standardised_rows_from_a_memmap(tmp_path):
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(10, 8, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    y = np.arange(10)
    seen = []
    for xb, yb in batch_dataset(mm, y, np.arange(10), 4, seed=0):
        assert xb.shape[1:] == (8, 8, 8, 1)
        np.testing.assert_allclose(xb.numpy().mean(axis=(1, 2, 3, 4)), 0, atol=1e-5)
        for v, label in zip(xb.numpy(), yb.numpy()):
            ref = (x[label] - x[label].mean()) / x[label].std()
            np.testing.assert_allclose(v[..., 0], ref, atol=1e-4)
        seen += list(yb.numpy())
    assert sorted(seen) == list(range(10))


def test_standardize_is_exact_for_huge_values():
    from aitom.image.normalize import standardize
    v = np.random.default_rng(0).normal(size=(2, 16, 16, 16)).astype(np.float32)
    big = standardize(v * np.float32(1e18))  # float32 sums of squares would overflow here
    np.testing.assert_allclose(big, standardize(v), atol=1e-5)
    assert big.dtype == np.float32


def test_standardize_matches_float64_statistics_and_keeps_its_input():
    from aitom.image.normalize import standardize
    v = (np.random.default_rng(1).normal(size=(3, 12, 12, 12)) * 40 + 1000).astype(np.float32)
    kept = v.copy()
    want = (v - v.mean(axis=(1, 2, 3), keepdims=True, dtype=np.float64)) / v.std(axis=(1, 2, 3), keepdims=True,
                                                                                dtype=np.float64)
    np.testing.assert_allclose(standardize(v), want, atol=1e-5)
    np.testing.assert_allclose(standardize(v[1]), want[1], atol=1e-5)  # one volume, no batch axis
    np.testing.assert_array_equal(v, kept)


def test_cross_domain_pairs_use_every_shot_equally_often():
    """Shots are drawn without replacement: each of the 12 shots appears 3 or 4 times in 40 pairs of a group."""
    yt = labels(3)  # 4 classes x 3 shots
    p = sample_pair_groups(labels(6), yt, 40, np.random.default_rng(2), groups=(1,))
    counts = np.bincount(p["b"], minlength=len(yt))
    assert counts.min() >= 3 and counts.max() <= 4


def test_cycled_permutation():
    from aitom.classify.deep.fsft.data import cycled_permutation
    out = cycled_permutation(5, 12, np.random.default_rng(0))
    assert len(out) == 12
    for start in (0, 5):
        assert sorted(out[start:start + 5]) == list(range(5))


def test_rotate_180_is_a_proper_rotation_that_keeps_the_missing_wedge():
    from aitom.classify.deep.fsft.data import rotate_180
    from aitom.image.vol.wedge.util import wedge_mask
    rng = np.random.default_rng(0)
    v = rng.normal(size=(4, 8, 8, 8)).astype(np.float32)
    out = rotate_180(v, np.array([0, 1, 2, 3]))
    np.testing.assert_array_equal(out[0], v[0])
    np.testing.assert_array_equal(out[1], v[1][:, ::-1, ::-1])  # about x
    np.testing.assert_array_equal(out[3], v[3][::-1, ::-1, :])  # about z
    np.testing.assert_array_equal(rotate_180(out, np.array([0, 1, 2, 3])), v)  # each is its own inverse
    in_place = v.copy()
    assert rotate_180(in_place, np.array([0, 1, 2, 3]), out=in_place) is in_place
    np.testing.assert_array_equal(in_place, out)
    # the missing wedge of a tilt series about y, with the beam along z, maps onto itself
    w = wedge_mask((9, 9, 9), 30.0)  # centred spectrum, odd size: the flips fix the zero frequency
    for code in range(4):
        flipped = rotate_180(w[None], np.array([code]))[0]
        np.testing.assert_array_equal(flipped, w)


def test_augmentation_codes_are_seeded_and_uniform():
    from aitom.classify.deep.fsft.data import augmentation_codes
    a = augmentation_codes(4000, 3)
    np.testing.assert_array_equal(a, augmentation_codes(4000, 3))
    assert np.all(np.abs(np.bincount(a % 4, minlength=4) - 1000) < 120)  # the rotation part
    np.testing.assert_array_equal(a % 4, np.random.default_rng(3).integers(0, 4, 4000))  # drawn as before the read seeds
    assert len(np.unique(a // 4)) > 3990  # read seeds: fresh per row
    assert not augmentation_codes(10, None).any()


def test_stacked_volumes_read_each_part_in_order_and_pass_the_read_seeds_on():
    from aitom.classify.deep.fsft.data import StackedVolumes
    from aitom.classify.deep.fsft.domain_transfer import TransferredVolumes, mean_amplitude_spectrum

    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 8, 8, 8)).astype(np.float32)
    b = rng.normal(size=(4, 8, 8, 8)).astype(np.float32)
    noisy = TransferredVolumes(b, None, mean_amplitude_spectrum(b, np.arange(4)), seed=1)
    view = StackedVolumes([a, noisy])
    assert len(view) == 7 and view.shape == (7, 8, 8, 8)
    rows, seeds = np.array([5, 0, 3, 2]), np.array([9, 9, 9, 9])
    out = view.read(rows, seeds)
    np.testing.assert_array_equal(out[1], a[0])
    np.testing.assert_array_equal(out[3], a[2])
    np.testing.assert_array_equal(out[[0, 2]], noisy.read(np.array([2, 0]), np.array([9, 9])))
    assert not np.allclose(view.read(rows, seeds + 1)[0], out[0])  # a fresh read seed: fresh noise
    np.testing.assert_array_equal(view.read(rows, seeds + 1)[1], a[0])  # arrays ignore it
    xb, yb = next(iter(batch_dataset(view, np.arange(7), rows, 4)))  # a batch is read in sorted row order
    assert list(yb.numpy()) == [0, 2, 3, 5]
    np.testing.assert_allclose(xb[0, ..., 0], (a[0] - a[0].mean()) / a[0].std(), atol=1e-4)
    with pytest.raises(ValueError, match="different shapes"):
        StackedVolumes([a, np.zeros((2, 6, 6, 6), np.float32)])
