"""Metrics against plain NumPy, with masks (splits) and edge cases."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from upt_jax import metrics
from tests.conftest import unit

pytestmark = pytest.mark.fast


def np_metrics(p, v, labels, cm, vm):
    return np_metrics_scores(v @ p.T, labels, cm, vm)


def np_metrics_scores(s, labels, cm, vm):
    """The metrics' definitions as NumPy loops over any [N, K] score matrix."""
    s = np.array(s, np.float64)
    s[:, ~cm] = -np.inf
    order = np.argsort(-s, axis=1, kind="stable")
    pred = order[:, 0]
    lab, pr, top = labels[vm], pred[vm], order[vm, :5]
    top1 = 100 * np.mean(pr == lab)
    top5 = 100 * np.mean([lab[i] in top[i, : min(5, cm.sum())] for i in range(len(lab))])
    accs = [np.mean(pr[lab == c] == c) for c in np.flatnonzero(cm) if np.any(lab == c)]
    counts = np.bincount(pr, minlength=s.shape[1])
    unreachable = int(np.sum(cm & (counts == 0)))
    return top1, top5, 100 * np.mean(accs), counts, unreachable


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evaluate_matches_numpy_with_masks(seed):
    rng = np.random.default_rng(seed)
    k, n, d = 12, 200, 8
    p, v = unit(rng, k, d), unit(rng, n, d)
    labels = rng.integers(0, k, n)
    cm = rng.random(k) < 0.6
    cm[:2] = True
    vm = cm[labels]
    m = jax.jit(metrics.evaluate)(p, v, labels, class_mask=jnp.asarray(cm), video_mask=jnp.asarray(vm))
    top1, top5, mca, counts, unreach = np_metrics(p.astype(np.float64), v.astype(np.float64), labels, cm, vm)
    assert float(m.top1) == pytest.approx(top1, abs=1e-4)
    assert float(m.top5) == pytest.approx(top5, abs=1e-4)
    assert float(m.mean_class_accuracy) == pytest.approx(mca, abs=1e-4)
    np.testing.assert_array_equal(np.asarray(m.counts), counts)
    assert int(m.unreachable) == unreach
    assert int(m.n_videos) == vm.sum() and int(m.n_classes) == cm.sum()
    names = [f"c{i}" for i in range(k)]
    summ = metrics.summarize(m, names)
    assert summ["unreachable_classes"] == [names[i] for i in np.flatnonzero(cm & (counts == 0))]


def test_fewer_than_five_classes_top5_is_100():
    rng = np.random.default_rng(0)
    p, v = unit(rng, 3, 4), unit(rng, 10, 4)
    m = metrics.evaluate(p, v, rng.integers(0, 3, 10))
    assert float(m.top5) == pytest.approx(100.0)


@pytest.mark.parametrize("seed", [3, 4])
def test_evaluate_scores_matches_numpy_on_any_scores(seed):
    # not cosines: e.g. the object model's or fused scores, with masks
    rng = np.random.default_rng(seed)
    n, k = 150, 9
    s = rng.normal(size=(n, k)) * rng.random(k) + rng.random(k)
    lab = rng.integers(0, k, n)
    cm = rng.random(k) < 0.7
    cm[:2] = True
    vm = cm[lab] & (rng.random(n) < 0.9)
    m = jax.jit(metrics.evaluate_scores)(jnp.asarray(s, jnp.float32), lab, class_mask=jnp.asarray(cm), video_mask=jnp.asarray(vm))
    top1, top5, mca, counts, unreach = np_metrics_scores(s.astype(np.float32), lab, cm, vm)
    assert float(m.top1) == pytest.approx(top1, abs=1e-4)
    assert float(m.top5) == pytest.approx(top5, abs=1e-4)
    assert float(m.mean_class_accuracy) == pytest.approx(mca, abs=1e-4)
    np.testing.assert_array_equal(np.asarray(m.counts), counts)
    assert int(m.unreachable) == unreach


def test_vmap_over_splits_equals_loop():
    rng = np.random.default_rng(2)
    p, v = unit(rng, 8, 6), unit(rng, 50, 6)
    lab = rng.integers(0, 8, 50)
    cms = np.stack([rng.permutation(8) < 4 for _ in range(3)])
    vms = cms[:, lab]
    f = lambda c, m: metrics.evaluate(p, v, lab, class_mask=c, video_mask=m)  # noqa: E731
    vm = jax.vmap(f)(jnp.asarray(cms), jnp.asarray(vms))
    for i in range(3):
        one = f(jnp.asarray(cms[i]), jnp.asarray(vms[i]))
        for x, y in zip(vm, one):
            np.testing.assert_allclose(np.asarray(x)[i], np.asarray(y), atol=1e-5)
