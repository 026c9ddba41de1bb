"""masses: uniform centre masses (1/C, example code) vs cluster-size masses.

UCF-101-like default world (seed 0), 10 half splits, C = 1000, Sinkhorn
epsilon 1e-2, lam in {0.25, 0.5, 0.75}: 2 x 10 x 3 = 60 rows. The masses are
part of the clustering step, so k-means runs for each variant (same seed, so
the same centres).

Command::

    upt sweep experiments/configs/masses.py --out runs/masses

Expected runtime (2-core CPU, estimated from the measured lam/cost runs,
not measured as a whole): ~5 min from scratch (k-means 2 x 10 splits x
~14 s; the uniform variant hits the cache shared with cost.py/top_t.py
when run with ``--cache runs/cache``, leaving ~2.5 min).

Expected headline numbers: not measured in this session; uniform at lam 0.5
equals cost.py's cosine row (~51.5 top-1 on 10 half splits).
"""

from experiments.run import Study

EXPECTED = None  # not measured yet


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
