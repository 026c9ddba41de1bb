"""Transductive comparators of UPT: hubness and bias corrections on the test set.

Every method here uses the unlabelled test set at once, as UPT does, and is
cheap. Each is a pure function (no ``jit`` inside) of a score matrix or of
the prototypes, with ``[K]`` class and ``[N]`` video masks for splits, so
splits of different sizes stack on a leading axis and ``vmap``:

- :func:`csls`: cross-domain similarity local scaling (Conneau et al., ICLR
  2018): ``2 cos_ik - r_i - r_k``, with ``r_i`` the mean cosine of video i to
  its ``k`` nearest classes and ``r_k`` the mean cosine of class k to its
  ``k`` nearest videos (within the split's classes and videos);
- :func:`inverted_softmax` (Smith et al., ICLR 2017): each class's
  ``exp(beta cos)`` normalised over the split's test videos; returned as its
  log, ``beta cos_ik - logsumexp_i(beta cos_ik)``;
- :func:`centre`: subtract each class's mean score over the split's videos
  (removes an additive per-class offset, nothing else);
- :func:`balanced`: transport the test videos (mass ``1/N`` each) to the
  classes (mass = a class prior: uniform, given or estimated) with entropic
  Sinkhorn (or exact EMD) on the max-normalised cost ``max(s) - s``, and
  predict from the plan;
- :func:`refine`: transductive prototype refinement: a few steps that move
  each prototype a fraction of the geodesic toward the Frechet mean of the
  videos softly assigned to it (a softmax over classes, or the balanced
  plan).

Composition. UPT's output is moved prototypes, so "UPT then X" is X applied
to the scores of the moved prototypes. A method is a static
:class:`MethodConfig` (hashable; one compile per value) whose defaults are
data; the traced knobs (``csls_k``, ``beta``, ``epsilon``, ``temperature``,
``refine_lam``) are a :class:`MethodHyper` of arrays that can be vmapped.
:data:`METHODS` maps names to configs: ``baseline``, ``upt``, ``csls``,
``inverted-softmax``, ``centre``, ``balanced``, ``refine``,
``refine-balanced``, and ``upt+<each correction>``. :func:`scores_for`
applies a method's correction to given prototypes; :func:`make_method`
closes over a method and a :class:`upt_jax.UPTConfig` and runs UPT first when
the method says so.

Scores are ``[N, K]``, higher is better, ``-inf`` for classes outside the
split; :func:`upt_jax.metrics.evaluate_scores` measures them.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from upt_jax import bias as _bias
from upt_jax import metrics as _metrics
from upt_jax import sphere
from upt_jax import transport as _transport
from upt_jax.errors import UPTError, check_choices

__all__ = [
    "CORRECTIONS",
    "METHODS",
    "MethodConfig",
    "MethodHyper",
    "MethodOutput",
    "BalancedResult",
    "RefineResult",
    "method_config",
    "method_names",
    "cosine_scores",
    "csls",
    "inverted_softmax",
    "centre",
    "balanced",
    "refine",
    "scores_for",
    "make_method",
]

#: The corrections a method can apply after (optional) UPT.
CORRECTIONS = ("none", "csls", "inverted-softmax", "centre", "balanced", "refine")

_HI = jax.lax.Precision.HIGHEST


class MethodHyper(NamedTuple):
    """Traced hyper-parameters of the transductive methods (vmappable).

    Attributes:
      csls_k: neighbourhood size of CSLS (an integer; traced, clipped to the
        split's number of videos / classes).
      beta: inverse temperature of the inverted softmax.
      epsilon: entropic regularisation of the balanced transport, on the
        cost divided by its maximum (as UPT's).
      temperature: temperature of the soft assignments of refinement
        (``softmax(s / temperature)`` over classes).
      prior_temperature: temperature of the posteriors of the ``"estimated"``
        prior's EM (:func:`upt_jax.bias.estimate_prior`).
      refine_lam: fraction of the geodesic toward its soft mean that a
        prototype travels per refinement step, in [0, 1].
      threshold: Sinkhorn marginal tolerance of the balanced transport.
    """

    csls_k: jax.Array | int = 10
    beta: jax.Array | float = 10.0
    epsilon: jax.Array | float = 1e-2
    temperature: jax.Array | float = 0.05
    refine_lam: jax.Array | float = 0.2
    threshold: jax.Array | float = 1e-3
    prior_temperature: jax.Array | float = 0.01


@dataclasses.dataclass(frozen=True)
class MethodConfig:
    """Static description of a transductive method (hashable).

    Attributes:
      name: registry name (informational).
      upt: run UPT first; the correction then acts on the moved prototypes.
      correction: one of :data:`CORRECTIONS`.
      prior: class prior of ``balanced`` (and balanced refinement):
        ``"uniform"``, ``"given"`` (the caller passes ``prior``) or
        ``"estimated"`` (EM on the input scores, :func:`upt_jax.bias.estimate_prior`).
      solver: ``"sinkhorn"`` (OTT-JAX, ``epsilon`` traced) or ``"emd"``
        (POT's exact network simplex on the host) for the balanced plan.
      sinkhorn_max_iter: Sinkhorn iteration cap.
      refine_steps: refinement steps.
      refine_balanced: refinement weights from the balanced plan instead of
        a softmax over classes.
      refine_mean: ``"frechet"`` (weighted Frechet mean on the sphere) or
        ``"extrinsic"`` (normalised weighted arithmetic mean, cheaper).
      frechet_max_iter, frechet_tol: Karcher iterations per refinement step.
      prior_max_iter: EM iteration cap of the ``"estimated"`` prior.
      csls_k, beta, epsilon, temperature, refine_lam, threshold,
        prior_temperature: default values of :class:`MethodHyper`
        (``--csls-k 10``, ``--beta 10``).
    """

    name: str = "baseline"
    upt: bool = False
    correction: str = "none"
    prior: str = "uniform"
    solver: str = "sinkhorn"
    sinkhorn_max_iter: int = 2000
    refine_steps: int = 3
    refine_balanced: bool = False
    refine_mean: str = "frechet"
    frechet_max_iter: int = 30
    frechet_tol: float = 1e-5
    prior_max_iter: int = 200
    csls_k: int = 10
    beta: float = 10.0
    epsilon: float = 1e-2
    temperature: float = 0.05
    refine_lam: float = 0.2
    threshold: float = 1e-3
    prior_temperature: float = 0.01

    def __post_init__(self):
        check_choices(
            self,
            {
                "correction": CORRECTIONS,
                "prior": _bias.PRIOR_KINDS,
                "solver": ("sinkhorn", "emd"),
                "refine_mean": ("frechet", "extrinsic"),
            },
        )
        for field in ("sinkhorn_max_iter", "refine_steps", "frechet_max_iter", "prior_max_iter", "csls_k"):
            if int(getattr(self, field)) < 1:
                raise UPTError(f"MethodConfig.{field} must be >= 1, got {getattr(self, field)}")
        for field in ("beta", "epsilon", "temperature", "threshold", "prior_temperature"):
            if not float(getattr(self, field)) > 0:
                raise UPTError(f"MethodConfig.{field} must be > 0, got {getattr(self, field)}")
        if not 0.0 <= float(self.refine_lam) <= 1.0:
            raise UPTError(f"MethodConfig.refine_lam must lie in [0, 1], got {self.refine_lam}")

    def hyper(self, **changes) -> MethodHyper:
        """The default :class:`MethodHyper` of this method (with ``changes``)."""
        base = MethodHyper(
            csls_k=self.csls_k,
            beta=self.beta,
            epsilon=self.epsilon,
            temperature=self.temperature,
            refine_lam=self.refine_lam,
            threshold=self.threshold,
            prior_temperature=self.prior_temperature,
        )
        return base._replace(**changes)

    def replace(self, **changes) -> "MethodConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _registry() -> dict[str, MethodConfig]:
    out = {"baseline": MethodConfig("baseline"), "upt": MethodConfig("upt", upt=True)}
    singles = {
        "csls": {"correction": "csls"},
        "inverted-softmax": {"correction": "inverted-softmax"},
        "centre": {"correction": "centre"},
        "balanced": {"correction": "balanced"},
        "refine": {"correction": "refine"},
        "refine-balanced": {"correction": "refine", "refine_balanced": True},
    }
    for name, fields in singles.items():
        out[name] = MethodConfig(name, **fields)
    for name, fields in singles.items():
        out[f"upt+{name}"] = MethodConfig(f"upt+{name}", upt=True, **fields)
    return out


#: Method name -> its default :class:`MethodConfig`.
METHODS: dict[str, MethodConfig] = _registry()


def method_names() -> tuple[str, ...]:
    """The registered method names (for ``--method`` choices)."""
    return tuple(METHODS)


def method_config(method: str | MethodConfig, **overrides) -> MethodConfig:
    """A method's configuration from its registry name, with overrides.

    Args:
      method: a key of :data:`METHODS` or a :class:`MethodConfig`.
      **overrides: any :class:`MethodConfig` field (e.g. ``csls_k=5``,
        ``prior="estimated"``).

    Returns:
      The configuration.
    """
    if isinstance(method, MethodConfig):
        cfg = method
    else:
        if method not in METHODS:
            raise UPTError(f"unknown method {method!r}; choose one of {list(METHODS)}")
        cfg = METHODS[method]
    if overrides:
        fields = {f.name for f in dataclasses.fields(MethodConfig)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise UPTError(f"unknown MethodConfig fields {unknown}; valid: {sorted(fields)}")
        cfg = cfg.replace(**overrides)
    return cfg


# --------------------------------------------------------------------------- helpers


def _check(scores, class_mask, video_mask):
    shape = tuple(jnp.shape(scores))
    if len(shape) != 2:
        raise UPTError(f"scores must be an [N, K] matrix (videos x classes), got shape {list(shape)}")
    if class_mask is not None and tuple(jnp.shape(class_mask)) != (shape[1],):
        raise UPTError(f"class_mask must have shape [{shape[1]}] (one per class), got {list(jnp.shape(class_mask))}")
    if video_mask is not None and tuple(jnp.shape(video_mask)) != (shape[0],):
        raise UPTError(f"video_mask must have shape [{shape[0]}] (one per video), got {list(jnp.shape(video_mask))}")


def _masks(shape, class_mask, video_mask):
    n, k = shape
    cm = jnp.ones((k,), bool) if class_mask is None else jnp.asarray(class_mask).astype(bool)
    vm = jnp.ones((n,), bool) if video_mask is None else jnp.asarray(video_mask).astype(bool)
    return cm, vm


def _float(scores):
    s = jnp.asarray(scores)
    return s if jnp.issubdtype(s.dtype, jnp.floating) else s.astype(jnp.float32)


def _mask_classes(s, cm):
    return jnp.where(cm[None, :], s, -jnp.inf)


def _topk_mean(x, valid, k, axis):
    """Mean of the ``min(k, #valid)`` largest valid entries along ``axis`` (k traced)."""
    xs = -jnp.sort(-jnp.where(valid, x, -jnp.inf), axis=axis)  # descending, invalid last
    n_valid = jnp.sum(valid, axis=axis, keepdims=True)
    k_eff = jnp.clip(jnp.minimum(jnp.asarray(k, jnp.int32), n_valid), 1, None)
    rank = jnp.arange(x.shape[axis], dtype=jnp.int32)
    rank = rank[:, None] if axis == 0 else rank[None, :]
    take = rank < k_eff
    return jnp.sum(jnp.where(take, xs, 0.0), axis=axis) / k_eff.squeeze(axis).astype(x.dtype)


def cosine_scores(prototypes: jax.Array, videos: jax.Array, class_mask: jax.Array | None = None) -> jax.Array:
    """Cosine of every video to every prototype: ``[N, K]`` (``-inf`` outside the split).

    Args:
      prototypes: ``[K, d]``; videos: ``[N, d]`` (normalised inside).
      class_mask: optional ``[K]`` bool.
    """
    return _metrics.scores(prototypes, videos, class_mask)


# --------------------------------------------------------------------------- corrections


def csls(
    scores: jax.Array,
    k: jax.Array | int = 10,
    *,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
) -> jax.Array:
    """Cross-domain similarity local scaling on a cosine matrix.

    ``csls_ik = 2 s_ik - r_i - r_k`` where ``r_i`` is the mean of video i's
    ``k`` largest scores over the split's classes and ``r_k`` the mean of
    class k's ``k`` largest scores over the split's videos (``k`` is clipped
    to the number available).

    Args:
      scores: ``[N, K]`` cosines.
      k: neighbourhood size (traced; vmappable).
      class_mask: optional ``[K]`` bool; video_mask: optional ``[N]`` bool.

    Returns:
      ``[N, K]`` CSLS scores, ``-inf`` for classes outside the split.
    """
    _check(scores, class_mask, video_mask)
    s = _float(scores)
    cm, vm = _masks(s.shape, class_mask, video_mask)
    valid = vm[:, None] & cm[None, :]
    r_video = _topk_mean(s, jnp.broadcast_to(cm[None, :], s.shape), k, axis=1)  # [N]
    r_class = _topk_mean(s, valid, k, axis=0)  # [K]
    out = 2.0 * s - r_video[:, None] - r_class[None, :]
    return _mask_classes(out, cm)


def inverted_softmax(
    scores: jax.Array,
    beta: jax.Array | float = 10.0,
    *,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
) -> jax.Array:
    """The inverted softmax: each class's ``exp(beta s)`` normalised over the split's videos.

    Returns the log, ``beta s_ik - logsumexp_{i in split}(beta s_ik)`` (the
    same ranking, no overflow).

    Args:
      scores: ``[N, K]`` cosines.
      beta: inverse temperature (traced; vmappable).
      class_mask: optional ``[K]`` bool; video_mask: optional ``[N]`` bool.

    Returns:
      ``[N, K]`` log-scores, ``-inf`` for classes outside the split.
    """
    _check(scores, class_mask, video_mask)
    s = _float(scores)
    cm, vm = _masks(s.shape, class_mask, video_mask)
    z = jnp.asarray(beta, s.dtype) * s
    lse = jax.nn.logsumexp(jnp.where(vm[:, None], z, -jnp.inf), axis=0)
    return _mask_classes(z - lse[None, :], cm)


def centre(
    scores: jax.Array,
    *,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
) -> jax.Array:
    """Per-class centring: subtract each class's mean score over the split's videos.

    Args:
      scores: ``[N, K]``.
      class_mask: optional ``[K]`` bool; video_mask: optional ``[N]`` bool.

    Returns:
      ``[N, K]`` centred scores, ``-inf`` for classes outside the split.
    """
    _check(scores, class_mask, video_mask)
    s = _float(scores)
    cm, vm = _masks(s.shape, class_mask, video_mask)
    w = vm.astype(s.dtype)
    mean = jnp.sum(jnp.where(vm[:, None], s, 0.0), axis=0) / jnp.maximum(jnp.sum(w), 1.0)
    return _mask_classes(s - mean[None, :], cm)


class BalancedResult(NamedTuple):
    """Output of :func:`balanced`.

    Attributes:
      scores: ``[N, K]`` ``log(plan_ik / a_i)`` (the plan's class
        distribution of video i); entries where the plan underflows to 0 rank
        below every positive entry, by their original score; ``-inf``
        outside the split.
      plan: ``[N, K]`` transport plan (rows sum to ``1/N_split`` on the
        split's videos, columns to the prior).
      prior: ``[K]`` class masses used.
      converged: ``[]`` bool; n_iters: ``[]`` int32 (0 for EMD).
    """

    scores: jax.Array
    plan: jax.Array
    prior: jax.Array
    converged: jax.Array
    n_iters: jax.Array


_UNDERFLOW = 1e4  # plan entries that underflow rank this far below the positive ones


def balanced(
    scores: jax.Array,
    *,
    prior: jax.Array | None = None,
    epsilon: jax.Array | float = 1e-2,
    threshold: jax.Array | float = 1e-3,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
    solver: str = "sinkhorn",
    max_iterations: int = 2000,
) -> BalancedResult:
    """Sinkhorn-balanced predictions: transport the videos to the classes.

    Videos carry mass ``1/N`` (split's videos), classes the ``prior``
    (uniform over the split's classes when None; renormalised over the
    split). The cost is ``max(s) - s`` over the split's entries, divided by
    its maximum (so ``epsilon`` means what it means for UPT). The prediction
    of video i is the class that receives most of its mass.

    Args:
      scores: ``[N, K]`` (e.g. cosines).
      prior: optional ``[K]`` class masses (traced).
      epsilon, threshold: Sinkhorn regularisation and marginal tolerance
        (traced; ignored by EMD).
      class_mask: optional ``[K]`` bool; video_mask: optional ``[N]`` bool.
      solver: ``"sinkhorn"`` or ``"emd"`` (static).
      max_iterations: Sinkhorn cap (static).

    Returns:
      :class:`BalancedResult`.
    """
    _check(scores, class_mask, video_mask)
    s = _float(scores)
    n, k = s.shape
    cm, vm = _masks(s.shape, class_mask, video_mask)
    dtype = s.dtype
    valid = vm[:, None] & cm[None, :]
    hi = jnp.max(jnp.where(valid, s, -jnp.inf))
    lo = jnp.min(jnp.where(valid, s, jnp.inf))
    span = jnp.where(hi > lo, hi - lo, 1.0)
    cost = jnp.where(valid, (hi - s) / span, 1.0)
    a = vm.astype(dtype) / jnp.maximum(jnp.sum(vm), 1)
    if prior is None:
        b = _bias.class_prior("uniform", k, class_mask=cm).astype(dtype)
    else:
        if tuple(jnp.shape(prior)) != (k,):
            raise UPTError(f"prior must have shape [{k}] (one mass per class), got {list(jnp.shape(prior))}")
        b = jnp.where(cm, jnp.asarray(prior, dtype), 0.0)
        b = b / jnp.maximum(jnp.sum(b), 1e-30)
    coupling = _transport.couple(
        cost,
        a,
        b,
        solver=solver,
        epsilon=jnp.asarray(epsilon, dtype),
        threshold=jnp.asarray(threshold, dtype),
        max_iterations=max_iterations,
    )
    plan = coupling.plan
    rows = jnp.sum(plan, axis=1, keepdims=True)
    positive = plan > 0
    logp = jnp.log(jnp.where(positive, plan, 1.0)) - jnp.log(jnp.where(rows > 0, rows, 1.0))
    out = jnp.where(positive, logp, -_UNDERFLOW + s / span)
    return BalancedResult(_mask_classes(out, cm), plan, b, coupling.converged, coupling.n_iters)


class RefineResult(NamedTuple):
    """Output of :func:`refine`.

    Attributes:
      prototypes: ``[K, d]`` refined unit prototypes (unchanged outside the split).
      scores: ``[N, K]`` cosines to the refined prototypes (``-inf`` outside the split).
      moved_angle: ``[K]`` angle (radians) between the input and refined prototypes.
    """

    prototypes: jax.Array
    scores: jax.Array
    moved_angle: jax.Array


def refine(
    prototypes: jax.Array,
    videos: jax.Array,
    *,
    steps: int = 3,
    refine_lam: jax.Array | float = 0.2,
    temperature: jax.Array | float = 0.05,
    balanced_weights: bool = False,
    prior: jax.Array | None = None,
    epsilon: jax.Array | float = 1e-2,
    threshold: jax.Array | float = 1e-3,
    mean: str = "frechet",
    frechet_max_iter: int = 30,
    frechet_tol: float = 1e-5,
    solver: str = "sinkhorn",
    max_iterations: int = 2000,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
) -> RefineResult:
    """Transductive prototype refinement on the sphere.

    Each step: score the split's videos against the current prototypes;
    weigh video i for class k by ``softmax_k(s_ik / temperature)`` (or, with
    ``balanced_weights``, by the plan of :func:`balanced` with ``prior``);
    take each class's weighted mean of the videos (Frechet mean on the
    sphere, or the normalised arithmetic mean); move the prototype a fraction
    ``refine_lam`` of the geodesic toward it (a class without weight stays).

    Args:
      prototypes: ``[K, d]``; videos: ``[N, d]`` (normalised inside).
      steps: number of steps (static).
      refine_lam: fraction of the geodesic per step (traced).
      temperature: softmax temperature of the weights (traced).
      balanced_weights: weights from the balanced plan (static).
      prior, epsilon, threshold, solver, max_iterations: for the balanced plan.
      mean: ``"frechet"`` or ``"extrinsic"`` (static).
      frechet_max_iter, frechet_tol: Karcher iterations per step.
      class_mask: optional ``[K]`` bool; video_mask: optional ``[N]`` bool.

    Returns:
      :class:`RefineResult`.
    """
    if mean not in ("frechet", "extrinsic"):
        raise UPTError(f"refine: mean must be 'frechet' or 'extrinsic', got {mean!r}")
    if int(steps) < 0:
        raise UPTError(f"refine: steps must be >= 0, got {steps}")
    p0 = sphere.normalize(jnp.asarray(prototypes))
    x = sphere.normalize(jnp.asarray(videos))
    if p0.ndim != 2 or x.ndim != 2 or p0.shape[1] != x.shape[1]:
        raise UPTError(f"refine: prototypes [K, d] and videos [N, d] must share d, got {list(p0.shape)} and {list(x.shape)}")
    _check(jnp.zeros((x.shape[0], p0.shape[0])), class_mask, video_mask)
    cm, vm = _masks((x.shape[0], p0.shape[0]), class_mask, video_mask)
    dtype = p0.dtype
    lam = jnp.asarray(refine_lam, dtype)
    t = jnp.asarray(temperature, dtype)

    def weights(p):
        s = sphere.pairwise_cos(x, p)
        if balanced_weights:
            w = balanced(
                s,
                prior=prior,
                epsilon=epsilon,
                threshold=threshold,
                class_mask=cm,
                video_mask=vm,
                solver=solver,
                max_iterations=max_iterations,
            ).plan
        else:
            w = jax.nn.softmax(jnp.where(cm[None, :], s / t, -jnp.inf), axis=1)
        return jnp.where(vm[:, None] & cm[None, :], w, 0.0).T  # [K, N]

    def step(_, p):
        w = weights(p)
        mass = jnp.sum(w, axis=1)
        if mean == "frechet":
            target = sphere.frechet_mean(x, w, tol=frechet_tol, max_iter=frechet_max_iter).mean
        else:
            target = sphere.normalize(jnp.matmul(w, x, precision=_HI))
        move = cm & (mass > 0)
        new = sphere.slerp(p, jnp.where(move[:, None], target, p), lam)
        return jnp.where(move[:, None], new, p)

    p = jax.lax.fori_loop(0, int(steps), step, p0)
    return RefineResult(p, _mask_classes(sphere.pairwise_cos(x, p), cm), sphere.distance(p0, p))


# --------------------------------------------------------------------------- composition


class MethodOutput(NamedTuple):
    """What a method returns.

    Attributes:
      scores: ``[N, K]`` scores to evaluate (``-inf`` outside the split).
      prototypes: ``[K, d]`` the prototypes the scores come from (moved by
        UPT and/or refinement; the input ones otherwise).
      prior: ``[K]`` class prior used by ``balanced`` / balanced refinement
        (uniform over the split otherwise).
      converged: ``[]`` bool, the balanced transport converged (True when
        there is none).
      n_iters: ``[]`` int32 Sinkhorn iterations of the balanced transport.
      upt: UPT's :class:`upt_jax.Diagnostics` when the method ran UPT
        (:func:`make_method`), else None.
    """

    scores: jax.Array
    prototypes: jax.Array
    prior: jax.Array
    converged: jax.Array
    n_iters: jax.Array
    upt: object = None


def scores_for(
    method: str | MethodConfig,
    prototypes: jax.Array,
    videos: jax.Array,
    hyper: MethodHyper | None = None,
    *,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
    prior: jax.Array | None = None,
) -> MethodOutput:
    """Apply a method's correction to given prototypes (no UPT here).

    For ``upt+X`` methods pass UPT's moved prototypes (or use
    :func:`make_method`, which runs UPT first); this function only applies X.

    Args:
      method: a name of :data:`METHODS` or a :class:`MethodConfig` (static).
      prototypes: ``[K, d]``; videos: ``[N, d]`` (normalised inside).
      hyper: traced :class:`MethodHyper`; ``None`` = the method's defaults.
      class_mask: optional ``[K]`` bool; video_mask: optional ``[N]`` bool.
      prior: ``[K]`` class weights, needed when the method's prior is ``"given"``.

    Returns:
      :class:`MethodOutput`.
    """
    cfg = method_config(method)
    hp = cfg.hyper() if hyper is None else hyper
    p = sphere.normalize(jnp.asarray(prototypes))
    x = sphere.normalize(jnp.asarray(videos))
    if p.ndim != 2 or x.ndim != 2 or p.shape[1] != x.shape[1]:
        raise UPTError(f"prototypes [K, d] and videos [N, d] must share d, got {list(p.shape)} and {list(x.shape)}")
    n, k = x.shape[0], p.shape[0]
    _check(jnp.zeros((n, k)), class_mask, video_mask)
    cm, vm = _masks((n, k), class_mask, video_mask)
    s = sphere.pairwise_cos(x, p)
    uses_prior = cfg.correction == "balanced" or (cfg.correction == "refine" and cfg.refine_balanced)
    if uses_prior:
        pi = _bias.class_prior(
            cfg.prior,
            k,
            class_mask=cm,
            prior=prior,
            scores=s,
            video_mask=vm,
            temperature=hp.prior_temperature,
            max_iter=cfg.prior_max_iter,
        ).astype(s.dtype)
    else:
        pi = _bias.class_prior("uniform", k, class_mask=cm).astype(s.dtype)
    true_ = jnp.asarray(True)
    zero = jnp.int32(0)
    c = cfg.correction
    if c == "none":
        return MethodOutput(_mask_classes(s, cm), p, pi, true_, zero)
    if c == "csls":
        return MethodOutput(csls(s, hp.csls_k, class_mask=cm, video_mask=vm), p, pi, true_, zero)
    if c == "inverted-softmax":
        return MethodOutput(inverted_softmax(s, hp.beta, class_mask=cm, video_mask=vm), p, pi, true_, zero)
    if c == "centre":
        return MethodOutput(centre(s, class_mask=cm, video_mask=vm), p, pi, true_, zero)
    if c == "balanced":
        res = balanced(
            s,
            prior=pi,
            epsilon=hp.epsilon,
            threshold=hp.threshold,
            class_mask=cm,
            video_mask=vm,
            solver=cfg.solver,
            max_iterations=cfg.sinkhorn_max_iter,
        )
        return MethodOutput(res.scores, p, pi, res.converged, res.n_iters)
    res = refine(
        p,
        x,
        steps=cfg.refine_steps,
        refine_lam=hp.refine_lam,
        temperature=hp.temperature,
        balanced_weights=cfg.refine_balanced,
        prior=pi,
        epsilon=hp.epsilon,
        threshold=hp.threshold,
        mean=cfg.refine_mean,
        frechet_max_iter=cfg.frechet_max_iter,
        frechet_tol=cfg.frechet_tol,
        solver=cfg.solver,
        max_iterations=cfg.sinkhorn_max_iter,
        class_mask=cm,
        video_mask=vm,
    )
    return MethodOutput(res.scores, res.prototypes, pi, true_, zero)


def make_method(method: str | MethodConfig, upt_config=None):
    """Close over a static method (and UPT config): the full pipeline.

    Returns ``run(prototypes, videos, key, hyper=None, upt_hyper=UPTHyper(),
    class_mask=None, video_mask=None, prior=None) -> MethodOutput`` (with
    ``MethodOutput.upt`` = UPT's diagnostics): UPT first
    when ``method.upt`` (with ``upt_config``, default :class:`upt_jax.UPTConfig`,
    PRNG ``key`` for its k-means, traced ``upt_hyper``), then the method's
    correction. ``jax.jit(make_method(...))`` compiles once per shape; vmap it
    over a leading split axis or over fields of ``hyper`` / ``upt_hyper``.

    Args:
      method: a name of :data:`METHODS` or a :class:`MethodConfig`.
      upt_config: static :class:`upt_jax.UPTConfig` for methods with UPT.

    Returns:
      The ``run`` function.
    """
    from upt_jax import api

    cfg = method_config(method)
    ucfg = api.UPTConfig() if upt_config is None else upt_config

    def run(prototypes, videos, key, hyper=None, upt_hyper=api.UPTHyper(), class_mask=None, video_mask=None, prior=None):
        p, diag = prototypes, None
        if cfg.upt:
            p, diag = api.upt(prototypes, videos, ucfg, key, upt_hyper, class_mask=class_mask, video_mask=video_mask)
        out = scores_for(cfg, p, videos, hyper, class_mask=class_mask, video_mask=video_mask, prior=prior)
        return out._replace(upt=diag)

    return run
