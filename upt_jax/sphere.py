"""Geometry of the unit hypersphere S^{d-1}.

All functions are pure, shape-polymorphic over leading (batch) axes and safe
to ``jit``, ``vmap`` and differentiate. Points are unit vectors ``[..., d]``;
tangent vectors at ``x`` are orthogonal to ``x``.

Numerics:
- the geodesic distance is ``2 * atan2(|x - y|, |x + y|)``, accurate to a few
  ulps over the whole range [0, pi] (``arccos(<x, y>)`` returns 0 for angles
  below ~3e-4 rad in float32 and has an infinite gradient at ``x == y``);
- norms go through :func:`safe_norm` (the double-``where`` of jax-md's
  ``safe_mask``) so gradients stay finite at zero vectors and at ``x == y``;
- antipodal pairs (``y == -x``) have no unique geodesic. ``log_map`` then
  picks a deterministic direction: the basis vector ``e_i`` with the smallest
  ``|x_i|`` projected onto the tangent space of ``x``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "safe_norm",
    "normalize",
    "distance",
    "pairwise_cos",
    "tangent_project",
    "log_map",
    "exp_map",
    "slerp",
    "geodesic_step",
    "FrechetResult",
    "frechet_mean",
    "frechet_objective",
    "karcher_factor",
]

_ANTIPODAL = 1e-6  # |x + y| below this: treated as antipodal


def safe_norm(v: jax.Array, axis: int = -1, keepdims: bool = False) -> jax.Array:
    """Euclidean norm with a finite (zero) gradient at the zero vector.

    Args:
      v: ``[..., d]`` vectors.

    Returns:
      ``[...]`` norms (``[..., 1]`` with ``keepdims``), same dtype as ``v``.
    """
    sq = jnp.sum(v * v, axis=axis, keepdims=keepdims)
    positive = sq > 0
    safe_sq = jnp.where(positive, sq, jnp.ones_like(sq))
    return jnp.where(positive, jnp.sqrt(safe_sq), jnp.zeros_like(sq))


def normalize(v: jax.Array, axis: int = -1, eps: float = 1e-12) -> jax.Array:
    """L2-normalise ``v`` along ``axis``; zero vectors stay zero (no NaN).

    Args:
      v: ``[..., d]`` array.

    Returns:
      ``[..., d]`` unit vectors (zero rows map to zero rows).
    """
    n = safe_norm(v, axis=axis, keepdims=True)
    return v / jnp.maximum(n, eps)


def distance(x: jax.Array, y: jax.Array) -> jax.Array:
    """Geodesic (great-circle) distance in radians, accurate for tiny angles.

    Args:
      x, y: ``[..., d]`` unit vectors (broadcastable).

    Returns:
      ``[...]`` angles in [0, pi].
    """
    return 2.0 * jnp.arctan2(safe_norm(x - y), safe_norm(x + y))


def pairwise_cos(x: jax.Array, y: jax.Array, precision=jax.lax.Precision.HIGHEST) -> jax.Array:
    """Cosine similarities of two sets of unit vectors.

    Args:
      x: ``[n, d]``, y: ``[m, d]`` unit vectors.
      precision: matmul precision; HIGHEST by default (accelerators otherwise
        use reduced-precision TF32/bf16 products).

    Returns:
      ``[n, m]`` cosines clipped to [-1, 1].
    """
    return jnp.clip(jnp.matmul(x, y.T, precision=precision), -1.0, 1.0)


def tangent_project(x: jax.Array, v: jax.Array) -> jax.Array:
    """Project ``v`` onto the tangent space at ``x``: ``v - <x, v> x``.

    Args:
      x: ``[..., d]`` unit base points; v: ``[..., d]`` vectors.
    """
    return v - jnp.sum(x * v, axis=-1, keepdims=True) * x


def _fallback_direction(x: jax.Array) -> jax.Array:
    """A deterministic unit tangent at ``x`` (used for antipodal pairs)."""
    d = x.shape[-1]
    i = jnp.argmin(jnp.abs(x), axis=-1)
    e = jax.nn.one_hot(i, d, dtype=x.dtype)
    return normalize(tangent_project(x, e))


def log_map(x: jax.Array, y: jax.Array) -> jax.Array:
    """Riemannian logarithm: the tangent vector at ``x`` pointing to ``y``.

    Its norm is ``distance(x, y)``. For antipodal ``y = -x`` the direction is
    the deterministic fallback described in the module docstring.

    Args:
      x: ``[..., d]`` unit base points; y: ``[..., d]`` unit points.

    Returns:
      ``[..., d]`` tangent vectors at ``x``.
    """
    theta = distance(x, y)[..., None]
    u = tangent_project(x, y)
    un = safe_norm(u, keepdims=True)
    antipodal = safe_norm(x + y, keepdims=True) < _ANTIPODAL
    # theta / sin(theta) * u, and sin(theta) = |u| (with |u| -> theta near 0).
    ratio = jnp.where(un > 0, theta / jnp.where(un > 0, un, 1.0), 1.0)
    return jnp.where(antipodal, theta * _fallback_direction(x), u * ratio)


def exp_map(x: jax.Array, v: jax.Array) -> jax.Array:
    """Riemannian exponential: follow the geodesic from ``x`` along ``v``.

    Args:
      x: ``[..., d]`` unit base points; v: ``[..., d]`` tangent vectors at x.

    Returns:
      ``[..., d]`` unit vectors ``cos|v| x + sin|v| v/|v|`` (re-normalised).
    """
    n = safe_norm(v, keepdims=True)
    # jnp.sinc(z) = sin(pi z)/(pi z), smooth with a defined gradient at 0.
    y = jnp.cos(n) * x + jnp.sinc(n / jnp.pi) * v
    return normalize(y)


def slerp(a: jax.Array, b: jax.Array, t: jax.Array) -> jax.Array:
    """Spherical linear interpolation, ``t`` = fraction of the arc travelled.

    ``slerp(a, b, 0) = a`` and ``slerp(a, b, 1) = b``; constant angular speed.
    Stable near 0 (no division by sin(theta)) and at pi (deterministic
    direction). NOTE: the UPT example code's ``slerp(p1, p2, t)`` uses the
    reverse convention (it returns p1 at t = 1); its ``-l L`` is our
    ``t = 1 - L``.

    Args:
      a, b: ``[..., d]`` unit vectors; t: scalar or ``[...]`` fractions.

    Returns:
      ``[..., d]`` unit vectors.
    """
    t = jnp.asarray(t, dtype=a.dtype)
    return exp_map(a, t[..., None] * log_map(a, b))


def geodesic_step(a: jax.Array, b: jax.Array, lam: jax.Array) -> jax.Array:
    """The UPT update: move ``a`` a fraction ``lam`` of the way to ``b``."""
    return slerp(a, b, lam)


class FrechetResult(NamedTuple):
    """Output of :func:`frechet_mean`.

    Attributes:
      mean: ``[k, d]`` weighted Frechet means.
      n_iters: ``[k]`` int32, iterations taken by each mean.
      grad_norm: ``[k]`` norm of the Riemannian gradient of the objective
        divided by 2 (= the norm of the weighted mean log-map) at ``mean``.
      converged: ``[k]`` bool, whether the stopping rule was met.
    """

    mean: jax.Array
    n_iters: jax.Array
    grad_norm: jax.Array
    converged: jax.Array


def karcher_factor(c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Angle and log-map factor from cosines: ``theta``, ``theta / sin(theta)``.

    ``log_t(x) = f (x - cos t)`` with ``f = theta / sin(theta)`` (-> 1 as
    theta -> 0, by its Taylor series below sin = 1e-6).

    Args:
      c: ``[...]`` cosines in [-1, 1].

    Returns:
      ``(theta, f)``, both ``[...]``.
    """
    s = jnp.sqrt(jnp.clip(1.0 - c * c, 0.0, None))
    theta = jnp.arctan2(s, c)
    small = s < 1e-6
    f = jnp.where(small, 1.0 + theta * theta / 6.0, theta / jnp.where(small, 1.0, s))
    return theta, f


