"""k-means: scikit-learn's algorithm (seeding, Lloyd, relocation, stopping), bounded == dense, masks, vmap.

References written here: scikit-learn's ``KMeans`` from the same initial
centres (labels, centres, ``n_iter_``), NumPy transcriptions of the
tolerance rule, of the empty-cluster relocation and of brute-force greedy
seeding, and the D^2 distribution of k-means++ (chi-square). The paper-size
inertia check (N = 13,320, C = 1000, 5 seeds) is ``benchmarks/fidelity.py``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import chisquare
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from upt_jax import cluster
from upt_jax.errors import UPTError


@pytest.fixture(autouse=True, scope="module")
def _one_thread_for_sklearn():
    # scikit-learn's OpenMP threads spin while they wait: on a loaded 2-core machine they burn 5x the
    # CPU of one thread for the same result (JAX's own thread pool is not affected)
    with threadpool_limits(limits=1):
        yield


def _blobs(seed=0, n_per=40, k=6, d=8, spread=0.05):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(k, d)) * 3.0
    lab = np.repeat(np.arange(k), n_per)
    x = means[lab] + spread * rng.normal(size=(len(lab), d))
    return x.astype(np.float32), lab


def _sphere_data(seed=0, n=300, d=12, groups=12):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) + 0.8 * rng.normal(size=(groups, d))[rng.integers(0, groups, n)]
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _same_partition(a, b):
    return adjusted_rand_score(a, b) == pytest.approx(1.0)


_STATIC = ("k", "n_init", "max_iter", "spherical", "normalize_centres", "restarts", "seeding", "n_trials",
           "seeding_per_step", "screen_iters")
_kmeans = jax.jit(cluster.kmeans, static_argnames=_STATIC)  # tol, weights and init stay traced: fewer compiles


def _run(x, init, weights=None, **kw):
    """k-means from given centres (weights always passed, so calls share one compilation)."""
    w = np.ones(len(x)) if weights is None else weights
    return _kmeans(jnp.asarray(x, jnp.float32), init.shape[0], None, weights=jnp.asarray(w, jnp.float32),
                   init=jnp.asarray(init, jnp.float32), normalize_centres=False, **kw)


X_LLOYD = _sphere_data(1, n=400, d=10)  # Lloyd and relocation tests: one shape, k = 25


def _init(seed=1):
    return X_LLOYD[np.random.default_rng(seed).choice(len(X_LLOYD), 25, replace=False)].copy()


# ----------------------------------------------------------------------------- stopping rule and Lloyd


def test_tolerance_is_tol_times_mean_feature_variance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 7)) * np.arange(1, 8)  # features of different variance
    hand = 1e-4 * np.mean([np.mean((x[:, j] - x[:, j].mean()) ** 2) for j in range(7)])
    np.testing.assert_allclose(float(cluster.tolerance(jnp.asarray(x, jnp.float32), 1e-4)), hand, rtol=1e-5)
    # weight-0 points are left out; positive weights do not reweight the variance (scikit-learn's np.var)
    w = np.where(np.arange(50) < 30, rng.uniform(0.5, 3.0, 50), 0.0)
    hand_kept = 0.3 * np.mean(np.var(x[:30], axis=0))
    np.testing.assert_allclose(float(cluster.tolerance(jnp.asarray(x), 0.3, jnp.asarray(w))), hand_kept, rtol=1e-5)


def _numpy_lloyd(x, init, tol, max_iter=300):
    """scikit-learn's Lloyd loop (no empty clusters here), written out: (centres, labels, n_iter)."""
    abs_tol = tol * np.mean(np.var(x, axis=0))
    c = init.astype(np.float64)
    old = np.full(len(x), -1)
    for it in range(max_iter):
        lab = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
        new = np.stack([x[lab == j].mean(0) for j in range(len(c))])
        shift = ((new - c) ** 2).sum()
        c = new
        if np.array_equal(lab, old):
            return c, lab, it + 1
        if shift <= abs_tol:
            break
        old = lab
    return c, ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1), it + 1


