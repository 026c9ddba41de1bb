"""``upt sweep CONFIG.py [--out DIR] [--devices N]``: run a study (resumable).

The runner is :mod:`upt_jax.sweep`; a study is a Python file anywhere on disk
that defines ``get_config()`` returning a :class:`upt_jax.sweep.Study` (the
ready ones are ``experiments/configs/*.py`` of the source tree; the guide is
``docs/sweeps.md``).
"""

from __future__ import annotations

__all__ = ["register", "handler"]


def register(subparsers) -> None:
    """Add the ``sweep`` parser."""
    from upt_jax.sweep.cli import add_arguments

    parser = subparsers.add_parser(
        "sweep",
        help="run a study: class splits x static choices x lam/epsilon grids, resumable, sharded over devices",
        description=(
            "Run a study config (a .py file defining get_config()). One transport per (dataset, split, static "
            "choice, epsilon), shared by every lam. Rows already in OUT/results.jsonl are skipped, so re-running "
            "the same command resumes an interrupted sweep; rows from other data or code are refused "
            "(--force-new starts over). Writes results.jsonl/csv, summary.md/csv, plots/, config.json and "
            "timings.json."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(func=handler)


def handler(args) -> int:
    """Run the study named by ``args.config``."""
    from upt_jax.sweep.cli import run_from_args

    return run_from_args(args)
