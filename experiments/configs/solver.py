"""solver: exact EMD (POT network simplex) vs Sinkhorn over epsilon.

Paper ablation: the example code's default is exact EMD; its Sinkhorn option
uses epsilon 1e-2. Here: EMD and Sinkhorn with epsilon in {1e-3, 3e-3, 1e-2,
3e-2, 1e-1} (on the max-normalised cost), lam = 0.5, C = 1000, 10 half
splits of the UCF-101-like default world: 10 EMD rows + 50 Sinkhorn rows.
Rows are grouped by epsilon (one compiled batch per epsilon) so a slow
epsilon does not hold the others back; each row records ``converged`` and
``transport_iterations`` (Sinkhorn cap 2000 iterations). EMD runs on the
host through a callback, one row after another.

Command::

    upt sweep experiments/configs/solver.py --out runs/solver [--check]

Runtime (2-core CPU, measured 2026-11-27 at load ~7): 42 s wall with the
half-split centres already cached by the lam study (add ~100 s of k-means
otherwise): compilation 14 s, rows 13 s.

Expected headline numbers, top-1 mean +- std over the 10 half splits: EMD
52.71 +- 2.35; Sinkhorn 1e-3 52.72 (810 iterations), 3e-3 52.78 (261), 1e-2
52.84 +- 2.32 (73), 3e-2 52.11 (21), 1e-1 52.46 (10); every Sinkhorn row
converged. Never-predicted classes: 0.1 for EMD and eps <= 3e-3, 0.4-0.6
above. Sinkhorn at eps <= 1e-2 matches EMD within 0.15 points here.

Numbers are on the synthetic UCF-101-like default world (seed 0) with the
scikit-learn-grade k-means (greedy k-means++, n_init = 10, max_iter 300) and
Brattoli's legacy-generator half splits; std over splits with ddof = 0.
`upt sweep <this file> --check` re-runs (or resumes) the study and asserts
``EXPECTED`` (exit code 4 on a mismatch).
"""

from upt_jax.sweep import Study

__all__ = ["get_config", "sweep", "EXPECTED"]

EXPECTED = [
    {"static": "solver=emd", "lam": 0.5, "top1": 52.71},
    {"static": "solver=sinkhorn", "epsilon": 1e-3, "lam": 0.5, "top1": 52.72},
    {"static": "solver=sinkhorn", "epsilon": 1e-2, "lam": 0.5, "top1": 52.84},
    {"static": "solver=sinkhorn", "epsilon": 1e-1, "lam": 0.5, "top1": 52.46},
]


def get_config() -> Study:
    return Study(
        name="solver",
        datasets=("world:ucf101:default:seed=0",),
        protocol="half",
        base={"n_clusters": 1000},
        description="EMD vs Sinkhorn over epsilon; C = 1000; lam 0.5; 10 half splits.",
    )


def sweep() -> dict:
    return {
        "static": [{"solver": "emd"}, {"solver": "sinkhorn"}],
        "lam": [0.5],
        "epsilon": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
    }
