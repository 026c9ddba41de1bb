"""masses: uniform centre masses (1/C, example code) vs cluster-size masses.

UCF-101-like default world (seed 0), 10 half splits, C = 1000, Sinkhorn
epsilon 1e-2, lam in {0.25, 0.5, 0.75}: 2 x 10 x 3 = 60 rows. The masses are
part of the clustering step, so the centres are cached per variant (same
seed, so the same centres).

Command::

    upt sweep experiments/configs/masses.py --out runs/masses [--check]

Runtime (2-core CPU, measured 2026-11-27 at load 5-6, fresh process, the
uniform-mass centres cached by the lam study): 126 s wall (k-means 98 s for
the 10 cluster-size splits, compilation 10 s, rows 4 s).

Expected headline numbers, top-1 mean +- std over the 10 half splits, lam
0.25 / 0.5 / 0.75: uniform 49.56 +- 2.31 / 52.84 +- 2.32 / 47.95 +- 2.49;
cluster-size masses 50.73 +- 2.36 / 55.80 +- 2.37 / 51.68 +- 2.73
(cluster-size masses help on this world by ~3 points at 0.5).

Numbers are on the synthetic UCF-101-like default world (seed 0) with the
scikit-learn-grade k-means (greedy k-means++, n_init = 10, max_iter 300) and
Brattoli's legacy-generator half splits; std over splits with ddof = 0.
`upt sweep <this file> --check` re-runs (or resumes) the study and asserts
``EXPECTED`` (exit code 4 on a mismatch).
"""

from upt_jax.sweep import Study

__all__ = ["get_config", "sweep", "EXPECTED"]

EXPECTED = [
    {"static": "target_mass=uniform", "lam": 0.25, "top1": 49.56},
    {"static": "target_mass=uniform", "lam": 0.5, "top1": 52.84},
    {"static": "target_mass=uniform", "lam": 0.75, "top1": 47.95},
    {"static": "target_mass=cluster_size", "lam": 0.25, "top1": 50.73},
    {"static": "target_mass=cluster_size", "lam": 0.5, "top1": 55.80},
    {"static": "target_mass=cluster_size", "lam": 0.75, "top1": 51.68},
]


def get_config() -> Study:
    return Study(
        name="masses",
        datasets=("world:ucf101:default:seed=0",),
        protocol="half",
        base={"n_clusters": 1000},
        description="uniform vs cluster-size target masses; C = 1000; Sinkhorn eps 1e-2; 10 half splits.",
    )


def sweep() -> dict:
    return {
        "static": [{"target_mass": "uniform"}, {"target_mass": "cluster_size"}],
        "lam": [0.25, 0.5, 0.75],
        "epsilon": [1e-2],
    }
