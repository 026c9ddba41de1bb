"""End to end, fresh processes, side by side: ``upt classify`` vs the reference pipeline (issue 13's table).

    python -m benchmarks.e2e_classify --data out/ucf101_official [--reps 3] [--reps-ref 1]
        [--cases no-clustering,no-clustering-sinkhorn,paper-default] [--after-clustering]

Cases (lam 0.5 on the exported UCF-101 world in the example layout):

- ``no-clustering``: ``upt classify --official DATA --solver emd --clusters 0
  --lam 0.5 --frechet example``; reference: :func:`benchmarks.reference.run_reference`
  with ``n_clusters=0`` (POT ``ot.emd`` + geomstats ``FrechetMean`` per class);
- ``no-clustering-sinkhorn``: ours with ``--solver sinkhorn --frechet converged``
  (no reference of its own: the example code has no such path; the table
  compares it with the EMD reference);
- ``paper-default``: ``--clusters 1000`` (reference: scikit-learn ``KMeans(1000,
  n_init=10)``).

Ours runs in a fresh process three ways: ``--no-compile-cache``; with an
empty persistent cache folder (cold: compiles and fills it); with the filled
folder (warm; ``--reps`` runs, median). The reference runs in a fresh
process too (``python -c``: imports, loading, the pipeline). Wall and CPU
seconds (user + sys of the child) are recorded, with the load average before
and after each run. ``--after-clustering`` adds the compiled time of
everything after clustering at C = 1000 (cost, transport, Frechet means,
update; classification separately). Results: ``benchmarks/results/e2e_classify.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

__all__ = ["main", "run_child", "after_clustering"]

OURS = {
    "no-clustering": ["--solver", "emd", "--clusters", "0", "--frechet", "example"],
    "no-clustering-sinkhorn": ["--solver", "sinkhorn", "--clusters", "0", "--frechet", "converged"],
    "paper-default": ["--solver", "emd", "--clusters", "1000", "--frechet", "example"],
}
REF_CLUSTERS = {"no-clustering": 0, "paper-default": 1000}

_REF_SCRIPT = """
import sys, json
from benchmarks.reference import run_reference
from upt_jax.data import load_official
import numpy as np
ds = load_official(sys.argv[1])
out = run_reference(np.asarray(ds.prototypes, np.float32), np.asarray(ds.videos, np.float32),
                    np.asarray(ds.labels, np.int32), n_clusters=int(sys.argv[2]), n_init=10, lams=(0.5,), seed=0)
