"""Hypersphere geometry against float64 NumPy references and properties."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from upt_jax import sphere
from tests.conftest import SEEDS, unit

pytestmark = pytest.mark.fast

# Jitted entry points shared by the tests (one compilation per shape and static setting; an eager
# call of the Karcher loop would compile its loop again on every call). The one deliberate eager
# call is in test_jit_equals_nojit_and_vmap_equals_loop.
_frechet = jax.jit(sphere.frechet_mean, static_argnames=("method", "tol", "max_iter"))
_objective = jax.jit(sphere.frechet_objective)
_slerp = jax.jit(sphere.slerp)
_normalize = jax.jit(sphere.normalize)
_distance = jax.jit(sphere.distance)
_log_map = jax.jit(sphere.log_map)
_exp_map = jax.jit(sphere.exp_map)


def np_angle(x, y):
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    y = y / np.linalg.norm(y, axis=-1, keepdims=True)
    cross = np.linalg.norm(x - y, axis=-1)
    plus = np.linalg.norm(x + y, axis=-1)
    return 2 * np.arctan2(cross, plus)


def np_slerp(a, b, t):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    om = np.arccos(np.clip(np.dot(a, b), -1, 1))
    return (np.sin((1 - t) * om) * a + np.sin(t * om) * b) / np.sin(om)


def np_frechet(points, w, iters=500):
    """Float64 Karcher mean by plain Riemannian gradient descent."""
    points = np.asarray(points, np.float64)
    w = np.asarray(w, np.float64) / np.sum(w)
    t = points.T @ w
    t /= np.linalg.norm(t)
    for _ in range(iters):
        c = np.clip(points @ t, -1, 1)
        th = np.arccos(c)
        u = points - c[:, None] * t
        s = np.linalg.norm(u, axis=1)
        f = np.where(s > 1e-15, th / np.maximum(s, 1e-300), 1.0)
        v = (w * f) @ u
        n = np.linalg.norm(v)
        if n < 1e-14:
            break
        t = np.cos(n) * t + np.sin(n) * v / n
        t /= np.linalg.norm(t)
    return t


@pytest.mark.parametrize("seed", SEEDS)
def test_normalize_unit_and_zero_safe(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(7, 5)).astype(np.float32)
    x[3] = 0
    y = np.asarray(_normalize(jnp.asarray(x)))
    assert np.all(np.isfinite(y))
    norms = np.linalg.norm(y, axis=1)
    np.testing.assert_allclose(np.delete(norms, 3), 1, atol=1e-6)
    assert norms[3] == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_distance_matches_float64_and_properties(seed):
    rng = np.random.default_rng(seed)
    x, y, z = unit(rng, 50, 8), unit(rng, 50, 8), unit(rng, 50, 8)
    dxy = np.asarray(_distance(x, y))
    np.testing.assert_allclose(dxy, np_angle(x, y), atol=2e-6)
    np.testing.assert_allclose(dxy, np.asarray(_distance(y, x)), atol=1e-7)
    np.testing.assert_allclose(np.asarray(_distance(x, x)), 0, atol=1e-7)
    dyz = np.asarray(_distance(y, z))
    dxz = np.asarray(_distance(x, z))
    assert np.all(dxz <= dxy + dyz + 1e-5)
    np.testing.assert_allclose(np.asarray(_distance(x, -x)), np.pi, atol=1e-6)


def test_distance_tiny_angle_accuracy():
    # a 1e-4 rad angle: arccos(<x, y>) returns 0 in float32, ours does not
    theta = 1e-4
    x = np.array([1.0, 0.0, 0.0], np.float32)
    y = np.array([np.cos(theta), np.sin(theta), 0.0], np.float32)
    got = float(_distance(jnp.asarray(x), jnp.asarray(y)))
    assert abs(got - theta) / theta < 1e-3
    assert float(jnp.arccos(jnp.clip(jnp.dot(x, y), -1, 1))) != pytest.approx(theta, rel=1e-3)


@pytest.mark.parametrize("seed", SEEDS)
def test_exp_log_roundtrip(seed):
    rng = np.random.default_rng(seed)
    x, y = unit(rng, 40, 6), unit(rng, 40, 6)
    v = _log_map(x, y)
    # tangent, with norm equal to the distance
    np.testing.assert_allclose(np.sum(np.asarray(v) * x, axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(v), axis=1), np_angle(x, y), atol=2e-5)
    np.testing.assert_allclose(np.asarray(_exp_map(x, v)), y, atol=2e-5)
    np.testing.assert_allclose(np.asarray(_log_map(x, x)), 0, atol=1e-6)


def test_antipodal_log_is_deterministic_and_tangent():
    x = jnp.asarray([0.6, 0.8, 0.0, 0.0])
    v1 = np.asarray(_log_map(x, -x))
    v2 = np.asarray(_log_map(x, -x))
    np.testing.assert_array_equal(v1, v2)
    assert abs(np.dot(v1, np.asarray(x))) < 1e-6
    assert abs(np.linalg.norm(v1) - np.pi) < 1e-5
    mid = np.asarray(_slerp(x, -x, 0.5))
    assert abs(np.linalg.norm(mid) - 1) < 1e-6 and abs(np.dot(mid, np.asarray(x))) < 1e-5
    np.testing.assert_allclose(np.asarray(_slerp(x, -x, 1.0)), -np.asarray(x), atol=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
def test_slerp_endpoints_speed_and_reference(seed):
    rng = np.random.default_rng(seed)
    a, b = unit(rng, 9), unit(rng, 9)
    np.testing.assert_allclose(np.asarray(_slerp(a, b, 0.0)), a, atol=1e-6)
    np.testing.assert_allclose(np.asarray(_slerp(a, b, 1.0)), b, atol=2e-6)
    ts = np.linspace(0, 1, 11)
    pts = np.asarray(jax.jit(jax.vmap(sphere.slerp, in_axes=(None, None, 0)))(a, b, jnp.asarray(ts)))
    for t, p in zip(ts, pts):
        np.testing.assert_allclose(p, np_slerp(a, b, t), atol=2e-6)
    steps = np_angle(pts[:-1], pts[1:])
    np.testing.assert_allclose(steps, np_angle(a, b) / 10, atol=2e-6)  # constant speed


def test_slerp_near_zero_angle_is_stable():
    a = np.array([1.0, 0, 0], np.float32)
    b = np.array([1.0, 1e-7, 0], np.float32)
    out = np.asarray(_slerp(a, b / np.linalg.norm(b), 0.5))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, a, atol=1e-6)


def test_gradients_finite_at_degenerate_points():
    x = jnp.asarray([0.0, 1.0, 0.0])
    g = jax.jit(jax.grad(lambda y: sphere.distance(x, y)))(x)
    assert np.all(np.isfinite(np.asarray(g)))
    g2 = jax.jit(jax.grad(lambda y: jnp.sum(sphere.normalize(y))))(jnp.zeros(3))
    assert np.all(np.isfinite(np.asarray(g2)))
    g3 = jax.jit(jax.grad(lambda t: jnp.sum(sphere.slerp(x, x, t))))(0.5)
    assert np.isfinite(float(g3))
    g4 = jax.jit(jax.grad(lambda v: jnp.sum(sphere.exp_map(x, v))))(jnp.zeros(3))
    assert np.all(np.isfinite(np.asarray(g4)))


def test_distance_gradient_matches_central_differences():
    rng = np.random.default_rng(3)
    x, y = unit(rng, 5, dtype=np.float64), unit(rng, 5, dtype=np.float64)
    with jax.enable_x64(True):
        f = lambda z: sphere.distance(jnp.asarray(x), z / jnp.linalg.norm(z))  # noqa: E731
        g = np.asarray(jax.jit(jax.grad(f))(jnp.asarray(y)))
        h = 1e-6
        fj = jax.jit(f)
        fd = np.array([(fj(jnp.asarray(y + h * e)) - fj(jnp.asarray(y - h * e))) / (2 * h) for e in np.eye(5)])
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)


def test_frechet_mean_of_symmetric_points_is_pole():
    pole = np.array([0, 0, 1.0], np.float32)
    ang = np.deg2rad(40)
    pts = []
    for phi in np.linspace(0, 2 * np.pi, 6, endpoint=False):
        pts.append([np.sin(ang) * np.cos(phi), np.sin(ang) * np.sin(phi), np.cos(ang)])
    pts = np.asarray(pts, np.float32)
    res = _frechet(jnp.asarray(pts), jnp.ones((1, 6)))
    np.testing.assert_allclose(np.asarray(res.mean[0]), pole, atol=1e-6)
    assert bool(res.converged[0])


@pytest.mark.parametrize("seed", SEEDS)
def test_frechet_mean_matches_float64_and_beats_perturbations(seed):
    rng = np.random.default_rng(seed)
    centre = unit(rng, 16)
    pts = centre + 0.7 * rng.normal(size=(60, 16)).astype(np.float32) / 4
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    w = rng.random((4, 60)).astype(np.float32)
    w[2, :50] = 0  # sparse row
    res = _frechet(jnp.asarray(pts), jnp.asarray(w), tol=1e-6)
    for k in range(4):
        ref = np_frechet(pts, w[k])
        assert np_angle(np.asarray(res.mean[k]), ref) < np.deg2rad(1e-3)
    assert np.all(np.asarray(res.converged))
    assert np.all(np.asarray(res.grad_norm) <= 1e-6)
    obj = np.asarray(_objective(res.mean, jnp.asarray(pts), jnp.asarray(w)))
    for _ in range(10):
        pert = np.asarray(res.mean) + 0.02 * rng.normal(size=res.mean.shape)
        pert /= np.linalg.norm(pert, axis=1, keepdims=True)
        obj_p = np.asarray(_objective(jnp.asarray(pert, jnp.float32), jnp.asarray(pts), jnp.asarray(w)))
        assert np.all(obj <= obj_p + 1e-6)


def np_geomstats_default(points, w, max_iter=32, eps=1e-4):
    """NumPy transcription of the example code's FrechetMean stopping rule (docs/method.md)."""
    points = np.asarray(points, np.float64)
    w = np.asarray(w, np.float64)
    d = points.shape[1]
    mean = points[0].copy()
    norm_old = np.linalg.norm(points)
    step = 1.0
    it = 0
    while it < max_iter:
        c = np.clip(points @ mean, -1, 1)
        th = np.arccos(c)
        u = points - c[:, None] * mean
        s = np.linalg.norm(u, axis=1)
        logs = np.where((s > 1e-15)[:, None], u * (th / np.maximum(s, 1e-300))[:, None], 0.0)
        var = np.sum(w * th**2) / np.sum(w)
        tm = (w @ logs) / np.sum(w)
        norm = np.linalg.norm(tm)
        stop = np.isclose(var, 0.0) or norm**2 <= eps * (d - 1)
        if stop and it > 0:
            break
        n = np.linalg.norm(step * tm)
        mean = np.cos(n) * mean + (np.sin(n) / n if n > 0 else 1.0) * step * tm
        mean /= np.linalg.norm(mean)
        it += 1
        if norm < norm_old:
            norm_old = norm
        elif norm > norm_old:
            step /= 2
    return mean, it


