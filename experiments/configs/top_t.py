"""top_t: keep only centres among the top-t nearest of some prototype.

t = 0 keeps all centres. UCF-101-like default world (seed 0), 10 half
splits, C = 1000, Sinkhorn epsilon 1e-2, lam = 0.5, t in {0, 1, 3, 10, 30,
100}: 6 x 10 = 60 rows (k-means shared by all t).

Command::

    upt sweep experiments/configs/top_t.py --out runs/top_t

Expected runtime and headline numbers: see EXPECTED (measured).
"""

from experiments.run import Study

EXPECTED = "(not measured yet)"


def get_config() -> Study:
    return Study(
        name="top_t",
        datasets=("world:ucf101:default:seed=0",),
        protocol="half",
        base={"n_clusters": 1000},
        description="top-t centre filtering; C = 1000; Sinkhorn eps 1e-2; lam 0.5; 10 half splits.",
    )


def sweep() -> dict:
    return {
        "static": [{"top_t": t} for t in (0, 1, 3, 10, 30, 100)],
        "lam": [0.5],
        "epsilon": [1e-2],
    }
