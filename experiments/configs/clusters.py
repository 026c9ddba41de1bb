"""clusters: the number of k-means centres C in {K, 250, 500, 1000, 2000, N}.

Paper ablation: how many centres summarise the test distribution (C = K: as
many as classes; C = N: no clustering, every video is a target point).
UCF-101-like default world (seed 0), Brattoli's 10 half-class splits (K = 50
classes, ~6,600 videos per split), Sinkhorn epsilon 1e-2, lam in {0.25, 0.5}:
6 C x 10 splits x 2 lams = 120 rows. k-means (10 restarts) runs once per
(C, split) and is shared by both lams.

Command::

    upt sweep experiments/configs/clusters.py --out runs/clusters

Expected runtime (2-core CPU, estimated, not measured as a whole): k-means
dominates; ~14 s per split at C = 1000 (10 restarts), roughly linear in C:
~15 min in total for the 6 values of C x 10 splits; the rows take ~1 min.
Use ``--cache runs/cache`` to share the C = 1000 centres with the other
studies.

Expected headline numbers: not measured in this session (C = 1000 at lam 0.5
is ~51.5 top-1 on 10 half splits, see lam.py).
"""

from experiments.run import Study

EXPECTED = None  # not measured yet


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
