"""UPT for the ``upt`` commands, compiled in stages that JAX's persistent cache can keep.

JAX's persistent compilation cache does not store a program that contains a
host callback, and ``solver="emd"`` runs POT's network simplex through
``jax.pure_callback``: compiled as one program, :func:`upt_jax.api.upt` was
recompiled on every run (k-means included, several seconds at C = 1000).
Here the target set (k-means, or the normalised videos without clustering)
is its own compiled program, so it is cached whatever the solver; with dense
EMD the network simplex runs on the host between two more compiled programs
(the problem; the Frechet means and the update, given the plan), so nothing
compiled contains a callback. The composition is that of
:func:`upt_jax.api.upt` and the results are the same
(``tests/test_stages.py``).
"""

from __future__ import annotations

__all__ = ["upt_staged", "host_emd", "targets_fn", "transport_fn", "problem_fn", "update_given_plan_fn"]


def targets_fn(cfg):
    """``jit((videos [N, d], key) -> Centres)``: UPT step 1 (:func:`upt_jax.api.cluster_videos`)."""
    import jax

    from upt_jax import api

    return jax.jit(lambda v, k: api.cluster_videos(v, cfg, k))


def transport_fn(cfg):
    """``jit((prototypes [K, d], videos [N, d], centres, hyper) -> (new [K, d], Diagnostics))``: UPT steps 2-4."""
    import jax

    from upt_jax import api

    def rest(p, v, centres, hyper):
        prior = api.source_prior(p, v, cfg) if cfg.class_prior == "estimated" else None
        return api.transport_update(p, centres, cfg, hyper, prior=prior)

    return jax.jit(rest)


def host_emd(cfg) -> bool:
    """Whether :func:`upt_staged` solves the transport on the host between two compiled programs
    (dense EMD without the top-t filter)."""
    return cfg.solver == "emd" and cfg.chunk_size == 0 and cfg.top_t == 0


def problem_fn(cfg):
    """``jit((prototypes, videos, centres, hyper) -> (cost [K, C], a [K], b [C], prior))``: the
    transport problem that :func:`upt_jax.api.transport_update` solves (dense path, no top-t filter)."""
    import jax
    import jax.numpy as jnp

    from upt_jax import api, sphere
    from upt_jax import transport as T

    def problem(prototypes, videos, centres, hyper):
        p = sphere.normalize(prototypes)
        cm = jnp.ones((p.shape[0],), bool)
        prior = api.source_prior(p, videos, cfg) if cfg.class_prior == "estimated" else None
        a = api.source_prior(p, None, cfg, hyper, prior=prior, class_mask=cm).astype(p.dtype)
        b = centres.mass.astype(p.dtype)
        cost = T.cost_matrix(p, centres.points, kind=cfg.cost, row_mask=cm, col_mask=b > 0)
        return cost, a, b, prior

    return jax.jit(problem)


def update_given_plan_fn(cfg):
    """``jit((prototypes, centres, hyper, prior, cost, a, b, plan, ok) -> (new, Diagnostics))``:
    UPT steps 3-4 with the plan solved outside (the :class:`upt_jax.transport.Coupling` that
    :func:`upt_jax.transport.emd` builds from it)."""
    import jax
    import jax.numpy as jnp

    from upt_jax import api
    from upt_jax import transport as T

    def update(prototypes, centres, hyper, prior, cost, a, b, plan, ok):
        err = jnp.maximum(jnp.max(jnp.abs(plan.sum(1) - a)), jnp.max(jnp.abs(plan.sum(0) - b)))
        coupling = T.Coupling(plan, jnp.sum(plan * cost), ok, jnp.int32(0), err)
        return api.transport_update(prototypes, centres, cfg, hyper, prior=prior, coupling=coupling)

    return jax.jit(update)


def upt_staged(cfg, prototypes, videos, key, hyper):
    """:func:`upt_jax.api.upt` (no class or video mask) as compiled programs the cache can keep.

    Dense EMD (:func:`host_emd`): targets, then the problem (cost and
    masses), POT's network simplex on the host (float64, as
    :func:`upt_jax.transport.emd`), then the Frechet means and the update;
    no program contains a host callback. Otherwise: targets, then
    :func:`upt_jax.api.transport_update` in one program.

    Args:
      cfg: static :class:`upt_jax.UPTConfig`.
      prototypes: ``[K, d]``; videos: ``[N, d]`` (float32); key: PRNG key
        of k-means; hyper: :class:`upt_jax.UPTHyper`.

    Returns:
      ``(new_prototypes [K, d], Diagnostics)``, as ``api.upt`` (inputs are
      not checked here: call :func:`upt_jax.api.check_inputs` first).
    """
    centres = targets_fn(cfg)(videos, key)
    if not host_emd(cfg):
        return transport_fn(cfg)(prototypes, videos, centres, hyper)
    import numpy as np

    from upt_jax import transport as T

    T.require_pot()
    cost, a, b, prior = problem_fn(cfg)(prototypes, videos, centres, hyper)
    # the host function of transport.emd's callback (default iteration cap of transport.emd)
    plan, ok = T._emd_host(np.asarray(a), np.asarray(b), np.asarray(cost), 1_000_000)
    plan = plan.astype(np.asarray(cost).dtype)
    return update_given_plan_fn(cfg)(prototypes, centres, hyper, prior, cost, a, b, plan, np.asarray(ok))
