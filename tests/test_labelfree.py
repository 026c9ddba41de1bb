"""Tests of upt_jax.labelfree: criteria against NumPy definitions, vmap over lam, rules."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import upt_jax as U
from upt_jax import labelfree as L
from upt_jax.errors import UPTError

from conftest import unit

N, K, D = 40, 5, 6
CFG = U.UPTConfig(n_clusters=12, solver="sinkhorn", kmeans_restarts=2)


def _problem(rng):
    # two loose groups of videos per class direction, so the plan is not trivial
    p = unit(rng, K, D)
    centres = unit(rng, 8, D)
    x = centres[rng.integers(0, 8, size=N)] + 0.3 * rng.normal(size=(N, D))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return p, x


def _np_criteria(p_new, x, coupling, assignment, cm, vm, temp):
    """The definitions with NumPy, on the split."""
    s = x.astype(np.float64) @ p_new.astype(np.float64).T
    s[:, ~cm] = -np.inf
    pred = s.argmax(1)
    plan_class = np.where(cm[:, None], coupling, -np.inf).argmax(0)
    idx = np.flatnonzero(vm)
    agree = np.mean([pred[i] == plan_class[assignment[i]] for i in idx])
    z = s[idx][:, cm] / temp
    prob = np.exp(z - z.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)

    def h(q):
        q = q[q > 0]
        return -np.sum(q * np.log(q))

    info = (h(prob.mean(0)) - np.mean([h(r) for r in prob])) / np.log(cm.sum())
    counts = np.array([np.sum(pred[idx] == c) for c in np.flatnonzero(cm)])
    count_h = h(counts / counts.sum()) / np.log(cm.sum())
    return agree, info, count_h, int(np.sum(counts == 0))


_cluster = jax.jit(U.cluster_videos, static_argnames="config")


@jax.jit
def _criteria_and_plan(p, x, centres, cm, vm, lam):
    hp = U.UPTHyper(lam=lam, epsilon=0.05)
    c = L.criteria(p, x, centres, CFG, hp, temperature=0.1, class_mask=cm, video_mask=vm)
    new, diag = U.transport_update(p, centres, CFG, hp, cm)
    return c, new, diag.coupling


@pytest.mark.fast
def test_criteria_match_numpy_definitions(rng):
    p, x = _problem(rng)
    key = jax.random.key(0)
    for cm, vm in [(np.ones(K, bool), np.ones(N, bool)), (np.array([1, 1, 0, 1, 1], bool), rng.random(N) < 0.7)]:
        centres = _cluster(jnp.asarray(x), CFG, key, jnp.asarray(vm))
        for lam in (0.0, 0.5, 1.0):
            c, new, coupling = _criteria_and_plan(p, x, centres, cm, vm, lam)
            ref = _np_criteria(np.asarray(new), x, np.asarray(coupling), np.asarray(centres.assignment), cm, vm, 0.1)
            np.testing.assert_allclose(float(c.plan_agreement), ref[0], atol=1e-6)
            np.testing.assert_allclose(float(c.info_max), ref[1], atol=1e-5)
            np.testing.assert_allclose(float(c.count_entropy), ref[2], atol=1e-5)
            assert int(c.never_predicted) == ref[3]


@pytest.mark.fast
def test_plan_labels_and_halves(rng):
    coupling = jnp.array([[0.1, 0.0, 0.3], [0.2, 0.05, 0.0], [0.0, 0.5, 0.0]])
    centres = U.cluster.Centres(
        points=jnp.zeros((3, 2)),
        mass=jnp.ones(3) / 3,
        sizes=jnp.ones(3),
        mask=jnp.ones(3, bool),
        assignment=jnp.array([2, 0, 1, -1, 0], jnp.int32),
        inertia=jnp.zeros(()),
        kmeans_iters=jnp.int32(0),
    )
    np.testing.assert_array_equal(np.asarray(L.plan_labels(coupling, centres)), [0, 1, 2, -1, 1])
    # with class 1 outside the split, centre 0 goes to class 0
    np.testing.assert_array_equal(np.asarray(L.plan_labels(coupling, centres, jnp.array([True, False, True]))), [0, 0, 2, -1, 0])
    vm = jnp.asarray(rng.random(51) < 0.7)
    a, b = L.random_halves(vm, jax.random.key(3))
    a, b, vm = map(np.asarray, (a, b, vm))
    assert not np.any(a & b) and np.array_equal(a | b, vm)
    assert abs(int(a.sum()) - int(b.sum())) <= 1


@pytest.mark.fast
def test_vmap_over_lam_equals_loop_and_jit(rng):
    p, x = _problem(rng)
    centres = _cluster(jnp.asarray(x), CFG, jax.random.key(1))
    lams = jnp.array([0.0, 0.3, 0.7, 1.0])

    def one(lam):
        return L.criteria(p, x, centres, CFG, U.UPTHyper(lam=lam, epsilon=0.05))

    batched = jax.jit(jax.vmap(one))(lams)
    single = jax.jit(one)
    for i in range(lams.shape[0]):
        for a, b in zip(single(lams[i]), batched):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b)[i], atol=1e-6)


@pytest.mark.fast
def test_heldout_agreement_is_the_two_way_check_and_vmaps(rng):
    p, x = _problem(rng)
    key = jax.random.key(4)
    cfg = CFG.replace(n_clusters=0)  # every video is a centre
    ma, mb = L.random_halves(jnp.ones(N, bool), jax.random.key(5))
    ca = _cluster(jnp.asarray(x), cfg, key, ma)
    cb = _cluster(jnp.asarray(x), cfg, key, mb)
    lams = jnp.array([0.2, 0.6, 1.0])

    @jax.jit
    def run(lams):
        def one(lam):
            hp = U.UPTHyper(lam=lam, epsilon=0.05)
            got = L.heldout_agreement(p, x, ca, cb, cfg, hp, mask_a=ma, mask_b=mb)
            parts = []
            for fit, check in ((ca, cb), (cb, ca)):
                moved, _ = U.transport_update(p, fit, cfg, hp)
                _, d0 = U.transport_update(p, check, cfg, hp._replace(lam=0.0))
                parts.append((moved, d0.coupling))
            return got, parts

        return jax.vmap(one)(lams)

    got, parts = run(lams)
    for i in range(lams.shape[0]):
        ref = []
        for (moved, plan), mask in zip(parts, (mb, ma)):
            pred = (x @ np.asarray(moved)[i].T).argmax(1)
            idx = np.flatnonzero(np.asarray(mask))
            ref.append(np.mean(pred[idx] == np.asarray(plan)[i][:, idx].argmax(0)))  # C = N: centre j is video j
        np.testing.assert_allclose(float(got[i]), np.mean(ref), atol=1e-6)


@pytest.mark.fast
def test_choose_rules():
    lams = [0.0, 0.25, 0.5, 0.75, 1.0]
    values = {
        "plan_agreement": [0.2, 0.4, 0.5, 0.5, 0.3],
        "never_predicted": [9, 3, 0, 0, 0],
        "count_entropy": [0.7, 0.9, 0.985, 0.99, 0.995],
    }
    assert L.choose(lams, values, "argmax", "plan_agreement") == 2  # ties -> smallest lam
    assert L.choose(lams, values, "reach") == 2
    assert L.choose(lams, values, "balance", tol=0.01) == 2
    assert L.choose(lams, values, "balance", tol=0.001) == 4
    with pytest.raises(UPTError, match="rule"):
        L.choose(lams, values, "median")
    with pytest.raises(UPTError, match="criterion"):
        L.choose(lams, values, "argmax", "accuracy")
    with pytest.raises(UPTError, match="increasing"):
        L.choose([0.5, 0.0], values, "reach")
