"""UPT for localization (step 5): action prototypes -> object prototypes.

Source: the A action prototypes, uniform mass. Target: the O object
prototypes with mass ``m_o`` = the mean over all test frames of the highest
class-``o`` box score in the frame (0 when the frame has none), normalised to
sum 1. Coupling, weighted Frechet means of the object prototypes (weights =
the coupling row) and ``a' = slerp(a, target, lam)`` are those of
:func:`upt_jax.api.transport_update`: the object prototypes and their masses
are passed to it as the target set (:class:`upt_jax.cluster.Centres`), so
there is one transport in upt_jax. Objects that are never detected get no
mass and receive nothing. ``lam = 0`` returns the original (normalised)
prototypes bit for bit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from upt_jax import api as _api
from upt_jax import cluster as _cluster
from upt_jax import sphere

__all__ = ["frame_object_max", "object_masses", "object_centres", "transport_actions"]


def frame_object_max(object_labels, object_scores, object_mask, n_objects: int) -> jax.Array:
    """Highest class-``o`` box score per frame (0 when none).

    Args:
      object_labels: ``[..., T, Q]`` int; object_scores: ``[..., T, Q]``;
        object_mask: ``[..., T, Q]`` bool.
      n_objects: O (static).

    Returns:
      ``[..., T, O]`` (negative scores count as 0).
    """
    onehot = object_labels[..., None] == jnp.arange(n_objects)[None, :]
    vals = jnp.where(onehot & object_mask.astype(bool)[..., None], jnp.maximum(object_scores, 0.0)[..., None], 0.0)
    return jnp.max(vals, axis=-2)


def object_masses(object_labels, object_scores, object_mask, frame_mask, n_objects: int) -> jax.Array:
    """``m_o`` over all test frames, normalised to sum 1.

    Args:
      object_labels, object_scores, object_mask: ``[V, T, Q]``.
      frame_mask: ``[V, T]`` bool, real frames (``t < n_frames`` of real videos).
      n_objects: O (static).

    Returns:
      ``[O]`` masses (all zero when nothing is detected). Computed one video
      at a time (``lax.map``), never as a ``[V, T, Q, O]`` tensor.
    """
    def one(x):
        lab, sc, om, fm = x
        return jnp.sum(jnp.where(fm[:, None], frame_object_max(lab, sc, om, n_objects), 0.0), axis=0)

    per_video = jax.lax.map(one, (object_labels, object_scores, object_mask, frame_mask.astype(bool)))
    tot = jnp.sum(per_video, axis=0) / jnp.maximum(jnp.sum(frame_mask), 1).astype(per_video.dtype)
    return tot / jnp.maximum(jnp.sum(tot), 1e-30)


def object_centres(object_prototypes: jax.Array, masses: jax.Array) -> _cluster.Centres:
    """The object prototypes as UPT's target set (``[O, d]``, ``[O]`` -> Centres)."""
    pts = sphere.normalize(object_prototypes)
    m = masses.astype(pts.dtype)
    return _cluster.Centres(
        points=pts,
        mass=m,
        sizes=m,
        mask=m > 0,
        assignment=jnp.zeros((0,), jnp.int32),
        inertia=jnp.zeros((), pts.dtype),
        kmeans_iters=jnp.int32(0),
    )


def transport_actions(prototypes, object_prototypes, masses, upt_config: _api.UPTConfig, hyper: _api.UPTHyper):
    """Move the action prototypes toward the detected objects.

    Args:
      prototypes: ``[A, d]``; object_prototypes: ``[O, d]``; masses: ``[O]``.
      upt_config: static :class:`upt_jax.UPTConfig` (``n_clusters`` is not
        used; cost, solver, Frechet settings are).
      hyper: traced :class:`upt_jax.UPTHyper` (``lam``, ``epsilon``, ``threshold``).

    Returns:
      ``(new_prototypes [A, d], upt_jax.api.Diagnostics)``.
    """
    p = sphere.normalize(prototypes)
    new, diag = _api.transport_update(p, object_centres(object_prototypes, masses), upt_config, hyper)
    lam = jnp.asarray(hyper.lam, p.dtype)
    return jnp.where(lam == 0, p, new), diag
