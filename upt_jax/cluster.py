"""Clustering of the test projections into C centres (UPT step 1).

k-means as scikit-learn's ``KMeans`` runs it (``algorithm="lloyd"``), with
the same defaults, in JAX:

- Seeding: greedy k-means++ (Arthur & Vassilvitskii 2007, Sec. 5): each new
  centre draws ``2 + floor(ln k)`` candidate points from the D^2
  distribution and keeps the candidate that lowers the potential (the
  weighted sum of squared distances to the nearest centre) the most.
  ``seeding="kmeans++"`` is the classic one-draw rule.
- Lloyd steps. An empty cluster (no point of positive weight) is relocated
  as scikit-learn does: the empty clusters take, in order, the points
  farthest from their current centre, and those points leave their old
  clusters' means.
- Stopping: the assignments did not change, or the total squared centre
  shift is at most ``tol * mean_j var(x[:, j])`` (:func:`tolerance`: ``tol``
  relative to the mean per-feature variance of the data), or ``max_iter``
  steps. Defaults ``tol = 1e-4``, ``max_iter = 300``, ``n_init = 10``; the
  restart with the lowest inertia wins. ``n_iters`` counts Lloyd steps the
  way scikit-learn's ``n_iter_`` does.

Two variants:

- ``"euclidean"``: k-means on the L2-normalised vectors with squared
  Euclidean distance, centres re-normalised at the end. This is what the
  example code does (scikit-learn ``KMeans(n_init=10)`` on normalised
  vectors, then normalised centres).
- ``"spherical"``: cosine k-means (assign by the largest cosine, centres are
  normalised means; Dhillon & Modha 2001). Seeding is the same as for
  ``"euclidean"`` (on unit vectors ``1 - cos`` is half the squared distance).

Speed (k-means is the bottleneck of UPT at C = 1000). None of this changes
the result beyond float rounding:

- Greedy seeding reads the candidates' distances from one Gram matrix
  ``x @ x.T`` shared by all restarts (used while ``n * n <= 2**28``, 1 GiB
  in float32): a step is an ``[L, n]`` gather instead of an ``[n, d] x [d,
  L]`` product, and the ``n_init`` seedings run together under ``vmap``.
  The D^2 draws use two-level cumulative sums (blocks of ``sqrt(n)``
  points), not an ``[L, n]`` search. At N = 13,320, C = 1000, d = 384 the
  Gram matrix costs about as much as 11 Lloyd steps and the ten seedings
  about 8 more; computing the candidates' distances directly would cost 80.
  (Pruning with the triangle inequality does not pay here: distances
  concentrate in a few hundred dimensions, and about 90% of the points
  still qualify for a recomputation late in the seeding.)
- Lloyd with Elkan-style bounds: an ``[n, C]`` matrix bounds the distance of
  every point to every centre from below (stored as ``ub`` minus the
  centres' accumulated drift, so a step only reads it). A point whose exact
  distance to its own centre is below all its other bounds cannot change
  cluster; the others are gathered into a fixed-size buffer (``n/16``,
  ``n/4`` or all rows, chosen with ``lax.switch``) and only their ``[m, C]``
  distance rows are computed. The seeding hands over each point's nearest
  seed, which saves the first full assignment. Used when ``n * C <= 2**26``;
  larger problems use dense steps.
- Restarts: ``restarts="sequential"`` runs the Lloyd loops one after the
  other with ``lax.map`` (the ``lax.switch`` buffers really skip work:
  best on CPU); ``"parallel"`` vmaps them with dense Lloyd steps (one
  batched product per step: best on accelerators, where a ``switch`` under
  ``vmap`` would compute every branch). ``"auto"`` picks sequential on CPU
  and parallel elsewhere. Both give the same centres from the same key.

Why not OTT-JAX's ``k_means``: it runs restarts one after the other without
bounds, has no spherical variant and no greedy seeding. Checked against
scikit-learn in ``tests/test_cluster.py`` and, at the paper's size, in
``benchmarks/fidelity.py``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from upt_jax import sphere
from upt_jax.errors import UPTError

__all__ = [
    "KMeansResult",
    "Centres",
    "kmeans",
    "kmeans_plus_plus",
    "n_local_trials",
    "tolerance",
    "no_clustering",
]

_HI = jax.lax.Precision.HIGHEST
_MAX_BOUNDS = 1 << 26  # n * k bound entries (256 MiB in float32) for the bounded Lloyd
_MAX_DENSE = 1 << 28  # n * k distances (1 GiB in float32) per dense assignment block
_MAX_GRAM = 1 << 28  # n * n Gram entries (1 GiB in float32) for the greedy seeding
SEEDINGS = ("greedy", "kmeans++")


class KMeansResult(NamedTuple):
    """Output of :func:`kmeans`.

    Attributes:
      centres: ``[c, d]`` centres (unit norm when the input was normalised and
        ``normalize_centres``); the best restart.
      assignment: ``[n]`` int32 cluster of each point (masked points: -1).
      sizes: ``[c]`` float, weighted number of points per cluster.
      inertia: ``[]`` weighted sum of squared distances (euclidean) or of
        ``1 - cos`` (spherical) of the best restart.
      n_iters: ``[]`` int32 Lloyd iterations of the best restart, counted as
        scikit-learn's ``n_iter_``.
      converged: ``[]`` bool, whether the best restart met a stopping rule
        before ``max_iter``.
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