def _mean_log(t, points, weights, precision):
    """Weighted mean of log_t(points), without a [k, n, d] tensor.

    log_t(x_j) = f(theta_j) (x_j - cos_j t), f = theta/sin(theta), so
    sum_j w_j log_t(x_j) = (w * f) @ X - (sum_j w_j f_j cos_j) t.

    Args:
      t: [k, d] base points; points: [n, d]; weights: [k, n] rows summing to 1.

    Returns:
      [k, d] tangent vectors at t, [k] weighted squared distances (variance).
    """
    c = jnp.clip(jnp.matmul(t, points.T, precision=precision), -1.0, 1.0)
    theta, f = karcher_factor(c)
    wf = weights * f
    v = jnp.matmul(wf, points, precision=precision) - jnp.sum(wf * c, axis=-1, keepdims=True) * t
    v = tangent_project(t, v)
    var = jnp.sum(weights * theta * theta, axis=-1)
    return v, var


def frechet_objective(t: jax.Array, points: jax.Array, weights: jax.Array) -> jax.Array:
    """Weighted Frechet objective ``sum_j w_j d(t, x_j)^2`` per row.

    Args:
      t: ``[k, d]`` candidates; points: ``[n, d]``; weights: ``[k, n]``.

    Returns:
      ``[k]`` objective values (weights used as given, not renormalised).
    """
    d = distance(t[:, None, :], points[None, :, :])
    return jnp.sum(weights * d * d, axis=-1)


