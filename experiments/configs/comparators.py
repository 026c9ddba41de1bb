"""comparators: UPT against the transductive corrections, side by side, on every testbed.

Every method of :mod:`upt_jax.baselines` and UPT, on the same features and
splits (the ``methods`` task of :mod:`upt_jax.sweep.task_methods`): the
baseline, CSLS (k 10), the inverted softmax (beta 10 and 30), per-class
centring, Sinkhorn-balanced predictions, prototype refinement (softmax and
balanced weights), UPT at C = 1000 (the paper's setting) and without
clustering (C = N), and UPT followed by each correction (C = N). All UPT
transports are Sinkhorn, epsilon 1e-2 (also the balanced correction's), lam
0.5. Testbeds: the UCF-101 and HMDB-51 default worlds (seed 0) and, when
its folder exists, the WordNet nouns testbed (real sentence embeddings);
protocols: all classes and Brattoli et al.'s random half-class splits
(mean +- std over the splits, ddof = 0; see "Grid" below). Each row also carries the bias
statistics of the baseline's scores on its split (``baseline_offset_spread``,
``baseline_within_spread``, ``baseline_gini``, ``baseline_never_predicted``).

Grid: all classes and the first 5 half splits (seeds 0-4, ``PROTOCOL``), not
all 10: the full grid would take about 40 minutes on the shared 2-core
machine the numbers below were measured on; ``PROTOCOL = "half+all"`` runs
all 10 (the EXPECTED half-split means are then different numbers).

The WordNet nouns testbed is a data folder that must be built first (about
16 minutes of embedding on 2 CPU cores, once)::

    HF_HUB_OFFLINE=1 .embed-venv/bin/python scripts/wordnet_testbed.py /usr/share/wordnet --out data/wordnet-nouns

The study reads it from ``$UPT_WORDNET_NOUNS`` (default ``data/wordnet-nouns``
in the current folder); without it the study runs on the two worlds only and
says so on stderr.

Command::

    UPT_WORDNET_NOUNS=data/wordnet-nouns upt sweep experiments/configs/comparators.py --out runs/comparators --check
    python experiments/configs/comparators.py runs/comparators     # the README's tables from the rows

Runtime: 1431 s wall (23.9 min; 361 s of CPU time) for 252 rows on a
shared 2-core CPU under heavy load (load average about 10 throughout; JAX
0.10.2 CPU, 2026-11-27): data 49 s, k-means at C = 1000 for the 18 splits
391 s, 14 compilations 36 s, rows 948 s. On an idle machine expect about a
third of that.

Expected numbers (top-1 %, all classes and mean over the 5 half splits; std
with ddof = 0), ``upt sweep ... --check`` compares them with the run
(``EXPECTED``; the WordNet entries only when its folder is there):

=========================  ======  ======  =======  ===========  ===========  ===========
method                     UCF     HMDB    WordNet  UCF half     HMDB half    WordNet half
=========================  ======  ======  =======  ===========  ===========  ===========
baseline                   31.2    32.1    33.3     40.9 ± 2.2   40.0 ± 1.8   39.7 ± 1.2
inverted softmax (b 30)    68.1    62.0    26.4     76.0 ± 2.4   68.5 ± 2.0   31.5 ± 1.9
balanced predictions       69.2    64.1    35.0     76.9 ± 2.1   71.2 ± 1.6   41.7 ± 1.2
balanced refinement        44.3    39.2    39.9     57.4 ± 2.5   50.6 ± 1.3   49.4 ± 2.1
UPT (C = 1000)             39.1    36.2    39.0     53.4 ± 2.7   48.4 ± 1.2   47.9 ± 2.1
UPT (C = N)                45.8    41.0    39.4     58.8 ± 2.4   52.3 ± 1.2   48.3 ± 2.1
=========================  ======  ======  =======  ===========  ===========  ===========

On the worlds (bias = a per-class score offset) the score corrections beat
UPT by 20+ points; on the WordNet nouns (real sentence embeddings, small
offsets) they gain little or lose, and the methods that move the prototypes
(UPT, refinement) win. The README section "Transductive comparators" has
every method.
"""

from __future__ import annotations

import os
import sys

from upt_jax.sweep import Study

#: all classes and the first 5 of the 10 half splits (seeds 0-4): the full 10 split grid took too long for the
#: shared 2-core machine the README numbers were measured on; ``protocol="half+all"`` gives all 10.
PROTOCOL = "half:5+all"

__all__ = ["get_config", "sweep", "EXPECTED", "EXPECTED_WORLDS", "EXPECTED_WORDNET", "METHODS", "PROTOCOL", "wordnet_folder",
           "tables"]

