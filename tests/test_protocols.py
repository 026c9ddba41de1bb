"""Protocols as data: Brattoli half splits, subsets, masks, padding."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import upt_jax as U
from upt_jax import protocols as P
from upt_jax.errors import UPTError


def _labels(k, n, seed=0):
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([np.arange(k), rng.integers(0, k, n - k)]))


def _names(k, seed=0):
    """K distinct class names in a shuffled (non-alphabetical) dataset order."""
    names = np.array([f"class{i:03d}" for i in range(k)])
    return list(names[np.random.default_rng(100 + seed).permutation(k)])


def _global_permutation(k, seed):
    """``np.random.seed(seed); np.random.permutation(k)`` on the global legacy generator (state restored)."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        return np.random.permutation(k)
    finally:
        np.random.set_state(state)


def _legacy_first_half(k, seed):
    """Brattoli et al.'s split, literally as their main.py draws it."""
    return _global_permutation(k, seed)[: k // 2]


# First 12 entries of np.random.seed(s); np.random.permutation(K)[:K // 2], written out (NumPy legacy MT19937).
LITERAL = {
    (101, 0): [26, 86, 2, 55, 75, 94, 16, 73, 54, 96, 53, 93],
    (101, 9): [75, 42, 46, 68, 3, 39, 23, 20, 70, 73, 41, 26],
    (51, 0): [29, 11, 10, 22, 2, 28, 45, 32, 26, 4, 33, 41],
    (51, 9): [2, 30, 44, 7, 38, 15, 35, 31, 26, 14, 21, 5],
}


@pytest.mark.fast
@pytest.mark.parametrize("k,seed", sorted(LITERAL))
def test_half_split_is_brattolis_legacy_permutation_over_sorted_names(k, seed):
    legacy = _legacy_first_half(k, seed)
    np.testing.assert_array_equal(legacy[:12], LITERAL[(k, seed)])  # the generator itself did not change
    names = _names(k, seed)
    got = P.half_split_classes(names, seed)
    # Brattoli's index i means the i-th name in np.unique (sorted) order; map back to the dataset's order
    expect = np.sort([names.index(n) for n in np.unique(names)[legacy]])
    np.testing.assert_array_equal(got, expect)
    assert got.size == k // 2 and len(set(got.tolist())) == k // 2
    # with the names already sorted the split is the sorted first half itself
    np.testing.assert_array_equal(P.half_split_classes(sorted(names), seed), np.sort(legacy))


@pytest.mark.fast
def test_randomstate_matches_global_seed_and_leaves_state_alone():
    for k in (51, 101):
        for s in range(10):
            np.testing.assert_array_equal(np.random.RandomState(s).permutation(k), _global_permutation(k, s))
    np.random.seed(1234)
    before = np.random.get_state()
    P.half_splits(np.arange(20) % 10, _names(10), seeds=range(10))
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]
    # the default generator gives other splits: the legacy one is not interchangeable
    assert not np.array_equal(np.sort(np.random.default_rng(0).permutation(101)[:50]),
                              P.half_split_classes(sorted(_names(101)), 0))


@pytest.mark.fast
@pytest.mark.parametrize("k,half", [(101, 50), (51, 25), (7, 3)])
def test_half_splits_masks(k, half):
    labels = _labels(k, 5 * k)
    names = _names(k)
    sp = P.half_splits(labels, names)
    assert sp.class_mask.shape == (10, k) and sp.video_mask.shape == (10, labels.size)
    for s in range(10):
        expect = np.zeros(k, bool)
        expect[[names.index(n) for n in np.unique(names)[_legacy_first_half(k, s)]]] = True
        np.testing.assert_array_equal(sp.class_mask[s], expect)
        np.testing.assert_array_equal(sp.video_mask[s], expect[labels])
        assert sp.class_mask[s].sum() == half
    assert sp.names == tuple(f"half:{s}" for s in range(10))
    assert set(sp.family) == {"half"}
    # the splits differ from one another (K = 7 has only 35 possible halves: seeds 0 and 1, 3 and 6 coincide)
    assert len({sp.class_mask[s].tobytes() for s in range(10)}) == (8 if k == 7 else 10)


@pytest.mark.fast
def test_half_splits_need_unique_names():
    labels = _labels(6, 30)
    with pytest.raises(UPTError, match="class names"):
        P.half_splits(labels, 6)
    with pytest.raises(UPTError, match="unique"):
        P.half_splits(labels, ["a", "b", "c", "a", "d", "e"])
    with pytest.raises(UPTError, match="class names"):
        P.from_spec("half", labels, 6)
    with pytest.raises(UPTError, match="5 class names for 6"):
        P.from_spec("half", labels, 6, ["a", "b", "c", "d", "e"])


