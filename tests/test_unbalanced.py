"""Unbalanced UPT (KL-relaxed marginals, tau_a / tau_b) and class priors for the source masses.

References written here: a float64 NumPy loop of the KL-relaxed Sinkhorn
(Chizat et al. 2018 scaling iterations in the log domain: ``f = tau_a (eps
log a - eps log sum_j exp((g_j - C_ij) / eps))`` and the same for ``g``),
central finite differences of it for the implicit gradient, the balanced
plan as tau -> 1, the test set's class frequencies for the "given" prior and
:func:`upt_jax.bias.estimate_prior` for the "estimated" one.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import upt_jax as U
from tests.conftest import unit
from tests.test_api import make_problem
from tests.test_grad import directional_check
from upt_jax import bias, transport
from upt_jax.errors import UPTError

JUPT = jax.jit(U.upt, static_argnames="config")


def np_unbalanced(m, a, b, eps, tau_a, tau_b, iters=5000):
    """KL-relaxed entropic OT, float64: alternate the relaxed log-domain updates; zero masses are padding."""
    m = np.asarray(m, np.float64)
    la = np.where(a > 0, np.log(np.where(a > 0, a, 1.0)), -np.inf)
    lb = np.where(b > 0, np.log(np.where(b > 0, b, 1.0)), -np.inf)

    def lse(x, axis):
        mx = np.max(x, axis=axis, keepdims=True)
        mx = np.where(np.isfinite(mx), mx, 0.0)
        with np.errstate(divide="ignore"):
            return (mx + np.log(np.sum(np.exp(x - mx), axis=axis, keepdims=True))).squeeze(axis)

    f, g = np.zeros(len(a)), np.zeros(len(b))
    for _ in range(iters):
        g = tau_b * (eps * lb - eps * lse((f[:, None] - m) / eps, 0))
        g = np.where(b > 0, g, -np.inf)
        f = tau_a * (eps * la - eps * lse((g[None, :] - m) / eps, 1))
        f = np.where(a > 0, f, -np.inf)
    with np.errstate(invalid="ignore"):
        plan = np.exp((f[:, None] + g[None, :] - m) / eps)
    return np.nan_to_num(plan)


TAUS = [(0.5, 1.0), (1.0, 0.7), (0.8, 0.6)]


@pytest.mark.parametrize("tau_a,tau_b", TAUS)
def test_unbalanced_plan_matches_numpy_reference(tau_a, tau_b, enable_x64):
    rng = np.random.default_rng(0)
    m = rng.random((5, 9))
    a = np.array([0.3, 0.0, 0.2, 0.4, 0.1])  # a zero mass: a masked class
    b = rng.dirichlet(np.ones(9))
    b[3] = 0.0
    b /= b.sum()
    cp = transport.sinkhorn(jnp.asarray(m), jnp.asarray(a), jnp.asarray(b), epsilon=0.1, threshold=1e-12,
                            max_iterations=20000, tau_a=tau_a, tau_b=tau_b)
    ref = np_unbalanced(m, a, b, 0.1, tau_a, tau_b)
    np.testing.assert_allclose(np.asarray(cp.plan), ref, atol=1e-10)
    assert bool(cp.converged) and float(cp.marginal_error) < 1e-9  # the relaxed marginal conditions hold
    # unbalanced: the row marginal is NOT a (mass was created or destroyed), unless that side is balanced
    rows_err = np.abs(ref.sum(1) - a).max()
    assert (rows_err > 1e-3) if tau_a < 1 else (rows_err < 1e-9)


def test_tau_one_is_the_balanced_transport_and_tau_to_one_approaches_it(enable_x64):
    rng = np.random.default_rng(1)
    m = rng.random((4, 7))
    a, b = np.full(4, 0.25), rng.dirichlet(np.ones(7))
    kw = dict(epsilon=0.05, threshold=1e-12, max_iterations=200000)
    taus = (0.9, 0.99, 0.999)

    @jax.jit  # one program for every solve (tau is static: one Sinkhorn loop each)
    def solve(m, a, b):
        bal = transport.sinkhorn(m, a, b, **kw).plan
        one = transport.sinkhorn(m, a, b, tau_a=1.0, tau_b=1.0, **kw).plan
        return bal, one, [transport.sinkhorn(m, a, b, tau_a=t, tau_b=t, **kw).plan for t in taus]

    bal, one, plans = solve(jnp.asarray(m), jnp.asarray(a), jnp.asarray(b))
    bal = np.asarray(bal)
    np.testing.assert_array_equal(np.asarray(one), bal)
    gaps = [float(np.abs(np.asarray(p) - bal).max()) for p in plans]
    # the gap shrinks like 1 - tau (about 10x per step here)
    assert all(g2 < 0.2 * g1 for g1, g2 in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] < 1e-2 * bal.max()
    # and through UPT: tau = 1 in the config is the default config, bit for bit
    protos, vids, _ = make_problem(2, k=5, n=50)
    r0 = JUPT(protos, vids, U.UPTConfig(n_clusters=0), jax.random.PRNGKey(0), U.UPTHyper(0.5))
    r1 = JUPT(protos, vids, U.UPTConfig(n_clusters=0, tau_a=1.0, tau_b=1.0), jax.random.PRNGKey(0), U.UPTHyper(0.5))
    np.testing.assert_array_equal(np.asarray(r0[0]), np.asarray(r1[0]))


@pytest.mark.parametrize("tau_a,tau_b", TAUS)
def test_unbalanced_gradient_matches_finite_differences(tau_a, tau_b, enable_x64):
    # the implicit backward of the relaxed conditions, against central differences of the NumPy reference
    rng = np.random.default_rng(2)
    m = rng.random((4, 6))
    a, b = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(6))
    r = rng.normal(size=(4, 6))
    h = 1e-6

    def loss(m, a, b, eps):
        plan = transport.sinkhorn(m, a, b, epsilon=eps, threshold=1e-13, max_iterations=50000, tau_a=tau_a, tau_b=tau_b).plan
        return jnp.sum(jnp.asarray(r) * plan)

    grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))(jnp.asarray(m), jnp.asarray(a), jnp.asarray(b), 0.1)

    def ref(m_, a_, b_, e_):
        return np.sum(r * np_unbalanced(m_, a_, b_, e_, tau_a, tau_b, 3000))

    base = [m, a, b, 0.1]
    for i, g in enumerate(grads):
        u = rng.normal(size=np.shape(base[i]))
        plus, minus = list(base), list(base)
        plus[i] = base[i] + h * u
        minus[i] = base[i] - h * u
        fd = (ref(*plus) - ref(*minus)) / (2 * h)
        assert float(np.sum(np.asarray(g) * u)) == pytest.approx(fd, rel=1e-5, abs=1e-8), i


def test_gradient_through_unbalanced_upt_with_masks(enable_x64):
    protos, vids, _ = make_problem(4, k=5, n=30, d=6)
    protos, vids = protos.astype(np.float64), vids.astype(np.float64)
    cfg = U.UPTConfig(n_clusters=0, tau_a=0.7, tau_b=0.9, sinkhorn_threshold=1e-12, sinkhorn_max_iter=20000,
                      frechet_tol=1e-12, frechet_max_iter=500)
    cm = jnp.asarray([True, True, False, True, True])
    vm = jnp.asarray(np.arange(30) % 7 != 0)
    w = np.random.default_rng(5).normal(size=(5, 6))

    def f(p, v):
        new, _ = U.upt(p, v, cfg, jax.random.PRNGKey(0), U.UPTHyper(0.6, 0.1), class_mask=cm, video_mask=vm)
        return jnp.sum(jnp.asarray(w) * new)

    vg = jax.jit(jax.value_and_grad(f, argnums=(0, 1)))
    directional_check(vg, (protos, vids), np.random.default_rng(6), (0, 1), rtol=1e-5, atol=1e-8)


def test_unbalanced_upt_masked_split_equals_sliced_problem():
    protos, vids, _ = make_problem(5, k=6, n=60)
    cm = np.array([True, False, True, True, False, True])
    vm = np.arange(60) % 4 != 1
    cfg = U.UPTConfig(n_clusters=0, tau_a=0.8, tau_b=0.95)
    new, diag = JUPT(protos, vids, cfg, jax.random.PRNGKey(0), U.UPTHyper(0.5), class_mask=jnp.asarray(cm),
                     video_mask=jnp.asarray(vm))
    new_s, diag_s = JUPT(protos[cm], vids[vm], cfg, jax.random.PRNGKey(0), U.UPTHyper(0.5))
    np.testing.assert_allclose(np.asarray(new)[cm], np.asarray(new_s), atol=2e-5)
    np.testing.assert_allclose(np.asarray(new)[~cm], protos[~cm] / np.linalg.norm(protos[~cm], axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(np.asarray(diag.coupling)[np.ix_(cm, vm)], np.asarray(diag_s.coupling), atol=1e-6)
    np.testing.assert_allclose(np.asarray(diag.row_mass)[cm], np.asarray(diag_s.row_mass), atol=1e-6)
    assert np.all(np.asarray(diag.row_mass)[~cm] == 0)


def test_given_prior_sets_the_source_masses_and_vmaps():
    protos, vids, labels = make_problem(6, k=5, n=80)
    labels = np.minimum(labels, 4)
    cm = np.array([True, True, True, False, True])
    freq = np.bincount(labels, minlength=5).astype(np.float64)
    expect = np.where(cm, freq, 0) / np.where(cm, freq, 0).sum()  # renormalised over the split
    for solver in ("sinkhorn", "emd"):
        cfg = U.UPTConfig(n_clusters=0, solver=solver, class_prior="given", sinkhorn_threshold=1e-5)
        _, diag = JUPT(protos, vids, cfg, jax.random.PRNGKey(0), U.UPTHyper(0.5, prior=jnp.asarray(freq, jnp.float32)),
                       class_mask=jnp.asarray(cm))
        np.testing.assert_allclose(np.asarray(diag.source_mass), expect, atol=1e-6)
        # balanced: each class's coupling row carries exactly its prior mass (EMD exactly, Sinkhorn to the tolerance)
        np.testing.assert_allclose(np.asarray(diag.coupling).sum(1), expect, atol=1e-5)
        assert U.summarize_diagnostics(diag)["converged"]
    # the frequencies of the labels (bias.class_frequencies) are that prior
    np.testing.assert_allclose(np.asarray(bias.class_frequencies(labels, 5, class_mask=cm)), expect, atol=1e-7)
    # the prior argument of transport_update = UPTHyper.prior; vmap over priors = loop (one compile each)
    cfg = U.UPTConfig(n_clusters=0, class_prior="given")
    centres = U.cluster_videos(jnp.asarray(vids), cfg, jax.random.PRNGKey(0))

    def both(pr):
        return (U.transport_update(protos, centres, cfg, U.UPTHyper(0.5, prior=pr))[0],
                U.transport_update(protos, centres, cfg, U.UPTHyper(0.5), prior=pr)[0])

    one = jax.jit(both)
    a1, a2 = one(jnp.asarray(freq, jnp.float32))
    np.testing.assert_array_equal(np.asarray(a1), np.asarray(a2))
    priors = jnp.asarray(np.random.default_rng(0).dirichlet(np.ones(5), size=3), jnp.float32)
    batch = jax.jit(jax.vmap(both))(priors)
    for i in range(3):
        for got, want in zip(batch, one(priors[i])):
            np.testing.assert_allclose(np.asarray(got[i]), np.asarray(want), atol=1e-5)


def test_estimated_prior_is_the_em_estimate_of_the_baseline_scores():
    protos, vids, _ = make_problem(7, k=5, n=70)
    cm = jnp.asarray([True, True, False, True, True])
    vm = jnp.asarray(np.arange(70) % 5 != 0)
    cfg = U.UPTConfig(n_clusters=0, class_prior="estimated", prior_temperature=0.05)
    scores = np.asarray(protos / np.linalg.norm(protos, axis=1, keepdims=True)) @ vids.T

    @jax.jit  # one program: the EM estimate, source_prior, upt() and transport_update with that prior
    def run(protos, vids, scores_t):
        est = bias.estimate_prior(scores_t, temperature=0.05, class_mask=cm, video_mask=vm).prior
        got = U.api.source_prior(protos, vids, cfg, class_mask=cm, video_mask=vm)
        new, diag = U.upt(protos, vids, cfg, jax.random.PRNGKey(0), U.UPTHyper(0.5), class_mask=cm, video_mask=vm)
        centres = U.cluster_videos(vids, cfg, jax.random.PRNGKey(0), vm)
        ref, _ = U.transport_update(protos, centres, cfg, U.UPTHyper(0.5), cm, prior=est)
        return est, got, new, diag.source_mass, ref

    est, got, new, source_mass, ref = run(jnp.asarray(protos), jnp.asarray(vids), jnp.asarray(scores.T))
    np.testing.assert_allclose(np.asarray(got), np.asarray(est), atol=1e-6)
    np.testing.assert_allclose(np.asarray(source_mass), np.asarray(est), atol=1e-6)
    # = transport_update with that prior on the same target set
    np.testing.assert_allclose(np.asarray(new), np.asarray(ref), atol=1e-6)


def test_empty_rows_are_truthful():
    protos, vids, _ = make_problem(3, k=5, n=60)
    far = -vids.mean(0)
    protos = protos.copy()
    protos[4] = far / np.linalg.norm(far)  # a class no video is near
    names = ["a", "b", "c", "d", "e"]
    # (1) unbalanced: the relaxed class marginal lets the far class lose all its mass: empty, NOT a failure
    cfg = U.UPTConfig(n_clusters=0, tau_a=0.5)
    new, diag = JUPT(protos, vids, cfg, jax.random.PRNGKey(0), U.UPTHyper(0.5, 2e-3))
    s = U.summarize_diagnostics(diag, names, config=cfg)
    assert float(diag.row_mass[4]) == 0.0 and s["empty_rows"] == 1 and s["empty_row_classes"] == ["e"]
    assert s["failed_rows"] == 0 and s["converged"] and U.convergence_warning(s) is None
    np.testing.assert_allclose(np.asarray(new[4]), protos[4], atol=1e-6)  # it keeps its prototype
    assert s["tau_a"] == 0.5 and s["class_mass_ratio_min"] == 0.0 and s["transported_mass"] < 1.0
    # (2) balanced with a given prior that is 0 for a class: empty and expected
    cfg = U.UPTConfig(n_clusters=0, class_prior="given")
    prior = jnp.asarray([1.0, 1.0, 0.0, 1.0, 1.0])
    new, diag = JUPT(protos, vids, cfg, jax.random.PRNGKey(0), U.UPTHyper(0.5, prior=prior))
    s = U.summarize_diagnostics(diag, names)
    assert s["empty_row_classes"] == ["c"] and s["failed_rows"] == 0 and s["converged"]
    # (3) balanced and a zero row for a class WITH mass: a failed solve (here a NaN epsilon inside jit)
    cfg = U.UPTConfig(n_clusters=0, tau_a=0.5, sinkhorn_max_iter=50)
    _, diag = jax.jit(U.make_upt(cfg))(protos, vids, jax.random.PRNGKey(0), U.UPTHyper(0.5, jnp.float32(jnp.nan)))
    s = U.summarize_diagnostics(diag, names)
    assert s["failed_rows"] == 5 and not s["converged"] and "5 classes got no usable transport mass" in U.convergence_warning(s)


@pytest.mark.parametrize(
    "changes,match",
    [
        ({"tau_a": 0.0}, r"tau_a must lie in \(0, 1\]"),
        ({"tau_b": 1.5}, r"tau_b must lie in \(0, 1\]"),
        ({"tau_a": 0.9, "solver": "emd"}, r"exact EMD is balanced only"),
        ({"tau_b": 0.9, "chunk_size": 1024}, r"chunked Sinkhorn is balanced only"),
        ({"class_prior": "learned"}, r"class_prior"),
        ({"prior_temperature": 0.0}, r"prior_temperature"),
    ],
)
def test_bad_unbalanced_configs(changes, match):
    with pytest.raises(UPTError, match=match):
        U.UPTConfig(**changes)


def test_prior_errors_name_the_fix():
    protos, vids, _ = make_problem(0, k=4, n=30)
    key = jax.random.PRNGKey(0)
    with pytest.raises(UPTError, match=r"needs a \[4\] class prior"):
        U.upt(protos, vids, U.UPTConfig(n_clusters=0, class_prior="given"), key, U.UPTHyper(0.5))
    with pytest.raises(UPTError, match=r"class_prior='uniform'"):
        U.upt(protos, vids, U.UPTConfig(n_clusters=0), key, U.UPTHyper(0.5, prior=jnp.ones(4)))
    with pytest.raises(UPTError, match=r"shape \[4\]"):
        U.upt(protos, vids, U.UPTConfig(n_clusters=0, class_prior="given"), key, U.UPTHyper(0.5, prior=jnp.ones(3)))
    with pytest.raises(UPTError, match=r">= 0"):
        U.upt(protos, vids, U.UPTConfig(n_clusters=0, class_prior="given"), key, U.UPTHyper(0.5, prior=-jnp.ones(4)))
    centres = U.cluster_videos(jnp.asarray(vids), U.UPTConfig(n_clusters=0), key)
    with pytest.raises(UPTError, match=r"source_prior"):
        U.transport_update(protos, centres, U.UPTConfig(n_clusters=0, class_prior="estimated"))
    # tau is static: a traced value is refused with the reason
    with pytest.raises(UPTError, match=r"static"):
        jax.jit(lambda t: transport.sinkhorn(jnp.ones((2, 3)), jnp.full(2, 0.5), jnp.full(3, 1 / 3), tau_a=t).plan)(0.5)


def test_vmap_over_epsilon_with_unbalanced_transport_equals_loop():
    rng = np.random.default_rng(9)
    p, c = unit(rng, 4, 5), unit(rng, 12, 5)
    m = transport.cost_matrix(jnp.asarray(p), jnp.asarray(c))
    a, b = jnp.full(4, 0.25), jnp.full(12, 1 / 12)
    eps = jnp.asarray([0.02, 0.05, 0.1])
    f = lambda e: transport.sinkhorn(m, a, b, epsilon=e, tau_a=0.8, threshold=1e-6, max_iterations=5000).plan  # noqa: E731
    batch = np.asarray(jax.jit(jax.vmap(f))(eps))
    for i in range(3):
        np.testing.assert_allclose(batch[i], np.asarray(jax.jit(f)(eps[i])), atol=1e-6)
