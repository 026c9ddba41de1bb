"""lam ablation: top-1 and never-predicted classes against lam (0 to 1 by 0.1).

Paper ablation: how far to move each prototype along the geodesic toward its
transport target (lam = 0 is the baseline, 1 the target itself). UCF-101-like
default world (seed 0), Brattoli's 10 random half-class splits (50 classes
each) plus all 101 classes, C = 1000 (k-means, 10 restarts, per split),
Sinkhorn epsilon 1e-2: 11 splits x 11 lams = 121 rows, each a full UPT run
with its own transport.

Command::

    upt sweep experiments/configs/lam.py --out runs/lam
    # or: python -m experiments.run experiments/configs/lam.py --out runs/lam

Expected runtime (2-core CPU shared with other jobs, load average ~6.5;
jax 0.10.2; fresh process, no compile cache), measured 2025 session:
226 s wall (144 s CPU) for the 121 rows = 0.54 rows/s: world generation
~6 s, k-means 168 s (11 splits x C = 1000 x 10 restarts, ~15 s each),
the 121 transports + evaluations 50 s in one compiled batch (compilation
included). With the k-means cache (``--cache runs/cache``) a re-run with new
lams costs only the rows. One UPT run in a fresh process (import, world,
compile, k-means, transport, evaluate) took 63 s wall in the same conditions,
so 121 separate processes would take ~2 h.

Expected headline numbers (UCF-101-like default world seed 0, measured with
the world/cluster code of this session; re-measure after core changes):
10 half splits, top-1 mean +- std: lam 0 (baseline) 42.2 +- 3.4 with 5.6
classes never predicted; lam 0.4 51.6 +- 2.4 (best), 0.5 51.4 +- 2.2 with
0.3 never predicted; lam 1.0 36.4 +- 2.5. All 101 classes: 32.6 (17 never
predicted) -> 38.9 at lam 0.4 -> 20.9 at lam 1. An interior optimum of lam;
lam = 1 hurts; never-predicted classes fall to ~0 for lam >= 0.5. Sinkhorn
converges in every row (~50-70 iterations).
"""

from experiments.run import Study

EXPECTED = {"half": {0.0: 42.19, 0.4: 51.60, 0.5: 51.39, 1.0: 36.41}, "all": {0.0: 32.57, 0.4: 38.91, 1.0: 20.85}}


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
