"""Command-line options of ``upt sweep`` (also ``python -m upt_jax.sweep``)."""

from __future__ import annotations

import argparse
import os

__all__ = ["add_arguments", "run_from_args", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sweep options to ``parser`` (imports nothing heavy)."""
    parser.add_argument("config", help="study config file (.py defining get_config(), anywhere on disk)")
    parser.add_argument("--out", default=None, help="output folder (default runs/<study name>); resumes if it exists")
    parser.add_argument("--devices", type=int, default=None, help="shard transports over this many devices (default: all)")
    parser.add_argument("--chunk-rows", type=int, default=None, help="rows per compiled batch (default: the study's, 128)")
    parser.add_argument("--max-chunks", type=int, default=None, help="stop after this many chunks (resume later)")
    parser.add_argument(
        "--cache", default=None, metavar="DIR",
        help="folder of cached k-means centres, shared by every study (default $UPT_JAX_CENTRES_CACHE or "
        "~/.cache/upt_jax/centres; entries are keyed by data, clustering config, seed, split and code)",
    )
    parser.add_argument("--no-cache", action="store_true", help="keep k-means centres in memory only")
    parser.add_argument(
        "--force-new", action="store_true",
        help="start over: move OUT's old results to OUT/previous-<time>/ (needed when they came from other data or code)",
    )
    parser.add_argument(
        "--no-stack", action="store_true",
        help="one compiled program per dataset instead of stacking datasets of one dimension (same rows)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--check", action="store_true",
        help="after the run, compare the summary with the study file's EXPECTED numbers (table in "
        "OUT/expected_check.md); exit code 4 when one does not match",
    )
    parser.add_argument(
        "--check-only", action="store_true",
        help="compute nothing: compare the rows already in OUT with the study's EXPECTED numbers (for a run "
        "made by an earlier code version, which a resume would refuse); exit code 4 as --check",
    )
    parser.add_argument(
        "--distributed", action="store_true",
        help="call jax.distributed.initialize() first (multi-host: TPU pod slice, multi-node GPU)",
    )


def run_from_args(args) -> int:
    """Run the study of parsed ``args``; prints one line of statistics."""
    if args.distributed:
        import jax

        jax.distributed.initialize()
    from upt_jax.sweep.execute import default_cache_dir, run_study
    from upt_jax.sweep.study import load_study

    if getattr(args, "check_only", False):
        return _check_only(args)
    overrides = {}
    if args.chunk_rows:
        overrides["chunk_rows"] = args.chunk_rows
    study = load_study(args.config, overrides)
    out = args.out or os.path.join("runs", study.name)
    stats = run_study(
        study,
        out,
        devices=args.devices,
        progress=not args.no_progress,
        max_chunks=args.max_chunks,
        cache_dir=False if args.no_cache else (args.cache or default_cache_dir()),
        force_new=args.force_new,
        stack_datasets=not args.no_stack,
    )
    print(
        f"{study.name}: {stats.rows_computed} rows computed from {stats.transports_solved} transports, "
        f"{stats.rows_skipped} already done, {stats.rows_total} total; {stats.wall_s:.1f} s "
        f"(data {stats.data_s:.1f} s; k-means {stats.kmeans_s:.1f} s, {stats.kmeans_computed} computed, "
        f"{stats.kmeans_loaded} from cache; compile {stats.compile_s:.1f} s x{stats.compilations}; "
        f"rows {stats.rows_s:.1f} s) -> {os.path.join(out, 'summary.md')}"
    )
    if stats.not_converged:
        import sys

        print(
            f"upt sweep: warning: {stats.not_converged} of {stats.transports_solved} transports did not converge "
            f"(listed in summary.md); first: {stats.first_warning}",
            file=sys.stderr,
        )
    if getattr(args, "check", False):
        return _check_expected(args.config, out, stats)
    return 0


def _check_only(args) -> int:
    import sys

    from upt_jax.errors import UPTError
    from upt_jax.sweep.store import read_rows
    from upt_jax.sweep.study import load_study

    study = load_study(args.config)
    out = args.out or os.path.join("runs", study.name)
    rows = read_rows(out)
    if not rows:
        raise UPTError(f"upt sweep --check-only: no rows in {out!r}; run `upt sweep {args.config} --out {out}` first")
    codes = sorted({r.get("code_version") for r in rows} - {None})
    print(f"upt sweep: --check-only: rows of {out} (code {', '.join(codes) or 'unknown'})", file=sys.stderr)
    return _report_check(args.config, out)


def _check_expected(config_path: str, out: str, stats) -> int:
    import sys

    if stats.rows_skipped + stats.rows_computed < stats.rows_total:
        print("upt sweep: --check: the run stopped before every row was computed; resume it, then check", file=sys.stderr)
        return 4
    return _report_check(config_path, out)


def _report_check(config_path: str, out: str) -> int:
    import sys

    from upt_jax.sweep.expected import check_run, format_check, load_expected

    expected = load_expected(config_path)
    if not expected:
        print(f"upt sweep: --check: {config_path} defines no EXPECTED numbers; nothing to check", file=sys.stderr)
        return 0
    results = check_run(out, expected)
    print(format_check(results))
    bad = [r for r in results if not r["ok"]]
    if bad:
        print(f"upt sweep: --check: {len(bad)} of {len(results)} expected numbers differ (see "
              f"{os.path.join(out, 'expected_check.md')})", file=sys.stderr)
        return 4
    print(f"upt sweep: --check: all {len(results)} expected numbers match", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m upt_jax.sweep``: the ``upt sweep`` options, errors as one line (exit 2)."""
    from upt_jax.cli import run_command

    parser = argparse.ArgumentParser(prog="python -m upt_jax.sweep", description="Run a upt_jax study (resumable).")
    add_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="show the traceback of user errors too")
    args = parser.parse_args(argv)
    return run_command("sweep", lambda: run_from_args(args), debug=args.debug)