#: (label in the tables, static choice)
METHODS = (
    ("baseline", {"method": "baseline"}),
    ("CSLS (k 10)", {"method": "csls"}),
    ("inverted softmax (beta 10)", {"method": "inverted-softmax", "beta": 10.0}),
    ("inverted softmax (beta 30)", {"method": "inverted-softmax", "beta": 30.0}),
    ("centring", {"method": "centre"}),
    ("balanced predictions", {"method": "balanced"}),
    ("refinement", {"method": "refine"}),
    ("balanced refinement", {"method": "refine-balanced"}),
    ("UPT (C = 1000)", {"method": "upt", "n_clusters": 1000}),
    ("UPT (C = N)", {"method": "upt"}),
    ("UPT + CSLS", {"method": "upt+csls"}),
    ("UPT + inverted softmax (beta 10)", {"method": "upt+inverted-softmax", "beta": 10.0}),
    ("UPT + centring", {"method": "upt+centre"}),
    ("UPT + balanced", {"method": "upt+balanced"}),
)

#: top-1 % (all classes; mean over the half splits 0-4), measured 2026-11-27 (``upt sweep --check`` compares)
EXPECTED_WORLDS = [
    {"dataset": "hmdb51:default", "protocol": "all", "top1": 32.13, "tol": 0.1,
     "static": "beta=10.0,method=baseline,n_clusters=0"},
    {"dataset": "hmdb51:default", "protocol": "all", "top1": 49.57, "tol": 0.1,
     "static": "beta=10.0,method=csls,n_clusters=0"},
    {"dataset": "hmdb51:default", "protocol": "all", "top1": 62.00, "tol": 0.1,
     "static": "beta=30.0,method=inverted-softmax,n_clusters=0"},
    {"dataset": "hmdb51:default", "protocol": "all", "top1": 48.37, "tol": 0.1,
     "static": "beta=10.0,method=centre,n_clusters=0"},
    {"dataset": "hmdb51:default", "protocol": "all", "top1": 64.13, "tol": 0.1,
     "static": "beta=10.0,method=balanced,n_clusters=0"},
    {"dataset": "hmdb51:default", "protocol": "all", "top1": 39.15, "tol": 0.1,
     "static": "beta=10.0,method=refine-balanced,n_clusters=0"},
    {"dataset": "hmdb51:default", "protocol": "all", "top1": 36.21, "tol": 0.1,
     "static": "beta=10.0,method=upt,n_clusters=1000"},
    {"dataset": "hmdb51:default", "protocol": "all", "top1": 41.00, "tol": 0.1,
     "static": "beta=10.0,method=upt,n_clusters=0"},
    {"dataset": "hmdb51:default", "protocol": "all", "top1": 46.57, "tol": 0.1,
     "static": "beta=10.0,method=upt+balanced,n_clusters=0"},
    {"dataset": "hmdb51:default", "protocol": "half", "top1": 39.99, "tol": 0.1,
     "static": "beta=10.0,method=baseline,n_clusters=0"},
    {"dataset": "hmdb51:default", "protocol": "half", "top1": 59.05, "tol": 0.1,
     "static": "beta=10.0,method=csls,n_clusters=0"},
    {"dataset": "hmdb51:default", "protocol": "half", "top1": 68.55, "tol": 0.1,
     "static": "beta=30.0,method=inverted-softmax,n_clusters=0"},
    {"dataset": "hmdb51:default", "protocol": "half", "top1": 59.74, "tol": 0.1,
     "static": "beta=10.0,method=centre,n_clusters=0"},
    {"dataset": "hmdb51:default", "protocol": "half", "top1": 71.22, "tol": 0.1,
     "static": "beta=10.0,method=balanced,n_clusters=0"},
    {"dataset": "hmdb51:default", "protocol": "half", "top1": 50.57, "tol": 0.1,
     "static": "beta=10.0,method=refine-balanced,n_clusters=0"},
    {"dataset": "hmdb51:default", "protocol": "half", "top1": 48.41, "tol": 0.1,
     "static": "beta=10.0,method=upt,n_clusters=1000"},
    {"dataset": "hmdb51:default", "protocol": "half", "top1": 52.33, "tol": 0.1,
     "static": "beta=10.0,method=upt,n_clusters=0"},
    {"dataset": "hmdb51:default", "protocol": "half", "top1": 57.39, "tol": 0.1,
     "static": "beta=10.0,method=upt+balanced,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "all", "top1": 31.22, "tol": 0.1,
     "static": "beta=10.0,method=baseline,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "all", "top1": 50.84, "tol": 0.1,
     "static": "beta=10.0,method=csls,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "all", "top1": 68.11, "tol": 0.1,
     "static": "beta=30.0,method=inverted-softmax,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "all", "top1": 55.31, "tol": 0.1,
     "static": "beta=10.0,method=centre,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "all", "top1": 69.15, "tol": 0.1,
     "static": "beta=10.0,method=balanced,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "all", "top1": 44.29, "tol": 0.1,
     "static": "beta=10.0,method=refine-balanced,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "all", "top1": 39.12, "tol": 0.1,
     "static": "beta=10.0,method=upt,n_clusters=1000"},
    {"dataset": "ucf101:default", "protocol": "all", "top1": 45.82, "tol": 0.1,
     "static": "beta=10.0,method=upt,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "all", "top1": 54.83, "tol": 0.1,
     "static": "beta=10.0,method=upt+balanced,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "half", "top1": 40.89, "tol": 0.1,
     "static": "beta=10.0,method=baseline,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "half", "top1": 62.74, "tol": 0.1,
     "static": "beta=10.0,method=csls,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "half", "top1": 76.00, "tol": 0.1,
     "static": "beta=30.0,method=inverted-softmax,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "half", "top1": 66.87, "tol": 0.1,
     "static": "beta=10.0,method=centre,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "half", "top1": 76.93, "tol": 0.1,
     "static": "beta=10.0,method=balanced,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "half", "top1": 57.44, "tol": 0.1,
     "static": "beta=10.0,method=refine-balanced,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "half", "top1": 53.38, "tol": 0.1,
     "static": "beta=10.0,method=upt,n_clusters=1000"},
    {"dataset": "ucf101:default", "protocol": "half", "top1": 58.82, "tol": 0.1,
     "static": "beta=10.0,method=upt,n_clusters=0"},
    {"dataset": "ucf101:default", "protocol": "half", "top1": 66.95, "tol": 0.1,
     "static": "beta=10.0,method=upt+balanced,n_clusters=0"},
]
#: the same on the WordNet nouns testbed (checked when its folder is there)
EXPECTED_WORDNET = [
    {"dataset": "wordnet-nouns", "protocol": "all", "top1": 33.32, "tol": 0.1,
     "static": "beta=10.0,method=baseline,n_clusters=0"},
    {"dataset": "wordnet-nouns", "protocol": "all", "top1": 33.13, "tol": 0.1,
     "static": "beta=10.0,method=csls,n_clusters=0"},
    {"dataset": "wordnet-nouns", "protocol": "all", "top1": 26.44, "tol": 0.1,
     "static": "beta=30.0,method=inverted-softmax,n_clusters=0"},
    {"dataset": "wordnet-nouns", "protocol": "all", "top1": 34.06, "tol": 0.1,
     "static": "beta=10.0,method=centre,n_clusters=0"},
    {"dataset": "wordnet-nouns", "protocol": "all", "top1": 35.01, "tol": 0.1,
     "static": "beta=10.0,method=balanced,n_clusters=0"},
    {"dataset": "wordnet-nouns", "protocol": "all", "top1": 39.89, "tol": 0.1,
     "static": "beta=10.0,method=refine-balanced,n_clusters=0"},
    {"dataset": "wordnet-nouns", "protocol": "all", "top1": 39.01, "tol": 0.1,
     "static": "beta=10.0,method=upt,n_clusters=1000"},
    {"dataset": "wordnet-nouns", "protocol": "all", "top1": 39.36, "tol": 0.1,
     "static": "beta=10.0,method=upt,n_clusters=0"},
    {"dataset": "wordnet-nouns", "protocol": "all", "top1": 38.56, "tol": 0.1,
     "static": "beta=10.0,method=upt+balanced,n_clusters=0"},
    {"dataset": "wordnet-nouns", "protocol": "half", "top1": 39.70, "tol": 0.1,
     "static": "beta=10.0,method=baseline,n_clusters=0"},
    {"dataset": "wordnet-nouns", "protocol": "half", "top1": 39.78, "tol": 0.1,
     "static": "beta=10.0,method=csls,n_clusters=0"},
    {"dataset": "wordnet-nouns", "protocol": "half", "top1": 31.51, "tol": 0.1,
     "static": "beta=30.0,method=inverted-softmax,n_clusters=0"},
    {"dataset": "wordnet-nouns", "protocol": "half", "top1": 41.01, "tol": 0.1,
     "static": "beta=10.0,method=centre,n_clusters=0"},
    {"dataset": "wordnet-nouns", "protocol": "half", "top1": 41.73, "tol": 0.1,
     "static": "beta=10.0,method=balanced,n_clusters=0"},
    {"dataset": "wordnet-nouns", "protocol": "half", "top1": 49.43, "tol": 0.1,
     "static": "beta=10.0,method=refine-balanced,n_clusters=0"},
    {"dataset": "wordnet-nouns", "protocol": "half", "top1": 47.91, "tol": 0.1,
     "static": "beta=10.0,method=upt,n_clusters=1000"},
    {"dataset": "wordnet-nouns", "protocol": "half", "top1": 48.33, "tol": 0.1,
     "static": "beta=10.0,method=upt,n_clusters=0"},
    {"dataset": "wordnet-nouns", "protocol": "half", "top1": 47.64, "tol": 0.1,
     "static": "beta=10.0,method=upt+balanced,n_clusters=0"},
]


