"""k-means: faithful to scikit-learn, bounded Lloyd == dense Lloyd, masks, seeds, vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from upt_jax import cluster


def _blobs(seed=0, n_per=40, k=6, d=8, spread=0.05):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(k, d)) * 3.0
    lab = np.repeat(np.arange(k), n_per)
    x = means[lab] + spread * rng.normal(size=(len(lab), d))
    return x.astype(np.float32), lab


def _sphere_data(seed=0, n=300, d=12):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) + 0.8 * rng.normal(size=(12, d))[rng.integers(0, 12, n)]
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _same_partition(a, b):
    from sklearn.metrics import adjusted_rand_score

    return adjusted_rand_score(a, b) == pytest.approx(1.0)


@pytest.mark.parametrize("restarts", ["sequential", "parallel"])
def test_inertia_close_to_sklearn(restarts):
    from sklearn.cluster import KMeans

    x = _sphere_data()
    k = 20
    sk = KMeans(n_clusters=k, n_init=10, random_state=0).fit(x)
    res = jax.jit(lambda x, key: cluster.kmeans(x, k, key, n_init=10, restarts=restarts, normalize_centres=False))(
        jnp.asarray(x), jax.random.PRNGKey(0))
    assert bool(res.converged)
    assert float(res.inertia) <= 1.03 * sk.inertia_
    # reported inertia is the inertia of the returned centres and assignment
    c = np.asarray(res.centres)
    a = np.asarray(res.assignment)
    np.testing.assert_allclose(float(res.inertia), np.sum((x - c[a]) ** 2), rtol=1e-4)
    # Lloyd fixed point: every point at its nearest centre, centres = cluster means
    d2 = ((x[:, None, :] - c[None]) ** 2).sum(-1)
    assert np.all(d2[np.arange(len(x)), a] <= d2.min(1) + 1e-5)
    for j in np.unique(a):
        np.testing.assert_allclose(c[j], x[a == j].mean(0), atol=1e-5)


def test_screened_restarts_close_to_full():
    x = jnp.asarray(_sphere_data(1))
    full = cluster.kmeans(x, 20, jax.random.PRNGKey(3), n_init=4)
    screened = cluster.kmeans(x, 20, jax.random.PRNGKey(3), n_init=4, screen_iters=2)
    assert float(screened.inertia) <= 1.02 * float(full.inertia)


def test_blobs_same_partition_as_sklearn():
    from sklearn.cluster import KMeans

    x, lab = _blobs()
    sk = KMeans(n_clusters=6, n_init=10, random_state=0).fit(x)
    res = cluster.kmeans(jnp.asarray(x), 6, jax.random.PRNGKey(1), n_init=10, normalize_centres=False)
    assert _same_partition(np.asarray(res.assignment), sk.labels_)
    assert _same_partition(np.asarray(res.assignment), lab)
    np.testing.assert_allclose(float(res.inertia), sk.inertia_, rtol=1e-3)


def test_bounded_equals_dense_from_same_seeds():
    x = jnp.asarray(_sphere_data(2, n=300))
    key = jax.random.PRNGKey(5)
    seq = cluster.kmeans(x, 30, key, n_init=3, restarts="sequential", normalize_centres=False)
    par = cluster.kmeans(x, 30, key, n_init=3, restarts="parallel", normalize_centres=False)
    np.testing.assert_array_equal(np.asarray(seq.assignment), np.asarray(par.assignment))
    np.testing.assert_allclose(np.asarray(seq.centres), np.asarray(par.centres), atol=1e-5)
    assert int(seq.n_iters) == int(par.n_iters)


def test_zero_weight_points_are_ignored():
    x, lab = _blobs(3)
    outliers = np.full((25, x.shape[1]), 50.0, np.float32)
    xo = np.concatenate([x, outliers])
    w = np.concatenate([np.ones(len(x)), np.zeros(len(outliers))]).astype(np.float32)
    ref = cluster.kmeans(jnp.asarray(x), 6, jax.random.PRNGKey(0), normalize_centres=False)
    res = cluster.kmeans(jnp.asarray(xo), 6, jax.random.PRNGKey(0), weights=jnp.asarray(w), normalize_centres=False)
    a = np.asarray(res.assignment)
    assert np.all(a[len(x):] == -1)
    assert _same_partition(a[: len(x)], lab)
    # same clusters, same centres (up to order), sizes count only weighted points
    order_ref = np.argsort(np.asarray(ref.centres)[:, 0])
    order = np.argsort(np.asarray(res.centres)[:, 0])
    np.testing.assert_allclose(np.asarray(res.centres)[order], np.asarray(ref.centres)[order_ref], atol=1e-4)
    assert float(np.sum(res.sizes)) == pytest.approx(len(x))
    np.testing.assert_allclose(float(res.inertia), float(ref.inertia), rtol=1e-4)


@pytest.mark.parametrize("per_step", [1, 4])
def test_seeding_picks_weighted_distinct_points(per_step):
    x = jnp.asarray(_sphere_data(4, n=200))
    w = jnp.asarray((np.arange(200) % 2).astype(np.float32))  # even rows masked
    c = cluster.kmeans_plus_plus(jax.random.PRNGKey(0), x, 25, w, per_step=per_step)
    idx = np.array([np.flatnonzero(np.all(np.asarray(x) == ci, axis=1))[0] for ci in np.asarray(c)])
    assert np.all(idx % 2 == 1)
    assert len(set(idx.tolist())) == 25


def test_spherical_fixed_point_and_blobs():
    x = _sphere_data(5)
    res = cluster.kmeans(jnp.asarray(x), 15, jax.random.PRNGKey(0), n_init=3, spherical=True)
    c, a = np.asarray(res.centres), np.asarray(res.assignment)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0, atol=1e-5)
    cos = x @ c.T
    assert np.all(cos[np.arange(len(x)), a] >= cos.max(1) - 1e-5)
    for j in np.unique(a):
        m = x[a == j].sum(0)
        np.testing.assert_allclose(c[j], m / np.linalg.norm(m), atol=1e-4)
    np.testing.assert_allclose(float(res.inertia), np.sum(1.0 - cos[np.arange(len(x)), a]), rtol=1e-3)
    xb, lab = _blobs(6)
    xb = xb / np.linalg.norm(xb, axis=1, keepdims=True)
    rb = cluster.kmeans(jnp.asarray(xb), 6, jax.random.PRNGKey(0), spherical=True)
    assert _same_partition(np.asarray(rb.assignment), lab)


def test_seeds_reproducible_and_vmap_equals_loop():
    x = jnp.asarray(_sphere_data(7, n=300))
    f = jax.jit(lambda key: cluster.kmeans(x, 15, key, n_init=2))
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    r1, r2 = f(keys[0]), f(keys[0])
    np.testing.assert_array_equal(np.asarray(r1.centres), np.asarray(r2.centres))
    assert not np.array_equal(np.asarray(f(keys[1]).centres), np.asarray(r1.centres))
    batched = jax.vmap(f)(keys)
    for i in range(3):
        single = f(keys[i])
        np.testing.assert_array_equal(np.asarray(batched.assignment[i]), np.asarray(single.assignment))
        np.testing.assert_allclose(np.asarray(batched.centres[i]), np.asarray(single.centres), atol=1e-5)


def test_bad_k_raises():
    with pytest.raises(ValueError, match="k="):
        cluster.kmeans(jnp.ones((5, 3)), 6, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="restarts"):
        cluster.kmeans(jnp.ones((5, 3)), 2, jax.random.PRNGKey(0), restarts="bogus")
