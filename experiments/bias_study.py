"""The kind of bias, per testbed, and which transductive method wins as it moves.

Three tables (all classes of each testbed; seed 0):

1. ``testbeds``: the bias statistics of :func:`upt_jax.bias.bias_statistics`
   (spread of the classes' mean scores against the mean within-class spread,
   Gini of the predicted-class counts, classes never predicted) and top-1 of
   every method of :mod:`upt_jax.baselines` and of UPT, on both worlds at
   every preset and on any portable folder given with ``--data`` (e.g. the
   WordNet nouns testbed of ``scripts/wordnet_testbed.py``);
2. ``offset``: the UCF-101 world (clean and default presets, and the default
   with a moderate nuisance ``eta = 2``) as the kind-of-bias knob
   ``offset_scale`` moves from 0 (no per-class offset) to 1.5;
3. ``imbalance``: the UCF-101 world (clean and default) with Zipf class
   sizes (``imbalance`` s = 0, 0.5, 1): balanced predictions with a uniform,
   an estimated (EM on the baseline's or on UPT's scores) and the true
   class prior, against UPT, and the error of the estimated priors.

UPT here is Sinkhorn (epsilon 1e-2), lam 0.5, no clustering (C = N) unless
the row says C = 1000. Command (run by hand; not part of the tests)::

    python -m experiments.bias_study --out runs/bias --data wordnet=data/wordnet-nouns

Runtime: about 50 minutes on the shared 2-core CPU under heavy load (load
average about 10; measured 2026-11-27). Rows go to ``rows.jsonl``
as they finish (a re-run skips them); ``summary.md`` holds the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

METHODS = (
    ("baseline", "baseline", {}),
    ("CSLS (k 10)", "csls", {}),
    ("inverted softmax (beta 10)", "inverted-softmax", {}),
    ("inverted softmax (beta 30)", "inverted-softmax", {"beta": 30.0}),
    ("centring", "centre", {}),
    ("balanced", "balanced", {}),
    ("refinement", "refine", {}),
    ("balanced refinement", "refine-balanced", {}),
    ("UPT", "upt", {}),
    ("UPT + CSLS", "upt+csls", {}),
    ("UPT + inverted softmax", "upt+inverted-softmax", {}),
    ("UPT + centring", "upt+centre", {}),
    ("UPT + balanced", "upt+balanced", {}),
)
SHORT = {
    "baseline": "base",
    "CSLS (k 10)": "CSLS",
    "inverted softmax (beta 10)": "IS10",
    "inverted softmax (beta 30)": "IS30",
    "centring": "centre",
    "balanced": "bal",
    "refinement": "refine",
    "balanced refinement": "ref-bal",
    "UPT": "UPT",
    "UPT (C = 1000)": "UPT1000",
    "UPT + CSLS": "U+CSLS",
    "UPT + inverted softmax": "U+IS10",
    "UPT + centring": "U+centre",
    "UPT + balanced": "U+bal",
}


class Runner:
    """Jitted methods, one compile per (method, shape)."""

    def __init__(self, seed=0):
        import jax

        import upt_jax as U
        from upt_jax import baselines, bias, metrics

        self.jax, self.U, self.B, self.bias, self.metrics = jax, U, baselines, bias, metrics
        self.key = jax.random.key(seed)
        self.uh = U.UPTHyper(lam=0.5, epsilon=1e-2)
        self.cache = {}

    def method(self, name, clusters=0, prior_kind="uniform"):
        ck = (name, clusters, prior_kind)
        if ck not in self.cache:
            cfg = self.B.method_config(name, prior=prior_kind)
            run = self.B.make_method(cfg, self.U.UPTConfig(n_clusters=clusters, solver="sinkhorn"))
            metrics = self.metrics

            def f(p, x, y, key, hyper, uh, prior):
                out = run(p, x, key, hyper, uh, prior=prior)
                m = metrics.evaluate_scores(out.scores, y)
                return m.top1, m.unreachable, out.prior, out.scores

            self.cache[ck] = self.jax.jit(f)
        return self.cache[ck]

    def evaluate(self, name, p, x, y, *, clusters=0, prior_kind="uniform", prior=None, **hyper):
        cfg = self.B.method_config(name)
        hp = cfg.hyper(**hyper)
        if prior is None:
            prior = np.ones(len(p), np.float32)
        top1, unr, pi, scores = self.method(name, clusters, prior_kind)(p, x, y, self.key, hp, self.uh, np.asarray(prior, np.float32))
        return float(top1), int(unr), np.asarray(pi), scores

    def stats(self, p, x):
        s = self.metrics.scores(p, x)
        st = self.jax.jit(self.bias.bias_statistics)(s)
        return {k: round(float(v), 4) for k, v in st._asdict().items() if np.ndim(v) == 0}


def _store(path):
    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            done[r["key"]] = r
    return done


def _append(path, row):
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _world(dataset, preset, trained, **kw):
    from upt_jax import world

    cfg = world.make_world_config(dataset, preset, seed=0, **kw)
    w = world.generate_world(cfg, params=trained.get(dataset))
    trained[dataset] = w.projection
    return w, cfg.to_dict()


def run(args) -> None:
    from tqdm import tqdm

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "rows.jsonl"
    done = _store(path)
    r = Runner()
    trained: dict = {}

    def testbed_rows(section, name, get, config_extra=None, with_c1000=False):
        methods = list(METHODS) + ([("UPT (C = 1000)", "upt", {"clusters": 1000})] if with_c1000 else [])
        keys = [f"{section}|{name}|{label}" for label, _, _ in methods]
        if all(k in done for k in keys) and f"{section}|{name}|stats" in done:
            return
        t0 = time.perf_counter()
        w, cfg = get()
        p, x, y = w.prototypes, w.videos, w.labels
        if f"{section}|{name}|stats" not in done:
            row = {"key": f"{section}|{name}|stats", "section": section, "testbed": name, "config": cfg, **(config_extra or {}), "stats": r.stats(p, x)}
            _append(path, row)
            done[row["key"]] = row
        for (label, method, extra), key in tqdm(list(zip(methods, keys)), desc=name, file=sys.stderr, disable=args.no_progress):
            if key in done:
                continue
            extra = dict(extra)
            clusters = extra.pop("clusters", 0)
            top1, unr, _, _ = r.evaluate(method, p, x, y, clusters=clusters, **extra)
            row = {"key": key, "section": section, "testbed": name, "method": label, "top1": round(top1, 2), "never_predicted": unr, **(config_extra or {})}
            _append(path, row)
            done[key] = row
        print(f"{section} {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    # 1. every testbed
    for dataset in args.datasets:
        for preset in ("clean", "default", "hard"):
            testbed_rows("testbeds", f"{dataset}:{preset}", lambda d=dataset, p=preset: _world(d, p, trained), with_c1000=True)
    for spec in args.data:
        name, _, folder = spec.partition("=")

        def load(folder=folder):
            from upt_jax import data

            return data.load_dataset(folder), {"folder": os.path.abspath(folder)}

        testbed_rows("testbeds", name, load, with_c1000=True)
    # 2. the kind-of-bias knob, on the clean and default presets and at a moderate nuisance (eta 2)
    for series, preset, extra in (("clean", "clean", {}), ("default", "default", {}), ("eta=2", "default", {"eta": 2.0})):
        for rho in args.offsets:
            testbed_rows(
                "offset",
                f"ucf101:{series}:offset_scale={rho}",
                lambda p=preset, rho=rho, extra=extra: _world("ucf101", p, trained, offset_scale=rho, **extra),
                {"offset_scale": rho, "preset": series},
            )
    # 3. imbalance
    for preset in ("clean", "default"):
        for s in args.imbalance:
            name = f"ucf101:{preset}:imbalance={s}"
            key = f"imbalance|{name}"
            if key in done:
                continue
            w, cfg = _world("ucf101", preset, trained, imbalance=s)
            p, x, y = w.prototypes, w.videos, w.labels
            k = len(p)
            true = np.bincount(y, minlength=k) / y.size
            res = {"key": key, "section": "imbalance", "testbed": name, "preset": preset, "imbalance": s, "config": cfg, "stats": r.stats(p, x)}
            res["class_sizes"] = [int(v) for v in np.bincount(y, minlength=k)]
            res["methods"] = {}
            for label, method, kw in (
                ("baseline", "baseline", {}),
                ("balanced, uniform prior", "balanced", {}),
                ("balanced, prior estimated from the baseline", "balanced", {"prior_kind": "estimated"}),
                ("balanced, true prior", "balanced", {"prior_kind": "given", "prior": true}),
                ("balanced refinement, true prior", "refine-balanced", {"prior_kind": "given", "prior": true}),
                ("UPT", "upt", {}),
                ("UPT + balanced, uniform prior", "upt+balanced", {}),
                ("UPT + balanced, prior estimated from UPT", "upt+balanced", {"prior_kind": "estimated"}),
                ("UPT + balanced, true prior", "upt+balanced", {"prior_kind": "given", "prior": true}),
            ):
                top1, unr, pi, _ = r.evaluate(method, p, x, y, **kw)
                res["methods"][label] = {"top1": round(top1, 2), "never_predicted": unr}
                if kw.get("prior_kind") == "estimated":
                    res["methods"][label]["prior_l1_error"] = round(float(np.abs(pi - true).sum()), 4)
            res["uniform_prior_l1_error"] = round(float(np.abs(1.0 / k - true).sum()), 4)
            _append(path, res)
            done[key] = res
            print(f"imbalance {name} done", file=sys.stderr)
    summarize(out)


def summarize(out: Path) -> str:
    rows = list(_store(out / "rows.jsonl").values())
    lines = ["# The kind of bias and the transductive methods", ""]

    def table(section, title, first_cols):
        sel = [r for r in rows if r["section"] == section and "method" in r]
        names = list(dict.fromkeys(r["testbed"] for r in sel))
        if not names:
            return
        methods = list(dict.fromkeys(r["method"] for r in sel))
        stats = {r["testbed"]: r["stats"] for r in rows if r["section"] == section and r["key"].endswith("|stats")}
        lines.extend([f"## {title}", "", "Bias statistics of the baseline's scores; top-1 % of each method, the best in bold.", ""])
        head = ["testbed", *first_cols, "offset / within", "Gini", "never"] + [SHORT.get(m, m) for m in methods]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for n in names:
            vals = {r["method"]: r for r in sel if r["testbed"] == n}
            best = max(v["top1"] for v in vals.values())
            st = stats.get(n, {})
            extra = [str(next(r.get(c.split()[0]) for r in sel if r["testbed"] == n)) for c in first_cols]
            cells = [n, *extra, f"{st.get('offset_spread', float('nan')):.3f} / {st.get('within_spread', float('nan')):.3f}", f"{st.get('gini', float('nan')):.3f}", str(int(st.get("never_predicted", -1)))]
            for m in methods:
                v = vals.get(m)
                if v is None:
                    cells.append("")
                    continue
                t = f"{v['top1']:.1f}"
                cells.append(f"**{t}**" if v["top1"] == best else t)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines.append("Columns: " + ", ".join(f"{SHORT.get(m, m)} = {m}" for m in methods) + ".")
        lines.append("")

    table("testbeds", "Every testbed (all classes)", [])
    table("offset", "The kind-of-bias knob (UCF-101 world, offset_scale)", ["offset_scale"])
    imb = [r for r in rows if r["section"] == "imbalance"]
    if imb:
        labels = list(imb[0]["methods"])
        lines.extend(["## Imbalanced test sets (UCF-101 world, Zipf class sizes)", ""])
        head = ["testbed", "class sizes", "Gini (baseline)"] + labels + ["prior L1 error: uniform / from baseline / from UPT"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for r in imb:
            m = r["methods"]
            cells = [r["testbed"], f"{min(r['class_sizes'])}-{max(r['class_sizes'])}", f"{r['stats']['gini']:.3f}"]
            cells += [f"{m[label]['top1']:.1f}" for label in labels]
            cells.append(
                f"{r['uniform_prior_l1_error']:.3f} / {m['balanced, prior estimated from the baseline']['prior_l1_error']:.3f} / "
                f"{m['UPT + balanced, prior estimated from UPT']['prior_l1_error']:.3f}"
            )
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    text = "\n".join(lines)
    (out / "summary.md").write_text(text + "\n")
    print(text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--datasets", nargs="+", default=["ucf101", "hmdb51"])
    parser.add_argument("--data", nargs="*", default=[], metavar="NAME=DIR")
    parser.add_argument("--offsets", nargs="+", type=float, default=[0.0, 0.25, 0.5, 1.0, 1.5])
    parser.add_argument("--imbalance", nargs="+", type=float, default=[0.0, 0.5, 1.0])
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.summary_only:
        summarize(Path(args.out))
    else:
        run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
