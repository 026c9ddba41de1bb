"""Transport: marginals, agreement with POT's exact EMD and SciPy's assignment."""

import jax
import jax.numpy as jnp
import numpy as np
import ot
import pytest
from scipy.optimize import linear_sum_assignment

from upt_jax import transport
from tests.conftest import SEEDS, unit

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("seed", SEEDS)
def test_cost_matrix_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    p, c = unit(rng, 5, 8), unit(rng, 9, 8)
    m = np.asarray(transport.cost_matrix(jnp.asarray(p), jnp.asarray(c)))
    ref = 1 - p.astype(np.float64) @ c.T.astype(np.float64)
    np.testing.assert_allclose(m, ref / ref.max(), atol=1e-6)
    g = np.asarray(transport.cost_matrix(jnp.asarray(p), jnp.asarray(c), kind="geodesic"))
    ang = np.arccos(np.clip(p.astype(np.float64) @ c.T, -1, 1))
    np.testing.assert_allclose(g, ang / ang.max(), atol=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
def test_sinkhorn_marginals_and_small_eps_approaches_emd(seed):
    rng = np.random.default_rng(seed)
    p, c = unit(rng, 6, 5), unit(rng, 15, 5)
    m = transport.cost_matrix(jnp.asarray(p), jnp.asarray(c))
    a = jnp.full((6,), 1 / 6)
    b = jnp.asarray(rng.dirichlet(np.ones(15)), jnp.float32)
    out = transport.sinkhorn(m, a, b, epsilon=1e-3, threshold=1e-5, max_iterations=20000)
    plan = np.asarray(out.plan)
    np.testing.assert_allclose(plan.sum(1), np.asarray(a), atol=2e-5)
    np.testing.assert_allclose(plan.sum(0), np.asarray(b), atol=2e-5)
    ref = ot.emd(np.asarray(a, np.float64), np.asarray(b, np.float64) / np.sum(np.asarray(b, np.float64)), np.asarray(m, np.float64))
    exact = float(np.sum(ref * np.asarray(m, np.float64)))
    assert abs(float(out.cost) - exact) < 5e-3
    e = transport.emd(m, a, b)
    np.testing.assert_allclose(np.asarray(e.plan), ref, atol=1e-6)
    assert bool(e.converged)


@pytest.mark.parametrize("seed", SEEDS)
def test_square_uniform_recovers_assignment(seed):
    rng = np.random.default_rng(seed)
    k = 7
    p, c = unit(rng, k, 6), unit(rng, k, 6)
    m = transport.cost_matrix(jnp.asarray(p), jnp.asarray(c))
    rows, cols = linear_sum_assignment(np.asarray(m, np.float64))
    u = jnp.full((k,), 1 / k)
    for solver, kw in (("sinkhorn", dict(epsilon=1e-3, threshold=1e-6, max_iterations=20000)), ("emd", {})):
        out = transport.couple(m, u, u, solver=solver, **kw)
        assert np.array_equal(np.argmax(np.asarray(out.plan), axis=1)[rows], cols), solver


def test_zero_masses_are_padding():
    rng = np.random.default_rng(0)
    p, c = unit(rng, 5, 4), unit(rng, 8, 4)
    m = transport.cost_matrix(jnp.asarray(p), jnp.asarray(c))
    a = jnp.asarray([0.5, 0.5, 0, 0, 0])
    b = jnp.asarray([0.25] * 4 + [0] * 4)
    for solver in ("sinkhorn", "emd"):
        plan = np.asarray(transport.couple(m, a, b, solver=solver).plan)
        assert np.all(plan[2:] < 1e-6) and np.all(plan[:, 4:] < 1e-6)
        np.testing.assert_allclose(plan.sum(), 1, atol=1e-4)


def test_emd_under_jit_and_vmap_equals_loop():
    rng = np.random.default_rng(1)
    costs = jnp.asarray(rng.random((3, 4, 6)), jnp.float32)
    a, b = jnp.full((4,), 0.25), jnp.full((6,), 1 / 6)
    f = jax.jit(jax.vmap(lambda m: transport.emd(m, a, b).plan))
    got = np.asarray(f(costs))
    for i in range(3):
        ref = ot.emd(np.full(4, 0.25), np.full(6, 1 / 6), np.asarray(costs[i], np.float64))
        np.testing.assert_allclose(got[i], ref, atol=1e-6)


def test_sinkhorn_vmaps_over_epsilon():
    rng = np.random.default_rng(2)
    p, c = unit(rng, 4, 5), unit(rng, 10, 5)
    m = transport.cost_matrix(jnp.asarray(p), jnp.asarray(c))
    a, b = jnp.full((4,), 0.25), jnp.full((10,), 0.1)
    eps = jnp.asarray([3e-2, 1e-1])
    vm = jax.vmap(lambda e: transport.sinkhorn(m, a, b, epsilon=e).plan)(eps)
    for i in range(2):
        one = transport.sinkhorn(m, a, b, epsilon=eps[i]).plan
        np.testing.assert_allclose(np.asarray(vm[i]), np.asarray(one), atol=1e-6)


def test_bad_solver_name():
    with pytest.raises(ValueError, match="solver"):
        transport.couple(jnp.ones((2, 2)), jnp.ones(2) / 2, jnp.ones(2) / 2, solver="nope")
