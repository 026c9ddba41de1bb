"""Expected numbers of a study, checked against what a run measured.

A study file may define ``EXPECTED``: a list of entries, each a dict whose
keys are

- *selectors* (any of ``dataset``, ``protocol``, ``static``, ``epsilon``,
  ``lam``, the fields of a row of :func:`upt_jax.sweep.report.summary_table`):
  which summary row the entry is about. ``dataset`` matches whole ``:``-separated parts
  of the dataset spec (:func:`dataset_matches`); the others must be equal (numbers within 1e-9).
- ``where`` (optional): a dict of further row fields and their values, for
  a task whose rows carry a grid of their own (the localization task's
  ``top_objects``, ``iou_weight``, ``max_dist``), e.g.
  ``{"lam": 0.5, "where": {"top_objects": 1, "iou_weight": 1.0},
  "map_mean": 13.42}``. The summary is then also grouped by every field that
  some entry names in ``where``; matching as for the selectors. A summary
  row that still pools rows of different grid points (two rows of one split
  in a group: the entry names too few fields) matches no entry and is
  reported as ambiguous.
- *metrics* (``top1``, ``top5``, ``mean_class_accuracy``, ``unreachable``,
  ``map_mean``, ...: any numeric field of the summary row): the value the
  study's docstring promises (mean over the protocol's splits).
- ``tol`` (optional, default :data:`DEFAULT_TOL`): the largest accepted
  absolute difference, in the metric's unit.

``upt sweep STUDY --check`` runs (or resumes) the study and then compares;
the exit code is 4 when an entry does not match or selects no row, so the
numbers a study's docstring quotes are asserted by the run that reproduces
them. Numbers that depend on the machine (seconds) do not belong in
``EXPECTED``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from upt_jax.errors import UPTError

__all__ = ["DEFAULT_TOL", "dataset_matches", "SELECTORS", "check_expected", "check_run", "format_check", "load_expected", "validate_expected"]

DEFAULT_TOL = 0.05
SELECTORS = ("dataset", "protocol", "static", "epsilon", "lam")
#: Keys of an entry that are neither selectors nor metrics.
_OTHER = ("tol", "where")


def validate_expected(expected, where: str = "EXPECTED") -> list[dict]:
    """Check the shape of an ``EXPECTED`` list; return it as a list of dicts.

    Raises:
      UPTError: not a list of dicts, an entry without a metric, a non-numeric
        value, or a negative ``tol``.
    """
    if expected is None:
        return []
    if isinstance(expected, dict) or not isinstance(expected, Sequence) or isinstance(expected, str):
        raise UPTError(
            f"{where} must be a list of entries such as "
            "{'protocol': 'half', 'lam': 0.5, 'top1': 51.4}, got "
            f"{type(expected).__name__}"
        )
    out = []
    for i, e in enumerate(expected):
        if not isinstance(e, dict):
            raise UPTError(f"{where}[{i}] must be a dict, got {type(e).__name__}")
        metrics = {k: v for k, v in e.items() if k not in SELECTORS and k not in _OTHER}
        if not metrics:
            raise UPTError(f"{where}[{i}] {e} names no metric (e.g. 'top1'); selectors are {', '.join(SELECTORS)}")
        for k, v in metrics.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise UPTError(f"{where}[{i}]['{k}'] must be a finite number, got {v!r}")
        tol = e.get("tol", DEFAULT_TOL)
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol >= 0:
            raise UPTError(f"{where}[{i}]['tol'] must be a number >= 0, got {tol!r}")
        w = e.get("where", {})
        if not isinstance(w, dict) or not all(isinstance(k, str) for k in w):
            raise UPTError(f"{where}[{i}]['where'] must be a dict of row fields, e.g. {{'top_objects': 1}}, got {w!r}")
        clash = sorted(set(w) & (set(SELECTORS) | set(metrics)))
        if clash:
            raise UPTError(f"{where}[{i}]['where'] names {clash}, which are selectors or metrics of the entry itself")
        out.append(dict(e))
    return out


def _tokens(spec: str) -> list[str]:
    return [t for t in re.split(r"[:/\\]", spec) if t]


def dataset_matches(want: str, spec: str) -> bool:
    """Whether an entry's ``dataset`` selects the dataset ``spec``.

    Matches whole parts of the spec (split at ``:`` and path separators): the
    parts of ``want`` must appear in a row among the parts of ``spec``. So
    ``"ucf101:default"`` selects ``"world:ucf101:default:seed=0"`` and
    ``"wordnet-nouns"`` a folder ``"data/wordnet-nouns"``, but
    ``"imbalance=1"`` does not select ``"...:imbalance=1.5"``.
    """
    w, h = _tokens(want), _tokens(spec)
    if not w:
        return False
    return any(h[i:i + len(w)] == w for i in range(len(h) - len(w) + 1))


def _selection(entry: dict) -> dict:
    """The entry's selectors and ``where`` fields as one dict."""
    return {**{k: entry[k] for k in SELECTORS if k in entry}, **entry.get("where", {})}