@pytest.mark.parametrize("tol", [1e-4, 0.2])  # 0.2: the centre-shift rule stops Lloyd before the labels settle
@pytest.mark.parametrize("restarts", ["sequential", "parallel"])
def test_lloyd_equals_sklearn_from_the_same_init(tol, restarts):
    x, init = X_LLOYD, _init()
    sk = KMeans(25, init=init, n_init=1, tol=tol, max_iter=300).fit(x)
    ref_c, ref_lab, ref_it = _numpy_lloyd(x.astype(np.float64), init, tol)
    res = _run(x, init, tol=tol, restarts=restarts)
    assert int(res.n_iters) == sk.n_iter_ == ref_it
    np.testing.assert_array_equal(np.asarray(res.assignment), sk.labels_)
    np.testing.assert_array_equal(np.asarray(res.assignment), ref_lab)
    np.testing.assert_allclose(np.asarray(res.centres), sk.cluster_centers_, atol=2e-6)
    np.testing.assert_allclose(np.asarray(res.centres), ref_c, atol=2e-6)
    np.testing.assert_allclose(float(res.inertia), sk.inertia_, rtol=1e-5)
    assert bool(res.converged)
    if tol == 0.2:  # the shift rule fired: the labels would still change
        assert ref_it < _numpy_lloyd(x.astype(np.float64), init, 1e-12)[2]


# ----------------------------------------------------------------------------- empty clusters


def _numpy_relocation_step(x, w, c):
    """One centre step with scikit-learn's relocation, written out (weights w, 0 = masked)."""
    lab = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
    sums = np.zeros_like(c)
    sizes = np.zeros(len(c))
    for i in range(len(x)):
        sums[lab[i]] += w[i] * x[i]
        sizes[lab[i]] += w[i]
    empty = np.flatnonzero(sizes == 0)
    d2 = np.where(w > 0, ((x - c[lab]) ** 2).sum(-1), -np.inf)
    far = np.argsort(-d2, kind="stable")[: len(empty)]
    for e, i in zip(empty, far):
        sums[lab[i]] -= w[i] * x[i]
        sizes[lab[i]] -= w[i]
        sums[e] = w[i] * x[i]
        sizes[e] = w[i]
    return sums / sizes[:, None], empty, far


def test_relocation_step_and_iteration_cap():
    x = X_LLOYD.astype(np.float64).copy()
    w = np.ones(len(x))
    x[3], w[3] = 100.0, 0.0  # a masked point far from everything: never taken
    w[7] = 2.5
    init = _init(2)
    init[5] = 10.0  # no point: empty
    init[9] = init[8]  # duplicate: the second copy is empty
    want, empty, far = _numpy_relocation_step(x, w, init)
    assert empty.tolist() == [5, 9] and 3 not in far
    res = _run(x, init, weights=w, max_iter=1)
    np.testing.assert_allclose(np.asarray(res.centres), want, atol=2e-6)
    assert int(res.n_iters) == 1 and not bool(res.converged)


@pytest.mark.parametrize("restarts", ["sequential", "parallel"])
def test_relocation_run_equals_sklearn_and_leaves_no_cluster_empty(restarts):
    x, init = X_LLOYD, _init(3)
    init[5] = 10.0
    init[9] = init[8]
    d2 = ((x[:, None] - init[None]) ** 2).sum(-1)
    assert not np.any(np.isin(d2.argmin(1), [5, 9]))  # without relocation these would stay empty
    sk = KMeans(25, init=init, n_init=1).fit(x)
    res = _run(x, init, tol=1e-4, restarts=restarts)  # tol passed as in the test above: same compilation
    np.testing.assert_array_equal(np.asarray(res.assignment), sk.labels_)
    np.testing.assert_allclose(np.asarray(res.centres), sk.cluster_centers_, atol=2e-6)
    assert int(res.n_iters) == sk.n_iter_
    assert float(np.min(res.sizes)) >= 1.0