@pytest.mark.fast
def test_spread_is_population_std():
    mean, std = P.spread([40.0, 42.0, 44.0, 46.0])
    assert mean == 43.0
    assert std == pytest.approx(np.sqrt(5.0), rel=1e-12)  # sqrt(((3^2 + 1 + 1 + 3^2) / 4)), not the ddof=1 2.582
    assert P.spread([7.5]) == (7.5, 0.0)
    assert P.SPREAD_NOTE == "std, ddof = 0"
    with pytest.raises(UPTError, match="finite"):
        P.spread([1.0, np.nan])
    with pytest.raises(UPTError, match="no values"):
        P.spread([])


@pytest.mark.fast
def test_all_subsets_concat_and_spec():
    k, labels = 10, _labels(10, 60)
    names = [f"c{i}" for i in range(k)]
    a = P.all_classes(labels, k)
    assert a.class_mask.all() and a.video_mask.all() and a.names == ("all",)
    sub = P.class_subsets(labels, k, [[0, 1, 2], ["c3", "c9"]], names)
    np.testing.assert_array_equal(np.flatnonzero(sub.class_mask[1]), [3, 9])
    np.testing.assert_array_equal(sub.video_mask[1], np.isin(labels, [3, 9]))
    both = P.from_spec("half:3+all", labels, k, names)
    assert both.names == ("half:0", "half:1", "half:2", "all") and both.family == ("half",) * 3 + ("all",)
    assert P.from_spec("half:2-4", labels, k, names).names == ("half:2", "half:3", "half:4")
    assert P.from_spec("half:1,7", labels, k, names).names == ("half:1", "half:7")
    assert P.from_spec([[0, 1], [2, 3, 4]], labels, k).n_classes.tolist() == [2, 3]
    assert P.from_spec(["all", "half:1"], labels, k, names).names == ("all", "half:0")
    with pytest.raises(UPTError, match="unknown class name"):
        P.class_subsets(labels, k, [["nope", "c1"]], names)
    with pytest.raises(UPTError, match="at least 2"):
        P.class_subsets(labels, k, [[1]])
    with pytest.raises(UPTError, match="not understood"):
        P.from_spec("thirds", labels, k)
    with pytest.raises(UPTError, match="duplicate"):
        P.concat(a, a)


@pytest.mark.fast
def test_compact_gathers_each_split():
    k, labels = 9, _labels(9, 80, seed=3)
    sp = P.half_splits(labels, _names(k), seeds=range(4))
    idx, mask = P.compact(sp.video_mask, multiple=8)
    assert idx.shape[1] % 8 == 0 and idx.shape[1] >= sp.n_videos.max()
    x = np.arange(labels.size)
    for s in range(4):
        np.testing.assert_array_equal(x[idx[s]][mask[s]], np.flatnonzero(sp.video_mask[s]))


@pytest.mark.fast
def test_padded_splits_give_the_metrics_of_sliced_arrays():
    """Masks over the full arrays (vmapped over stacked splits) == slicing."""
    rng = np.random.default_rng(0)
    k, n, d = 13, 200, 8
    labels = _labels(k, n, seed=1).astype(np.int32)
    protos = rng.normal(size=(k, d)).astype(np.float32)
    videos = (protos[labels] + 1.2 * rng.normal(size=(n, d))).astype(np.float32)
    sp = P.concat(P.half_splits(labels, _names(k), seeds=range(5)), P.all_classes(labels, k))
    masked = jax.vmap(lambda cm, vm: U.evaluate(protos, videos, labels, class_mask=cm, video_mask=vm))(
        jnp.asarray(sp.class_mask), jnp.asarray(sp.video_mask)
    )
    for s in range(len(sp)):
        cls = np.flatnonzero(sp.class_mask[s])
        remap = -np.ones(k, np.int32)
        remap[cls] = np.arange(cls.size)
        vm = sp.video_mask[s]
        ref = U.evaluate(protos[cls], videos[vm], remap[labels[vm]])
        for f in ("top1", "top5", "mean_class_accuracy", "unreachable", "n_videos", "n_classes"):
            np.testing.assert_allclose(np.asarray(getattr(masked, f)[s]), np.asarray(getattr(ref, f)), rtol=1e-6, err_msg=f)
        np.testing.assert_array_equal(np.asarray(masked.counts[s])[cls], np.asarray(ref.counts))
    # an independent NumPy top-1 for the first split
    s = 0
    cls = np.flatnonzero(sp.class_mask[s])
    vm = sp.video_mask[s]
    pn = protos[cls] / np.linalg.norm(protos[cls], axis=1, keepdims=True)
    vn = videos[vm] / np.linalg.norm(videos[vm], axis=1, keepdims=True)
    top1 = 100 * np.mean(cls[np.argmax(vn @ pn.T, axis=1)] == labels[vm])
    np.testing.assert_allclose(float(masked.top1[s]), top1, rtol=1e-5)
