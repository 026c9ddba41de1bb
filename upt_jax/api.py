"""Universal Prototype Transport: the pure entry point.

``upt(prototypes, videos, config, key, hyper)`` moves the class prototypes
toward the test distribution and returns the new prototypes with diagnostics:

1. cluster the normalised test projections into C centres
   (:func:`cluster_videos`);
2. transport the prototypes (uniform mass over unmasked classes) to the
   centres (uniform or cluster-size mass), cost ``1 - cos`` over its maximum;
3. target of class k: the weighted Frechet mean of the centres with weights
   the k-th coupling row (a row without mass keeps its prototype and is
   reported in ``Diagnostics.empty_rows``);
4. new prototype: ``slerp(prototype, target, lam)``, lam = fraction of the arc
   travelled (0 = baseline, 1 = target). The example code's ``-l L`` is
   ``lam = 1 - L`` (its slerp returns the first argument at t = 1).

:class:`UPTConfig` is static (hashable; one compilation per value);
:class:`UPTHyper` holds traced hyper-parameters (``lam``, ``epsilon``) that
can be ``vmap``-ed. Nothing here calls ``jax.jit``: callers decide, e.g.
``jax.jit(make_upt(cfg))`` or ``jax.jit(upt, static_argnames="config")``.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from upt_jax import cluster as _cluster
from upt_jax import sphere
from upt_jax import transport as _transport
from upt_jax.errors import UPTError, check_choices

__all__ = [
    "UPTConfig",
    "UPTHyper",
    "Diagnostics",
    "cluster_videos",
    "transport_update",
    "upt",
    "make_upt",
    "check_inputs",
]


@dataclasses.dataclass(frozen=True)
class UPTConfig:
    """Static configuration of UPT (hashable; one compile per value).

    Attributes:
      n_clusters: C. ``0`` or ``>= N`` (the number of videos) means no
        clustering: every video is a target point. Example code: 1000.
      kmeans: ``"euclidean"`` (example code) or ``"spherical"``.
      kmeans_restarts: k-means restarts (scikit-learn's n_init), in parallel.
      kmeans_max_iter, kmeans_tol: Lloyd loop cap and tolerance.
      kmeans_screen_iters: ``0`` (default, scikit-learn's ``n_init`` rule:
        every restart runs to convergence); ``> 0``: every restart runs this
        many Lloyd steps and only the best continues (about 1.8x faster at
        C = 1000 for +0.3% inertia; see :func:`upt_jax.cluster.kmeans`).
      top_t: ``> 0`` keeps only centres among the ``top_t`` nearest of some
        prototype (others get zero mass); ``0`` keeps all.
      target_mass: ``"uniform"`` (1/C) or ``"cluster_size"``.
      cost: ``"cosine"`` (``1 - cos``, example code) or ``"geodesic"``
        (angle), divided by the maximum.
      solver: ``"sinkhorn"`` (OTT-JAX) or ``"emd"`` (POT exact, host callback;
        the example code's default).
      sinkhorn_threshold: default marginal tolerance when ``UPTHyper`` has none.
      sinkhorn_max_iter: Sinkhorn iteration cap.
      frechet: ``"converged"`` (default) or ``"example"`` (the example code's
        geomstats stopping rule; see :func:`upt_jax.sphere.frechet_mean`).
      frechet_tol, frechet_max_iter: tolerance and cap of the Karcher mean
        (``"example"`` ignores the tolerance; use ``frechet_max_iter=32``).
    """

    n_clusters: int = 1000
    kmeans: str = "euclidean"
    kmeans_restarts: int = 10
    kmeans_max_iter: int = 100
    kmeans_tol: float = 1e-4
    kmeans_screen_iters: int = 0
    top_t: int = 0
    target_mass: str = "uniform"
    cost: str = "cosine"
    solver: str = "sinkhorn"
    sinkhorn_threshold: float = 1e-3
    sinkhorn_max_iter: int = 2000
    frechet: str = "converged"
    frechet_tol: float = 1e-6
    frechet_max_iter: int = 100

    def __post_init__(self):
        choices = {
            "kmeans": ("euclidean", "spherical"),
            "target_mass": ("uniform", "cluster_size"),
            "cost": ("cosine", "geodesic"),
            "solver": ("sinkhorn", "emd"),
            "frechet": ("converged", "example"),
        }
        check_choices(self, choices)
        for name in ("n_clusters", "top_t", "kmeans_screen_iters"):
            if int(getattr(self, name)) < 0:
                raise UPTError(f"UPTConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("kmeans_restarts", "kmeans_max_iter", "sinkhorn_max_iter", "frechet_max_iter"):
            if int(getattr(self, name)) < 1:
                raise UPTError(f"UPTConfig.{name} must be >= 1, got {getattr(self, name)}")

    def replace(self, **changes) -> "UPTConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def example_code(cls, **changes) -> "UPTConfig":
        """The example code's choices: C = 1000, EMD, its Frechet stopping rule."""
        base = cls(n_clusters=1000, solver="emd", frechet="example", frechet_max_iter=32)
        return base.replace(**changes)


class UPTHyper(NamedTuple):
    """Traced hyper-parameters (scalars or arrays you can ``vmap`` over).

    Attributes:
      lam: fraction of the geodesic travelled, in [0, 1] (0 = baseline).
      epsilon: Sinkhorn entropic regularisation on the max-normalised cost
        (the example code's Sinkhorn option uses 1e-2). Ignored by EMD.
      threshold: Sinkhorn marginal tolerance; ``None`` uses the config's.
    """

    lam: jax.Array | float = 0.5
    epsilon: jax.Array | float = 1e-2
    threshold: jax.Array | float | None = None


class Diagnostics(NamedTuple):
    """What UPT did.

    Attributes:
      targets: ``[K, d]`` target prototypes (Frechet means; the prototype
        itself for empty or masked rows).
      coupling: ``[K, C]`` transport plan.
      transport_cost: ``[]`` ``<coupling, cost>``.
      converged: ``[]`` bool, transport converged.
      n_iters: ``[]`` int32 Sinkhorn iterations (0 for EMD).
      marginal_error: ``[]`` max marginal violation of the plan.
      frechet_iters: ``[K]`` int32 Karcher iterations per class.
      frechet_grad_norm: ``[K]`` final norm of the mean log-map per class.
      frechet_converged: ``[K]`` bool.
      empty_rows: ``[K]`` bool, unmasked classes that received no mass.
      moved_angle: ``[K]`` angle (radians) between old and new prototypes.
      target_angle: ``[K]`` angle (radians) between prototype and target.
      centres: :class:`upt_jax.cluster.Centres` used as the target set.
      kmeans_inertia: ``[]``; kmeans_iters: ``[]`` int32 (0 without clustering).
    """

    targets: jax.Array
    coupling: jax.Array
    transport_cost: jax.Array
    converged: jax.Array
    n_iters: jax.Array
    marginal_error: jax.Array
    frechet_iters: jax.Array
    frechet_grad_norm: jax.Array
    frechet_converged: jax.Array
    empty_rows: jax.Array
    moved_angle: jax.Array
    target_angle: jax.Array
    centres: _cluster.Centres
    kmeans_inertia: jax.Array
    kmeans_iters: jax.Array


def _is_concrete(x) -> bool:
    return x is not None and not isinstance(x, jax.core.Tracer)


def _describe_bad_rows(name, arr) -> list[str]:
    problems = []
    a = np.asarray(arr)
    bad = ~np.all(np.isfinite(a), axis=-1)
    if bad.any():
        idx = np.flatnonzero(bad)
        problems.append(
            f"{name} {list(a.shape)} has {idx.size} row(s) with NaN or Inf (first: {idx[:5].tolist()}); "
            "remove or fix those rows"
        )
    zero = np.all(a == 0, axis=-1) & ~bad
    if zero.any():
        idx = np.flatnonzero(zero)
        problems.append(
            f"{name} {list(a.shape)} has {idx.size} all-zero row(s) (first: {idx[:5].tolist()}); "
            "a zero vector has no direction on the sphere: drop those rows"
        )
    return problems


def check_inputs(
    prototypes,
    videos,
    config: UPTConfig | None = None,
    hyper: UPTHyper | None = None,
    *,
    labels=None,
    class_mask=None,
    video_mask=None,
) -> None:
    """Validate UPT inputs; raise :class:`UPTError` naming argument and shape.

    Shape checks always run (also under ``jit``); value checks (NaN/Inf, zero
    rows, ``lam`` outside [0, 1], ``epsilon <= 0``, C larger than the number of
    videos) run when the values are concrete (not traced).
    """
    p_shape = tuple(np.shape(prototypes))
    v_shape = tuple(np.shape(videos))
    if len(p_shape) != 2:
        raise UPTError(f"prototypes must be a [K, d] matrix, got shape {list(p_shape)}")
    if len(v_shape) != 2:
        raise UPTError(f"videos must be an [N, d] matrix, got shape {list(v_shape)}")
    if p_shape[1] != v_shape[1]:
        raise UPTError(
            f"dimension mismatch: prototypes {list(p_shape)} vs videos {list(v_shape)}; "
            "both must live in the same semantic space (same d)"
        )
    if p_shape[0] < 2:
        raise UPTError(f"prototypes {list(p_shape)}: need at least 2 classes for zero-shot classification")
    if v_shape[0] < 1:
        raise UPTError(f"videos {list(v_shape)}: need at least one test video")
    if class_mask is not None and tuple(np.shape(class_mask)) != (p_shape[0],):
        raise UPTError(f"class_mask must have shape [{p_shape[0]}] (one per prototype), got {list(np.shape(class_mask))}")
    if video_mask is not None and tuple(np.shape(video_mask)) != (v_shape[0],):
        raise UPTError(f"video_mask must have shape [{v_shape[0]}] (one per video), got {list(np.shape(video_mask))}")
    if labels is not None and tuple(np.shape(labels)) != (v_shape[0],):
        raise UPTError(f"labels must have shape [{v_shape[0]}] (one per video), got {list(np.shape(labels))}")
    if config is not None and config.n_clusters > v_shape[0]:
        raise UPTError(
            f"config.n_clusters={config.n_clusters} is larger than the number of videos "
            f"(videos {list(v_shape)}); use n_clusters <= {v_shape[0]} (0 or N = no clustering)"
        )
    problems = []
    if _is_concrete(prototypes):
        problems += _describe_bad_rows("prototypes", prototypes)
    if _is_concrete(videos):
        problems += _describe_bad_rows("videos", videos)
    if problems:
        raise UPTError("; ".join(problems))
    if class_mask is not None and _is_concrete(class_mask) and int(np.sum(np.asarray(class_mask))) < 2:
        raise UPTError(f"class_mask {list(np.shape(class_mask))} selects fewer than 2 classes")
    if video_mask is not None and _is_concrete(video_mask):
        n_valid = int(np.sum(np.asarray(video_mask)))
        if n_valid < 1:
            raise UPTError(f"video_mask {list(np.shape(video_mask))} selects no video")
        if config is not None and 0 < config.n_clusters < v_shape[0] and config.n_clusters > n_valid:
            raise UPTError(
                f"config.n_clusters={config.n_clusters} is larger than the {n_valid} videos selected by "
                f"video_mask {list(np.shape(video_mask))}; lower n_clusters"
            )
    if labels is not None and _is_concrete(labels):
        lab = np.asarray(labels)
        if lab.size and (lab.min() < 0 or lab.max() >= p_shape[0]):
            raise UPTError(f"labels [{v_shape[0]}] must lie in [0, {p_shape[0] - 1}], got range [{lab.min()}, {lab.max()}]")
    if hyper is not None:
        lam = hyper.lam
        if _is_concrete(lam):
            lam_np = np.asarray(lam)
            if not np.all(np.isfinite(lam_np)) or np.any(lam_np < 0) or np.any(lam_np > 1):
                raise UPTError(
                    f"hyper.lam {list(lam_np.shape)} must lie in [0, 1] (fraction of the geodesic travelled; "
                    f"0 = baseline), got {lam_np.tolist()}; the example code's -l L is lam = 1 - L"
                )
        eps = hyper.epsilon
        if _is_concrete(eps):
            eps_np = np.asarray(eps)
            if not np.all(np.isfinite(eps_np)) or np.any(eps_np <= 0):
                raise UPTError(f"hyper.epsilon {list(eps_np.shape)} must be > 0, got {eps_np.tolist()}")


def _no_clustering(config: UPTConfig, n: int) -> bool:
    return config.n_clusters == 0 or config.n_clusters >= n


def cluster_videos(
    videos: jax.Array,
    config: UPTConfig,
    key: jax.Array,
    video_mask: jax.Array | None = None,
) -> _cluster.Centres:
    """UPT step 1: the target set of C centres with their masses.

    Args:
      videos: ``[N, d]`` projections (normalised inside).
      config: static :class:`UPTConfig`.
      key: PRNG key for k-means.
      video_mask: optional ``[N]`` bool, videos of the split.

    Returns:
      :class:`upt_jax.cluster.Centres` with ``C = config.n_clusters`` points
      (or N without clustering).
    """
    x = sphere.normalize(videos)
    n = x.shape[0]
    vm = None if video_mask is None else video_mask.astype(bool)
    if _no_clustering(config, n):
        res = _cluster.no_clustering(x, vm)
    else:
        res = _cluster.kmeans(
            x,
            config.n_clusters,
            key,
            weights=None if vm is None else vm.astype(x.dtype),
            n_init=config.kmeans_restarts,
            max_iter=config.kmeans_max_iter,
            tol=config.kmeans_tol,
            spherical=config.kmeans == "spherical",
            normalize_centres=True,
            screen_iters=config.kmeans_screen_iters,
        )
    sizes = res.sizes
    mask = sizes > 0
    if config.target_mass == "uniform":
        mass = mask.astype(x.dtype)
    else:
        mass = sizes
    mass = mass / jnp.maximum(jnp.sum(mass), 1e-30)
    return _cluster.Centres(res.centres, mass, sizes, mask, res.assignment, res.inertia, res.n_iters)


def _top_t_filter(protos, centres: _cluster.Centres, class_mask, t: int):
    """Keep centres among the top-t nearest of some unmasked prototype."""
    c = centres.points.shape[0]
    t = min(t, c)
    sim = sphere.pairwise_cos(protos, centres.points)
    sim = jnp.where(centres.mask[None, :], sim, -jnp.inf)
    _, idx = jax.lax.top_k(sim, t)  # [K, t]
    # masked classes point past the end and are dropped by the scatter
    idx = jnp.where(class_mask[:, None], idx, c)
    keep = jnp.zeros((c,), bool).at[idx].set(True, mode="drop") & centres.mask
    mass = jnp.where(keep, centres.mass, 0.0)
    return centres._replace(mass=mass / jnp.maximum(jnp.sum(mass), 1e-30), mask=keep)


def transport_update(
    prototypes: jax.Array,
    centres: _cluster.Centres,
    config: UPTConfig,
    hyper: UPTHyper = UPTHyper(),
    class_mask: jax.Array | None = None,
):
    """UPT steps 2-4 on a given target set (reusable across a traced grid).

    Args:
      prototypes: ``[K, d]`` class prototypes (normalised inside).
      centres: target set from :func:`cluster_videos`.
      config: static :class:`UPTConfig`.
      hyper: :class:`UPTHyper` (``lam``, ``epsilon``, ``threshold``; traced).
      class_mask: optional ``[K]`` bool, classes of the split.

    Returns:
      ``(new_prototypes [K, d], Diagnostics)`` (``Diagnostics.centres`` is the
      possibly top-t filtered target set).
    """
    p = sphere.normalize(prototypes)
    num_k = p.shape[0]
    dtype = p.dtype
    cm = jnp.ones((num_k,), bool) if class_mask is None else class_mask.astype(bool)
    if config.top_t > 0:
        centres = _top_t_filter(p, centres, cm, config.top_t)
    a = cm.astype(dtype) / jnp.maximum(jnp.sum(cm), 1)
    b = centres.mass.astype(dtype)
    cost = _transport.cost_matrix(p, centres.points, kind=config.cost, row_mask=cm, col_mask=b > 0)
    threshold = config.sinkhorn_threshold if hyper.threshold is None else hyper.threshold
    coupling = _transport.couple(
        cost,
        a,
        b,
        solver=config.solver,
        epsilon=jnp.asarray(hyper.epsilon, dtype),
        threshold=jnp.asarray(threshold, dtype),
        max_iterations=config.sinkhorn_max_iter,
    )
    plan = coupling.plan
    row_mass = jnp.sum(plan, axis=1)
    fm = sphere.frechet_mean(
        centres.points,
        plan,
        method=config.frechet,
        tol=config.frechet_tol,
        max_iter=config.frechet_max_iter,
    )
    empty = cm & ~(row_mass > 0)
    keep_own = empty | ~cm
    targets = jnp.where(keep_own[:, None], p, fm.mean)
    lam = jnp.asarray(hyper.lam, dtype)
    new = sphere.slerp(p, targets, lam)
    new = jnp.where(cm[:, None], new, p)
    diag = Diagnostics(
        targets=targets,
        coupling=plan,
        transport_cost=coupling.cost,
        converged=coupling.converged,
        n_iters=coupling.n_iters,
        marginal_error=coupling.marginal_error,
        frechet_iters=jnp.where(keep_own, 0, fm.n_iters),
        frechet_grad_norm=jnp.where(keep_own, 0.0, fm.grad_norm),
        frechet_converged=jnp.where(keep_own, True, fm.converged),
        empty_rows=empty,
        moved_angle=sphere.distance(p, new),
        target_angle=sphere.distance(p, targets),
        centres=centres,
        kmeans_inertia=centres.inertia,
        kmeans_iters=centres.kmeans_iters,
    )
    return new, diag


def upt(
    prototypes: jax.Array,
    videos: jax.Array,
    config: UPTConfig,
    key: jax.Array,
    hyper: UPTHyper = UPTHyper(),
    *,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
):
    """Universal Prototype Transport, end to end. Pure; jit it with
    ``static_argnames="config"`` (or use :func:`make_upt`).

    Args:
      prototypes: ``[K, d]`` class prototypes (class-name embeddings).
      videos: ``[N, d]`` projections of ALL test videos (transductive).
      config: static :class:`UPTConfig`.
      key: PRNG key (k-means seeding).
      hyper: traced :class:`UPTHyper` (``lam``, ``epsilon``, ``threshold``).
      class_mask: optional ``[K]`` bool; classes outside a split keep their
        prototype and get no mass.
      video_mask: optional ``[N]`` bool; videos outside a split are ignored.

    Returns:
      ``(new_prototypes [K, d], Diagnostics)``.

    Raises:
      UPTError: bad shapes (always) or bad values (when not traced).
    """
    check_inputs(prototypes, videos, config, hyper, class_mask=class_mask, video_mask=video_mask)
    prototypes = jnp.asarray(prototypes)
    videos = jnp.asarray(videos)
    centres = cluster_videos(videos, config, key, video_mask)
    return transport_update(prototypes, centres, config, hyper, class_mask)


def make_upt(config: UPTConfig):
    """Close over a static config: ``run(prototypes, videos, key, hyper,
    class_mask=None, video_mask=None) -> (new_prototypes, Diagnostics)``.

    ``jax.jit(make_upt(cfg))`` compiles once per input shape; vmap it over a
    leading split axis and/or over ``hyper`` fields.
    """

    def run(prototypes, videos, key, hyper=UPTHyper(), class_mask=None, video_mask=None):
        return upt(prototypes, videos, config, key, hyper, class_mask=class_mask, video_mask=video_mask)

    return run
