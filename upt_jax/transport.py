"""Optimal transport from class prototypes to test centres (UPT step 2).

The only module that imports OTT-JAX. Two solvers:

- ``"sinkhorn"``: OTT-JAX entropic Sinkhorn (log domain) on a dense cost.
  ``epsilon`` and ``threshold`` are traced (vmappable); ``max_iterations``,
  ``inner_iterations`` and ``lse_mode`` are static. A vmapped Sinkhorn runs
  until its slowest member converges.
- ``"emd"``: POT's exact network simplex (``ot.emd``), which is what the
  example code uses by default. It runs on the host through
  ``jax.pure_callback`` in float64, so it works inside ``jit`` and ``vmap``
  (sequentially) but cannot be differentiated. POT is an optional dependency.

Costs are ``1 - cos`` (the example code) or the geodesic angle, both divided
by their maximum over valid entries, as the example code does.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from upt_jax import sphere
from upt_jax.errors import MissingDependencyError

__all__ = ["Coupling", "cost_matrix", "couple", "sinkhorn", "emd", "require_pot"]


class Coupling(NamedTuple):
    """A transport plan and how it was obtained.

    Attributes:
      plan: ``[k, c]`` coupling; rows sum to ``a``, columns to ``b``.
      cost: ``[]`` transport cost ``<plan, cost_matrix>``.
      converged: ``[]`` bool.
      n_iters: ``[]`` int32 Sinkhorn iterations (0 for EMD).
      marginal_error: ``[]`` max absolute error of both marginals.
    """

    plan: jax.Array
    cost: jax.Array
    converged: jax.Array
    n_iters: jax.Array
    marginal_error: jax.Array


def cost_matrix(
    prototypes: jax.Array,
    centres: jax.Array,
    *,
    kind: str = "cosine",
    row_mask: jax.Array | None = None,
    col_mask: jax.Array | None = None,
) -> jax.Array:
    """Transport cost between unit prototypes and centres, divided by its max.

    Args:
      prototypes: ``[k, d]`` unit vectors; centres: ``[c, d]`` unit vectors.
      kind: ``"cosine"`` (``1 - cos``) or ``"geodesic"`` (angle in radians).
      row_mask, col_mask: optional ``[k]`` / ``[c]`` bool; the maximum is taken
        over valid entries only (padding does not change the scale).

    Returns:
      ``[k, c]`` costs in [0, 1] (up to the scale of masked entries).
    """
    cos = sphere.pairwise_cos(prototypes, centres)
    if kind == "cosine":
        m = 1.0 - cos
    elif kind == "geodesic":
        # accurate angle: 2 atan2(|x - y|, |x + y|) with |x -+ y|^2 = 2 -+ 2cos
        m = 2.0 * jnp.arctan2(jnp.sqrt(jnp.maximum(2.0 - 2.0 * cos, 0.0)), jnp.sqrt(jnp.maximum(2.0 + 2.0 * cos, 0.0)))
    else:
        raise ValueError(f"cost_matrix: kind must be 'cosine' or 'geodesic', got {kind!r}")
    valid = jnp.ones(m.shape, bool)
    if row_mask is not None:
        valid = valid & row_mask[:, None]
    if col_mask is not None:
        valid = valid & col_mask[None, :]
    mx = jnp.max(jnp.where(valid, m, 0.0))
    return m / jnp.where(mx > 0, mx, 1.0)


def sinkhorn(
    cost: jax.Array,
    a: jax.Array,
    b: jax.Array,
    *,
    epsilon: jax.Array = 1e-2,
    threshold: jax.Array = 1e-3,
    max_iterations: int = 2000,
    inner_iterations: int = 10,
    lse_mode: bool = True,
) -> Coupling:
    """Entropic OT with OTT-JAX's Sinkhorn on a dense cost.

    Args:
      cost: ``[k, c]`` cost matrix.
      a: ``[k]`` source masses, b: ``[c]`` target masses (each summing to 1;
        zeros allowed for padding).
      epsilon: entropic regularisation (absolute, on the given cost; traced).
      threshold: marginal-error tolerance (traced).
      max_iterations, inner_iterations, lse_mode: static solver settings.

    Returns:
      :class:`Coupling`.
    """
    from ott.geometry import geometry
    from ott.solvers.linear import sinkhorn as ott_sinkhorn

    geom = geometry.Geometry(cost_matrix=cost, epsilon=epsilon)
    solver = ott_sinkhorn.Sinkhorn(
        threshold=threshold,
        max_iterations=max_iterations,
        inner_iterations=inner_iterations,
        lse_mode=lse_mode,
    )
    out = solver(_linear_problem(geom, a, b))
    plan = out.matrix
    err = jnp.maximum(jnp.max(jnp.abs(plan.sum(1) - a)), jnp.max(jnp.abs(plan.sum(0) - b)))
    return Coupling(plan, jnp.sum(plan * cost), out.converged, jnp.asarray(out.n_iters, jnp.int32), err)


def _linear_problem(geom, a, b):
    from ott.problems.linear import linear_problem

    return linear_problem.LinearProblem(geom, a=a, b=b)


def require_pot():
    """Import POT or raise a clear error naming the install command."""
    try:
        import ot  # noqa: F401
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            "solver='emd' needs POT (Python Optimal Transport) for the exact network simplex; "
            "install it with `pip install POT` (or `pip install 'upt_jax[emd]'`), "
            "or use solver='sinkhorn'."
        ) from err
    return ot


def _emd_host(a, b, m, num_iter_max):
    """Exact EMD on the host in float64; zero-mass rows/columns are dropped."""
    import ot

    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    m = np.asarray(m, np.float64)
    plan = np.zeros(m.shape, np.float64)
    ri = np.flatnonzero(a > 0)
    ci = np.flatnonzero(b > 0)
    ok = True
    if ri.size and ci.size:
        aa = a[ri] / a[ri].sum()
        bb = b[ci] / b[ci].sum()
        sub, log = ot.emd(aa, bb, np.ascontiguousarray(m[np.ix_(ri, ci)]), numItermax=int(num_iter_max), log=True)
        plan[np.ix_(ri, ci)] = sub * a[ri].sum()
        ok = log.get("warning") is None and int(log.get("result_code", 1)) == 1
    return plan, np.asarray(ok)


def emd(cost: jax.Array, a: jax.Array, b: jax.Array, *, num_iter_max: int = 1_000_000) -> Coupling:
    """Exact optimal transport (POT's network simplex) through a host callback.

    Works under ``jit`` and ``vmap`` (the batch is solved sequentially on the
    host); not differentiable. Computed in float64 and cast back.

    Args:
      cost: ``[k, c]``; a: ``[k]``; b: ``[c]`` (zeros allowed).
      num_iter_max: network-simplex iteration cap (static).

    Returns:
      :class:`Coupling` with ``n_iters = 0``.
    """
    require_pot()
    shapes = (
        jax.ShapeDtypeStruct(cost.shape, cost.dtype),
        jax.ShapeDtypeStruct((), jnp.bool_),
    )

    def host(a_, b_, m_):
        plan, ok = _emd_host(a_, b_, m_, num_iter_max)
        return plan.astype(cost.dtype), ok

    plan, ok = jax.pure_callback(host, shapes, a, b, cost, vmap_method="sequential")
    err = jnp.maximum(jnp.max(jnp.abs(plan.sum(1) - a)), jnp.max(jnp.abs(plan.sum(0) - b)))
    return Coupling(plan, jnp.sum(plan * cost), ok, jnp.int32(0), err)


def couple(
    cost: jax.Array,
    a: jax.Array,
    b: jax.Array,
    *,
    solver: str = "sinkhorn",
    epsilon: jax.Array = 1e-2,
    threshold: jax.Array = 1e-3,
    max_iterations: int = 2000,
) -> Coupling:
    """Solve ``min <P, cost>`` s.t. ``P 1 = a, P^T 1 = b`` with the named solver.

    Args:
      cost: ``[k, c]``; a: ``[k]``; b: ``[c]``.
      solver: ``"sinkhorn"`` or ``"emd"`` (static).
      epsilon, threshold, max_iterations: Sinkhorn settings (ignored by EMD).

    Returns:
      :class:`Coupling`.
    """
    if solver == "sinkhorn":
        return sinkhorn(cost, a, b, epsilon=epsilon, threshold=threshold, max_iterations=max_iterations)
    if solver == "emd":
        return emd(cost, a, b)
    raise ValueError(f"couple: solver must be 'sinkhorn' or 'emd', got {solver!r}")
