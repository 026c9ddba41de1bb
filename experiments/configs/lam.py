"""lam ablation: top-1 and never-predicted classes against lam (0 to 1 by 0.1).

Paper ablation: how far to move each prototype along the geodesic toward its
transport target (lam = 0 is the baseline, 1 the target itself). UCF-101-like
default world (seed 0), Brattoli's 10 random half-class splits (50 classes
each) plus all 101 classes, C = 1000 (k-means, 10 restarts, per split),
Sinkhorn epsilon 1e-2: 11 splits x 11 lams = 121 rows from 11 transports
(one per split; the geodesic update and the evaluation are vmapped over lam).

Command::

    upt sweep experiments/configs/lam.py --out runs/lam [--check]
    # or: python -m upt_jax.sweep experiments/configs/lam.py --out runs/lam

Runtime (2-core CPU, jax 0.10.2, fresh process, measured 2026-11-27 at load
2.5-4): 115 s wall with an empty k-means cache, of which k-means 100 s (11
splits x C = 1000 x 10 restarts), world generation 5 s, compilation 6 s and
the 121 rows 3 s; about 15-20 s once the centres and the world are in the
cache every study shares (``~/.cache/upt_jax/centres``).

Expected headline numbers, top-1 mean +- std over the 10 half splits: lam 0
(baseline) 40.73 +- 2.50 with 5.4 classes never predicted; lam 0.5 52.84 +-
2.32 (best) with 0.4 never predicted; lam 1.0 38.66 +- 2.34. All 101 classes:
31.22 (20 never predicted) -> 39.29 at lam 0.4 (best) -> 23.04 at lam 1. An
interior optimum of lam; lam = 1 hurts.

Numbers are on the synthetic UCF-101-like default world (seed 0) with the
scikit-learn-grade k-means (greedy k-means++, n_init = 10, max_iter 300) and
Brattoli's legacy-generator half splits; std over splits with ddof = 0.
`upt sweep <this file> --check` re-runs (or resumes) the study and asserts
``EXPECTED`` (exit code 4 on a mismatch).
"""

from upt_jax.sweep import Study

__all__ = ["get_config", "sweep", "EXPECTED"]

EXPECTED = [
    {"protocol": "half", "lam": 0.0, "top1": 40.73, "unreachable": 5.4},
    {"protocol": "half", "lam": 0.4, "top1": 52.69},
    {"protocol": "half", "lam": 0.5, "top1": 52.84, "unreachable": 0.4},
    {"protocol": "half", "lam": 1.0, "top1": 38.66},
    {"protocol": "all", "lam": 0.0, "top1": 31.22, "unreachable": 20.0},
    {"protocol": "all", "lam": 0.4, "top1": 39.29},
    {"protocol": "all", "lam": 1.0, "top1": 23.04},
]


def get_config() -> Study:
    return Study(
        name="lam",
        datasets=("world:ucf101:default:seed=0",),
        protocol="half+all",
        base={"n_clusters": 1000, "solver": "sinkhorn"},
        seed=0,
        chunk_rows=128,
        description="lam from 0 to 1 by 0.1; C = 1000; Sinkhorn eps 1e-2; 10 half splits + all classes.",
    )


def sweep() -> dict:
    return {
        "static": [{}],
        "lam": [round(0.1 * i, 1) for i in range(11)],
        "epsilon": [1e-2],
    }
