"""cost: transport cost 1 - cos (example code) vs the geodesic angle.

Both are divided by their maximum. UCF-101-like default world (seed 0), 10
half splits, C = 1000, Sinkhorn epsilon 1e-2, lam in {0.25, 0.5, 0.75}:
2 costs x 10 splits x 3 lams = 60 rows (k-means shared by both costs).

Command::

    upt sweep experiments/configs/cost.py --out runs/cost

Expected runtime and headline numbers: see EXPECTED (measured).
"""

from experiments.run import Study

EXPECTED = "(not measured yet)"


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
