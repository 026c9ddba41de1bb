"""Where the wall time of ``upt classify`` goes, stage by stage, in one fresh process.

    python -m benchmarks.profile_classify --official out/ucf101_official [--solver emd|sinkhorn]
        [--frechet example|converged] [--clusters 0] [--cache DIR]

Runs the steps of ``upt classify --official DATA --clusters C --lam 0.5``
one at a time with a timer each (wall and CPU seconds): the interpreter's own
start (a separate ``python -c pass``), the imports, loading the data, the
baseline evaluation (trace + compile, run), then UPT in stages: the cost,
the transport (for EMD: POT's import and the host solve are timed on their
own), the Frechet means and the update, and the evaluation of the moved
prototypes. For each jitted stage the trace/lowering time, the XLA compile
time (``.lower().compile()``) and the compiled run are separate. With
``--cache DIR`` JAX's persistent compilation cache is on (run twice to see
the warm numbers). Prints a Markdown table; the numbers are those of one run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

__all__ = ["main"]

_T0 = time.perf_counter()
_C0 = time.process_time()


class _Clock:
    def __init__(self):
        self.rows = []

    def __call__(self, what):
        clock = self

        class _Ctx:
            def __enter__(self):
                self.t, self.c = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                clock.rows.append((what, time.perf_counter() - self.t, time.process_time() - self.c))
                return False

        return _Ctx()


def _staged(clock, name, fn, *args):
    """Trace+lower, compile and run ``jax.jit(fn)`` with a timer each; returns the output."""
    import jax

    with clock(f"{name}: trace + lower"):
        lowered = jax.jit(fn).lower(*args)
    with clock(f"{name}: compile"):
        compiled = lowered.compile()
    with clock(f"{name}: run"):
        out = jax.block_until_ready(compiled(*args))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official", required=True)
    ap.add_argument("--solver", default="emd", choices=("emd", "sinkhorn"))
    ap.add_argument("--frechet", default="example", choices=("example", "converged"))
    ap.add_argument("--clusters", type=int, default=0)
    ap.add_argument("--cache", default=None, help="JAX persistent compilation cache folder (default: off)")
    args = ap.parse_args(argv)
    clock = _Clock()
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    start = time.perf_counter() - t

    with clock("import jax"):
        import jax
        import jax.numpy as jnp
    if args.cache:
        jax.config.update("jax_compilation_cache_dir", args.cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    with clock("import upt_jax (api, data, metrics)"):
        import numpy as np

        from upt_jax import api, data, metrics, sphere
        from upt_jax import transport as T
    with clock("loading data"):
        ds = data.load_official(args.official)
        protos = np.asarray(ds.prototypes, np.float32)
        videos = np.asarray(ds.videos, np.float32)
        labels = np.asarray(ds.labels, np.int32)
    cfg = api.UPTConfig(n_clusters=args.clusters, solver=args.solver, frechet=args.frechet,
                        frechet_max_iter=32 if args.frechet == "example" else 100)
    hp = api.UPTHyper(lam=np.float32(0.5), epsilon=np.float32(1e-2))
    base = _staged(clock, "baseline evaluate", metrics.evaluate, protos, videos, labels)
    key = jax.random.PRNGKey(0)
    centres = _staged(clock, "targets (normalise videos / k-means)", lambda v, k: api.cluster_videos(v, cfg, k),
                      videos, key)

    def cost_fn(p, c):
        return T.cost_matrix(sphere.normalize(p), c.points, kind=cfg.cost, col_mask=c.mass > 0)

    cost = _staged(clock, "cost", cost_fn, protos, centres)
    k = protos.shape[0]
    a = jnp.full((k,), 1.0 / k, jnp.float32)
    if args.solver == "emd":
        with clock("transport: import POT"):
            import ot  # noqa: F401
        with clock("transport: POT ot.emd on the host (float64)"):
            plan_np, _ = T._emd_host(np.asarray(a), np.asarray(centres.mass), np.asarray(cost), 1_000_000)
        plan = jnp.asarray(plan_np, jnp.float32)
    else:
        plan = _staged(clock, "transport: Sinkhorn", lambda c, a, b, e: T.couple(
            c, a, b, solver="sinkhorn", epsilon=e, threshold=cfg.sinkhorn_threshold,
            max_iterations=cfg.sinkhorn_max_iter).plan, cost, a, centres.mass, hp.epsilon)

    def frechet_update(p, pts, plan, lam):
        fm = sphere.frechet_mean(pts, plan, method=cfg.frechet, tol=cfg.frechet_tol, max_iter=cfg.frechet_max_iter)
        return sphere.slerp(sphere.normalize(p), fm.mean, lam)

    new = _staged(clock, f"Frechet means ({cfg.frechet}) + update", frechet_update, protos, centres.points, plan,
                  hp.lam)
    after = _staged(clock, "evaluate moved prototypes", metrics.evaluate, new, videos, labels)
    with clock("summaries"):
        out = metrics.summarize(after, list(ds.class_names))
        metrics.summarize(base, list(ds.class_names))
    total = time.perf_counter() - _T0
    cpu = time.process_time() - _C0
    lines = [f"# profile: --clusters {args.clusters} --solver {args.solver} --frechet {args.frechet} "
             f"(cache: {args.cache or 'off'}); load average {os.getloadavg()[0]:.2f}", "",
             "| step | wall s | CPU s |", "|---|---|---|", f"| python start (python -c pass) | {start:.2f} | |"]
    lines += [f"| {w} | {s:.3f} | {c:.3f} |" for w, s, c in clock.rows]
    lines += [f"| total in this process (incl. module import) | {total:.2f} | {cpu:.2f} |", "",
              f"top-1 baseline {float(base.top1):.2f}, after {out['top1']:.2f}"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
