"""UPT with C = N at large N through ``upt classify`` (the chunked path): time and peak memory.

    python -m benchmarks.large_n                                  # N = 25k, 50k, 100k; K = 101; d = 300
    python -m benchmarks.large_n --ns 100000 --dense              # also the dense path, for comparison

For each N it writes a portable data folder (``upt_jax.data.save_portable``)
under ``--workdir`` (default ``out/large_n`` in the current folder) from seeded synthetic data
(``benchmarks.data.ucf_like``: UCF-101-like bias and cluster structure, or
``--data mixture``: ``sphere_mixture``), then runs, in a fresh process,

    upt --no-compile-cache classify --data DIR --solver sinkhorn --clusters 0 --chunk-size B --lam 0.5

under GNU ``time -v`` and records the wall time (process start, data
loading and compilation included), the peak resident memory, top-1 before and
after, and the diagnostics (Sinkhorn and Karcher iterations, convergence).
Writes ``benchmarks/results/large_n_<data>.{md,json}`` (rows are kept as they
finish). Say whether the machine was loaded when you quote the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_folder(n: int, kind: str, k: int, d: int, workdir: str) -> str:
    import numpy as np

    from benchmarks.data import sphere_mixture, ucf_like
    from upt_jax import data

    path = os.path.join(workdir, f"{kind}_n{n}_k{k}_d{d}")
    if os.path.isfile(os.path.join(path, "meta.json")):
        return path
    p, x, lab = ucf_like(0, n, k, d) if kind == "ucf_like" else sphere_mixture(0, n, k, d)
    names = [f"class{i:03d}" for i in range(k)]
    ds = data.Dataset(name=f"{kind}{n}", class_names=names, prototypes=p, videos=x, labels=np.asarray(lab, np.int32),
                      video_names=[f"{names[c]}/v_{i}.avi" for i, c in enumerate(lab)],
                      meta={"source": f"benchmarks.data.{kind}(0, {n}, {k}, {d})"})
    data.save_portable(ds, path)
    return path


def run_one(folder: str, chunk: int, out_json: str) -> dict:
    upt = os.path.join(os.path.dirname(sys.executable), "upt")
    gnu_time = shutil.which("time")
    if gnu_time is None:
        raise SystemExit("benchmarks.large_n needs GNU time (`time -v`, Debian/Ubuntu package `time`) for the peak memory")
    cmd = [gnu_time, "-v", upt, "--no-compile-cache", "classify", "--data", folder, "--solver", "sinkhorn",
           "--clusters", "0", "--chunk-size", str(chunk), "--lam", "0.5", "--json", out_json]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    res = json.load(open(out_json))
    d = res["diagnostics"]
    return {"command": " ".join(["upt", *cmd[3:]]), "wall_s": wall, "peak_rss_mib": rss / 1024, "top1_baseline": res["baseline"]["top1"],
            "top1_upt": res["top1"], "upt_s": res["timings"]["upt_seconds"], "sinkhorn_iters": d["transport_iterations"],
            "karcher_iters_max": d["frechet_iterations_max"], "converged": d["converged"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ns", type=int, nargs="+", default=[25_000, 50_000, 100_000])
    ap.add_argument("--k", type=int, default=101)
    ap.add_argument("--d", type=int, default=300)
    ap.add_argument("--data", choices=("ucf_like", "mixture"), default="ucf_like")
    ap.add_argument("--chunk-size", type=int, default=4096)
    ap.add_argument("--dense", action="store_true", help="also run --chunk-size 0 (the dense path)")
    ap.add_argument("--workdir", default=os.path.join("out", "large_n"))
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    args = ap.parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    load = os.getloadavg()[0]
    rows = []
    for n in args.ns:
        folder = make_folder(n, args.data, args.k, args.d, args.workdir)
        for chunk in ([args.chunk_size, 0] if args.dense else [args.chunk_size]):
            row = {"N": n, "K": args.k, "d": args.d, "data": args.data, "chunk_size": chunk, "load_before": os.getloadavg()[0],
                   **run_one(folder, chunk, os.path.join(args.workdir, f"res_{n}_{chunk}.json"))}
            print(json.dumps(row), flush=True)
            rows.append(row)
            with open(os.path.join(args.out, f"large_n_{args.data}.json"), "w") as f:
                json.dump({"rows": rows, "cpu_count": os.cpu_count(), "load_at_start": load}, f, indent=2)
    lines = ["# C = N through `upt classify` (chunked path)", "",
             f"{os.cpu_count()} CPU cores; 1-minute load average at start {load:.1f}; wall time includes process start, "
             "loading and compilation (`--no-compile-cache`).", "",
             "| N | chunk | wall s | UPT s | peak RSS MiB | Sinkhorn iters | Karcher iters (max) | converged | top-1 before -> after |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['N']:,} | {r['chunk_size'] or 'dense'} | {r['wall_s']:.1f} | {r['upt_s']:.1f} | {r['peak_rss_mib']:.0f} | "
                     f"{r['sinkhorn_iters']} | {r['karcher_iters_max']} | {r['converged']} | "
                     f"{r['top1_baseline']:.2f} -> {r['top1_upt']:.2f} |")
    with open(os.path.join(args.out, f"large_n_{args.data}.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
