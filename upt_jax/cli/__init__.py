"""The ``upt`` command.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func=handler`` where
``handler(args) -> int`` returns the exit code. Errors a user can cause
(``ValueError``, ``FileNotFoundError``, missing optional dependency) are printed
as one line, ``upt <command>: error: ...``, and exit with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main", "build_parser", "SUBCOMMANDS"]

# module name in upt_jax.cli -> registered by that module
SUBCOMMANDS = ("run", "classify", "transport", "validate", "embed_names", "export", "sweep")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="upt",
        description="Universal Prototype Transport for zero-shot action recognition (JAX).",
    )
    parser.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="disable JAX's persistent compilation cache (default: on, in ~/.cache/upt_jax/jax)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"upt_jax.cli.{name}")
        except ModuleNotFoundError as err:  # a sub-command not installed in this tree
            if err.name == f"upt_jax.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def _enable_compile_cache() -> None:
    import os

    import jax

    path = os.environ.get("UPT_JAX_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "upt_jax", "jax"
    )
    try:
        os.makedirs(path, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    except Exception:  # a read-only home must not break the command
        pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if not args.no_compile_cache:
        _enable_compile_cache()
    from upt_jax.errors import MissingDependencyError

    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, NotADirectoryError, MissingDependencyError) as err:
        msg = str(err).strip().splitlines()
        print(f"upt {args.command}: error: {' '.join(m.strip() for m in msg)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"upt {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
