"""Gradients of UPT against central finite differences in float64.

Each check compares the gradient along a few random directions ``u`` with
``(f(x + h u) - f(x - h u)) / 2h`` of the undifferentiated, jitted function
(the solvers run to tight tolerances, so the finite differences see the exact
solution's derivative): Karcher means (implicit custom_vjp), the Sinkhorn plan
(implicit, with masks), k-means centres (fixed assignment), slerp and lam.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import upt_jax as U
from tests.conftest import unit
from tests.test_api import make_problem
from upt_jax import sphere

H = 1e-6


def directional_check(f, args, rng, argnums=None, n_dirs=2, rtol=1e-5, atol=1e-8):
    """Compare jax.grad(f) (all ``argnums`` at once) along random directions with central differences."""
    argnums = tuple(range(len(args))) if argnums is None else tuple(argnums)
    grads = jax.jit(jax.grad(f, argnums=argnums))(*args)
    fj = jax.jit(f)
    for argnum, g in zip(argnums, grads):
        x = args[argnum]
        for _ in range(n_dirs):
            u = rng.normal(size=np.shape(x))
            plus = list(args)
            minus = list(args)
            plus[argnum] = x + H * u
            minus[argnum] = x - H * u
            fd = (float(fj(*plus)) - float(fj(*minus))) / (2 * H)
            assert float(np.sum(np.asarray(g) * u)) == pytest.approx(fd, rel=rtol, abs=atol), argnum
    return [np.asarray(g) for g in grads]


def test_frechet_mean_gradient_points_and_weights(enable_x64):
    rng = np.random.default_rng(0)
    c = rng.normal(size=6)
    x = c + 0.8 * rng.normal(size=(25, 6))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    w = rng.random((3, 25))
    r = rng.normal(size=(3, 6))

    def f(x, w):
        return jnp.sum(r * sphere.frechet_mean(sphere.normalize(x), w, tol=1e-13, max_iter=500).mean)

    directional_check(f, (jnp.asarray(x), jnp.asarray(w)), rng)

    # the example code's rule runs a fixed number of steps: differentiated through them
    def f_ex(x, w):
        return jnp.sum(r * sphere.frechet_mean(sphere.normalize(x), w, method="example", max_iter=32).mean)

    directional_check(f_ex, (jnp.asarray(x), jnp.asarray(w)), rng, argnums=(0,))


def test_frechet_gradient_finite_at_a_data_point(enable_x64):
    # all weight on one point: the mean IS that point (angle 0, the Taylor branch of the log-map factor)
    rng = np.random.default_rng(1)
    x = jnp.asarray(unit(rng, 5, 4, dtype=np.float64))
    w = jnp.asarray([[0.0, 1.0, 0.0, 0.0, 0.0], [0.2, 0.2, 0.2, 0.2, 0.2]])
    f = lambda x, w: jnp.sum(sphere.frechet_mean(x, w, tol=1e-12).mean[0] * jnp.arange(4.0))  # noqa: E731
    gx, gw = jax.grad(f, argnums=(0, 1))(x, w)
    assert np.all(np.isfinite(np.asarray(gx))) and np.all(np.isfinite(np.asarray(gw)))
    # d mean / d x_1 is the tangent projection at x_1 (the mean follows the point)
    p = np.eye(4) - np.outer(np.asarray(x[1]), np.asarray(x[1]))
    np.testing.assert_allclose(np.asarray(gx[1]), p @ np.arange(4.0), atol=1e-10)


CASES = {
    "C=N cosine": (U.UPTConfig(n_clusters=0), None),
    "C=N geodesic, split masks": (U.UPTConfig(n_clusters=0, cost="geodesic"), [True, True, False, True, True]),
    "k-means C=8 (fixed assignment), cluster-size masses": (U.UPTConfig(n_clusters=8, kmeans_restarts=2,
                                                                         target_mass="cluster_size"), None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_upt_gradients_match_finite_differences(case, enable_x64):
    base, mask = CASES[case]
    cfg = base.replace(sinkhorn_max_iter=20000, sinkhorn_threshold=1e-12, frechet_tol=1e-12, frechet_max_iter=500)
    protos, vids, labels = make_problem(1, k=5, n=30, d=6)
    protos, vids = protos.astype(np.float64), vids.astype(np.float64)
    rng = np.random.default_rng(2)
    r = rng.normal(size=protos.shape)
    cm = None if mask is None else jnp.asarray(mask)
    vm = None if mask is None else jnp.asarray(np.asarray(mask)[labels])

    def f(p, v, lam, eps):
        new, _ = U.upt(p, v, cfg, jax.random.PRNGKey(0), U.UPTHyper(lam, eps), class_mask=cm, video_mask=vm)
        return jnp.sum(r * new)

    args = (jnp.asarray(protos), jnp.asarray(vids), jnp.asarray(0.6), jnp.asarray(0.1))
    grads = directional_check(f, args, rng)
    assert all(np.all(np.isfinite(g)) for g in grads)
    if mask is not None:  # a masked class's output is normalize(p): derivative (I - p p^T) r
        off = ~np.asarray(mask)
        ref = r[off] - np.sum(r[off] * protos[off], axis=1, keepdims=True) * protos[off]
        np.testing.assert_allclose(grads[0][off], ref, atol=1e-6)


def test_gradients_finite_at_degenerate_points(enable_x64):
    # videos equal to the prototypes (cost 0 on the diagonal), lam at 0 and 1, and a problem whose
    # targets are the prototypes themselves (a nearly deterministic plan: slerp of a zero angle)
    rng = np.random.default_rng(3)
    p = unit(rng, 4, 5, dtype=np.float64)
    v = np.concatenate([p, unit(rng, 4, 5, dtype=np.float64)])
    for cost in ("cosine", "geodesic"):
        cfg = U.UPTConfig(n_clusters=0, cost=cost, sinkhorn_max_iter=20000)

        def f(p, v, lam, eps):
            return jnp.sum(U.upt(p, v, cfg, jax.random.PRNGKey(0), U.UPTHyper(lam, eps))[0] * jnp.arange(5.0))

        g = jax.jit(jax.grad(f, argnums=(0, 1, 2)))
        for vv, lam, eps in ((v, 0.0, 0.05), (v, 1.0, 0.05), (p, 0.5, 0.01)):
            grads = g(jnp.asarray(p), jnp.asarray(vv), jnp.asarray(lam), jnp.asarray(eps))
            assert all(np.all(np.isfinite(np.asarray(x))) for x in grads), (cost, lam)


def test_emd_gradient_is_refused_clearly_except_for_lam():
    protos, vids, _ = make_problem(2, k=4, n=30)
    cfg = U.UPTConfig(n_clusters=0, solver="emd")
    with pytest.raises(U.UPTError, match=r"solver='emd' is not differentiable.*solver='sinkhorn'"):
        jax.grad(lambda v: jnp.sum(U.upt(protos, v, cfg, jax.random.PRNGKey(0))[0]))(jnp.asarray(vids))
    # the plan does not depend on lam: d/d lam works with EMD
    f = jax.jit(lambda lam: jnp.sum(U.upt(protos, vids, cfg, jax.random.PRNGKey(0), U.UPTHyper(lam))[0][0]))
    g = float(jax.jit(jax.grad(f))(0.4))
    fd = (float(f(0.4 + 1e-3)) - float(f(0.4 - 1e-3))) / 2e-3
    assert g == pytest.approx(fd, rel=1e-2, abs=1e-4)


def test_vmapped_gradient_equals_loop():
    protos, vids, labels = make_problem(3, k=4, n=30)
    cfg = U.UPTConfig(n_clusters=0)
    onehot = jax.nn.one_hot(labels, 4)

    def loss(lam):
        new, _ = U.upt(protos, vids, cfg, jax.random.PRNGKey(0), U.UPTHyper(lam, 0.05))
        logits = 10.0 * vids @ new.T
        return -jnp.mean(jnp.sum(onehot * jax.nn.log_softmax(logits), axis=1))

    lams = jnp.asarray([0.2, 0.5, 0.8])
    vm = np.asarray(jax.jit(jax.vmap(jax.grad(loss)))(lams))
    loop = np.asarray([float(jax.jit(jax.grad(loss))(lam)) for lam in lams])
    np.testing.assert_allclose(vm, loop, rtol=1e-4, atol=1e-6)
