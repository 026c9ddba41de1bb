"""The in-memory dataset and the checks shared by every layout.

A :class:`Dataset` holds what zero-shot classification with UPT needs:
class prototypes, projected videos with their labels, optional object
prototypes and per-video object probabilities, and optional precomputed target
prototypes. The layouts on disk (``official``: the example code's folder;
``portable``: our own) are read into it and written from it.

The checks here turn arrays into human-readable problems (each naming the file
or field it is about); loaders raise :class:`upt_jax.errors.DataError` with
all of them, and ``upt validate`` prints them.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from upt_jax.errors import DataError

__all__ = [
    "Dataset",
    "check_dataset",
    "raise_problems",
    "row_problems",
    "npy_shape",
    "json_default",
]

_MAX_LISTED = 5  # how many indices / names a message lists


@dataclasses.dataclass
class Dataset:
    """A zero-shot action recognition dataset (unseen classes).

    Attributes:
        name: short name (e.g. ``"ucf101"``).
        class_names: ``K`` class names, in prototype order.
        prototypes: ``[K, d]`` float32 semantic class prototypes (not
            necessarily normalised).
        videos: ``[N, d]`` float32 projected video embeddings.
        labels: ``[N]`` int32 class index of each video, in ``[0, K)``.
        video_names: ``N`` names (the official layout: ``"Class/file.avi"``).
        object_names: ``O`` object names, or ``None``.
        object_prototypes: ``[O, d]`` float32 object prototypes, or ``None``.
        object_probs: ``[N, O]`` float32 object probabilities per video, or
            ``None`` (the official loader reads them only on request).
        targets: name -> ``[K, d]`` float32 precomputed target prototypes (the
            example code's ``ot/`` files).
        meta: free-form metadata (layout, root folder, generator config, ...).
    """

    name: str
    class_names: list[str]
    prototypes: np.ndarray
    videos: np.ndarray
    labels: np.ndarray
    video_names: list[str]
    object_names: list[str] | None = None
    object_prototypes: np.ndarray | None = None
    object_probs: np.ndarray | None = None
    targets: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        """``K``."""
        return int(np.shape(self.prototypes)[0])

    @property
    def n_videos(self) -> int:
        """``N``."""
        return int(np.shape(self.videos)[0])

    @property
    def dim(self) -> int:
        """``d``."""
        return int(np.shape(self.prototypes)[1])

    @property
    def n_objects(self) -> int | None:
        """``O`` or ``None`` without object prototypes."""
        if self.object_prototypes is None:
            return None
        return int(np.shape(self.object_prototypes)[0])

    def summary(self) -> str:
        """One line: ``K classes, N videos, d dims[, O objects]``."""
        s = f"{self.n_classes} classes, {self.n_videos} videos, {self.dim} dims"
        if self.n_objects is not None:
            s += f", {self.n_objects} objects"
        return s


def _first(idx: np.ndarray) -> str:
    items = ", ".join(str(int(i)) for i in idx[:_MAX_LISTED])
    return items + (", ..." if idx.size > _MAX_LISTED else "")


def row_problems(x: np.ndarray, where: str, what: str = "rows", *, zero: bool = True) -> list[str]:
    """NaN/Inf rows and all-zero rows of a 2-D array, as messages.

    Args:
        x: ``[n, m]`` array.
        where: the file or field name the messages start with.
        what: what a row is (``"videos"``, ``"classes"``...), for the message.
        zero: also report all-zero rows.

    Returns:
        A list of 0-2 messages.
    """
    out = []
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        return out
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        out.append(
            f"{where}: {bad.size} of {x.shape[0]} {what} contain NaN/Inf (first row indices: "
            f"{_first(bad)}); recompute or remove them."
        )
    if zero:
        zeros = np.flatnonzero(~np.any(x != 0, axis=1))
        if zeros.size:
            out.append(
                f"{where}: {zeros.size} of {x.shape[0]} {what} are all zero (first row indices: "
                f"{_first(zeros)}); an all-zero embedding has no direction, recompute or remove them."
            )
    return out


def _shape_str(x) -> str:
    return "[" + ", ".join(str(s) for s in np.shape(x)) + "]"


def check_dataset(
    ds: Dataset,
    *,
    where: Mapping[str, str] | None = None,
    check_values: bool = True,
) -> list[str]:
    """Every problem of an in-memory dataset, as messages.

    Args:
        ds: the dataset.
        where: optional field -> file name map used in the messages (fields:
            ``class_names prototypes videos labels video_names object_names
            object_prototypes object_probs`` and ``targets:<name>``).
        check_values: also check NaN/Inf and all-zero rows.

    Returns:
        A list of messages; empty when the dataset is consistent.
    """
    w = dict(where or {})

    def at(field: str) -> str:
        return w.get(field, field)

    problems: list[str] = []
    protos = np.asarray(ds.prototypes)
    videos = np.asarray(ds.videos)
    labels = np.asarray(ds.labels)
    if protos.ndim != 2:
        problems.append(f"{at('prototypes')}: expected a [K, d] matrix, got shape {_shape_str(protos)}.")
    if videos.ndim != 2:
        problems.append(f"{at('videos')}: expected an [N, d] matrix, got shape {_shape_str(videos)}.")
    if problems:
        return problems
    k, d = protos.shape
    n = videos.shape[0]
    if k == 0:
        problems.append(f"{at('prototypes')}: no classes (shape {_shape_str(protos)}).")
    if len(ds.class_names) != k:
        problems.append(
            f"{at('class_names')} lists {len(ds.class_names)} classes but {at('prototypes')} has "
            f"{k} rows (shape {_shape_str(protos)}); one prototype per class, in class order."
        )
    dup = sorted(c for c, m in collections.Counter(ds.class_names).items() if m > 1)
    if dup:
        problems.append(f"{at('class_names')}: duplicate class names {dup[:_MAX_LISTED]}; names must be unique.")
    if videos.shape[1] != d:
        problems.append(
            f"dimension mismatch: {at('videos')} has d={videos.shape[1]} (shape {_shape_str(videos)}) but "
            f"{at('prototypes')} has d={d} (shape {_shape_str(protos)}); both must live in the same "
            "semantic space."
        )
    if len(ds.video_names) != n:
        problems.append(
            f"{at('video_names')} lists {len(ds.video_names)} videos but {at('videos')} has {n} rows "
            f"(shape {_shape_str(videos)}); one embedding per video, in the same order."
        )
    if labels.ndim != 1 or labels.shape[0] != n:
        problems.append(
            f"{at('labels')}: expected shape [{n}] (one label per row of {at('videos')}), got {_shape_str(labels)}."
        )
    elif not np.issubdtype(labels.dtype, np.integer):
        problems.append(f"{at('labels')}: expected integer class indices, got dtype {labels.dtype}.")
    elif n and (labels.min() < 0 or labels.max() >= k):
        bad = np.flatnonzero((labels < 0) | (labels >= k))
        problems.append(
            f"{at('labels')}: {bad.size} labels outside [0, {k}) (first indices: {_first(bad)}); "
            f"there are {k} classes."
        )
    if check_values:
        problems += row_problems(protos, at("prototypes"), "class prototypes")
        problems += row_problems(videos, at("videos"), "videos")

    o = None
    if ds.object_prototypes is not None:
        op = np.asarray(ds.object_prototypes)
        if op.ndim != 2:
            problems.append(f"{at('object_prototypes')}: expected an [O, d] matrix, got {_shape_str(op)}.")
        else:
            o = op.shape[0]
            if op.shape[1] != d:
                problems.append(
                    f"dimension mismatch: {at('object_prototypes')} has d={op.shape[1]} (shape "
                    f"{_shape_str(op)}) but {at('prototypes')} has d={d}; objects must live in the "
                    "same semantic space."
                )
            if check_values:
                problems += row_problems(op, at("object_prototypes"), "object prototypes")
    if ds.object_names is not None and o is not None and len(ds.object_names) != o:
        problems.append(
            f"{at('object_names')} lists {len(ds.object_names)} objects but {at('object_prototypes')} has {o} rows."
        )
    if ds.object_probs is not None:
        pr = np.asarray(ds.object_probs)
        if pr.ndim != 2 or pr.shape[0] != n or (o is not None and pr.shape[1] != o):
            want = f"[{n}, {o if o is not None else 'O'}]"
            problems.append(
                f"{at('object_probs')}: expected shape {want} (videos x objects), got {_shape_str(pr)}."
            )
        elif check_values:
            problems += row_problems(pr, at("object_probs"), "videos' object scores", zero=False)

    for tname, t in (ds.targets or {}).items():
        t = np.asarray(t)
        lab = at(f"targets:{tname}")
        if t.shape != (k, d):
            problems.append(
                f"{lab}: expected target prototypes of shape [{k}, {d}] (classes x dims), got {_shape_str(t)}."
            )
        elif check_values:
            problems += row_problems(t, lab, "target prototypes")
    return problems


def raise_problems(problems: Sequence[str], context: str) -> None:
    """Raise :class:`DataError` listing every problem, or do nothing."""
    if problems:
        head = f"{context}: {len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise DataError(head + "\n" + "\n".join(f"  - {p}" for p in problems))


def npy_shape(path: str | os.PathLike) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a ``.npy`` file from its header (no data read).

    Raises:
        ValueError: not a ``.npy`` file.
    """
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:  # pragma: no cover - version 3 (utf8 field names) is rare
            f.seek(0)
            arr = np.load(f, mmap_mode="r")
            return tuple(arr.shape), arr.dtype
    return tuple(shape), dtype


def json_default(obj: Any) -> Any:
    """``json.dump`` fallback for NumPy scalars/arrays, dataclasses and paths."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=json_default)
