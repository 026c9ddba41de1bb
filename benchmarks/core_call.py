"""Compile time and wall time of ONE compiled UPT call (issue: core).

    python -m benchmarks.core_call [--clusters 1000] [--solver sinkhorn] [--reps 5]

Seeded UCF-101-sized data (N = 13,320, K = 101, d = 300, benchmarks.data.ucf_like),
``jax.jit(upt_jax.make_upt(cfg))``: compile time from ``.lower().compile()``,
then the median wall time of ``--reps`` calls (results blocked on).
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

import upt_jax as U
from benchmarks.data import ucf_like


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--solver", default="sinkhorn", choices=("sinkhorn", "emd"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    protos, videos, labels = ucf_like(args.seed)[:3]
    cfg = U.UPTConfig(n_clusters=args.clusters, solver=args.solver)
    hp = U.UPTHyper(np.float32(0.5), np.float32(1e-2))
    key = jax.random.PRNGKey(args.seed)
    run = jax.jit(U.make_upt(cfg))
    t0 = time.perf_counter()
    compiled = run.lower(protos, videos, key, hp).compile()
    t_compile = time.perf_counter() - t0
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        new, diag = jax.block_until_ready(compiled(protos, videos, key, hp))
        times.append(time.perf_counter() - t0)
    m = U.evaluate(new, videos, labels)
    out = {
        "N": int(videos.shape[0]), "K": int(protos.shape[0]), "d": int(protos.shape[1]),
        "config": cfg.as_dict(), "compile_seconds": round(t_compile, 3),
        "run_seconds_median": round(float(np.median(times)), 3), "runs": [round(t, 3) for t in times],
        "top1": float(m.top1), "converged": bool(diag.converged), "sinkhorn_iters": int(diag.n_iters),
        "kmeans_iters": int(diag.kmeans_iters), "device": str(jax.devices()[0]), "jax": jax.__version__,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
