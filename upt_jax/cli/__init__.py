"""The ``upt`` command.

Each sub-command lives in its own module of this package (named in
:data:`SUBCOMMANDS`; module ``embed_names`` is the command ``embed-names``)
and exposes ``register(subparsers)``, which adds its parser and sets
``func=handler`` where ``handler(args) -> int`` returns the exit code.

Sub-commands are imported lazily: ``upt --help`` lists them from their
module docstrings (first line) without importing any, and ``upt NAME ...``
imports only ``NAME``'s module. A sub-command whose optional dependencies are
missing or broken fails alone, with one line naming the problem; the others
keep working.

Errors: the project's own error types (:class:`upt_jax.errors.UPTError` and
its subclasses, :class:`upt_jax.errors.MissingDependencyError`) and
``OSError`` (missing files, permissions) are user errors, printed as one line
``upt <command>: error: ...`` with exit code 2. Anything else is a bug and
shows its traceback. ``upt --debug ...`` (or ``UPT_DEBUG=1``) shows the
traceback of user errors too.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable

__all__ = ["main", "build_parser", "run_command", "command_name", "SUBCOMMANDS"]

# modules of upt_jax.cli, one per sub-command (command name: "_" -> "-")
SUBCOMMANDS = ("run", "classify", "transport", "validate", "embed_names", "export", "sweep", "localize", "import_detections")


def command_name(module: str) -> str:
    """The command of a sub-command module (``embed_names`` -> ``embed-names``)."""
    return module.replace("_", "-")


def _summary(module: str) -> str | None:
    """First line of a sub-command module's docstring, read without importing
    it (``None``: no such module in this installation)."""
    try:
        spec = importlib.util.find_spec(f"upt_jax.cli.{module}")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return None
    try:
        with open(spec.origin, encoding="utf-8") as f:
            doc = ast.get_docstring(ast.parse(f.read())) or ""
    except (OSError, SyntaxError, ValueError):
        return "(cannot be read; run it for the error)"
    line = doc.strip().splitlines()[0] if doc.strip() else ""
    if line.startswith("``") and "``:" in line:  # "``upt name ARGS``: what it does"
        line = line.split("``:", 1)[1].strip()
    return line.replace("``", "").rstrip(".") or "(no description)"


class _LoadError(Exception):
    """A sub-command module could not be imported."""

    def __init__(self, command: str, err: BaseException):
        super().__init__(command)
        self.command = command
        self.err = err


def _register(sub, module: str) -> None:
    try:
        mod = importlib.import_module(f"upt_jax.cli.{module}")
    except Exception as err:  # a broken or missing optional part: this command only
        raise _LoadError(command_name(module), err) from err
    mod.register(sub)


def build_parser(command: str | None = None, *, prog: str = "upt") -> argparse.ArgumentParser:
    """The ``upt`` parser.

    Args:
      command: the sub-command whose module is imported and whose parser is
        built in full (``None``: none; every sub-command is listed from its
        docstring; ``"all"``: import every module).
      prog: program name shown in usage lines.

    Returns:
      ``argparse.ArgumentParser``.
    """
    from upt_jax import __version__

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Universal Prototype Transport for zero-shot action recognition (JAX).",
        epilog="Run '%(prog)s COMMAND --help' for a command's options.",
    )
    parser.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="disable JAX's persistent compilation cache (default: on, in ~/.cache/upt_jax/jax)",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of user errors too (or UPT_DEBUG=1)")
    parser.add_argument("--version", action="version", version=f"upt_jax {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        name = command_name(module)
        if command == "all" or name == command:
            _register(sub, module)
            continue
        help_line = _summary(module)
        if help_line is not None:  # a placeholder that lists the command
            sub.add_parser(name, help=help_line, add_help=False)
    return parser


def _enable_compile_cache() -> None:
    import jax

    path = os.environ.get("UPT_JAX_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "upt_jax", "jax")
    try:
        os.makedirs(path, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", path)
        # every program is kept (the small ones too: a PRNG key or the targets compile in 0.05-0.3 s)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    except Exception:  # a read-only home must not break the command
        pass


def _debug_env() -> bool:
    return os.environ.get("UPT_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def _one_line(err: BaseException) -> str:
    msg = " ".join(m.strip() for m in str(err).strip().splitlines() if m.strip())
    return msg or type(err).__name__


def run_command(command: str, fn: Callable[[], int | None], *, debug: bool = False) -> int:
    """Run ``fn`` as the sub-command ``command`` with the ``upt`` error policy.

    User errors (:class:`upt_jax.errors.UPTError` and subclasses,
    :class:`upt_jax.errors.MissingDependencyError`, ``OSError``) print one
    line on stderr and return 2 (with the traceback first when ``debug`` or
    ``UPT_DEBUG=1``); ``KeyboardInterrupt`` returns 130; any other exception
    propagates (a bug: its traceback is what a report needs).

    Returns:
      the exit code.
    """
    from upt_jax.errors import MissingDependencyError, UPTError

    debug = debug or _debug_env()
    try:
        return int(fn() or 0)
    except (UPTError, MissingDependencyError, OSError) as err:
        if debug:
            traceback.print_exc()
        print(f"upt {command}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"upt {command}: interrupted", file=sys.stderr)
        return 130


def _command_in(argv: list[str]) -> str | None:
    # global options take no value, so the first bare word is the command
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None, *, prog: str = "upt") -> int:
    """Entry point of ``upt`` (and ``python -m upt_jax``).

    Returns:
      the exit code (0 success, 1 a check failed, 2 a user error, 3 a strict
      convergence failure where a command offers ``--strict``, 130
      interrupted).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_in(argv)
    debug = "--debug" in argv[: argv.index(command)] if command in argv else "--debug" in argv
    debug = debug or _debug_env()
    try:
        parser = build_parser(command, prog=prog)
    except _LoadError as err:
        if debug:
            traceback.print_exception(type(err.err), err.err, err.err.__traceback__)
        print(
            f"{prog} {err.command}: error: this command cannot be loaded: {type(err.err).__name__}: "
            f"{_one_line(err.err)}; the other commands still work (install the missing package, "
            f"or run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 2
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if not args.no_compile_cache:
        _enable_compile_cache()

    def run():
        _check_output_files(args)
        return args.func(args)

    return run_command(args.command, run, debug=args.debug)


def _check_output_files(args) -> None:
    """Refuse ``--json DIR`` (an existing folder) before any work is done."""
    from upt_jax.errors import UPTError

    path = getattr(args, "json", None)
    if isinstance(path, str) and os.path.isdir(path):
        raise UPTError(
            f"--json {path} is a folder, not a file: give a file name, e.g. --json {os.path.join(path, 'results.json')}"
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
