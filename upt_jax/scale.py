"""Large-N paths: transport and Frechet means without an ``[K, N]`` matrix in memory.

For C = N (no clustering) with hundreds of thousands of videos, the dense
``[K, N]`` cost, coupling and Frechet weights stop fitting. This module never
materialises them: every pass walks over chunks of ``chunk`` target points
(``lax.scan`` over ``[N / chunk, chunk, d]``), recomputing the cost block
``[K, chunk]`` from the points with one matmul. Memory is O(K * chunk + N * d).

- :func:`sinkhorn_chunked`: log-domain Sinkhorn, potentials ``f [K]`` and
  ``g [N]``; the plan is implicit, ``P_kj = exp((f_k + g_j - C_kj) / eps)``.
  (OTT-JAX 0.6.0's online ``PointCloud(batch_size=...)`` would do this, but
  fails on JAX 0.10: ``jax.interpreters.batching has no is_vmappable``.)
- :func:`frechet_mean_chunked`: the Karcher iteration of
  :func:`upt_jax.sphere.frechet_mean` ("converged" method) with the plan
  rows as weights, recomputed per chunk.
- :func:`plan_top_m` + :func:`frechet_mean_sparse`: the plan is nearly sparse
  (an exact EMD plan has at most K + N - 1 non-zeros); keeping the ``m``
  largest entries per row and running the Karcher mean on ``[K, m]``
  neighbours costs O(K * m * d) per iteration instead of O(K * N * d).
- :func:`upt_no_clustering`: UPT with C = N built from these pieces;
  :func:`classify_chunked`: nearest prototype without an ``[N, K]`` matrix.

All functions are pure (no ``jit`` inside) and take static ``chunk`` / ``m``.
``N`` is padded to a multiple of ``chunk`` with zero-mass points.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from upt_jax import sphere

__all__ = [
    "ChunkedSinkhorn",
    "sinkhorn_chunked",
    "plan_rows_chunked",
    "frechet_mean_chunked",
    "plan_top_m",
    "frechet_mean_sparse",
    "upt_no_clustering",
    "classify_chunked",
]

_HI = jax.lax.Precision.HIGHEST


class ChunkedSinkhorn(NamedTuple):
    """Output of :func:`sinkhorn_chunked` (the plan is implicit).

    Attributes:
      f: ``[K]`` row potentials; g: ``[N]`` column potentials.
      scale: ``[]`` the cost normaliser (max of the raw cost over valid pairs).
      epsilon: ``[]`` regularisation used (on the normalised cost).
      converged: ``[]`` bool; n_iters: ``[]`` int32;
      marginal_error: ``[]`` L1 error of the row marginals.
    """

    f: jax.Array
    g: jax.Array
    scale: jax.Array
    epsilon: jax.Array
    converged: jax.Array
    n_iters: jax.Array
    marginal_error: jax.Array


def _pad(points, b, chunk):
    n = points.shape[0]
    chunk = max(1, min(int(chunk), n))
    n_pad = -(-n // chunk) * chunk
    pts = jnp.pad(points, ((0, n_pad - n), (0, 0)))
    bb = jnp.pad(b, (0, n_pad - n))
    return pts.reshape(-1, chunk, points.shape[1]), bb.reshape(-1, chunk), n


def _raw_cost(p, pts, kind):
    cos = jnp.clip(jnp.matmul(p, pts.T, precision=_HI), -1.0, 1.0)
    if kind == "cosine":
        return 1.0 - cos
    return 2.0 * jnp.arctan2(jnp.sqrt(jnp.maximum(2.0 - 2.0 * cos, 0.0)), jnp.sqrt(jnp.maximum(2.0 + 2.0 * cos, 0.0)))


def sinkhorn_chunked(
    prototypes: jax.Array,
    points: jax.Array,
    a: jax.Array,
    b: jax.Array,
    *,
    epsilon: float | jax.Array = 1e-2,
    threshold: float | jax.Array = 1e-3,
    max_iterations: int = 2000,
    kind: str = "cosine",
    chunk: int = 4096,
    cache_cost: bool | None = None,
) -> ChunkedSinkhorn:
    """Log-domain Sinkhorn between ``K`` prototypes and ``N`` points, cost by chunks.

    Cost: ``1 - cos`` (or the angle) divided by its maximum over pairs with
    positive mass, as :func:`upt_jax.transport.cost_matrix`.

    Args:
      prototypes: ``[K, d]`` unit vectors; points: ``[N, d]`` unit vectors.
      a: ``[K]`` and b: ``[N]`` masses (each summing to 1; zeros allowed).
      epsilon: regularisation on the normalised cost (traced).
      threshold: stop when the L1 row-marginal error is below it (traced).
      max_iterations: iteration cap (static).
      kind: ``"cosine"`` or ``"geodesic"`` (static).
      chunk: points per block (static); memory ~ ``K * chunk``.
      cache_cost: keep the ``[K, N]`` cost blocks between iterations
        (memory ``K * N``, but no ``d``-fold recomputation per iteration);
        ``None``: cache when ``K * N <= 2**28`` (1 GiB float32). Without
        caching every iteration costs ``4 K N d`` flops.

    Returns:
      :class:`ChunkedSinkhorn`.
    """
    dtype = prototypes.dtype
    pts, bb, n = _pad(points, b, chunk)
    eps = jnp.asarray(epsilon, dtype)
    rowok = a > 0
    if cache_cost is None:
        cache_cost = prototypes.shape[0] * pts.shape[0] * pts.shape[1] <= (1 << 28)
    if cache_cost:
        pts = jax.lax.map(lambda pc: _raw_cost(prototypes, pc, kind), pts)  # [blocks, K, chunk]

    def cost_of(item):
        return item if cache_cost else _raw_cost(prototypes, item, kind)

    def blk_max(_, xs):
        pc, bc = xs
        c = cost_of(pc)
        return None, jnp.max(jnp.where(rowok[:, None] & (bc > 0)[None, :], c, 0.0))

    _, mx = jax.lax.scan(blk_max, None, (pts, bb))
    scale = jnp.max(mx)
    scale = jnp.where(scale > 0, scale, 1.0)
    loga = jnp.where(rowok, jnp.log(jnp.where(rowok, a, 1.0)), -jnp.inf)

    def g_update(f):
        def blk(_, xs):
            pc, bc = xs
            c = cost_of(pc) / scale
            z = (f[:, None] - c) / eps
            z = jnp.where(rowok[:, None], z, -jnp.inf)
            lse = jax.nn.logsumexp(z, axis=0)
            logb = jnp.log(jnp.where(bc > 0, bc, 1.0))
            return None, jnp.where(bc > 0, eps * (logb - lse), -jnp.inf)

        _, g = jax.lax.scan(blk, None, (pts, bb))
        return g

    def row_lse(g):
        def blk(acc, xs):
            pc, gc = xs
            c = cost_of(pc) / scale
            z = (gc[None, :] - c) / eps
            return jnp.logaddexp(acc, jax.nn.logsumexp(z, axis=1)), None

        acc, _ = jax.lax.scan(blk, jnp.full(a.shape, -jnp.inf, dtype), (pts, g))
        return acc

    def cond(s):
        _, _, it, err = s
        return (it < max_iterations) & (err > threshold)

    def body(s):
        f, _, it, _ = s
        g = g_update(f)
        lse = row_lse(g)
        err = jnp.sum(jnp.abs(jnp.where(rowok, jnp.exp(f / eps + lse), 0.0) - a))
        f = jnp.where(rowok, eps * (loga - lse), 0.0)
        return f, g, it + 1, err

    f0 = jnp.zeros(a.shape, dtype)
    g0 = jnp.zeros(bb.shape, dtype)
    f, g, it, err = jax.lax.while_loop(cond, body, (f0, g0, jnp.int32(0), jnp.asarray(jnp.inf, dtype)))
    return ChunkedSinkhorn(f, g.reshape(-1)[:n], scale, eps, err <= threshold, it, err)


def plan_rows_chunked(sk: ChunkedSinkhorn, prototypes, points_chunk, g_chunk, kind="cosine"):
    """The plan block ``[K, chunk]`` for some points and their potentials."""
    c = _raw_cost(prototypes, points_chunk, kind) / sk.scale
    logp = (sk.f[:, None] + g_chunk[None, :] - c) / sk.epsilon
    return jnp.where(jnp.isfinite(logp), jnp.exp(logp), 0.0)


def _blocks(sk, points, chunk):
    pts, gg, n = _pad(points, sk.g, chunk)
    gg = jnp.where(jnp.arange(gg.size).reshape(gg.shape) < n, gg, -jnp.inf)
    return pts, gg


def frechet_mean_chunked(
    sk: ChunkedSinkhorn,
    prototypes: jax.Array,
    points: jax.Array,
    *,
    tol: float = 1e-6,
    max_iter: int = 100,
    kind: str = "cosine",
    chunk: int = 4096,
) -> sphere.FrechetResult:
    """Karcher means with the (implicit) plan rows as weights, by chunks.

    Same iteration and stopping rule as ``sphere.frechet_mean(method=
    "converged")``: start at the normalised weighted Euclidean mean, unit
    Riemannian gradient steps until the mean log-map norm is below ``tol``.

    Args:
      sk: potentials from :func:`sinkhorn_chunked` on the same points.
      prototypes: ``[K, d]``; points: ``[N, d]`` unit vectors.
      tol, max_iter: stopping rule; kind, chunk: as in the Sinkhorn call.

    Returns:
      :class:`upt_jax.sphere.FrechetResult` (rows without mass: the first
      point, ``converged=False``).
    """
    pts, gg = _blocks(sk, points, chunk)
    k, d = prototypes.shape[0], points.shape[1]

    def sums(t):
        """[K, d] sum_j w_kj f(theta) (x_j - cos t) pieces, [K] mass."""

        def blk(acc, xs):
            pc, gc = xs
            w = plan_rows_chunked(sk, prototypes, pc, gc, kind)
            if t is None:
                return (acc[0] + jnp.matmul(w, pc, precision=_HI), acc[1] + w.sum(1), acc[2]), None
            c = jnp.clip(jnp.matmul(t, pc.T, precision=_HI), -1.0, 1.0)
            wf = w * sphere.karcher_factor(c)[1]
            return (acc[0] + jnp.matmul(wf, pc, precision=_HI), acc[1] + w.sum(1), acc[2] + jnp.sum(wf * c, 1)), None

        init = (jnp.zeros((k, d), points.dtype), jnp.zeros((k,), points.dtype), jnp.zeros((k,), points.dtype))
        (v, mass, wfc), _ = jax.lax.scan(blk, init, (pts, gg))
        return v, mass, wfc

    def mean_log(t):
        v, mass, wfc = sums(t)
        m = jnp.where(mass > 0, mass, 1.0)[:, None]
        v = (v - wfc[:, None] * t) / m
        return sphere.tangent_project(t, v), mass

    v0, mass, _ = sums(None)
    has = mass > 0
    t0 = sphere.normalize(v0)
    t0 = jnp.where(has[:, None], t0, points[0])
    tol = jnp.asarray(tol, points.dtype)

    def cond(s):
        _, step, _, gn = s[0], s[1], s[2], s[4]
        return (step < max_iter) & jnp.any((gn > tol) & has)

    def body(s):
        t, step, iters, v, gn = s
        active = (gn > tol) & has
        t = jnp.where(active[:, None], sphere.exp_map(t, v), t)
        v, _ = mean_log(t)
        return t, step + 1, iters + active.astype(jnp.int32), v, sphere.safe_norm(v)

    v, _ = mean_log(t0)
    t, _, iters, _, gn = jax.lax.while_loop(cond, body, (t0, jnp.int32(0), jnp.zeros((k,), jnp.int32), v, sphere.safe_norm(v)))
    return sphere.FrechetResult(t, iters, gn, (gn <= tol) & has)


def plan_top_m(sk: ChunkedSinkhorn, prototypes, points, *, m: int = 64, kind="cosine", chunk: int = 4096):
    """The ``m`` largest plan entries of every row, by chunks.

    Returns:
      ``(idx [K, m] int32, weights [K, m])``; ``weights`` are the plan values
      (rows not renormalised); ``kept_mass [K]`` = sum of kept weights, so
      ``kept_mass / a`` says how much of each row the truncation keeps.
    """
    pts, gg = _blocks(sk, points, chunk)
    k = prototypes.shape[0]
    cs = pts.shape[1]
    m = int(m)

    def blk(carry, xs):
        vals, idx = carry
        (pc, gc), j0 = xs
        w = plan_rows_chunked(sk, prototypes, pc, gc, kind)
        cand_v = jnp.concatenate([vals, w], axis=1)
        cand_i = jnp.concatenate([idx, jnp.broadcast_to(j0 + jnp.arange(cs, dtype=jnp.int32), (k, cs))], axis=1)
        top, pos = jax.lax.top_k(cand_v, m)
        return (top, jnp.take_along_axis(cand_i, pos, axis=1)), None

    init = (jnp.full((k, m), -1.0, points.dtype), jnp.zeros((k, m), jnp.int32))
    starts = jnp.arange(pts.shape[0], dtype=jnp.int32) * cs
    (vals, idx), _ = jax.lax.scan(blk, init, ((pts, gg), starts))
    vals = jnp.maximum(vals, 0.0)
    return idx, vals, vals.sum(1)


def frechet_mean_sparse(points, idx, weights, *, tol: float = 1e-6, max_iter: int = 100) -> sphere.FrechetResult:
    """Karcher means of ``K`` small weighted sets ``points[idx[k]]``.

    Args:
      points: ``[N, d]`` unit vectors; idx: ``[K, m]`` int indices;
      weights: ``[K, m]`` non-negative (normalised per row inside).
      tol, max_iter: as ``sphere.frechet_mean(method="converged")``.

    Returns:
      :class:`upt_jax.sphere.FrechetResult`.
    """
    nb = points[idx]  # [K, m, d]
    mass = weights.sum(1, keepdims=True)
    has = mass[:, 0] > 0
    w = weights / jnp.where(mass > 0, mass, 1.0)

    def mean_log(t):
        c = jnp.clip(jnp.einsum("kd,kmd->km", t, nb, precision=_HI), -1.0, 1.0)
        wf = w * sphere.karcher_factor(c)[1]
        v = jnp.einsum("km,kmd->kd", wf, nb, precision=_HI) - jnp.sum(wf * c, 1, keepdims=True) * t
        return sphere.tangent_project(t, v)

    t0 = sphere.normalize(jnp.einsum("km,kmd->kd", w, nb, precision=_HI))
    t0 = jnp.where(has[:, None], t0, points[0])
    tol = jnp.asarray(tol, points.dtype)

    def cond(s):
        return (s[1] < max_iter) & jnp.any((s[4] > tol) & has)

    def body(s):
        t, step, iters, v, gn = s
        active = (gn > tol) & has
        t = jnp.where(active[:, None], sphere.exp_map(t, v), t)
        v = mean_log(t)
        return t, step + 1, iters + active.astype(jnp.int32), v, sphere.safe_norm(v)

    v = mean_log(t0)
    k = idx.shape[0]
    t, _, iters, _, gn = jax.lax.while_loop(cond, body, (t0, jnp.int32(0), jnp.zeros((k,), jnp.int32), v, sphere.safe_norm(v)))
    return sphere.FrechetResult(t, iters, gn, (gn <= tol) & has)


def upt_no_clustering(
    prototypes: jax.Array,
    videos: jax.Array,
    *,
    lam: float | jax.Array = 0.5,
    epsilon: float | jax.Array = 1e-2,
    threshold: float | jax.Array = 1e-3,
    max_iterations: int = 2000,
    frechet: str = "sparse",
    top_m: int = 64,
    frechet_tol: float = 1e-6,
    frechet_max_iter: int = 100,
    chunk: int = 4096,
):
    """UPT with C = N (every video a target, uniform masses) for large N.

    Args:
      prototypes: ``[K, d]``; videos: ``[N, d]`` (normalised inside).
      lam: fraction of the geodesic travelled; epsilon, threshold,
        max_iterations: Sinkhorn settings (cosine cost over its max).
      frechet: ``"sparse"`` (top-``top_m`` plan entries per class) or
        ``"chunked"`` (all N weights, by chunks; exact but O(K N d) per
        iteration).
      chunk: points per block (static).

    Returns:
      ``(new_prototypes [K, d], targets [K, d], ChunkedSinkhorn)``.
    """
    p = sphere.normalize(prototypes)
    x = sphere.normalize(videos)
    k, n = p.shape[0], x.shape[0]
    a = jnp.full((k,), 1.0 / k, p.dtype)
    b = jnp.full((n,), 1.0 / n, p.dtype)
    sk = sinkhorn_chunked(p, x, a, b, epsilon=epsilon, threshold=threshold, max_iterations=max_iterations, chunk=chunk)
    if frechet == "sparse":
        idx, w, _ = plan_top_m(sk, p, x, m=top_m, chunk=chunk)
        fm = frechet_mean_sparse(x, idx, w, tol=frechet_tol, max_iter=frechet_max_iter)
    elif frechet == "chunked":
        fm = frechet_mean_chunked(sk, p, x, tol=frechet_tol, max_iter=frechet_max_iter, chunk=chunk)
    else:
        raise ValueError(f"upt_no_clustering: frechet must be 'sparse' or 'chunked', got {frechet!r}")
    new = sphere.slerp(p, fm.mean, jnp.asarray(lam, p.dtype))
    return new, fm.mean, sk


def classify_chunked(prototypes: jax.Array, videos: jax.Array, *, chunk: int = 65536) -> jax.Array:
    """Nearest prototype (cosine) per video without an ``[N, K]`` matrix: ``[N]`` int32."""
    p = sphere.normalize(prototypes)
    pts, _, n = _pad(sphere.normalize(videos), jnp.zeros(videos.shape[0], videos.dtype), chunk)
    pred = jax.lax.map(lambda pc: jnp.argmax(jnp.matmul(pc, p.T, precision=_HI), axis=1).astype(jnp.int32), pts)
    return pred.reshape(-1)[:n]
