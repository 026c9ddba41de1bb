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
protocols: all classes and Brattoli et al.'s 10 random half-class splits
(mean +- std over the splits, ddof = 0). Each row also carries the bias
statistics of the baseline's scores on its split (``baseline_offset_spread``,
``baseline_within_spread``, ``baseline_gini``, ``baseline_never_predicted``).

The WordNet nouns testbed is a data folder that must be built first (about
16 minutes of embedding on 2 CPU cores, once)::

    HF_HUB_OFFLINE=1 .embed-venv/bin/python scripts/wordnet_testbed.py /usr/share/wordnet --out data/wordnet-nouns

The study reads it from ``$UPT_WORDNET_NOUNS`` (default ``data/wordnet-nouns``
in the current folder); without it the study runs on the two worlds only and
says so on stderr.

Command::

    UPT_WORDNET_NOUNS=data/wordnet-nouns upt sweep experiments/configs/comparators.py --out runs/comparators --check
    python experiments/configs/comparators.py runs/comparators     # the README's tables from the rows

Runtime: see the README section "Transductive comparators" (measured on the
shared 2-core CPU).

Expected numbers (top-1 %, all classes; mean over the 10 half splits in
``EXPECTED``, checked by ``--check``): see ``EXPECTED`` below and the README.
"""

from __future__ import annotations

import os
import sys

from upt_jax.sweep import Study

__all__ = ["get_config", "sweep", "EXPECTED", "METHODS", "wordnet_folder", "tables"]

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

EXPECTED: list = []


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
        protocol="half+all",
        task="methods",
        base={"n_clusters": 0, "solver": "sinkhorn"},
        chunk_rows=8,
        description=(
            "UPT vs the transductive corrections (CSLS, inverted softmax, centring, balanced predictions, "
            "refinement) and UPT + each; Sinkhorn eps 1e-2, lam 0.5; UPT without clustering unless C = 1000; "
            "all classes and 10 half splits."
        ),
    )


def sweep() -> dict:
    return {"static": [dict(s) for _, s in METHODS], "lam": [0.5], "epsilon": [1e-2]}


def tables(out_dir: str) -> str:
    """The README's tables from a finished run: top-1 per method and testbed, and the bias statistics."""
    import numpy as np

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
