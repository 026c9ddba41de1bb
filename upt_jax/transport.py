"""Optimal transport from class prototypes to test centres (UPT step 2).

The only module that imports OTT-JAX. Two solvers:

- ``"sinkhorn"``: OTT-JAX entropic Sinkhorn (log domain) on a dense cost.
  ``epsilon`` and ``threshold`` are traced (vmappable); ``max_iterations``,
  ``inner_iterations``, ``lse_mode`` and the marginal relaxations ``tau_a``,
  ``tau_b`` are static (OTT-JAX branches on them in Python: they cannot be
  vmapped). A vmapped Sinkhorn runs until its slowest member converges.
  Differentiable by implicit differentiation of the optimality conditions of
  the converged plan (not the unrolled loop), balanced or unbalanced; the
  linear system is solved on the rows and columns that carry mass, so masked
  classes and videos (zero masses) are fine.
- ``"emd"``: POT's exact network simplex (``ot.emd``), which is what the
  example code uses by default. It runs on the host through
  ``jax.pure_callback`` in float64, so it works inside ``jit`` and ``vmap``
  (sequentially) but cannot be differentiated: asking for a derivative of
  its plan raises :class:`~upt_jax.errors.UPTError` (use ``"sinkhorn"``).
  POT is an optional dependency.

Iteration counts: OTT checks the marginal error every ``inner_iterations``
steps and its loop runs whole blocks, so with a cap that is not a multiple
of the block it would run past the cap. :func:`sinkhorn` therefore uses the
largest block size ``<= inner_iterations`` that divides ``max_iterations``:
the cap is exact and ``Coupling.n_iters`` (the Sinkhorn iterations actually
done) never exceeds it.

Unbalanced transport (``tau_a < 1`` or ``tau_b < 1``, OTT-JAX's convention:
``tau = rho / (rho + epsilon)``, 1.0 = balanced) replaces the marginal
constraint on that side by a penalty ``rho KL(P 1 | a)`` (``rho KL(P^T 1 |
b)``): mass may be created or destroyed where moving it costs more than the
penalty. At the solution the row marginal is ``r = a exp(-f / rho_a)``
(``f`` the row potential); :attr:`Coupling.marginal_error` measures the
violation of that relaxed condition, not the distance to ``a``. Exact EMD is
balanced only.

Costs (:func:`raw_cost`, the one cost formula of upt_jax, also used by the
chunked path of :mod:`upt_jax.scale`) are ``1 - cos`` (the example code) or
the geodesic angle, both divided by their maximum over valid entries, as the
example code does.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from upt_jax import sphere
from upt_jax.errors import MissingDependencyError, UPTError

__all__ = [
    "Coupling",
    "raw_cost",
    "cost_matrix",
    "couple",
    "sinkhorn",
    "emd",
    "require_pot",
    "check_interval",
    "check_tau",
]

COST_KINDS = ("cosine", "geodesic")


class Coupling(NamedTuple):
    """A transport plan and how it was obtained.

    Attributes:
      plan: ``[k, c]`` coupling; rows sum to ``a``, columns to ``b``.
      cost: ``[]`` transport cost ``<plan, cost_matrix>``.
      converged: ``[]`` bool (Sinkhorn: marginal error below the threshold
        within the cap; EMD: POT's network simplex reported an optimum).
      n_iters: ``[]`` int32 Sinkhorn iterations actually done, at most the
        cap (0 for EMD).
      marginal_error: ``[]`` max absolute error of both marginal conditions:
        ``|P 1 - a|`` and ``|P^T 1 - b|`` (balanced); with a relaxed side,
        ``|P 1 - a exp(-f / rho_a)|`` there (the condition the unbalanced
        solution satisfies; ``P 1`` itself may differ from ``a`` by design).
    """

    plan: jax.Array
    cost: jax.Array
    converged: jax.Array
    n_iters: jax.Array
    marginal_error: jax.Array


def raw_cost(
    prototypes: jax.Array,
    points: jax.Array,
    kind: str = "cosine",
    precision=jax.lax.Precision.HIGHEST,
) -> jax.Array:
    """Unnormalised transport cost between unit vectors (the one cost formula).

    ``"cosine"``: ``1 - cos``. ``"geodesic"``: the angle
    ``2 atan2(|x - y|, |x + y|)`` with ``|x -+ y|^2 = 2 -+ 2 cos``, through a
    square root whose derivative stays finite at 0 (a prototype equal to a
    point); there the derivative of the angle, undefined, is set to 0.

    Args:
      prototypes: ``[k, d]`` unit vectors; points: ``[c, d]`` unit vectors.
      kind: ``"cosine"`` or ``"geodesic"`` (static).
      precision: matmul precision (HIGHEST by default).

    Returns:
      ``[k, c]`` costs, dtype of the inputs.
    """
    cos = sphere.pairwise_cos(prototypes, points, precision=precision)
    if kind == "cosine":
        return 1.0 - cos
    if kind == "geodesic":
        return 2.0 * jnp.arctan2(_safe_sqrt(2.0 - 2.0 * cos), _safe_sqrt(2.0 + 2.0 * cos))
    raise UPTError(f"cost kind must be one of {COST_KINDS}, got {kind!r}")


def _safe_sqrt(x):
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


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
    m = raw_cost(prototypes, centres, kind)
    valid = jnp.ones(m.shape, bool)
    if row_mask is not None:
        valid = valid & row_mask[:, None]
    if col_mask is not None:
        valid = valid & col_mask[None, :]
    mx = jnp.max(jnp.where(valid, m, 0.0))
    return m / jnp.where(mx > 0, mx, 1.0)


def check_interval(max_iterations: int, inner_iterations: int = 10) -> int:
    """Sinkhorn error-check interval: the largest divisor of the cap ``<= inner_iterations``.

    OTT runs whole blocks of ``inner_iterations`` steps; a divisor keeps the
    number of iterations at most ``max_iterations`` (2000 -> 10, 5 -> 5,
    25 -> 5; a prime cap above 10 checks every step).
    """
    max_iterations = int(max_iterations)
    if max_iterations < 1:
        raise UPTError(f"Sinkhorn max_iterations must be >= 1, got {max_iterations}")
    for step in range(min(int(inner_iterations), max_iterations), 0, -1):
        if max_iterations % step == 0:
            return step
    return 1


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
    tau_a: float = 1.0,
    tau_b: float = 1.0,
) -> Coupling:
    """Entropic OT with OTT-JAX's Sinkhorn on a dense cost (balanced or KL-relaxed).

    Differentiable with respect to ``cost``, ``a``, ``b`` and ``epsilon`` by
    implicit differentiation of the optimality conditions of the converged
    plan (:func:`_sinkhorn_plan_bwd`), for balanced and unbalanced problems;
    rows and columns without mass (masks, padding) are left out of the linear
    system, where OTT-JAX's own implicit differentiation divides by their
    zero marginals.

    Args:
      cost: ``[k, c]`` cost matrix.
      a: ``[k]`` source masses, b: ``[c]`` target masses (each summing to 1;
        zeros allowed for padding).
      epsilon: entropic regularisation (absolute, on the given cost; traced).
      threshold: tolerance on the L1 marginal error (traced), > 0.
      max_iterations: iteration cap (static), exact (see the module notes).
      inner_iterations: the marginal error is checked every this many steps
        at most (static; lowered to a divisor of the cap).
      lse_mode: log-domain updates (static).
      tau_a, tau_b: marginal relaxations in (0, 1] (static; OTT-JAX's
        convention ``tau = rho / (rho + epsilon)``): 1.0 = the marginal is a
        constraint (balanced), smaller = a KL penalty of strength
        ``rho = epsilon tau / (1 - tau)``.

    Returns:
      :class:`Coupling`.
    """
    tau_a, tau_b = check_tau(tau_a, "tau_a"), check_tau(tau_b, "tau_b")
    dtype = cost.dtype
    a, b = a.astype(dtype), b.astype(dtype)
    eps = jnp.asarray(epsilon, dtype)
    plan, converged, n_iters, f, g = _sinkhorn_plan(
        cost, a, b, eps, jnp.asarray(threshold, dtype),
        int(max_iterations), check_interval(max_iterations, inner_iterations), bool(lse_mode), tau_a, tau_b,
    )
    target_a = _relaxed_marginal(a, jax.lax.stop_gradient(f), eps, tau_a)
    target_b = _relaxed_marginal(b, jax.lax.stop_gradient(g), eps, tau_b)
    err = jnp.maximum(jnp.max(jnp.abs(plan.sum(1) - target_a)), jnp.max(jnp.abs(plan.sum(0) - target_b)))
    return Coupling(plan, jnp.sum(plan * cost), converged, n_iters, err)


def check_tau(tau, name: str = "tau") -> float:
    """A marginal relaxation as a Python float in (0, 1]; raises :class:`UPTError` otherwise."""
    try:
        t = float(tau)
    except Exception:  # a tracer, an array of several values, a string
        raise UPTError(
            f"{name} must be a Python number in (0, 1] (static: OTT-JAX branches on it, so it cannot be traced or "
            f"vmapped), got {type(tau).__name__}; loop over its values in Python (one compilation each)"
        ) from None
    if not (np.isfinite(t) and 0.0 < t <= 1.0):
        raise UPTError(f"{name} must lie in (0, 1] (1.0 = balanced marginal; OTT-JAX's rho / (rho + epsilon)), got {tau}")
    return t


def _relaxed_marginal(mass, potential, epsilon, tau: float):
    """The marginal an unbalanced solution satisfies, ``mass exp(-potential / rho)``; ``mass`` when balanced."""
    if tau == 1.0:
        return mass
    kappa = (1.0 - tau) / tau  # epsilon / rho
    live = mass > 0
    expo = jnp.where(live, -potential * kappa / epsilon, 0.0)
    return jnp.where(live, mass * jnp.exp(expo), 0.0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6, 7, 8, 9))
def _sinkhorn_plan(cost, a, b, epsilon, threshold, max_iterations, inner_iterations, lse_mode, tau_a, tau_b):
    from ott.geometry import geometry
    from ott.solvers.linear import sinkhorn as ott_sinkhorn

    geom = geometry.Geometry(cost_matrix=cost, epsilon=epsilon)
    solver = ott_sinkhorn.Sinkhorn(
        threshold=threshold,
        max_iterations=max_iterations,
        inner_iterations=inner_iterations,
        lse_mode=lse_mode,
        implicit_diff=None,  # differentiated by _sinkhorn_plan_bwd
    )
    out = solver(_linear_problem(geom, a, b, tau_a, tau_b))
    # the potentials are returned for the diagnostics only (no gradient flows through them)
    return out.matrix, out.converged, jnp.asarray(out.n_iters, jnp.int32), out.f, out.g


def _sinkhorn_plan_fwd(cost, a, b, epsilon, threshold, max_iterations, inner_iterations, lse_mode, tau_a, tau_b):
    out = _sinkhorn_plan(cost, a, b, epsilon, threshold, max_iterations, inner_iterations, lse_mode, tau_a, tau_b)
    return out, (out[0], a, b, epsilon, threshold)


def _sinkhorn_plan_bwd(max_iterations, inner_iterations, lse_mode, tau_a, tau_b, saved, ct):
    """Implicit VJP of the entropic plan ``P = exp((f + g - C) / eps)``, balanced or KL-relaxed.

    Optimality conditions, with ``r = P 1``, ``s = P^T 1`` and
    ``kappa = (1 - tau) / tau = eps / rho`` per side (0 = balanced):
    ``log r - log a + f / rho_a = 0`` and ``log s - log b + g / rho_b = 0``
    (balanced: ``r = a``, ``s = b``). Perturbing them (times ``eps r``,
    ``eps s``) gives, with ``D_r = (1 + kappa_a) diag r`` and
    ``D_s = (1 + kappa_b) diag s``,
    ``[[D_r, P], [P^T, D_s]] [df; dg] = [rowsum(P*dC) + eps (r/a) da +
    (rowsum(P log P) - r log(r/a)) deps; (the same by columns)]``
    (``f / rho_a = -log(r/a)`` at the solution eliminates the potentials).
    With ``Q = ct * P`` and ``[x; y]`` the solution for the right-hand side
    ``[Q 1; Q^T 1]`` (the Schur complement on the rows,
    ``D_r - P D_s^{-1} P^T``, solved densely by its pseudo-inverse; balanced,
    its null vector ``1`` is fixed by a rank-one term; rows/columns without
    mass left out):
    ``cost_bar = (P * (x + y^T) - Q) / eps``, ``a_bar = x r / a``,
    ``b_bar = y s / b``, ``eps_bar = sum(cost_bar * log P) - (x . r log(r/a)
    + y . s log(s/b)) / eps`` (the last terms vanish when balanced). Checked
    against central differences of a NumPy Sinkhorn in ``tests/test_transport.py``
    and ``tests/test_unbalanced.py``.
    """
    plan, a, b, epsilon, threshold = saved
    ct_plan = ct[0]
    hi = jax.lax.Precision.HIGHEST
    kappa_a, kappa_b = (1.0 - tau_a) / tau_a, (1.0 - tau_b) / tau_b
    balanced = kappa_a == 0.0 and kappa_b == 0.0
    q = ct_plan * plan
    q_r, q_c = q.sum(1), q.sum(0)
    r, s = plan.sum(1), plan.sum(0)
    rowok, colok = r > 0, s > 0
    ds = (1.0 + kappa_b) * s
    s_inv = jnp.where(colok, 1.0 / jnp.where(colok, ds, 1.0), 0.0)
    live = rowok[:, None] & rowok[None, :]
    schur = jnp.diag((1.0 + kappa_a) * r) - jnp.matmul(plan * s_inv[None, :], plan.T, precision=hi)
    if balanced:  # the null vector 1 of the balanced system, fixed by a rank-one term
        scale = jnp.sum(r) / jnp.maximum(jnp.sum(rowok), 1)
        schur = schur + scale
    schur = jnp.where(live, schur, 0.0) + jnp.diag(jnp.where(rowok, 0.0, 1.0))
    rhs = jnp.where(rowok, q_r - jnp.matmul(plan, q_c * s_inv, precision=hi), 0.0)
    # pseudo-inverse: a nearly deterministic plan (small eps) makes the complement numerically singular;
    # its near-null directions carry a vanishing derivative and are dropped
    lam, vec = jnp.linalg.eigh(0.5 * (schur + schur.T))
    cut = 10.0 * schur.shape[0] * jnp.finfo(plan.dtype).eps * jnp.max(jnp.abs(lam))
    inv = jnp.where(lam > cut, 1.0 / jnp.where(lam > cut, lam, 1.0), 0.0)
    x = jnp.matmul(vec, inv * jnp.matmul(vec.T, rhs, precision=hi), precision=hi)
    y = jnp.where(colok, (q_c - jnp.matmul(plan.T, x, precision=hi)) * s_inv, 0.0)
    cost_bar = (plan * (x[:, None] + y[None, :]) - q) / epsilon
    logp = jnp.where(plan > 0, jnp.log(jnp.where(plan > 0, plan, 1.0)), 0.0)
    eps_bar = jnp.sum(cost_bar * logp)
    if balanced:
        return cost_bar, x, y, eps_bar, jnp.zeros_like(threshold)
    a_ok, b_ok = rowok & (a > 0), colok & (b > 0)
    ratio_a = jnp.where(a_ok, r / jnp.where(a_ok, a, 1.0), 0.0)
    ratio_b = jnp.where(b_ok, s / jnp.where(b_ok, b, 1.0), 0.0)
    a_bar, b_bar = x, y  # a balanced side: r = a (s = b), no extra term
    if kappa_a > 0:
        log_ra = jnp.where(a_ok, jnp.log(jnp.where(a_ok, ratio_a, 1.0)), 0.0)
        a_bar = x * ratio_a
        eps_bar = eps_bar - jnp.sum(x * r * log_ra) / epsilon
    if kappa_b > 0:
        log_sb = jnp.where(b_ok, jnp.log(jnp.where(b_ok, ratio_b, 1.0)), 0.0)
        b_bar = y * ratio_b
        eps_bar = eps_bar - jnp.sum(y * s * log_sb) / epsilon
    return cost_bar, a_bar, b_bar, eps_bar, jnp.zeros_like(threshold)


_sinkhorn_plan.defvjp(_sinkhorn_plan_fwd, _sinkhorn_plan_bwd)


def _linear_problem(geom, a, b, tau_a=1.0, tau_b=1.0):
    from ott.problems.linear import linear_problem

    return linear_problem.LinearProblem(geom, a=a, b=b, tau_a=tau_a, tau_b=tau_b)


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


EMD_NOT_DIFFERENTIABLE = (
    "solver='emd' is not differentiable: POT's exact network simplex runs on the host (jax.pure_callback) and "
    "its plan is piecewise constant in the cost. Use solver='sinkhorn' (UPTConfig(solver='sinkhorn'), "
    "`--solver sinkhorn`) for gradients; OTT-JAX differentiates it implicitly."
)


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _emd_plan(cost, a, b, num_iter_max):
    shapes = (
        jax.ShapeDtypeStruct(cost.shape, cost.dtype),
        jax.ShapeDtypeStruct((), jnp.bool_),
    )

    def host(a_, b_, m_):
        plan, ok = _emd_host(a_, b_, m_, num_iter_max)
        return plan.astype(cost.dtype), ok

    return jax.pure_callback(host, shapes, a, b, cost, vmap_method="sequential")


@_emd_plan.defjvp
def _emd_plan_jvp(num_iter_max, primals, tangents):
    raise UPTError(EMD_NOT_DIFFERENTIABLE)


def emd(cost: jax.Array, a: jax.Array, b: jax.Array, *, num_iter_max: int = 1_000_000) -> Coupling:
    """Exact optimal transport (POT's network simplex) through a host callback.

    Works under ``jit`` and ``vmap`` (the batch is solved sequentially on the
    host); not differentiable: a derivative through the plan raises
    :class:`~upt_jax.errors.UPTError` naming ``solver="sinkhorn"`` (a
    derivative with respect to something the plan does not depend on, such
    as ``lam``, is fine). Computed in float64 and cast back.

    Args:
      cost: ``[k, c]``; a: ``[k]``; b: ``[c]`` (zeros allowed).
      num_iter_max: network-simplex iteration cap (static); when it is hit
        the plan is POT's partial solution and ``converged`` is False.

    Returns:
      :class:`Coupling` with ``n_iters = 0``.
    """
    require_pot()
    plan, ok = _emd_plan(cost, a, b, int(num_iter_max))
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
    tau_a: float = 1.0,
    tau_b: float = 1.0,
) -> Coupling:
    """Solve ``min <P, cost>`` s.t. ``P 1 = a, P^T 1 = b`` with the named solver.

    Args:
      cost: ``[k, c]``; a: ``[k]``; b: ``[c]``.
      solver: ``"sinkhorn"`` or ``"emd"`` (static).
      epsilon, threshold, max_iterations: Sinkhorn settings (ignored by EMD).
      tau_a, tau_b: marginal relaxations (static, Sinkhorn only; 1.0 =
        balanced, see :func:`sinkhorn`).

    Returns:
      :class:`Coupling`.
    """
    if solver == "sinkhorn":
        return sinkhorn(cost, a, b, epsilon=epsilon, threshold=threshold, max_iterations=max_iterations,
                        tau_a=tau_a, tau_b=tau_b)
    if solver == "emd":
        if check_tau(tau_a, "tau_a") < 1.0 or check_tau(tau_b, "tau_b") < 1.0:
            raise UPTError(
                f"couple(solver='emd', tau_a={tau_a}, tau_b={tau_b}): exact EMD is balanced only; use "
                "solver='sinkhorn' for KL-relaxed (unbalanced) marginals, or tau_a = tau_b = 1.0"
            )
        return emd(cost, a, b)
    raise UPTError(f"couple: solver must be 'sinkhorn' or 'emd', got {solver!r}")
