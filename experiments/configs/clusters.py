"""clusters: the number of k-means centres C in {K, 250, 500, 1000, 2000, N}.

Paper ablation: how many centres summarise the test distribution (C = K: as
many as classes; C = N: no clustering, every video is a target point).
UCF-101-like default world (seed 0), Brattoli's 10 half-class splits (K = 50
classes, ~6,600 videos per split), Sinkhorn epsilon 1e-2, lam in {0.25, 0.5}:
6 C x 10 splits x 2 lams = 120 rows. k-means (10 restarts) runs once per
(C, split) and is shared by both lams.

Command::

    upt sweep experiments/configs/clusters.py --out runs/clusters [--check]

Runtime (2-core CPU, measured 2026-11-27 at load 4-5, fresh process, with
the C = 1000 centres already cached by the lam study): 304 s wall (k-means
249 s for the other 4 C x 10 splits, compilation 29 s, rows 15 s).

Expected headline numbers, top-1 mean +- std over the 10 half splits at lam
0.25 / 0.5: C = K 45.30 / 42.01; 250 48.22 / 48.74; 500 49.19 / 51.40;
1000 49.56 / 52.84; 2000 49.82 / 53.60; N 51.63 / 58.19 (baseline 40.73).
More centres help monotonically on this world; C = K is the worst and at lam
0.5 already past its optimum.

Numbers are on the synthetic UCF-101-like default world (seed 0) with the
scikit-learn-grade k-means (greedy k-means++, n_init = 10, max_iter 300) and
Brattoli's legacy-generator half splits; std over splits with ddof = 0.
`upt sweep <this file> --check` re-runs (or resumes) the study and asserts
``EXPECTED`` (exit code 4 on a mismatch).
"""

from upt_jax.sweep import Study

__all__ = ["get_config", "sweep", "EXPECTED"]

EXPECTED = [
    {"static": "n_clusters=K", "lam": 0.5, "top1": 42.01},
    {"static": "n_clusters=250", "lam": 0.5, "top1": 48.74},
    {"static": "n_clusters=500", "lam": 0.5, "top1": 51.40},
    {"static": "n_clusters=1000", "lam": 0.5, "top1": 52.84},
    {"static": "n_clusters=2000", "lam": 0.5, "top1": 53.60},
    {"static": "n_clusters=N", "lam": 0.5, "top1": 58.19},
    {"static": "n_clusters=N", "lam": 0.25, "top1": 51.63},
]


def get_config() -> Study:
    return Study(
        name="clusters",
        datasets=("world:ucf101:default:seed=0",),
        protocol="half",
        base={"n_clusters": 1000, "solver": "sinkhorn"},
        description="C in {K, 250, 500, 1000, 2000, N}; Sinkhorn eps 1e-2; lam 0.25 and 0.5; 10 half splits.",
    )


def sweep() -> dict:
    return {
        "static": [{"n_clusters": c} for c in ("K", 250, 500, 1000, 2000, "N")],
        "lam": [0.25, 0.5],
        "epsilon": [1e-2],
    }