def _has_wordnet() -> bool:
    return os.path.isfile(os.path.join(os.environ.get("UPT_WORDNET_NOUNS", "data/wordnet-nouns"), "meta.json"))


EXPECTED = EXPECTED_WORLDS + (EXPECTED_WORDNET if _has_wordnet() else [])


def wordnet_folder() -> str | None:
    """The WordNet nouns folder (``$UPT_WORDNET_NOUNS`` or ``data/wordnet-nouns``), or None with a message."""
    path = os.environ.get("UPT_WORDNET_NOUNS", "data/wordnet-nouns")
    if os.path.isfile(os.path.join(path, "meta.json")):
        return path
    print(
        f"comparators: skipping the WordNet nouns testbed: no data folder at {path!r}. Build it once with "
        "`HF_HUB_OFFLINE=1 .embed-venv/bin/python scripts/wordnet_testbed.py /usr/share/wordnet --out "
        "data/wordnet-nouns` (about 16 min), or point UPT_WORDNET_NOUNS at an existing one.",
        file=sys.stderr,
    )
    return None


def get_config() -> Study:
    datasets = ["world:ucf101:default:seed=0", "world:hmdb51:default:seed=0"]
    wn = wordnet_folder()
    if wn is not None:
        datasets.append(wn)
    return Study(
        name="comparators",
        datasets=tuple(datasets),
        protocol=PROTOCOL,
        task="methods",
        base={"n_clusters": 0, "solver": "sinkhorn"},
        chunk_rows=8,
        description=(
            "UPT vs the transductive corrections (CSLS, inverted softmax, centring, balanced predictions, "
            "refinement) and UPT + each; Sinkhorn eps 1e-2, lam 0.5; UPT without clustering unless C = 1000; "
            "all classes and half splits 0-4."
        ),
    )


