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
    out = jax.jit(lambda m: transport.sinkhorn(m, a, b, epsilon=1e-3, threshold=1e-5, max_iterations=20000))(m)
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
        out = jax.jit(lambda m: transport.couple(m, u, u, solver=solver, **kw))(m)
        assert np.array_equal(np.argmax(np.asarray(out.plan), axis=1)[rows], cols), solver


def test_zero_masses_are_padding():
    rng = np.random.default_rng(0)
    p, c = unit(rng, 5, 4), unit(rng, 8, 4)
    m = transport.cost_matrix(jnp.asarray(p), jnp.asarray(c))
    a = jnp.asarray([0.5, 0.5, 0, 0, 0])
    b = jnp.asarray([0.25] * 4 + [0] * 4)
    for solver in ("sinkhorn", "emd"):
        plan = np.asarray(jax.jit(lambda m: transport.couple(m, a, b, solver=solver).plan)(m))
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
    one_eps = jax.jit(lambda e: transport.sinkhorn(m, a, b, epsilon=e).plan)
    vm = jax.jit(jax.vmap(one_eps))(eps)
    for i in range(2):
        one = one_eps(eps[i])
        np.testing.assert_allclose(np.asarray(vm[i]), np.asarray(one), atol=1e-6)


def test_bad_solver_name():
    with pytest.raises(ValueError, match="solver"):
        transport.couple(jnp.ones((2, 2)), jnp.ones(2) / 2, jnp.ones(2) / 2, solver="nope")


@pytest.mark.parametrize("cap, block", [(5, 5), (25, 5), (2000, 10), (13, 1), (7, 7)])
def test_iteration_cap_is_exact(cap, block):
    # OTT runs whole blocks of `inner_iterations`; the block divides the cap, so never more than the cap
    assert transport.check_interval(cap) == block
    rng = np.random.default_rng(0)
    p, c = unit(rng, 6, 5), unit(rng, 40, 5)
    m = transport.cost_matrix(jnp.asarray(p), jnp.asarray(c))
    out = jax.jit(lambda m: transport.sinkhorn(m, jnp.full((6,), 1 / 6), jnp.full((40,), 1 / 40), epsilon=1e-4,
                                               threshold=1e-9, max_iterations=cap))(m)
    assert not bool(out.converged)
    assert int(out.n_iters) == cap  # ran to the cap, and no further
    with pytest.raises(ValueError, match="max_iterations must be >= 1"):
        transport.check_interval(0)


def _np_sinkhorn(m, a, b, eps, iters=20000):
    """Float64 log-domain Sinkhorn, a reference for the plan."""
    f, g = np.zeros(len(a)), np.zeros(len(b))
    for _ in range(iters):
        g = eps * np.log(b) - eps * np.log(np.sum(np.exp((f[:, None] - m) / eps), axis=0))
        f = eps * np.log(a) - eps * np.log(np.sum(np.exp((g[None, :] - m) / eps), axis=1))
    return np.exp((f[:, None] + g[None, :] - m) / eps)


def test_sinkhorn_plan_gradient_matches_finite_differences_and_ott(enable_x64):
    rng = np.random.default_rng(4)
    p, c = unit(rng, 4, 5, dtype=np.float64), unit(rng, 7, 5, dtype=np.float64)
    m = np.asarray(transport.cost_matrix(jnp.asarray(p), jnp.asarray(c)))
    a, b = np.full(4, 0.25), rng.dirichlet(np.ones(7))
    r = rng.normal(size=(4, 7))
    # (jitted: an un-jitted OTT solve dispatches its loop op by op and is 10x slower)
    fwd = jax.jit(lambda m: transport.sinkhorn(m, jnp.asarray(a), jnp.asarray(b), epsilon=0.1, threshold=1e-13,
                                               max_iterations=2000).plan)
    np.testing.assert_allclose(np.asarray(fwd(jnp.asarray(m))), _np_sinkhorn(m, a, b, 0.1), atol=1e-10)

    def loss(m, eps):
        plan = transport.sinkhorn(m, jnp.asarray(a), jnp.asarray(b), epsilon=eps, threshold=1e-13, max_iterations=2000).plan
        return jnp.sum(jnp.asarray(r) * plan)

    g_m, g_eps = jax.jit(jax.grad(loss, argnums=(0, 1)))(jnp.asarray(m), 0.1)
    h = 1e-6
    for _ in range(3):  # central differences of the NumPy reference along random directions
        u = rng.normal(size=m.shape)
        fd = (np.sum(r * _np_sinkhorn(m + h * u, a, b, 0.1, 3000)) - np.sum(r * _np_sinkhorn(m - h * u, a, b, 0.1, 3000))) / (2 * h)
        assert float(np.sum(np.asarray(g_m) * u)) == pytest.approx(fd, rel=1e-5, abs=1e-8)
    fd_eps = (np.sum(r * _np_sinkhorn(m, a, b, 0.1 + h, 3000)) - np.sum(r * _np_sinkhorn(m, a, b, 0.1 - h, 3000))) / (2 * h)
    assert float(g_eps) == pytest.approx(fd_eps, rel=1e-5)
    # OTT-JAX's own implicit differentiation agrees where it applies (no zero masses)
    from ott.geometry import geometry
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import sinkhorn as ott_sinkhorn

    def ott_loss(m):
        prob = linear_problem.LinearProblem(geometry.Geometry(cost_matrix=m, epsilon=0.1), a=jnp.asarray(a), b=jnp.asarray(b))
        return jnp.sum(jnp.asarray(r) * ott_sinkhorn.Sinkhorn(threshold=1e-13, max_iterations=2000)(prob).matrix)

    np.testing.assert_allclose(np.asarray(g_m), np.asarray(jax.jit(jax.grad(ott_loss))(jnp.asarray(m))), atol=1e-8)


