"""upt_jax's own portable dataset folder (documented in ``FORMAT.md``).

Layout::

    DIR/meta.json                {"format": "upt_jax-portable", "version": 1, "name": ..., "source": ...,
                                  "class_names": [K], "video_names": [N], "object_names": [O] (optional),
                                  ... any generator configuration ...}
    DIR/prototypes.npy           [K, d] float32
    DIR/videos.npy               [N, d] float32
    DIR/labels.npy               [N]    int
    DIR/object_prototypes.npy    [O, d] float32   (optional)
    DIR/object_probs.npy         [N, O] float32   (optional)
    DIR/targets.npy              [K, d] float32   (optional; read as targets["targets"])
    DIR/targets/<name>.npy       [K, d] float32   (optional; read as targets["<name>"])
"""

from __future__ import annotations

import glob
import json
import os
from typing import Any

import numpy as np

from upt_jax.data.dataset import Dataset, _dumps, check_dataset, raise_problems
from upt_jax.errors import DataError

__all__ = [
    "PORTABLE_FORMAT",
    "PORTABLE_VERSION",
    "is_portable",
    "validate_portable",
    "load_portable",
    "save_portable",
]

PORTABLE_FORMAT = "upt_jax-portable"
PORTABLE_VERSION = 1
_FILES = {
    "prototypes": "prototypes.npy",
    "videos": "videos.npy",
    "labels": "labels.npy",
    "object_prototypes": "object_prototypes.npy",
    "object_probs": "object_probs.npy",
}
_WHERE = {
    **_FILES,
    "class_names": "meta.json class_names",
    "video_names": "meta.json video_names",
    "object_names": "meta.json object_names",
}
# keys of Dataset.meta that describe where a dataset was loaded from, not what it is
_RUNTIME_KEYS = ("layout", "root", "embeddings_dir", "files", "objectscores_dir", "object_probs_bytes")
_LIST_KEYS = ("class_names", "video_names", "object_names")


