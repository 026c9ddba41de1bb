"""The chunked path (upt_jax.scale, UPTConfig(chunk_size > 0)) against the dense path and NumPy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import upt_jax as U
from tests.conftest import unit
from tests.test_api import angles_deg, make_problem
from tests.test_metrics import np_metrics
from tests.test_sphere import np_frechet
from upt_jax import scale, sphere
from upt_jax import transport as T

JUPT = jax.jit(U.upt, static_argnames="config")
# jitted entry points: OTT's and our while loops run op by op when called eagerly (many times slower)
SK_CHUNKED = jax.jit(scale.sinkhorn_chunked, static_argnames=("max_iterations", "kind", "chunk", "cache_cost", "momentum"))
SK_DENSE = jax.jit(T.sinkhorn, static_argnames=("max_iterations", "inner_iterations", "lse_mode", "tau_a", "tau_b"))
FM_CHUNKED = jax.jit(scale.frechet_mean_chunked, static_argnames=("max_iter", "kind", "chunk", "cache"))


def _data(seed=0, k=7, n=230, d=12):
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(k, d))
    x = rng.normal(size=(n, d)) + 1.5 * p[rng.integers(0, k, n)]
    return (jnp.asarray(sphere.normalize(jnp.asarray(p, jnp.float32))),
            jnp.asarray(sphere.normalize(jnp.asarray(x, jnp.float32))))


def _plan(sk, p, x, kind="cosine"):
    return scale.plan_rows_chunked(sk, p, x, sk.g, kind)


@pytest.mark.parametrize("chunk, cache", [(64, True), (230, None), (1000, None), (50, False)])
def test_chunked_sinkhorn_matches_ott(chunk, cache):
    p, x = _data()
    k, n = p.shape[0], x.shape[0]
    a = jnp.full((k,), 1.0 / k)
    b = jnp.full((n,), 1.0 / n)
    sk = SK_CHUNKED(p, x, a, b, epsilon=0.05, threshold=1e-6, chunk=chunk, cache_cost=cache)
    assert bool(sk.converged) and int(sk.n_iters) <= 2000
    plan = _plan(sk, p, x)
    np.testing.assert_allclose(plan.sum(1), a, atol=2e-6)
    np.testing.assert_allclose(plan.sum(0), b, atol=2e-6)
    ref = SK_DENSE(T.cost_matrix(p, x), a, b, epsilon=0.05, threshold=1e-6)
    np.testing.assert_allclose(plan, ref.plan, atol=2e-5)
    assert float(sk.cost) == pytest.approx(float(ref.cost), abs=1e-5)
    assert float(sk.marginal_error) < 1e-5


@pytest.mark.parametrize("kind", ["cosine", "geodesic"])
def test_chunked_sinkhorn_masks_get_no_mass(kind):
    # masked classes (a = 0) and masked points (b = 0): zero plan rows/columns, the rest as the dense solver
    p, x = _data(4, n=150)
    a = jnp.asarray([0.25, 0.0, 0.25, 0.25, 0.0, 0.25, 0.0])
    bm = np.random.default_rng(0).random(150) < 0.7
    b = jnp.asarray(bm / bm.sum(), jnp.float32)
    sk = SK_CHUNKED(p, x, a, b, epsilon=0.05, threshold=1e-6, chunk=40, kind=kind)
    plan = np.asarray(_plan(sk, p, x, kind))
    assert np.all(plan[np.asarray(a) == 0] == 0) and np.all(plan[:, ~bm] == 0)
    cost = T.cost_matrix(p, x, kind=kind, row_mask=a > 0, col_mask=b > 0)
    ref = SK_DENSE(cost, a, b, epsilon=0.05, threshold=1e-6)
    np.testing.assert_allclose(plan, np.asarray(ref.plan), atol=2e-5)


def test_chunked_frechet_matches_float64_reference():
    p, x = _data(1)
    k, n = p.shape[0], x.shape[0]
    a = jnp.full((k,), 1.0 / k)
    b = jnp.full((n,), 1.0 / n)
    sk = SK_CHUNKED(p, x, a, b, epsilon=0.05, threshold=1e-6, chunk=50)
    plan = np.asarray(_plan(sk, p, x))
    for cache in (True, False):
        fm = FM_CHUNKED(sk, p, x, chunk=50, cache=cache)
        assert bool(jnp.all(fm.converged)) and int(jnp.max(fm.n_iters)) <= 100
        for i in range(k):
            assert angles_deg(fm.mean[i], np_frechet(x, plan[i], iters=3000)) < 2e-3


def test_top_m_sparse_frechet():
    p, x = _data(2)
    k, n = p.shape[0], x.shape[0]
    sk = SK_CHUNKED(p, x, jnp.full((k,), 1.0 / k), jnp.full((n,), 1.0 / n), epsilon=0.02, chunk=64)
    plan = np.asarray(_plan(sk, p, x))
    idx, w, kept = scale.plan_top_m(sk, p, x, m=20, chunk=64)
    # the m largest entries of every row, exactly
    np.testing.assert_allclose(np.sort(np.asarray(w), 1), np.sort(plan, 1)[:, -20:], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(plan[np.arange(k)[:, None], np.asarray(idx)], w, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(kept, np.sort(plan, 1)[:, -20:].sum(1), rtol=1e-5)
    # with m = N the sparse mean is the exact one
    idx_all, w_all, _ = scale.plan_top_m(sk, p, x, m=n, chunk=64)
    sp = scale.frechet_mean_sparse(x, idx_all, w_all)
    for i in range(k):
        assert angles_deg(sp.mean[i], np_frechet(x, plan[i], iters=3000)) < 2e-3
    # truncated: the exact mean of the truncated weights
    sp20 = scale.frechet_mean_sparse(x, idx, w)
    trunc = np.zeros_like(plan)
    trunc[np.arange(k)[:, None], np.asarray(idx)] = np.asarray(w)
    for i in range(k):
        assert angles_deg(sp20.mean[i], np_frechet(x, trunc[i], iters=3000)) < 2e-3


@pytest.mark.parametrize("cost, n_clusters", [("cosine", 0), ("geodesic", 40)])
def test_chunk_size_option_equals_dense_path(cost, n_clusters):
    # the one API: UPTConfig(chunk_size=...) gives the dense path's results, masks and Diagnostics
    protos, vids, labels = make_problem(6, k=10, n=160)
    cls = np.zeros(10, bool)
    cls[[0, 2, 3, 7, 9]] = True
    cm, vm = jnp.asarray(cls), jnp.asarray(cls[labels])
    hp = U.UPTHyper(0.5, 0.05, 1e-6)
    dense = U.UPTConfig(n_clusters=n_clusters, cost=cost, kmeans_restarts=2, sinkhorn_max_iter=5000)
    new_d, d_d = JUPT(protos, vids, dense, jax.random.PRNGKey(0), hp, class_mask=cm, video_mask=vm)
    new_c, d_c = JUPT(protos, vids, dense.replace(chunk_size=32), jax.random.PRNGKey(0), hp, class_mask=cm, video_mask=vm)
    # both solvers stop at an L1 marginal error of 1e-6 (the chunked one over-relaxed): targets within ~1e-5 rad
    assert angles_deg(new_c, new_d).max() < 5e-3
    assert angles_deg(d_c.targets, d_d.targets).max() < 5e-3
    np.testing.assert_allclose(np.asarray(new_c)[~cls], protos[~cls], atol=1e-6)  # masked classes keep theirs
    assert d_c.coupling is None and d_d.coupling.shape == (10, d_d.centres.points.shape[0])
    s_c, s_d = U.summarize_diagnostics(d_c), U.summarize_diagnostics(d_d)
    assert set(s_c) == set(s_d)
    for key in ("converged", "transport_converged", "frechet_not_converged", "empty_rows", "n_classes", "n_centres"):
        assert s_c[key] == s_d[key], key
    assert s_c["transport_cost"] == pytest.approx(s_d["transport_cost"], abs=1e-5)
    assert s_c["marginal_error"] < 1e-5 and s_c["frechet_kept_mass_min"] == 1.0
    # over-relaxation after 100 iterations: no more iterations than plain Sinkhorn (OTT checks every 10 steps)
    assert 0 < s_c["transport_iterations"] <= s_d["transport_iterations"] + 10 <= 5010
    np.testing.assert_array_equal(np.asarray(d_c.empty_rows), np.zeros(10, bool))


def test_frechet_top_m_is_an_approximation_with_its_error_reported():
    protos, vids, _ = make_problem(3, k=6, n=200)
    hp = U.UPTHyper(1.0, 0.05, 1e-6)
    exact = U.UPTConfig(n_clusters=0, sinkhorn_max_iter=5000)
    _, d_exact = JUPT(protos, vids, exact, jax.random.PRNGKey(0), hp)
    _, d_all = JUPT(protos, vids, exact.replace(chunk_size=48, frechet_top_m=200), jax.random.PRNGKey(0), hp)
    assert angles_deg(d_all.targets, d_exact.targets).max() < 1e-3  # m = N: exact
    np.testing.assert_allclose(np.asarray(d_all.frechet_kept_mass), 1.0, atol=1e-5)
    for chunk in (0, 48):
        _, d_10 = JUPT(protos, vids, exact.replace(chunk_size=chunk, frechet_top_m=10), jax.random.PRNGKey(0), hp)
        plan = np.asarray(d_exact.coupling)
        kept_ref = np.sort(plan, 1)[:, -10:].sum(1) / plan.sum(1)
        np.testing.assert_allclose(np.asarray(d_10.frechet_kept_mass), kept_ref, atol=1e-3)
        # grad_norm is measured on the whole row: it is the approximation's first-order error
        err = angles_deg(d_10.targets, d_exact.targets)
        gn = np.rad2deg(np.asarray(d_10.frechet_grad_norm))
        assert np.all(gn > 1e-3) and np.all(err > 1e-3)
        np.testing.assert_allclose(gn, err, rtol=0.5)
        s = U.summarize_diagnostics(d_10)
        assert s["frechet_kept_mass_min"] == pytest.approx(kept_ref.min(), abs=1e-3)


def test_chunked_path_refuses_emd_and_example_rule_and_gradients():
    with pytest.raises(U.UPTError, match="solver='sinkhorn'"):
        U.UPTConfig(solver="emd", chunk_size=1024)
    with pytest.raises(U.UPTError, match="dense path only"):
        U.UPTConfig(frechet="example", chunk_size=1024)
    protos, vids, _ = make_problem(2, k=4, n=40)
    cfg = U.UPTConfig(n_clusters=0, chunk_size=16)
    with pytest.raises(U.UPTError, match="chunk_size=0"):
        jax.grad(lambda p: jnp.sum(U.upt(p, vids, cfg, jax.random.PRNGKey(0))[0]))(jnp.asarray(protos))


def test_chunk_size_for_budget():
    assert U.api.chunk_size_for(101, 13_320) == 0  # 65 MB dense: fits in 1 GiB
    c = U.api.chunk_size_for(101, 1_000_000)
    assert 1024 <= c <= 65536
    sizes = [U.api.chunk_size_for(1000, 1_000_000, budget_bytes=1 << b) for b in (28, 30, 32, 35)]
    assert sizes == sorted(sizes) and sizes[0] == 1024 and sizes[-1] == 65536 and 1024 < sizes[1] < sizes[2] < 65536
    assert U.api.chunk_size_for(1000, 1_000_000, budget_bytes=1 << 36) == 0  # 48 GB dense fits in 64 GiB


@pytest.mark.parametrize("seed", [0, 1])
def test_evaluate_chunked_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    k, n, d = 12, 230, 8
    p, v = unit(rng, k, d), unit(rng, n, d)
    labels = rng.integers(0, k, n)
    cm = rng.random(k) < 0.6
    cm[:2] = True
    vm = cm[labels]
    m = jax.jit(lambda p, v, lab, c, w: scale.evaluate_chunked(p, v, lab, class_mask=c, video_mask=w, chunk=64))(
        p, v, labels, jnp.asarray(cm), jnp.asarray(vm))
    top1, top5, mca, counts, unreach = np_metrics(p.astype(np.float64), v.astype(np.float64), labels, cm, vm)
    assert float(m.top1) == pytest.approx(top1, abs=1e-4)
    assert float(m.top5) == pytest.approx(top5, abs=1e-4)
    assert float(m.mean_class_accuracy) == pytest.approx(mca, abs=1e-4)
    np.testing.assert_array_equal(np.asarray(m.counts), counts)
    assert int(m.unreachable) == unreach
    pred = scale.classify_chunked(p, v, chunk=64)
    np.testing.assert_array_equal(pred, np.argmax(v @ p.T, axis=1))


def test_upt_no_clustering_shortcut():
    p, x = _data(3, n=300)
    cfg = U.UPTConfig(n_clusters=0)
    ref_new, _ = JUPT(p, x, cfg, jax.random.PRNGKey(0), U.UPTHyper(lam=0.5, epsilon=0.05, threshold=1e-5))
    shortcut = jax.jit(lambda p, x: scale.upt_no_clustering(p, x, lam=0.5, epsilon=0.05, threshold=1e-5, frechet="chunked",
                                                            chunk=128))
    new, targets, diag = shortcut(p, x)
    assert angles_deg(new, ref_new).max() < 1e-2
    assert angles_deg(targets, diag.targets).max() == 0


def test_over_relaxation_reaches_the_same_plan_in_fewer_iterations():
    p, x = _data(5, n=400, d=8)
    a, b = jnp.full((7,), 1 / 7), jnp.full((400,), 1 / 400)
    runs = {m: SK_CHUNKED(p, x, a, b, epsilon=0.005, threshold=1e-6, max_iterations=20000, chunk=128, momentum=m)
            for m in (False, True)}
    assert all(bool(r.converged) for r in runs.values())
    assert int(runs[True].n_iters) < 0.5 * int(runs[False].n_iters)
    np.testing.assert_allclose(_plan(runs[True], p, x), _plan(runs[False], p, x), atol=1e-6)
