"""``upt sweep CONFIG [--out DIR] [--devices N]``: run a study (resumable).

The same runner as ``python -m experiments.run``; studies live in
``experiments/configs/`` of the source tree (see ``experiments/README.md``).
"""

from __future__ import annotations

import os
import sys

__all__ = ["register", "handler"]


def _import_runner():
    """Import ``experiments.run`` from the source tree next to this package."""
    try:
        from experiments import run
    except ModuleNotFoundError as err:
        if err.name not in ("experiments", "experiments.run"):
            raise
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        if not os.path.isdir(os.path.join(root, "experiments")):
            raise FileNotFoundError(
                "upt sweep needs the experiments/ folder of the upt_jax source tree; "
                "run it from a source checkout (pip install -e .)"
            ) from err
        sys.path.insert(0, root)
        from experiments import run
    return run


def register(subparsers) -> None:
    """Add the ``sweep`` parser."""
    parser = subparsers.add_parser(
        "sweep",
        help="run a study: vmapped splits x hyper-parameters, sharded over devices, resumable",
        description=(
            "Run a study config (experiments/configs/*.py). Rows already in DIR/results.jsonl are skipped, "
            "so re-running the same command resumes an interrupted sweep. Writes results.csv, results.jsonl, "
            "summary.md, plots/ and config.json."
        ),
    )
    _import_runner().add_arguments(parser)
    parser.set_defaults(func=handler)


def handler(args) -> int:
    """Run the study named by ``args.config``."""
    return _import_runner().run_from_args(args)
