"""Clustering of the test projections into C centres (UPT step 1).

Two variants, both seeded, with ``n_init`` restarts, k-means++ seeding and a
Lloyd loop that stops when the assignments stop changing, when the centre
shift falls below a tolerance (scikit-learn's rules), or at ``max_iter``:

- ``"euclidean"``: k-means on the L2-normalised vectors with squared
  Euclidean distance, centres re-normalised at the end. This is what the
  example code does (scikit-learn ``KMeans(n_init=10)`` on normalised
  vectors, then normalised centres).
- ``"spherical"``: cosine k-means (assign by the largest cosine, centres are
  normalised means; Dhillon & Modha 2001).

Speed (the bottleneck of UPT at C = 1000):

- Seeding: the restarts' k-means++ runs are vmapped (one ``[n, d] x [d, R]``
  product per step instead of R matrix-vector products) and can draw
  ``per_step`` centres per round (Gumbel top-k, i.e. D^2 sampling without
  replacement), which cuts the 1000-step sequential loop to ~C/per_step steps.
- Lloyd with Elkan-style bounds (exact, not an approximation): an ``[n, C]``
  matrix ``lo`` bounds the distance of every point to every centre from
  below; after the centres move by ``delta [C]``, ``lo -= delta`` (cheap,
  elementwise). A point whose exact distance to its own centre is below all
  its other bounds cannot change cluster; the others are gathered into a
  fixed-size buffer (``n/16`` or ``n/4`` rows, or all, chosen with
  ``lax.switch``) and only their ``[m, C]`` distance rows are computed. On
  UCF-101-sized data the 18 Lloyd steps then cost ~4 full ``[n, C]``
  products instead of 18. Same Lloyd fixed point as without bounds (up to
  float ties). Used when ``n * C <= 2**26``; larger problems use dense steps.
  (Hamerly's single bound, ``max delta`` over all centres, is too loose with
  C = 1000 in 300-d: almost every point needs a recompute.)
- Restarts: ``restarts="sequential"`` runs them one after the other with
  ``lax.map`` (each stops on its own and the bounds' ``lax.cond`` really
  skips work: best on CPU); ``"parallel"`` vmaps them with dense assignment
  steps (one ``[n, C*R]``-shaped batched product per step: best on
  accelerators, where ``cond`` under ``vmap`` would compute both branches).
  ``"auto"`` picks sequential on CPU and parallel elsewhere.

Why not OTT-JAX's ``k_means``: it runs restarts one after the other without
bounds and has no spherical variant. Checked against scikit-learn in
``tests/test_cluster.py``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from upt_jax import sphere

__all__ = ["KMeansResult", "Centres", "kmeans", "kmeans_plus_plus", "no_clustering"]

_HI = jax.lax.Precision.HIGHEST
_MAX_BOUNDS = 1 << 26  # n * k bound entries (256 MiB in float32) for the bounded Lloyd
_MAX_DENSE = 1 << 28  # n * k distances (1 GiB in float32) per dense assignment block


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


def _sq_dists(x, xx, c):
    """[m, k] squared Euclidean distances from ``x`` [m, d] (norms ``xx`` [m]) to ``c`` [k, d]."""
    xc = jnp.matmul(x, c.T, precision=_HI)
    return jnp.maximum(xx[:, None] - 2.0 * xc + jnp.sum(c * c, axis=-1)[None, :], 0.0)


def kmeans_plus_plus(
    key: jax.Array,
    x: jax.Array,
    k: int,
    weights: jax.Array,
    *,
    spherical: bool = False,
    per_step: int = 1,
) -> jax.Array:
    """k-means++ seeding (Arthur & Vassilvitskii 2007).

    With ``per_step = 1`` this is the classic algorithm (one D^2-sampled
    centre per step, ``k - 1`` sequential steps). With ``per_step = b > 1``
    each round draws ``b`` distinct points at once from the same D^2
    distribution (Gumbel top-b), in ``ceil((k - 1) / b)`` rounds; as in
    k-means|| (Bahmani et al. 2012), oversampled rounds cost little quality
    and Lloyd's iterations repair the rest (checked against scikit-learn's
    inertia in the tests).

    Args:
      key: PRNG key.
      x: ``[n, d]`` points.
      k: number of centres (static).
      weights: ``[n]`` non-negative point weights (0 = masked out).
      spherical: use ``1 - cos`` instead of the squared distance.
      per_step: centres drawn per round (static, >= 1).

    Returns:
      ``[k, d]`` initial centres (points of ``x``).
    """
    n = x.shape[0]
    per_step = max(1, min(int(per_step), max(k - 1, 1)))
    k_first, k_rest = jax.random.split(key)
    logw = jnp.where(weights > 0, jnp.log(jnp.maximum(weights, 1e-30)), -jnp.inf)
    first = jax.random.categorical(k_first, logw)
    xx = jnp.sum(x * x, axis=-1)

    def dist_to(cs):  # cs [b, d] -> [n] min distance to any of them
        xc = jnp.matmul(x, cs.T, precision=_HI)
        if spherical:
            dd = jnp.maximum(1.0 - xc, 0.0)
        else:
            dd = jnp.maximum(xx[:, None] - 2.0 * xc + jnp.sum(cs * cs, axis=-1)[None, :], 0.0)
        return jnp.min(dd, axis=-1)

    idx0 = jnp.zeros((k,), jnp.int32).at[0].set(first)
    mind0 = dist_to(x[first][None, :])

    def probs(mind):
        p = weights * mind
        # every remaining point coincides with a centre: sample by weight
        return jnp.where(jnp.sum(p) > 0, p, weights)

    if per_step == 1:
        # one uniform per step, inverse-CDF sampling (cheaper than Gumbel over n)
        u = jax.random.uniform(k_rest, (k,), dtype=x.dtype)

        def body(i, state):
            idx, mind = state
            cs = jnp.cumsum(probs(mind))
            j = jnp.clip(jnp.searchsorted(cs, u[i] * cs[-1], side="right"), 0, n - 1).astype(jnp.int32)
            return idx.at[i].set(j), jnp.minimum(mind, dist_to(x[j][None, :]))

        idx, _ = jax.lax.fori_loop(1, k, body, (idx0, mind0))
        return x[idx]

    rounds = -(-(k - 1) // per_step)

    def body_b(r, state):
        idx, mind = state
        p = probs(mind)
        logp = jnp.where(p > 0, jnp.log(jnp.maximum(p, 1e-30)), -jnp.inf)
        g = jax.random.gumbel(jax.random.fold_in(k_rest, r), (n,), dtype=x.dtype)
        _, js = jax.lax.top_k(logp + g, per_step)
        js = js.astype(jnp.int32)
        pos = 1 + r * per_step + jnp.arange(per_step)
        idx = idx.at[pos].set(js, mode="drop")  # positions >= k are dropped
        return idx, jnp.minimum(mind, dist_to(x[js]))

    idx, _ = jax.lax.fori_loop(0, rounds, body_b, (idx0, mind0))
    return x[idx]


def _update(x, w, a, c, spherical):
    """Centre step: weighted means of the clusters (empty clusters keep ``c``)."""
    k = c.shape[0]
    sums = jax.ops.segment_sum(w[:, None] * x, a, num_segments=k)
    sizes = jax.ops.segment_sum(w, a, num_segments=k)
    new = sphere.normalize(sums) if spherical else sums / jnp.maximum(sizes, 1e-30)[:, None]
    return jnp.where((sizes > 0)[:, None], new, c), sizes


def _lloyd_bounded(x, xx, w, init, *, spherical, max_iter, tol, margin):
    """Lloyd from ``init`` with Elkan-style bounds; (centres, assign, sizes, inertia, iters, converged).

    State: ``lo [n, k]``, a lower bound on the distance of every point to every
    centre. After the centres move by ``delta [k]``, ``lo -= delta``. A point
    whose exact distance ``u`` to its own centre is below every other bound
    keeps its centre; the others are gathered (fixed-size buffers chosen with
    ``lax.switch``) and get exact distance rows, which also refresh ``lo``.
    """
    n = x.shape[0]
    k = init.shape[0]
    sizes_m = sorted({min(n, max(64, n // 16)), min(n, max(64, n // 4))} - {n})
    cols = jnp.arange(k)[None, :]

    def full(c, a, lo, need):
        dist = jnp.sqrt(_sq_dists(x, xx, c))
        return jnp.argmin(dist, axis=-1).astype(jnp.int32), dist

    def partial(m):
        def run(c, a, lo, need):
            idx = jnp.nonzero(need, size=m, fill_value=n)[0]
            xs = jnp.take(x, idx, axis=0, mode="clip")
            dist = jnp.sqrt(_sq_dists(xs, jnp.take(xx, idx, mode="clip"), c))
            a_s = jnp.argmin(dist, axis=-1).astype(jnp.int32)
            return a.at[idx].set(a_s, mode="drop"), lo.at[idx].set(dist, mode="drop")

        return run

    branches = [partial(m) for m in sizes_m] + [full]
    bounds = jnp.asarray(sizes_m, jnp.int32)

    def assign(c, a, lo):
        u = jnp.sqrt(jnp.sum((x - c[a]) ** 2, axis=-1))
        other = jnp.min(jnp.where(cols == a[:, None], jnp.inf, lo), axis=-1)
        need = jnp.logical_and(other < u + margin, w > 0)
        count = jnp.sum(need).astype(jnp.int32)
        which = jnp.sum(count > bounds).astype(jnp.int32) if sizes_m else jnp.int32(0)
        return jax.lax.switch(which, branches, c, a, lo, need)

    def cond(state):
        _, _, _, it, shift, changed = state
        return (it < max_iter) & (shift > tol) & (changed > 0)

    def body(state):
        c, a, lo, it, _, _ = state
        new, _ = _update(x, w, a, c, spherical)
        delta = jnp.sqrt(jnp.sum((new - c) ** 2, axis=-1))
        a_new, lo = assign(new, a, lo - delta[None, :])
        changed = jnp.sum(jnp.logical_and(a_new != a, w > 0)).astype(jnp.int32)
        return new, a_new, lo, it + 1, jnp.sum(delta**2), changed

    a0, lo0 = full(init, None, None, None)
    state = (init, a0, lo0, jnp.int32(0), jnp.asarray(jnp.inf, x.dtype), jnp.int32(1))
    c, a, _, iters, shift, changed = jax.lax.while_loop(cond, body, state)
    return _finish(x, w, c, a, iters, shift, changed, tol, spherical)


def _finish(x, w, c, a, iters, shift, changed, tol, spherical):
    sizes = jax.ops.segment_sum(w, a, num_segments=c.shape[0])
    u2 = jnp.sum((x - c[a]) ** 2, axis=-1)
    inertia = jnp.sum(w * (0.5 * u2 if spherical else u2))
    converged = jnp.logical_or(shift <= tol, changed == 0)
    return c, a, sizes, inertia, iters, converged


def _lloyd_dense(x, xx, w, init, *, spherical, max_iter, tol):
    """Lloyd from ``init`` with full assignment steps (vmappable without waste)."""

    n, k = x.shape[0], init.shape[0]
    rows = max(1, min(n, _MAX_DENSE // max(k, 1)))

    def assign(c):
        if rows >= n:
            return jnp.argmin(_sq_dists(x, xx, c), axis=-1).astype(jnp.int32)
        # [n, k] too large: assign blocks of rows (memory ~ rows * k)
        n_pad = -(-n // rows) * rows
        xb = jnp.pad(x, ((0, n_pad - n), (0, 0))).reshape(-1, rows, x.shape[1])
        xxb = jnp.pad(xx, (0, n_pad - n)).reshape(-1, rows)
        out = jax.lax.map(lambda b: jnp.argmin(_sq_dists(b[0], b[1], c), axis=-1).astype(jnp.int32), (xb, xxb))
        return out.reshape(-1)[:n]

    def cond(state):
        _, _, it, shift, changed = state
        return (it < max_iter) & (shift > tol) & (changed > 0)

    def body(state):
        c, a, it, _, _ = state
        new, _ = _update(x, w, a, c, spherical)
        a_new = assign(new)
        changed = jnp.sum(jnp.logical_and(a_new != a, w > 0)).astype(jnp.int32)
        return new, a_new, it + 1, jnp.sum((new - c) ** 2), changed

    state = (init, assign(init), jnp.int32(0), jnp.asarray(jnp.inf, x.dtype), jnp.int32(1))
    c, a, iters, shift, changed = jax.lax.while_loop(cond, body, state)
    return _finish(x, w, c, a, iters, shift, changed, tol, spherical)


def _auto_per_step(k: int) -> int:
    # ~125 seeding rounds at most: 1000 centres -> 8 per round.
    return max(1, -(-k // 125))


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
    restarts: str = "auto",
    seeding_per_step: int | None = None,
    screen_iters: int = 0,
) -> KMeansResult:
    """Seeded k-means with ``n_init`` restarts; keeps the lowest inertia.

    Args:
      x: ``[n, d]`` points (normalise them first for UPT).
      k: number of clusters (static), ``1 <= k <= n``.
      key: PRNG key; restart ``r`` seeds with ``fold_in(key, r)``.
      weights: optional ``[n]`` point weights; 0 masks a point out.
      n_init: restarts (static).
      max_iter: Lloyd iteration cap (static).
      tol: stop when the total squared centre shift is at most
        ``tol * mean per-feature variance`` of ``x`` (scikit-learn's rule);
        Lloyd also stops when no assignment changes.
      spherical: cosine k-means instead of Euclidean (points are normalised
        inside; inertia is ``sum w (1 - cos)``).
      normalize_centres: L2-normalise the returned centres.
      restarts: ``"sequential"`` (``lax.map``, bounded Lloyd: fastest on
        CPU), ``"parallel"`` (``vmap``, dense Lloyd: for accelerators) or
        ``"auto"`` (sequential on CPU, parallel otherwise); static.
      seeding_per_step: k-means++ centres drawn per round (static); ``None``
        picks ``ceil(k / 125)`` (1 for k <= 125); 1 is classic k-means++.
      screen_iters: ``0`` (default): every restart runs to convergence and
        the lowest final inertia wins (scikit-learn's ``n_init``). ``> 0``:
        every restart runs ``screen_iters`` Lloyd steps, then only the one
        with the lowest inertia so far continues to convergence (about
        ``n_init`` times fewer late iterations; inertia within ~0.1-0.5% of
        the full rule on UCF-101-sized data, see benchmarks/README.md).

    Returns:
      :class:`KMeansResult` of the best restart.
    """
    n, _ = x.shape
    if not 1 <= k <= n:
        raise ValueError(f"kmeans: need 1 <= k <= n, got k={k} for x of shape {tuple(x.shape)}")
    if restarts not in ("auto", "sequential", "parallel"):
        raise ValueError(f"kmeans: restarts must be 'auto', 'sequential' or 'parallel', got {restarts!r}")
    if restarts == "auto":
        restarts = "sequential" if jax.default_backend() == "cpu" else "parallel"
    per_step = _auto_per_step(k) if seeding_per_step is None else int(seeding_per_step)
    if spherical:
        x = sphere.normalize(x)
    w = jnp.ones((n,), x.dtype) if weights is None else jnp.asarray(weights, x.dtype)
    wsum = jnp.maximum(jnp.sum(w), 1e-30)
    mu = jnp.sum(w[:, None] * x, axis=0) / wsum
    var = jnp.sum(w[:, None] * (x - mu) ** 2, axis=0) / wsum
    abs_tol = tol * jnp.mean(var)
    xx = jnp.sum(x * x, axis=-1)
    # bounds are compared with a margin above float32 rounding of the distances
    margin = 1e-4 * jnp.sqrt(jnp.max(xx))

    keys = jax.vmap(lambda r: jax.random.fold_in(key, r))(jnp.arange(n_init))
    inits = jax.vmap(lambda kr: kmeans_plus_plus(kr, x, k, w, spherical=spherical, per_step=per_step))(keys)
    bounded = restarts == "sequential" and n * k <= _MAX_BOUNDS

    def lloyd(init, iters):
        if bounded:
            return _lloyd_bounded(x, xx, w, init, spherical=spherical, max_iter=iters, tol=abs_tol, margin=margin)
        return _lloyd_dense(x, xx, w, init, spherical=spherical, max_iter=iters, tol=abs_tol)

    batch = jax.lax.map if restarts == "sequential" else (lambda f, xs: jax.vmap(f)(xs))
    screen = int(screen_iters)
    if 0 < screen < max_iter and n_init > 1:
        c0, _, _, inertia0, iters0, conv0 = batch(lambda init: lloyd(init, screen), inits)
        b0 = jnp.argmin(inertia0)
        res = lloyd(c0[b0], max_iter - screen)
        c, a, sizes, inertia = (r[None] for r in res[:4])
        iters = (res[4] + iters0[b0])[None]
        conv = res[5][None]
    else:
        c, a, sizes, inertia, iters, conv = batch(lambda init: lloyd(init, max_iter), inits)
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
