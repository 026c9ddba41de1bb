"""Gradients of UPT against central finite differences in float64.

Each check compares the gradient along a few random directions ``u`` with
``(f(x + h u) - f(x - h u)) / 2h`` of the jitted function (the solvers run to
tight tolerances, so the finite differences see the exact solution's
derivative): Karcher means (implicit custom_vjp), the Sinkhorn plan (implicit,
with masks), k-means centres (fixed assignment), slerp and lam.

Compile time dominates here, so every program is jitted once at module level
(``jax.value_and_grad``: the value for the finite differences and the gradient
come from one compilation) and the tests share shapes and configs.
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


def directional_check(vg, args, rng, argnums, n_dirs=2, rtol=1e-5, atol=1e-8, **kw):
    """Compare the gradient of ``vg = jit(value_and_grad(f, argnums))`` along random directions with
    central differences of its value (``kw`` are passed to every call: static config, constants).
    The arguments become NumPy float64 arrays (never weakly typed), so the perturbed calls reuse the
    one compilation."""
    args = tuple(np.asarray(a, np.float64) for a in args)
    _, grads = vg(*args, **kw)
    for argnum, g in zip(argnums, grads):
        x = args[argnum]
        for _ in range(n_dirs):
            u = rng.normal(size=np.shape(x))
            plus = list(args)
            minus = list(args)
            plus[argnum] = x + H * u
            minus[argnum] = x - H * u
            fd = (float(vg(*plus, **kw)[0]) - float(vg(*minus, **kw)[0])) / (2 * H)
            assert float(np.sum(np.asarray(g) * u)) == pytest.approx(fd, rel=rtol, abs=atol), argnum
    return [np.asarray(g) for g in grads]


def _frechet_loss(x, w, r, method, tol, max_iter):
    return jnp.sum(r * sphere.frechet_mean(sphere.normalize(x), w, method=method, tol=tol, max_iter=max_iter).mean)


_frechet_vg = {
    n: jax.jit(jax.value_and_grad(_frechet_loss, argnums=tuple(range(n))), static_argnames=("method", "tol", "max_iter"))
    for n in (1, 2)
}


def test_frechet_mean_gradient_points_and_weights(enable_x64):
    rng = np.random.default_rng(0)
    c = rng.normal(size=6)
    x = c + 0.8 * rng.normal(size=(25, 6))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    w = rng.random((3, 25))
    r = jnp.asarray(rng.normal(size=(3, 6)))
    args = (jnp.asarray(x), jnp.asarray(w))
    directional_check(_frechet_vg[2], args, rng, (0, 1), r=r, method="converged", tol=1e-13, max_iter=500)
    # the example code's rule runs a fixed number of steps: differentiated through them
    directional_check(_frechet_vg[1], args, rng, (0,), r=r, method="example", tol=1e-6, max_iter=32)


@jax.jit
def _grad_at_point(x, w):
    f = lambda x, w: jnp.sum(sphere.frechet_mean(x, w, tol=1e-12).mean[0] * jnp.arange(4.0))  # noqa: E731
    return jax.grad(f, argnums=(0, 1))(x, w)


def test_frechet_gradient_finite_at_a_data_point(enable_x64):
    # all weight on one point: the mean IS that point (angle 0, the Taylor branch of the log-map factor)
    rng = np.random.default_rng(1)
    x = jnp.asarray(unit(rng, 5, 4, dtype=np.float64))
    w = jnp.asarray([[0.0, 1.0, 0.0, 0.0, 0.0], [0.2, 0.2, 0.2, 0.2, 0.2]])
    gx, gw = _grad_at_point(x, w)
    assert np.all(np.isfinite(np.asarray(gx))) and np.all(np.isfinite(np.asarray(gw)))
    # d mean / d x_1 is the tangent projection at x_1 (the mean follows the point)
    p = np.eye(4) - np.outer(np.asarray(x[1]), np.asarray(x[1]))
    np.testing.assert_allclose(np.asarray(gx[1]), p @ np.arange(4.0), atol=1e-10)


TIGHT = dict(sinkhorn_max_iter=20000, sinkhorn_threshold=1e-12, frechet_tol=1e-12, frechet_max_iter=500)
CASES = {
    "C=N cosine": (U.UPTConfig(n_clusters=0, **TIGHT), None),
    "C=N geodesic, split masks": (U.UPTConfig(n_clusters=0, cost="geodesic", **TIGHT), [True, True, False, True, True]),
    "k-means C=8 (fixed assignment), cluster-size masses": (U.UPTConfig(n_clusters=8, kmeans_restarts=2,
                                                                         target_mass="cluster_size", **TIGHT), None),
}
K, N, D = 5, 30, 6  # every UPT gradient below has this shape: one compilation per config


def _upt_loss(p, v, lam, eps, r, cm, vm, cfg):
    new, _ = U.upt(p, v, cfg, jax.random.PRNGKey(0), U.UPTHyper(lam, eps), class_mask=cm, video_mask=vm)
    return jnp.sum(r * new)


_upt_vg = jax.jit(jax.value_and_grad(_upt_loss, argnums=(0, 1, 2, 3)), static_argnames="cfg")


@pytest.mark.parametrize("case", list(CASES))
def test_upt_gradients_match_finite_differences(case, enable_x64):
    cfg, mask = CASES[case]
    protos, vids, labels = make_problem(1, k=K, n=N, d=D)
    protos, vids = protos.astype(np.float64), vids.astype(np.float64)
    rng = np.random.default_rng(2)
    r = rng.normal(size=protos.shape)
    cm = None if mask is None else jnp.asarray(mask)
    vm = None if mask is None else jnp.asarray(np.asarray(mask)[labels])
    args = (jnp.asarray(protos), jnp.asarray(vids), jnp.asarray(0.6), jnp.asarray(0.1))
    grads = directional_check(_upt_vg, args, rng, (0, 1, 2, 3), r=jnp.asarray(r), cm=cm, vm=vm, cfg=cfg)
    assert all(np.all(np.isfinite(g)) for g in grads)
    if mask is not None:  # a masked class's output is normalize(p): derivative (I - p p^T) r
        off = ~np.asarray(mask)
        ref = r[off] - np.sum(r[off] * protos[off], axis=1, keepdims=True) * protos[off]
        np.testing.assert_allclose(grads[0][off], ref, atol=1e-6)


def test_gradients_finite_at_degenerate_points(enable_x64):
    # videos equal to the prototypes (cost 0 on the diagonal), lam at 0 and 1, and a problem whose
    # targets are the prototypes themselves (every video a copy of a prototype: a nearly deterministic
    # plan, Karcher means of identical points, slerp of a zero angle). Same shapes and configs as the
    # finite-difference test above (all-True masks for the geodesic one: the same computation as no mask).
    rng = np.random.default_rng(3)
    p = unit(rng, K, D, dtype=np.float64)
    v = np.concatenate([p, unit(rng, N - K, D, dtype=np.float64)])
    copies = np.tile(p, (N // K, 1))
    r = jnp.asarray(np.tile(np.arange(float(D)), (K, 1)))
    for case in ("C=N cosine", "C=N geodesic, split masks"):
        cfg, mask = CASES[case]
        cm = None if mask is None else jnp.ones(K, bool)
        vm = None if mask is None else jnp.ones(N, bool)
        for vv, lam, eps in ((v, 0.0, 0.05), (v, 1.0, 0.05), (copies, 0.5, 0.01)):
            args = (p, vv, np.float64(lam), np.float64(eps))  # typed as in directional_check: same compilation
            _, grads = _upt_vg(*map(np.asarray, args), r=r, cm=cm, vm=vm, cfg=cfg)
            assert all(np.all(np.isfinite(np.asarray(x))) for x in grads), (cfg.cost, lam)


def test_emd_gradient_is_refused_clearly_except_for_lam():
    protos, vids, _ = make_problem(2, k=4, n=30)
    cfg = U.UPTConfig(n_clusters=0, solver="emd")
    with pytest.raises(U.UPTError, match=r"solver='emd' is not differentiable.*solver='sinkhorn'"):
        jax.jit(jax.grad(lambda v: jnp.sum(U.upt(protos, v, cfg, jax.random.PRNGKey(0))[0])))(jnp.asarray(vids))
    # the plan does not depend on lam: d/d lam works with EMD
    vg = jax.jit(jax.value_and_grad(lambda lam: jnp.sum(U.upt(protos, vids, cfg, jax.random.PRNGKey(0), U.UPTHyper(lam))[0][0])))
    g = float(vg(0.4)[1])
    fd = (float(vg(0.4 + 1e-3)[0]) - float(vg(0.4 - 1e-3)[0])) / 2e-3
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
    one = jax.jit(jax.grad(loss))  # one compilation, called per value
    loop = np.asarray([float(one(lam)) for lam in lams])
    np.testing.assert_allclose(vm, loop, rtol=1e-4, atol=1e-6)
