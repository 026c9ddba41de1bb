"""Side by side: the reference pipeline (example code's libraries) vs upt_jax.

    python -m benchmarks.compare --case paper-default   # C = 1000, n_init = 10
    python -m benchmarks.compare --case no-clustering   # C = N
    python -m benchmarks.compare --case study           # 10 half-class splits x 11 lam

Same seeded data in one process (N = 13,320, K = 101, d = 300, see
``benchmarks/data.py``). Stage times are medians over ``--reps`` runs of
compiled functions (first call = compile + run, reported separately); end to
end is a fresh process from start to result (compilation included), without
and with JAX's persistent compilation cache. Results go to
``benchmarks/results/<case>.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

STAGES = ["clustering", "cost", "transport", "frechet", "update_classify"]


def _machine():
    import jax

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0]),
    }


def _e2e(path, n_clusters, cache=""):
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "benchmarks.e2e", path, str(n_clusters)] + ([cache] if cache else []),
                         capture_output=True, text=True, check=True)
    return time.perf_counter() - t, float(out.stdout.strip().splitlines()[-1])


def _ref_import_time():
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import benchmarks.reference as r; r.versions()"], check=True)
    return time.perf_counter() - t


def ours_stages(protos, videos, labels, cfg, reps, lam=0.5, eps=1e-2):
    import jax

    import upt_jax as U
    from benchmarks.ours import stage_fns, timed

    fns = dict(zip(STAGES, stage_fns(cfg)))
    key = jax.random.PRNGKey(0)
    hyper = U.UPTHyper(lam=lam, epsilon=eps)
    first, runs = {}, {s: [] for s in STAGES}
    for r in range(reps + 1):
        t = {}
        centres, t["clustering"] = timed(fns["clustering"], videos, jax.random.fold_in(key, r))
        cost, t["cost"] = timed(fns["cost"], protos, centres)
        plan, t["transport"] = timed(fns["transport"], cost, centres, hyper)
        targets, t["frechet"] = timed(fns["frechet"], centres, plan)
        top1, t["update_classify"] = timed(fns["update_classify"], protos, targets, videos, labels, lam)
        for s in STAGES:
            if r == 0:
                first[s] = t[s]
            else:
                runs[s].append(t[s])
    med = {s: statistics.median(runs[s]) for s in STAGES}
    med["total"] = sum(med.values())
    med["after_clustering"] = med["total"] - med["clustering"]
    first["total"] = sum(first[s] for s in STAGES)
    return {"median": med, "first_call": first, "top1": float(top1), "inertia": float(centres.inertia),
            "kmeans_iters": int(centres.kmeans_iters)}


def ours_fused(protos, videos, labels, cfg, reps):
    import jax

    import upt_jax as U
    from benchmarks.ours import fused_fn, timed

    f = fused_fn(cfg)
    hyper = U.UPTHyper(lam=0.5, epsilon=1e-2)
    top1, first = timed(f, protos, videos, labels, jax.random.PRNGKey(0), hyper)
    ts = [timed(f, protos, videos, labels, jax.random.PRNGKey(r + 1), hyper)[1] for r in range(reps)]
    return {"first_call": first, "median": statistics.median(ts), "runs": ts, "top1": float(top1)}


def run_case(case, reps, reps_ref, seed, splits_ref, n=13_320, n_clusters_default=1000):

    import upt_jax as U
    from benchmarks import reference
    from benchmarks.data import ucf_like

    protos, videos, labels = ucf_like(seed, n=n)
    res = {"case": case, "machine": _machine(), "versions": reference.versions(), "data": {
        "generator": "benchmarks.data.ucf_like", "seed": seed, "N": int(videos.shape[0]), "K": int(protos.shape[0]),
        "d": int(videos.shape[1])}}
    tmp = tempfile.mkdtemp(prefix="upt_bench_")
    path = os.path.join(tmp, "data.npz")
    np.savez(path, protos=protos, videos=videos, labels=labels)
    if case == "study":
        return run_study(res, protos, videos, labels, reps, splits_ref, seed)
    n_clusters = n_clusters_default if case == "paper-default" else 0
    cfg = U.UPTConfig(n_clusters=n_clusters)
    # end to end, fresh processes: no cache, then a warm persistent cache
    cache = os.path.join(tmp, "jax_cache")
    e2e_cold, top1_e2e = _e2e(path, n_clusters)
    _e2e(path, n_clusters, cache)
    e2e_warm, _ = _e2e(path, n_clusters, cache)
    res["ours_e2e"] = {"no_cache": e2e_cold, "warm_cache": e2e_warm, "top1": top1_e2e}
    print("ours e2e", res["ours_e2e"], flush=True)
    res["ours_fused"] = ours_fused(protos, videos, labels, cfg, reps)
    print("ours fused", res["ours_fused"], flush=True)
    res["ours_stages"] = ours_stages(protos, videos, labels, cfg, reps)
    res["ours_stages_emd"] = ours_stages(protos, videos, labels, cfg.replace(solver="emd"), 1)
    print("ours stages", res["ours_stages"]["median"], flush=True)
    refs = []
    for r in range(reps_ref):
        refs.append(reference.run_reference(protos, videos, labels, n_clusters=n_clusters, seed=seed + r))
        print("reference", refs[-1], flush=True)
    ref_med = {s: statistics.median(x["times"][s] for x in refs) for s in STAGES + ["total"]}
    ref_med["after_clustering"] = ref_med["total"] - ref_med["clustering"]
    ref_import = _ref_import_time()
    res["reference"] = {"median": ref_med, "runs": refs, "import_s": ref_import,
                        "e2e": ref_import + ref_med["total"], "top1": statistics.median(x["top1"][0.5] for x in refs)}
    om = res["ours_stages"]["median"]
    res["ratios"] = {s: ref_med[s] / max(om[s], 1e-9) for s in STAGES + ["after_clustering"]}
    res["ratios"]["compiled_total"] = ref_med["total"] / res["ours_fused"]["median"]
    res["ratios"]["e2e_no_cache"] = res["reference"]["e2e"] / e2e_cold
    res["ratios"]["e2e_warm_cache"] = res["reference"]["e2e"] / e2e_warm
    res["top1"] = {"reference_emd": res["reference"]["top1"], "ours_sinkhorn": res["ours_stages"]["top1"],
                   "ours_emd": res["ours_stages_emd"]["top1"]}
    return res


def run_study(res, protos, videos, labels, reps, splits_ref, seed):
    import jax
    import jax.numpy as jnp

    import upt_jax as U
    from benchmarks import reference
    from benchmarks.ours import half_class_splits, study_fn, timed

    masks = half_class_splits(protos.shape[0], 10, seed)
    lams = np.linspace(0.0, 1.0, 11).astype(np.float32)
    cfg = U.UPTConfig()
    t0 = time.perf_counter()
    f = study_fn(cfg)
    args = (protos, videos, labels, jnp.asarray(masks), jax.random.PRNGKey(0), jnp.asarray(lams), jnp.float32(1e-2))
    top1, first = timed(f, *args)
    e2e_inproc = time.perf_counter() - t0
    ts = [timed(f, *args)[1] for _ in range(reps)]
    res["ours"] = {"first_call": first, "median": statistics.median(ts), "runs": ts,
                   "top1_mean_over_splits": np.asarray(top1).mean(0).tolist()}
    print("ours study", res["ours"], flush=True)
    refs = []
    for s in range(splits_ref):
        cls = np.flatnonzero(masks[s])
        refs.append(reference.run_reference(protos, videos, labels, class_idx=cls, lams=(0.5,), seed=seed))
        print("reference split", s, refs[-1], flush=True)
    per_run = statistics.median(r["times"]["total"] for r in refs)
    ref_import = _ref_import_time()
    res["reference"] = {"per_run_s": per_run, "runs_timed": len(refs), "runs": refs,
                        "extrapolated_110_runs_s": 110 * per_run, "import_s": ref_import,
                        "note": "110 example-code runs (10 splits x 11 lam, each run clusters, transports and "
                                "computes Frechet means); timed on %d split(s), extrapolated" % len(refs)}
    ours_e2e = e2e_inproc + 2.0  # + interpreter/JAX import (~2 s, measured separately in the other cases)
    res["ours"]["e2e_estimate_s"] = ours_e2e
    res["ratios"] = {"compiled": 110 * per_run / res["ours"]["median"],
                     "e2e": (ref_import + 110 * per_run) / ours_e2e}
    return res


def to_markdown(res):
    lines = [f"# {res['case']}", "", f"Machine: {res['machine']}", f"Versions: {res['versions']}",
             f"Data: {res['data']}", ""]
    if res["case"] == "study":
        o, r = res["ours"], res["reference"]
        lines += ["| | reference | ours | ratio |", "|---|---|---|---|",
                  f"| 110 runs, compiled | {r['extrapolated_110_runs_s']:.1f} s (extrapolated from {r['runs_timed']} runs of {r['per_run_s']:.1f} s) | {o['median']:.2f} s | {res['ratios']['compiled']:.0f}x |",
                  f"| 110 runs, end to end | {r['extrapolated_110_runs_s'] + r['import_s']:.1f} s | {o['e2e_estimate_s']:.1f} s (first call {o['first_call']:.1f} s + ~2 s start) | {res['ratios']['e2e']:.0f}x |",
                  "", f"Mean top-1 over splits per lam (ours, Sinkhorn): {[round(v, 2) for v in o['top1_mean_over_splits']]}",
                  f"Reference top-1 at lam 0.5 on timed splits: {[x['top1'] for x in r['runs']]}", f"Note: {r['note']}"]
        return "\n".join(lines) + "\n"
    om, rm = res["ours_stages"]["median"], res["reference"]["median"]
    lines += ["| stage | reference (s) | ours compiled (s) | ours first call (s) | ratio |", "|---|---|---|---|---|"]
    for s in STAGES + ["after_clustering"]:
        fc = res["ours_stages"]["first_call"].get(s, float("nan"))
        lines.append(f"| {s} | {rm[s]:.3f} | {om[s]:.4f} | {fc:.2f} | {res['ratios'][s]:.1f}x |")
    lines += [f"| total (fused jit) | {rm['total']:.2f} | {res['ours_fused']['median']:.3f} | {res['ours_fused']['first_call']:.2f} | {res['ratios']['compiled_total']:.1f}x |",
              f"| end to end, no cache | {res['reference']['e2e']:.2f} | {res['ours_e2e']['no_cache']:.2f} | | {res['ratios']['e2e_no_cache']:.1f}x |",
              f"| end to end, warm persistent cache | {res['reference']['e2e']:.2f} | {res['ours_e2e']['warm_cache']:.2f} | | {res['ratios']['e2e_warm_cache']:.1f}x |",
              "", f"Top-1 (%), lam = 0.5: {res['top1']}",
              f"k-means inertia (ours): {res['ours_stages']['inertia']:.2f}, iterations {res['ours_stages']['kmeans_iters']}"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", required=True, choices=["paper-default", "no-clustering", "study"])
    ap.add_argument("--reps", type=int, default=3, help="timed runs of ours (median)")
    ap.add_argument("--reps-ref", type=int, default=1, help="timed runs of the reference (median)")
    ap.add_argument("--splits-ref", type=int, default=2, help="study: reference runs timed (extrapolated to 110)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=13_320, help="videos (smoke tests only)")
    ap.add_argument("--clusters", type=int, default=1000, help="C of the paper default (smoke tests only)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = ap.parse_args(argv)
    res = run_case(args.case, args.reps, args.reps_ref, args.seed, args.splits_ref, args.n, args.clusters)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{args.case}.json"), "w") as f:
        json.dump(res, f, indent=1, default=float)
    md = to_markdown(res)
    with open(os.path.join(args.out, f"{args.case}.md"), "w") as f:
        f.write(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
