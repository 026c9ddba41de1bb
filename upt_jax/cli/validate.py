"""``upt validate DIR``: check a data folder and list every problem."""

from __future__ import annotations

import argparse

__all__ = ["register", "handler"]


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "validate",
        help="check a data folder (example-code or portable layout) and list every problem",
        description=(
            "Check a data folder: the example code's layout (embeddings/, objectscores/, ot/) or "
            "upt_jax's portable layout (meta.json + .npy). Prints 'OK: ...' and exits 0, or lists "
            "every problem, one per line, and exits 1."
        ),
    )
    parser.add_argument("dir", metavar="DIR", help="the data folder (or its embeddings/ folder)")
    parser.add_argument(
        "--video-model",
        default=None,
        help="check only <prefix>_video_embeddings_<MODEL>.npy (default: every one found)",
    )
    parser.set_defaults(func=handler)
    return parser


def handler(args: argparse.Namespace) -> int:
    from upt_jax.cli._localization import validate_command
    from upt_jax.data import inspect_folder

    code = validate_command(args.dir)  # a localization folder (meta.json format upt_jax-localization)
    if code is not None:
        return code
    report = inspect_folder(args.dir, video_model=args.video_model)
    if report.ok:
        print(f"OK: {report.summary()}")
        return 0
    n = len(report.problems)
    layout = report.layout or "unknown layout"
    print(f"{args.dir} ({layout}): {n} problem{'s' if n > 1 else ''}")
    for p in report.problems:
        print(f"  {p}")
    return 1
