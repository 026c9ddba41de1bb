"""Label-free choice of lam, measured: which lam each criterion picks, and what it costs.

For every testbed (the UCF-101-like and HMDB-51-like worlds at every preset,
plus any portable folder given with ``--data``), every split (all classes and
Brattoli et al.'s 10 half-class splits, :mod:`upt_jax.protocols`), every
target set (C = 1000 and C = N) and lam = 0, 0.1, ..., 1, it computes top-1
(with the labels, for scoring only) and the label-free criteria of
:mod:`upt_jax.labelfree`. Each rule then picks a lam per split from the
criteria alone; the tables give the lam picked, top-1 there, and the gap to
the best lam picked on the labels (mean +- std over the half splits; the
all-classes split on its own). ``lam = 0.5`` (the paper's default, also a
label-free choice) is the reference.

Command (run by hand; not part of the tests)::

    python -m experiments.labelfree_study --out runs/labelfree
    python -m experiments.labelfree_study --out runs/labelfree --data wordnet=data/wordnet-nouns

Runtime: 70 minutes on the shared 2-core CPU under heavy load (load average
about 10; measured 2026-11-27) for both worlds, three presets, both C and the
WordNet nouns (the half splits alone: 25 minutes at load average 6);
k-means at C = 1000 for each split and its two halves dominates. Result: no
criterion is reliably better than the fixed lam = 0.5 (see
:mod:`upt_jax.labelfree`). Rows go to ``rows.jsonl`` as each (testbed, C, split) finishes; a
re-run skips finished ones. ``summary.md`` / ``summary.json`` hold the tables
with the configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

LAMS = tuple(round(0.1 * i, 1) for i in range(11))
RULES = (
    ("lam 0.5 (fixed)", None, None),
    ("plan agreement", "argmax", "plan_agreement"),
    ("held-out agreement", "argmax", "heldout"),
    ("info max", "argmax", "info_max"),
    ("reach (all classes predicted)", "reach", None),
    ("balance (count entropy)", "balance", None),
)


def _testbeds(args):
    from upt_jax import world

    for dataset in args.datasets:
        trained = {}  # the presets differ only in the test videos: one universal model per dataset

        def load(cfg, trained=trained):
            w = world.generate_world(cfg, params=trained.get("params"))
            trained["params"] = w.projection
            return w

        for preset in args.presets:
            cfg = world.make_world_config(dataset, preset, seed=args.seed)
            yield f"{dataset}:{preset}", cfg.to_dict(), lambda cfg=cfg, load=load: load(cfg)
    for spec in args.data:
        name, _, folder = spec.partition("=")

        def load(folder=folder):
            from upt_jax import data

            return data.load_dataset(folder)

        yield name, {"folder": os.path.abspath(folder)}, load


def _make_runner(cfg, temperature):
    import jax

    import upt_jax as U
    from upt_jax import labelfree as L
    from upt_jax import metrics

    lams = np.asarray(LAMS, np.float32)

    @jax.jit
    def rows(p, x, y, cm, vm, centres, ca, cb, ma, mb):
        def one(lam):
            hp = U.UPTHyper(lam=lam, epsilon=1e-2)
            c = L.criteria(p, x, centres, cfg, hp, temperature=temperature, class_mask=cm, video_mask=vm)
            h = L.heldout_agreement(p, x, ca, cb, cfg, hp, mask_a=ma, mask_b=mb, class_mask=cm)
            new, diag = U.transport_update(p, centres, cfg, hp, cm)
            m = metrics.evaluate(new, x, y, class_mask=cm, video_mask=vm)
            return c, h, m.top1, m.unreachable, diag.converged

        return jax.vmap(one)(lams)

    return rows


def run(args) -> Path:
    import jax
    from tqdm import tqdm

    import upt_jax as U
    from upt_jax import labelfree as L
    from upt_jax import protocols

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / "rows.jsonl"
    done = set()
    if rows_path.is_file():
        for line in rows_path.read_text().splitlines():
            r = json.loads(line)
            done.add((r["testbed"], r["clusters"], r["split"]))
    cluster = jax.jit(U.cluster_videos, static_argnames="config")
    runners = {}
    for name, tb_config, load in _testbeds(args):
        ds = None
        for c in args.clusters:
            cfg = U.UPTConfig(n_clusters=c, solver="sinkhorn")
            if c not in runners:
                runners[c] = _make_runner(cfg, args.temperature)
            if ds is None:
                t0 = time.perf_counter()
                ds = load()
                print(f"{name}: {len(ds.class_names)} classes, {len(ds.labels)} videos ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
                splits = protocols.from_spec("all+half", ds.labels, len(ds.class_names), ds.class_names)
            todo = [s for s in range(len(splits)) if (name, c, splits.names[s]) not in done]
            if not todo:
                continue
            for family in ("all", "half"):
                sel = [s for s in todo if splits.family[s] == family]
                if not sel:
                    continue
                index, mask = protocols.compact(splits.video_mask[sel])
                for j, s in enumerate(tqdm(sel, desc=f"{name} C={c or 'N'} {family}", file=sys.stderr, disable=args.no_progress)):
                    t0 = time.perf_counter()
                    x = np.asarray(ds.videos)[index[j]]
                    y = np.asarray(ds.labels)[index[j]]
                    vm, cm = mask[j], splits.class_mask[s]
                    key = jax.random.fold_in(jax.random.key(args.seed), s)
                    centres = cluster(x, cfg, key, vm)
                    ma, mb = L.random_halves(vm, jax.random.fold_in(key, 1))
                    ca = cluster(x, cfg, key, ma)
                    cb = cluster(x, cfg, key, mb)
                    crit, held, top1, unr, conv = runners[c](ds.prototypes, x, y, cm, vm, centres, ca, cb, ma, mb)
                    row = {
                        "testbed": name,
                        "config": tb_config,
                        "clusters": c,
                        "split": splits.names[s],
                        "family": family,
                        "lams": list(LAMS),
                        "top1": np.asarray(top1).round(4).tolist(),
                        "never_predicted": np.asarray(unr).tolist(),
                        "criteria": {k: np.asarray(v).round(6).tolist() for k, v in crit._asdict().items()},
                        "heldout": np.asarray(held).round(6).tolist(),
                        "converged": bool(np.all(np.asarray(conv))),
                        "seconds": round(time.perf_counter() - t0, 2),
                    }
                    with open(rows_path, "a") as f:
                        f.write(json.dumps(row) + "\n")
                        f.flush()
                        os.fsync(f.fileno())
    summarize(out, args)
    return out


def _pick(row, rule, criterion):
    from upt_jax import labelfree as L

    if rule is None:
        return LAMS.index(0.5)
    values = dict(row["criteria"], heldout=row["heldout"])
    return L.choose(row["lams"], values, rule, criterion, tol=0.01)


def summarize(out: Path, args=None) -> dict:
    rows = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["testbed"], r["clusters"], r["family"]), []).append(r)
    table = []
    for (tb, c, family), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], -kv[0][1] if kv[0][1] else -10**9, kv[0][2])):
        best_idx = [int(np.flatnonzero(np.asarray(r["top1"]) == max(r["top1"]))[0]) for r in rs]
        best = np.array([r["top1"][i] for r, i in zip(rs, best_idx)])
        entry = {
            "testbed": tb,
            "clusters": c,
            "family": family,
            "n_splits": len(rs),
            "best_lam": [LAMS[i] for i in best_idx],
            "best_top1": best.tolist(),
            "rules": {},
        }
        for label, rule, criterion in RULES:
            idx = [_pick(r, rule, criterion) for r in rs]
            top = np.array([r["top1"][i] for r, i in zip(rs, idx)])
            entry["rules"][label] = {"lam": [LAMS[i] for i in idx], "top1": top.tolist(), "gap": (best - top).tolist()}
        table.append(entry)
    lines = [
        "# Label-free choice of lam",
        "",
        "UPT with Sinkhorn (epsilon 1e-2), lam = 0, 0.1, ..., 1; splits: all classes and 10 half-class splits;",
        "criteria from `upt_jax.labelfree` (info max temperature "
        f"{getattr(args, 'temperature', 0.05)}); gap = top-1 at the best lam on labels - top-1 at the picked lam.",
        "Half splits: mean +- std over the 10 splits (lam: mean of the picked lams).",
        "",
        "| testbed | C | split | best on labels: lam / top-1 | " + " | ".join(label for label, _, _ in RULES) + " |",
        "|---|---|---|---|" + "---|" * len(RULES),
    ]

    def fmt(vals, digits=1):
        v = np.asarray(vals, float)
        return f"{v.mean():.{digits}f}" if v.size == 1 else f"{v.mean():.{digits}f} +- {v.std():.{digits}f}"

    for e in table:
        cells = [f"{fmt(e['best_lam'], 2)} / {fmt(e['best_top1'])}"]
        for label, _, _ in RULES:
            rr = e["rules"][label]
            cells.append(f"lam {fmt(rr['lam'], 2)}: {fmt(rr['top1'])} (gap {fmt(rr['gap'])})")
        c = "N" if not e["clusters"] else str(e["clusters"])
        lines.append(f"| {e['testbed']} | {c} | {e['family']} | " + " | ".join(cells) + " |")
    # overall: mean gap per rule over every (testbed, C, split)
    lines += ["", "Mean gap over every testbed, C and split (points of top-1; lower is better):", ""]
    lines.append("| rule | mean gap | max gap | picks the best lam |")
    lines.append("|---|---|---|---|")
    for label, _, _ in RULES:
        gaps = np.concatenate([e["rules"][label]["gap"] for e in table])
        exact = np.mean(np.concatenate([np.asarray(e["rules"][label]["gap"]) == 0 for e in table]))
        lines.append(f"| {label} | {gaps.mean():.2f} | {gaps.max():.2f} | {100 * exact:.0f} % |")
    env = {"python": platform.python_version()}
    try:
        import jax
        import ott

        env.update(jax=jax.__version__, ott=ott.__version__, device=str(jax.devices()[0].device_kind))
    except Exception:  # pragma: no cover
        pass
    summary = {"table": table, "environment": env, "lams": list(LAMS)}
    if args is not None:
        summary["arguments"] = {k: v for k, v in vars(args).items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--out", required=True, help="output folder (rows.jsonl, summary.md, summary.json)")
    parser.add_argument("--datasets", nargs="+", default=["ucf101", "hmdb51"], help="worlds (default both)")
    parser.add_argument("--presets", nargs="+", default=["clean", "default", "hard"], help="world presets")
    parser.add_argument("--data", nargs="*", default=[], metavar="NAME=DIR", help="extra testbeds: data folders")
    parser.add_argument("--clusters", nargs="+", type=int, default=[1000, 0], help="C values (0 = no clustering)")
    parser.add_argument("--temperature", type=float, default=0.05, help="info max temperature")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--summary-only", action="store_true", help="only rebuild the tables from rows.jsonl")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.summary_only:
        summarize(Path(args.out), args)
    else:
        run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
