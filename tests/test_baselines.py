"""Tests of upt_jax.baselines against NumPy loop implementations of each definition."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import upt_jax as U
from upt_jax import baselines as B
from upt_jax import bias, metrics
from upt_jax.errors import UPTError

from conftest import unit

N, K, D = 24, 6, 5
CORRECTIONS = ["baseline", "csls", "inverted-softmax", "centre", "balanced", "refine", "refine-balanced"]


def _problem(rng, n=N, k=K, d=D, dtype=np.float32):
    p = unit(rng, k, d, dtype=dtype)
    x = unit(rng, n, d, dtype=dtype)
    return p, x


def _split(rng, n=N, k=K):
    cm = rng.random(k) < 0.7
    vm = rng.random(n) < 0.6
    cm[:3] = True
    vm[:6] = True
    return cm, vm


# --------------------------------------------------------------------------- references


def _ref_csls(s, k):
    n, m = s.shape
    out = np.zeros_like(s)
    rv = [np.mean(sorted(s[i], reverse=True)[: min(k, m)]) for i in range(n)]
    rc = [np.mean(sorted(s[:, j], reverse=True)[: min(k, n)]) for j in range(m)]
    for i in range(n):
        for j in range(m):
            out[i, j] = 2 * s[i, j] - rv[i] - rc[j]
    return out


def _ref_inverted_softmax(s, beta):
    out = np.zeros_like(s)
    for j in range(s.shape[1]):
        z = beta * s[:, j]
        out[:, j] = z - (z.max() + np.log(np.sum(np.exp(z - z.max()))))
    return out


def _ref_centre(s):
    return np.stack([s[:, j] - s[:, j].mean() for j in range(s.shape[1])], axis=1)


def _ref_sinkhorn(cost, a, b, eps, iters=20000):
    """Log-domain Sinkhorn in float64, to convergence."""
    f = np.zeros(a.size)
    g = np.zeros(b.size)

    def lse(z, axis):
        m = z.max(axis=axis, keepdims=True)
        return (m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))).squeeze(axis)

    for _ in range(iters):
        f = eps * np.log(a) - eps * lse((g[None, :] - cost) / eps, 1)
        g = eps * np.log(b) - eps * lse((f[:, None] - cost) / eps, 0)
        plan = np.exp((f[:, None] + g[None, :] - cost) / eps)
        if np.abs(plan.sum(1) - a).max() < 1e-13:
            break
    return plan


def _ref_balanced_plan(s, eps, prior=None):
    hi, lo = s.max(), s.min()
    cost = (hi - s) / (hi - lo)
    a = np.full(s.shape[0], 1.0 / s.shape[0])
    b = np.full(s.shape[1], 1.0 / s.shape[1]) if prior is None else prior / prior.sum()
    return _ref_sinkhorn(cost, a, b, eps)


def _normalize(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _ref_slerp(a, b, t):
    out = np.zeros_like(a)
    for j in range(a.shape[0]):
        c = np.clip(a[j] @ b[j], -1, 1)
        theta = np.arccos(c)
        if theta < 1e-12:
            out[j] = a[j]
            continue
        out[j] = (np.sin((1 - t) * theta) * a[j] + np.sin(t * theta) * b[j]) / np.sin(theta)
    return _normalize(out)


def _ref_karcher(x, w, iters=500):
    t = _normalize(w @ x)
    for _ in range(iters):
        v = np.zeros_like(t)
        for j, xj in enumerate(x):
            c = np.clip(t @ xj, -1, 1)
            theta = np.arccos(c)
            u = xj - c * t
            nu = np.linalg.norm(u)
            if nu > 1e-15:
                v += w[j] * theta * u / nu
        v /= w.sum()
        n = np.linalg.norm(v)
        if n < 1e-14:
            break
        t = np.cos(n) * t + np.sin(n) * v / n
        t = t / np.linalg.norm(t)
    return t


def _ref_refine(p, x, steps, lam, temp, mean):
    p = p.copy()
    for _ in range(steps):
        s = x @ p.T
        z = s / temp
        w = np.exp(z - z.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        if mean == "extrinsic":
            target = _normalize(w.T @ x)
        else:
            target = np.stack([_ref_karcher(x, w[:, j]) for j in range(p.shape[0])])
        p = _ref_slerp(p, target, lam)
    return p


@functools.partial(jax.jit, static_argnames=("method",))
def _scores(method, p, x, hp=None, cm=None, vm=None, prior=None):
    """scores_for, compiled once per (method, shapes, mask presence)."""
    return B.scores_for(method, p, x, hp, class_mask=cm, video_mask=vm, prior=prior)


# --------------------------------------------------------------------------- tests


@pytest.mark.fast
def test_registry_and_defaults():
    names = B.method_names()
    for name in ["baseline", "upt", "csls", "inverted-softmax", "centre", "balanced", "refine", "upt+csls", "upt+balanced"]:
        assert name in names
    cfg = B.method_config("csls")
    assert (cfg.csls_k, cfg.beta, cfg.upt, cfg.correction) == (10, 10.0, False, "csls")
    assert B.method_config("upt+inverted-softmax").upt and B.method_config("upt").correction == "none"
    assert B.method_config("refine-balanced").refine_balanced
    assert hash(cfg) == hash(B.method_config("csls"))  # static: hashable and equal by value
    hp = cfg.hyper(beta=30.0)
    assert hp.csls_k == 10 and hp.beta == 30.0
    assert B.method_config("balanced", prior="estimated").prior == "estimated"
    with pytest.raises(UPTError, match="unknown method"):
        B.method_config("hubness")
    with pytest.raises(UPTError, match="unknown MethodConfig fields"):
        B.method_config("csls", k=3)
    with pytest.raises(UPTError, match="correction"):
        B.MethodConfig(correction="whiten")
    with pytest.raises(UPTError, match="csls_k"):
        B.MethodConfig(csls_k=0)
    with pytest.raises(UPTError, match="refine_lam"):
        B.MethodConfig(refine_lam=1.5)


@pytest.mark.fast
@pytest.mark.parametrize("k", [1, 3, 10, 100])
def test_csls_matches_loop_on_the_sliced_split(rng, k):
    p, x = _problem(rng)
    cm, vm = _split(rng)
    s = np.asarray(x, np.float64) @ np.asarray(p, np.float64).T
    out = np.asarray(B.csls(jnp.asarray(s, jnp.float32), k, class_mask=cm, video_mask=vm))
    ref = _ref_csls(s[np.ix_(vm, cm)], k)
    np.testing.assert_allclose(out[np.ix_(vm, cm)], ref, atol=2e-6)
    assert np.all(np.isneginf(out[:, ~cm]))


@pytest.mark.fast
@pytest.mark.parametrize("beta", [1.0, 10.0, 30.0])
def test_inverted_softmax_and_centre_match_loops(rng, beta):
    p, x = _problem(rng)
    cm, vm = _split(rng)
    s = np.asarray(x, np.float64) @ np.asarray(p, np.float64).T
    out = np.asarray(B.inverted_softmax(jnp.asarray(s, jnp.float32), beta, class_mask=cm, video_mask=vm))
    np.testing.assert_allclose(out[np.ix_(vm, cm)], _ref_inverted_softmax(s[np.ix_(vm, cm)], beta), atol=2e-5)
    # each class's exp-scores sum to 1 over the split's videos
    np.testing.assert_allclose(np.exp(out[vm][:, cm]).sum(axis=0), 1.0, rtol=1e-5)
    c = np.asarray(B.centre(jnp.asarray(s, jnp.float32), class_mask=cm, video_mask=vm))
    np.testing.assert_allclose(c[np.ix_(vm, cm)], _ref_centre(s[np.ix_(vm, cm)]), atol=2e-6)
    assert np.all(np.isneginf(c[:, ~cm]))


@jax.jit
def _balanced64(s, pr, cm, vm):
    return B.balanced(s, prior=pr, epsilon=0.05, threshold=1e-10, class_mask=cm, video_mask=vm, max_iterations=20000)


@pytest.mark.fast
def test_balanced_matches_numpy_sinkhorn(rng, enable_x64):
    p, x = _problem(rng, dtype=np.float64)
    cm, vm = _split(rng)
    s = x @ p.T
    prior = rng.random(K) + 0.5
    for pr in (None, prior):
        res = _balanced64(jnp.asarray(s), None if pr is None else jnp.asarray(pr), cm, vm)
        sub_prior = None if pr is None else pr[cm]
        ref = _ref_balanced_plan(s[np.ix_(vm, cm)], 0.05, sub_prior)
        plan = np.asarray(res.plan)
        np.testing.assert_allclose(plan[np.ix_(vm, cm)], ref, atol=1e-9)
        assert np.all(plan[~vm] == 0) and np.all(plan[:, ~cm] == 0)
        want_cols = np.full(cm.sum(), 1.0 / cm.sum()) if pr is None else sub_prior / sub_prior.sum()
        np.testing.assert_allclose(plan[:, cm].sum(axis=0), want_cols, atol=1e-9)
        # scores are the log of each video's class distribution under the plan
        np.testing.assert_allclose(
            np.asarray(res.scores)[np.ix_(vm, cm)], np.log(ref / ref.sum(axis=1, keepdims=True)), atol=1e-6
        )
        assert np.array_equal(np.asarray(res.scores)[vm][:, cm].argmax(1), ref.argmax(1))


@pytest.mark.fast
def test_balanced_emd_is_the_optimal_assignment(rng):
    # with N = m K videos and a uniform prior, balanced EMD is an assignment of m videos per class
    m = 4
    p, x = _problem(rng, n=m * K)
    s = np.asarray(x, np.float64) @ np.asarray(p, np.float64).T
    res = B.balanced(jnp.asarray(s, jnp.float32), solver="emd")
    cost = np.repeat(-s, m, axis=1)  # column c -> class c // m
    rows, cols = linear_sum_assignment(cost)
    want = np.empty(m * K, int)
    want[rows] = cols // m
    got = np.asarray(res.scores).argmax(axis=1)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.bincount(got, minlength=K), np.full(K, m))


@pytest.mark.fast
@pytest.mark.parametrize("mean", ["extrinsic", "frechet"])
def test_refine_matches_loop(rng, enable_x64, mean):
    p, x = _problem(rng, dtype=np.float64)
    out = B.refine(jnp.asarray(p), jnp.asarray(x), steps=3, refine_lam=0.4, temperature=0.2, mean=mean, frechet_tol=1e-12, frechet_max_iter=500)
    ref = _ref_refine(p, x, 3, 0.4, 0.2, mean)
    np.testing.assert_allclose(np.asarray(out.prototypes), ref, atol=1e-8)
    np.testing.assert_allclose(np.asarray(out.scores), x @ ref.T, atol=1e-8)
    # no step leaves the prototypes where they were
    zero = B.refine(jnp.asarray(p), jnp.asarray(x), steps=0)
    np.testing.assert_allclose(np.asarray(zero.prototypes), p, atol=1e-12)


@pytest.mark.fast
@pytest.mark.parametrize("method", CORRECTIONS)
def test_masked_split_equals_sliced_problem(rng, method):
    p, x = _problem(rng)
    cm, vm = _split(rng)
    hp = B.method_config(method).hyper(csls_k=3, threshold=1e-6)
    full = _scores(method, p, x, hp, cm, vm)
    sliced = _scores(method, p[cm], x[vm], hp)
    a = np.asarray(full.scores)[np.ix_(vm, cm)]
    b = np.asarray(sliced.scores)
    tol = 2e-3 if "balanced" in method else 2e-5
    np.testing.assert_allclose(a, b, atol=tol)
    np.testing.assert_array_equal(a.argmax(1), b.argmax(1))
    np.testing.assert_allclose(np.asarray(full.prototypes)[cm], np.asarray(sliced.prototypes), atol=tol)
    # classes outside the split keep their prototype and never win
    np.testing.assert_allclose(np.asarray(full.prototypes)[~cm], np.asarray(U.sphere.normalize(p[~cm])), atol=1e-6)
    assert np.all(np.isneginf(np.asarray(full.scores)[:, ~cm]))


@pytest.mark.fast
@pytest.mark.parametrize("method", CORRECTIONS)
def test_jit_equals_no_jit(rng, method):
    p, x = _problem(rng)
    cm, vm = _split(rng)
    hp = B.method_config(method).hyper(csls_k=3, threshold=1e-6)
    eager = B.scores_for(method, p, x, hp, class_mask=cm, video_mask=vm).scores
    np.testing.assert_allclose(np.asarray(_scores(method, p, x, hp, cm, vm).scores), np.asarray(eager), rtol=1e-5, atol=1e-5)


@pytest.mark.fast
def test_vmap_over_splits_and_hyper_parameters_equals_loop(rng):
    p, x = _problem(rng)
    n_splits = 3
    cms = np.stack([_split(rng)[0] for _ in range(n_splits)])
    vms = np.stack([_split(rng)[1] for _ in range(n_splits)])
    grids = {
        "csls": ("csls_k", np.array([1, 3, 5], np.int32)),
        "inverted-softmax": ("beta", np.array([1.0, 10.0, 30.0], np.float32)),
        "balanced": ("epsilon", np.array([0.02, 0.05, 0.1], np.float32)),
        "refine": ("refine_lam", np.array([0.1, 0.3, 0.6], np.float32)),
    }
    for method, (field, values) in grids.items():
        base = B.method_config(method).hyper(threshold=1e-6)

        def one(cm, vm, v, method=method, field=field, base=base):
            return B.scores_for(method, p, x, base._replace(**{field: v}), class_mask=cm, video_mask=vm).scores

        batched = np.asarray(jax.jit(jax.vmap(jax.vmap(one, (None, None, 0)), (0, 0, None)))(cms, vms, values))
        single = jax.jit(one)
        for i in range(n_splits):
            for j, v in enumerate(values):
                ref = np.asarray(single(cms[i], vms[i], v))
                got = batched[i, j]
                fin = np.isfinite(ref)
                assert np.array_equal(fin, np.isfinite(got)), method
                np.testing.assert_allclose(got[fin], ref[fin], atol=1e-4, err_msg=f"{method} {field}={v}")


@pytest.mark.fast
def test_given_and_estimated_priors_reach_the_balanced_plan(rng):
    p, x = _problem(rng, n=60)
    prior = np.array([3.0, 1.0, 1.0, 1.0, 1.0, 1.0], np.float32)
    out = _scores(B.method_config("balanced", prior="given"), p, x, B.MethodHyper(threshold=1e-6), prior=prior)
    np.testing.assert_allclose(np.asarray(out.prior), prior / prior.sum(), rtol=1e-6)
    pred = np.asarray(out.scores).argmax(1)
    assert np.bincount(pred, minlength=K)[0] > np.bincount(pred, minlength=K)[1:].max()
    with pytest.raises(UPTError, match="prior"):
        B.scores_for(B.method_config("balanced", prior="given"), p, x)
    est = _scores(B.method_config("balanced", prior="estimated"), p, x)
    s = metrics.scores(p, x)
    want = bias.estimate_prior(s, temperature=B.MethodHyper().prior_temperature).prior
    np.testing.assert_allclose(np.asarray(est.prior), np.asarray(want), atol=1e-6)


@pytest.mark.fast
def test_method_with_upt_is_the_correction_on_moved_prototypes(rng):
    p, x = _problem(rng, n=40)
    cm, vm = _split(rng, n=40)
    ucfg = U.UPTConfig(n_clusters=0, solver="sinkhorn")
    uh = U.UPTHyper(lam=0.5, epsilon=0.05)
    key = jax.random.key(0)
    moved, _ = jax.jit(U.upt, static_argnames="config")(p, x, ucfg, key, uh, class_mask=cm, video_mask=vm)
    for name in ["upt", "upt+csls"]:
        run = jax.jit(B.make_method(name, ucfg))
        out = run(p, x, key, None, uh, class_mask=cm, video_mask=vm)
        ref = _scores(name.replace("upt+", "") if "+" in name else "baseline", moved, x, None, cm, vm)
        np.testing.assert_allclose(np.asarray(out.prototypes), np.asarray(U.sphere.normalize(moved)), atol=1e-6)
        assert out.upt is not None and out.upt.coupling.shape == (K, 40)
        fin = np.isfinite(np.asarray(ref.scores))
        np.testing.assert_allclose(np.asarray(out.scores)[fin], np.asarray(ref.scores)[fin], atol=1e-5)
    # without UPT the key is unused and the prototypes are the input ones
    out = jax.jit(B.make_method("csls"))(p, x, key)
    assert out.upt is None
    np.testing.assert_allclose(np.asarray(out.prototypes), np.asarray(U.sphere.normalize(p)), atol=1e-7)


@pytest.mark.fast
def test_bad_inputs_raise_upt_errors(rng):
    p, x = _problem(rng)
    with pytest.raises(UPTError, match="\\[N, K\\]"):
        B.csls(jnp.ones(4))
    with pytest.raises(UPTError, match="class_mask"):
        B.centre(jnp.ones((4, 3)), class_mask=np.ones(4, bool))
    with pytest.raises(UPTError, match="share d"):
        B.scores_for("csls", p, x[:, :3])
    with pytest.raises(UPTError, match="prior must have shape"):
        B.balanced(jnp.ones((4, 3)), prior=np.ones(4))
