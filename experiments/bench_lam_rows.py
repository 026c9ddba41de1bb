"""Benchmark (run by hand): the lam study's rows, one transport per row vs one per split.

    python -m experiments.bench_lam_rows [--cache runs/cache] [--reps 2]

On the lam study's data (UCF-101-like default world, 10 half splits + all
classes, C = 1000, Sinkhorn 1e-2, 11 lam values) with the same k-means centres
(from ``--cache``, computed there if missing), it times two compiled programs
over the 121 rows:

- ``per-row``: every row solves its own transport (``transport_update`` with
  its lam, then ``evaluate``), all 121 rows vmapped: how the runner worked
  before it moved into ``upt_jax.sweep``;
- ``per-split``: the sweep's classification job (``upt_jax.sweep.tasks``):
  11 transports, the geodesic update and the evaluation vmapped over lam.

It prints compile and run seconds (best of ``--reps``), and the largest
difference between the two programs' top-1 / top-5 / never-predicted counts
(float32 noise only). Say whether the machine was idle when you quote it.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

__all__ = ["main"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=os.path.join("runs", "cache"), help="k-means cache folder (default runs/cache)")
    ap.add_argument("--reps", type=int, default=2, help="timed runs of each program (best is reported)")
    ap.add_argument("--config", default=os.path.join(os.path.dirname(__file__), "configs", "lam.py"))
    args = ap.parse_args(argv)

    import jax
    import jax.numpy as jnp

    import upt_jax as U
    from upt_jax.sweep import centres as C
    from upt_jax.sweep import execute as E
    from upt_jax.sweep.study import load_study

    study = load_study(args.config)
    t0 = time.perf_counter()
    (entry,) = E.resolve_entries(study)
    print(f"data: {time.perf_counter() - t0:.1f} s", flush=True)
    cfg = entry.variants[0].config
    splits = entry.splits
    t0 = time.perf_counter()
    cen = C.compute_centres(entry.data, entry.checksum, splits, cfg, seed=study.seed, compact=study.compact, cache_dir=args.cache)
    print(f"centres ({len(splits)} splits, cache {args.cache}): {time.perf_counter() - t0:.1f} s", flush=True)
    ds = entry.data
    S, L = len(splits), len(study.lam)
    lams = np.asarray(study.lam, np.float32)
    stackc = {k: np.stack([cen[s][k] for s in range(S)]) for k in C.CENTRE_FIELDS}

    # ---- per row: 121 transports
    cm_all, vm_all = jnp.asarray(splits.class_mask), jnp.asarray(splits.video_mask)
    dev = {k: jnp.asarray(v) for k, v in stackc.items()}

    def row(s, lam):
        c = U.Centres(dev["points"][s], dev["mass"][s], dev["sizes"][s], dev["mask"][s], jnp.zeros((1,), jnp.int32),
                      dev["inertia"][s], dev["kmeans_iters"][s])
        new, _ = U.transport_update(ds.prototypes, c, cfg, U.UPTHyper(lam=lam, epsilon=jnp.float32(1e-2)), cm_all[s])
        m = U.evaluate(new, ds.videos, ds.labels, class_mask=cm_all[s], video_mask=vm_all[s])
        return m.top1, m.top5, m.unreachable

    s_idx = np.repeat(np.arange(S, dtype=np.int32), L)
    l_val = np.tile(lams, S)
    per_row = jax.jit(jax.vmap(row))

    # ---- per split: the sweep's job program
    comp = E._Compiled(study.task, cfg, True, tuple(jax.devices()[:1]))
    centres = U.Centres(stackc["points"], stackc["mass"], stackc["sizes"], stackc["mask"], np.zeros((S, 1), np.int32),
                        stackc["inertia"], stackc["kmeans_iters"])
    job_args = (ds.prototypes[None], ds.videos[None], ds.labels[None], np.zeros(S, np.int32), splits.class_mask,
                splits.video_mask, centres, lams, np.float32(1e-2))

    results = {}
    for name, compile_fn, run_fn in (
        ("per-row (121 transports)", lambda: per_row.lower(s_idx, l_val).compile(), lambda exe: exe(s_idx, l_val)),
        ("per-split (11 transports)", lambda: comp.jitted.lower(*job_args).compile(), lambda exe: exe(*job_args)),
    ):
        t0 = time.perf_counter()
        exe = compile_fn()
        tc = time.perf_counter() - t0
        best = float("inf")
        for _ in range(max(args.reps, 1)):
            t0 = time.perf_counter()
            out = jax.block_until_ready(run_fn(exe))
            best = min(best, time.perf_counter() - t0)
        results[name] = out
        print(f"{name}: compile {tc:.1f} s, run {best:.2f} s (best of {args.reps})", flush=True)
    a = results["per-row (121 transports)"]
    per_lam, _ = results["per-split (11 transports)"]
    b = (np.asarray(per_lam["top1"]).ravel(), np.asarray(per_lam["top5"]).ravel(), np.asarray(per_lam["unreachable"]).ravel())
    diffs = [float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))) for x, y in zip(a, b)]
    print(f"max |difference| top-1 {diffs[0]:.2e}, top-5 {diffs[1]:.2e}, never predicted {diffs[2]:.0f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