def frechet_mean(
    points: jax.Array,
    weights: jax.Array,
    *,
    method: str = "converged",
    tol: float = 1e-6,
    max_iter: int = 100,
    init: jax.Array | None = None,
    precision=jax.lax.Precision.HIGHEST,
) -> FrechetResult:
    """Weighted Frechet (Karcher) means on the sphere, one per weight row.

    Minimises ``sum_j w_kj * d(t, x_j)^2`` over unit ``t`` for every row k at
    once. Cost per iteration: two ``[k, n] x [n, d]`` matmuls (no ``[k, n, d]``
    tensor), so it scales to n = all test videos.

    Methods:
      ``"converged"`` (default): Riemannian gradient descent with unit step
        (the Karcher fixed-point iteration) from the normalised weighted
        Euclidean mean (or ``init``), until the norm of the weighted mean
        log-map is below ``tol`` or ``max_iter`` iterations.
      ``"example"``: the stopping rule of the UPT example code, which used
        geomstats' ``FrechetMean`` with default settings: start at the FIRST
        point (``points[0]``, whatever its weight), step size 1.0 halved
        whenever the mean log-map norm grows, at most ``max_iter`` (use 32)
        iterations, at least one step, stop once its squared norm is at most
        ``1e-4 * (d - 1)``. ``tol`` is ignored. These means are NOT converged
        (median error of several degrees on UCF-101-sized data); use this
        method only to reproduce the example code's numbers.

    Rows whose weights sum to zero return ``init`` (or the first point) with
    ``converged=False`` and ``n_iters=0``; callers should treat them as empty.

    Args:
      points: ``[n, d]`` unit vectors.
      weights: ``[k, n]`` non-negative weights (normalised per row inside).
      method: ``"converged"`` or ``"example"`` (static).
      tol: gradient-norm tolerance (traceable).
      max_iter: iteration cap (static).
      init: optional ``[k, d]`` starting points.
      precision: matmul precision.

    Returns:
      :class:`FrechetResult`.
    """
    if method not in ("converged", "example"):
        raise ValueError(f"frechet_mean: method must be 'converged' or 'example', got {method!r}")
    k, n = weights.shape
    d = points.shape[-1]
    dtype = points.dtype
    mass = jnp.sum(weights, axis=-1, keepdims=True)
    has_mass = mass[:, 0] > 0
    w = weights / jnp.where(mass > 0, mass, 1.0)

    if method == "converged":
        if init is None:
            init = normalize(jnp.matmul(w, points, precision=precision))
            init = jnp.where(safe_norm(init, keepdims=True) > 0, init, points[0])
        tol = jnp.asarray(tol, dtype)

        def cond(state):
            _, step, _, _, gn = state
            return jnp.logical_and(step < max_iter, jnp.any(jnp.logical_and(gn > tol, has_mass)))

        def body(state):
            t, step, iters, v, gn = state
            active = jnp.logical_and(gn > tol, has_mass)
            t_new = jnp.where(active[:, None], exp_map(t, v), t)
            v_new, _ = _mean_log(t_new, points, w, precision)
            return t_new, step + 1, iters + active.astype(jnp.int32), v_new, safe_norm(v_new)

        v0, _ = _mean_log(init, points, w, precision)
        state = (init, jnp.int32(0), jnp.zeros((k,), jnp.int32), v0, safe_norm(v0))
        t, _, iters, _, gn = jax.lax.while_loop(cond, body, state)
        return FrechetResult(t, iters, gn, jnp.logical_and(gn <= tol, has_mass))

    # method == "example": geomstats' default gradient descent, batched.
    thresh = jnp.asarray(1e-4 * (d - 1), dtype)
    t0 = jnp.broadcast_to(points[0], (k, d)) if init is None else init
    norm_old0 = jnp.full((k,), jnp.sqrt(jnp.sum(points * points)), dtype)

    def body_ex(i, state):
        t, step, norm_old, done, iters = state
        v, var = _mean_log(t, points, w, precision)
        norm = safe_norm(v)
        stop = jnp.logical_or(jnp.isclose(var, 0.0), norm * norm <= thresh)
        stop = jnp.logical_and(stop, i > 0)  # geomstats always takes the first step
        done = jnp.logical_or(done, jnp.logical_or(stop, ~has_mass))
        move = ~done
        t = jnp.where(move[:, None], exp_map(t, step[:, None] * v), t)
        iters = iters + move.astype(jnp.int32)
        shrink = jnp.logical_and(move, norm > norm_old)
        step = jnp.where(shrink, step / 2.0, step)
        norm_old = jnp.where(jnp.logical_and(move, norm < norm_old), norm, norm_old)
        return t, step, norm_old, done, iters

    state = (t0, jnp.ones((k,), dtype), norm_old0, jnp.zeros((k,), bool), jnp.zeros((k,), jnp.int32))
    t, _, _, done, iters = jax.lax.fori_loop(0, max_iter, body_ex, state)
    v, _ = _mean_log(t, points, w, precision)
    gn = safe_norm(v)
    return FrechetResult(t, iters, gn, jnp.logical_and(gn * gn <= thresh, has_mass))
