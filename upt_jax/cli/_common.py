"""Shared pieces of the ``upt`` sub-commands: UPT options, tables, JSON."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from upt_jax.api import UPTConfig, UPTHyper, chunk_size_for, convergence_warning
from upt_jax import records
from upt_jax.errors import UPTError

__all__ = [
    "add_upt_arguments",
    "config_from_args",
    "load_prior",
    "convergence_exit",
    "markdown_table",
    "write_json",
    "environment",
    "log",
    "Timer",
]


def add_upt_arguments(
    parser, *, clusters: int = 1000, solver: str = "sinkhorn", lam: float | None = 0.5, priors: bool = False
) -> None:
    """UPT options shared by ``classify``, ``transport`` and ``run`` (with ``--strict``).

    ``priors=True`` adds ``--class-prior`` and ``--prior`` (commands whose UPT
    call takes a class prior: ``classify``, ``transport``); ``--tau-a`` and
    ``--tau-b`` (unbalanced transport) are always there.
    """
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
    g.add_argument("--epsilon", type=float, default=1e-2, help="Sinkhorn regularisation on the max-normalised cost, > 0 (default 0.01)")
    g.add_argument("--threshold", type=float, default=1e-3,
                   help="Sinkhorn tolerance on the L1 marginal error, > 0 (default 1e-3)")
    g.add_argument("--sinkhorn-iters", type=int, default=2000, help="Sinkhorn iteration cap, >= 1 (default 2000)")
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
    g.add_argument("--frechet-iters", type=int, default=None,
                   help="Karcher iteration cap, >= 1 (default 100; 32 with --frechet example, as the example code)")
    g.add_argument("--frechet-tol", type=float, default=1e-6,
                   help="Karcher tolerance on the norm of the mean log-map, > 0 (default 1e-6; ignored by --frechet example)")
    g.add_argument("--chunk-size", type=_chunk_size, default=0, metavar="B|auto",
                   help="0 (default): dense transport; B > 0: the large-N path, B target points per block (Sinkhorn "
                   "only, no [K, C] plan in memory; classification by blocks too); 'auto': chosen from a 1 GiB budget")
    g.add_argument("--frechet-top-m", type=int, default=0, metavar="M",
                   help="APPROXIMATION for large N: each class's Frechet mean uses only its M largest coupling entries "
                   "(kept mass and error reported; 0 = exact, default)")
    g.add_argument("--tau-a", type=float, default=1.0, metavar="T",
                   help="relaxation of the classes' marginal in (0, 1], OTT's tau = rho / (rho + epsilon): 1 = balanced "
                   "(default), < 1 = unbalanced transport (a KL penalty; needs --solver sinkhorn)")
    g.add_argument("--tau-b", type=float, default=1.0, metavar="T",
                   help="relaxation of the centres' marginal in (0, 1] (default 1 = balanced; < 1 needs --solver sinkhorn)")
    if priors:
        g.add_argument("--class-prior", choices=("uniform", "given", "estimated"), default="uniform",
                       help="class masses of the transport: uniform (default, the paper), given (--prior FILE) or "
                       "estimated from the baseline scores without labels (EM)")
        g.add_argument("--prior", metavar="FILE", default=None,
                       help="[K] class weights for --class-prior given: a .npy file or a text file of K numbers")
    g.add_argument("--strict", action="store_true",
                   help="exit with code 3 when the transport or a Frechet mean did not converge (the warning line "
                   "on stderr is printed either way)")


def _chunk_size(text: str):
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0 or 'auto', got {text!r}") from None


def config_from_args(args, *, n_classes: int | None = None, n_points: int | None = None) -> tuple[UPTConfig, UPTHyper]:
    """Build the static config and traced hyper-parameters from parsed options.

    Every value is checked here first, so that a bad option is reported by its
    flag (``--threshold must be > 0 ...``). ``--chunk-size auto`` needs
    ``n_classes`` and ``n_points`` (C, or N without clustering); without
    them it stays dense.

    Raises:
      UPTError: an option out of range.
    """

    def bad(msg):
        raise UPTError(msg)

    if args.clusters < 0:
        bad(f"--clusters must be >= 0 (0 = no clustering), got {args.clusters}")
    if not (np.isfinite(args.epsilon) and args.epsilon > 0):
        bad(f"--epsilon must be > 0, got {args.epsilon}")
    if not (np.isfinite(args.threshold) and args.threshold > 0):
        bad(f"--threshold must be > 0 (Sinkhorn tolerance on the L1 marginal error, e.g. 1e-3), got {args.threshold}")
    if args.sinkhorn_iters < 1:
        bad(f"--sinkhorn-iters must be >= 1 (an iteration cap), got {args.sinkhorn_iters}")
    frechet_iters = args.frechet_iters if args.frechet_iters is not None else (32 if args.frechet == "example" else 100)
    if frechet_iters < 1:
        bad(f"--frechet-iters must be >= 1 (an iteration cap), got {frechet_iters}")
    if not (np.isfinite(args.frechet_tol) and args.frechet_tol > 0):
        bad(f"--frechet-tol must be > 0 (tolerance on the norm of the mean log-map, e.g. 1e-6), got {args.frechet_tol}")
    if args.kmeans_restarts < 1:
        bad(f"--kmeans-restarts must be >= 1, got {args.kmeans_restarts}")
    if args.top_t < 0:
        bad(f"--top-t must be >= 0 (0 = keep all centres), got {args.top_t}")
    if args.frechet_top_m < 0:
        bad(f"--frechet-top-m must be >= 0 (0 = exact means), got {args.frechet_top_m}")
    chunk = args.chunk_size
    if chunk == "auto":
        chunk = 0
        if n_classes is not None and n_points is not None and args.solver == "sinkhorn":
            chunk = chunk_size_for(n_classes, n_points)
    if chunk < 0:
        bad(f"--chunk-size must be >= 0 (0 = dense) or 'auto', got {chunk}")
    if chunk > 0 and args.solver == "emd":
        bad(f"--chunk-size {chunk} needs --solver sinkhorn: exact EMD has no chunked form (POT needs the whole "
            "[K, C] cost on the host); drop --chunk-size for EMD")
    if (chunk > 0 or args.frechet_top_m > 0) and args.frechet == "example":
        bad("--frechet example reproduces the example code on the dense path only; drop --chunk-size/--frechet-top-m")
    tau_a, tau_b = getattr(args, "tau_a", 1.0), getattr(args, "tau_b", 1.0)
    for flag, tau in (("--tau-a", tau_a), ("--tau-b", tau_b)):
        if not (np.isfinite(tau) and 0.0 < tau <= 1.0):
            bad(f"{flag} must lie in (0, 1] (1 = balanced marginal; OTT's tau = rho / (rho + epsilon)), got {tau}")
    unbalanced = tau_a < 1.0 or tau_b < 1.0
    if unbalanced and args.solver == "emd":
        bad(f"--tau-a {tau_a:g} / --tau-b {tau_b:g} (unbalanced transport) need --solver sinkhorn: exact EMD is balanced only")
    if unbalanced and chunk > 0:
        bad("--tau-a / --tau-b < 1 need the dense path: drop --chunk-size (the chunked Sinkhorn is balanced only)")
    class_prior = getattr(args, "class_prior", "uniform")
    prior_file = getattr(args, "prior", None)
    if class_prior == "given" and not prior_file:
        bad("--class-prior given needs --prior FILE (a [K] .npy or a text file of K class weights)")
    if prior_file and class_prior != "given":
        bad(f"--prior {prior_file} is only used with --class-prior given (now {class_prior}); add --class-prior given")
    prior = load_prior(prior_file) if prior_file else None
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
        frechet_tol=args.frechet_tol,
        frechet_max_iter=frechet_iters,
        chunk_size=chunk,
        frechet_top_m=args.frechet_top_m,
        tau_a=tau_a,
        tau_b=tau_b,
        class_prior=class_prior,
    )
    lam = getattr(args, "lam", 1.0)
    if not 0.0 <= lam <= 1.0:
        bad(f"--lam must lie in [0, 1] (fraction travelled; 0 = baseline), got {lam}; the example code's -l L is --lam 1-L")
    return cfg, UPTHyper(lam=np.float32(lam), epsilon=np.float32(args.epsilon), prior=prior)


def load_prior(path: str) -> np.ndarray:
    """A ``[K]`` class prior from ``--prior FILE`` (``.npy``, or text: K numbers).

    Raises:
      FileNotFoundError: no such file. UPTError: not a vector of finite
      non-negative numbers with a positive sum.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--prior {path}: no such file; give a [K] .npy or a text file of K class weights")
    try:
        w = np.load(path, allow_pickle=False) if path.endswith(".npy") else np.loadtxt(path, dtype=np.float64, ndmin=1)
    except Exception as err:
        raise UPTError(f"--prior {path}: not readable as a [K] vector of numbers ({err})") from None
    w = np.asarray(w, np.float64)
    if w.ndim != 1 or w.size < 2:
        raise UPTError(f"--prior {path} has shape {list(w.shape)}; expected [K] (one weight per class)")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise UPTError(f"--prior {path}: weights must be finite, >= 0 and not all 0")
    return w.astype(np.float32)


def convergence_exit(summary: dict | None, args, *, what: str = "") -> int:
    """Print the one convergence warning line on stderr; the exit code it implies.

    Args:
      summary: :func:`upt_jax.api.summarize_diagnostics` output (``None``:
        nothing was solved).
      args: parsed options (``args.strict``).
      what: optional context, e.g. ``"UPT without clustering"``.

    Returns:
      3 with ``--strict`` and a warning, else 0.
    """
    if summary is None:
        return 0
    warning = convergence_warning(summary)
    if warning is None:
        return 0
    prefix = f"upt {getattr(args, 'command', '') or ''}".rstrip()
    print(f"{prefix}: warning: {warning}" + (f" [{what}]" if what else ""), file=sys.stderr, flush=True)
    return 3 if getattr(args, "strict", False) else 0


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
    """Write JSON atomically; a folder given as ``path`` is a clear
    :class:`UPTError` and nothing is left behind (:func:`upt_jax.records.write_json`)."""
    records.write_json(path, obj)


def environment() -> dict:
    """Versions and devices recorded with every result (:func:`upt_jax.records.environment`)."""
    return records.environment()


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
