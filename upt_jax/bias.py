"""How a score matrix is biased, and which class prior the test set has.

Zero-shot scores (cosines of every test video to every class prototype) can
be biased in two ways that call for different fixes:

- an **additive offset per class**: every video scores some classes higher
  than others, whatever the video. Subtracting each class's mean score over
  the test videos (:func:`upt_jax.baselines.centre`) removes it;
- **geometry**: the videos of a class sit nearer another class's prototype
  than their own, which no per-class constant can undo; prototypes must move
  (UPT, prototype refinement).

:func:`bias_statistics` measures both without labels, on the split's classes
and videos only (masks): the spread over classes of the classes' mean scores
(the offsets) against the mean over classes of the spread of each class's
scores over the videos, the Gini coefficient of the predicted-class counts
and the number of classes never predicted. On the default UCF-101-like world
(seed 0, all 101 classes) the offsets (0.083) are about as large as the
within-class spread (0.088): mostly an offset bias. On real text embeddings
(WordNet noun glosses, ``scripts/wordnet_testbed.py``) they are small (0.02
against 0.09): mostly geometry.

:func:`estimate_prior` estimates the class prior of the test set from soft
predictions with the EM of Saerens, Latinne & Decaestecker (Neural
Computation 2002): posteriors ``softmax(scores / T)`` made under a uniform
prior are re-weighted by the current prior estimate, whose update is their
mean over the test videos. :func:`class_prior` resolves the ``"uniform"``,
``"given"`` and ``"estimated"`` choices of the transductive methods.

The estimate is only as good as the scores. On a clean, unbiased world (no
nuisance, ridge 0.1, Zipf class sizes with exponent 1: 5 to 531 videos per
class, baseline top-1 98 %) it recovers the test set's class frequencies to
an L1 error of 0.04 (T = 0.01). From BIASED scores it is worse than assuming
a uniform prior: on the default UCF-101 world with the same imbalance the
L1 error is 1.53 from the baseline's scores and 1.12 from UPT's, against
0.96 for the uniform prior (``experiments/bias_study.py``), because EM
reads the hubs' surplus of predictions as a surplus of videos.

All functions are pure JAX (no ``jit`` inside) and take ``[K]``/``[N]``
masks, so splits stack on a leading axis and ``vmap``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from upt_jax.errors import UPTError

__all__ = [
    "BiasStats",
    "PriorEstimate",
    "PRIOR_KINDS",
    "bias_statistics",
    "gini",
    "predicted_counts",
    "estimate_prior",
    "class_prior",
    "class_frequencies",
]

#: Choices of a class prior: uniform over the split's classes, given by the
#: caller, or estimated from the scores with :func:`estimate_prior`.
PRIOR_KINDS = ("uniform", "given", "estimated")


class BiasStats(NamedTuple):
    """Label-free bias statistics of one split's scores.

    Attributes:
      offset_spread: ``[]`` standard deviation (ddof 0) over the split's
        classes of ``m_k``, class k's mean score over the split's videos.
      within_spread: ``[]`` mean over the split's classes of the standard
        deviation (ddof 0) of class k's scores over the split's videos.
      offset_ratio: ``[]`` ``offset_spread / within_spread``; near or above 1
        means the bias is mostly an additive offset per class.
      gini: ``[]`` Gini coefficient of the predicted-class counts over the
        split's classes (0 = every class predicted equally often, toward 1 =
        a few classes take every video).
      never_predicted: ``[]`` int32, classes of the split that are the top-1
        class of no video of the split.
      counts: ``[K]`` int32 predicted-class counts (0 outside the split).
      class_means: ``[K]`` the ``m_k`` (0 outside the split).
    """

    offset_spread: jax.Array
    within_spread: jax.Array
    offset_ratio: jax.Array
    gini: jax.Array
    never_predicted: jax.Array
    counts: jax.Array
    class_means: jax.Array


class PriorEstimate(NamedTuple):
    """Output of :func:`estimate_prior`.

    Attributes:
      prior: ``[K]`` estimated class prior (sums to 1 over the split's
        classes, 0 outside).
      n_iters: ``[]`` int32 EM iterations run.
      change: ``[]`` max absolute change of the prior in the last iteration.
      posteriors: ``[N, K]`` posteriors under the estimated prior (rows of
        masked videos are those of a valid computation but meaningless).
    """

    prior: jax.Array
    n_iters: jax.Array
    change: jax.Array
    posteriors: jax.Array


def _masks(shape, class_mask, video_mask):
    n, k = shape
    cm = jnp.ones((k,), bool) if class_mask is None else jnp.asarray(class_mask).astype(bool)
    vm = jnp.ones((n,), bool) if video_mask is None else jnp.asarray(video_mask).astype(bool)
    return cm, vm


def _check_scores(scores, class_mask, video_mask, name="scores"):
    shape = tuple(jnp.shape(scores))
    if len(shape) != 2:
        raise UPTError(f"{name} must be an [N, K] matrix (videos x classes), got shape {list(shape)}")
    if class_mask is not None and tuple(jnp.shape(class_mask)) != (shape[1],):
        raise UPTError(f"class_mask must have shape [{shape[1]}] (one per class of {name}), got {list(jnp.shape(class_mask))}")
    if video_mask is not None and tuple(jnp.shape(video_mask)) != (shape[0],):
        raise UPTError(f"video_mask must have shape [{shape[0]}] (one per video of {name}), got {list(jnp.shape(video_mask))}")


def predicted_counts(
    scores: jax.Array,
    *,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
) -> jax.Array:
    """How many of the split's videos each class wins (top-1 over the split's classes).

    Args:
      scores: ``[N, K]`` scores, higher is better.
      class_mask: optional ``[K]`` bool, the split's classes.
      video_mask: optional ``[N]`` bool, the split's videos.

    Returns:
      ``[K]`` int32 counts (0 outside the split).
    """
    _check_scores(scores, class_mask, video_mask)
    cm, vm = _masks(scores.shape, class_mask, video_mask)
    pred = jnp.argmax(jnp.where(cm[None, :], scores, -jnp.inf), axis=1)
    return jax.ops.segment_sum(vm.astype(jnp.int32), pred, num_segments=scores.shape[1])


def gini(counts: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Gini coefficient of non-negative counts over the masked entries.

    ``G = sum_ij |c_i - c_j| / (2 n^2 mean(c))`` over the ``n`` entries of
    the mask (0 when all are equal; ``(n - 1) / n`` when one entry holds
    everything). Computed from the sorted counts in ``O(K log K)``.

    Args:
      counts: ``[K]`` non-negative numbers.
      mask: optional ``[K]`` bool, the entries that count.

    Returns:
      ``[]`` float Gini coefficient (0 when the masked counts sum to 0).
    """
    c = jnp.asarray(counts, jnp.float32)
    m = jnp.ones(c.shape, bool) if mask is None else jnp.asarray(mask).astype(bool)
    n = jnp.sum(m).astype(c.dtype)
    # masked entries go to the end of the ascending sort, with rank weights 0
    key = jnp.where(m, c, jnp.inf)
    order = jnp.argsort(key)
    cs = jnp.where(m[order], c[order], 0.0)
    i = jnp.arange(1, c.shape[0] + 1, dtype=c.dtype)
    total = jnp.sum(cs)
    g = 2.0 * jnp.sum(i * cs) / jnp.maximum(n * total, 1e-30) - (n + 1.0) / jnp.maximum(n, 1.0)
    return jnp.where(total > 0, g, 0.0)


