"""Shared pieces of the ``upt`` sub-commands: UPT options, tables, JSON."""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

from upt_jax.api import UPTConfig, UPTHyper

__all__ = [
    "add_upt_arguments",
    "config_from_args",
    "markdown_table",
    "write_json",
    "environment",
    "log",
    "Timer",
]


def add_upt_arguments(parser, *, clusters: int = 1000, solver: str = "sinkhorn", lam: float | None = 0.5) -> None:
    """UPT options shared by ``classify``, ``transport`` and ``run``."""
    g = parser.add_argument_group("UPT options")
    if lam is not None:
        g.add_argument(
            "--lam",
            type=float,
            default=lam,
            help=f"fraction of the geodesic travelled, 0 = baseline, 1 = target (default {lam}); "
            "the example code's -l L is --lam 1-L",
        )
    g.add_argument("--clusters", type=int, default=clusters, help=f"C k-means centres; 0 = no clustering (default {clusters})")
    g.add_argument("--solver", choices=("emd", "sinkhorn"), default=solver, help=f"transport solver (default {solver})")
    g.add_argument("--epsilon", type=float, default=1e-2, help="Sinkhorn regularisation on the max-normalised cost (default 0.01)")
    g.add_argument("--threshold", type=float, default=1e-3, help="Sinkhorn marginal tolerance (default 1e-3)")
    g.add_argument("--sinkhorn-iters", type=int, default=2000, help="Sinkhorn iteration cap (default 2000)")
    g.add_argument("--seed", type=int, default=0, help="seed of k-means (default 0)")
    g.add_argument("--kmeans", choices=("euclidean", "spherical"), default="euclidean", help="k-means variant (default euclidean)")
    g.add_argument("--kmeans-restarts", type=int, default=10, help="k-means restarts, n_init (default 10)")
    g.add_argument("--kmeans-screen", type=int, default=0, metavar="STEPS",
                   help="k-means: after STEPS Lloyd steps continue only the best restart (faster; 0 = scikit-learn's rule, default)")
    g.add_argument("--cost", choices=("cosine", "geodesic"), default="cosine", help="transport cost, divided by its max")
    g.add_argument("--target-mass", choices=("uniform", "cluster_size"), default="uniform", help="mass of each centre")
    g.add_argument("--top-t", type=int, default=0, help="keep only centres among some prototype's top-t (0 = all)")
    g.add_argument(
        "--frechet",
        choices=("converged", "example"),
        default="converged",
        help="Frechet means run to convergence (default) or stopped as the example code's geomstats default does",
    )


def config_from_args(args) -> tuple[UPTConfig, UPTHyper]:
    """Build the static config and traced hyper-parameters from parsed options."""
    if args.clusters < 0:
        raise ValueError(f"--clusters must be >= 0 (0 = no clustering), got {args.clusters}")
    cfg = UPTConfig(
        n_clusters=args.clusters,
        kmeans=args.kmeans,
        kmeans_restarts=args.kmeans_restarts,
        kmeans_screen_iters=args.kmeans_screen,
        top_t=args.top_t,
        target_mass=args.target_mass,
        cost=args.cost,
        solver=args.solver,
        sinkhorn_threshold=args.threshold,
        sinkhorn_max_iter=args.sinkhorn_iters,
        frechet=args.frechet,
        frechet_max_iter=32 if args.frechet == "example" else 100,
    )
    lam = getattr(args, "lam", 1.0)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"--lam must lie in [0, 1] (fraction travelled; 0 = baseline), got {lam}; the example code's -l L is --lam 1-L")
    if args.epsilon <= 0:
        raise ValueError(f"--epsilon must be > 0, got {args.epsilon}")
    return cfg, UPTHyper(lam=np.float32(lam), epsilon=np.float32(args.epsilon))


def markdown_table(header: list[str], rows: list[list], floatfmt: str = ".2f") -> str:
    """A GitHub-flavoured Markdown table."""

    def fmt(v):
        if isinstance(v, (float, np.floating)):
            return format(float(v), floatfmt)
        return str(v)

    cells = [[fmt(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"  # noqa: E731
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)


def write_json(path: str, obj) -> None:
    """Write JSON atomically (temp file + rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, default=_json_default)
        f.write("\n")
    os.replace(tmp, path)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def environment() -> dict:
    """Versions and device, recorded with every result."""
    import jax

    try:
        from importlib.metadata import version

        ott_version = version("ott-jax")
    except Exception:  # pragma: no cover
        ott_version = "unknown"
    dev = jax.devices()[0]
    return {
        "jax": jax.__version__,
        "ott_jax": ott_version,
        "python": platform.python_version(),
        "device_kind": getattr(dev, "device_kind", str(dev)),
        "platform": dev.platform,
        "n_devices": jax.device_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def log(msg: str) -> None:
    """Progress message on stderr (stdout keeps the tables)."""
    print(msg, file=sys.stderr, flush=True)


class Timer:
    """``with Timer("step") as t: ...`` logs the step and its wall time."""

    def __init__(self, what: str, quiet: bool = False):
        self.what = what
        self.quiet = quiet
        self.seconds = 0.0

    def __enter__(self):
        self.t0 = time.perf_counter()
        if not self.quiet:
            log(f"[upt] {self.what} ...")
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        if not self.quiet and exc[0] is None:
            log(f"[upt] {self.what}: {self.seconds:.1f} s")
        return False
