"""Universal object model: object-based zero-shot scores, UPT for object
models, and fusion with the action model.

An object classifier gives every test video its average object probabilities
``p(o|v)`` (``object_probs [N, O]``). Each action ``a`` keeps the ``n``
objects most similar to its prototype, ``s(a, o) = cos(prototype_a,
object_o)``, and scores a video by

    score(v, a) = sum over the top-n objects o of a of  p(o|v) * w(a, o)

with ``w = s`` in the example code (raw cosine, no normalisation: its
``/ np.sum(...)`` is commented out; the object probabilities are used as
stored). Two switches change the weights (:class:`ObjectConfig`):
``normalize=True`` divides by the sum of the selected similarities, and
``weighting="softmax"`` uses ``softmax(s / temperature)`` over the selected
objects (already summing to one).

Efficiency: the weights form one dense ``[O, K]`` matrix with ``K * n``
non-zeros (12,988 x 101 float32 is 5 MB), and the scores are one matmul
``[N, O] x [O, K]``; no ``[N, K, O]`` or ``[N, K, n]`` tensor is built.
``ObjectConfig.chunk_size`` optionally splits the videos into chunks.

UPT for object models (``ObjectConfig.transport``):

- ``"paper"``: transport the action prototypes (uniform mass over unmasked
  classes) to the OBJECT prototypes, object masses = the average object
  probability over the (unmasked) test videos, renormalised (``object_mass=
  "top_union"`` keeps only the union of the unmasked actions' top-n objects,
  chosen with the ORIGINAL prototypes). Cost ``1 - cos`` (or the angle) over
  its maximum; the coupling, Frechet targets and geodesic update are those of
  :func:`upt_jax.api.transport_update` (the object prototypes play the
  centres). The moved prototypes then choose and weigh the objects.
- ``"example"``: the example code's variant: score objects with the action
  prototypes already moved by the action-model UPT (:func:`upt_jax.upt` or
  precomputed targets).
- ``"none"``: the original prototypes.

Fusion: ``f * action_score + (1 - f) * object_score`` where the action score
is ``cos(video, action prototype)`` (the example code's best: f = 0.5,
n = 10, half way). ``f``, ``lam``, ``epsilon`` and ``temperature`` are traced
(:class:`ObjectHyper`, vmappable); ``top_n`` and the switches are static.

Choices the paper leaves open (documented, switchable): which prototypes pick
the objects after the paper variant's update (the moved ones, as in the
example code's variant); object masses over all objects (default) or the top-n
union; objects with zero mass receive no transport.

Nothing here calls ``jax.jit``; :func:`object_report` is a host-side driver
that jits its pieces.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from upt_jax import api as _api
from upt_jax import cluster as _cluster
from upt_jax import metrics as _metrics
from upt_jax import sphere
from upt_jax.errors import UPTError, check_choices

__all__ = [
    "TRANSPORTS",
    "ObjectConfig",
    "ObjectHyper",
    "ObjectScores",
    "object_similarity",
    "select_objects",
    "object_weights",
    "weight_matrix",
    "object_scores",
    "action_scores",
    "fuse",
    "object_masses",
    "top_union_mask",
    "object_transport",
    "object_side_prototypes",
    "classify",
    "evaluate_scores",
    "example_code_slerp",
    "example_code_prototypes",
    "check_object_inputs",
    "object_report",
]

TRANSPORTS = ("paper", "example", "none")
_HI = jax.lax.Precision.HIGHEST


@dataclasses.dataclass(frozen=True)
class ObjectConfig:
    """Static configuration of the object model (hashable; one compile each).

    Attributes:
      top_n: objects kept per action (example code's ``-t``; its best: 10).
      normalize: divide the selected similarities by their sum (the example
        code has this commented out: ``False`` reproduces it).
      weighting: ``"cosine"`` (raw similarities, example code) or
        ``"softmax"`` (``softmax(s / temperature)`` over the selected objects;
        ``normalize`` is then moot).
      transport: ``"paper"``, ``"example"`` or ``"none"`` (module docstring).
      object_mass: ``"all"`` (average probability of every object) or
        ``"top_union"`` (only objects among some unmasked action's top-n).
      cost: ``"cosine"`` (``1 - cos``) or ``"geodesic"``, over its maximum.
      solver: ``"sinkhorn"`` (OTT-JAX) or ``"emd"`` (POT, host callback).
      sinkhorn_threshold, sinkhorn_max_iter: Sinkhorn settings.
      frechet, frechet_tol, frechet_max_iter: Karcher mean settings
        (:func:`upt_jax.sphere.frechet_mean`).
      chunk_size: ``> 0`` scores the videos in chunks of this many rows
        (a ``fori_loop``; each step copies a ``[chunk, O]`` slice, so keep
        it small); ``0`` = one matmul, whose only temporaries are ``[K, O]``
        (about 20 MB at O = 12,988, K = 101). Neither builds ``[N, K, O]``.
    """

    top_n: int = 10
    normalize: bool = False
    weighting: str = "cosine"
    transport: str = "paper"
    object_mass: str = "all"
    cost: str = "cosine"
    solver: str = "sinkhorn"
    sinkhorn_threshold: float = 1e-3
    sinkhorn_max_iter: int = 2000
    frechet: str = "converged"
    frechet_tol: float = 1e-6
    frechet_max_iter: int = 100
    chunk_size: int = 0

    def __post_init__(self):
        choices = {
            "weighting": ("cosine", "softmax"),
            "transport": TRANSPORTS,
            "object_mass": ("all", "top_union"),
            "cost": ("cosine", "geodesic"),
            "solver": ("sinkhorn", "emd"),
            "frechet": ("converged", "example"),
        }
        check_choices(self, choices)
        if int(self.top_n) < 1:
            raise UPTError(f"ObjectConfig.top_n must be >= 1 (objects per action), got {self.top_n}")
        if int(self.chunk_size) < 0:
            raise UPTError(f"ObjectConfig.chunk_size must be >= 0 (0 = no chunking), got {self.chunk_size}")
        for name in ("sinkhorn_max_iter", "frechet_max_iter"):
            if int(getattr(self, name)) < 1:
                raise UPTError(f"ObjectConfig.{name} must be >= 1, got {getattr(self, name)}")

    def replace(self, **changes) -> "ObjectConfig":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def upt_config(self) -> _api.UPTConfig:
        """The :class:`upt_jax.UPTConfig` used by the paper variant's transport."""
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

    @classmethod
    def example_code(cls, **changes) -> "ObjectConfig":
        """The example code's choices: n = 10, raw cosine, objects scored with
        the action-UPT prototypes, EMD."""
        return cls(top_n=10, normalize=False, weighting="cosine", transport="example", solver="emd").replace(**changes)


class ObjectHyper(NamedTuple):
    """Traced hyper-parameters of the object model (vmappable).

    Attributes:
      lam: fraction of the geodesic travelled by the paper variant's update
        (0 = baseline).
      epsilon: Sinkhorn regularisation on the max-normalised cost.
      threshold: Sinkhorn marginal tolerance (``None``: the config's).
      fusion: ``f`` in ``f * action + (1 - f) * object`` (1 = action only).
      temperature: softmax temperature (``weighting="softmax"`` only).
    """

    lam: jax.Array | float = 0.5
    epsilon: jax.Array | float = 1e-2
    threshold: jax.Array | float | None = None
    fusion: jax.Array | float = 0.5
    temperature: jax.Array | float = 0.1

    def upt_hyper(self) -> _api.UPTHyper:
        return _api.UPTHyper(lam=self.lam, epsilon=self.epsilon, threshold=self.threshold)


class ObjectScores(NamedTuple):
    """Scores of one run of :func:`classify` (all ``[N, K]``, masked classes
    at ``-inf``) and the prototypes that produced them.

    Attributes:
      action: ``cos(video, action prototype)``.
      object: object-based scores.
      fused: ``f * action + (1 - f) * object``.
      object_prototypes_used: ``[K, d]`` prototypes that chose the objects.
      diagnostics: :class:`upt_jax.api.Diagnostics` of the paper variant's
        transport, or ``None``.
    """

    action: jax.Array
    object: jax.Array
    fused: jax.Array
    object_prototypes_used: jax.Array
    diagnostics: Any


# ----------------------------------------------------------------- scoring


def object_similarity(prototypes: jax.Array, object_prototypes: jax.Array) -> jax.Array:
    """``s(a, o) = cos(prototype_a, object_o)``.

    Args:
      prototypes: ``[K, d]``; object_prototypes: ``[O, d]`` (normalised inside).

    Returns:
      ``[K, O]`` cosines.
    """
    return sphere.pairwise_cos(sphere.normalize(prototypes), sphere.normalize(object_prototypes))


def select_objects(prototypes: jax.Array, object_prototypes: jax.Array, top_n: int):
    """Each action's ``top_n`` most similar objects (``jax.lax.top_k``).

    Ties go to the lower object index. The example code sorts with
    ``np.argsort(...)[::-1]``, which breaks exact ties the other way; with
    float similarities exact ties do not occur in practice.

    Args:
      prototypes: ``[K, d]``; object_prototypes: ``[O, d]``.
      top_n: objects per action (static; at most O).

    Returns:
      ``(indices [K, n] int32, similarities [K, n])`` best first.
    """
    o = object_prototypes.shape[0]
    if top_n > o:
        raise UPTError(f"top_n={top_n} is larger than the number of objects (object_prototypes [{o}, d]); use top_n <= {o}")
    sim, idx = jax.lax.top_k(object_similarity(prototypes, object_prototypes), top_n)
    return idx.astype(jnp.int32), sim


def object_weights(
    prototypes: jax.Array,
    object_prototypes: jax.Array,
    config: ObjectConfig,
    temperature: jax.Array | float = 0.1,
):
    """Selected objects and their weights ``w(a, o)``.

    Args:
      prototypes: ``[K, d]``; object_prototypes: ``[O, d]``.
      config: static :class:`ObjectConfig` (``top_n``, ``normalize``,
        ``weighting``).
      temperature: traced softmax temperature (``weighting="softmax"``).

    Returns:
      ``(indices [K, n] int32, weights [K, n])``.
    """
    idx, sim = select_objects(prototypes, object_prototypes, config.top_n)
    if config.weighting == "softmax":
        t = jnp.asarray(temperature, sim.dtype)
        return idx, jax.nn.softmax(sim / t, axis=-1)
    if config.normalize:
        tot = jnp.sum(sim, axis=-1, keepdims=True)
        sim = sim / jnp.where(jnp.abs(tot) > 0, tot, 1.0)
    return idx, sim


def weight_matrix(indices: jax.Array, weights: jax.Array, n_objects: int) -> jax.Array:
    """Scatter per-action object weights into a dense ``[O, K]`` matrix.

    Args:
      indices: ``[K, n]`` int object indices (distinct per row).
      weights: ``[K, n]`` weights.
      n_objects: O (static).

    Returns:
      ``[O, K]`` matrix with ``K * n`` non-zeros: ``W[o, a] = w(a, o)``.
    """
    k = indices.shape[0]
    cols = jnp.broadcast_to(jnp.arange(k, dtype=jnp.int32)[:, None], indices.shape)
    return jnp.zeros((n_objects, k), weights.dtype).at[indices, cols].add(weights)


def _chunked_matmul(x: jax.Array, w: jax.Array, chunk: int) -> jax.Array:
    """``x @ w`` over row chunks of ``x`` without padding (the last chunk is
    shifted back to end at row N; overlapping rows are written twice with the
    same values)."""
    n = x.shape[0]
    if chunk <= 0 or chunk >= n:
        return jnp.matmul(x, w, precision=_HI)
    n_chunks = -(-n // chunk)
    out = jnp.zeros((n, w.shape[1]), jnp.result_type(x.dtype, w.dtype))

    def body(i, acc):
        start = jnp.minimum(i * chunk, n - chunk)
        rows = jax.lax.dynamic_slice_in_dim(x, start, chunk, axis=0)
        return jax.lax.dynamic_update_slice_in_dim(acc, jnp.matmul(rows, w, precision=_HI), start, axis=0)

    return jax.lax.fori_loop(0, n_chunks, body, out)


def _mask_classes(s: jax.Array, class_mask: jax.Array | None) -> jax.Array:
    if class_mask is None:
        return s
    return jnp.where(class_mask.astype(bool)[None, :], s, -jnp.inf)


def object_scores(
    object_probs: jax.Array,
    prototypes: jax.Array,
    object_prototypes: jax.Array,
    config: ObjectConfig = ObjectConfig(),
    temperature: jax.Array | float = 0.1,
    class_mask: jax.Array | None = None,
) -> jax.Array:
    """Object-based zero-shot scores ``sum_{o in top-n(a)} p(o|v) w(a, o)``.

    Args:
      object_probs: ``[N, O]`` per-video object probabilities (used as given).
      prototypes: ``[K, d]`` action prototypes that choose and weigh objects.
      object_prototypes: ``[O, d]`` object prototypes.
      config: static :class:`ObjectConfig`.
      temperature: traced softmax temperature.
      class_mask: optional ``[K]`` bool; masked classes score ``-inf``.

    Returns:
      ``[N, K]`` scores (one ``[N, O] x [O, K]`` matmul, or chunks of it).
    """
    idx, w = object_weights(prototypes, object_prototypes, config, temperature)
    wm = weight_matrix(idx, w.astype(object_probs.dtype), object_prototypes.shape[0])
    return _mask_classes(_chunked_matmul(object_probs, wm, int(config.chunk_size)), class_mask)


def action_scores(prototypes: jax.Array, videos: jax.Array, class_mask: jax.Array | None = None) -> jax.Array:
    """``cos(video, prototype)``: ``[N, K]`` (masked classes ``-inf``)."""
    return _metrics.scores(prototypes, videos, class_mask)


def fuse(action: jax.Array, obj: jax.Array, fusion: jax.Array | float, class_mask: jax.Array | None = None) -> jax.Array:
    """``f * action + (1 - f) * object``.

    Args:
      action, obj: ``[N, K]`` scores (unmasked entries finite).
      fusion: traced ``f`` (1 = action only, 0 = objects only).
      class_mask: optional ``[K]`` bool, applied after fusing (so ``f = 1``
        with ``-inf`` entries gives ``-inf``, never NaN).

    Returns:
      ``[N, K]`` fused scores.
    """
    f = jnp.asarray(fusion, action.dtype)
    a = jnp.where(jnp.isfinite(action), action, 0.0)
    o = jnp.where(jnp.isfinite(obj), obj, 0.0)
    return _mask_classes(f * a + (1.0 - f) * o, class_mask)


# --------------------------------------------------------------- transport


def object_masses(object_probs: jax.Array, video_mask: jax.Array | None = None) -> jax.Array:
    """Average object probability over the (unmasked) test videos, summing to 1.

    Args:
      object_probs: ``[N, O]``; video_mask: optional ``[N]`` bool.

    Returns:
      ``[O]`` masses (a ``[N] x [N, O]`` product, no ``[N, O]`` temporary).
    """
    n = object_probs.shape[0]
    vm = jnp.ones((n,), object_probs.dtype) if video_mask is None else video_mask.astype(object_probs.dtype)
    m = jnp.maximum(jnp.matmul(vm, object_probs, precision=_HI), 0.0)
    return m / jnp.maximum(jnp.sum(m), 1e-30)


def top_union_mask(
    prototypes: jax.Array, object_prototypes: jax.Array, top_n: int, class_mask: jax.Array | None = None
) -> jax.Array:
    """``[O]`` bool: objects among the top-n of some unmasked action."""
    idx, _ = select_objects(prototypes, object_prototypes, top_n)
    k = prototypes.shape[0]
    cm = jnp.ones((k,), bool) if class_mask is None else class_mask.astype(bool)
    hits = jnp.zeros((object_prototypes.shape[0],), jnp.int32).at[idx].add(jnp.broadcast_to(cm[:, None], idx.shape).astype(jnp.int32))
    return hits > 0


def object_transport(
    prototypes: jax.Array,
    object_prototypes: jax.Array,
    object_probs: jax.Array,
    config: ObjectConfig = ObjectConfig(),
    hyper: ObjectHyper = ObjectHyper(),
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
):
    """The paper's UPT for object models.

    Source: the unmasked action prototypes, uniform mass. Target: the object
    prototypes with masses :func:`object_masses` (optionally restricted to
    :func:`top_union_mask`). Then coupling, weighted Frechet means of the
    object prototypes and ``slerp(prototype, target, lam)`` as in
    :func:`upt_jax.api.transport_update`.

    Args:
      prototypes: ``[K, d]`` action prototypes.
      object_prototypes: ``[O, d]``.
      object_probs: ``[N, O]`` test videos' object probabilities.
      config: static :class:`ObjectConfig`.
      hyper: traced :class:`ObjectHyper` (``lam``, ``epsilon``, ``threshold``).
      class_mask: optional ``[K]`` bool; video_mask: optional ``[N]`` bool.

    Returns:
      ``(new_prototypes [K, d], upt_jax.api.Diagnostics)``; the diagnostics'
      ``centres.points`` are the normalised object prototypes and
      ``centres.mass`` the object masses; ``coupling`` is ``[K, O]``.
    """
    p = sphere.normalize(prototypes)
    obj = sphere.normalize(object_prototypes)
    mass = object_masses(object_probs, video_mask).astype(p.dtype)
    if config.object_mass == "top_union":
        mass = jnp.where(top_union_mask(p, obj, config.top_n, class_mask), mass, 0.0)
        mass = mass / jnp.maximum(jnp.sum(mass), 1e-30)
    mask = mass > 0
    centres = _cluster.Centres(
        points=obj,
        mass=mass,
        sizes=mass,
        mask=mask,
        assignment=jnp.zeros((0,), jnp.int32),
        inertia=jnp.zeros((), p.dtype),
        kmeans_iters=jnp.int32(0),
    )
    return _api.transport_update(p, centres, config.upt_config(), hyper.upt_hyper(), class_mask)


def object_side_prototypes(
    prototypes: jax.Array,
    object_prototypes: jax.Array,
    object_probs: jax.Array,
    config: ObjectConfig,
    hyper: ObjectHyper = ObjectHyper(),
    *,
    action_moved: jax.Array | None = None,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
):
    """The prototypes that choose and weigh the objects, per ``config.transport``.

    Args:
      prototypes: ``[K, d]`` original action prototypes.
      object_prototypes: ``[O, d]``; object_probs: ``[N, O]``.
      config, hyper: see :class:`ObjectConfig`, :class:`ObjectHyper`.
      action_moved: ``[K, d]`` prototypes moved by the action-model UPT
        (required by ``"example"``).
      class_mask, video_mask: optional masks.

    Returns:
      ``(prototypes [K, d], Diagnostics or None)``.
    """
    if config.transport == "none":
        return sphere.normalize(prototypes), None
    if config.transport == "example":
        if action_moved is None:
            raise UPTError(
                "ObjectConfig.transport='example' scores objects with the prototypes moved by the action-model "
                "UPT: pass action_moved=[K, d] (e.g. upt_jax.upt(...)[0]), or use transport='paper'/'none'"
            )
        return sphere.normalize(action_moved), None
    return object_transport(prototypes, object_prototypes, object_probs, config, hyper, class_mask, video_mask)


def classify(
    prototypes: jax.Array,
    videos: jax.Array,
    object_prototypes: jax.Array,
    object_probs: jax.Array,
    config: ObjectConfig = ObjectConfig(),
    hyper: ObjectHyper = ObjectHyper(),
    *,
    action_moved: jax.Array | None = None,
    class_mask: jax.Array | None = None,
    video_mask: jax.Array | None = None,
) -> ObjectScores:
    """Action, object and fused scores in one pure call.

    The action score uses ``action_moved`` when given (action-model UPT),
    else ``prototypes``; the object score uses
    :func:`object_side_prototypes`.

    Args:
      prototypes: ``[K, d]``; videos: ``[N, d]``; object_prototypes: ``[O, d]``;
      object_probs: ``[N, O]``.
      config: static; hyper: traced (``fusion``, ``lam``, ``temperature``...).
      action_moved: optional ``[K, d]`` prototypes after action-model UPT.
      class_mask: optional ``[K]``; video_mask: optional ``[N]`` (used by the
        object masses; metrics take it separately).

    Returns:
      :class:`ObjectScores`.
    """
    check_object_inputs(prototypes, videos, object_prototypes, object_probs, config)
    act_protos = prototypes if action_moved is None else action_moved
    a = action_scores(act_protos, videos)
    op, diag = object_side_prototypes(
        prototypes,
        object_prototypes,
        object_probs,
        config,
        hyper,
        action_moved=action_moved,
        class_mask=class_mask,
        video_mask=video_mask,
    )
    o = object_scores(object_probs, op, object_prototypes, config, hyper.temperature)
    fused = fuse(a, o, hyper.fusion, class_mask)
    return ObjectScores(_mask_classes(a, class_mask), _mask_classes(o, class_mask), fused, op, diag)


# ------------------------------------------------------------------ metrics


#: Metrics of any score matrix: the same function as
#: :func:`upt_jax.metrics.evaluate_scores` (kept here for convenience).
evaluate_scores = _metrics.evaluate_scores


# ------------------------------------------------------ example-code helpers


def example_code_slerp(p1: jax.Array, p2: jax.Array, t: jax.Array | float) -> jax.Array:
    """The example code's ``slerp`` exactly, row-wise, on RAW vectors.

    ``omega = arccos(clip(<p1, p2>, -0.99999, 0.99999))`` and
    ``sin(t omega)/sin(omega) p1 + sin((1 - t) omega)/sin(omega) p2``: it
    returns ``p1`` at ``t = 1`` and ``p2`` at ``t = 0``, and the example code
    applies it BEFORE L2 normalisation (so for non-unit vectors it is not a
    true slerp). ``t`` is the example code's ``-l``; for unit vectors it
    equals :func:`upt_jax.sphere.slerp` with ``lam = 1 - t``.

    Args:
      p1, p2: ``[..., d]``; t: scalar or ``[...]``.

    Returns:
      ``[..., d]`` (not normalised).
    """
    t = jnp.asarray(t, p1.dtype)[..., None]
    om = jnp.arccos(jnp.clip(jnp.sum(p1 * p2, axis=-1, keepdims=True), -0.99999, 0.99999))
    so = jnp.sin(om)
    return jnp.sin(t * om) / so * p1 + jnp.sin((1.0 - t) * om) / so * p2


def example_code_prototypes(prototypes: jax.Array, targets: jax.Array, ilambda: jax.Array | float) -> jax.Array:
    """Prototypes as the example code moves them with precomputed targets
    (its ``ot/`` file and ``-l``): :func:`example_code_slerp` on the raw
    vectors, then L2 normalisation. ``[K, d]`` -> ``[K, d]``."""
    return sphere.normalize(example_code_slerp(prototypes, targets, ilambda))


# ------------------------------------------------------------------ checks


def check_object_inputs(prototypes, videos, object_prototypes, object_probs, config: ObjectConfig | None = None) -> None:
    """Shape checks (always) and value checks (when concrete); raise UPTError."""
    ps, vs = tuple(np.shape(prototypes)), tuple(np.shape(videos))
    os_, pr = tuple(np.shape(object_prototypes)), tuple(np.shape(object_probs))
    if len(ps) != 2 or len(os_) != 2:
        raise UPTError(f"prototypes {list(ps)} and object_prototypes {list(os_)} must be [K, d] and [O, d] matrices")
    if ps[1] != os_[1]:
        raise UPTError(
            f"dimension mismatch: prototypes {list(ps)} vs object_prototypes {list(os_)}; object names must be "
            "embedded with the same text encoder as the class names"
        )
    if len(vs) != 2 or vs[1] != ps[1]:
        raise UPTError(f"videos must be [N, {ps[1]}] like prototypes {list(ps)}, got {list(vs)}")
    if pr != (vs[0], os_[0]):
        raise UPTError(
            f"object_probs must be [N, O] = [{vs[0]}, {os_[0]}] (videos x objects), got {list(pr)}; "
            "one row of object probabilities per video, one column per object prototype"
        )
    if config is not None and config.top_n > os_[0]:
        raise UPTError(f"ObjectConfig.top_n={config.top_n} exceeds the {os_[0]} objects (object_prototypes {list(os_)})")
    if not isinstance(object_probs, jax.core.Tracer):
        a = np.asarray(object_probs)
        if a.size and not np.all(np.isfinite(a)):
            raise UPTError(f"object_probs {list(pr)} contains NaN or Inf; fix those videos' object scores")


# ------------------------------------------------------------------ report


def _get(ds, name):
    if isinstance(ds, dict):
        return ds.get(name)
    return getattr(ds, name, None)


def object_report(
    dataset,
    upt_config: _api.UPTConfig,
    object_config: ObjectConfig,
    key: jax.Array,
    hyper: ObjectHyper = ObjectHyper(),
    *,
    class_mask=None,
    video_mask=None,
    action_moved=None,
) -> dict[str, dict]:
    """Action, object and fused models, each without and with UPT (host driver).

    Args:
      dataset: anything with ``prototypes [K, d]``, ``videos [N, d]``,
        ``labels [N]``, ``object_prototypes [O, d]``, ``object_probs [N, O]``
        (attributes or dict keys), e.g. :class:`upt_jax.data.Dataset`;
        optional ``class_names``.
      upt_config: action-model :class:`upt_jax.UPTConfig`.
      object_config: :class:`ObjectConfig` (its ``transport`` is ignored: all
        three variants are reported).
      key: PRNG key for the action-model k-means.
      hyper: :class:`ObjectHyper` (``lam`` is used by both transports).
      class_mask, video_mask: optional split masks.
      action_moved: optional ``[K, d]`` prototypes already moved by the
        action-model UPT (skips recomputing it, k-means included).

    Returns:
      ``{row name: metrics.summarize(...) dict}`` with rows ``action``,
      ``action+upt``, ``object``, ``object+upt_paper``, ``object+upt_example``,
      ``fused``, ``fused+upt_paper`` (action UPT + paper object UPT),
      ``fused+upt_example`` (action UPT prototypes for both).
    """
    protos = jnp.asarray(_get(dataset, "prototypes"), jnp.float32)
    videos = jnp.asarray(_get(dataset, "videos"), jnp.float32)
    labels = jnp.asarray(_get(dataset, "labels"), jnp.int32)
    oprotos = _get(dataset, "object_prototypes")
    oprobs = _get(dataset, "object_probs")
    if oprotos is None or oprobs is None:
        raise UPTError(
            "object_report needs object_prototypes [O, d] and object_probs [N, O]; load the dataset with "
            "load_objects=True (official layout) or generate a world with objects"
        )
    oprotos = jnp.asarray(oprotos, jnp.float32)
    oprobs = jnp.asarray(oprobs, jnp.float32)
    names = _get(dataset, "class_names")
    cm = None if class_mask is None else jnp.asarray(class_mask, bool)
    vm = None if video_mask is None else jnp.asarray(video_mask, bool)
    check_object_inputs(protos, videos, oprotos, oprobs, object_config)

    if action_moved is None:
        run_upt = jax.jit(_api.make_upt(upt_config))
        moved, _ = run_upt(protos, videos, key, hyper.upt_hyper(), cm, vm)
    else:
        moved = jnp.asarray(action_moved, jnp.float32)

    def scores_for(transport, with_action_upt):
        cfg = object_config.replace(transport=transport)

        def f(p, v, op, pr, am, h, c, m):
            return classify(p, v, op, pr, cfg, h, action_moved=am, class_mask=c, video_mask=m)

        am = moved if (with_action_upt or transport == "example") else None
        return jax.jit(f)(protos, videos, oprotos, oprobs, am, hyper, cm, vm)

    ev = jax.jit(lambda s, lab, c, m: evaluate_scores(s, lab, class_mask=c, video_mask=m))

    def row(s):
        return _metrics.summarize(ev(s, labels, cm, vm), names)

    base = scores_for("none", False)
    paper = scores_for("paper", True)
    example = scores_for("example", True)
    return {
        "action": row(base.action),
        "action+upt": row(example.action),
        "object": row(base.object),
        "object+upt_paper": row(paper.object),
        "object+upt_example": row(example.object),
        "fused": row(base.fused),
        "fused+upt_paper": row(paper.fused),
        "fused+upt_example": row(example.fused),
    }