def bias_statistics(
    scores: jax.Array,
    *,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
) -> BiasStats:
    """Offset against within-class spread, Gini of predictions, classes never predicted.

    No labels are used: "within-class spread" is the spread of one class's
    scores over the split's test videos (the column of the score matrix),
    against which the spread of the columns' means (the per-class offsets)
    is compared.

    Args:
      scores: ``[N, K]`` scores (e.g. cosines; higher is better).
      class_mask: optional ``[K]`` bool, the split's classes.
      video_mask: optional ``[N]`` bool, the split's videos.

    Returns:
      :class:`BiasStats`.
    """
    _check_scores(scores, class_mask, video_mask)
    s = jnp.asarray(scores)
    cm, vm = _masks(s.shape, class_mask, video_mask)
    w = vm.astype(s.dtype)[:, None]
    nv = jnp.maximum(jnp.sum(vm), 1).astype(s.dtype)
    nk = jnp.maximum(jnp.sum(cm), 1).astype(s.dtype)
    s0 = jnp.where(vm[:, None] & cm[None, :], s, 0.0)
    means = jnp.sum(s0, axis=0) / nv
    var = jnp.sum(w * (s0 - means[None, :]) ** 2, axis=0) / nv
    means = jnp.where(cm, means, 0.0)
    grand = jnp.sum(means) / nk
    offset = jnp.sqrt(jnp.sum(jnp.where(cm, (means - grand) ** 2, 0.0)) / nk)
    within = jnp.sum(jnp.where(cm, jnp.sqrt(var), 0.0)) / nk
    counts = predicted_counts(s, class_mask=cm, video_mask=vm)
    return BiasStats(
        offset_spread=offset,
        within_spread=within,
        offset_ratio=offset / jnp.maximum(within, 1e-30),
        gini=gini(counts, cm),
        never_predicted=jnp.sum(cm & (counts == 0)).astype(jnp.int32),
        counts=counts,
        class_means=means,
    )


