"""imbalance: UPT with balanced vs unbalanced transport and class priors as the test set grows imbalanced.

UPT gives every class the same mass (1/K); a test set's classes are rarely
balanced. This study makes the class sizes of the default worlds
Zipf-distributed (``imbalance`` = the exponent s: class c gets a share
proportional to ``1 / rank^s`` of the same 13,320 / 6,766 videos, in a
random order; s = 0 is the balanced world) and compares, at lam 0.5 without
clustering (C = N; Sinkhorn epsilon 1e-2):

- the baseline, and the balanced-predictions correction with a uniform and
  with the true class prior (for reference);
- UPT with uniform class mass (the paper, ``class_prior="uniform"``);
- unbalanced UPT: the class marginal relaxed by a KL penalty
  (``tau_a`` = 0.9 and 0.99 in OTT-JAX's convention ``tau = rho / (rho +
  epsilon)``; 1 = balanced);
- UPT with the TRUE class frequencies of the split as source masses
  (``class_prior="given"``; an oracle: in a sweep "given" is computed from
  the labels);
- UPT with the class prior ESTIMATED without labels (``class_prior=
  "estimated"``: EM on the baseline's scores, :func:`upt_jax.bias.estimate_prior`).

Rows carry ``prior_l1_error`` (the L1 distance of UPT's source masses to the
split's true class frequencies) and ``class_mass_ratio_min``/``_max`` (how
much mass unbalanced transport took from or gave to a class).
Datasets: the UCF-101 default world at s = 0, 0.5, 1, 1.5 and the HMDB-51
default world at s = 0, 1 (seed 0); all classes and the 10 half splits.

Command::

    upt sweep experiments/configs/imbalance.py --out runs/imbalance --check
    python experiments/configs/imbalance.py runs/imbalance      # the README's table from the rows

Runtime and expected numbers: see ``EXPECTED`` below and the README section
"Transductive comparators".
"""

from __future__ import annotations

import sys

from upt_jax.sweep import Study

__all__ = ["get_config", "sweep", "EXPECTED", "METHODS", "EXPONENTS", "tables"]

EXPONENTS = {"ucf101": (0.0, 0.5, 1.0, 1.5), "hmdb51": (0.0, 1.0)}

#: (label in the tables, static choice)
METHODS = (
    ("baseline", {"method": "baseline"}),
    ("balanced predictions, uniform prior", {"method": "balanced"}),
    ("balanced predictions, true prior", {"method": "balanced", "method_options": {"prior": "given"}}),
    ("UPT (uniform class mass)", {"method": "upt"}),
    ("UPT, unbalanced tau_a 0.99", {"method": "upt", "tau_a": 0.99}),
    ("UPT, unbalanced tau_a 0.9", {"method": "upt", "tau_a": 0.9}),
    ("UPT, true prior", {"method": "upt", "class_prior": "given"}),
    ("UPT, estimated prior", {"method": "upt", "class_prior": "estimated"}),
)

EXPECTED: list = []


def _spec(world: str, s: float) -> str:
    return f"world:{world}:default:seed=0:imbalance={s:g}"


def get_config() -> Study:
    return Study(
        name="imbalance",
        datasets=tuple(_spec(w, s) for w, ss in EXPONENTS.items() for s in ss),
        protocol="half+all",
        task="methods",
        base={"n_clusters": 0, "solver": "sinkhorn"},
        chunk_rows=8,
        description=(
            "UPT balanced vs unbalanced (tau_a) vs true / estimated class prior as the Zipf exponent of the class "
            "sizes grows; C = N, Sinkhorn eps 1e-2, lam 0.5; all classes and 10 half splits."
        ),
    )


def sweep() -> dict:
    return {"static": [dict(s) for _, s in METHODS], "lam": [0.5], "epsilon": [1e-2]}


def _same(row: dict, static: dict) -> bool:
    cfg = row["config"]
    want = {"tau_a": 1.0, "class_prior": "uniform", "method_options": [], **static}
    if isinstance(want["method_options"], dict):
        want["method_options"] = [list(kv) for kv in sorted(want["method_options"].items())]
    have = dict(cfg)
    have["method_options"] = [list(kv) for kv in have.get("method_options", [])]
    return all(have.get(k) == v for k, v in want.items())


def tables(out_dir: str) -> str:
    """The README's tables: top-1 (all classes; half splits mean ± std) per method and exponent."""
    from upt_jax.sweep import read_rows
    from upt_jax.sweep.report import spread

    rows = read_rows(out_dir)
    if not rows:
        return f"no rows in {out_dir}"
    out = []
    for world, ss in EXPONENTS.items():
        specs = [_spec(world, s) for s in ss]
        head = ["method"] + [f"s = {s:g} all" for s in ss] + [f"s = {s:g} half" for s in ss]
        out += [f"**{world} world (default)**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for label, static in METHODS:
            line = [label]
            for proto in ("all", "half"):
                for spec in specs:
                    rs = [r for r in rows if r["dataset"] == spec and r["protocol"] == proto and _same(r, static)]
                    if not rs:
                        line.append("-")
                        continue
                    m, sd = spread([r["top1"] for r in rs])
                    line.append(f"{m:.1f}" if proto == "all" else f"{m:.1f} ± {sd:.1f}")
            out.append("| " + " | ".join(line) + " |")
        out.append("")
        l1 = []
        for spec, s in zip(specs, ss):
            rs = [r for r in rows if r["dataset"] == spec and r["protocol"] == "all"]
            est = [r for r in rs if _same(r, {"method": "upt", "class_prior": "estimated"})]
            uni = [r for r in rs if _same(r, {"method": "upt"})]
            if est and uni:
                l1.append(f"s = {s:g}: {uni[0]['prior_l1_error']:.3f} / {est[0]['prior_l1_error']:.3f}")
        if l1:
            out += ["L1 distance of the source masses to the true class frequencies (all classes), uniform / "
                    "estimated: " + "; ".join(l1) + ".", ""]
    return "\n".join(out)


if __name__ == "__main__":  # python experiments/configs/imbalance.py OUT_DIR
    print(tables(sys.argv[1] if len(sys.argv) > 1 else "runs/imbalance"))
