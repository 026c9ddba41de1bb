"""Video-mAP of action tubes (step 6) and classification from tubes (step 4).

* ST-IoU of a detected tube ``P`` and a ground-truth tube ``G``:
  ``|F_P & F_G| / |F_P | F_G| * mean over F_P & F_G of IoU2d``, with ``F`` the
  frames where the tube has a box (ground-truth frames with negative
  coordinates are unannotated and not in ``F_G``); 0 when the frame sets do
  not meet.
* Matching, per class ``c`` and threshold ``delta``: the tubes for ``c`` of all
  videos are sorted by score (descending; ties by video order, then tube
  order); a tube is a true positive when its video has a ground-truth tube of
  class ``c``, not yet matched, with ST-IoU >= delta (the unmatched one with
  the highest ST-IoU; ties: the lower index). Matches only happen within a
  video, so the greedy pass runs per video over its K tubes in score order,
  which gives the same true positives as one pass over the pooled list.
* AP: all-point interpolated (PASCAL VOC 2010 and later): precision made
  monotone from the right, summed over the recall steps; recall counts every
  ground-truth tube of ``c``, so missed ones lower it. Equivalently
  ``AP = (1 / n_gt) * sum over true positives i of max_{j >= i} precision_j``.
* mAP: mean over classes with ground truth, in percent.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from upt_jax.localization import boxes as _boxes

__all__ = [
    "THRESHOLDS",
    "LocalizationMetrics",
    "st_iou",
    "match_video",
    "average_precision",
    "video_map",
    "classification_top1",
]

#: The ST-IoU thresholds reported (0.1, 0.2, ..., 0.8).
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


class LocalizationMetrics(NamedTuple):
    """Evaluation of one run.

    Attributes:
      map: ``[D]`` video-mAP (percent) per threshold.
      ap: ``[D, A]`` AP (percent) per threshold and class (NaN without
        ground truth).
      n_gt: ``[A]`` int32 ground-truth tubes per class.
      top1: ``[]`` classification accuracy from the tubes (percent).
      predictions: ``[V]`` int32 predicted class per video.
      best_st_iou: ``[V]`` highest ST-IoU between the label class's tubes and
        the video's ground truth (a diagnostic).
    """

    map: jax.Array
    ap: jax.Array
    n_gt: jax.Array
    top1: jax.Array
    predictions: jax.Array
    best_st_iou: jax.Array


def st_iou(tube: jax.Array, tube_mask: jax.Array, gt: jax.Array, gt_mask: jax.Array) -> jax.Array:
    """Spatio-temporal IoU of two tubes over the same frames.

    Args:
      tube, gt: ``[..., T, 4]`` boxes per frame; tube_mask, gt_mask: ``[..., T]``
        bool, frames where each has a box (broadcastable).

    Returns:
      ``[...]`` ST-IoU in [0, 1].
    """
    tm, gm = tube_mask.astype(bool), gt_mask.astype(bool)
    both = tm & gm
    n_both = jnp.sum(both, axis=-1)
    n_any = jnp.sum(tm | gm, axis=-1)
    spatial = jnp.sum(jnp.where(both, _boxes.iou(tube, gt), 0.0), axis=-1)
    dtype = spatial.dtype
    nb = jnp.maximum(n_both, 1).astype(dtype)
    temporal = n_both.astype(dtype) / jnp.maximum(n_any, 1).astype(dtype)
    return jnp.where(n_both > 0, temporal * spatial / nb, 0.0)


def match_video(scores: jax.Array, overlaps: jax.Array, gt_valid: jax.Array, threshold: jax.Array | float) -> jax.Array:
    """Greedy matching of one video's tubes for its own class.

    Args:
      scores: ``[K]`` tube scores; overlaps: ``[K, G]`` ST-IoU with each
        ground-truth tube; gt_valid: ``[G]`` bool.
      threshold: ST-IoU threshold ``delta``.

    Returns:
      ``[K]`` bool, true positives (in the original tube order).
    """
    order = jnp.argsort(-scores, stable=True)
    thr = jnp.asarray(threshold, overlaps.dtype)

    def step(matched, k):
        ov = jnp.where(matched | ~gt_valid, -jnp.inf, overlaps[k])
        g = jnp.argmax(ov)
        ok = (ov[g] >= thr) & jnp.isfinite(scores[k])
        return matched | (ok & (jnp.arange(matched.shape[0]) == g)), ok

    _, tp_sorted = jax.lax.scan(step, jnp.zeros(gt_valid.shape, bool), order)
    return jnp.zeros(scores.shape, bool).at[order].set(tp_sorted)


def average_precision(scores: jax.Array, tp: jax.Array, valid: jax.Array, n_gt: jax.Array) -> jax.Array:
    """All-point interpolated AP (VOC 2010+) of one pooled detection list.

    Args:
      scores: ``[N]`` detection scores, in pooling order (ties keep it).
      tp: ``[N]`` bool true positives; valid: ``[N]`` bool, real detections.
      n_gt: ``[]`` number of ground-truth instances.

    Returns:
      ``[]`` AP in [0, 1] (NaN when ``n_gt == 0``).
    """
    dtype = scores.dtype if jnp.issubdtype(scores.dtype, jnp.floating) else jnp.float32
    key = jnp.where(valid, -scores, jnp.inf)
    order = jnp.argsort(key, stable=True)
    v = valid[order]
    t = tp[order] & v
    f = v & ~t
    ctp = jnp.cumsum(t.astype(dtype))
    cfp = jnp.cumsum(f.astype(dtype))
    prec = ctp / jnp.maximum(ctp + cfp, 1.0)
    interp = jax.lax.cummax(prec, axis=0, reverse=True)
    total = jnp.sum(jnp.where(t, interp, 0.0))
    n = jnp.asarray(n_gt, dtype)
    return jnp.where(n > 0, total / jnp.maximum(n, 1.0), jnp.nan)


def classification_top1(video_scores: jax.Array, labels: jax.Array, video_mask: jax.Array):
    """Step 4: predictions ``argmax_a`` (ties: lower index) and top-1 percent.

    Args:
      video_scores: ``[V, A]``; labels: ``[V]`` int; video_mask: ``[V]`` bool.

    Returns:
      ``(predictions [V] int32, top1 [])``.
    """
    pred = jnp.argmax(video_scores, axis=-1).astype(jnp.int32)
    vm = video_mask.astype(bool)
    hit = jnp.sum((pred == labels) & vm)
    return pred, 100.0 * hit.astype(jnp.float32) / jnp.maximum(jnp.sum(vm), 1).astype(jnp.float32)


def video_map(
    tube_scores: jax.Array,
    label_overlaps: jax.Array,
    gt_tube_mask: jax.Array,
    labels: jax.Array,
    video_mask: jax.Array,
    thresholds=THRESHOLDS,
):
    """Video-mAP over thresholds.

    Args:
      tube_scores: ``[V, A, K]`` tube scores per video, class and tube
        (``-inf``: no tube).
      label_overlaps: ``[V, K, G]`` ST-IoU of the tubes of each video's OWN
        class with its ground-truth tubes (all ground truth of a video has the
        video's label).
      gt_tube_mask: ``[V, G]`` bool, real ground-truth tubes.
      labels: ``[V]`` int; video_mask: ``[V]`` bool.
      thresholds: ``D`` ST-IoU thresholds (array or tuple).

    Returns:
      ``(map [D] percent, ap [D, A] percent (NaN without ground truth),
      n_gt [A] int32)``.
    """
    num_v, num_a, num_k = tube_scores.shape
    vm = video_mask.astype(bool)
    gv = gt_tube_mask.astype(bool) & vm[:, None]
    own = jnp.take_along_axis(tube_scores, labels[:, None, None].astype(jnp.int32), axis=1)[:, 0]  # [V, K]
    n_gt = jnp.zeros((num_a,), jnp.int32).at[labels].add(jnp.sum(gv, axis=-1).astype(jnp.int32))
    thr = jnp.asarray(thresholds, tube_scores.dtype)
    valid_all = jnp.isfinite(tube_scores) & vm[:, None, None]  # [V, A, K]
    is_own = labels[:, None] == jnp.arange(num_a)[None, :]  # [V, A]

    def per_threshold(delta):
        tp_own = jax.vmap(match_video, in_axes=(0, 0, 0, None))(own, label_overlaps, gv, delta)  # [V, K]
        tp = is_own[:, :, None] & tp_own[:, None, :]  # [V, A, K]

        def per_class(a):
            s = tube_scores[:, a, :].reshape(-1)
            return average_precision(s, tp[:, a, :].reshape(-1), valid_all[:, a, :].reshape(-1), n_gt[a])

        return jax.vmap(per_class)(jnp.arange(num_a))

    ap = jax.vmap(per_threshold)(thr)  # [D, A]
    has = n_gt > 0
    m = jnp.sum(jnp.where(has[None, :], ap, 0.0), axis=-1) / jnp.maximum(jnp.sum(has), 1)
    return 100.0 * m, 100.0 * ap, n_gt