def n_local_trials(k: int) -> int:
    """Candidates per centre of greedy k-means++: ``2 + floor(ln k)`` (scikit-learn's choice; 8 for k = 1000)."""
    return 2 + int(math.log(max(int(k), 1)))


def tolerance(x: jax.Array, tol: float | jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """scikit-learn's absolute k-means tolerance: ``tol * mean_j var(x[:, j])``.

    Lloyd stops once the total squared centre shift ``sum_c |c_new - c_old|^2``
    is at most this value.

    Args:
      x: ``[n, d]`` points.
      tol: relative tolerance (scikit-learn's ``tol``, default ``1e-4``).
      weights: optional ``[n]`` weights; points of weight 0 are left out
        (the variance is the plain variance of the other points, as
        scikit-learn computes it on the data it is given).

    Returns:
      ``[]`` the absolute tolerance, dtype of ``x``.
    """
    keep = jnp.ones(x.shape[:1], x.dtype) if weights is None else (jnp.asarray(weights) > 0).astype(x.dtype)
    cnt = jnp.maximum(jnp.sum(keep), 1.0)
    mu = jnp.sum(keep[:, None] * x, axis=0) / cnt
    var = jnp.sum(keep[:, None] * (x - mu) ** 2, axis=0) / cnt
    return jnp.asarray(tol, x.dtype) * jnp.mean(var)


# ----------------------------------------------------------------------------- seeding


def _sample(p, w, u_i, block):
    """Inverse-CDF draws ``[L]`` from the D^2 weights ``p [n]`` (from the weights ``w`` when ``p`` is all 0).

    Two levels, so a draw costs ``O(n)`` once plus ``O(L * block)``: block
    sums and their cumulative sum pick the block, a cumulative sum inside the
    block picks the point. The drawn point always has positive weight.
    """
    n = p.shape[0]
    nb = -(-n // block)
    p = jnp.where(jnp.sum(p) > 0, p, w)
    pb = jnp.pad(p, (0, nb * block - n)).reshape(nb, block)
    bs = jnp.sum(pb, axis=1)
    cb = jnp.cumsum(bs)
    r = jnp.minimum(u_i * cb[-1], jnp.nextafter(cb[-1], jnp.zeros_like(cb[-1])))  # [L], below the total
    blk = jnp.minimum(jnp.sum(cb[None, :] <= r[:, None], axis=-1), nb - 1)
    rows = pb[blk]  # [L, block]
    inner = (cb[blk] - bs[blk])[:, None] + jnp.cumsum(rows, axis=-1)
    j = jnp.sum(inner <= r[:, None], axis=-1)
    pos = rows > 0  # float rounding between the two levels: stay on a point of the block with weight
    first = jnp.argmax(pos, axis=-1)
    last = block - 1 - jnp.argmax(pos[:, ::-1], axis=-1)
    return (blk * block + jnp.clip(j, first, last)).astype(jnp.int32)


def _gram_ok(n: int) -> bool:
    return n * n <= _MAX_GRAM


def _seed_greedy(u, x, xx, w, k, gram=None):
    """Greedy k-means++; returns (``[k]`` indices of the centres, ``[n]`` nearest centre of each point).

    ``u [k, L]`` uniforms: row 0 draws the first centre by weight, row ``i``
    the ``L`` candidates of centre ``i`` (``L = 1``: classic k-means++).
    Candidate distances come from the Gram matrix ``gram [n, n]`` when given
    (an ``[L, n]`` gather per step; one Gram matrix serves every restart),
    else from an ``[L, d] x [d, n]`` product per step: same choices up to
    float rounding.
    """
    n = x.shape[0]
    block = max(8, int(math.isqrt(n)))
    first = _sample(w, w, u[0, :1], block)[0]

    def dists(cand):  # [L] -> [L, n] squared distances
        if gram is not None:
            dots = jnp.take(gram, cand, axis=0)
        else:
            dots = jnp.matmul(x[cand], x.T, precision=_HI)
        return jnp.maximum(xx[cand][:, None] + xx[None, :] - 2.0 * dots, 0.0)

    idx0 = jnp.zeros((k,), jnp.int32).at[0].set(first)
    mind0 = dists(first[None])[0]
    own0 = jnp.zeros((n,), jnp.int32)

    def body(i, state):
        idx, mind, own = state
        cand = _sample(w * mind, w, u[i], block)
        dc = dists(cand)
        gain = jnp.sum(w[None, :] * jnp.maximum(mind[None, :] - dc, 0.0), axis=1)
        b = jnp.argmax(gain)
        j = cand[b]
        d_j = dists(j[None])[0]
        closer = d_j < mind
        return idx.at[i].set(j), jnp.where(closer, d_j, mind), jnp.where(closer, i, own)

    idx, _, own = jax.lax.fori_loop(1, k, body, (idx0, mind0, own0))
    return idx, own


def _seed_batched(key, x, xx, w, k, per_step):
    """Classic k-means++ drawing ``per_step`` distinct points per round (Gumbel top-b); ``[k]`` indices."""
    n = x.shape[0]
    k_first, k_rest = jax.random.split(key)
    logw = jnp.where(w > 0, jnp.log(jnp.maximum(w, 1e-30)), -jnp.inf)
    first = jax.random.categorical(k_first, logw)
    idx0 = jnp.zeros((k,), jnp.int32).at[0].set(first)
    mind0 = _sq_dists(x, xx, x[first][None, :])[:, 0]
    rounds = -(-(k - 1) // per_step)

    def body(r, state):
        idx, mind = state
        p = w * mind
        p = jnp.where(jnp.sum(p) > 0, p, w)
        logp = jnp.where(p > 0, jnp.log(jnp.maximum(p, 1e-30)), -jnp.inf)
        g = jax.random.gumbel(jax.random.fold_in(k_rest, r), (n,), dtype=x.dtype)
        _, js = jax.lax.top_k(logp + g, per_step)
        js = js.astype(jnp.int32)
        pos = 1 + r * per_step + jnp.arange(per_step)
        idx = idx.at[pos].set(js, mode="drop")  # positions >= k are dropped
        return idx, jnp.minimum(mind, jnp.min(_sq_dists(x, xx, x[js]), axis=-1))

    idx, _ = jax.lax.fori_loop(0, rounds, body, (idx0, mind0))
    return idx


def _seed_trials(k: int, seeding: str, n_trials: int | None, per_step: int) -> int:
    """Candidates per centre of the uniform-driven seeding, or 0 for the batched (Gumbel) one."""
    if seeding not in SEEDINGS:
        raise UPTError(f"k-means seeding must be one of {SEEDINGS}, got {seeding!r}")
    if seeding == "greedy":
        trials = n_local_trials(k) if n_trials is None else int(n_trials)
        if trials < 1:
            raise UPTError(f"k-means seeding: n_trials must be >= 1, got {n_trials}")
        return trials
    return 1 if max(1, min(int(per_step), max(k - 1, 1))) == 1 else 0


def kmeans_plus_plus(
    key: jax.Array,
    x: jax.Array,
    k: int,
    weights: jax.Array,
    *,
    seeding: str = "greedy",
    n_trials: int | None = None,
    per_step: int = 1,
    gram: jax.Array | None = None,
) -> jax.Array:
    """k-means++ seeding (Arthur & Vassilvitskii 2007).

    ``seeding="greedy"`` (scikit-learn's rule): every new centre draws
    ``n_trials`` candidates (default :func:`n_local_trials`, ``2 + floor(ln
    k)``) from the D^2 distribution and keeps the one that lowers the
    potential ``sum_i w_i min_c |x_i - c|^2`` the most; ``k - 1`` sequential
    steps. ``seeding="kmeans++"``: one draw per centre; with ``per_step = b >
    1`` each round draws ``b`` distinct points at once from the same D^2
    distribution (Gumbel top-b, as in k-means||, Bahmani et al. 2012), in
    ``ceil((k - 1) / b)`` rounds: faster, worse seeds.

    Args:
      key: PRNG key.
      x: ``[n, d]`` points.
      k: number of centres (static).
      weights: ``[n]`` non-negative point weights (0 = masked out; such a
        point is never a centre).
      seeding: ``"greedy"`` or ``"kmeans++"`` (static).
      n_trials: greedy candidates per centre (static; ``None``: ``2 +
        floor(ln k)``).
      per_step: ``"kmeans++"`` centres drawn per round (static, >= 1).
      gram: greedy only: optional ``[n, n]`` Gram matrix ``x @ x.T``; the
        candidate distances are then read from it (same result, no
        ``[n, d] x [d, L]`` product per step; share it between restarts).

    Returns:
      ``[k, d]`` initial centres (points of ``x``).
    """
    w = jnp.asarray(weights, x.dtype)
    xx = jnp.sum(x * x, axis=-1)
    trials = _seed_trials(k, seeding, n_trials, per_step)
    if trials:
        idx, _ = _seed_greedy(jax.random.uniform(key, (k, trials), dtype=x.dtype), x, xx, w, k, gram)
    else:
        idx = _seed_batched(key, x, xx, w, k, min(int(per_step), k - 1))
    return x[idx]


# ----------------------------------------------------------------------------- Lloyd


def _relocate(x, w, a, c, sums, sizes):
    """scikit-learn's empty-cluster rule on the cluster sums (before dividing).

    The empty clusters, in index order, take the points farthest from their
    current centre, farthest first (points of weight 0 excluded); each such
    point leaves its old cluster's sum and size. A loop over the empty
    clusters (usually none or a few).
    """
    d2 = jnp.where(w > 0, jnp.sum((x - c[a]) ** 2, axis=-1), -jnp.inf)

    def cond(state):
        d2, _, _, empty = state
        return jnp.any(empty) & (jnp.max(d2) > -jnp.inf)

    def body(state):
        d2, sums, sizes, empty = state
        e = jnp.argmax(empty)  # the first empty cluster left
        j = jnp.argmax(d2)  # the farthest point left
        wj, xj, old = w[j], w[j] * x[j], a[j]
        sums = sums.at[old].add(-xj).at[e].set(xj)
        sizes = sizes.at[old].add(-wj).at[e].set(wj)
        return d2.at[j].set(-jnp.inf), sums, sizes, empty.at[e].set(False)

    _, sums, sizes, _ = jax.lax.while_loop(cond, body, (d2, sums, sizes, sizes <= 0))
    return sums, sizes


def _update(x, w, a, c, spherical):
    """Centre step: weighted means, empty clusters relocated (:func:`_relocate`); ``[k, d]``."""
    k = c.shape[0]
    sums = jax.ops.segment_sum(w[:, None] * x, a, num_segments=k)
    sizes = jax.ops.segment_sum(w, a, num_segments=k)
    sums, sizes = jax.lax.cond(
        jnp.any(sizes <= 0), lambda s, z: _relocate(x, w, a, c, s, z), lambda s, z: (s, z), sums, sizes
    )
    new = sphere.normalize(sums) if spherical else sums / jnp.maximum(sizes, 1e-30)[:, None]
    # a cluster that could not be refilled (fewer points than centres) keeps its centre
    return jnp.where((sizes > 0)[:, None], new, c)


def _stop(it, shift, changed, max_iter, tol):
    return (it < max_iter) & (shift > tol) & (changed > 0)


def _finish(x, w, c, a, iters, shift, changed, tol, spherical):
    sizes = jax.ops.segment_sum(w, a, num_segments=c.shape[0])
    u2 = jnp.sum((x - c[a]) ** 2, axis=-1)
    inertia = jnp.sum(w * (0.5 * u2 if spherical else u2))
    shift_ok = shift <= tol
    converged = shift_ok | (changed == 0)
    # scikit-learn notices unchanged assignments one step later than we do
    n_iter = iters + ((changed == 0) & ~shift_ok).astype(iters.dtype)
    return c, a, sizes, inertia, n_iter, converged


def _lloyd_buffers(n: int) -> list[int]:
    """Row-buffer sizes of the bounded Lloyd step (the last branch is all ``n`` rows)."""
    return sorted({min(n, max(64, n // f)) for f in (16, 4)} - {n})


def _lloyd_bounded(x, xx, w, init, a0, *, spherical, max_iter, tol, margin):
    """Lloyd from ``init`` with Elkan-style bounds; (centres, assign, sizes, inertia, iters, converged).

    State: ``ub [n, k]`` and ``drift [k]``: ``ub - drift`` bounds the distance
    of every point to every other centre from below (``+inf`` in the column
    of the point's own centre). When the centres move by ``delta [k]``,
    ``drift += delta`` (so the ``[n, k]`` matrix is only read, never
    rewritten, in a step). A point whose exact distance ``u`` to its
    own centre is below every other bound keeps its centre; the others are
    gathered (fixed-size row buffers chosen with ``lax.switch``) and get exact
    distance rows, which also refresh their bounds. ``a0`` (``[n]`` or
    ``None``): the assignment to ``init`` when the seeding already knows it;
    the bounds then start at 0 and the first step recomputes every row.
    """
    n = x.shape[0]
    k = init.shape[0]
    sizes_m = _lloyd_buffers(n)
    cols = jnp.arange(k)[None, :]

    def rows(dist, drift):
        # a point's own centre gets +inf: the step's bound test is then a plain row minimum
        own = jnp.argmin(dist, axis=-1).astype(jnp.int32)
        return own, jnp.where(cols == own[:, None], jnp.inf, dist + drift[None, :])

    def full(c, a, ub, drift, need):
        return rows(jnp.sqrt(_sq_dists(x, xx, c)), drift)

    def partial(m):
        def run(c, a, ub, drift, need):
            idx = jnp.nonzero(need, size=m, fill_value=n)[0]
            xs = jnp.take(x, idx, axis=0, mode="clip")
            a_s, ub_s = rows(jnp.sqrt(_sq_dists(xs, jnp.take(xx, idx, mode="clip"), c)), drift)
            return a.at[idx].set(a_s, mode="drop"), ub.at[idx].set(ub_s, mode="drop")

        return run

    branches = [partial(m) for m in sizes_m] + [full]
    bounds = jnp.asarray(sizes_m, jnp.int32)

    def assign(c, a, ub, drift):
        u = jnp.sqrt(jnp.sum((x - c[a]) ** 2, axis=-1))
        other = jnp.min(ub - drift[None, :], axis=-1)  # own column holds +inf
        need = jnp.logical_and(other < u + margin, w > 0)
        count = jnp.sum(need).astype(jnp.int32)
        which = jnp.sum(count > bounds).astype(jnp.int32) if sizes_m else jnp.int32(0)
        return jax.lax.switch(which, branches, c, a, ub, drift, need)

    def cond(state):
        _, _, _, _, it, shift, changed = state
        return _stop(it, shift, changed, max_iter, tol)

    def body(state):
        c, a, ub, drift, it, _, _ = state
        new = _update(x, w, a, c, spherical)
        delta = jnp.sqrt(jnp.sum((new - c) ** 2, axis=-1))
        drift = drift + delta
        a_new, ub = assign(new, a, ub, drift)
        changed = jnp.sum(jnp.logical_and(a_new != a, w > 0)).astype(jnp.int32)
        return new, a_new, ub, drift, it + 1, jnp.sum(delta**2), changed

    drift0 = jnp.zeros((k,), x.dtype)
    if a0 is None:
        a0, ub0 = full(init, None, None, drift0, None)
    else:
        ub0 = jnp.zeros((n, k), x.dtype)
    state = (init, a0, ub0, drift0, jnp.int32(0), jnp.asarray(jnp.inf, x.dtype), jnp.int32(1))
    c, a, _, _, iters, shift, changed = jax.lax.while_loop(cond, body, state)
    return _finish(x, w, c, a, iters, shift, changed, tol, spherical)


def _lloyd_dense(x, xx, w, init, a0, *, spherical, max_iter, tol):
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
        return _stop(it, shift, changed, max_iter, tol)

    def body(state):
        c, a, it, _, _ = state
        new = _update(x, w, a, c, spherical)
        a_new = assign(new)
        changed = jnp.sum(jnp.logical_and(a_new != a, w > 0)).astype(jnp.int32)
        return new, a_new, it + 1, jnp.sum((new - c) ** 2), changed

    state = (init, assign(init) if a0 is None else a0, jnp.int32(0), jnp.asarray(jnp.inf, x.dtype), jnp.int32(1))
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
    max_iter: int = 300,
    tol: float = 1e-4,
    spherical: bool = False,
    normalize_centres: bool = True,
    restarts: str = "auto",
    seeding: str = "greedy",
    n_trials: int | None = None,
    seeding_per_step: int | None = None,
    screen_iters: int = 0,
    init: jax.Array | None = None,
) -> KMeansResult:
    """Seeded k-means with ``n_init`` restarts; keeps the lowest inertia.

    With the defaults this is scikit-learn's ``KMeans(k, n_init=10)``
    (``max_iter=300``, ``tol=1e-4``, greedy k-means++, Lloyd with its
    empty-cluster relocation), with JAX's random numbers instead of NumPy's.

    Args:
      x: ``[n, d]`` points (normalise them first for UPT).
      k: number of clusters (static), ``1 <= k <= n``.
      key: PRNG key of the seeding (one draw of uniforms ``[n_init, k, L]``
        for all restarts; unused with ``init``).
      weights: optional ``[n]`` point weights; 0 masks a point out.
      n_init: restarts (static).
      max_iter: Lloyd iteration cap (static; scikit-learn's 300).
      tol: stop when the total squared centre shift is at most
        ``tol * mean per-feature variance`` of ``x`` (:func:`tolerance`,
        scikit-learn's rule); Lloyd also stops when no assignment changes.
      spherical: cosine k-means instead of Euclidean (points are normalised
        inside; inertia is ``sum w (1 - cos)``).
      normalize_centres: L2-normalise the returned centres.
      restarts: ``"sequential"`` (``lax.map``, bounded Lloyd: fastest on
        CPU), ``"parallel"`` (``vmap``, dense Lloyd steps: for accelerators)
        or ``"auto"`` (sequential on CPU, parallel otherwise); static. The
        seeding of all restarts is vmapped either way.
      seeding: ``"greedy"`` (default; scikit-learn's greedy k-means++) or
        ``"kmeans++"`` (classic: one candidate per centre); static.
      n_trials: greedy candidates per centre (``None``: ``2 + floor(ln k)``).
      seeding_per_step: ``"kmeans++"`` only: centres drawn per round
        (static); ``None`` picks ``ceil(k / 125)`` (1 for k <= 125).
      screen_iters: ``0`` (default): every restart runs to convergence and
        the lowest final inertia wins (scikit-learn's ``n_init``). ``> 0``:
        every restart runs ``screen_iters`` Lloyd steps, then only the one
        with the lowest inertia so far continues to convergence (about
        ``n_init`` times fewer late iterations, slightly higher inertia).
      init: optional ``[k, d]`` or ``[n_init, k, d]`` initial centres instead
        of the seeding (scikit-learn's ``init=array``).

    Returns:
      :class:`KMeansResult` of the best restart.
    """
    n, d = x.shape
    if not 1 <= k <= n:
        raise UPTError(f"kmeans: need 1 <= k <= n, got k={k} for x of shape {list(x.shape)}; use fewer clusters")
    if restarts not in ("auto", "sequential", "parallel"):
        raise UPTError(f"kmeans: restarts must be 'auto', 'sequential' or 'parallel', got {restarts!r}")
    if seeding not in SEEDINGS:
        raise UPTError(f"kmeans: seeding must be one of {SEEDINGS}, got {seeding!r}")
    if int(n_init) < 1 or int(max_iter) < 1:
        raise UPTError(f"kmeans: n_init and max_iter must be >= 1, got n_init={n_init}, max_iter={max_iter}")
    if restarts == "auto":
        restarts = "sequential" if jax.default_backend() == "cpu" else "parallel"
    per_step = _auto_per_step(k) if seeding_per_step is None else int(seeding_per_step)
    if spherical:
        x = sphere.normalize(x)
    w = jnp.ones((n,), x.dtype) if weights is None else jnp.asarray(weights, x.dtype)
    abs_tol = tolerance(x, tol, w)
    xx = jnp.sum(x * x, axis=-1)
    # bounds are compared with a margin above float32 rounding of the distances
    margin = 1e-4 * jnp.sqrt(jnp.max(xx))
    sequential = restarts == "sequential"
    bounded = sequential and n * k <= _MAX_BOUNDS

    if init is not None:
        init = jnp.asarray(init, x.dtype)
        if init.ndim == 2:
            init = init[None]
        if init.ndim != 3 or init.shape[1:] != (k, d):
            raise UPTError(f"kmeans: init must be [k, d] = [{k}, {d}] or [n_init, {k}, {d}], got {list(init.shape)}")
        starts = sphere.normalize(init) if spherical else init
        owns = None
    else:
        trials = _seed_trials(k, seeding, n_trials, per_step)
        if trials:
            # all restarts seed together (vmapped) from one draw of uniforms; one shared Gram matrix
            gram = jnp.matmul(x, x.T, precision=_HI) if trials > 1 and _gram_ok(n) else None
            u = jax.random.uniform(key, (n_init, k, trials), dtype=x.dtype)
            idx, owns = jax.vmap(lambda ur: _seed_greedy(ur, x, xx, w, k, gram))(u)
        else:
            keys = jax.vmap(lambda r: jax.random.fold_in(key, r))(jnp.arange(n_init))
            idx = jax.vmap(lambda kr: _seed_batched(kr, x, xx, w, k, min(per_step, k - 1)))(keys)
            owns = None
        starts = x[idx]

    def lloyd(args, iters):
        c0, a0 = args
        if bounded:
            return _lloyd_bounded(x, xx, w, c0, a0, spherical=spherical, max_iter=iters, tol=abs_tol, margin=margin)
        return _lloyd_dense(x, xx, w, c0, a0, spherical=spherical, max_iter=iters, tol=abs_tol)

    batch = jax.lax.map if sequential else (lambda f, xs: jax.vmap(f)(xs))
    screen = int(screen_iters)
    if 0 < screen < max_iter and starts.shape[0] > 1:
        c0, a0, _, inertia0, iters0, _ = batch(lambda s: lloyd(s, screen), (starts, owns))
        b0 = jnp.argmin(inertia0)
        res = lloyd((c0[b0], a0[b0]), max_iter - screen)
        c, a, sizes, inertia = (r[None] for r in res[:4])
        iters = (res[4] + iters0[b0])[None]
        conv = res[5][None]
    else:
        c, a, sizes, inertia, iters, conv = batch(lambda s: lloyd(s, max_iter), (starts, owns))
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
