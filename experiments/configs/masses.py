"""masses: uniform centre masses (1/C, example code) vs cluster-size masses.

UCF-101-like default world (seed 0), 10 half splits, C = 1000, Sinkhorn
epsilon 1e-2, lam in {0.25, 0.5, 0.75}: 2 x 10 x 3 = 60 rows. The masses are
part of the clustering step, so k-means runs for each variant (same seed, so
the same centres).

Command::

    upt sweep experiments/configs/masses.py --out runs/masses

Expected runtime and headline numbers: see EXPECTED (measured).
"""

from experiments.run import Study

EXPECTED = "(not measured yet)"


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
