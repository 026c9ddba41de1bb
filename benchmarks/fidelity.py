"""Fidelity: the example code's pipeline vs ``upt classify``, end to end, over seeds.

    upt export --world ucf101 --layout official --objects --out out/ucf101_official
    python -m benchmarks.fidelity --data out/ucf101_official --seeds 0-4

For each seed ``s``, on the same exported data folder:

- reference (:mod:`benchmarks.reference`, the example code's libraries and
  choices): scikit-learn ``KMeans(1000, n_init=10, random_state=s)`` on the
  normalised projections, POT ``ot.emd``, geomstats ``FrechetMean`` with its
  default settings per class, the example slerp at ``-l 0.5``;
- ours: ``upt classify --official DATA --solver emd --clusters 1000 --lam 0.5
  --frechet example --seed s --json OUT`` in a fresh process (wall time
  included), plus the k-means inertia of the same clustering
  (``api.cluster_videos`` with ``PRNGKey(s)`` and the same configuration).

Both sides record top-1 (lam 0.5), the k-means inertia (sum of squared
distances of the normalised projections to their centres, before the centres
are normalised) and times. Rows are appended to ``<out>.json`` as they finish
(an interrupted run loses at most the row in progress; rerunning skips the
(side, seed) pairs already there unless ``--fresh``); ``<out>.md`` holds the
tables: per seed, mean, std (ddof = 0), min and max of each side, the gap of
the means, and the inertia ratio per seed. The goal: mean top-1 within 0.5
points, our mean inertia within 0.3% of scikit-learn's and no seed more than
1% worse.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

__all__ = ["main", "run_reference_seed", "run_ours_seed", "summarize", "parse_seeds"]

GOAL_TOP1_POINTS = 0.5
GOAL_MEAN_INERTIA = 0.003
GOAL_MAX_INERTIA = 0.01


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"1,3"`` -> [1, 3]; ``"5"`` -> [5]."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    if not out:
        raise SystemExit(f"--seeds {text!r}: no seed; use e.g. 0-4 or 0,2,5")
    return out


def _load(data: str):
    from upt_jax.data import load_official

    ds = load_official(data)
    return np.asarray(ds.prototypes, np.float32), np.asarray(ds.videos, np.float32), np.asarray(ds.labels, np.int32)


def run_reference_seed(data: str, seed: int, *, clusters: int, lam: float) -> dict:
    """One example-code run (scikit-learn + POT + geomstats) on the data folder."""
    from benchmarks.reference import run_reference, versions

    protos, videos, labels = _load(data)
    t = time.perf_counter()
    out = run_reference(protos, videos, labels, n_clusters=clusters, n_init=10, lams=(lam,), seed=seed)
    wall = time.perf_counter() - t
    return {
        "side": "reference",
        "seed": seed,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_after": os.getloadavg()[0],
        "top1": out["top1"][float(lam)],
        "baseline_top1": out["baseline_top1"],
        "inertia": out["kmeans"].get("inertia"),
        "kmeans_iters": out["kmeans"].get("n_iter"),
        "seconds": wall,
        "stage_seconds": out["times"],
        "versions": versions(),
    }


def run_ours_seed(data: str, seed: int, *, clusters: int, lam: float) -> dict:
    """``upt classify`` in a fresh process, then the inertia of the same k-means call in this one."""
    import jax

    from upt_jax import api

    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "out.json")
        cmd = [sys.executable, "-m", "upt_jax", "classify", "--official", data, "--solver", "emd",
               "--clusters", str(clusters), "--lam", str(lam), "--frechet", "example", "--seed", str(seed),
               "--json", js]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        with open(js) as f:
            res = json.load(f)
    protos, videos, labels = _load(data)
    cfg = api.UPTConfig.example_code(n_clusters=clusters)
    centres = jax.jit(lambda v, k: api.cluster_videos(v, cfg, k))(videos, jax.random.PRNGKey(seed))
    diag = res.get("diagnostics", {})
    return {
        "side": "ours",
        "seed": seed,
        "load_after": os.getloadavg()[0],
        "top1": float(res["top1"]),
        "baseline_top1": float(res["baseline"]["top1"]),
        "inertia": float(centres.inertia),
        "kmeans_iters": int(diag.get("kmeans_iterations", int(centres.kmeans_iters))),
        "seconds": wall,
        "command": "upt " + " ".join(cmd[3:-2]),
        "config": cfg.as_dict(),
        "jax": jax.__version__,
    }


def _stats(v) -> dict:
    a = np.asarray(v, np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=0)), "min": float(a.min()), "max": float(a.max()), "n": int(a.size)}


def summarize(rows: list[dict]) -> dict:
    """Per-side statistics, the per-seed inertia ratio and the goals."""
    by = {side: {r["seed"]: r for r in rows if r["side"] == side} for side in ("reference", "ours")}
    out = {side: {key: _stats([r[key] for r in d.values()]) for key in ("top1", "inertia", "seconds") if d}
           for side, d in by.items()}
    both = sorted(set(by["reference"]) & set(by["ours"]))
    ratios = {s: by["ours"][s]["inertia"] / by["reference"][s]["inertia"] - 1.0 for s in both}
    out["paired_seeds"] = both
    out["inertia_excess"] = ratios
    if by["reference"] and by["ours"]:
        gap = out["ours"]["top1"]["mean"] - out["reference"]["top1"]["mean"]
        mean_excess = out["ours"]["inertia"]["mean"] / out["reference"]["inertia"]["mean"] - 1.0
        out["top1_gap"] = gap
        out["mean_inertia_excess"] = mean_excess
        out["goals"] = {
            f"mean top-1 within {GOAL_TOP1_POINTS} points": abs(gap) <= GOAL_TOP1_POINTS,
            f"mean inertia within {100 * GOAL_MEAN_INERTIA:.1f}%": mean_excess <= GOAL_MEAN_INERTIA,
            f"no seed more than {100 * GOAL_MAX_INERTIA:.0f}% worse": bool(ratios) and max(ratios.values()) <= GOAL_MAX_INERTIA,
        }
    return out


def _markdown(rows: list[dict], summ: dict, meta: dict) -> str:
    by = {side: {r["seed"]: r for r in rows if r["side"] == side} for side in ("reference", "ours")}
    seeds = sorted(set(by["reference"]) | set(by["ours"]))

    def cell(side, s, key, fmt):
        r = by[side].get(s)
        return "" if r is None or r.get(key) is None else format(r[key], fmt)

    lines = [
        "# Fidelity: example pipeline vs `upt classify` (paper default)",
        "",
        f"Data: `{meta['data']}` (N = {meta['n_videos']}, K = {meta['n_classes']}, d = {meta['dim']}); "
        f"C = {meta['clusters']}, lam = {meta['lam']} (the example's `-l {1 - meta['lam']:g}`), EMD, "
        "the example code's Frechet rule.",
        f"Machine: {meta['machine']}; load average at the end {meta['load']}.",
        *[f"Note: {n}" for n in meta.get("notes", [])],
        "",
        "Commands per seed s:",
        "",
        "- reference: `benchmarks/reference.py` `run_reference(..., n_clusters=C, n_init=10, seed=s)` "
        "(scikit-learn `KMeans(C, n_init=10, random_state=s)`, POT `ot.emd`, geomstats `FrechetMean`)",
        f"- ours: `upt classify --official DATA --solver emd --clusters {meta['clusters']} --lam {meta['lam']} "
        "--frechet example --seed s --json OUT` (fresh process; seconds = its wall time)",
        "",
        "| seed | reference top-1 | ours top-1 | reference inertia | ours inertia | ours / reference - 1 | reference s | ours s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in seeds:
        ex = summ["inertia_excess"].get(s)
        lines.append(
            f"| {s} | {cell('reference', s, 'top1', '.2f')} | {cell('ours', s, 'top1', '.2f')} | "
            f"{cell('reference', s, 'inertia', '.2f')} | {cell('ours', s, 'inertia', '.2f')} | "
            f"{'' if ex is None else f'{100 * ex:+.3f}%'} | {cell('reference', s, 'seconds', '.1f')} | "
            f"{cell('ours', s, 'seconds', '.1f')} |"
        )
    lines += ["", "| | reference | ours |", "|---|---|---|"]
    for key, fmt in (("top1", ".2f"), ("inertia", ".2f"), ("seconds", ".1f")):
        row = [key + " mean +- std (min - max)"]
        for side in ("reference", "ours"):
            st = summ.get(side, {}).get(key)
            row.append("" if st is None else f"{st['mean']:{fmt}} +- {st['std']:{fmt}} ({st['min']:{fmt}} - {st['max']:{fmt}})")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "std: ddof = 0 over seeds."]
    if "top1_gap" in summ:
        lines += [
            "",
            f"Mean top-1 gap (ours - reference): {summ['top1_gap']:+.2f} points over {len(summ['paired_seeds'])} paired seeds; "
            f"mean inertia ours / reference - 1: {100 * summ['mean_inertia_excess']:+.3f}%.",
            "",
        ]
        lines += [f"- {name}: {'met' if ok else 'MISSED'}" for name, ok in summ["goals"].items()]
    return "\n".join(lines) + "\n"


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="exported default world in the example layout (upt export ... --layout official)")
    ap.add_argument("--seeds", default="0-4", help="seeds, e.g. 0-4 or 0,3 (default 0-4)")
    ap.add_argument("--side", choices=("both", "reference", "ours"), default="both")
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--lam", type=float, default=0.5, help="fraction travelled (ours); the example's -l is 1 - lam")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "fidelity"),
                    help="output path without extension (default benchmarks/results/fidelity)")
    ap.add_argument("--fresh", action="store_true", help="ignore rows already in <out>.json")
    ap.add_argument("--note", default=None, help="a line about the conditions (load, threads), kept in the results")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    from tqdm import tqdm

    seeds = parse_seeds(args.seeds)
    path = args.out + ".json"
    rows = []
    notes = []
    if os.path.exists(path) and not args.fresh:
        with open(path) as f:
            old = json.load(f)
        rows = old.get("rows", [])
        notes = old.get("meta", {}).get("notes", [])
    protos, videos, _ = _load(args.data)
    meta = {"data": args.data, "n_videos": int(videos.shape[0]), "n_classes": int(protos.shape[0]),
            "dim": int(videos.shape[1]), "clusters": args.clusters, "lam": args.lam, "machine": _machine(),
            "notes": notes + ([args.note] if args.note else [])}
    sides = ["reference", "ours"] if args.side == "both" else [args.side]
    todo = [(side, s) for s in seeds for side in sides
            if not any(r["side"] == side and r["seed"] == s for r in rows)]
    run = {"reference": run_reference_seed, "ours": run_ours_seed}

    def save():
        meta["load"] = " ".join(f"{v:.1f}" for v in os.getloadavg())
        summ = summarize(rows)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            json.dump({"meta": meta, "rows": rows, "summary": summ}, f, indent=1, default=str)
        with open(args.out + ".md", "w") as f:
            f.write(_markdown(rows, summ, meta))
        return summ

    for side, s in tqdm(todo, desc="fidelity", disable=args.no_progress, file=sys.stderr):
        rows.append(run[side](args.data, s, clusters=args.clusters, lam=args.lam))
        save()
    summ = save()
    with open(args.out + ".md") as f:
        print(f.read())
    return 0 if all(summ.get("goals", {}).values()) else 1


if __name__ == "__main__":
    sys.exit(main())
