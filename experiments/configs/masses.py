"""masses: uniform centre masses (1/C, example code) vs cluster-size masses.

UCF-101-like default world (seed 0), 10 half splits, C = 1000, Sinkhorn
epsilon 1e-2, lam in {0.25, 0.5, 0.75}: 2 x 10 x 3 = 60 rows. The masses are
part of the clustering step, so k-means runs for each variant (same seed, so
the same centres).

Command::

    upt sweep experiments/configs/masses.py --out runs/masses

Expected runtime (idle 2-core CPU, measured 2026-11-27, fresh process, empty
k-means cache): 112 s (k-means 91 s for 2 x 10 splits, rows 14 s).

Expected headline numbers (UCF-101-like default world seed 0, 10 half
splits, top-1 mean +- std): uniform lam 0.25 / 0.5 / 0.75: 48.6 +- 3.0 /
51.4 +- 2.1 / 46.5 +- 2.0; cluster-size masses: 49.5 +- 2.9 / 54.0 +- 2.2 /
49.4 +- 2.4 (cluster-size masses help on this world by ~2.6 points at 0.5).
"""

from upt_jax.sweep import Study

__all__ = ["get_config", "sweep", "EXPECTED"]

EXPECTED = {"uniform": {0.25: 48.56, 0.5: 51.44, 0.75: 46.47}, "cluster_size": {0.25: 49.54, 0.5: 54.04, 0.75: 49.41}}


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
