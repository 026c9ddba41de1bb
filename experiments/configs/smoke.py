"""smoke: a tiny sweep that exercises the whole runner in seconds (`make smoke`).

A small UCF-101-like world (1,000 test videos, 10 training videos per seen
class), 2 Brattoli half splits x 2 lams, C = 50 (2 k-means restarts),
Sinkhorn epsilon 1e-2: 4 rows.

Command::

    upt sweep experiments/configs/smoke.py --out runs/smoke
    # or: python -m upt_jax.sweep experiments/configs/smoke.py --out runs/smoke

Expected runtime (2-core CPU, jax 0.10.2): ~30 s wall, mostly compilation
(k-means ~15 s, rows ~6 s); a second run with the same --out resumes and
computes nothing. Headline: top-1 ~40 at lam 0 -> ~44 at lam 0.5, never
predicted classes ~10 -> ~0.5 (2 splits; numbers move with the world code).
"""

from upt_jax.sweep import Study

__all__ = ["get_config", "sweep", "EXPECTED"]

EXPECTED = {"seconds": 30, "rows": 4}


def get_config() -> Study:
    return Study(
        name="smoke",
        datasets=("world:ucf101:default:seed=0:n_videos=1000:videos_per_seen_class=10",),
        protocol="half:2",
        base={"n_clusters": 50, "kmeans_restarts": 2, "kmeans_max_iter": 50},
        chunk_rows=4,
        description="Tiny smoke sweep: 2 half splits x 2 lams on a 1,000-video world.",
    )


def sweep() -> dict:
    return {"lam": [0.0, 0.5], "epsilon": [1e-2]}
