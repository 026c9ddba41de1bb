"""Run records: the environment a result was computed in, and safe JSON files.

One home for what every command and every sweep writes next to its numbers:

- :func:`environment`: versions (upt_jax, its code revision, JAX, OTT-JAX,
  NumPy, Python) and the devices, with one naming scheme;
- :func:`code_version`: ``"<upt_jax version>"``, plus ``"+g<git revision>"``
  when the package is imported from a git checkout, plus
  ``".dirty.<hash>"`` when that checkout has uncommitted changes to the
  package (so results from edited code are never mistaken for the revision's);
- :func:`write_json` / :func:`atomic_write`: a file is either the old one or
  the complete new one, never half written, and no temporary file is left
  behind on failure; a folder given where a file is expected raises
  :class:`upt_jax.errors.UPTError` naming it.

Host-side only (no JAX arrays are created here).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
from typing import Any

import numpy as np

from upt_jax.errors import UPTError

__all__ = [
    "environment",
    "code_version",
    "git_revision",
    "json_default",
    "to_json",
    "write_json",
    "atomic_write",
]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def json_default(obj: Any) -> Any:
    """``json.dumps(default=...)`` for NumPy/JAX scalars and arrays.

    NumPy scalars become Python scalars, arrays (NumPy or JAX) nested lists,
    anything else its ``str``.
    """
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "__array__") and hasattr(obj, "shape"):
        return np.asarray(obj).tolist()
    return str(obj)


def to_json(obj: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """``json.dumps`` with :func:`json_default`."""
    return json.dumps(obj, indent=indent, sort_keys=sort_keys, default=json_default)


def atomic_write(path: str, data: str | bytes) -> str:
    """Write ``data`` to ``path`` atomically (temporary file in the same
    folder, fsync, rename).

    Args:
      path: destination file; its folder is created.
      data: text or bytes.

    Returns:
      ``path``.

    Raises:
      UPTError: ``path`` is an existing folder (names it and the fix).
      OSError: the folder cannot be written.
    """
    if os.path.isdir(path):
        raise UPTError(
            f"{path} is a folder, not a file: give a file name inside it, e.g. {os.path.join(path, 'results.json')}"
        )
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_json(path: str, obj: Any) -> str:
    """Write ``obj`` as indented JSON to ``path`` atomically (see :func:`atomic_write`).

    NumPy/JAX values are converted by :func:`json_default`.

    Returns:
      ``path``.
    """
    text = to_json(obj) + "\n"  # serialise first: a bad object leaves no file behind
    return atomic_write(path, text)


def _git(*args: str) -> str | None:
    root = os.path.dirname(_PACKAGE_DIR)
    # only a checkout whose root holds this very package (not a venv inside some repository)
    if not os.path.exists(os.path.join(root, ".git")):
        return None
    try:
        out = subprocess.run(
            ["git", "-C", root, *args], capture_output=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.decode("utf-8", "replace")


@functools.lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The git revision (12 hex digits) of the checkout this package is
    imported from, or ``None`` (an installed package, no git)."""
    rev = _git("rev-parse", "HEAD")
    return rev.strip()[:12] if rev else None


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Identity of the code: ``"0.1.0"``, ``"0.1.0+g<rev>"`` from a clean git
    checkout, ``"0.1.0+g<rev>.dirty.<hash>"`` when the package's files differ
    from that revision (the hash covers the differences, so two different
    edits give two different identities).

    Computed once per process (an edit made while a process runs does not
    change that process's identity; it is what the process imported).
    """
    from upt_jax import __version__

    rev = git_revision()
    if rev is None:
        return __version__
    out = f"{__version__}+g{rev}"
    diff = _git("diff", "HEAD", "--", "upt_jax")
    untracked = _git("ls-files", "--others", "--exclude-standard", "--", "upt_jax")
    h = hashlib.sha1()
    dirty = False
    if diff:
        h.update(diff.encode())
        dirty = True
    for rel in sorted((untracked or "").split()):
        if rel.endswith(".py"):
            dirty = True
            h.update(rel.encode())
            try:
                with open(os.path.join(os.path.dirname(_PACKAGE_DIR), rel), "rb") as f:
                    h.update(f.read())
            except OSError:
                pass
    if dirty:
        out += f".dirty.{h.hexdigest()[:8]}"
    return out


def environment(devices: list | None = None) -> dict:
    """Versions and devices, recorded with every result.

    Args:
      devices: the JAX devices used (default: all visible).

    Returns:
      ``{"upt_jax_version", "code_version", "jax_version", "ott_version",
      "numpy_version", "python_version", "platform", "device_kind",
      "n_devices", "n_processes", "host", "time"}``; ``ott_version`` is
      ``"missing"`` when OTT-JAX is not installed.
    """
    import jax

    from upt_jax import __version__

    try:
        from importlib.metadata import version

        ott_version = version("ott-jax")
    except Exception:  # not installed
        ott_version = "missing"
    devs = list(devices) if devices is not None else jax.devices()
    d0 = devs[0]
    return {
        "upt_jax_version": __version__,
        "code_version": code_version(),
        "jax_version": jax.__version__,
        "ott_version": ott_version,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "platform": d0.platform,
        "device_kind": getattr(d0, "device_kind", str(d0.platform)),
        "n_devices": len(devs),
        "n_processes": jax.process_count(),
        "host": platform.node(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
