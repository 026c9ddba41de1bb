"""Universal Prototype Transport: the pure entry point.

``upt(prototypes, videos, config, key, hyper)`` moves the class prototypes
toward the test distribution and returns the new prototypes with diagnostics:

1. cluster the normalised test projections into C centres
   (:func:`cluster_videos`);
2. transport the prototypes (mass: uniform over the split's classes, or a
   class prior, :func:`source_prior`) to the centres (uniform or
   cluster-size mass), cost ``1 - cos`` over its maximum; balanced, or with
   KL-relaxed marginals (``tau_a``, ``tau_b`` < 1: unbalanced transport);
3. target of class k: the weighted Frechet mean of the centres with weights
   the k-th coupling row;
4. new prototype: ``slerp(prototype, target, lam)``, lam = fraction of the arc
   travelled (0 = baseline, 1 = target). The example code's ``-l L`` is
   ``lam = 1 - L`` (its slerp returns the first argument at t = 1).

5. :func:`summarize_diagnostics` turns :class:`Diagnostics` into a JSON-ready
   dict (one naming scheme) and :func:`convergence_warning` into the one
   warning line the ``upt`` commands print.

:class:`UPTConfig` is static (hashable; one compilation per value);
:class:`UPTHyper` holds traced hyper-parameters (``lam``, ``epsilon``) that
can be ``vmap``-ed. Nothing here calls ``jax.jit``: callers decide, e.g.
``jax.jit(make_upt(cfg))`` or ``jax.jit(upt, static_argnames="config")``.

Any N: ``UPTConfig(chunk_size=B)`` runs steps 2-3 by blocks of ``B`` target
points (:mod:`upt_jax.scale`: no ``[K, C]`` plan in memory), with the same
masks, costs and :class:`Diagnostics` (``coupling`` is ``None`` there);
:func:`chunk_size_for` picks ``B`` from a memory budget.

Gradients (``chunk_size=0``, ``solver="sinkhorn"``): :func:`upt` is
differentiable with respect to the prototypes, the videos and ``lam`` (and
``epsilon``), balanced or unbalanced (``tau_a``, ``tau_b``) and with a
``"given"`` class prior (with respect to ``UPTHyper.prior`` too; an
``"estimated"`` prior's EM is differentiated through its iterations): the
Sinkhorn solution is differentiated implicitly
(:func:`upt_jax.transport.sinkhorn`), the
Karcher means are differentiated implicitly at their fixed point
(:func:`upt_jax.sphere.frechet_mean`), slerp directly. k-means assignments
are piecewise constant: with clustering, the gradient with respect to the
videos flows through the centres as the normalised means of their assigned
videos, the assignment held fixed (the derivative of k-means' output
wherever the assignment does not change; cluster sizes, hence
``target_mass="cluster_size"`` masses, carry no gradient). With C = N each
video is a target point and the gradient is exact. ``solver="emd"`` raises
:class:`~upt_jax.errors.UPTError` when a gradient through its plan is asked
for (the plan does not depend on ``lam``: ``d/d lam`` works with EMD too);
the chunked path and the top-m approximation are not differentiable.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from upt_jax import bias as _bias
from upt_jax import cluster as _cluster
from upt_jax import scale as _scale
from upt_jax import sphere
from upt_jax import transport as _transport
from upt_jax.errors import UPTError, check_choices

__all__ = [
    "UPTConfig",
    "UPTHyper",
    "Diagnostics",
    "cluster_videos",
    "source_prior",
    "transport_update",
    "upt",
    "make_upt",
    "check_inputs",
    "summarize_diagnostics",
    "convergence_warning",
    "chunk_size_for",
]


@dataclasses.dataclass(frozen=True)
class UPTConfig:
    """Static configuration of UPT (hashable; one compile per value).

    Attributes:
      n_clusters: C. ``0`` or ``>= N`` (the number of videos) means no
        clustering: every video is a target point. Example code: 1000.
      kmeans: ``"euclidean"`` (example code) or ``"spherical"``.
      kmeans_restarts: k-means restarts (scikit-learn's ``n_init``, 10).
        k-means is scikit-learn's: greedy k-means++ seeding, empty clusters
        relocated to the farthest points (:func:`upt_jax.cluster.kmeans`).
      kmeans_max_iter, kmeans_tol: Lloyd iteration cap (scikit-learn's 300)
        and tolerance (scikit-learn's rule: stop once the total squared
        centre shift is at most ``kmeans_tol`` (1e-4) times the mean
        per-feature variance of the videos, or no assignment changes).
      kmeans_screen_iters: ``0`` (default, scikit-learn's ``n_init`` rule:
        every restart runs to convergence); ``> 0``: every restart runs this
        many Lloyd steps and only the best continues (faster, slightly
        higher inertia; see :func:`upt_jax.cluster.kmeans`).
      top_t: ``> 0`` keeps only centres among the ``top_t`` nearest of some
        prototype (others get zero mass); ``0`` keeps all.
      target_mass: ``"uniform"`` (1/C) or ``"cluster_size"``.
      cost: ``"cosine"`` (``1 - cos``, example code) or ``"geodesic"``
        (angle), divided by the maximum.
      solver: ``"sinkhorn"`` (OTT-JAX) or ``"emd"`` (POT exact, host callback;
        the example code's default; dense path only, not differentiable).
      sinkhorn_threshold: default tolerance (> 0) on the L1 marginal error
        when ``UPTHyper`` has none.
      sinkhorn_max_iter: Sinkhorn iteration cap (>= 1), exact: the reported
        ``Diagnostics.n_iters`` never exceeds it.
      frechet: ``"converged"`` (default) or ``"example"`` (the example code's
        geomstats stopping rule; see :func:`upt_jax.sphere.frechet_mean`;
        dense path only).
      frechet_tol, frechet_max_iter: tolerance (> 0) on the norm of the mean
        log-map and iteration cap (>= 1) of the Karcher mean (``"example"``
        ignores the tolerance; use ``frechet_max_iter=32``).
      chunk_size: ``0`` (default): the dense path (``[K, C]`` cost, plan and
        Frechet weights). ``> 0``: the chunked path of :mod:`upt_jax.scale`,
        ``chunk_size`` target points per block, for large C (C = N with
        hundreds of thousands of videos); same results within the
        tolerances, Sinkhorn only (EMD needs the whole cost on the host:
        refused), ``Diagnostics.coupling`` is ``None``, not differentiable.
        See :func:`chunk_size_for`.
      frechet_top_m: ``0`` (default): exact Frechet means. ``> 0``: an
        explicit APPROXIMATION for large C: each class's mean uses only the
        ``m`` largest entries of its coupling row
        (``Diagnostics.frechet_kept_mass`` reports the share of the row kept
        and ``frechet_grad_norm`` the gradient of the exact objective at the
        approximate mean). Needs ``frechet="converged"``.
      tau_a, tau_b: marginal relaxations in (0, 1], OTT-JAX's convention
        ``tau = rho / (rho + epsilon)``: ``1.0`` (default) = balanced (the
        marginal is a constraint); smaller = unbalanced transport, the
        marginal is a KL penalty of strength ``rho = epsilon tau / (1 - tau)``
        (``tau_a``: the classes' masses, ``tau_b``: the centres'). With
        ``tau_a < 1`` a class whose mass is costly to move loses some of it
        (an imbalanced test set: rare classes need not claim 1/K of the
        videos); ``tau_b < 1`` lets centres go partly unserved. Static (OTT
        branches on them in Python: loop over values, one compilation each;
        ``epsilon`` stays traced). Sinkhorn on the dense path only (EMD is
        balanced, the chunked Sinkhorn too). Differentiable
        (:func:`upt_jax.transport.sinkhorn`).
      class_prior: the classes' source masses: ``"uniform"`` (default, 1/K
        over the split, the paper), ``"given"`` (a ``[K]`` array:
        ``UPTHyper.prior`` or the ``prior`` argument of
        :func:`transport_update`, renormalised over the split), or
        ``"estimated"`` (EM on the baseline scores ``cos(video,
        prototype)``, :func:`upt_jax.bias.estimate_prior`; see
        :func:`source_prior`). Static.
      prior_temperature, prior_max_iter: the ``"estimated"`` prior's EM
        (posteriors ``softmax(cos / T)``; iteration cap).
    """

    n_clusters: int = 1000
    kmeans: str = "euclidean"
    kmeans_restarts: int = 10
    kmeans_max_iter: int = 300
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
    chunk_size: int = 0
    frechet_top_m: int = 0
    tau_a: float = 1.0
    tau_b: float = 1.0
    class_prior: str = "uniform"
    prior_temperature: float = 0.01
    prior_max_iter: int = 200

    def __post_init__(self):
        choices = {
            "kmeans": ("euclidean", "spherical"),
            "target_mass": ("uniform", "cluster_size"),
            "cost": ("cosine", "geodesic"),
            "solver": ("sinkhorn", "emd"),
            "frechet": ("converged", "example"),
            "class_prior": _bias.PRIOR_KINDS,
        }
        check_choices(self, choices)
        for name in ("n_clusters", "top_t", "kmeans_screen_iters", "chunk_size", "frechet_top_m"):
            if int(getattr(self, name)) < 0:
                raise UPTError(f"UPTConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("kmeans_restarts", "kmeans_max_iter", "sinkhorn_max_iter", "frechet_max_iter", "prior_max_iter"):
            if int(getattr(self, name)) < 1:
                raise UPTError(f"UPTConfig.{name} must be >= 1 (an iteration cap), got {getattr(self, name)}")
        for name in ("sinkhorn_threshold", "frechet_tol", "prior_temperature"):
            v = float(getattr(self, name))
            if not (np.isfinite(v) and v > 0):
                raise UPTError(f"UPTConfig.{name} must be a finite tolerance > 0, got {getattr(self, name)}")
        if not (np.isfinite(float(self.kmeans_tol)) and float(self.kmeans_tol) >= 0):
            raise UPTError(f"UPTConfig.kmeans_tol must be finite and >= 0, got {self.kmeans_tol}")
        if self.chunk_size > 0 and self.solver == "emd":
            raise UPTError(
                f"UPTConfig(solver='emd', chunk_size={self.chunk_size}): exact EMD has no chunked form (POT needs the "
                "whole [K, C] cost on the host); use solver='sinkhorn' for the chunked path, or chunk_size=0 for EMD"
            )
        if self.frechet == "example" and (self.chunk_size > 0 or self.frechet_top_m > 0):
            raise UPTError(
                "UPTConfig(frechet='example') reproduces the example code on the dense path only; use chunk_size=0 "
                "and frechet_top_m=0 with it, or frechet='converged'"
            )
        for name in ("tau_a", "tau_b"):
            _transport.check_tau(getattr(self, name), f"UPTConfig.{name}")
        if self.unbalanced and self.solver == "emd":
            raise UPTError(
                f"UPTConfig(solver='emd', tau_a={self.tau_a}, tau_b={self.tau_b}): exact EMD is balanced only; use "
                "solver='sinkhorn' for KL-relaxed marginals, or tau_a = tau_b = 1.0"
            )
        if self.unbalanced and self.chunk_size > 0:
            raise UPTError(
                f"UPTConfig(chunk_size={self.chunk_size}, tau_a={self.tau_a}, tau_b={self.tau_b}): the chunked "
                "Sinkhorn is balanced only; use chunk_size=0 for unbalanced transport, or tau_a = tau_b = 1.0"
            )

    @property
    def unbalanced(self) -> bool:
        """Whether either marginal is relaxed (``tau_a < 1`` or ``tau_b < 1``)."""
        return float(self.tau_a) < 1.0 or float(self.tau_b) < 1.0

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
      lam: fraction of the geodesic travelled, in [0, 1] (0 = baseline): a
        scalar, or ``[K]`` for one value per class.
      epsilon: Sinkhorn entropic regularisation (> 0) on the max-normalised
        cost (the example code's Sinkhorn option uses 1e-2). Ignored by EMD.
      threshold: Sinkhorn tolerance (> 0) on the L1 marginal error; ``None``
        uses the config's.
      prior: ``[K]`` non-negative class weights for
        ``UPTConfig(class_prior="given")`` (renormalised over the split;
        ``None`` otherwise). Traced: vmap over several priors.
    """

    lam: jax.Array | float = 0.5
    epsilon: jax.Array | float = 1e-2
    threshold: jax.Array | float | None = None
    prior: jax.Array | None = None


class Diagnostics(NamedTuple):
    """What UPT did (:func:`summarize_diagnostics` makes a JSON-ready dict of it).

    Attributes:
      targets: ``[K, d]`` target prototypes (Frechet means; the prototype
        itself for empty or masked rows).
      coupling: ``[K, C]`` transport plan (``None`` on the chunked path).
      transport_cost: ``[]`` ``<coupling, cost>`` (cost divided by its max).
      converged: ``[]`` bool: Sinkhorn reached its threshold within the cap
        (EMD: POT reported an optimal plan).
      n_iters: ``[]`` int32 Sinkhorn iterations actually done, at most
        ``sinkhorn_max_iter`` (0 for EMD).
      marginal_error: ``[]`` max absolute violation of either marginal.
      frechet_iters: ``[K]`` int32 Karcher iterations per class (at most
        ``frechet_max_iter``; 0 for masked and empty rows).
      frechet_grad_norm: ``[K]`` final norm of the mean log-map per class
        (with ``frechet_top_m``: of the exact objective).
      frechet_converged: ``[K]`` bool, the stopping rule was met (True for
        masked and empty rows, which have no mean).
      empty_rows: ``[K]`` bool, unmasked classes whose coupling row has no
        usable mass (zero or not finite) or whose Frechet mean is not
        finite; such classes keep their prototype. Expected (not a failure)
        for a class with zero source mass (a ``"given"`` prior with a zero)
        or when the class marginal is relaxed (``tau_a < 1``: the penalty can
        leave a class no mass); otherwise a failed solve (``failed_rows``).
      failed_rows: ``[K]`` bool, the empty rows that mean a failed solve: a
        non-finite row or mean, or a zero row although the class had source
        mass under a balanced class marginal (a balanced transport that
        succeeded gives class k its mass ``a_k``: a non-finite Sinkhorn
        plan, an EMD stopped by its iteration cap).
      source_mass: ``[K]`` the classes' source masses ``a`` (uniform or the
        class prior, summing to 1 over the split; 0 for masked classes).
      row_mass: ``[K]`` mass of each class's coupling row (equal to
        ``source_mass`` up to the tolerance when balanced; with ``tau_a <
        1`` the mass the class kept).
      moved_angle: ``[K]`` angle (radians) between old and new prototypes.
      target_angle: ``[K]`` angle (radians) between prototype and target.
      centres: :class:`upt_jax.cluster.Centres` used as the target set.
      kmeans_inertia: ``[]``; kmeans_iters: ``[]`` int32 (0 without clustering).
      frechet_kept_mass: ``[K]`` share of each class's coupling row used by
        its Frechet mean: 1 (exact) unless ``frechet_top_m > 0``; 0 for
        masked and empty rows.
      class_mask: ``[K]`` bool, the classes of the split.
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
    frechet_kept_mass: jax.Array
    class_mask: jax.Array
    failed_rows: jax.Array
    source_mass: jax.Array
    row_mass: jax.Array


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
    rows, ``lam`` outside [0, 1], ``epsilon <= 0``, ``threshold <= 0``, C
    larger than the number of videos) run when the values are concrete (not
    traced).
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
        lam_shape = tuple(np.shape(lam))
        if lam_shape not in ((), (p_shape[0],)):
            raise UPTError(f"hyper.lam must be a scalar or [{p_shape[0]}] (one per class), got shape {list(lam_shape)}")
        eps = hyper.epsilon
        if _is_concrete(eps):
            eps_np = np.asarray(eps)
            if not np.all(np.isfinite(eps_np)) or np.any(eps_np <= 0):
                raise UPTError(f"hyper.epsilon {list(eps_np.shape)} must be > 0, got {eps_np.tolist()}")
        thr = hyper.threshold
        if _is_concrete(thr):
            thr_np = np.asarray(thr)
            if not np.all(np.isfinite(thr_np)) or np.any(thr_np <= 0):
                raise UPTError(
                    f"hyper.threshold {list(thr_np.shape)} (Sinkhorn tolerance on the marginal error) must be > 0, "
                    f"got {thr_np.tolist()}"
                )
        _check_prior(getattr(hyper, "prior", None), p_shape[0], "hyper.prior", class_mask)
    if config is not None and config.class_prior == "uniform" and getattr(hyper, "prior", None) is not None:
        raise UPTError("hyper.prior is set but UPTConfig.class_prior='uniform'; use class_prior='given' to transport that prior")
    if config is not None and config.class_prior == "given" and (hyper is None or getattr(hyper, "prior", None) is None):
        raise UPTError(
            f"UPTConfig(class_prior='given') needs a [{p_shape[0]}] class prior: pass UPTHyper(prior=...) "
            "(or prior= to transport_update), or use class_prior='uniform' / 'estimated'"
        )


def _check_prior(prior, k: int, name: str, class_mask=None) -> None:
    """Shape (always) and values (when concrete) of a ``[K]`` class prior."""
    if prior is None:
        return
    if tuple(np.shape(prior)) != (k,):
        raise UPTError(f"{name} must have shape [{k}] (one weight per class prototype), got {list(np.shape(prior))}")
    if _is_concrete(prior):
        pr = np.asarray(prior, np.float64)
        if not np.all(np.isfinite(pr)) or np.any(pr < 0):
            raise UPTError(f"{name} [{k}] must be finite and >= 0 (class weights), got min {np.nanmin(pr):.3g}")
        keep = np.ones(k, bool) if class_mask is None or not _is_concrete(class_mask) else np.asarray(class_mask, bool)
        if pr[keep].sum() <= 0:
            raise UPTError(f"{name} [{k}] puts no weight on the split's classes; give some class a positive weight")


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

    Gradients: without clustering the centres are the normalised videos.
    With k-means (a loop with piecewise-constant assignments) the centres'
    values are k-means' own and their derivative is that of the normalised
    means of the assigned videos with the assignment held fixed.
    """
    x = sphere.normalize(videos)
    n = x.shape[0]
    vm = None if video_mask is None else video_mask.astype(bool)
    if _no_clustering(config, n):
        res = _cluster.no_clustering(x, vm)
    else:
        x_fixed = jax.lax.stop_gradient(x)
        res = _cluster.kmeans(
            x_fixed,
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
        res = res._replace(centres=_centres_with_gradient(x, res, vm))
    sizes = res.sizes
    mask = sizes > 0
    if config.target_mass == "uniform":
        mass = mask.astype(x.dtype)
    else:
        mass = sizes
    mass = mass / jnp.maximum(jnp.sum(mass), 1e-30)
    return _cluster.Centres(res.centres, mass, sizes, mask, res.assignment, res.inertia, res.n_iters)


def _centres_with_gradient(x, res, vm):
    """k-means' centres as values, with the derivative of the fixed-assignment normalised means."""
    c = res.centres.shape[0]
    w = jnp.ones(x.shape[:1], x.dtype) if vm is None else vm.astype(x.dtype)
    assign = jax.lax.stop_gradient(res.assignment)
    sums = jax.ops.segment_sum(x * w[:, None], jnp.where(assign >= 0, assign, c), num_segments=c + 1)[:c]
    means = sphere.normalize(sums)
    return jax.lax.stop_gradient(res.centres) + (means - jax.lax.stop_gradient(means))


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


def source_prior(
    prototypes: jax.Array,
    videos: jax.Array | None,
    config: UPTConfig,
    hyper: UPTHyper | None = None,
    *,
    prior: jax.Array | None = None,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
) -> jax.Array:
    """The classes' source masses ``a`` of UPT's transport (``UPTConfig.class_prior``).

    - ``"uniform"``: ``1 / K`` over the split's classes (the paper);
    - ``"given"``: ``prior`` (or ``hyper.prior``), renormalised over the
      split's classes;
    - ``"estimated"``: the test set's class prior estimated without labels
      by EM on the baseline scores ``cos(video, prototype)`` of the split's
      videos (:func:`upt_jax.bias.estimate_prior`, temperature
      ``config.prior_temperature``). As good as those scores: on a biased
      universal model EM reads the hubs' surplus of predictions as a surplus
      of videos (see :mod:`upt_jax.bias`).

    Args:
      prototypes: ``[K, d]``; videos: ``[N, d]`` (only for ``"estimated"``;
        may be None otherwise).
      config: static :class:`UPTConfig`.
      hyper: optional :class:`UPTHyper` (its ``prior``).
      prior: optional ``[K]`` weights (``"given"``; takes precedence over
        ``hyper.prior``).
      class_mask: optional ``[K]`` bool; video_mask: optional ``[N]`` bool.

    Returns:
      ``[K]`` masses summing to 1 over the split (0 outside it), dtype of the
      prototypes.
    """
    p = jnp.asarray(prototypes)
    num_k = p.shape[0]
    dtype = p.dtype if jnp.issubdtype(p.dtype, jnp.floating) else jnp.float32
    cm = jnp.ones((num_k,), bool) if class_mask is None else jnp.asarray(class_mask).astype(bool)
    kind = config.class_prior
    if kind == "uniform":
        if prior is not None:
            raise UPTError(
                "a class prior was passed but UPTConfig.class_prior='uniform'; set class_prior='given' to use it"
            )
        return cm.astype(dtype) / jnp.maximum(jnp.sum(cm), 1)
    if kind == "given":
        w = prior if prior is not None else (None if hyper is None else hyper.prior)
        if w is None:
            raise UPTError(
                f"UPTConfig(class_prior='given') needs a [{num_k}] class prior: pass UPTHyper(prior=...) or "
                "prior=..., or use class_prior='uniform' / 'estimated'"
            )
        _check_prior(w, num_k, "prior", cm)
        w = jnp.where(cm, jnp.asarray(w, dtype), 0.0)
        return w / jnp.maximum(jnp.sum(w), jnp.finfo(dtype).tiny)
    if prior is not None:  # "estimated", already estimated by the caller
        _check_prior(prior, num_k, "prior", cm)
        w = jnp.where(cm, jnp.asarray(prior, dtype), 0.0)
        return w / jnp.maximum(jnp.sum(w), jnp.finfo(dtype).tiny)
    if videos is None:
        raise UPTError(
            "UPTConfig(class_prior='estimated') estimates the prior from the test videos: call source_prior(prototypes, "
            "videos, config, ...) (upt() does) and pass its result as prior= to transport_update"
        )
    x = sphere.normalize(jnp.asarray(videos))
    scores = sphere.pairwise_cos(x, sphere.normalize(p))
    est = _bias.estimate_prior(
        scores, temperature=config.prior_temperature, class_mask=cm, video_mask=video_mask, max_iter=config.prior_max_iter,
    )
    return est.prior.astype(dtype)


def transport_update(
    prototypes: jax.Array,
    centres: _cluster.Centres,
    config: UPTConfig,
    hyper: UPTHyper = UPTHyper(),
    class_mask: jax.Array | None = None,
    *,
    prior: jax.Array | None = None,
    coupling: _transport.Coupling | None = None,
):
    """UPT steps 2-4 on a given target set (reusable across a traced grid).

    Args:
      prototypes: ``[K, d]`` class prototypes (normalised inside).
      centres: target set from :func:`cluster_videos`.
      config: static :class:`UPTConfig` (``chunk_size > 0``: by blocks).
      hyper: :class:`UPTHyper` (``lam``, ``epsilon``, ``threshold``,
        ``prior``; traced).
      class_mask: optional ``[K]`` bool, classes of the split.
      prior: optional ``[K]`` class weights: with ``class_prior="given"``
        (instead of ``hyper.prior``) or ``"estimated"`` (the estimate: this
        function has no videos; :func:`upt` computes it with
        :func:`source_prior`).
      coupling: optional precomputed :class:`upt_jax.transport.Coupling`
        of this problem (dense path; e.g. EMD solved on the host outside
        ``jit``, so the compiled program has no host callback); ``None``
        (default) solves it here.

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
    a = source_prior(p, None, config, hyper, prior=prior, class_mask=cm).astype(dtype)
    b = centres.mass.astype(dtype)
    threshold = config.sinkhorn_threshold if hyper.threshold is None else hyper.threshold
    eps = jnp.asarray(hyper.epsilon, dtype)
    threshold = jnp.asarray(threshold, dtype)
    if config.chunk_size > 0:
        ct = _scale.transport_targets(
            p, centres.points, a, b, kind=config.cost, epsilon=eps, threshold=threshold,
            max_iterations=config.sinkhorn_max_iter, frechet_tol=config.frechet_tol,
            frechet_max_iter=config.frechet_max_iter, top_m=config.frechet_top_m, chunk=config.chunk_size,
        )
        sk, fm, row_mass, kept = ct.sinkhorn, ct.frechet, ct.row_mass, ct.kept_mass
        plan, cost_value, converged, n_iters, merr = None, sk.cost, sk.converged, sk.n_iters, sk.marginal_error
    else:
        cost = _transport.cost_matrix(p, centres.points, kind=config.cost, row_mask=cm, col_mask=b > 0)
        coupling = coupling if coupling is not None else _transport.couple(
            cost, a, b, solver=config.solver, epsilon=eps, threshold=threshold, max_iterations=config.sinkhorn_max_iter,
            tau_a=config.tau_a, tau_b=config.tau_b,
        )
        plan = coupling.plan
        cost_value, converged, n_iters, merr = coupling.cost, coupling.converged, coupling.n_iters, coupling.marginal_error
        row_mass = jnp.sum(plan, axis=1)
        if config.frechet_top_m > 0:
            m = min(config.frechet_top_m, plan.shape[1])
            vals, idx = jax.lax.top_k(plan, m)
            fm = _scale.frechet_mean_sparse(centres.points, idx, vals, tol=config.frechet_tol, max_iter=config.frechet_max_iter)
            w = plan / jnp.where(row_mass > 0, row_mass, 1.0)[:, None]
            exact_gn = sphere.safe_norm(sphere.mean_log_map(fm.mean, centres.points, w)[0])
            fm = fm._replace(grad_norm=exact_gn)
            kept = jnp.sum(vals, axis=1) / jnp.where(row_mass > 0, row_mass, 1.0)
        else:
            fm = sphere.frechet_mean(
                centres.points, plan, method=config.frechet, tol=config.frechet_tol, max_iter=config.frechet_max_iter,
            )
            kept = jnp.ones((num_k,), dtype)
    # a row without usable mass (zero, or not finite: a failed solve) keeps its prototype
    finite = jnp.isfinite(row_mass) & jnp.all(jnp.isfinite(fm.mean), axis=1)
    empty = cm & (~(row_mass > 0) | ~finite)
    # a zero row is expected for a class without source mass, or when the class marginal is relaxed
    zero_expected = ~(a > 0) | (config.tau_a < 1.0)
    failed = cm & (~finite | (~(row_mass > 0) & ~zero_expected))
    keep_own = empty | ~cm
    targets = jnp.where(keep_own[:, None], p, fm.mean)
    lam = jnp.asarray(hyper.lam, dtype)
    new = sphere.slerp(p, targets, lam)
    new = jnp.where(cm[:, None], new, p)
    diag = Diagnostics(
        targets=targets,
        coupling=plan,
        transport_cost=cost_value,
        converged=converged,
        n_iters=n_iters,
        marginal_error=merr,
        frechet_iters=jnp.where(keep_own, 0, fm.n_iters),
        frechet_grad_norm=jnp.where(keep_own, 0.0, fm.grad_norm),
        frechet_converged=jnp.where(keep_own, True, fm.converged),
        empty_rows=empty,
        moved_angle=sphere.distance(p, new),
        target_angle=sphere.distance(p, targets),
        centres=centres,
        kmeans_inertia=centres.inertia,
        kmeans_iters=centres.kmeans_iters,
        frechet_kept_mass=jnp.where(keep_own, 0.0, kept),
        class_mask=cm,
        failed_rows=failed,
        source_mass=a,
        row_mass=jnp.where(cm, row_mass, 0.0),
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
      hyper: traced :class:`UPTHyper` (``lam``, ``epsilon``, ``threshold``,
        ``prior`` for ``class_prior="given"``).
      class_mask: optional ``[K]`` bool; classes outside a split keep their
        prototype and get no mass.
      video_mask: optional ``[N]`` bool; videos outside a split are ignored
        (by k-means and by the ``"estimated"`` class prior).

    Returns:
      ``(new_prototypes [K, d], Diagnostics)``.

    Raises:
      UPTError: bad shapes (always) or bad values (when not traced).
    """
    check_inputs(prototypes, videos, config, hyper, class_mask=class_mask, video_mask=video_mask)
    prototypes = jnp.asarray(prototypes)
    videos = jnp.asarray(videos)
    centres = cluster_videos(videos, config, key, video_mask)
    prior = None
    if config.class_prior == "estimated":
        prior = source_prior(prototypes, videos, config, class_mask=class_mask, video_mask=video_mask)
    return transport_update(prototypes, centres, config, hyper, class_mask, prior=prior)


def make_upt(config: UPTConfig):
    """Close over a static config: ``run(prototypes, videos, key, hyper,
    class_mask=None, video_mask=None) -> (new_prototypes, Diagnostics)``.

    ``jax.jit(make_upt(cfg))`` compiles once per input shape; vmap it over a
    leading split axis and/or over ``hyper`` fields.
    """

    def run(prototypes, videos, key, hyper=UPTHyper(), class_mask=None, video_mask=None):
        return upt(prototypes, videos, config, key, hyper, class_mask=class_mask, video_mask=video_mask)

    return run


def chunk_size_for(n_classes: int, n_points: int, budget_bytes: int = 1 << 30, itemsize: int = 4) -> int:
    """A ``UPTConfig.chunk_size`` for K classes and C target points within a memory budget.

    The dense path keeps about a dozen ``[K, C]`` arrays alive at once (cost,
    plan, OTT's work arrays, the Karcher weights and factors) plus the
    ``[N, K]`` scores of the evaluation; if ``12 * K * C * itemsize`` fits in
    ``budget_bytes`` this returns 0 (dense). Otherwise a block size that keeps
    the per-block temporaries (about 16 ``[K, chunk]`` arrays) within an
    eighth of the budget, between 1,024 and 65,536 points.

    Args:
      n_classes: K; n_points: C (N without clustering); budget_bytes: memory
        for UPT; itemsize: bytes per float (4 for float32).

    Returns:
      ``0`` (dense) or a block size.
    """
    k, c = int(n_classes), int(n_points)
    if 12 * k * c * itemsize <= budget_bytes:
        return 0
    chunk = (budget_bytes // 8) // max(16 * k * itemsize, 1)
    return int(min(max(chunk, 1024), 65536))


def _names(mask: np.ndarray, class_names) -> list:
    idx = np.flatnonzero(mask)
    if class_names is None:
        return [int(i) for i in idx]
    return [str(class_names[i]) for i in idx]


def summarize_diagnostics(diag: Diagnostics, class_names=None, *, config: UPTConfig | None = None) -> dict:
    """A JSON-ready summary of one :class:`Diagnostics` (host-side), one naming scheme.

    For a batch (vmapped splits or hyper-parameters) summarise each element:
    ``jax.tree_util.tree_map(lambda x: x[i], diag)``. Masked classes are left
    out of every count and median. Keys (stable; sweep rows use them too):

    - ``converged`` (bool): transport converged, every Frechet mean converged
      and no failed row; :func:`convergence_warning` is ``None`` exactly then;
    - ``transport_converged`` (bool), ``transport_iterations`` (int, Sinkhorn
      iterations done, at most the cap; 0 for EMD), ``transport_cost``,
      ``marginal_error`` (max violation of either marginal);
    - ``frechet_not_converged`` (int, a count of classes) and
      ``frechet_not_converged_classes`` (their names, or indices without
      ``class_names``): classes whose Karcher mean did not meet its stopping
      rule (with ``frechet="example"``: the example code's own loose rule),
      ``frechet_iterations_max`` (int),
      ``frechet_grad_norm_max``, ``frechet_kept_mass_min`` (1.0 unless the
      top-m approximation is on);
    - ``empty_rows`` (int) and ``empty_row_classes``: classes left without
      usable transport mass, which kept their prototype; ``failed_rows``
      (int) and ``failed_row_classes``: those of them that mean a failed
      solve (see :class:`Diagnostics`: with a balanced class marginal every
      empty row of a class with source mass is a failure; with ``tau_a < 1``
      a class may lose all its mass by design, and only non-finite rows
      fail);
    - ``transported_mass`` (total mass of the plan: 1 when balanced),
      ``class_mass_ratio_min`` / ``class_mass_ratio_max`` (row mass over
      source mass, over the split's classes with source mass: 1 when
      balanced; how much mass unbalanced transport took from or gave to a
      class);
    - ``median_target_angle_deg``, ``median_moved_angle_deg``;
    - ``n_classes`` (unmasked), ``n_centres`` (valid target points),
      ``kmeans_inertia``, ``kmeans_iterations`` (0 without clustering);
    - with ``config``: ``solver``, ``sinkhorn_max_iter``, ``frechet``,
      ``frechet_max_iter``, ``chunk_size``, ``frechet_top_m``, ``tau_a``,
      ``tau_b``, ``class_prior``.

    Args:
      diag: :class:`Diagnostics` of one UPT call (not batched).
      class_names: optional ``K`` names.
      config: optional :class:`UPTConfig` that produced it.

    Returns:
      dict of Python scalars and lists.
    """
    cm = np.asarray(diag.class_mask, bool)
    if cm.ndim != 1:
        raise UPTError(
            f"summarize_diagnostics: expected the Diagnostics of one call (class_mask [K]), got class_mask "
            f"{list(cm.shape)}; summarise each element of a batch: jax.tree_util.tree_map(lambda x: x[i], diag)"
        )
    empty = np.asarray(diag.empty_rows, bool) & cm
    failed = np.asarray(diag.failed_rows, bool) & cm
    live = cm & ~empty
    src = np.asarray(diag.source_mass, np.float64)
    rowm = np.asarray(diag.row_mass, np.float64)
    has_src = cm & (src > 0)
    ratio = rowm[has_src] / src[has_src]
    not_conv = live & ~np.asarray(diag.frechet_converged, bool)

    def med_deg(x):
        x = np.asarray(x, np.float64)[live]
        return float(np.rad2deg(np.median(x))) if x.size else 0.0

    gn = np.asarray(diag.frechet_grad_norm, np.float64)[live]
    kept = np.asarray(diag.frechet_kept_mass, np.float64)[live]
    it = np.asarray(diag.frechet_iters)[live]
    out = {
        "transport_converged": bool(diag.converged),
        "transport_iterations": int(diag.n_iters),
        "transport_cost": float(diag.transport_cost),
        "marginal_error": float(diag.marginal_error),
        "frechet_not_converged": int(not_conv.sum()),
        "frechet_not_converged_classes": _names(not_conv, class_names),
        "frechet_iterations_max": int(it.max()) if it.size else 0,
        "frechet_grad_norm_max": float(gn.max()) if gn.size else 0.0,
        "frechet_kept_mass_min": float(kept.min()) if kept.size else 1.0,
        "empty_rows": int(empty.sum()),
        "empty_row_classes": _names(empty, class_names),
        "failed_rows": int(failed.sum()),
        "failed_row_classes": _names(failed, class_names),
        "transported_mass": float(np.sum(np.where(cm, rowm, 0.0))),
        "class_mass_ratio_min": float(ratio.min()) if ratio.size else 0.0,
        "class_mass_ratio_max": float(ratio.max()) if ratio.size else 0.0,
        "median_target_angle_deg": med_deg(diag.target_angle),
        "median_moved_angle_deg": med_deg(diag.moved_angle),
        "n_classes": int(cm.sum()),
        "n_centres": int(np.asarray(diag.centres.mask).sum()),
        "kmeans_inertia": float(diag.kmeans_inertia),
        "kmeans_iterations": int(diag.kmeans_iters),
    }
    out["converged"] = bool(out["transport_converged"] and not out["frechet_not_converged"] and not out["failed_rows"])
    if config is not None:
        out.update({
            "solver": config.solver,
            "sinkhorn_max_iter": int(config.sinkhorn_max_iter),
            "frechet": config.frechet,
            "frechet_max_iter": int(config.frechet_max_iter),
            "chunk_size": int(config.chunk_size),
            "frechet_top_m": int(config.frechet_top_m),
            "tau_a": float(config.tau_a),
            "tau_b": float(config.tau_b),
            "class_prior": config.class_prior,
        })
    return out


def _list(names, limit=8) -> str:
    shown = ", ".join(str(n) for n in names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def convergence_warning(summary: dict) -> str | None:
    """One line naming what did not converge in a :func:`summarize_diagnostics` dict, or ``None``.

    Example: ``UPT did not converge: transport stopped after 5 Sinkhorn
    iterations with marginal error 3.1e-02; Frechet mean not converged for 2
    of 101 classes (Archery, Basketball)``. A dict with
    ``method_converged = False`` (a transductive method's own balanced
    transport, :mod:`upt_jax.baselines`; ``method_iterations``) gets a part
    for it; a dict without UPT keys (a method without UPT) only that part.
    """
    if summary.get("converged", True):
        return None
    parts = []
    ran_upt = "transport_converged" in summary
    if ran_upt and not summary["transport_converged"]:
        if summary.get("solver") == "emd" or (summary.get("solver") is None and summary["transport_iterations"] == 0):
            parts.append(f"exact transport (EMD) stopped before optimality (marginal error {summary['marginal_error']:.1e})")
        else:
            cap = f" (cap {summary['sinkhorn_max_iter']})" if "sinkhorn_max_iter" in summary else ""
            parts.append(
                f"transport stopped after {summary['transport_iterations']} Sinkhorn iterations{cap} with marginal error "
                f"{summary['marginal_error']:.1e} (raise the iteration cap or epsilon, or loosen the threshold)"
            )
    if summary.get("frechet_not_converged"):
        parts.append(
            f"Frechet mean not converged for {summary['frechet_not_converged']} of {summary['n_classes']} classes "
            f"({_list(summary['frechet_not_converged_classes'])}; largest gradient norm {summary['frechet_grad_norm_max']:.1e})"
        )
    failed = summary.get("failed_rows", summary.get("empty_rows", 0))
    if failed:
        names = summary.get("failed_row_classes", summary.get("empty_row_classes", []))
        parts.append(f"{failed} classes got no usable transport mass and kept their prototype ({_list(names)})")
    if summary.get("method_converged") is False:
        parts.append(
            f"the method's balanced transport stopped after {summary.get('method_iterations', '?')} Sinkhorn iterations "
            "(raise its iteration cap or epsilon)"
        )
    head = "UPT did not converge: " if ran_upt else "the method did not converge: "
    return head + "; ".join(parts) if parts else head.rstrip(": ")