@pytest.mark.parametrize("seed", SEEDS)
def test_frechet_example_rule_matches_numpy_transcription(seed):
    rng = np.random.default_rng(seed)
    pts = unit(rng, 80, 10)
    w = rng.random((3, 80)).astype(np.float32) ** 4
    res = _frechet(jnp.asarray(pts), jnp.asarray(w), method="example", max_iter=32)
    conv = _frechet(jnp.asarray(pts), jnp.asarray(w))
    for k in range(3):
        ref, it = np_geomstats_default(pts, w[k])
        assert np_angle(np.asarray(res.mean[k]), ref) < np.deg2rad(0.01)
        assert int(res.n_iters[k]) == it
    # the example rule stops early: it is not the converged mean
    assert np.any(np_angle(np.asarray(res.mean), np.asarray(conv.mean)) > 1e-3)


def test_frechet_empty_row_reported():
    rng = np.random.default_rng(0)
    pts = unit(rng, 10, 4)
    w = np.ones((2, 10), np.float32)
    w[1] = 0
    res = _frechet(jnp.asarray(pts), jnp.asarray(w))
    assert bool(res.converged[0]) and not bool(res.converged[1])
    assert int(res.n_iters[1]) == 0


def test_jit_equals_nojit_and_vmap_equals_loop():
    rng = np.random.default_rng(5)
    a, b = unit(rng, 3, 7), unit(rng, 3, 7)
    ts = jnp.asarray([0.1, 0.5, 0.9])
    f = lambda a, b, t: sphere.slerp(a, b, t)  # noqa: E731
    np.testing.assert_allclose(np.asarray(jax.jit(f)(a, b, ts)), np.asarray(f(a, b, ts)), atol=1e-6)  # the eager call
    vm = np.asarray(jax.jit(jax.vmap(f))(a, b, ts))
    loop = np.stack([np.asarray(_slerp(a[i], b[i], ts[i])) for i in range(3)])
    np.testing.assert_allclose(vm, loop, atol=1e-6)
    pts = unit(rng, 30, 7)
    w = jnp.asarray(rng.random((3, 4, 30)), jnp.float32)
    g = lambda pts, w: sphere.frechet_mean(pts, w).mean  # noqa: E731
    vm = np.asarray(jax.jit(jax.vmap(g, in_axes=(None, 0)))(pts, w))
    one = jax.jit(g)
    loop = np.stack([np.asarray(one(pts, w[i])) for i in range(3)])
    np.testing.assert_allclose(vm, loop, atol=1e-6)


