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


@pytest.mark.fast
@pytest.mark.parametrize("k,half", [(101, 50), (51, 25), (7, 3)])
def test_half_splits_are_first_half_of_seeded_permutation(k, half):
    labels = _labels(k, 5 * k)
    sp = P.half_splits(labels, k)
    assert sp.class_mask.shape == (10, k) and sp.video_mask.shape == (10, labels.size)
    for s in range(10):
        expect = np.zeros(k, bool)
        expect[np.random.default_rng(s).permutation(k)[: k // 2]] = True
        np.testing.assert_array_equal(sp.class_mask[s], expect)
        np.testing.assert_array_equal(sp.video_mask[s], expect[labels])
        assert sp.class_mask[s].sum() == half
    assert sp.names == tuple(f"half:{s}" for s in range(10))
    assert set(sp.family) == {"half"}
    # the splits differ from one another (K = 7 has only 35 possible halves)
    assert len({sp.class_mask[s].tobytes() for s in range(10)}) >= 9


@pytest.mark.fast
def test_all_subsets_concat_and_spec():
    k, labels = 10, _labels(10, 60)
    names = [f"c{i}" for i in range(k)]
    a = P.all_classes(labels, k)
    assert a.class_mask.all() and a.video_mask.all() and a.names == ("all",)
    sub = P.class_subsets(labels, k, [[0, 1, 2], ["c3", "c9"]], names)
    np.testing.assert_array_equal(np.flatnonzero(sub.class_mask[1]), [3, 9])
    np.testing.assert_array_equal(sub.video_mask[1], np.isin(labels, [3, 9]))
    both = P.from_spec("half:3+all", labels, k)
    assert both.names == ("half:0", "half:1", "half:2", "all") and both.family == ("half",) * 3 + ("all",)
    assert P.from_spec("half:2-4", labels, k).names == ("half:2", "half:3", "half:4")
    assert P.from_spec("half:1,7", labels, k).names == ("half:1", "half:7")
    assert P.from_spec([[0, 1], [2, 3, 4]], labels, k).n_classes.tolist() == [2, 3]
    assert P.from_spec(["all", "half:1"], labels, k).names == ("all", "half:0")
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
    sp = P.half_splits(labels, k, seeds=range(4))
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
    sp = P.concat(P.half_splits(labels, k, seeds=range(5)), P.all_classes(labels, k))
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