print(json.dumps({"top1": out["top1"][0.5], "stage_seconds": out["times"]}))
"""


def run_child(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd`` in a fresh process; wall and CPU (user + sys) seconds, load averages, stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "load_before": load0, "load_after": os.getloadavg()[0],
            "stdout": proc.stdout, "stderr_tail": proc.stderr[-1500:]}


def _ours(data: str, case: str, cache: str | None, tmp: str) -> dict:
    js = os.path.join(tmp, "out.json")
    cmd = [sys.executable, "-m", "upt_jax"] + (["--no-compile-cache"] if cache is None else [])
    cmd += ["classify", "--official", data, "--lam", "0.5", *OURS[case], "--json", js]
    env = dict(os.environ)
    if cache is not None:
        env["UPT_JAX_CACHE_DIR"] = cache
    r = run_child(cmd, env)
    with open(js) as f:
        r["top1"] = float(json.load(f)["top1"])
    r["command"] = "upt " + ("--no-compile-cache " if cache is None else "") + " ".join(
        ["classify", "--official", data, "--lam", "0.5", *OURS[case]])
    del r["stdout"]
    r["stderr_tail"] = r["stderr_tail"].replace(tmp, "<tmp>")
    return r


def _reference(data: str, case: str) -> dict:
    r = run_child([sys.executable, "-c", _REF_SCRIPT, data, str(REF_CLUSTERS[case])])
    r.update(json.loads(r.pop("stdout").strip().splitlines()[-1]))
    return r


def _median(rows, key):
    return statistics.median(r[key] for r in rows)


def after_clustering(data: str, reps: int = 20, clusters: int = 1000) -> dict:
    """Compiled time of UPT after clustering at C = ``clusters`` (this process), per solver, median of ``reps``.

    Sinkhorn (eps 1e-2, converged Frechet means): one compiled program
    (cost, transport, Frechet means, update). EMD (the example code's
    choices): the problem (compiled), POT's network simplex on the host, the
    Frechet means + update (compiled). Classification (the ``[N, K]`` scores,
    top-1/top-5) is timed on its own.
    """
    import jax
    import numpy as np

    from upt_jax import api, metrics
    from upt_jax import transport as T
    from upt_jax.cli import _stages
    from upt_jax.data import load_official

    ds = load_official(data)
    protos = np.asarray(ds.prototypes, np.float32)
    videos = np.asarray(ds.videos, np.float32)
    labels = np.asarray(ds.labels, np.int32)
    hp = api.UPTHyper(lam=np.float32(0.5), epsilon=np.float32(1e-2))
    out = {"C": clusters, "reps": reps}
    for name, cfg in (("sinkhorn_converged", api.UPTConfig(n_clusters=clusters)),
                      ("emd_example", api.UPTConfig.example_code(n_clusters=clusters))):
        centres = jax.block_until_ready(_stages.targets_fn(cfg)(videos, jax.random.PRNGKey(0)))
        if cfg.solver == "sinkhorn":
            f = _stages.transport_fn(cfg)
            args = (protos, videos, centres, hp)
            t = time.perf_counter()
            jax.block_until_ready(f(*args))
            first = time.perf_counter() - t

            def once():
                return jax.block_until_ready(f(*args)[0])
        else:
            prob, upd = _stages.problem_fn(cfg), _stages.update_given_plan_fn(cfg)

            def once():
                cost, a, b, prior = prob(protos, videos, centres, hp)
                plan, ok = T._emd_host(np.asarray(a), np.asarray(b), np.asarray(cost), 1_000_000)
                return jax.block_until_ready(
                    upd(protos, centres, hp, prior, cost, a, b, plan.astype(np.float32), np.asarray(ok))[0])

            t = time.perf_counter()
            once()
            first = time.perf_counter() - t
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            new = once()
            ts.append(time.perf_counter() - t)
        ev = jax.jit(metrics.evaluate)
        jax.block_until_ready(ev(new, videos, labels))
        tc = []
        for _ in range(reps):
            t = time.perf_counter()
            jax.block_until_ready(ev(new, videos, labels))
            tc.append(time.perf_counter() - t)
        out[name] = {"first_call_s": first, "median_s": statistics.median(ts), "min_s": min(ts),
                     "classify_median_s": statistics.median(tc)}
        if cfg.solver == "emd":  # the host solve on its own
            cost, a, b, _ = prob(protos, videos, centres, hp)
            th = []
            for _ in range(reps):
                t = time.perf_counter()
                T._emd_host(np.asarray(a), np.asarray(b), np.asarray(cost), 1_000_000)
                th.append(time.perf_counter() - t)
            out[name]["host_emd_median_s"] = statistics.median(th)
        print(name, out[name], flush=True)
    out["load_after"] = os.getloadavg()[0]
    return out


def _markdown(res: dict) -> str:
    lines = [f"# End to end: `upt classify` vs the reference pipeline ({res['data']})", "",
             f"Machine: {res['machine']}; load average at start {res['load_start']:.2f}, "
             f"end {res['load_end']:.2f}.", "",
             "| case | reference wall s (CPU s) | ours no cache | ours cold cache | ours warm cache (median) | "
             "ratio warm (cold) | top-1 ref / ours |", "|---|---|---|---|---|---|---|"]
    for case, r in res["cases"].items():
        ref = r.get("reference")
        refc = res["cases"].get("no-clustering", {}).get("reference") if ref is None else ref
        warm = r["warm"]
        cell = lambda x: f"{x['wall_s']:.2f} ({x['cpu_s']:.2f})"  # noqa: E731
        wm = {"wall_s": _median(warm, "wall_s"), "cpu_s": _median(warm, "cpu_s")}
        ratio = "" if refc is None else (
            f"{refc['wall_s'] / wm['wall_s']:.1f}x ({refc['wall_s'] / r['cold']['wall_s']:.1f}x)")
        ref_cell = "(EMD reference above)" if ref is None else cell(ref)
        ref_top1 = "" if ref is None else format(ref["top1"], ".2f")
        lines.append(f"| {case} | {ref_cell} | {cell(r['no_cache'])} | {cell(r['cold'])} | {cell(wm)} | {ratio} | "
                     f"{ref_top1} / {r['cold']['top1']:.2f} |")
    lines += ["", "Commands (ours):", ""] + [f"- `{r['cold']['command']}`" for r in res["cases"].values()]
    if "after_clustering" in res:
        ac = res["after_clustering"]
        lines += ["", f"After clustering at C = {ac['C']} (compiled, median of {ac['reps']}):", "",
                  "| path | cost + transport + Frechet + update (ms) | of which host EMD (ms) | classification (ms) |",
                  "|---|---|---|---|"]
        for name in ("sinkhorn_converged", "emd_example"):
            x = ac[name]
            host = "" if "host_emd_median_s" not in x else format(1e3 * x["host_emd_median_s"], ".1f")
            lines.append(f"| {name} | {1e3 * x['median_s']:.1f} | {host} | {1e3 * x['classify_median_s']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the exported world in the example layout")
    ap.add_argument("--cases", default="no-clustering,no-clustering-sinkhorn,paper-default")
    ap.add_argument("--reps", type=int, default=3, help="warm-cache runs of ours (median)")
    ap.add_argument("--reps-ref", type=int, default=1, help="reference runs (median)")
    ap.add_argument("--after-clustering", action="store_true")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "e2e_classify"))
    args = ap.parse_args(argv)
    import platform

    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    res = {"data": args.data, "machine": machine,
           "load_start": os.getloadavg()[0], "cases": {}}
    tmp = tempfile.mkdtemp(prefix="upt_e2e_")
    try:
        for case in [c.strip() for c in args.cases.split(",") if c.strip()]:
            r = {}
            if case in REF_CLUSTERS:
                refs = [_reference(args.data, case) for _ in range(args.reps_ref)]
                r["reference_runs"] = refs
                r["reference"] = {"wall_s": _median(refs, "wall_s"), "cpu_s": _median(refs, "cpu_s"),
                                  "top1": refs[0]["top1"]}
                print(case, "reference", r["reference"], flush=True)
            r["no_cache"] = _ours(args.data, case, None, tmp)
            cache = os.path.join(tmp, f"cache_{case}")
            shutil.rmtree(cache, ignore_errors=True)
            r["cold"] = _ours(args.data, case, cache, tmp)
            r["warm"] = [_ours(args.data, case, cache, tmp) for _ in range(args.reps)]
            print(case, "ours", {k: (v if k != "warm" else [(w["wall_s"], w["cpu_s"]) for w in v]) for k, v in r.items()
                                 if k in ("no_cache", "cold", "warm")}, flush=True)
            res["cases"][case] = r
            res["load_end"] = os.getloadavg()[0]
            _save(args.out, res)
        if args.after_clustering:
            res["after_clustering"] = after_clustering(args.data)
        res["load_end"] = os.getloadavg()[0]
        _save(args.out, res)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(args.out + ".md") as f:
        print(f.read())
    return 0


def _save(out: str, res: dict) -> None:
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out + ".json", "w") as f:
        json.dump(res, f, indent=1, default=str)
    with open(out + ".md", "w") as f:
        f.write(_markdown(res))


if __name__ == "__main__":
    sys.exit(main())
