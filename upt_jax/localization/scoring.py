"""Object-aware box scores (steps 1-2 of zero-shot localization).

Step 1, objects per action: action ``a`` (prototype ``a'``) keeps its top-n
objects by ``cos(a', o)`` with weight ``w(a, o) = cos(a', o)`` (raw cosine);
as a dense ``[O, A]`` matrix with ``A * n`` non-zeros (:func:`object_weights`).

Step 2, box score of person box ``p`` in frame ``t`` for action ``a``::

    s_a(p) = score(p) + sum_o w(a, o) g_o(p)
    g_o(p) = score(b) (1 - JSD(prior_o, tiles(p, b)))

with ``b`` the highest-scoring class-``o`` box of frame ``t`` whose gap
distance to ``p`` is at most ``max_dist`` (ties: the lower box index), and
``g_o(p) = 0`` when there is none.

How it is computed without an ``[A, T, P, Q]`` (let alone ``[A, V, T, P, Q]``)
tensor: ``g`` does not depend on the action, and the best class-``o`` box for
``p`` is the first eligible class-``o`` box once the frame's object boxes are
sorted by score (descending, stable). So per video, :func:`pair_terms` sorts
each frame's boxes once, marks for every (person, object box) pair whether the
box is eligible and no earlier eligible box of its class exists (one
``[T, P, Q] x [T, Q, Q]`` count), and keeps ``g`` for those winners:
``value [T, P, Q]``. Then :func:`box_scores` is one contraction
``value [T, P, Q] x w(label(q), a) [T, Q, A] -> [T, P, A]``. ``pair_terms``
depends on the boxes and ``max_dist`` only, so a sweep over ``lam`` or over
the number of objects reuses it.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from upt_jax import objects as _objects
from upt_jax.localization import boxes as _boxes

__all__ = ["PairTerms", "object_weights", "pair_terms", "box_scores"]

_HI = jax.lax.Precision.HIGHEST


class PairTerms(NamedTuple):
    """Action-independent part of the box scores of one video.

    Attributes:
      value: ``[T, P, Q]`` float, ``g_{label(q)}(p)`` where object box ``q``
        (in score order) is the best eligible box of its class for person
        box ``p``, else 0.
      labels: ``[T, Q]`` int32 object class of each box, in score order
        (padded boxes: 0, with ``value`` 0).
    """

    value: jax.Array
    labels: jax.Array


def object_weights(prototypes: jax.Array, object_prototypes: jax.Array, top_n: int):
    """Step 1: each action's top-n objects and weights ``cos(a', o)``.

    Args:
      prototypes: ``[A, d]`` action prototypes; object_prototypes: ``[O, d]``
        (both normalised inside).
      top_n: objects per action (static; 0 = none, actor-only scores).

    Returns:
      ``(indices [A, n] int32, weights [A, n], dense [O, A])``: best first
      (ties: the lower object index); ``dense[o, a] = w(a, o)`` for kept
      objects, 0 elsewhere.
    """
    num_a, num_o = prototypes.shape[0], object_prototypes.shape[0]
    if top_n == 0:
        dtype = jnp.result_type(prototypes.dtype, jnp.float32)
        return (jnp.zeros((num_a, 0), jnp.int32), jnp.zeros((num_a, 0), dtype), jnp.zeros((num_o, num_a), dtype))
    idx, w = _objects.select_objects(prototypes, object_prototypes, top_n)
    return idx, w, _objects.weight_matrix(idx, w, num_o)


def pair_terms(
    person_boxes: jax.Array,
    person_mask: jax.Array,
    object_boxes: jax.Array,
    object_labels: jax.Array,
    object_scores: jax.Array,
    object_mask: jax.Array,
    priors: jax.Array,
    max_dist: jax.Array | float,
) -> PairTerms:
    """The action-independent object terms of one video's person boxes.

    Args:
      person_boxes: ``[T, P, 4]``; person_mask: ``[T, P]`` bool.
      object_boxes: ``[T, Q, 4]``; object_labels: ``[T, Q]`` int in ``[0, O)``;
      object_scores: ``[T, Q]``; object_mask: ``[T, Q]`` bool.
      priors: ``[O, 9]`` spatial priors (rows sum to 1).
      max_dist: traced scalar, the largest gap distance (pixels) at which an
        object box counts for a person box.

    Returns:
      :class:`PairTerms` (``value [T, P, Q]``, ``labels [T, Q]``).
    """
    dtype = object_boxes.dtype
    omask = object_mask.astype(bool)
    key = jnp.where(omask, -object_scores, jnp.inf)
    order = jnp.argsort(key, axis=-1, stable=True)  # [T, Q]: best first, ties by index, padding last
    ob = jnp.take_along_axis(object_boxes, order[..., None], axis=1)
    ol = jnp.take_along_axis(object_labels.astype(jnp.int32), order, axis=1)
    os_ = jnp.take_along_axis(object_scores, order, axis=1)
    om = jnp.take_along_axis(omask, order, axis=1)
    ol = jnp.where(om, ol, 0)
    pb = person_boxes[:, :, None, :]  # [T, P, 1, 4]
    obb = ob[:, None, :, :]  # [T, 1, Q, 4]
    gap = _boxes.gap_distance(pb, obb)  # [T, P, Q]
    eligible = (
        person_mask.astype(bool)[:, :, None]
        & om[:, None, :]
        & (gap <= jnp.asarray(max_dist, dtype))
        & (_boxes.area(ob) > 0)[:, None, :]
    )
    q = ol.shape[-1]
    earlier = jnp.arange(q)[None, :] < jnp.arange(q)[:, None]  # [i, j]: j before i
    same_before = (ol[:, :, None] == ol[:, None, :]) & earlier[None] & om[:, None, :]  # [T, Q(i), Q(j)]
    blocked = jnp.einsum("tpj,tij->tpi", eligible.astype(dtype), same_before.astype(dtype), precision=_HI)
    best = eligible & (blocked < 0.5)
    pri = jnp.asarray(priors, dtype)  # NumPy priors too (indexed by traced labels below)
    h_prior = _boxes.entropy2(pri)[ol][:, None, :]  # [T, 1, Q]
    prior = pri[ol][:, None, :, :]  # [T, 1, Q, 9]
    g = os_[:, None, :] * (1.0 - _boxes.prior_jsd(pb, obb, prior, h_prior))
    return PairTerms(jnp.where(best, g, 0.0), ol)


def box_scores(person_scores: jax.Array, terms: PairTerms, weights: jax.Array) -> jax.Array:
    """Step 2: ``s_a(p)`` for every person box and action.

    Args:
      person_scores: ``[T, P]`` person detection scores.
      terms: :class:`PairTerms` of the video.
      weights: ``[O, A]`` dense object weights (:func:`object_weights`).

    Returns:
      ``[T, P, A]`` box scores (padded boxes get their padded score; the
      linker ignores them through the mask).
    """
    wq = jnp.asarray(weights, terms.value.dtype)[terms.labels]  # [T, Q, A] (NumPy weights too)
    obj = jnp.einsum("tpq,tqa->tpa", terms.value, wq, precision=_HI)
    return person_scores[..., None] + obj
