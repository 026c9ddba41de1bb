"""cost: transport cost 1 - cos (example code) vs the geodesic angle.

Both are divided by their maximum. UCF-101-like default world (seed 0), 10
half splits, C = 1000, Sinkhorn epsilon 1e-2, lam in {0.25, 0.5, 0.75}:
2 costs x 10 splits x 3 lams = 60 rows (k-means shared by both costs).

Command::

    upt sweep experiments/configs/cost.py --out runs/cost [--check]

Runtime (2-core CPU, measured 2026-11-27 at load ~7): 18 s wall with the
half-split centres cached by the lam study (add ~100 s of k-means otherwise).

Expected headline numbers, top-1 mean +- std over the 10 half splits: no
difference beyond noise. lam 0.25: cosine 49.56 +- 2.31, geodesic 49.57 +-
2.30; lam 0.5: 52.84 +- 2.32 vs 52.98 +- 2.35; lam 0.75: 47.95 +- 2.49 vs
47.90 +- 2.48. The geodesic cost needs fewer Sinkhorn iterations (56 vs 73).

Numbers are on the synthetic UCF-101-like default world (seed 0) with the
scikit-learn-grade k-means (greedy k-means++, n_init = 10, max_iter 300) and
Brattoli's legacy-generator half splits; std over splits with ddof = 0.
`upt sweep <this file> --check` re-runs (or resumes) the study and asserts
``EXPECTED`` (exit code 4 on a mismatch).
"""

from upt_jax.sweep import Study

__all__ = ["get_config", "sweep", "EXPECTED"]

EXPECTED = [
    {"static": "cost=cosine", "lam": 0.5, "top1": 52.84},
    {"static": "cost=geodesic", "lam": 0.5, "top1": 52.98},
    {"static": "cost=geodesic", "lam": 0.25, "top1": 49.57},
]


def get_config() -> Study:
    return Study(
        name="cost",
        datasets=("world:ucf101:default:seed=0",),
        protocol="half",
        base={"n_clusters": 1000},
        description="cosine vs geodesic transport cost; C = 1000; Sinkhorn eps 1e-2; 10 half splits.",
    )


def sweep() -> dict:
    return {
        "static": [{"cost": "cosine"}, {"cost": "geodesic"}],
        "lam": [0.25, 0.5, 0.75],
        "epsilon": [1e-2],
    }