def test_karcher_converges_on_spread_points_within_the_cap():
    # uniform weights on 1,000 random points in d = 300: the plain unit Karcher step needs ~155
    # iterations (contraction ~0.92 per step); the safeguarded step converges well within the cap of 100
    rng = np.random.default_rng(0)
    pts = unit(rng, 1000, 300)
    res = _frechet(jnp.asarray(pts), jnp.ones((1, 1000), jnp.float32), tol=1e-6, max_iter=100)
    assert bool(res.converged[0]) and float(res.grad_norm[0]) <= 1e-6
    assert 1 <= int(res.n_iters[0]) <= 20
    ref = np_frechet(pts, np.ones(1000), iters=3000)
    assert np_angle(np.asarray(res.mean[0]), ref) < np.deg2rad(1e-3)


def _unit_step_karcher(pts, w, iters):
    """The classical Karcher iteration (unit step) in float64, for comparison."""
    pts = np.asarray(pts, np.float64)
    w = np.asarray(w, np.float64) / np.sum(w)
    t = pts.T @ w
    t /= np.linalg.norm(t)
    for _ in range(iters):
        c = np.clip(pts @ t, -1, 1)
        u = pts - c[:, None] * t
        s = np.linalg.norm(u, axis=1)
        v = (w * np.where(s > 1e-15, np.arccos(c) / np.maximum(s, 1e-300), 1.0)) @ u
        n = np.linalg.norm(v)
        t = np.cos(n) * t + (np.sin(n) / n if n > 0 else 1.0) * v
    c = np.clip(pts @ t, -1, 1)
    u = pts - c[:, None] * t
    s = np.linalg.norm(u, axis=1)
    return np.linalg.norm((w * np.where(s > 1e-15, np.arccos(c) / np.maximum(s, 1e-300), 1.0)) @ u)