def is_portable(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder with a ``meta.json``."""
    return os.path.isfile(os.path.join(os.fspath(path), "meta.json"))


def _read(path: str, check_values: bool) -> tuple[list[str], Dataset | None]:
    problems: list[str] = []
    if not os.path.isdir(path):
        return [f"{path}: not a folder."], None
    f_meta = os.path.join(path, "meta.json")
    if not os.path.isfile(f_meta):
        return [f"meta.json: missing file (looked in {path})."], None
    try:
        with open(f_meta, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        return [f"meta.json: not valid JSON ({err})."], None
    if not isinstance(meta, dict):
        return ["meta.json: expected a JSON object."], None
    if meta.get("format") != PORTABLE_FORMAT:
        problems.append(f"meta.json: \"format\" is {meta.get('format')!r}, expected {PORTABLE_FORMAT!r}.")
    if meta.get("version") != PORTABLE_VERSION:
        problems.append(
            f"meta.json: \"version\" is {meta.get('version')!r}; this upt_jax reads version {PORTABLE_VERSION}."
        )
    for key in _LIST_KEYS:
        val = meta.get(key)
        if val is None and key == "object_names":
            continue
        if not isinstance(val, list) or not all(isinstance(x, str) for x in val):
            problems.append(f"meta.json: \"{key}\" must be a list of strings.")
    arrays: dict[str, Any] = {}
    for key, fname in _FILES.items():
        f = os.path.join(path, fname)
        if not os.path.isfile(f):
            if key in ("prototypes", "videos", "labels"):
                problems.append(f"{fname}: missing file (looked in {path}).")
            continue
        try:
            arrays[key] = np.load(f, allow_pickle=False)
        except (ValueError, OSError) as err:
            problems.append(f"{fname}: not a readable .npy file of numbers ({err}).")
    targets = {}
    tfiles = []
    if os.path.isfile(os.path.join(path, "targets.npy")):
        tfiles.append(("targets", os.path.join(path, "targets.npy")))
    for f in sorted(glob.glob(os.path.join(glob.escape(os.path.join(path, "targets")), "*.npy"))):
        tfiles.append((os.path.splitext(os.path.basename(f))[0], f))
    where = dict(_WHERE)
    for name, f in tfiles:
        try:
            targets[name] = np.load(f, allow_pickle=False)
            where[f"targets:{name}"] = os.path.relpath(f, path)
        except (ValueError, OSError) as err:
            problems.append(f"{os.path.relpath(f, path)}: not a readable .npy file ({err}).")
    for key in ("prototypes", "videos", "object_prototypes", "object_probs"):
        a = arrays.get(key)
        if a is not None and a.dtype.kind not in "fiu":
            problems.append(f"{_FILES[key]}: expected numbers, got dtype {a.dtype}.")
            arrays.pop(key)
    if problems or any(k not in arrays for k in ("prototypes", "videos", "labels")):
        return problems, None
    ds = Dataset(
        name=str(meta.get("name", os.path.basename(os.path.abspath(path)))),
        class_names=list(meta["class_names"]),
        prototypes=arrays["prototypes"],
        videos=arrays["videos"],
        labels=arrays["labels"],
        video_names=list(meta["video_names"]),
        object_names=None if meta.get("object_names") is None else list(meta["object_names"]),
        object_prototypes=arrays.get("object_prototypes"),
        object_probs=arrays.get("object_probs"),
        targets=targets,
        meta={k: v for k, v in meta.items() if k not in _LIST_KEYS},
    )
    if ds.object_names is not None and ds.object_prototypes is None:
        problems.append("meta.json: \"object_names\" given but object_prototypes.npy is missing.")
    if ds.object_probs is not None and ds.object_prototypes is None:
        problems.append("object_probs.npy: given but object_prototypes.npy is missing.")
    problems += check_dataset(ds, where=where, check_values=check_values)
    return problems, ds


def validate_portable(path: str | os.PathLike) -> list[str]:
    """Every problem of a portable folder (empty list when fine)."""
    problems, _ = _read(os.fspath(path), True)
    return problems


def load_portable(path: str | os.PathLike, *, check_values: bool = True) -> Dataset:
    """Read a portable folder into a :class:`Dataset`.

    Args:
        path: the folder.
        check_values: also reject NaN/Inf and all-zero rows (default).

    Returns:
        The dataset; float arrays as float32, labels as int32; ``meta`` is
        ``meta.json`` without the name lists, plus ``layout="portable"`` and
        ``root``.

    Raises:
        DataError: every problem found, each naming its file.
    """
    path = os.fspath(path)
    problems, ds = _read(path, check_values)
    raise_problems(problems, f"{path} (portable layout)")
    assert ds is not None
    f32 = lambda a: None if a is None else np.asarray(a, np.float32)  # noqa: E731
    ds.prototypes = f32(ds.prototypes)
    ds.videos = f32(ds.videos)
    ds.labels = np.asarray(ds.labels, np.int32)
    ds.object_prototypes = f32(ds.object_prototypes)
    ds.object_probs = f32(ds.object_probs)
    ds.targets = {k: f32(v) for k, v in ds.targets.items()}
    ds.meta.update(layout="portable", root=os.path.abspath(path))
    return ds


def save_portable(dataset: Dataset, path: str | os.PathLike) -> None:
    """Write a dataset as a portable folder (created if needed).

    ``dataset.meta`` is stored in ``meta.json`` (JSON-serialisable values,
    NumPy scalars/arrays and dataclasses are converted), except keys that
    describe where it was loaded from (``layout``, ``root``, ``files``...).
    Targets go to ``targets/<name>.npy``.

    Raises:
        DataError: the dataset is inconsistent (every problem listed), or a
            target name is not a valid file name.
    """
    path = os.fspath(path)
    raise_problems(check_dataset(dataset), f"save_portable({path})")
    bad = [n for n in dataset.targets if not n or "/" in n or n.startswith(".")]
    if bad:
        raise DataError(f"save_portable: target names {bad} cannot be file names; rename them.")
    extra = {k: v for k, v in dataset.meta.items() if k not in _RUNTIME_KEYS + _LIST_KEYS}
    meta = {
        "format": PORTABLE_FORMAT,
        "version": PORTABLE_VERSION,
        "name": dataset.name,
        "source": extra.pop("source", dataset.meta.get("root", "unknown")),
    }
    extra = {k: v for k, v in extra.items() if k not in meta}
    meta.update(extra)
    meta["class_names"] = list(dataset.class_names)
    meta["video_names"] = list(dataset.video_names)
    if dataset.object_names is not None:
        meta["object_names"] = list(dataset.object_names)
    text = _dumps(meta)  # fails before anything is written
    os.makedirs(path, exist_ok=True)
    np.save(os.path.join(path, "prototypes.npy"), np.asarray(dataset.prototypes, np.float32))
    np.save(os.path.join(path, "videos.npy"), np.asarray(dataset.videos, np.float32))
    np.save(os.path.join(path, "labels.npy"), np.asarray(dataset.labels, np.int32))
    for key in ("object_prototypes", "object_probs"):
        val = getattr(dataset, key)
        f = os.path.join(path, _FILES[key])
        if val is not None:
            np.save(f, np.asarray(val, np.float32))
        elif os.path.isfile(f):
            os.remove(f)
    if dataset.targets:
        os.makedirs(os.path.join(path, "targets"), exist_ok=True)
        for name, t in dataset.targets.items():
            fname = name if name.endswith(".npy") else name + ".npy"
            np.save(os.path.join(path, "targets", fname), np.asarray(t, np.float32))
    with open(os.path.join(path, "meta.json"), "w", encoding="utf-8") as f:
        f.write(text + "\n")
