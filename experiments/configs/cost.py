"""cost: transport cost 1 - cos (example code) vs the geodesic angle.

Both are divided by their maximum. UCF-101-like default world (seed 0), 10
half splits, C = 1000, Sinkhorn epsilon 1e-2, lam in {0.25, 0.5, 0.75}:
2 costs x 10 splits x 3 lams = 60 rows (k-means shared by both costs).

Command::

    upt sweep experiments/configs/cost.py --out runs/cost

Expected runtime (2-core CPU shared with other jobs, load ~7): 180 s wall
from scratch (k-means of the 10 half splits 135 s, rows 32 s); ~35 s with
the centres cached (``--cache runs/cache``).

Expected headline numbers (10 half splits, top-1 mean +- std; this
session's world): no difference beyond noise. lam 0.25: cosine 48.5 +- 3.0,
geodesic 48.6 +- 3.0; lam 0.5: 51.5 +- 2.2 vs 51.5 +- 2.2; lam 0.75:
46.5 +- 1.9 vs 46.4 +- 1.9. Geodesic Sinkhorn needs fewer iterations (~48
vs ~67).
"""

from upt_jax.sweep import Study

__all__ = ["get_config", "sweep", "EXPECTED"]

EXPECTED = {"cosine": {0.5: 51.46}, "geodesic": {0.5: 51.52}}


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