def test_unit_step_stalls_where_the_safeguarded_step_does_not():
    # the reason for the new step: with the same cap the classical iteration is still far from converged
    rng = np.random.default_rng(0)
    pts = unit(rng, 1000, 300, dtype=np.float64)
    assert _unit_step_karcher(pts, np.ones(1000), 100) > 1e-6
    with jax.enable_x64(True):
        res = _frechet(jnp.asarray(pts), jnp.ones((1, 1000)), tol=1e-10, max_iter=100)
        assert bool(res.converged[0])


def test_karcher_objective_never_increases(enable_x64):
    # every accepted step decreases the Frechet objective (float64; caps 1, 2, ... replay the iterations)
    rng = np.random.default_rng(0)
    centre = unit(rng, 20, dtype=np.float64)
    pts = centre + rng.normal(size=(300, 20)) * rng.choice([0.2, 2.0], size=(300, 1))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    w = rng.random((3, 300)) ** 3
    wn = w / w.sum(1, keepdims=True)
    f = jax.jit(lambda m, p, w, wn: sphere.frechet_objective(sphere.frechet_mean(p, w, tol=1e-12, max_iter=m).mean, p, wn),
                static_argnums=0)
    objs = np.stack([np.asarray(f(m, pts, w, wn)) for m in (1, 2, 3, 4, 6, 40)])
    assert np.all(np.diff(objs, axis=0) <= 1e-12)
    ref = [float(_objective(jnp.asarray(np_frechet(pts, w[k], iters=5000))[None], jnp.asarray(pts),
                            jnp.asarray(wn[k:k + 1]))[0]) for k in range(3)]
    np.testing.assert_allclose(objs[-1], ref, rtol=1e-9)


def test_karcher_factor_derivative_is_finite_and_exact(enable_x64):
    # f(c) = arccos(c) / sqrt(1 - c^2): closed-form derivative, and f'(1) = -1/3 at the coincident point
    def ref_df(c):
        s = np.sqrt(1 - c * c)
        return (-1.0 / s * s + np.arccos(c) * c / s) / (s * s)

    df = jax.jit(jax.grad(lambda c: sphere.karcher_factor(c)[1]))
    for c in (0.3, -0.4, 0.9, 0.999):
        assert float(df(jnp.float64(c))) == pytest.approx(ref_df(c), rel=1e-7)
    assert float(df(jnp.float64(1.0))) == pytest.approx(-1.0 / 3.0, rel=1e-12)
    assert np.isfinite(float(df(jnp.float64(-1.0))))


def test_frechet_mean_rejects_bad_caps_and_tolerances():
    pts = jnp.asarray(unit(np.random.default_rng(0), 5, 3))
    with pytest.raises(ValueError, match="max_iter must be >= 1"):
        sphere.frechet_mean(pts, jnp.ones((1, 5)), max_iter=0)
    with pytest.raises(ValueError, match="tol must be > 0"):
        sphere.frechet_mean(pts, jnp.ones((1, 5)), tol=-1.0)
