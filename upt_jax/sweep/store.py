"""The output folder of a sweep: rows on disk, resume, and rows that cannot go stale.

- ``results.jsonl``: one JSON row per line, appended once per chunk (one
  write, then fsync), so an interrupted sweep keeps every finished chunk; a
  torn last line (a crash mid-write) is dropped when read.
- ``results.csv``: the same rows flattened (``config.n_clusters``, ...),
  rewritten atomically after each chunk.
- Every row carries ``data_checksum`` (of the dataset it was computed on)
  and ``code_version`` (:func:`upt_jax.records.code_version`: the upt_jax
  version plus the git revision when there is one), and both are part of
  its ``row_key``. :func:`check_compatible` refuses to resume into a folder
  whose rows came from other data or other code; :func:`archive` moves the
  old results aside (``--force-new``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time

from upt_jax.errors import UPTError
from upt_jax.records import atomic_write, json_default

__all__ = [
    "RESULT_FILES",
    "row_key",
    "read_rows",
    "append_rows",
    "write_csv",
    "check_compatible",
    "archive",
    "StaleResultsError",
]

RESULT_FILES = ("results.jsonl", "results.csv", "summary.md", "summary.csv", "config.json", "timings.json", "plots")


class StaleResultsError(UPTError):
    """The output folder holds rows from other data or other code."""


def _fmt(x) -> str:
    return "None" if x is None else f"{float(x):.6g}"


def row_key(dataset: str, split: str, cfg_hash: str, lam, eps, checksum: str, code: str) -> str:
    """Identity of a row (what resume compares): dataset, split, static
    config, lam, epsilon, the data's checksum and the code's version."""
    return f"{dataset}|{split}|{cfg_hash}|lam={_fmt(lam)}|eps={_fmt(eps)}|data={checksum}|code={code}"


def read_rows(out_dir: str, repair: bool = False) -> list[dict]:
    """Rows of ``out_dir/results.jsonl`` (a torn last line is dropped;
    ``repair=True`` also truncates it from the file)."""
    path = os.path.join(out_dir, "results.jsonl")
    if not os.path.exists(path):
        return []
    rows, good_bytes = [], 0
    with open(path, "rb") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
                good_bytes += len(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                break
    if repair and good_bytes < os.path.getsize(path):
        with open(path, "r+b") as f:
            f.truncate(good_bytes)
    return rows


def append_rows(out_dir: str, rows: list[dict]) -> None:
    """Append rows to ``results.jsonl`` in one write, then fsync."""
    path = os.path.join(out_dir, "results.jsonl")
    blob = "".join(json.dumps(r, sort_keys=True, default=json_default) + "\n" for r in rows).encode()
    with open(path, "ab") as f:
        f.write(blob)
        f.flush()
        os.fsync(f.fileno())


def _flat(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                out[f"{k}.{k2}"] = v2
        elif isinstance(v, (list, tuple)):
            out[k] = ";".join(str(x) for x in v)
        else:
            out[k] = v
    return out


def write_csv(path: str, rows: list[dict]) -> None:
    """Rows (flattened: nested dicts as ``key.field``, lists joined by ``;``)
    as CSV, written atomically."""
    flat = [_flat(r) for r in rows]
    cols: list[str] = []
    seen = set()
    for r in flat:
        for k in r:
            if k not in seen:
                seen.add(k)
                cols.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in flat:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    atomic_write(path, buf.getvalue())


def check_compatible(out_dir: str, rows: list[dict], checksums: dict[str, str], code: str) -> None:
    """Refuse to resume into a folder made from other data or other code.

    Args:
      out_dir: the folder (for the message).
      rows: its rows.
      checksums: dataset name -> data checksum of this run.
      code: this run's code version.

    Raises:
      StaleResultsError: one line naming the folder, what differs and the fix.
    """
    if not rows:
        return
    fix = f"run with --force-new to start over (the old results move to {os.path.join(out_dir, 'previous-<time>')}/) or pick another --out"
    old_codes = sorted({str(r.get("code_version")) for r in rows})
    if old_codes != [code]:
        other = [c for c in old_codes if c != code]
        raise StaleResultsError(
            f"{out_dir} holds {sum(1 for r in rows if r.get('code_version') != code)} rows computed with other code "
            f"(code_version {', '.join(other)}; now {code}); {fix}"
        )
    for r in rows:
        name = r.get("dataset")
        if name in checksums and r.get("data_checksum") != checksums[name]:
            raise StaleResultsError(
                f"{out_dir} holds rows of dataset {name!r} computed from other data "
                f"(data_checksum {r.get('data_checksum')}; now {checksums[name]}); {fix}"
            )


def archive(out_dir: str) -> str | None:
    """Move the results of ``out_dir`` (not its k-means cache) into
    ``out_dir/previous-<time>/``; returns that folder, or None if there was
    nothing to move."""
    present = [f for f in RESULT_FILES if os.path.exists(os.path.join(out_dir, f))]
    if not present:
        return None
    dest = os.path.join(out_dir, "previous-" + time.strftime("%Y%m%d-%H%M%S"))
    n = 0
    while os.path.exists(dest if n == 0 else f"{dest}-{n}"):
        n += 1
    dest = dest if n == 0 else f"{dest}-{n}"
    os.makedirs(dest)
    for f in present:
        shutil.move(os.path.join(out_dir, f), os.path.join(dest, f))
    return dest
