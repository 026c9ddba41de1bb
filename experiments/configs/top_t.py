"""top_t: keep only centres among some prototype's top-t nearest.

The example code's optional filter: centres that are not among the top-t
nearest of any class prototype get no mass (t = 0 keeps all). UCF-101-like
default world (seed 0), 10 half splits, C = 1000, Sinkhorn epsilon 1e-2,
lam 0.5, t in {0, 1, 3, 10, 30, 100}: 60 rows (k-means shared).

Command::

    upt sweep experiments/configs/top_t.py --out runs/top_t [--check]

Runtime (2-core CPU, measured 2026-11-27 at load ~7): 44 s wall with the
half-split centres cached by the lam study (compilation 29 s for the six
static variants, rows 11 s).

Expected headline numbers, top-1 mean +- std over the 10 half splits at lam
0.5: t = 0 (all) 52.84 +- 2.32; 1 50.07; 3 53.52; 10 55.54 +- 2.19 (best);
30 54.72; 100 53.61. A moderate filter helps on this world; t = 1 (each class
only sees its nearest centre) hurts and needs 551 Sinkhorn iterations.

Numbers are on the synthetic UCF-101-like default world (seed 0) with the
scikit-learn-grade k-means (greedy k-means++, n_init = 10, max_iter 300) and
Brattoli's legacy-generator half splits; std over splits with ddof = 0.
`upt sweep <this file> --check` re-runs (or resumes) the study and asserts
``EXPECTED`` (exit code 4 on a mismatch).
"""

from upt_jax.sweep import Study

__all__ = ["get_config", "sweep", "EXPECTED"]

EXPECTED = [
    {"static": "top_t=0", "lam": 0.5, "top1": 52.84},
    {"static": "top_t=1", "lam": 0.5, "top1": 50.07},
    {"static": "top_t=10", "lam": 0.5, "top1": 55.54},
    {"static": "top_t=100", "lam": 0.5, "top1": 53.61},
]


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
