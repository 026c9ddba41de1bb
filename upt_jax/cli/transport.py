"""``upt transport``: target prototypes, as the example code's ``optimal_destinations.py``.

    upt transport --prototypes P.npy --videos V.npy --clusters 1000 --solver emd --out T.npy

Writes the ``[K, d]`` targets (Frechet means of the centres weighted by each
class's coupling row): what ``--targets`` of ``upt classify`` reads, the same
role as the example code's ``ot/*.npy`` files. ``--out`` gets the ``.npy``
suffix if it has none (as ``np.save`` does); the printed path is the file
written. ``--json`` writes the diagnostics
(:func:`upt_jax.api.summarize_diagnostics`) and the configuration.

Convergence: when the transport or a class's Frechet mean did not converge,
one warning line on stderr names them; ``--strict`` then exits with code 3
(the targets are written either way).
"""

from __future__ import annotations

import os

import numpy as np

from upt_jax.cli import _common
from upt_jax.errors import DataError, UPTError

__all__ = ["register", "handler"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "transport",
        help="compute UPT target prototypes from prototypes and video projections",
        description=__doc__,
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter,
    )
    p.add_argument("--prototypes", required=True, metavar="P.npy", help="[K, d] class prototypes")
    p.add_argument("--videos", required=True, metavar="V.npy", help="[N, d] projections of all test videos")
    p.add_argument("--out", required=True, metavar="T.npy", help="where to write the [K, d] targets")
    p.add_argument("--json", metavar="OUT", help="also write diagnostics as JSON")
    _common.add_upt_arguments(p, clusters=1000, solver="emd", lam=None)
    p.set_defaults(func=handler)


def _load(path: str, what: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--{what} {path}: no such file")
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as err:
        raise DataError(f"--{what} {path}: not a readable .npy array ({err})") from err
    if a.ndim != 2:
        raise DataError(f"--{what} {path}: expected a 2-d array, got shape {list(a.shape)}")
    return a.astype(np.float32)


def handler(args) -> int:
    import jax

    from upt_jax import api

    args.lam = 1.0
    cfg, hp = _common.config_from_args(args)  # checks every option before loading
    protos = _load(args.prototypes, "prototypes")
    videos = _load(args.videos, "videos")
    if args.chunk_size == "auto":
        n_points = args.clusters if 0 < args.clusters < len(videos) else len(videos)
        cfg, hp = _common.config_from_args(args, n_classes=len(protos), n_points=n_points)
    try:
        api.check_inputs(protos, videos, cfg, hp)
    except UPTError as err:
        raise UPTError(f"{err} (files: {args.prototypes}, {args.videos})") from None
    from upt_jax.cli import _stages  # compiled stages the persistent cache keeps (EMD included)

    with _common.Timer(f"transport (C={cfg.n_clusters or len(videos)}, {cfg.solver})"):
        _, diag = _stages.upt_staged(cfg, protos, videos, jax.random.PRNGKey(args.seed), hp)
        targets = np.asarray(jax.block_until_ready(diag.targets), np.float32)
    out = args.out if args.out.endswith(".npy") else args.out + ".npy"  # np.save adds the suffix
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    np.save(out, targets)
    summary = api.summarize_diagnostics(diag, config=cfg)
    info = {
        "out": out,
        "shape": list(targets.shape),
        "diagnostics": summary,
        "config": {**cfg.as_dict(), "epsilon": args.epsilon, "seed": args.seed},
    }
    print(f"wrote {out} {list(targets.shape)}; median prototype-to-target angle "
          f"{summary['median_target_angle_deg']:.2f} deg")
    if args.json:
        _common.write_json(args.json, info)
    return _common.convergence_exit(summary, args)