def estimate_prior(
    scores: jax.Array,
    *,
    temperature: jax.Array | float = 0.01,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
    max_iter: int = 200,
    tol: jax.Array | float = 1e-6,
    init: jax.Array | None = None,
) -> PriorEstimate:
    """The test set's class prior by EM on soft predictions (Saerens et al. 2002).

    The scores are turned into posteriors under a uniform prior,
    ``q_ik = softmax_k(s_ik / T)`` over the split's classes. With the current
    prior ``pi``, the posteriors become ``p_ik ~ pi_k q_ik`` (renormalised
    over k) and the new prior is their mean over the split's videos. This is
    EM for the mixing weights of a mixture whose class-conditional densities
    are fixed; it maximises the likelihood of the unlabelled test set. It is
    only as good as the posteriors: biased scores give a biased prior (feed
    it scores after a bias correction, e.g. UPT's or refinement's).

    Args:
      scores: ``[N, K]`` scores (higher is better).
      temperature: ``T > 0`` of the posteriors (traced; vmappable).
      class_mask: optional ``[K]`` bool, the split's classes.
      video_mask: optional ``[N]`` bool, the split's videos.
      max_iter: iteration cap (static).
      tol: stop when no prior entry changes by more than this (traced).
      init: optional ``[K]`` starting prior (default uniform over the split).

    Returns:
      :class:`PriorEstimate`.
    """
    _check_scores(scores, class_mask, video_mask)
    s = jnp.asarray(scores)
    if not jnp.issubdtype(s.dtype, jnp.floating):
        s = s.astype(jnp.float32)
    cm, vm = _masks(s.shape, class_mask, video_mask)
    dtype = s.dtype
    t = jnp.asarray(temperature, dtype)
    logq = jax.nn.log_softmax(jnp.where(cm[None, :], s / t, -jnp.inf), axis=1)
    logq = jnp.where(cm[None, :], logq, -jnp.inf)
    w = vm.astype(dtype)
    nv = jnp.maximum(jnp.sum(w), 1.0)
    uniform = cm.astype(dtype) / jnp.maximum(jnp.sum(cm), 1)
    pi0 = uniform if init is None else jnp.where(cm, jnp.asarray(init, dtype), 0.0)
    pi0 = pi0 / jnp.maximum(jnp.sum(pi0), 1e-30)
    tol = jnp.asarray(tol, dtype)

    def posteriors(pi):
        logp = logq + jnp.log(jnp.where(cm, pi, 1.0))[None, :]
        logp = jnp.where(cm[None, :], logp, -jnp.inf)
        return jax.nn.softmax(logp, axis=1)

    def step(pi):
        p = posteriors(pi)
        new = jnp.sum(w[:, None] * p, axis=0) / nv
        return jnp.where(cm, new, 0.0)

    def cond(state):
        _, it, change = state
        return (it < max_iter) & (change > tol)

    def body(state):
        pi, it, _ = state
        new = step(pi)
        return new, it + 1, jnp.max(jnp.abs(new - pi))

    pi, it, change = jax.lax.while_loop(cond, body, (pi0, jnp.int32(0), jnp.asarray(jnp.inf, dtype)))
    return PriorEstimate(prior=pi, n_iters=it, change=change, posteriors=posteriors(pi))