# ----------------------------------------------------------------------------- seeding


def _brute_greedy(x, w, first, k):
    """Greedy seeding with every point a candidate: each new centre minimises the weighted potential."""
    idx = [first]
    mind = ((x - x[first]) ** 2).sum(-1)
    for _ in range(1, k):
        d2 = ((x[:, None, :] - x[None]) ** 2).sum(-1)  # [n, n]
        pots = (w[:, None] * np.minimum(mind[:, None], d2)).sum(0)
        pots[w <= 0] = np.inf
        j = int(np.argmin(pots))
        idx.append(j)
        mind = np.minimum(mind, d2[:, j])
    return idx


def test_greedy_seeding_picks_the_best_candidate():
    # with many candidates per centre, greedy k-means++ = brute-force greedy (after the random first centre)
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(size=(4, 2)) * 0.1 + m for m in ([0, 0], [5, 0], [0, 6], [9, 9], [3, 3])])
    x = x.astype(np.float32)
    w = rng.uniform(0.5, 3.0, len(x)).astype(np.float32)
    w[2] = 0.0
    seed = jax.jit(jax.vmap(lambda kk, x, w: cluster.kmeans_plus_plus(kk, x, 5, w, n_trials=300), in_axes=(0, None, None)))
    for c in np.asarray(seed(jax.random.split(jax.random.PRNGKey(0), 4), x, w)):
        idx = [int(np.flatnonzero(np.all(x == ci, axis=1))[0]) for ci in c]
        assert idx == _brute_greedy(x.astype(np.float64), w.astype(np.float64), idx[0], 5)
        assert w[idx].min() > 0


def test_kmeans_plus_plus_draws_from_d2():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 3)).astype(np.float32)
    w = np.array([1, 2, 0, 1, 3, 1, 0.5], np.float32)
    keys = jax.random.split(jax.random.PRNGKey(1), 20000)
    # x and w are arguments, not constants of the program: XLA would constant-fold [20000, ...] arrays
    seed = jax.jit(jax.vmap(lambda kk, x, w: cluster.kmeans_plus_plus(kk, x, 2, w, n_trials=1), in_axes=(0, None, None)))
    c = np.asarray(seed(keys, x, w))
    idx = np.argmin(((c[:, :, None, :] - x[None, None]) ** 2).sum(-1), axis=-1)  # [keys, 2] point indices
    first = np.bincount(idx[:, 0], minlength=7)
    assert first[2] == 0 and chisquare(first[w > 0], w[w > 0] / w.sum() * len(idx)).pvalue > 1e-3
    for f in (1, 4):
        sel = idx[:, 0] == f
        p = ((x.astype(np.float64) - x[f]) ** 2).sum(1) * w
        p /= p.sum()
        obs = np.bincount(idx[sel, 1], minlength=7)
        assert obs[p == 0].sum() == 0
        assert chisquare(obs[p > 0], p[p > 0] * sel.sum()).pvalue > 1e-3


def test_seeding_variants():
    """Gram and product paths agree; every variant picks distinct weighted points; greedy lowers the potential."""
    x = jnp.asarray(_sphere_data(6, n=250, d=12, groups=40))
    w = jnp.asarray((np.arange(250) % 2).astype(np.float32))  # even rows masked
    keys = jax.random.split(jax.random.PRNGKey(0), 8)

    def seeds(gram=None, **kw):
        f = jax.vmap(lambda kk, x, w, gram: cluster.kmeans_plus_plus(kk, x, 30, w, gram=gram, **kw), in_axes=(0, None, None, None))
        return np.asarray(jax.jit(f)(keys, x, w, gram))

    greedy = seeds()
    np.testing.assert_array_equal(greedy, seeds(gram=x @ x.T))
    plain = seeds(seeding="kmeans++", per_step=1)
    xn = np.asarray(x)
    for c in (greedy, plain, seeds(seeding="kmeans++", per_step=4)):
        for row in c:
            idx = np.array([np.flatnonzero(np.all(xn == ci, axis=1))[0] for ci in row])
            assert np.all(idx % 2 == 1) and len(set(idx.tolist())) == 30

    def pot(c):
        return np.sum(np.asarray(w) * np.min(((xn[:, None] - c[None]) ** 2).sum(-1), axis=1))

    assert cluster.n_local_trials(30) == 5 and cluster.n_local_trials(1000) == 8 and cluster.n_local_trials(1) == 2
    assert np.mean([pot(c) for c in greedy]) < 0.95 * np.mean([pot(c) for c in plain])  # 10% lower here