def _selects(entry: dict, row: dict) -> bool:
    for k, want in _selection(entry).items():
        have = row.get(k)
        if k == "dataset":
            if not dataset_matches(str(want), str(have)):
                return False
        elif isinstance(want, (int, float)) and not isinstance(want, bool):
            if have is None or not isinstance(have, (int, float)) or abs(float(have) - float(want)) > 1e-9:
                return False
        elif want != have:
            return False
    return True


def check_expected(summary_rows: list[dict], expected) -> list[dict]:
    """Compare ``EXPECTED`` entries with the summary rows of a run.

    Args:
      summary_rows: rows of :func:`upt_jax.sweep.report.summary_table`.
      expected: the study's ``EXPECTED`` list (see the module docstring).

    Returns:
      one dict per (entry, metric): ``entry`` (the selectors and ``where``
      fields), ``metric``, ``expected``, ``measured`` (None when no row
      matched), ``tol``, ``n_rows`` (rows selected; more than one is an
      error: make the entry more specific) and ``ok``. A summary row with
      ``"pooled": True`` (set by :func:`check_run`) counts as two rows.
    """
    results = []
    for e in validate_expected(expected):
        rows = [r for r in summary_rows if _selects(e, r)]
        n_rows = len(rows) + sum(1 for r in rows if r.get("pooled"))
        tol = float(e.get("tol", DEFAULT_TOL))
        sel = _selection(e)
        for metric, want in e.items():
            if metric in SELECTORS or metric in _OTHER:
                continue
            measured = None
            if n_rows == 1 and rows[0].get(metric) is not None:
                measured = float(rows[0][metric])
            ok = measured is not None and math.isfinite(measured) and abs(measured - float(want)) <= tol
            results.append({"entry": sel, "metric": metric, "expected": float(want), "measured": measured,
                            "tol": tol, "n_rows": n_rows, "ok": bool(ok)})
    return results


def format_check(results: list[dict]) -> str:
    """A Markdown table of :func:`check_expected` results (empty string if none)."""
    if not results:
        return ""
    lines = ["| selectors | metric | expected | measured | tol | ok |", "|---|---|---|---|---|---|"]
    for r in results:
        sel = ", ".join(f"{k}={v}" for k, v in r["entry"].items()) or "(all)"
        if r["measured"] is None:
            meas = "no row" if r["n_rows"] == 0 else f"{r['n_rows']} rows: be more specific"
        else:
            meas = f"{r['measured']:.2f}"
        lines.append(f"| {sel} | {r['metric']} | {r['expected']:.2f} | {meas} | {r['tol']:g} | "
                     f"{'yes' if r['ok'] else 'NO'} |")
    return "\n".join(lines)


def load_expected(path: str) -> list[dict]:
    """The validated ``EXPECTED`` list of a study file (``[]`` if it has none)."""
    import os

    from upt_jax.sweep.study import _module_from_file

    if not os.path.isfile(path):
        return []
    module = _module_from_file(path)
    return validate_expected(getattr(module, "EXPECTED", None), where=f"{path}: EXPECTED")


def check_run(out_dir: str, expected, metrics: tuple | None = None) -> list[dict]:
    """Read the rows of a finished run in ``out_dir`` and check them.

    Also writes ``out_dir/expected_check.md``. ``metrics`` are the summary
    fields to compute (default: every numeric field named in ``expected``
    plus the report's defaults). The summary is grouped by the fields that
    the entries name in ``where`` too; a group that holds two rows of one
    split is marked ``pooled`` (it mixes grid points no entry tells apart).
    """
    import os

    from upt_jax.records import atomic_write
    from upt_jax.sweep.report import DEFAULT_METRICS, summary_table
    from upt_jax.sweep.store import read_rows

    entries = validate_expected(expected)
    names = list(metrics or DEFAULT_METRICS)
    by: list[str] = []
    for e in entries:
        for k in e:
            if k not in SELECTORS and k not in _OTHER and k not in names:
                names.append(k)
        by += [k for k in e.get("where", {}) if k not in by]
    rows = read_rows(out_dir)
    present = [k for k in names if any(k in r for r in rows)]
    summary = summary_table(rows, tuple(present), tuple(by))
    seen: dict = {}
    pooled = set()
    for r in rows:  # the summary's groups, without cfg_hash (two configs under one static label pool too)
        group = (r["dataset"], r["protocol"], r["static"], r["epsilon"], r["lam"], *(repr(r.get(k)) for k in by))
        key = r.get("row_key") or id(r)
        if seen.setdefault((group, r.get("split")), key) != key:
            pooled.add(group)  # two different rows of one split
    for t in summary:
        t["pooled"] = (t["dataset"], t["protocol"], t["static"], t["epsilon"], t["lam"],
                       *(repr(t.get(k)) for k in by)) in pooled
    results = check_expected(summary, entries)
    atomic_write(os.path.join(out_dir, "expected_check.md"), "# Expected numbers\n\n" + format_check(results) + "\n")
    return results
