"""Zero-shot spatio-temporal action localization, end to end (steps 1-6).

``localize(inputs, config, hyper)`` scores every person box of every test
video for every unseen action (actor score plus the action's top objects
detected near the actor, weighed by a spatial prior), links the boxes into K
tubes per (video, action) with an exact Viterbi, classifies each video by its
best tube, optionally moves the action prototypes with UPT toward the detected
objects first, and evaluates the tubes with video-mAP.

Shapes: padded arrays plus masks (:class:`LocalizationInputs`; build them
from a data folder with :func:`upt_jax.localization.data.to_inputs`). Videos
are processed ``config.video_batch`` at a time (:func:`batched_map`); inside a batch
scoring and linking are vmapped over videos and actions. The largest
temporaries are ``[batch, T, P, Q]`` (object terms) and ``[batch, A, T, P]``
(scores and back-pointers): never ``[A, V, T, P, Q]``.

:class:`LocalizationConfig` is static (hashable, one compilation per value);
:class:`LocalizationHyper` holds traced hyper-parameters (``lam``,
``iou_weight``, ``max_dist``, ``epsilon``) that can be ``vmap``-ed::

    run = jax.jit(make_localize(cfg))
    result = run(inputs, LocalizationHyper(lam=0.5))
    curve = jax.jit(jax.vmap(make_localize(cfg), in_axes=(None, 0)))(inputs, LocalizationHyper(lam=lams))

:func:`localize_grid` evaluates a whole grid (lam x top-n objects x IoU
weight x max gap, :class:`LocalizationGrid`) in one call, video by video:
the transport is solved once, the object terms of a video once per max gap,
and only the metrics are kept per grid point (the sweep runner's
localization task uses it). Its numbers are those of :func:`localize` at
each grid point.

Nothing here calls ``jax.jit``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from upt_jax import api as _api
from upt_jax import objects as _objects
from upt_jax import sphere
from upt_jax.errors import UPTError, check_choices
from upt_jax.localization import evaluate as _eval
from upt_jax.localization import linking as _link
from upt_jax.localization import scoring as _score
from upt_jax.localization import upt as _upt

__all__ = [
    "OBJECT_TRANSPORTS",
    "LocalizationConfig",
    "LocalizationHyper",
    "LocalizationInputs",
    "LocalizationResult",
    "video_scores",
    "link_video",
    "video_tubes",
    "localize",
    "make_localize",
    "LocalizationGrid",
    "GridResult",
    "localize_grid",
    "make_localize_grid",
    "check_inputs",
    "batched_map",
]

OBJECT_TRANSPORTS = ("paper", "none")


@dataclasses.dataclass(frozen=True)
class LocalizationConfig:
    """Static configuration (hashable; one compilation per value).

    Attributes:
      top_objects: n objects kept per action (0 = actor-only box scores).
      tubes: K tubes per (video, action).
      object_transport: ``"paper"`` (UPT to the object prototypes, step 5) or
        ``"none"`` (the original prototypes choose the objects).
      thresholds: ST-IoU thresholds of the video-mAP.
      video_batch: videos scored together (:func:`batched_map` over the
        ``[batch, T, P, Q]`` object terms); bounds memory, not results.
      link_batch: videos linked together (:func:`batched_map`); 0 = all videos
        in one scan over frames (fastest on CPU: ``[V, A, T, P]`` scores and
        back-pointers, about 200 MB each for UCF-101-24).
      cost, solver, sinkhorn_threshold, sinkhorn_max_iter, frechet,
        frechet_tol, frechet_max_iter: the transport's settings, as in
        :class:`upt_jax.UPTConfig`.
    """

    top_objects: int = 1
    tubes: int = 5
    object_transport: str = "paper"
    thresholds: tuple = _eval.THRESHOLDS
    video_batch: int = 32
    link_batch: int = 0
    cost: str = "cosine"
    solver: str = "sinkhorn"
    sinkhorn_threshold: float = 1e-3
    sinkhorn_max_iter: int = 2000
    frechet: str = "converged"
    frechet_tol: float = 1e-6
    frechet_max_iter: int = 100

    def __post_init__(self):
        check_choices(
            self,
            {
                "object_transport": OBJECT_TRANSPORTS,
                "cost": ("cosine", "geodesic"),
                "solver": ("sinkhorn", "emd"),
                "frechet": ("converged", "example"),
            },
        )
        if int(self.top_objects) < 0:
            raise UPTError(f"LocalizationConfig.top_objects must be >= 0 (0 = actor only), got {self.top_objects}")
        if int(self.link_batch) < 0:
            raise UPTError(f"LocalizationConfig.link_batch must be >= 0 (0 = all videos at once), got {self.link_batch}")
        for name in ("tubes", "video_batch", "sinkhorn_max_iter", "frechet_max_iter"):
            if int(getattr(self, name)) < 1:
                raise UPTError(f"LocalizationConfig.{name} must be >= 1, got {getattr(self, name)}")
        object.__setattr__(self, "thresholds", tuple(float(t) for t in self.thresholds))
        if not self.thresholds or any(not 0.0 <= t <= 1.0 for t in self.thresholds):
            raise UPTError(f"LocalizationConfig.thresholds must be ST-IoU values in [0, 1], got {self.thresholds}")

    def replace(self, **changes) -> "LocalizationConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def upt_config(self) -> _api.UPTConfig:
        """The :class:`upt_jax.UPTConfig` of the transport (no clustering)."""
        return _api.UPTConfig(
            n_clusters=0,
            cost=self.cost,
            solver=self.solver,
            sinkhorn_threshold=self.sinkhorn_threshold,
            sinkhorn_max_iter=self.sinkhorn_max_iter,
            frechet=self.frechet,
            frechet_tol=self.frechet_tol,
            frechet_max_iter=self.frechet_max_iter,
        )


class LocalizationHyper(NamedTuple):
    """Traced hyper-parameters (scalars or arrays to ``vmap`` over).

    Attributes:
      lam: fraction of the geodesic travelled by UPT (0 = baseline).
      iou_weight: weight of the IoU term when linking.
      max_dist: largest actor-object gap distance in pixels.
      epsilon: Sinkhorn regularisation (max-normalised cost).
      threshold: Sinkhorn marginal tolerance (``None``: the config's).
    """

    lam: Any = 0.5
    iou_weight: Any = 1.0
    max_dist: Any = 25.0
    epsilon: Any = 1e-2
    threshold: Any = None

    def upt_hyper(self) -> _api.UPTHyper:
        return _api.UPTHyper(lam=self.lam, epsilon=self.epsilon, threshold=self.threshold)


class LocalizationInputs(NamedTuple):
    """Padded test set (all arrays; NumPy or JAX).

    Attributes:
      prototypes: ``[A, d]`` action prototypes.
      object_prototypes: ``[O, d]``; priors: ``[O, 9]`` spatial priors.
      person_boxes: ``[V, T, P, 4]``; person_scores: ``[V, T, P]``;
        person_mask: ``[V, T, P]`` bool.
      object_boxes: ``[V, T, Q, 4]``; object_labels: ``[V, T, Q]`` int32;
        object_scores: ``[V, T, Q]``; object_mask: ``[V, T, Q]`` bool.
      frame_mask: ``[V, T]`` bool, frames ``< n_frames`` of real videos.
      labels: ``[V]`` int32; video_mask: ``[V]`` bool.
      gt_boxes: ``[V, G, T, 4]``; gt_mask: ``[V, G, T]`` bool (annotated
        frames); gt_tube_mask: ``[V, G]`` bool (real tubes).
    """

    prototypes: Any
    object_prototypes: Any
    priors: Any
    person_boxes: Any
    person_scores: Any
    person_mask: Any
    object_boxes: Any
    object_labels: Any
    object_scores: Any
    object_mask: Any
    frame_mask: Any
    labels: Any
    video_mask: Any
    gt_boxes: Any
    gt_mask: Any
    gt_tube_mask: Any


class LocalizationResult(NamedTuple):
    """Output of :func:`localize`.

    Attributes:
      prototypes: ``[A, d]`` prototypes that chose the objects.
      object_indices: ``[A, n]`` int32 kept objects, best first.
      object_weights: ``[A, n]`` their weights ``cos(a', o)``.
      object_mass: ``[O]`` detection-based object masses (step 5).
      tubes: ``[V, A, K, T]`` int32 person box index per frame (-1: none).
      tube_scores: ``[V, A, K]`` (``-inf``: video without person boxes).
      video_scores: ``[V, A]`` best tube score per action.
      metrics: :class:`upt_jax.localization.evaluate.LocalizationMetrics`.
      diagnostics: :class:`upt_jax.api.Diagnostics` of the transport, or
        ``None`` (``object_transport="none"`` or ``top_objects=0``).
    """

    prototypes: Any
    object_indices: Any
    object_weights: Any
    object_mass: Any
    tubes: Any
    tube_scores: Any
    video_scores: Any
    metrics: Any
    diagnostics: Any


def video_scores(video, weights, priors, config: LocalizationConfig, max_dist):
    """Step 2 for one video: ``[A, T, P]`` box scores.

    Args:
      video: tuple ``(person_boxes [T, P, 4], person_scores [T, P],
        person_mask [T, P], object_boxes [T, Q, 4], object_labels [T, Q],
        object_scores [T, Q], object_mask [T, Q])``.
      weights: ``[O, A]`` object weights; priors: ``[O, 9]``.
      config: static; max_dist: traced.
    """
    pb, ps, pm, ob, ol, os_, om = video
    if config.top_objects > 0:
        terms = _score.pair_terms(pb, pm, ob, ol, os_, om, priors, max_dist)
        s = _score.box_scores(ps, terms, weights)  # [T, P, A]
    else:
        s = jnp.broadcast_to(ps[..., None], ps.shape + (weights.shape[1],))
    return jnp.moveaxis(s, -1, 0)


def link_video(scores, person_boxes, person_mask, config: LocalizationConfig, iou_weight):
    """Step 3 for one video: K tubes per action from ``[A, T, P]`` scores.

    Returns:
      ``(tubes [A, K, T] int32, tube_scores [A, K])``.
    """
    links = _link.frame_links(person_boxes, person_mask)
    tubes = jax.vmap(lambda sa: _link.k_tubes(sa, links, iou_weight, config.tubes))(scores)
    return tubes.boxes, tubes.scores


def video_tubes(video, weights, priors, config: LocalizationConfig, iou_weight, max_dist):
    """Steps 2-3 for one video (:func:`video_scores` then :func:`link_video`).

    Returns:
      ``(tubes [A, K, T] int32, tube_scores [A, K])``.
    """
    s = video_scores(video, weights, priors, config, max_dist)
    return link_video(s, video[0], video[2], config, iou_weight)


def batched_map(f, xs, batch_size: int):
    """``lax.map(f, xs, batch_size=b)`` without a second copy of ``f`` for the remainder.

    ``jax.lax.map`` traces and compiles ``f`` twice when the leading axis is
    not a multiple of the batch (a scan over full batches plus a vmap over the
    rest). Here the last batch is shifted back to end at the last element
    (its first elements are computed twice and written twice with the same
    values), so ``f`` is compiled once whatever the number of videos.

    Args:
      f: function of one element (a pytree of arrays without the leading axis).
      xs: pytree of arrays with a common leading axis ``[n, ...]``.
      batch_size: elements per vmapped step (static; ``>= n``: one vmap).

    Returns:
      pytree of ``[n, ...]`` arrays, ``f`` of every element.
    """
    n = jax.tree_util.tree_leaves(xs)[0].shape[0]
    b = max(1, min(int(batch_size), n))
    if b >= n:
        return jax.vmap(f)(xs)
    if n % b == 0:
        return jax.lax.map(f, xs, batch_size=b)
    first = jax.tree_util.tree_map(lambda a: a[:b], xs)
    shapes = jax.eval_shape(jax.vmap(f), first)
    out0 = jax.tree_util.tree_map(lambda sd: jnp.zeros((n,) + sd.shape[1:], sd.dtype), shapes)

    def body(i, out):
        start = jnp.minimum(i * b, n - b)
        x = jax.tree_util.tree_map(lambda a: jax.lax.dynamic_slice_in_dim(a, start, b, axis=0), xs)
        y = jax.vmap(f)(x)
        return jax.tree_util.tree_map(lambda o, v: jax.lax.dynamic_update_slice_in_dim(o, v, start, axis=0), out, y)

    return jax.lax.fori_loop(0, -(-n // b), body, out0)


def _label_overlaps(tubes_own, person_boxes, gt_boxes, gt_mask):
    """ST-IoU ``[K, G]`` of one video's own-class tubes with its ground truth."""
    idx = jnp.maximum(tubes_own, 0)  # [K, T]
    boxes = jnp.take_along_axis(person_boxes[None], idx[:, :, None, None], axis=2)[:, :, 0]  # [K, T, 4]
    return _eval.st_iou(boxes[:, None], (tubes_own >= 0)[:, None], gt_boxes[None], gt_mask[None])


def localize(inputs: LocalizationInputs, config: LocalizationConfig = LocalizationConfig(),
             hyper: LocalizationHyper = LocalizationHyper()) -> LocalizationResult:
    """Steps 1-6 on a padded test set. Pure; jit with ``static_argnames="config"``.

    Args:
      inputs: :class:`LocalizationInputs`.
      config: static :class:`LocalizationConfig`.
      hyper: traced :class:`LocalizationHyper`.

    Returns:
      :class:`LocalizationResult`.

    Raises:
      UPTError: inconsistent shapes (always) or bad values (when concrete).
    """
    check_inputs(inputs, config, hyper)
    x = LocalizationInputs(*[jnp.asarray(a) for a in inputs])
    dtype = jnp.float32 if x.person_boxes.dtype != jnp.float64 else jnp.float64
    p = sphere.normalize(x.prototypes.astype(dtype))
    obj = x.object_prototypes.astype(dtype)
    n_obj = obj.shape[0]
    mass = _upt.object_masses(x.object_labels, x.object_scores.astype(dtype), x.object_mask, x.frame_mask, n_obj)
    diag = None
    if config.object_transport == "paper" and config.top_objects > 0:
        p, diag = _upt.transport_actions(p, obj, mass, config.upt_config(), hyper.upt_hyper())
    idx, w, dense = _score.object_weights(p, obj, config.top_objects)
    iou_w = jnp.asarray(hyper.iou_weight, dtype)
    max_d = jnp.asarray(hyper.max_dist, dtype)
    priors = x.priors.astype(dtype)
    video = (x.person_boxes.astype(dtype), x.person_scores.astype(dtype), x.person_mask.astype(bool),
             x.object_boxes.astype(dtype), x.object_labels.astype(jnp.int32), x.object_scores.astype(dtype),
             x.object_mask.astype(bool))

    scores = batched_map(lambda v: video_scores(v, dense, priors, config, max_d), video, config.video_batch)  # [V, A, T, P]

    def link(xs):
        return link_video(*xs, config, iou_w)

    link_xs = (scores, video[0], video[2])
    if config.link_batch > 0:
        tubes, tscores = batched_map(link, link_xs, config.link_batch)
    else:  # one scan over frames for all videos and actions: fewest sequential steps
        tubes, tscores = jax.vmap(link)(link_xs)
    vm = x.video_mask.astype(bool)
    tscores = jnp.where(vm[:, None, None], tscores, -jnp.inf)
    vscores = jnp.max(tscores, axis=-1)
    labels = x.labels.astype(jnp.int32)
    own = jnp.take_along_axis(tubes, labels[:, None, None, None], axis=1)[:, 0]  # [V, K, T]
    overlaps = jax.vmap(_label_overlaps)(own, video[0], x.gt_boxes.astype(dtype), x.gt_mask.astype(bool))
    gtm = x.gt_tube_mask.astype(bool)
    m, ap, n_gt = _eval.video_map(tscores, overlaps, gtm, labels, vm, config.thresholds)
    pred, top1 = _eval.classification_top1(vscores, labels, vm)
    best = jnp.max(jnp.where(gtm[:, None, :], overlaps, 0.0), axis=(1, 2))
    metrics = _eval.LocalizationMetrics(m, ap, n_gt, top1, pred, best)
    return LocalizationResult(p, idx, w, mass, tubes, tscores, vscores, metrics, diag)


def make_localize(config: LocalizationConfig):
    """Close over a static config: ``run(inputs, hyper) -> LocalizationResult``.

    ``jax.jit(make_localize(cfg))`` compiles once per input shape;
    ``jax.vmap(run, in_axes=(None, 0))`` sweeps traced hyper-parameters.
    """

    def run(inputs, hyper=LocalizationHyper()):
        return localize(inputs, config, hyper)

    return run


class LocalizationGrid(NamedTuple):
    """Traced grids of :func:`localize_grid` (1-D arrays); results cover their product.

    Attributes:
      lam: ``[L]`` fractions of the geodesic travelled (0 = baseline).
      top_objects: ``[N]`` int, objects kept per action, each in
        ``[0, config.top_objects]``: the config's value is the largest (it
        sets the static shapes); an action's top-n objects are the first n of
        its top ``config.top_objects``, so n is traced here.
      iou_weight: ``[W]`` weights of the IoU term when linking.
      max_dist: ``[M]`` largest actor-object gaps in pixels.
      epsilon: ``[]`` Sinkhorn regularisation (one per call: a transport
        serves the whole grid).
      threshold: ``[]`` Sinkhorn marginal tolerance (``None``: the config's).
    """

    lam: Any
    top_objects: Any
    iou_weight: Any
    max_dist: Any
    epsilon: Any = 1e-2
    threshold: Any = None


class GridResult(NamedTuple):
    """Output of :func:`localize_grid` (grid axes ``L, N, W, M`` in that order).

    Attributes:
      map: ``[L, N, W, M, D]`` video-mAP (percent) per threshold.
      ap: ``[L, N, W, M, D, A]`` AP (percent; NaN without ground truth).
      top1: ``[L, N, W, M]`` classification accuracy from the tubes (percent).
      n_gt: ``[A]`` int32 ground-truth tubes per class.
      prototypes: ``[L, A, d]`` prototypes that chose the objects, per lam.
      object_indices: ``[L, A, n_max]`` int32 each action's top
        ``config.top_objects`` objects, best first (grid point n keeps the
        first n).
      object_weights: ``[L, A, n_max]`` their weights ``cos(a', o)``.
      object_mass: ``[O]`` detection-based object masses.
      diagnostics: :class:`upt_jax.api.Diagnostics` of the one transport,
        every leaf with a leading ``[L]`` axis (only ``moved_angle`` differs
        between lam values), or ``None`` (``object_transport="none"`` or
        ``config.top_objects == 0``).
    """

    map: Any
    ap: Any
    top1: Any
    n_gt: Any
    prototypes: Any
    object_indices: Any
    object_weights: Any
    object_mass: Any
    diagnostics: Any


def _check_grid(grid: LocalizationGrid, config: LocalizationConfig) -> None:
    for name in ("lam", "top_objects", "iou_weight", "max_dist"):
        v = getattr(grid, name)
        if np.ndim(v) != 1 or np.shape(v)[0] < 1:
            raise UPTError(f"LocalizationGrid.{name} must be a non-empty 1-D array, got shape {list(np.shape(v))}")
        if not _concrete(v):
            continue
        a = np.asarray(v)
        if name == "lam" and (not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 1):
            raise UPTError(f"LocalizationGrid.lam must lie in [0, 1] (fraction of the geodesic travelled), got {a.tolist()}")
        if name == "top_objects" and (a.min() < 0 or a.max() > config.top_objects or np.any(a != np.round(a))):
            raise UPTError(
                f"LocalizationGrid.top_objects must be integers in [0, config.top_objects = {config.top_objects}] "
                f"(set config.top_objects to the largest value of the grid), got {a.tolist()}"
            )
        if name in ("iou_weight", "max_dist") and (not np.all(np.isfinite(a)) or a.min() < 0):
            raise UPTError(f"LocalizationGrid.{name} must be finite and >= 0, got {a.tolist()}")


def localize_grid(inputs: LocalizationInputs, config: LocalizationConfig, grid: LocalizationGrid) -> GridResult:
    """Steps 1-6 at every point of a grid of traced hyper-parameters. Pure;
    jit with ``static_argnames="config"`` (or :func:`make_localize_grid`).

    Grid point ``(lam, n, w, d)`` gives the metrics of ``localize(inputs,
    config.replace(top_objects=n), LocalizationHyper(lam, w, d, epsilon,
    threshold))``, computed without repeating what does not change: the
    object masses and the transport once per call (the Frechet targets serve
    every lam), the object terms of a video once per ``d``, the box scores
    once per ``(lam, n, d)``, the frame links of a video once. Videos are
    processed ``config.video_batch`` at a time (:func:`batched_map`) and
    only tube scores and the label class's ST-IoU overlaps leave a video, so
    memory grows with the batch times the grid size, not with the number of
    videos; tubes themselves are not returned (use :func:`localize` for
    them).

    Args:
      inputs: :class:`LocalizationInputs`.
      config: static :class:`LocalizationConfig`; ``top_objects`` is the
        largest n of the grid.
      grid: :class:`LocalizationGrid`.

    Returns:
      :class:`GridResult`.

    Raises:
      UPTError: inconsistent shapes or bad grid values (when concrete).
    """
    check_inputs(inputs, config, None)
    _check_grid(grid, config)
    x = LocalizationInputs(*[jnp.asarray(a) for a in inputs])
    dtype = jnp.float32 if x.person_boxes.dtype != jnp.float64 else jnp.float64
    p = sphere.normalize(x.prototypes.astype(dtype))
    obj = x.object_prototypes.astype(dtype)
    num_a, num_o = p.shape[0], obj.shape[0]
    mass = _upt.object_masses(x.object_labels, x.object_scores.astype(dtype), x.object_mask, x.frame_mask, num_o)
    lams = jnp.asarray(grid.lam, dtype)
    n_lam = lams.shape[0]
    diag = None
    if config.object_transport == "paper" and config.top_objects > 0:
        base = LocalizationHyper(lam=0.0, epsilon=grid.epsilon, threshold=grid.threshold)
        # vmapped over lam only: the coupling and the Frechet means do not depend on it (solved once)
        p_lam, diag = jax.vmap(
            lambda lam: _upt.transport_actions(p, obj, mass, config.upt_config(), base._replace(lam=lam).upt_hyper())
        )(lams)
    else:
        p_lam = jnp.broadcast_to(p, (n_lam,) + p.shape)
    idx, w, _ = jax.vmap(lambda q: _score.object_weights(q, obj, config.top_objects))(p_lam)  # [L, A, n_max]
    ns = jnp.asarray(grid.top_objects, jnp.int32)
    n_top = ns.shape[0]
    cols = jnp.arange(config.top_objects)

    def dense_for(i_l, w_l, n):  # the [O, A] weights of top-n (a prefix of the top n_max)
        return _objects.weight_matrix(i_l, jnp.where(cols[None, :] < n, w_l, 0.0), num_o)

    dense = jax.vmap(lambda i_l, w_l: jax.vmap(lambda n: dense_for(i_l, w_l, n))(ns))(idx, w)  # [L, N, O, A]
    dense = dense.reshape((n_lam * n_top,) + dense.shape[2:])
    iou_ws = jnp.asarray(grid.iou_weight, dtype)
    dists = jnp.asarray(grid.max_dist, dtype)
    priors = x.priors.astype(dtype)
    video = (x.person_boxes.astype(dtype), x.person_scores.astype(dtype), x.person_mask.astype(bool),
             x.object_boxes.astype(dtype), x.object_labels.astype(jnp.int32), x.object_scores.astype(dtype),
             x.object_mask.astype(bool))
    labels = x.labels.astype(jnp.int32)

    def per_video(xs):
        v, gtb, gtm, label = xs

        def at_dist(d):
            def at_weights(dn):
                s = video_scores(v, dn, priors, config, d)  # the object terms do not depend on dn: once per d

                def at_iou(wi):
                    tubes, tsc = link_video(s, v[0], v[2], config, wi)
                    return tsc, _label_overlaps(tubes[label], v[0], gtb, gtm)

                return jax.vmap(at_iou)(iou_ws)

            return jax.vmap(at_weights)(dense)

        return jax.vmap(at_dist)(dists)  # [M, B, W, A, K], [M, B, W, K, G]

    tsc, ov = batched_map(per_video, (video, x.gt_boxes.astype(dtype), x.gt_mask.astype(bool), labels), config.video_batch)
    vm = x.video_mask.astype(bool)
    tsc = jnp.where(vm[:, None, None, None, None, None], tsc, -jnp.inf)  # [V, M, B, W, A, K]
    gtm = x.gt_tube_mask.astype(bool)

    def evaluate(ts, ovl):  # one grid point: [V, A, K], [V, K, G]
        m, ap, _ = _eval.video_map(ts, ovl, gtm, labels, vm, config.thresholds)
        _, top1 = _eval.classification_top1(jnp.max(ts, axis=-1), labels, vm)
        return m, ap, top1

    ev = jax.vmap(jax.vmap(jax.vmap(evaluate, in_axes=(1, 1)), in_axes=(1, 1)), in_axes=(1, 1))  # over M, B, W
    m, ap, top1 = ev(tsc, ov)  # [M, B, W, ...]
    n_w, n_d = iou_ws.shape[0], dists.shape[0]

    def grid_order(a):  # [M, L*N, W, ...] -> [L, N, W, M, ...]
        a = a.reshape((n_d, n_lam, n_top, n_w) + a.shape[3:])
        return jnp.moveaxis(a, 0, 3)

    n_gt = jnp.zeros((num_a,), jnp.int32).at[labels].add(jnp.sum(gtm & vm[:, None], axis=-1).astype(jnp.int32))
    return GridResult(grid_order(m), grid_order(ap), grid_order(top1), n_gt, p_lam, idx, w, mass, diag)


def make_localize_grid(config: LocalizationConfig):
    """Close over a static config: ``run(inputs, grid) -> GridResult``
    (``jax.jit`` it: one compilation per input shape and grid size)."""

    def run(inputs, grid):
        return localize_grid(inputs, config, grid)

    return run


def _concrete(a) -> bool:
    return a is not None and not isinstance(a, jax.core.Tracer)


def check_inputs(inputs: LocalizationInputs, config: LocalizationConfig | None = None,
                 hyper: LocalizationHyper | None = None) -> None:
    """Shape checks (always) and value checks (when concrete); raise UPTError."""
    s = {k: tuple(np.shape(v)) for k, v in inputs._asdict().items()}
    if len(s["prototypes"]) != 2 or len(s["object_prototypes"]) != 2 or s["prototypes"][1] != s["object_prototypes"][1]:
        raise UPTError(
            f"prototypes {list(s['prototypes'])} and object_prototypes {list(s['object_prototypes'])} must be [A, d] "
            "and [O, d] in the same embedding space (same d)"
        )
    num_a, num_o = s["prototypes"][0], s["object_prototypes"][0]
    if num_a < 2:
        raise UPTError(f"prototypes {list(s['prototypes'])}: need at least 2 actions")
    if s["priors"] != (num_o, 9):
        raise UPTError(f"priors must be [O, 9] = [{num_o}, 9] (one 3x3 tile distribution per object), got {list(s['priors'])}")
    if len(s["person_boxes"]) != 4 or s["person_boxes"][-1] != 4:
        raise UPTError(f"person_boxes must be [V, T, P, 4], got {list(s['person_boxes'])}")
    num_v, num_t, num_p, _ = s["person_boxes"]
    want = {
        "person_scores": (num_v, num_t, num_p), "person_mask": (num_v, num_t, num_p),
        "frame_mask": (num_v, num_t), "labels": (num_v,), "video_mask": (num_v,),
    }
    if len(s["object_boxes"]) != 4 or s["object_boxes"][:2] != (num_v, num_t) or s["object_boxes"][-1] != 4:
        raise UPTError(f"object_boxes must be [V, T, Q, 4] = [{num_v}, {num_t}, Q, 4], got {list(s['object_boxes'])}")
    num_q = s["object_boxes"][2]
    want.update({k: (num_v, num_t, num_q) for k in ("object_labels", "object_scores", "object_mask")})
    if len(s["gt_boxes"]) != 4 or s["gt_boxes"][0] != num_v or s["gt_boxes"][2:] != (num_t, 4):
        raise UPTError(f"gt_boxes must be [V, G, T, 4] = [{num_v}, G, {num_t}, 4], got {list(s['gt_boxes'])}")
    num_g = s["gt_boxes"][1]
    want.update({"gt_mask": (num_v, num_g, num_t), "gt_tube_mask": (num_v, num_g)})
    for k, shp in want.items():
        if s[k] != shp:
            raise UPTError(f"{k} must have shape {list(shp)} to match person_boxes/object_boxes/gt_boxes, got {list(s[k])}")
    if config is not None and config.top_objects > num_o:
        raise UPTError(f"top_objects={config.top_objects} exceeds the {num_o} object classes (object_prototypes {list(s['object_prototypes'])})")
    if _concrete(inputs.labels):
        lab = np.asarray(inputs.labels)
        vm = np.asarray(inputs.video_mask).astype(bool) if _concrete(inputs.video_mask) else np.ones(lab.shape, bool)
        if lab[vm].size and (lab[vm].min() < 0 or lab[vm].max() >= num_a):
            raise UPTError(f"labels [{num_v}] must lie in [0, {num_a}) (one per action prototype), got [{lab[vm].min()}, {lab[vm].max()}]")
    if _concrete(inputs.object_labels):
        ol = np.asarray(inputs.object_labels)[np.asarray(inputs.object_mask).astype(bool)]
        if ol.size and (ol.min() < 0 or ol.max() >= num_o):
            raise UPTError(f"object_labels must lie in [0, {num_o}) (one per object prototype), got [{ol.min()}, {ol.max()}]")
    if hyper is not None:
        lam = hyper.lam
        if _concrete(lam):
            a = np.asarray(lam)
            if not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a > 1):
                raise UPTError(f"hyper.lam must lie in [0, 1] (fraction of the geodesic travelled; 0 = baseline), got {a.tolist()}")
        for name in ("max_dist", "iou_weight"):
            v = getattr(hyper, name)
            if _concrete(v):
                a = np.asarray(v)
                if not np.all(np.isfinite(a)) or np.any(a < 0):
                    raise UPTError(f"hyper.{name} must be finite and >= 0, got {a.tolist()}")