# ----------------------------------------------------------------------------- end to end


def test_inertia_matches_sklearn():
    # many small clusters (n / k ~ 13 as at C = 1000): the previous k-means (classic k-means++ drawing 2 centres
    # per round, no relocation of empty clusters) was 5.5% worse than scikit-learn here
    rng = np.random.default_rng(0)
    x = 0.7 * rng.normal(size=(2000, 32)) + rng.normal(size=(150, 32))[rng.integers(0, 150, 2000)]
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    k = 150
    ours = [_kmeans(jnp.asarray(x), k, jax.random.PRNGKey(s), normalize_centres=False) for s in range(3)]
    sk = np.array([KMeans(k, n_init=10, random_state=s).fit(x).inertia_ for s in range(3)])
    inertia = np.array([float(r.inertia) for r in ours])
    assert inertia.mean() <= 1.003 * sk.mean()
    assert np.all(inertia <= 1.01 * sk)
    for r in ours:
        assert bool(r.converged)
        c, a = np.asarray(r.centres), np.asarray(r.assignment)
        np.testing.assert_allclose(float(r.inertia), np.sum((x - c[a]) ** 2), rtol=1e-4)
        d2 = ((x[:, None, :] - c[None]) ** 2).sum(-1)
        assert np.all(d2[np.arange(len(x)), a] <= d2.min(1) + 1e-5)  # Lloyd fixed point
        for j in range(k):
            np.testing.assert_allclose(c[j], x[a == j].mean(0), atol=1e-5)


def test_bounded_equals_dense_and_screening():
    x = jnp.asarray(_sphere_data(2, n=300))
    key = jax.random.PRNGKey(5)
    seq = _kmeans(x, 30, key, n_init=3, restarts="sequential", normalize_centres=False)
    par = _kmeans(x, 30, key, n_init=3, restarts="parallel", normalize_centres=False)
    np.testing.assert_array_equal(np.asarray(seq.assignment), np.asarray(par.assignment))
    np.testing.assert_allclose(np.asarray(seq.centres), np.asarray(par.centres), atol=1e-5)
    assert int(seq.n_iters) == int(par.n_iters)
    screened = _kmeans(x, 30, key, n_init=3, screen_iters=2, normalize_centres=False)
    # the screened run continues one of the same restarts: never better than the best of them
    assert float(seq.inertia) <= float(screened.inertia) * (1 + 1e-6) <= 1.02 * float(seq.inertia)


def test_blobs_same_partition_as_sklearn():
    x, lab = _blobs()
    sk = KMeans(n_clusters=6, n_init=10, random_state=0).fit(x)
    ones = jnp.ones(len(x))
    res = _kmeans(jnp.asarray(x), 6, jax.random.PRNGKey(1), weights=ones, normalize_centres=False)
    assert _same_partition(np.asarray(res.assignment), sk.labels_)
    assert _same_partition(np.asarray(res.assignment), lab)
    np.testing.assert_allclose(float(res.inertia), sk.inertia_, rtol=1e-4)
    # unequal blob sizes (30 of blob 1's 40 points masked): the optimum is still unique
    keep = ~((lab == 1) & (np.arange(len(x)) % 40 >= 10))
    ru = _kmeans(jnp.asarray(x), 6, jax.random.PRNGKey(2), weights=jnp.asarray(keep, jnp.float32), normalize_centres=False)
    a = np.asarray(ru.assignment)
    assert np.all(a[~keep] == -1) and _same_partition(a[keep], lab[keep])


