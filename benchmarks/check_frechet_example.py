"""Check ``frechet="example"`` against geomstats' own ``FrechetMean`` (bench extra).

    python -m benchmarks.check_frechet_example [--n 1000] [--d 300] [--rows 8]

The example code computes its targets with geomstats ``FrechetMean`` (default
settings) on ``Hypersphere(dim=d-1)``. ``upt_jax.sphere.frechet_mean(...,
method="example")`` re-implements that stopping rule (docs/method.md); this
script runs both on the same EMD coupling rows of seeded random data and
prints the angle between them (should be ~0) and to the converged means.
"""

from __future__ import annotations

import argparse

import jax.numpy as jnp
import numpy as np
import ot

from benchmarks.reference import _import_geomstats
from upt_jax import sphere


def _deg(a, b):
    return np.rad2deg(2 * np.arctan2(np.linalg.norm(a - b, axis=-1), np.linalg.norm(a + b, axis=-1)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="centres")
    ap.add_argument("--k", type=int, default=50, help="classes")
    ap.add_argument("--d", type=int, default=300)
    ap.add_argument("--rows", type=int, default=8, help="coupling rows compared")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    hypersphere, frechet = _import_geomstats()
    rng = np.random.default_rng(args.seed)
    c = rng.normal(size=(args.n, args.d))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    p = rng.normal(size=(args.k, args.d))
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    cost = 1 - p @ c.T
    cost /= cost.max()
    plan = ot.emd(np.full(args.k, 1 / args.k), np.full(args.n, 1 / args.n), cost)[: args.rows]
    space = hypersphere(dim=args.d - 1)
    ref = []
    for row in plan:
        fm = frechet(space)
        fm.fit(c, weights=row / row.sum())
        ref.append(np.asarray(fm.estimate_).reshape(-1))
    ref = np.asarray(ref)
    ex = sphere.frechet_mean(jnp.asarray(c, jnp.float32), jnp.asarray(plan, jnp.float32), method="example", max_iter=32)
    cv = sphere.frechet_mean(jnp.asarray(c, jnp.float32), jnp.asarray(plan, jnp.float32))
    print("angle geomstats vs upt_jax 'example' (deg):", np.round(_deg(ref, np.asarray(ex.mean)), 4).tolist())
    print("iterations of 'example':", np.asarray(ex.n_iters).tolist())
    print("angle geomstats vs converged means (deg):", np.round(_deg(ref, np.asarray(cv.mean)), 2).tolist())


if __name__ == "__main__":
    main()
