"""top_t: keep only centres among the top-t nearest of some prototype.

t = 0 keeps all centres. UCF-101-like default world (seed 0), 10 half
splits, C = 1000, Sinkhorn epsilon 1e-2, lam = 0.5, t in {0, 1, 3, 10, 30,
100}: 6 x 10 = 60 rows (k-means shared by all t).

Command::

    upt sweep experiments/configs/top_t.py --out runs/top_t

Expected runtime (2-core CPU shared with other jobs, load ~7): 75 s wall
with the centres cached by cost.py (``--cache runs/cache``); add ~140 s of
k-means otherwise. Six compilations (one per t).

Expected headline numbers (10 half splits, lam 0.5, top-1 mean +- std; this
session's world): t = 0 (all centres) 51.5 +- 2.2; t = 1 49.1 +- 2.4;
t = 3 53.4 +- 1.9; t = 10 54.6 +- 1.6 (best); t = 30 53.1 +- 2.1; t = 100
52.0 +- 2.1. Small t makes Sinkhorn slower (~500 iterations at t = 1).
"""

from upt_jax.sweep import Study

__all__ = ["get_config", "sweep", "EXPECTED"]

EXPECTED = {0: 51.46, 1: 49.13, 3: 53.35, 10: 54.55, 30: 53.07, 100: 51.95}


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
