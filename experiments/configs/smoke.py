"""smoke: a tiny sweep that exercises the whole runner in seconds (`make smoke`).

A small UCF-101-like world in the ``clean`` preset (no test-domain nuisance,
so the test distribution's clusters are its classes and the direction of
UPT's effect is unambiguous; 1,000 test videos, 10 training videos per seen
class), 2 Brattoli half splits x 2 lams, C = 50 (2 k-means restarts),
Sinkhorn epsilon 1e-2: 4 rows. It checks the runner, not the size of a gain:
on the ``default`` preset at this size (about 5 videos per class and as many
centres as classes) UPT loses accuracy (27.5 -> 14.1), as tiny worlds with a
strong nuisance do.

Command::

    upt sweep experiments/configs/smoke.py --out runs/smoke [--check]
    # or: python -m upt_jax.sweep experiments/configs/smoke.py --out runs/smoke

Runtime (2-core CPU, jax 0.10.2, measured 2026-11-27 under load): ~10 s wall
with JAX's compilation cache warm, ~20 s cold; a second run with the same
--out resumes and computes nothing.

Expected numbers (2 half splits, mean): top-1 55.88 at lam 0 -> 96.47 at
lam 0.5, never-predicted classes 18.0 -> 0.5. ``--check`` asserts them.
"""

from upt_jax.sweep import Study

__all__ = ["get_config", "sweep", "EXPECTED"]

EXPECTED = [
    {"lam": 0.0, "top1": 55.88, "unreachable": 18.0},
    {"lam": 0.5, "top1": 96.47, "unreachable": 0.5},
]


def get_config() -> Study:
    return Study(
        name="smoke",
        datasets=("world:ucf101:clean:seed=0:n_videos=1000:videos_per_seen_class=10",),
        protocol="half:2",
        base={"n_clusters": 50, "kmeans_restarts": 2, "kmeans_max_iter": 50},
        chunk_rows=4,
        description="Tiny smoke sweep: 2 half splits x 2 lams on a 1,000-video clean world.",
    )


def sweep() -> dict:
    return {"lam": [0.0, 0.5], "epsilon": [1e-2]}
