"""Our pipeline, stage by stage (each stage jitted) and fused (one jit).

Stages mirror the reference: clustering, cost, transport, Frechet means,
update + classify. The fused function is what a user runs
(``jax.jit(make_upt(cfg))`` + ``evaluate``).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

import upt_jax as U
from upt_jax import sphere
from upt_jax import transport as T

__all__ = ["stage_fns", "fused_fn", "study_fn", "timed", "half_class_splits"]


def timed(fn, *args):
    t = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t


def stage_fns(cfg: U.UPTConfig):
    """Jitted stage functions; each takes/returns arrays."""

    @jax.jit
    def clustering(videos, key):
        return U.cluster_videos(videos, cfg, key)

    @jax.jit
    def cost(protos, centres):
        p = sphere.normalize(protos)
        return T.cost_matrix(p, centres.points, kind=cfg.cost, col_mask=centres.mass > 0)

    @jax.jit
    def transport(cost_m, centres, hyper):
        k = cost_m.shape[0]
        a = jnp.full((k,), 1.0 / k, cost_m.dtype)
        thr = cfg.sinkhorn_threshold if hyper.threshold is None else hyper.threshold
        return T.couple(cost_m, a, centres.mass, solver=cfg.solver, epsilon=hyper.epsilon, threshold=thr,
                        max_iterations=cfg.sinkhorn_max_iter).plan

    @jax.jit
    def frechet(centres, plan):
        return sphere.frechet_mean(centres.points, plan, method=cfg.frechet, tol=cfg.frechet_tol,
                                   max_iter=cfg.frechet_max_iter).mean

    @jax.jit
    def update_classify(protos, targets, videos, labels, lam):
        p = sphere.normalize(protos)
        new = sphere.slerp(p, targets, lam)
        return U.evaluate(new, videos, labels).top1

    return clustering, cost, transport, frechet, update_classify


def fused_fn(cfg: U.UPTConfig):
    run = U.make_upt(cfg)

    @jax.jit
    def fused(protos, videos, labels, key, hyper):
        new, diag = run(protos, videos, key, hyper)
        return U.evaluate(new, videos, labels).top1

    return fused


def half_class_splits(num_classes: int, n_splits: int = 10, seed: int = 0) -> np.ndarray:
    """``[n_splits, K]`` bool masks, each selecting half of the classes at random."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((n_splits, num_classes), bool)
    for s in range(n_splits):
        masks[s, rng.choice(num_classes, num_classes // 2, replace=False)] = True
    return masks


def study_fn(cfg: U.UPTConfig):
    """jit(map over splits (cluster + transport + Frechet per split), vmap over lam (update + classify)).

    Splits are mapped with ``lax.map`` (k-means uses ``lax.switch``, which
    ``vmap`` would turn into computing every branch); lam values are vmapped.
    Returns top-1 ``[n_splits, n_lams]``.
    """

    @jax.jit
    def study(protos, videos, labels, class_masks, key, lams, epsilon):
        def one_split(args):
            cm, skey = args
            vm = cm[labels]
            centres = U.cluster_videos(videos, cfg, skey, vm)

            def at(lam):
                new, _ = U.transport_update(protos, centres, cfg, U.UPTHyper(lam=lam, epsilon=epsilon), cm)
                return U.evaluate(new, videos, labels, class_mask=cm, video_mask=vm).top1

            # targets do not depend on lam: compute once, update per lam
            _, diag = U.transport_update(protos, centres, cfg, U.UPTHyper(lam=0.0, epsilon=epsilon), cm)
            p = sphere.normalize(protos)

            def upd(lam):
                new = jnp.where(cm[:, None], sphere.slerp(p, diag.targets, lam), p)
                return U.evaluate(new, videos, labels, class_mask=cm, video_mask=vm).top1

            del at
            return jax.vmap(upd)(lams)

        keys = jax.random.split(key, class_masks.shape[0])
        return jax.lax.map(one_split, (class_masks, keys))

    return study
