"""Clustering of the test projections into C centres (UPT step 1).

Two variants, both seeded and with ``n_init`` restarts run in parallel
(``vmap``), k-means++ initialisation and a Lloyd loop that stops when the
assignments stop changing, when the centre shift falls below a tolerance, or at
``max_iter``:

- ``"euclidean"``: k-means on the L2-normalised vectors with squared
  Euclidean distance, centres re-normalised at the end. This is what the
  example code does (scikit-learn ``KMeans(n_init=10)`` on normalised
  vectors, then normalised centres).
- ``"spherical"``: cosine k-means (assign by the largest cosine, centres are
  normalised means; Dhillon & Modha 2001).

Why not OTT-JAX's ``k_means``: it runs restarts one after the other and has
no spherical variant; this module vmaps restarts and computes distances with a
single matmul per iteration, the shape that accelerators and the 2-core CI
machine both like. It is checked against scikit-learn in the tests.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from upt_jax import sphere

__all__ = ["KMeansResult", "Centres", "kmeans", "kmeans_plus_plus", "no_clustering"]

_HI = jax.lax.Precision.HIGHEST


class KMeansResult(NamedTuple):
    """Output of :func:`kmeans`.

    Attributes:
      centres: ``[c, d]`` centres (unit norm when the input was normalised and
        ``normalize_centres``); the best restart.
      assignment: ``[n]`` int32 cluster of each point (masked points: -1).
      sizes: ``[c]`` float, weighted number of points per cluster.
      inertia: ``[]`` weighted sum of squared distances (euclidean) or of
        ``1 - cos`` (spherical) of the best restart.
      n_iters: ``[]`` int32 Lloyd iterations of the best restart.
      converged: ``[]`` bool, whether the best restart met the stopping rule.
    """

    centres: jax.Array
    assignment: jax.Array
    sizes: jax.Array
    inertia: jax.Array
    n_iters: jax.Array
    converged: jax.Array


class Centres(NamedTuple):
    """The transport target set.

    Attributes:
      points: ``[c, d]`` unit centres (or the videos themselves, C = N).
      mass: ``[c]`` target masses, summing to 1 over valid centres, 0 elsewhere.
      sizes: ``[c]`` number of (unmasked) videos per centre.
      mask: ``[c]`` bool, valid (non-empty) centres.
      assignment: ``[n]`` int32 centre of each video (-1 for masked videos).
      inertia: ``[]`` k-means inertia (0 without clustering).
      kmeans_iters: ``[]`` int32 Lloyd iterations (0 without clustering).
    """

    points: jax.Array
    mass: jax.Array
    sizes: jax.Array
    mask: jax.Array
    assignment: jax.Array
    inertia: jax.Array
    kmeans_iters: jax.Array


def _scores(x, c, spherical):
    """[n, c] scores to maximise: cos (spherical) or -|x - c|^2 + |x|^2."""
    xc = jnp.matmul(x, c.T, precision=_HI)
    if spherical:
        return xc
    return 2.0 * xc - jnp.sum(c * c, axis=-1)[None, :]


def kmeans_plus_plus(key: jax.Array, x: jax.Array, k: int, weights: jax.Array, *, spherical: bool = False) -> jax.Array:
    """k-means++ seeding (Arthur & Vassilvitskii 2007), one candidate per step.

    Args:
      key: PRNG key.
      x: ``[n, d]`` points.
      k: number of centres (static).
      weights: ``[n]`` non-negative point weights (0 = masked out).
      spherical: use ``1 - cos`` instead of the squared distance.

    Returns:
      ``[k, d]`` initial centres (points of ``x``).
    """
    n = x.shape[0]
    k_first, k_rest = jax.random.split(key)
    logw = jnp.where(weights > 0, jnp.log(jnp.maximum(weights, 1e-30)), -jnp.inf)
    first = jax.random.categorical(k_first, logw)
    # one uniform per step, inverse-CDF sampling (cheaper than Gumbel over n)
    u = jax.random.uniform(k_rest, (k,), dtype=x.dtype)
    xx = jnp.sum(x * x, axis=-1)

    def dist_to(c):
        xc = jnp.matmul(x, c, precision=_HI)
        if spherical:
            return jnp.maximum(1.0 - xc, 0.0)
        return jnp.maximum(xx - 2.0 * xc + jnp.sum(c * c), 0.0)

    def sample(p, ui):
        cs = jnp.cumsum(p)
        j = jnp.searchsorted(cs, ui * cs[-1], side="right")
        return jnp.clip(j, 0, n - 1).astype(jnp.int32)

    idx0 = jnp.zeros((k,), jnp.int32).at[0].set(first)
    mind0 = dist_to(x[first])

    def body(i, state):
        idx, mind = state
        p = weights * mind
        # every remaining point coincides with a centre: sample by weight
        p = jnp.where(jnp.sum(p) > 0, p, weights)
        j = sample(p, u[i])
        return idx.at[i].set(j), jnp.minimum(mind, dist_to(x[j]))

    idx, _ = jax.lax.fori_loop(1, k, body, (idx0, mind0))
    return x[idx]


def _lloyd(x, w, init, *, spherical, max_iter, tol):
    """Lloyd iterations from ``init``; returns (centres, assign, sizes, inertia, iters, converged)."""
    k = init.shape[0]

    def assign(c):
        s = _scores(x, c, spherical)
        a = jnp.argmax(s, axis=-1).astype(jnp.int32)
        best = jnp.max(s, axis=-1)
        return a, best

    def update(c, a):
        sums = jax.ops.segment_sum(w[:, None] * x, a, num_segments=k)
        sizes = jax.ops.segment_sum(w, a, num_segments=k)
        if spherical:
            new = sphere.normalize(sums)
        else:
            new = sums / jnp.maximum(sizes, 1e-30)[:, None]
        # empty clusters keep their previous centre
        new = jnp.where((sizes > 0)[:, None], new, c)
        return new, sizes

    def cond(state):
        _, _, it, shift, changed = state
        return jnp.logical_and(it < max_iter, jnp.logical_and(shift > tol, changed))

    def body(state):
        c, a_old, it, _, _ = state
        a, _ = assign(c)
        new, _ = update(c, a)
        shift = jnp.sum((new - c) ** 2)
        changed = jnp.logical_or(it == 0, jnp.any(jnp.logical_and(a != a_old, w > 0)))
        return new, a, it + 1, shift, changed

    n = x.shape[0]
    state = (init, jnp.full((n,), -1, jnp.int32), jnp.int32(0), jnp.asarray(jnp.inf, x.dtype), jnp.asarray(True))
    c, a_prev, iters, shift, changed = jax.lax.while_loop(cond, body, state)
    a, best = assign(c)
    _, sizes = update(c, a)
    if spherical:
        inertia = jnp.sum(w * (1.0 - best))
    else:
        inertia = jnp.sum(w * jnp.maximum(jnp.sum(x * x, axis=-1) - best, 0.0))
    converged = jnp.logical_or(shift <= tol, ~changed)
    return c, a, sizes, inertia, iters, converged


def kmeans(
    x: jax.Array,
    k: int,
    key: jax.Array,
    *,
    weights: jax.Array | None = None,
    n_init: int = 10,
    max_iter: int = 100,
    tol: float = 1e-4,
    spherical: bool = False,
    normalize_centres: bool = True,
) -> KMeansResult:
    """Seeded k-means with ``n_init`` parallel restarts; keeps the lowest inertia.

    Args:
      x: ``[n, d]`` points (normalise them first for UPT).
      k: number of clusters (static), ``1 <= k <= n``.
      key: PRNG key; restart ``r`` uses ``fold_in(key, r)``.
      weights: optional ``[n]`` point weights; 0 masks a point out.
      n_init: restarts (static), run in parallel with ``vmap``.
      max_iter: Lloyd iteration cap (static).
      tol: stop when the total squared centre shift is at most
        ``tol * mean per-feature variance`` of ``x`` (scikit-learn's rule).
      spherical: cosine k-means instead of Euclidean.
      normalize_centres: L2-normalise the returned centres.

    Returns:
      :class:`KMeansResult` of the best restart.
    """
    n, _ = x.shape
    if not 1 <= k <= n:
        raise ValueError(f"kmeans: need 1 <= k <= n, got k={k} for x of shape {tuple(x.shape)}")
    w = jnp.ones((n,), x.dtype) if weights is None else jnp.asarray(weights, x.dtype)
    wsum = jnp.maximum(jnp.sum(w), 1e-30)
    mu = jnp.sum(w[:, None] * x, axis=0) / wsum
    var = jnp.sum(w[:, None] * (x - mu) ** 2, axis=0) / wsum
    abs_tol = tol * jnp.mean(var)

    def one(r):
        kr = jax.random.fold_in(key, r)
        init = kmeans_plus_plus(kr, x, k, w, spherical=spherical)
        return _lloyd(x, w, init, spherical=spherical, max_iter=max_iter, tol=abs_tol)

    c, a, sizes, inertia, iters, conv = jax.vmap(one)(jnp.arange(n_init))
    best = jnp.argmin(inertia)
    centres = c[best]
    if normalize_centres:
        centres = sphere.normalize(centres)
    assignment = jnp.where(w > 0, a[best], -1)
    return KMeansResult(centres, assignment, sizes[best], inertia[best], iters[best], conv[best])


def no_clustering(videos: jax.Array, video_mask: jax.Array | None = None) -> KMeansResult:
    """C = N: every video is its own centre (masked videos get size 0)."""
    n = videos.shape[0]
    sizes = jnp.ones((n,), videos.dtype) if video_mask is None else video_mask.astype(videos.dtype)
    assignment = jnp.where(sizes > 0, jnp.arange(n, dtype=jnp.int32), -1)
    return KMeansResult(sphere.normalize(videos), assignment, sizes, jnp.zeros((), videos.dtype), jnp.int32(0), jnp.asarray(True))
