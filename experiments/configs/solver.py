"""solver: exact EMD (POT network simplex) vs Sinkhorn over epsilon.

Paper ablation: the example code's default is exact EMD; its Sinkhorn option
uses epsilon 1e-2. Here: EMD and Sinkhorn with epsilon in {1e-3, 3e-3, 1e-2,
3e-2, 1e-1} (on the max-normalised cost), lam = 0.5, C = 1000, 10 half
splits of the UCF-101-like default world: 10 EMD rows + 50 Sinkhorn rows.
Rows are grouped by epsilon (one compiled batch per epsilon) so a slow
epsilon does not hold the others back; each row records ``converged`` and
``n_iters`` (Sinkhorn cap 2000 iterations). EMD runs on the host through a
callback, one row after another.

Command::

    upt sweep experiments/configs/solver.py --out runs/solver

Expected runtime (2-core CPU shared with other jobs, load ~7): 36 s wall
with the half-split centres already cached by the lam study
(``--cache runs/cache``; add ~150 s of k-means otherwise). Per-epsilon
batches of 10 rows: EMD 7.3 s (host, sequential), Sinkhorn 1e-3 11.5 s
(incl. compilation; ~780 iterations), 3e-3 2.9 s (~250), 1e-2 1.7 s (~70),
3e-2 1.7 s (~20), 1e-1 1.6 s (~10).

Expected headline numbers (10 half splits, top-1 mean +- std; this
session's world): EMD 51.2 +- 2.1; Sinkhorn 1e-3 51.3, 3e-3 51.4, 1e-2
51.4 +- 2.2, 3e-2 51.0, 1e-1 52.3 +- 2.1; every Sinkhorn row converged (cap
2000). Never-predicted classes: 0 for EMD and eps <= 3e-3, 0.3-0.7 above.
"""

from upt_jax.sweep import Study

__all__ = ["get_config", "sweep", "EXPECTED"]

EXPECTED = {"emd": 51.21, 1e-3: 51.32, 1e-2: 51.39, 1e-1: 52.32}


def get_config() -> Study:
    return Study(
        name="solver",
        datasets=("world:ucf101:default:seed=0",),
        protocol="half",
        base={"n_clusters": 1000},
        description="EMD vs Sinkhorn over epsilon; C = 1000; lam 0.5; 10 half splits.",
    )


def sweep() -> dict:
    return {
        "static": [{"solver": "emd"}, {"solver": "sinkhorn"}],
        "lam": [0.5],
        "epsilon": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
    }
