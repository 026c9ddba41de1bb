"""Scaling of the large-N paths: time and peak memory per stage against N.

    python -m benchmarks.scaling                       # N = 1e3 ... 1e5, K = 101, d = 300
    python -m benchmarks.scaling --ns 1000 10000 100000 300000 --k 1000 --d 768

Stages (each jitted separately; compile time reported apart, one timed run
after the compiling one):

- ``kmeans``: ``cluster.kmeans`` with C = min(1000, N / 10), one restart
  (``--kmeans-max-n`` skips it above that N: dense Lloyd is O(N C d) per step);
- ``sinkhorn``: :func:`upt_jax.scale.sinkhorn_chunked`, C = N (no clustering),
  cost recomputed per chunk, memory linear in N;
- ``frechet_sparse``: top-m plan entries per class + sparse Karcher means;
- ``classify``: chunked nearest prototype.

Peak memory is XLA's compiled estimate for the stage
(``compiled.memory_analysis()``: arguments + outputs + temporaries), since
one process cannot measure the peak of each stage separately. Writes
``benchmarks/results/scaling.{md,json,png}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def _mem(compiled):
    try:
        m = compiled.memory_analysis()
        return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes)
    except Exception:  # pragma: no cover - backend without the analysis
        return -1


def _stage(fn, *args):
    import jax

    t = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    t_compile = time.perf_counter() - t
    jax.block_until_ready(compiled(*args))  # warm
    t = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return out, {"compile_s": t_compile, "run_s": time.perf_counter() - t, "peak_bytes": _mem(compiled)}


def run(ns, k, d, chunk, top_m, kmeans_max_n, seed=0):
    import jax
    import jax.numpy as jnp

    from benchmarks.data import sphere_mixture
    from upt_jax import cluster, scale

    rows = []
    for n in ns:
        p, x, lab = sphere_mixture(seed, n, k, d)
        p, x = jnp.asarray(p), jnp.asarray(x)
        row = {"N": n, "K": k, "d": d}
        if n <= kmeans_max_n:
            c = min(1000, max(2, n // 10))
            _, row["kmeans"] = _stage(lambda x: cluster.kmeans(x, c, jax.random.PRNGKey(0), n_init=1).inertia, x)
            row["kmeans"]["C"] = c
        a = jnp.full((k,), 1.0 / k)
        b = jnp.full((n,), 1.0 / n)
        sk, row["sinkhorn"] = _stage(lambda p, x: scale.sinkhorn_chunked(p, x, a, b, epsilon=1e-2, chunk=chunk), p, x)
        row["sinkhorn"]["iters"] = int(sk.n_iters)

        def fre(p, x, sk):
            idx, w, kept = scale.plan_top_m(sk, p, x, m=top_m, chunk=chunk)
            return scale.frechet_mean_sparse(x, idx, w).mean, kept

        (targets, kept), row["frechet_sparse"] = _stage(fre, p, x, sk)
        row["frechet_sparse"]["kept_mass_median"] = float(jnp.median(kept * k))
        new = jax.jit(lambda p, t: scale.sphere.slerp(p, t, 0.5))(p, targets)
        pred, row["classify"] = _stage(lambda q, x: scale.classify_chunked(q, x), new, x)
        row["top1_after"] = float(np.mean(np.asarray(pred) == lab) * 100)
        row["total_run_s"] = sum(v["run_s"] for kk, v in row.items() if isinstance(v, dict))
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def to_markdown(rows, machine):
    lines = ["# Scaling (C = N path; k-means C = min(1000, N/10), 1 restart)", "", f"Machine: {machine}", "",
             "| N | K | d | k-means s (compile) | Sinkhorn s (iters) | Frechet top-m s | classify s | peak MiB (max stage) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        km = r.get("kmeans")
        kms = f"{km['run_s']:.2f} ({km['compile_s']:.1f})" if km else "skipped"
        peak = max(v["peak_bytes"] for v in r.values() if isinstance(v, dict)) / 2**20
        lines.append(f"| {r['N']} | {r['K']} | {r['d']} | {kms} | {r['sinkhorn']['run_s']:.2f} ({r['sinkhorn']['iters']}) | "
                     f"{r['frechet_sparse']['run_s']:.2f} | {r['classify']['run_s']:.3f} | {peak:.0f} |")
    return "\n".join(lines) + "\n"


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ns = [r["N"] for r in rows]
    for stage in ["kmeans", "sinkhorn", "frechet_sparse", "classify"]:
        pts = [(r["N"], r[stage]["run_s"]) for r in rows if stage in r]
        if pts:
            ax.loglog(*zip(*pts), marker="o", label=stage)
    ax.loglog(ns, [r["total_run_s"] for r in rows], "k--", label="total")
    ax.set_xlabel("N (videos)")
    ax.set_ylabel("seconds (compiled)")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ns", type=int, nargs="+", default=[1000, 3000, 10000, 30000, 100000])
    ap.add_argument("--k", type=int, default=101)
    ap.add_argument("--d", type=int, default=300)
    ap.add_argument("--chunk", type=int, default=4096)
    ap.add_argument("--top-m", type=int, default=64)
    ap.add_argument("--kmeans-max-n", type=int, default=30000)
    ap.add_argument("--tag", default="", help="suffix of the result files")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = ap.parse_args(argv)
    import jax

    machine = {"backend": jax.default_backend(), "device": str(jax.devices()[0]), "cores": os.cpu_count()}
    rows = run(args.ns, args.k, args.d, args.chunk, args.top_m, args.kmeans_max_n)
    os.makedirs(args.out, exist_ok=True)
    name = "scaling" + (f"-{args.tag}" if args.tag else "")
    with open(os.path.join(args.out, name + ".json"), "w") as f:
        json.dump({"machine": machine, "rows": rows}, f, indent=1)
    md = to_markdown(rows, machine)
    with open(os.path.join(args.out, name + ".md"), "w") as f:
        f.write(md)
    plot(rows, os.path.join(args.out, name + ".png"))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