def sweep() -> dict:
    return {"static": [dict(s) for _, s in METHODS], "lam": [0.5], "epsilon": [1e-2]}


def tables(out_dir: str) -> str:
    """The README's tables from a finished run: top-1 per method and testbed, and the bias statistics."""

    from upt_jax.sweep import read_rows
    from upt_jax.sweep.report import spread

    rows = read_rows(out_dir)
    if not rows:
        return f"no rows in {out_dir}"
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    short = {d: d.replace("world:", "").replace(":default:seed=0", "").split("/")[-1] for d in datasets}

    def pick(ds, proto, static):
        return [r for r in rows if r["dataset"] == ds and r["protocol"] == proto and _same(r, static)]

    head = ["method"] + [f"{short[d]} all" for d in datasets] + [f"{short[d]} half" for d in datasets]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    best = {}
    cells = {}
    for label, static in METHODS:
        for d in datasets:
            for proto in ("all", "half"):
                rs = pick(d, proto, static)
                if rs:
                    m, s = spread([r["top1"] for r in rs])
                    cells[(label, d, proto)] = (m, s, len(rs))
                    best[(d, proto)] = max(best.get((d, proto), -1.0), m)
    for label, _ in METHODS:
        line = [label]
        for proto in ("all", "half"):
            for d in datasets:
                c = cells.get((label, d, proto))
                if c is None:
                    line.append("-")
                    continue
                txt = f"{c[0]:.1f}" if proto == "all" else f"{c[0]:.1f} ± {c[1]:.1f}"
                line.append(f"**{txt}**" if abs(c[0] - best[(d, proto)]) < 1e-9 else txt)
        out.append("| " + " | ".join(line) + " |")
    out += ["", "| testbed | offset / within | Gini | never predicted | (all classes, baseline scores) |", "|---|---|---|---|---|"]
    for d in datasets:
        rs = pick(d, "all", METHODS[0][1])
        if rs:
            r = rs[0]
            out.append(f"| {short[d]} | {r['baseline_offset_spread']:.3f} / {r['baseline_within_spread']:.3f} | "
                       f"{r['baseline_gini']:.3f} | {r['baseline_never_predicted']} / {r['n_classes']} | |")
    n_conv = sum(bool(r.get("converged")) for r in rows)
    out.append(f"\n{len(rows)} rows, {n_conv} converged; std over half splits with ddof = 0.")
    return "\n".join(out)


def _same(row: dict, static: dict) -> bool:
    cfg = row["config"]
    want = {"n_clusters": 0, "beta": 10.0, "csls_k": 10, **static}
    return all(cfg.get(k) == v for k, v in want.items())


if __name__ == "__main__":  # python experiments/configs/comparators.py OUT_DIR
    print(tables(sys.argv[1] if len(sys.argv) > 1 else "runs/comparators"))
