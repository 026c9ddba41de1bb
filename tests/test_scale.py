"""upt_jax.scale (chunked / sparse large-N paths) against the dense core functions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from upt_jax import scale, sphere
from upt_jax import transport as T


def _data(seed=0, k=7, n=230, d=12):
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(k, d))
    x = rng.normal(size=(n, d)) + 1.5 * p[rng.integers(0, k, n)]
    return (jnp.asarray(sphere.normalize(jnp.asarray(p, jnp.float32))),
            jnp.asarray(sphere.normalize(jnp.asarray(x, jnp.float32))))


def _plan(sk, p, x):
    return scale.plan_rows_chunked(sk, p, x, sk.g)


@pytest.mark.parametrize("chunk", [64, 230, 1000])
def test_chunked_sinkhorn_matches_ott(chunk):
    p, x = _data()
    k, n = p.shape[0], x.shape[0]
    a = jnp.full((k,), 1.0 / k)
    b = jnp.full((n,), 1.0 / n)
    sk = scale.sinkhorn_chunked(p, x, a, b, epsilon=0.05, threshold=1e-6, chunk=chunk)
    assert bool(sk.converged)
    plan = _plan(sk, p, x)
    np.testing.assert_allclose(plan.sum(1), a, atol=2e-6)
    np.testing.assert_allclose(plan.sum(0), b, atol=2e-6)
    ref = T.sinkhorn(T.cost_matrix(p, x), a, b, epsilon=0.05, threshold=1e-6)
    np.testing.assert_allclose(plan, ref.plan, atol=2e-5)


def test_chunked_frechet_matches_dense():
    p, x = _data(1)
    k, n = p.shape[0], x.shape[0]
    a = jnp.full((k,), 1.0 / k)
    b = jnp.full((n,), 1.0 / n)
    sk = scale.sinkhorn_chunked(p, x, a, b, epsilon=0.05, threshold=1e-6, chunk=50)
    fm = scale.frechet_mean_chunked(sk, p, x, chunk=50)
    ref = sphere.frechet_mean(x, _plan(sk, p, x))
    assert bool(jnp.all(fm.converged))
    np.testing.assert_allclose(fm.mean, ref.mean, atol=2e-5)


def test_top_m_sparse_frechet():
    p, x = _data(2)
    k, n = p.shape[0], x.shape[0]
    sk = scale.sinkhorn_chunked(p, x, jnp.full((k,), 1.0 / k), jnp.full((n,), 1.0 / n), epsilon=0.02, chunk=64)
    plan = np.asarray(_plan(sk, p, x))
    idx, w, kept = scale.plan_top_m(sk, p, x, m=20, chunk=64)
    # the m largest entries of every row, exactly
    np.testing.assert_allclose(np.sort(np.asarray(w), 1), np.sort(plan, 1)[:, -20:], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(plan[np.arange(k)[:, None], np.asarray(idx)], w, rtol=1e-5, atol=1e-9)
    # with m = N the sparse mean equals the dense one
    idx_all, w_all, _ = scale.plan_top_m(sk, p, x, m=n, chunk=64)
    sp = scale.frechet_mean_sparse(x, idx_all, w_all)
    ref = sphere.frechet_mean(x, jnp.asarray(plan))
    np.testing.assert_allclose(sp.mean, ref.mean, atol=2e-5)
    # truncated: the dense mean of the truncated weights
    trunc = np.zeros_like(plan)
    trunc[np.arange(k)[:, None], np.asarray(idx)] = np.asarray(w)
    sp20 = scale.frechet_mean_sparse(x, idx, w)
    np.testing.assert_allclose(sp20.mean, sphere.frechet_mean(x, jnp.asarray(trunc)).mean, atol=2e-5)


def test_upt_no_clustering_and_classify():
    import upt_jax as U

    p, x = _data(3, n=300)
    cfg = U.UPTConfig(n_clusters=0)
    ref_new, _ = U.upt(p, x, cfg, jax.random.PRNGKey(0), U.UPTHyper(lam=0.5, epsilon=0.05, threshold=1e-5))
    new, targets, sk = scale.upt_no_clustering(p, x, lam=0.5, epsilon=0.05, threshold=1e-5, frechet="chunked", chunk=128)
    np.testing.assert_allclose(new, ref_new, atol=1e-4)
    new_sp, _, _ = scale.upt_no_clustering(p, x, lam=0.5, epsilon=0.05, threshold=1e-5, top_m=300, chunk=128)
    np.testing.assert_allclose(new_sp, ref_new, atol=1e-4)
    pred = scale.classify_chunked(new, x, chunk=64)
    np.testing.assert_array_equal(pred, np.argmax(np.asarray(x) @ np.asarray(new).T, axis=1))