def test_sinkhorn_gradient_with_zero_masses_equals_sliced_problem(enable_x64):
    # masked rows/columns (zero mass) are left out of the implicit system: same gradient as the problem without them
    rng = np.random.default_rng(5)
    m = rng.random((5, 8))
    a = np.array([0.3, 0.0, 0.3, 0.4, 0.0])
    b = np.array([0.2, 0.2, 0.0, 0.2, 0.2, 0.0, 0.1, 0.1])
    r = rng.normal(size=(5, 8))
    rows, cols = a > 0, b > 0

    def loss(m, a, b, r):
        plan = transport.sinkhorn(m, a, b, epsilon=0.2, threshold=1e-13, max_iterations=20000).plan
        return jnp.sum(r * plan)

    grad = jax.jit(jax.grad(loss))
    g = np.asarray(grad(jnp.asarray(m), jnp.asarray(a), jnp.asarray(b), jnp.asarray(r)))
    g_s = np.asarray(grad(jnp.asarray(m[np.ix_(rows, cols)]), jnp.asarray(a[rows]), jnp.asarray(b[cols]),
                          jnp.asarray(r[np.ix_(rows, cols)])))
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g[np.ix_(rows, cols)], g_s, atol=1e-10)
    np.testing.assert_allclose(g[~rows], 0, atol=1e-12)
    np.testing.assert_allclose(g[:, ~cols], 0, atol=1e-12)


def test_emd_gradient_raises_a_clear_error():
    rng = np.random.default_rng(6)
    m = jnp.asarray(rng.random((3, 4)), jnp.float32)
    a, b = jnp.full((3,), 1 / 3), jnp.full((4,), 0.25)
    with pytest.raises(U_error(), match=r"solver='sinkhorn'"):
        jax.grad(lambda m: jnp.sum(transport.emd(m, a, b).plan * m))(m)
    # a derivative the plan does not enter is fine (and equals the plan)
    g = jax.grad(lambda s: jnp.sum(transport.emd(m, a, b).plan * s))(m)
    np.testing.assert_allclose(np.asarray(g), np.asarray(transport.emd(m, a, b).plan), atol=1e-7)


def U_error():
    from upt_jax.errors import UPTError

    return UPTError


def test_geodesic_cost_gradient_finite_at_identical_points(enable_x64):
    x = jnp.asarray(unit(np.random.default_rng(7), 3, 4, dtype=np.float64))
    g = jax.grad(lambda p: jnp.sum(transport.raw_cost(p, x, "geodesic")))(x)
    assert np.all(np.isfinite(np.asarray(g)))
    # away from the diagonal it is the derivative of the angle: central differences
    p = jnp.asarray(unit(np.random.default_rng(8), 3, 4, dtype=np.float64))
    f = jax.jit(lambda p: jnp.sum(transport.raw_cost(p / jnp.linalg.norm(p, axis=1, keepdims=True), x, "geodesic") ** 2))
    gp = np.asarray(jax.grad(f)(p))
    h = 1e-6
    fd = np.array([[(f(p.at[i, j].add(h)) - f(p.at[i, j].add(-h))) / (2 * h) for j in range(4)] for i in range(3)])
    np.testing.assert_allclose(gp, fd, atol=1e-7)
