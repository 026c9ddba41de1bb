"""One short GPU run (prepared for an H100; NOT YET RUN ON A GPU: no device was
lent to the session that wrote it).

    python -m benchmarks.gpu [--precision highest|default] [--quick | --tiny] [--out DIR]

Prints, with compile time separate from the compiled run time:
1. the paper default (N = 13,320, K = 101, d = 300, C = 1000, 10 restarts,
   vmapped dense Lloyd on accelerators) per stage and fused;
2. the study (10 half-class splits x 11 lam, transport per split);
3. the largest scale that fits: 10^6 videos x 1,000 classes x 512-d with
   k-means C = 10,000 (one restart, <= 30 Lloyd steps) + transport to the
   centres, and the C = N chunked Sinkhorn + sparse Frechet path; on out-of-
   memory it halves N.
Matmul precision is set explicitly (``jax_default_matmul_precision``; the
library also passes HIGHEST to its own products). Results:
``benchmarks/results/gpu.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time


def _t(f, *args, reps=3):
    import jax

    t = time.perf_counter()
    compiled = jax.jit(f).lower(*args).compile()
    comp = time.perf_counter() - t
    out = jax.block_until_ready(compiled(*args))
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        ts.append(time.perf_counter() - t)
    return out, {"compile_s": comp, "run_s": statistics.median(ts)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--precision", default="highest", choices=["highest", "high", "default"])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke test on CPU)")
    ap.add_argument("--tiny", action="store_true", help="tiny sizes: checks that the script runs (CPU, about a minute)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = ap.parse_args(argv)
    import jax

    jax.config.update("jax_default_matmul_precision", args.precision)
    import jax.numpy as jnp
    import numpy as np

    import upt_jax as U
    from benchmarks.data import sphere_mixture, ucf_like
    from benchmarks.ours import half_class_splits, study_fn
    from upt_jax import cluster, scale

    res = {"device": str(jax.devices()[0]), "backend": jax.default_backend(), "precision": args.precision,
           "jax": jax.__version__, "tested_on_gpu_when_written": False}
    print(res, flush=True)
    small = args.quick or args.tiny
    n = 600 if args.tiny else 2000 if args.quick else 13_320
    protos, videos, labels = ucf_like(0, n=n)
    cfg = U.UPTConfig(n_clusters=20 if args.tiny else 100 if args.quick else 1000)
    res["sizes"] = "tiny" if args.tiny else "quick" if args.quick else "full"
    hyper = U.UPTHyper(lam=0.5, epsilon=1e-2)
    run = U.make_upt(cfg)

    def fused(p, v, l, key):
        new, diag = run(p, v, key, hyper)
        return U.evaluate(new, v, l).top1

    key = jax.random.PRNGKey(0)
    top1, res["paper_default_fused"] = _t(fused, protos, videos, labels, key)
    res["paper_default_fused"]["top1"] = float(top1)
    centres, res["paper_default_clustering"] = _t(lambda v, k: U.cluster_videos(v, cfg, k), videos, key)
    _, res["paper_default_after_clustering"] = _t(
        lambda p, c, v, l: U.evaluate(U.transport_update(p, c, cfg, hyper)[0], v, l).top1, protos, centres, videos, labels)
    print({k: v for k, v in res.items() if k.startswith("paper")}, flush=True)

    masks = jnp.asarray(half_class_splits(protos.shape[0], 10, 0))
    lams = jnp.linspace(0.0, 1.0, 11)
    top, res["study_110_runs"] = _t(study_fn(cfg), protos, videos, labels, masks, key, lams, jnp.float32(1e-2), reps=1)
    res["study_110_runs"]["top1_mean"] = np.asarray(top).mean(0).tolist()
    print(res["study_110_runs"], flush=True)

    big_n = 3000 if args.tiny else 20_000 if args.quick else 1_000_000
    big_k, big_d, big_c = (20, 16, 50) if args.tiny else (100, 64, 500) if small else (1000, 512, 10_000)
    while big_n >= 1000:
        try:
            p, x, lab = sphere_mixture(0, big_n, big_k, big_d)
            p, x = jnp.asarray(p), jnp.asarray(x)
            big = {"N": big_n, "K": big_k, "d": big_d, "C": big_c}
            km, big["kmeans_C"] = _t(lambda x: cluster.kmeans(x, big_c, key, n_init=1, max_iter=30,
                                                              restarts="parallel"), x, reps=1)
            cc = U.Centres(km.centres, jnp.full((big_c,), 1.0 / big_c), km.sizes, km.sizes > 0, km.assignment,
                           km.inertia, km.n_iters)
            cfg_big = U.UPTConfig(n_clusters=big_c)
            _, big["transport_update_C"] = _t(lambda p, c: U.transport_update(p, c, cfg_big, hyper)[0], p, cc, reps=1)
            chunk = 1024 if args.tiny else 65536
            _, big["no_clustering_chunked"] = _t(
                lambda p, x: scale.upt_no_clustering(p, x, chunk=chunk, max_iterations=200)[0], p, x, reps=1)
            big["total_C_s"] = big["kmeans_C"]["run_s"] + big["transport_update_C"]["run_s"]
            res["largest"] = big
            print(big, flush=True)
            break
        except Exception as err:  # out of memory: halve N
            print(f"N={big_n} failed ({type(err).__name__}: {str(err)[:200]}); halving", flush=True)
            big_n //= 2
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gpu.json"), "w") as f:
        json.dump(res, f, indent=1)
    lines = [f"# GPU run ({res['device']}, precision {args.precision})", "", "| what | compile s | run s |", "|---|---|---|"]
    for k, v in res.items():
        if isinstance(v, dict) and "compile_s" in v:
            lines.append(f"| {k} | {v['compile_s']:.2f} | {v['run_s']:.4f} |")
    for k, v in res.get("largest", {}).items():
        if isinstance(v, dict):
            lines.append(f"| largest {res['largest']['N']}x{res['largest']['K']}x{res['largest']['d']}: {k} | {v['compile_s']:.2f} | {v['run_s']:.4f} |")
    md = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "gpu.md"), "w") as f:
        f.write(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
