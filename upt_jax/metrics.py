"""Zero-shot inference and mask-aware metrics.

Classes and videos outside a split are masked, never sliced, so splits of
different sizes stack on one axis and ``vmap`` over it. All accuracies are in
PERCENT.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from upt_jax import sphere

__all__ = ["Metrics", "scores", "predict", "evaluate", "evaluate_scores", "evaluate_top", "summarize", "unreachable_names"]


class Metrics(NamedTuple):
    """Zero-shot metrics of one split.

    Attributes:
      top1, top5: ``[]`` accuracy in percent over unmasked videos.
      mean_class_accuracy: ``[]`` mean over unmasked classes that have at least
        one video of their per-class top-1 accuracy, in percent.
      counts: ``[k]`` int32, how many unmasked videos each class wins (0 for
        masked classes).
      unreachable: ``[]`` int32, unmasked classes never predicted.
      unreachable_mask: ``[k]`` bool.
      predictions: ``[n]`` int32 top-1 class per video (-1 for masked videos).
      n_videos, n_classes: ``[]`` int32 counts of unmasked videos and classes.
    """

    top1: jax.Array
    top5: jax.Array
    mean_class_accuracy: jax.Array
    counts: jax.Array
    unreachable: jax.Array
    unreachable_mask: jax.Array
    predictions: jax.Array
    n_videos: jax.Array
    n_classes: jax.Array


def scores(prototypes: jax.Array, videos: jax.Array, class_mask: jax.Array | None = None) -> jax.Array:
    """Cosine scores of every video for every class.

    Args:
      prototypes: ``[k, d]``; videos: ``[n, d]`` (normalised inside).
      class_mask: optional ``[k]`` bool; masked classes score ``-inf``.

    Returns:
      ``[n, k]`` float scores.
    """
    s = sphere.pairwise_cos(sphere.normalize(videos), sphere.normalize(prototypes))
    if class_mask is not None:
        s = jnp.where(class_mask[None, :], s, -jnp.inf)
    return s


def predict(prototypes: jax.Array, videos: jax.Array, class_mask: jax.Array | None = None, k: int = 1) -> jax.Array:
    """Top-``k`` classes per video, best first: ``[n, k]`` int32."""
    _, idx = jax.lax.top_k(scores(prototypes, videos, class_mask), k)
    return idx.astype(jnp.int32)


def evaluate(
    prototypes: jax.Array,
    videos: jax.Array,
    labels: jax.Array,
    *,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
    k: int = 5,
) -> Metrics:
    """Classify videos by the nearest prototype and measure the result.

    Args:
      prototypes: ``[K, d]``; videos: ``[N, d]``; labels: ``[N]`` int class
        indices into ``prototypes``.
      class_mask: optional ``[K]`` bool, candidate classes of the split.
      video_mask: optional ``[N]`` bool, test videos of the split. A split
        restricts both (Brattoli et al.'s protocol).
      k: the "top-5" cut-off (static).

    Returns:
      :class:`Metrics`.
    """
    return evaluate_scores(scores(prototypes, videos), labels, class_mask=class_mask, video_mask=video_mask, k=k)


def evaluate_scores(
    scores: jax.Array,
    labels: jax.Array,
    *,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
    k: int = 5,
) -> Metrics:
    """:func:`evaluate` for any score matrix (higher is better), e.g. the
    object model's or a fused score.

    Args:
      scores: ``[N, K]``; labels: ``[N]`` int.
      class_mask: optional ``[K]`` bool; video_mask: optional ``[N]`` bool.
      k: the "top-5" cut-off (static).

    Returns:
      :class:`Metrics`.
    """
    num_k = scores.shape[1]
    cm = jnp.ones((num_k,), bool) if class_mask is None else class_mask.astype(bool)
    s = jnp.where(cm[None, :], scores, -jnp.inf)
    _, top = jax.lax.top_k(s, min(k, num_k))
    # the barrier keeps XLA from recomputing scores + top_k inside each metric's fusion (5x slower batched)
    top = jax.lax.optimization_barrier(top.astype(jnp.int32))
    return evaluate_top(top, labels, num_k, class_mask=class_mask, video_mask=video_mask)


def evaluate_top(
    top: jax.Array,
    labels: jax.Array,
    num_classes: int,
    *,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
) -> Metrics:
    """:class:`Metrics` from each video's top-k classes (best first).

    What :func:`evaluate_scores` measures after its ``top_k``; the chunked
    evaluation (:func:`upt_jax.scale.evaluate_chunked`) computes ``top``
    block by block.

    Args:
      top: ``[N, k]`` int32 class indices, best first (masked classes never
        among them unless fewer than k classes are unmasked).
      labels: ``[N]`` int; num_classes: K (static).
      class_mask: optional ``[K]`` bool; video_mask: optional ``[N]`` bool.
    """
    n, kk = top.shape
    num_k = num_classes
    cm = jnp.ones((num_k,), bool) if class_mask is None else class_mask.astype(bool)
    vm = jnp.ones((n,), bool) if video_mask is None else video_mask.astype(bool)
    pred = top[:, 0]
    labels = labels.astype(jnp.int32)
    hit1 = (pred == labels) & vm
    n_valid_classes = jnp.sum(cm)
    # with fewer than k candidate classes, top-k covers all of them
    in_top = jnp.any((top == labels[:, None]) & (jnp.arange(kk)[None, :] < n_valid_classes), axis=1)
    hitk = in_top & vm
    nv = jnp.maximum(jnp.sum(vm), 1)
    top1 = 100.0 * jnp.sum(hit1) / nv
    topk = 100.0 * jnp.sum(hitk) / nv
    safe_labels = jnp.clip(labels, 0, num_k - 1)
    per_class_n = jax.ops.segment_sum(vm.astype(jnp.float32), safe_labels, num_segments=num_k)
    per_class_hit = jax.ops.segment_sum(hit1.astype(jnp.float32), safe_labels, num_segments=num_k)
    has = (per_class_n > 0) & cm
    mca = 100.0 * jnp.sum(jnp.where(has, per_class_hit / jnp.maximum(per_class_n, 1), 0.0)) / jnp.maximum(jnp.sum(has), 1)
    counts = jax.ops.segment_sum(vm.astype(jnp.int32), pred, num_segments=num_k)
    unreach = cm & (counts == 0)
    return Metrics(
        top1=top1,
        top5=topk,
        mean_class_accuracy=mca,
        counts=counts,
        unreachable=jnp.sum(unreach).astype(jnp.int32),
        unreachable_mask=unreach,
        predictions=jnp.where(vm, pred, -1),
        n_videos=jnp.sum(vm).astype(jnp.int32),
        n_classes=n_valid_classes.astype(jnp.int32),
    )


def unreachable_names(metrics: Metrics, class_names: Sequence[str]) -> list[str]:
    """Names of the classes never predicted (host-side)."""
    mask = np.asarray(metrics.unreachable_mask)
    return [str(class_names[i]) for i in np.flatnonzero(mask)]


def summarize(metrics: Metrics, class_names: Sequence[str] | None = None) -> dict:
    """Plain-Python summary of one split's metrics (for JSON/tables)."""
    out = {
        "top1": float(metrics.top1),
        "top5": float(metrics.top5),
        "mean_class_accuracy": float(metrics.mean_class_accuracy),
        "unreachable": int(metrics.unreachable),
        "n_videos": int(metrics.n_videos),
        "n_classes": int(metrics.n_classes),
    }
    if class_names is not None:
        out["unreachable_classes"] = unreachable_names(metrics, class_names)
    else:
        out["unreachable_classes"] = [int(i) for i in np.flatnonzero(np.asarray(metrics.unreachable_mask))]
    return out