def test_zero_weight_points_are_ignored():
    x, lab = _blobs(3, n_per=35)  # 210 points + 30 outliers: the shape (and compilation) of the test above
    outliers = np.full((30, x.shape[1]), 50.0, np.float32)
    xo = np.concatenate([x, outliers])
    w = np.concatenate([np.ones(len(x)), np.zeros(len(outliers))]).astype(np.float32)
    res = _kmeans(jnp.asarray(xo), 6, jax.random.PRNGKey(0), weights=jnp.asarray(w), normalize_centres=False)
    a = np.asarray(res.assignment)
    assert np.all(a[len(x):] == -1)
    assert _same_partition(a[: len(x)], lab)
    c = np.asarray(res.centres)
    for j in range(6):
        np.testing.assert_allclose(c[j], x[a[: len(x)] == j].mean(0), atol=1e-5)
    assert float(np.sum(res.sizes)) == pytest.approx(len(x))
    np.testing.assert_allclose(float(res.inertia), KMeans(6, n_init=10, random_state=0).fit(x).inertia_, rtol=1e-4)


def test_spherical_fixed_point():
    x = _sphere_data(5)
    res = _kmeans(jnp.asarray(x), 15, jax.random.PRNGKey(0), n_init=3, spherical=True)
    c, a = np.asarray(res.centres), np.asarray(res.assignment)
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0, atol=1e-5)
    cos = x @ c.T
    assert np.all(cos[np.arange(len(x)), a] >= cos.max(1) - 1e-5)
    for j in np.unique(a):
        m = x[a == j].sum(0)
        np.testing.assert_allclose(c[j], m / np.linalg.norm(m), atol=1e-4)
    np.testing.assert_allclose(float(res.inertia), np.sum(1.0 - cos[np.arange(len(x)), a]), rtol=1e-3)


def test_seeds_reproducible_and_vmap_equals_loop():
    # the configuration and shape of test_bounded_equals_dense_and_screening's sequential run (the CPU
    # default): the single calls reuse its compilation, only the vmapped program is new
    x = jnp.asarray(_sphere_data(7, n=300))

    def f(key):
        return _kmeans(x, 30, key, n_init=3, restarts="sequential", normalize_centres=False)

    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    r1, r2 = f(keys[0]), f(keys[0])
    np.testing.assert_array_equal(np.asarray(r1.centres), np.asarray(r2.centres))
    assert not np.array_equal(np.asarray(f(keys[1]).centres), np.asarray(r1.centres))
    batched = jax.jit(jax.vmap(f))(keys)
    for i in range(3):
        single = f(keys[i])
        np.testing.assert_array_equal(np.asarray(batched.assignment[i]), np.asarray(single.assignment))
        np.testing.assert_allclose(np.asarray(batched.centres[i]), np.asarray(single.centres), atol=1e-5)


def test_bad_arguments_raise():
    with pytest.raises(UPTError, match=r"k=6 for x of shape \[5, 3\]"):
        cluster.kmeans(jnp.ones((5, 3)), 6, jax.random.PRNGKey(0))
    with pytest.raises(UPTError, match="restarts"):
        cluster.kmeans(jnp.ones((5, 3)), 2, jax.random.PRNGKey(0), restarts="bogus")
    with pytest.raises(UPTError, match="seeding"):
        cluster.kmeans(jnp.ones((5, 3)), 2, jax.random.PRNGKey(0), seeding="random")
    with pytest.raises(UPTError, match=r"init must be \[k, d\] = \[2, 3\]"):
        cluster.kmeans(jnp.ones((5, 3)), 2, None, init=jnp.ones((3, 3)))
    with pytest.raises(UPTError, match="n_trials"):
        cluster.kmeans_plus_plus(jax.random.PRNGKey(0), jnp.ones((5, 3)), 2, jnp.ones(5), n_trials=0)
