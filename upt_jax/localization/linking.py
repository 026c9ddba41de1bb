"""Linking person boxes into action tubes (step 3): exact Viterbi, K tubes.

A tube of a video takes one person box in every frame that has at least one
person box and maximises

    sum_t s(b_t) + iou_weight * sum over consecutive such frames IoU(b_t, b_t')

where "consecutive" skips frames without any person box (the tube has no box
there and the IoU term links the boxes on either side of the gap). The
recursion is a ``lax.scan`` over frames whose step is a max-plus product over
the ``[P, P]`` transitions of one frame pair; back-pointers are followed by a
reverse scan. After each tube, the boxes it used get score 0 for the next
tubes (they stay selectable); a tube's score is the mean of the ORIGINAL
scores of its boxes. Ties go to the lower box index.

:func:`frame_links` computes the action-independent pieces of a video once
(which frames have boxes, the previous non-empty frame, the ``[T, P, P]``
IoUs); :func:`viterbi` and :func:`k_tubes` work on one score array and are
vmapped over actions and videos by the caller.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from upt_jax.localization import boxes as _boxes

__all__ = ["FrameLinks", "Tubes", "frame_links", "viterbi", "k_tubes"]


class FrameLinks(NamedTuple):
    """Action-independent linking data of one video.

    Attributes:
      mask: ``[T, P]`` bool, real person boxes.
      nonempty: ``[T]`` bool, frames with at least one person box.
      has_prev: ``[T]`` bool, an earlier frame has a person box.
      iou_prev: ``[T, P, P]`` IoU between the boxes of the previous non-empty
        frame (rows) and of frame t (columns); 0 where there is none.
    """

    mask: jax.Array
    nonempty: jax.Array
    has_prev: jax.Array
    iou_prev: jax.Array


class Tubes(NamedTuple):
    """K tubes of one score array.

    Attributes:
      boxes: ``[K, T]`` int32 person box index per frame (-1: no box).
      scores: ``[K]`` mean original score of the tube's boxes (``-inf`` for a
        video without any person box).
      path_scores: ``[K]`` the maximised objective of each Viterbi run (on
        the scores as modified by the earlier tubes).
    """

    boxes: jax.Array
    scores: jax.Array
    path_scores: jax.Array


def frame_links(person_boxes: jax.Array, person_mask: jax.Array) -> FrameLinks:
    """Which frames link to which (``[T, P, 4]``, ``[T, P]`` -> :class:`FrameLinks`)."""
    mask = person_mask.astype(bool)
    nonempty = jnp.any(mask, axis=-1)
    t = nonempty.shape[0]
    idx = jnp.where(nonempty, jnp.arange(t), -1)
    last_upto = jax.lax.cummax(idx, axis=0)  # last non-empty frame <= t
    prev = jnp.concatenate([jnp.full((1,), -1, last_upto.dtype), last_upto[:-1]])
    has_prev = prev >= 0
    prev_boxes = person_boxes[jnp.maximum(prev, 0)]
    iou_prev = _boxes.pairwise_iou(prev_boxes, person_boxes)
    iou_prev = jnp.where(has_prev[:, None, None], iou_prev, 0.0)
    return FrameLinks(mask, nonempty, has_prev, iou_prev)


def viterbi(scores: jax.Array, links: FrameLinks, iou_weight: jax.Array | float):
    """The best tube of one score array (exact).

    Args:
      scores: ``[T, P]`` box scores.
      links: :class:`FrameLinks` of the video.
      iou_weight: traced weight of the IoU term.

    Returns:
      ``(boxes [T] int32 (-1: no box), objective [])``.
    """
    dtype = scores.dtype
    w = jnp.asarray(iou_weight, dtype)
    num_p = scores.shape[-1]
    neg = jnp.asarray(-jnp.inf, dtype)

    # forward: only the max (cheap); the argmax is recomputed for the one
    # chosen box per frame on the way back, from the stored running scores.
    def step(delta, x):
        s, m, ne, hp, iou = x
        val = jnp.max(delta[:, None] + w * iou, axis=0)
        new = jnp.where(m, jnp.where(hp, s + val, s), neg)
        return jnp.where(ne, new, delta), delta

    delta0 = jnp.full((num_p,), neg, dtype)
    xs = (scores, links.mask, links.nonempty, links.has_prev, links.iou_prev)
    delta, before = jax.lax.scan(step, delta0, xs)
    last = jnp.argmax(delta).astype(jnp.int32)

    def back(idx, x):
        prev_delta, ne, hp, iou = x
        out = jnp.where(ne, idx, -1)
        best = jnp.argmax(prev_delta + w * iou[:, idx]).astype(jnp.int32)  # first maximum: lower index
        return jnp.where(ne & hp, best, idx), out

    _, path = jax.lax.scan(back, last, (before, links.nonempty, links.has_prev, links.iou_prev), reverse=True)
    return path, jnp.max(delta)


def k_tubes(scores: jax.Array, links: FrameLinks, iou_weight: jax.Array | float, n_tubes: int) -> Tubes:
    """``n_tubes`` tubes, each after zeroing the boxes of the earlier ones.

    Args:
      scores: ``[T, P]`` box scores (one video, one action).
      links: :class:`FrameLinks`.
      iou_weight: traced IoU weight.
      n_tubes: K (static).

    Returns:
      :class:`Tubes`.
    """
    num_p = scores.shape[-1]
    count = jnp.sum(links.nonempty)

    def one(s_mod, _):
        path, obj = viterbi(s_mod, links, iou_weight)
        hit = (path[:, None] == jnp.arange(num_p)[None, :]) & links.nonempty[:, None]
        orig = jnp.sum(jnp.where(hit, scores, 0.0))
        mean = jnp.where(count > 0, orig / jnp.maximum(count, 1).astype(scores.dtype), -jnp.inf)
        return jnp.where(hit, 0.0, s_mod), (path, mean, obj)

    _, (paths, means, objs) = jax.lax.scan(one, scores, None, length=n_tubes)
    return Tubes(paths, means, objs)