def class_prior(
    kind: str,
    num_classes: int,
    *,
    class_mask: jax.Array | None = None,
    prior: jax.Array | None = None,
    scores: jax.Array | None = None,
    video_mask: jax.Array | None = None,
    temperature: jax.Array | float = 0.01,
    max_iter: int = 200,
) -> jax.Array:
    """A class prior over the split's classes, renormalised to sum to 1.

    Args:
      kind: ``"uniform"``, ``"given"`` (``prior`` required) or
        ``"estimated"`` (:func:`estimate_prior` on ``scores``; static).
      num_classes: ``K``.
      class_mask: optional ``[K]`` bool, the split's classes.
      prior: ``[K]`` non-negative weights for ``"given"`` (renormalised over
        the split; entries outside it are ignored).
      scores: ``[N, K]`` for ``"estimated"``.
      video_mask: optional ``[N]`` bool for ``"estimated"``.
      temperature, max_iter: EM settings for ``"estimated"``.

    Returns:
      ``[K]`` prior (0 outside the split).
    """
    if kind not in PRIOR_KINDS:
        raise UPTError(f"prior kind must be one of {PRIOR_KINDS}, got {kind!r}")
    cm = jnp.ones((num_classes,), bool) if class_mask is None else jnp.asarray(class_mask).astype(bool)
    if kind == "uniform":
        return cm.astype(jnp.float32) / jnp.maximum(jnp.sum(cm), 1)
    if kind == "given":
        if prior is None:
            raise UPTError('prior="given" needs a [K] prior array (class weights); pass prior=... or use "uniform"')
        if tuple(jnp.shape(prior)) != (num_classes,):
            raise UPTError(f"prior must have shape [{num_classes}] (one weight per class), got {list(jnp.shape(prior))}")
        p = jnp.where(cm, jnp.asarray(prior, jnp.float32), 0.0)
        return p / jnp.maximum(jnp.sum(p), 1e-30)
    if scores is None:
        raise UPTError('prior="estimated" needs the [N, K] scores to estimate it from')
    return estimate_prior(
        scores, temperature=temperature, class_mask=cm, video_mask=video_mask, max_iter=max_iter
    ).prior


def class_frequencies(
    labels: jax.Array,
    num_classes: int,
    *,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
) -> jax.Array:
    """The split's true class frequencies (from labels: an oracle prior, for studies).

    Args:
      labels: ``[N]`` int class indices.
      num_classes: ``K`` (static).
      class_mask: optional ``[K]`` bool, the split's classes.
      video_mask: optional ``[N]`` bool, the split's videos.

    Returns:
      ``[K]`` float32 frequencies of the split's videos over the split's
      classes (sum 1; 0 outside the split; uniform if no video counts).
    """
    lab = jnp.asarray(labels)
    if lab.ndim != 1:
        raise UPTError(f"labels must be an [N] vector of class indices, got shape {list(lab.shape)}")
    cm = jnp.ones((num_classes,), bool) if class_mask is None else jnp.asarray(class_mask).astype(bool)
    vm = jnp.ones(lab.shape, bool) if video_mask is None else jnp.asarray(video_mask).astype(bool)
    counts = jax.ops.segment_sum(vm.astype(jnp.float32), jnp.clip(lab, 0, num_classes - 1), num_segments=num_classes)
    counts = jnp.where(cm, counts, 0.0)
    total = jnp.sum(counts)
    uniform = cm.astype(jnp.float32) / jnp.maximum(jnp.sum(cm), 1)
    return jnp.where(total > 0, counts / jnp.maximum(total, 1e-30), uniform)
