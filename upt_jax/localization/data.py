"""Localization data on disk: the portable folder, the ICCV 2017 detection
files, and tube writers (NumPy, host side; documented in ``upt_jax/data/FORMAT.md``).

Portable localization folder::

    DIR/meta.json                 {"format": "upt_jax-localization", "version": 1, "name", "source",
                                   "action_names": [A], "object_names": [O],
                                   "videos": [{"name", "label", "n_frames", "width", "height"}, ...], ...}
    DIR/action_prototypes.npy     [A, d] float32
    DIR/object_prototypes.npy     [O, d] float32
    DIR/spatial_priors.npy        [O, 9] float32, rows sum to 1 (tiles row-major)
    DIR/videos/<name>.npz         person_boxes [M, 5] (frame, x1, y1, x2, y2), person_scores [M],
                                  object_boxes [Q, 5], object_labels [Q], object_scores [Q],
                                  gt_boxes [R, 6] (tube, frame, x1, y1, x2, y2)

Frames are 0-based; ground-truth rows with a negative coordinate are
unannotated frames. Video names may contain ``/`` (sub-folders of ``videos/``).

The ICCV 2017 code (Mettes & Snoek, "Spatial-aware object embeddings") stores
one ``.npy`` per frame whose rows are detection proposals: 81 class scores
(column 0 background, 1..80 the MS-COCO classes, person = 1) followed by
81 x 4 class-specific coordinates ``(x1, y1, x2, y2)``; class ``c``'s box is
columns ``81 + 4c .. 81 + 4c + 3``. :func:`import_iccv` reads those files,
applies per-class non-maximum suppression at IoU 0.5 as that code does
(Faster R-CNN's CPU rule: areas with ``+ 1`` pixel, greedy by score, a box is
dropped when its overlap with a kept one exceeds the threshold) and writes
the portable folder. :func:`write_tubes_hdf5` writes tubes in that code's HDF5
layout (optional extra ``h5py``).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
from collections.abc import Sequence
import numpy as np

from upt_jax.data.dataset import json_default, raise_problems
from upt_jax.errors import DataError, MissingDependencyError
from upt_jax.localization.pipeline import LocalizationInputs

__all__ = [
    "LOCALIZATION_FORMAT",
    "LOCALIZATION_VERSION",
    "ICCV_NUM_CLASSES",
    "LocVideo",
    "LocalizationData",
    "is_localization",
    "check_video",
    "check_localization",
    "validate_localization",
    "load_localization",
    "save_localization",
    "to_inputs",
    "iccv_nms",
    "read_iccv_frame",
    "import_iccv",
    "tube_rows",
    "write_tubes",
    "write_tubes_hdf5",
]

LOCALIZATION_FORMAT = "upt_jax-localization"
LOCALIZATION_VERSION = 1
#: Columns of the ICCV 2017 files: background + 80 MS-COCO classes.
ICCV_NUM_CLASSES = 81
_PRIOR_TOL = 1e-3
_MAX_LISTED = 5
_ARRAYS = ("person_boxes", "person_scores", "object_boxes", "object_labels", "object_scores", "gt_boxes")


@dataclasses.dataclass
class LocVideo:
    """One test video.

    Attributes:
      name: video name (may contain ``/``); label: action index in ``[0, A)``;
      n_frames, width, height: frame count and size in pixels.
      person_boxes: ``[M, 5]`` (frame, x1, y1, x2, y2); person_scores: ``[M]``.
      object_boxes: ``[Q, 5]``; object_labels: ``[Q]`` int; object_scores: ``[Q]``.
      gt_boxes: ``[R, 6]`` (tube, frame, x1, y1, x2, y2).
    """

    name: str
    label: int
    n_frames: int
    width: int
    height: int
    person_boxes: np.ndarray
    person_scores: np.ndarray
    object_boxes: np.ndarray
    object_labels: np.ndarray
    object_scores: np.ndarray
    gt_boxes: np.ndarray


@dataclasses.dataclass
class LocalizationData:
    """A zero-shot localization test set (host arrays).

    Attributes:
      name: short name; action_names: ``A``; object_names: ``O``.
      action_prototypes: ``[A, d]``; object_prototypes: ``[O, d]``;
      priors: ``[O, 9]``; videos: list of :class:`LocVideo`; meta: free-form.
    """

    name: str
    action_names: list
    object_names: list
    action_prototypes: np.ndarray
    object_prototypes: np.ndarray
    priors: np.ndarray
    videos: list
    meta: dict = dataclasses.field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        return np.asarray([v.label for v in self.videos], np.int32)


# ------------------------------------------------------------------ checks


def _first(idx) -> str:
    idx = np.asarray(idx).tolist()
    more = f" (first: {idx[:_MAX_LISTED]})" if len(idx) else ""
    return f"{len(idx)} row(s){more}"


def _box_problems(where: str, what: str, rows: np.ndarray, n_frames: int, frame_col: int) -> list[str]:
    out = []
    if rows.ndim != 2 or rows.shape[1] != frame_col + 5:
        return [f"{where}: {what} must be [n, {frame_col + 5}], got {list(rows.shape)}"]
    if not rows.size:
        return out
    bad = ~np.all(np.isfinite(rows), axis=1)
    if bad.any():
        out.append(f"{where}: {what} has NaN/Inf in {_first(np.flatnonzero(bad))}; fix or drop those rows")
    ok = ~bad
    f = rows[:, frame_col]
    badf = ok & ((f < 0) | (f >= n_frames) | (f != np.round(f)))
    if badf.any():
        out.append(
            f"{where}: {what} has frames outside [0, n_frames={n_frames}) or not whole numbers in "
            f"{_first(np.flatnonzero(badf))}; frames are 0-based"
        )
    b = rows[:, frame_col + 1:]
    unannotated = np.any(b < 0, axis=1) if what == "gt_boxes" else np.zeros(len(rows), bool)
    degen = ok & ~unannotated & ((b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1]))
    if degen.any():
        out.append(f"{where}: {what} has boxes with x2 <= x1 or y2 <= y1 in {_first(np.flatnonzero(degen))}; boxes are (x1, y1, x2, y2)")
    return out


def _score_problems(where: str, what: str, scores: np.ndarray, n: int) -> list[str]:
    if scores.shape != (n,):
        return [f"{where}: {what} must be [{n}] (one per box row), got {list(scores.shape)}"]
    bad = ~np.isfinite(scores)
    if bad.any():
        return [f"{where}: {what} has NaN/Inf in {_first(np.flatnonzero(bad))}; detection scores must be finite"]
    return []


def check_video(v: LocVideo, n_actions: int, n_objects: int, where: str | None = None) -> list[str]:
    """Every problem of one video (each message starts with its file)."""
    where = where or f"videos/{v.name}.npz"
    out = []
    if not 0 <= int(v.label) < n_actions:
        out.append(f"meta.json: video {v.name!r} has label {v.label}, outside [0, {n_actions}) (one per action name)")
    if int(v.n_frames) < 1:
        out.append(f"meta.json: video {v.name!r} has n_frames={v.n_frames}; need at least 1")
    pb = np.asarray(v.person_boxes, np.float64)
    out += _box_problems(where, "person_boxes", pb, int(v.n_frames), 0)
    out += _score_problems(where, "person_scores", np.asarray(v.person_scores, np.float64), len(pb))
    if pb.ndim == 2 and len(pb) == 0:
        out.append(f"{where}: no person box at all; a video needs at least one to be linked into tubes")
    ob = np.asarray(v.object_boxes, np.float64)
    out += _box_problems(where, "object_boxes", ob, int(v.n_frames), 0)
    out += _score_problems(where, "object_scores", np.asarray(v.object_scores, np.float64), len(ob))
    ol = np.asarray(v.object_labels)
    if ol.shape != (len(ob),):
        out.append(f"{where}: object_labels must be [{len(ob)}] (one per object box), got {list(ol.shape)}")
    elif ol.size and (ol.dtype.kind not in "iu" or ol.min() < 0 or ol.max() >= n_objects):
        bad = np.flatnonzero((ol < 0) | (ol >= n_objects) | (ol != np.round(ol)))
        out.append(f"{where}: object_labels outside [0, {n_objects}) in {_first(bad)}; one label per object name")
    gt = np.asarray(v.gt_boxes, np.float64)
    out += _box_problems(where, "gt_boxes", gt, int(v.n_frames), 1)
    if gt.ndim == 2 and gt.shape[1] == 6 and len(gt):
        key = gt[:, :2]
        _, counts = np.unique(key, axis=0, return_counts=True)
        if np.any(counts > 1):
            out.append(f"{where}: gt_boxes has {int(np.sum(counts > 1))} (tube, frame) pair(s) given twice; one row per tube and frame")
    return out


def check_localization(data: LocalizationData) -> list[str]:
    """Every problem of an in-memory test set (empty when fine)."""
    out = []
    a, o = len(data.action_names), len(data.object_names)
    ap, op, pr = (np.asarray(x) for x in (data.action_prototypes, data.object_prototypes, data.priors))
    if ap.ndim != 2 or ap.shape[0] != a:
        out.append(f"action_prototypes.npy: must be [A, d] with A = {a} (action_names), got {list(ap.shape)}")
    if op.ndim != 2 or op.shape[0] != o:
        out.append(f"object_prototypes.npy: must be [O, d] with O = {o} (object_names), got {list(op.shape)}")
    if ap.ndim == 2 and op.ndim == 2 and ap.shape[1] != op.shape[1]:
        out.append(f"object_prototypes.npy: d = {op.shape[1]} differs from action_prototypes.npy d = {ap.shape[1]}; embed both with the same encoder")
    for f, arr in (("action_prototypes.npy", ap), ("object_prototypes.npy", op)):
        if arr.ndim == 2 and arr.size:
            bad = ~np.all(np.isfinite(arr), axis=1)
            if bad.any():
                out.append(f"{f}: NaN/Inf in {_first(np.flatnonzero(bad))}")
            zero = np.all(arr == 0, axis=1) & ~bad
            if zero.any():
                out.append(f"{f}: all-zero {_first(np.flatnonzero(zero))}; a zero vector has no direction")
    if pr.shape != (o, 9):
        out.append(f"spatial_priors.npy: must be [O, 9] = [{o}, 9], got {list(pr.shape)}")
    else:
        sums = pr.sum(axis=1)
        bad = ~np.all(np.isfinite(pr), axis=1) | np.any(pr < 0, axis=1) | (np.abs(sums - 1) > _PRIOR_TOL)
        if bad.any():
            idx = np.flatnonzero(bad)
            names = [data.object_names[i] for i in idx[:_MAX_LISTED]]
            out.append(
                f"spatial_priors.npy: {idx.size} row(s) are not distributions (non-negative, summing to 1 "
                f"within {_PRIOR_TOL}): {names}; sums {np.round(sums[idx[:_MAX_LISTED]], 4).tolist()}"
            )
    names = [v.name for v in data.videos]
    if len(set(names)) != len(names):
        out.append("meta.json: duplicate video names; each video needs its own file")
    if not data.videos:
        out.append("meta.json: \"videos\" is empty")
    for v in data.videos:
        out += check_video(v, a, o)
    return out


# --------------------------------------------------------------- the folder


def is_localization(path: str | os.PathLike) -> bool:
    """Whether ``path`` has a ``meta.json`` whose format is ``upt_jax-localization``."""
    f = os.path.join(os.fspath(path), "meta.json")
    if not os.path.isfile(f):
        return False
    try:
        with open(f, encoding="utf-8") as h:
            meta = json.load(h)
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == LOCALIZATION_FORMAT


def _video_file(path: str, name: str) -> str:
    return os.path.join(path, "videos", name + ".npz")


def _safe_name(name: str) -> bool:
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and all(p not in ("", ".", "..") for p in parts)


def _read(path: str, check_values: bool = True) -> tuple[list[str], LocalizationData | None]:
    problems: list[str] = []
    if not os.path.isdir(path):
        return [f"{path}: no such folder."], None
    try:
        with open(os.path.join(path, "meta.json"), encoding="utf-8") as f:
            meta = json.load(f)
    except FileNotFoundError:
        return [f"meta.json: missing file (looked in {path})."], None
    except (OSError, ValueError) as err:
        return [f"meta.json: not valid JSON ({err})."], None
    if not isinstance(meta, dict):
        return ["meta.json: expected a JSON object."], None
    if meta.get("format") != LOCALIZATION_FORMAT:
        problems.append(f"meta.json: \"format\" is {meta.get('format')!r}, expected {LOCALIZATION_FORMAT!r}.")
    if meta.get("version") != LOCALIZATION_VERSION:
        problems.append(f"meta.json: \"version\" is {meta.get('version')!r}; this upt_jax reads version {LOCALIZATION_VERSION}.")
    for key in ("action_names", "object_names"):
        val = meta.get(key)
        if not isinstance(val, list) or not all(isinstance(x, str) for x in val):
            problems.append(f"meta.json: \"{key}\" must be a list of strings.")
    vids = meta.get("videos")
    if not isinstance(vids, list) or not all(isinstance(v, dict) for v in vids):
        problems.append("meta.json: \"videos\" must be a list of {\"name\", \"label\", \"n_frames\", \"width\", \"height\"} objects.")
        vids = []
    arrays = {}
    for key, fname in (("action_prototypes", "action_prototypes.npy"), ("object_prototypes", "object_prototypes.npy"),
                       ("priors", "spatial_priors.npy")):
        f = os.path.join(path, fname)
        if not os.path.isfile(f):
            problems.append(f"{fname}: missing file (looked in {path}).")
            continue
        try:
            arrays[key] = np.load(f, allow_pickle=False)
        except (ValueError, OSError) as err:
            problems.append(f"{fname}: not a readable .npy file ({err}).")
    videos = []
    for i, v in enumerate(vids):
        missing = [k for k in ("name", "label", "n_frames", "width", "height") if k not in v]
        if missing:
            problems.append(f"meta.json: videos[{i}] lacks {missing}")
            continue
        name = str(v["name"])
        if not _safe_name(name):
            problems.append(f"meta.json: videos[{i}] name {name!r} cannot be a relative file name")
            continue
        f = _video_file(path, name)
        where = os.path.relpath(f, path)
        if not os.path.isfile(f):
            problems.append(f"{where}: missing file (video {name!r} of meta.json).")
            continue
        try:
            with np.load(f, allow_pickle=False) as z:
                got = {k: np.asarray(z[k]) for k in _ARRAYS if k in z.files}
        except (ValueError, OSError) as err:
            problems.append(f"{where}: not a readable .npz file ({err}).")
            continue
        lack = [k for k in _ARRAYS if k not in got]
        if lack:
            problems.append(f"{where}: missing arrays {lack}")
            continue
        videos.append(LocVideo(name, int(v["label"]), int(v["n_frames"]), int(v["width"]), int(v["height"]), **got))
    if problems and any(k not in arrays for k in ("action_prototypes", "object_prototypes", "priors")):
        return problems, None
    if any(k not in arrays for k in ("action_prototypes", "object_prototypes", "priors")) or not isinstance(meta.get("action_names"), list):
        return problems, None
    data = LocalizationData(
        name=str(meta.get("name", os.path.basename(os.path.abspath(path)))),
        action_names=list(meta.get("action_names") or []),
        object_names=list(meta.get("object_names") or []),
        action_prototypes=arrays["action_prototypes"],
        object_prototypes=arrays["object_prototypes"],
        priors=arrays["priors"],
        videos=videos,
        meta={k: v for k, v in meta.items() if k not in ("action_names", "object_names", "videos")},
    )
    problems += [p for p in check_localization(data) if check_values or "NaN" not in p]
    return problems, data


def validate_localization(path: str | os.PathLike) -> list[str]:
    """Every problem of a localization folder, one per entry, each naming its file."""
    problems, _ = _read(os.fspath(path))
    return problems


def load_localization(path: str | os.PathLike) -> LocalizationData:
    """Read a portable localization folder.

    Raises:
      DataError: every problem found (:func:`validate_localization`).
    """
    path = os.fspath(path)
    problems, data = _read(path)
    raise_problems(problems, f"{path} (localization folder)")
    assert data is not None
    data.meta.update(root=os.path.abspath(path))
    return data


def save_localization(data: LocalizationData, path: str | os.PathLike) -> None:
    """Write ``data`` as a portable localization folder (created if needed).

    Raises:
      DataError: the data is inconsistent (every problem listed).
    """
    path = os.fspath(path)
    raise_problems(check_localization(data), f"save_localization({path})")
    bad = [v.name for v in data.videos if not _safe_name(v.name)]
    if bad:
        raise DataError(f"save_localization: video names {bad[:5]} cannot be relative file names; rename them")
    meta = {
        "format": LOCALIZATION_FORMAT,
        "version": LOCALIZATION_VERSION,
        "name": data.name,
        "source": data.meta.get("source", "unknown"),
    }
    meta.update({k: v for k, v in data.meta.items() if k not in meta and k != "root"})
    meta["action_names"] = list(data.action_names)
    meta["object_names"] = list(data.object_names)
    meta["videos"] = [
        {"name": v.name, "label": int(v.label), "n_frames": int(v.n_frames), "width": int(v.width), "height": int(v.height)}
        for v in data.videos
    ]
    text = json.dumps(meta, indent=1, default=json_default)
    os.makedirs(path, exist_ok=True)
    np.save(os.path.join(path, "action_prototypes.npy"), np.asarray(data.action_prototypes, np.float32))
    np.save(os.path.join(path, "object_prototypes.npy"), np.asarray(data.object_prototypes, np.float32))
    np.save(os.path.join(path, "spatial_priors.npy"), np.asarray(data.priors, np.float32))
    for v in data.videos:
        f = _video_file(path, v.name)
        os.makedirs(os.path.dirname(f), exist_ok=True)
        np.savez(
            f,
            person_boxes=np.asarray(v.person_boxes, np.float32).reshape(-1, 5),
            person_scores=np.asarray(v.person_scores, np.float32).reshape(-1),
            object_boxes=np.asarray(v.object_boxes, np.float32).reshape(-1, 5),
            object_labels=np.asarray(v.object_labels, np.int32).reshape(-1),
            object_scores=np.asarray(v.object_scores, np.float32).reshape(-1),
            gt_boxes=np.asarray(v.gt_boxes, np.float32).reshape(-1, 6),
        )
    with open(os.path.join(path, "meta.json"), "w", encoding="utf-8") as f:
        f.write(text + "\n")


# ------------------------------------------------------------------ padding


def _place(frames: np.ndarray, n_frames: int):
    """Slot of each row within its frame (file order): ``(frame, rank, max per frame)``."""
    f = frames.astype(np.int64)
    order = np.argsort(f, kind="stable")
    fs = f[order]
    starts = np.searchsorted(fs, fs, side="left")
    rank = np.empty_like(f)
    rank[order] = np.arange(len(f)) - starts
    counts = np.bincount(f, minlength=n_frames) if len(f) else np.zeros(n_frames, np.int64)
    return f, rank, int(counts.max()) if len(f) else 0


def to_inputs(data: LocalizationData, *, dtype=np.float32, n_frames: int | None = None,
              max_persons: int | None = None, max_objects: int | None = None, n_videos: int | None = None) -> LocalizationInputs:
    """Pad a test set into :class:`upt_jax.localization.LocalizationInputs` (NumPy).

    Boxes keep their file order within a frame (the "lower index" of ties).
    Sizes default to the largest in the data; pass larger ones to reuse one
    compilation across data sets (``n_videos`` pads with masked videos).

    Args:
      data: the test set.
      dtype: float dtype of boxes, scores and prototypes.
      n_frames, max_persons, max_objects, n_videos: optional padded sizes.

    Returns:
      ``LocalizationInputs`` of NumPy arrays.
    """
    vids = data.videos
    placed = []
    t_max, p_max, q_max, g_max = 1, 1, 1, 1
    for v in vids:
        t = int(v.n_frames)
        pf, pr, pm = _place(np.asarray(v.person_boxes)[:, 0], t)
        of, orank, qm = _place(np.asarray(v.object_boxes)[:, 0], t)
        gt = np.asarray(v.gt_boxes, np.float64).reshape(-1, 6)
        tube_ids, gidx = np.unique(gt[:, 0], return_inverse=True)
        placed.append((pf, pr, of, orank, gt, gidx.reshape(-1)))
        t_max, p_max, q_max, g_max = max(t_max, t), max(p_max, pm), max(q_max, qm), max(g_max, len(tube_ids))
    for name, given, need in (("n_frames", n_frames, t_max), ("max_persons", max_persons, p_max), ("max_objects", max_objects, q_max),
                              ("n_videos", n_videos, len(vids))):
        if given is not None and given < need:
            raise DataError(f"to_inputs: {name}={given} is smaller than the data needs ({need})")
    t_max, p_max, q_max = n_frames or t_max, max_persons or p_max, max_objects or q_max
    nv = n_videos or len(vids)
    pb = np.zeros((nv, t_max, p_max, 4), dtype)
    ps = np.zeros((nv, t_max, p_max), dtype)
    pm = np.zeros((nv, t_max, p_max), bool)
    ob = np.zeros((nv, t_max, q_max, 4), dtype)
    ol = np.zeros((nv, t_max, q_max), np.int32)
    os_ = np.zeros((nv, t_max, q_max), dtype)
    om = np.zeros((nv, t_max, q_max), bool)
    fm = np.zeros((nv, t_max), bool)
    gb = np.zeros((nv, g_max, t_max, 4), dtype)
    gm = np.zeros((nv, g_max, t_max), bool)
    gtm = np.zeros((nv, g_max), bool)
    labels = np.zeros((nv,), np.int32)
    vm = np.zeros((nv,), bool)
    for i, (v, (pf, pr, of, orank, gt, gidx)) in enumerate(zip(vids, placed)):
        fm[i, : int(v.n_frames)] = True
        labels[i], vm[i] = int(v.label), True
        pbx = np.asarray(v.person_boxes)
        pb[i, pf, pr] = pbx[:, 1:5]
        ps[i, pf, pr] = np.asarray(v.person_scores)
        pm[i, pf, pr] = True
        obx = np.asarray(v.object_boxes)
        ob[i, of, orank] = obx[:, 1:5]
        ol[i, of, orank] = np.asarray(v.object_labels)
        os_[i, of, orank] = np.asarray(v.object_scores)
        om[i, of, orank] = True
        if len(gt):
            gtm[i, : int(gidx.max()) + 1] = True
            ann = np.all(gt[:, 2:6] >= 0, axis=1)
            gf = gt[:, 1].astype(np.int64)
            gb[i, gidx[ann], gf[ann]] = gt[ann, 2:6]
            gm[i, gidx[ann], gf[ann]] = True
    return LocalizationInputs(
        prototypes=np.asarray(data.action_prototypes, dtype),
        object_prototypes=np.asarray(data.object_prototypes, dtype),
        priors=np.asarray(data.priors, dtype),
        person_boxes=pb, person_scores=ps, person_mask=pm,
        object_boxes=ob, object_labels=ol, object_scores=os_, object_mask=om,
        frame_mask=fm, labels=labels, video_mask=vm, gt_boxes=gb, gt_mask=gm, gt_tube_mask=gtm,
    )


# ---------------------------------------------------------- ICCV 2017 files


def iccv_nms(dets: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Greedy non-maximum suppression as in the ICCV 2017 code's Faster R-CNN.

    Boxes are visited by decreasing score (equal scores: the higher row index
    first, as ``argsort()[::-1]``); each kept box removes the remaining boxes
    whose overlap with it is above ``threshold``, the overlap computed with
    ``+ 1`` pixel areas: ``w = max(0, min(x2) - max(x1) + 1)``.

    Args:
      dets: ``[N, 5]`` rows ``(x1, y1, x2, y2, score)``.
      threshold: overlap above which a box is suppressed.

    Returns:
      ``[k]`` int64 indices of the kept rows, in visiting order.
    """
    dets = np.asarray(dets, np.float64)
    if not len(dets):
        return np.zeros((0,), np.int64)
    x1, y1, x2, y2, s = dets.T
    areas = (x2 - x1 + 1.0) * (y2 - y1 + 1.0)
    order = np.argsort(s, kind="stable")[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1.0)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1.0)
        inter = w * h
        ovr = inter / (areas[i] + areas[rest] - inter)
        order = rest[ovr <= threshold]
    return np.asarray(keep, np.int64)


def read_iccv_frame(arr: np.ndarray, *, nms: float = 0.5, min_score: float = 0.0, where: str = "frame"):
    """Person and object detections of one ICCV 2017 frame file.

    Args:
      arr: ``[N, 81 + 81 * 4]`` proposals (class scores, then class boxes).
      nms: per-class NMS overlap threshold.
      min_score: drop detections scoring below this (before NMS, which gives
        the same surviving boxes above it: a box only suppresses lower ones).
      where: file name for messages.

    Returns:
      ``(person [n, 5], objects [m, 5], object_labels [m])``: rows
      ``(x1, y1, x2, y2, score)``; object labels index the 80 MS-COCO classes
      (0 = person, as column 1 of the file).
    """
    a = np.asarray(arr, np.float64)
    c = ICCV_NUM_CLASSES
    if a.ndim != 2 or a.shape[1] != c * 5:
        raise DataError(f"{where}: expected [proposals, {c * 5}] (81 class scores + 81 x 4 boxes, the ICCV 2017 layout), got {list(a.shape)}")
    if not np.all(np.isfinite(a)):
        raise DataError(f"{where}: NaN/Inf in the detections")
    dets, labels = [], []
    for cls in range(1, c):
        sc = a[:, cls]
        keep = sc >= min_score
        d = np.concatenate([a[keep, c + 4 * cls: c + 4 * cls + 4], sc[keep, None]], axis=1)
        d = d[iccv_nms(d, nms)]
        dets.append(d)
        labels.append(np.full(len(d), cls - 1, np.int32))
    return dets[0], np.concatenate(dets), np.concatenate(labels)


def _resolve(root: str, name: str) -> str | None:
    """The ICCV code's per-video folder names: ``<name>``, ``<name>.avi``, or the file stem."""
    stem = os.path.splitext(os.path.basename(name))[0]
    for cand in (name, name + ".avi", os.path.splitext(name)[0], stem, os.path.basename(name)):
        p = os.path.join(root, cand)
        if os.path.isdir(p):
            return p
    return None


def _gt_file(root: str, name: str) -> str | None:
    stem = os.path.splitext(os.path.basename(name))[0]
    for cand in (name, os.path.splitext(name)[0], stem, os.path.basename(name)):
        for ext in (".npy", ".txt"):
            p = os.path.join(root, cand + ext)
            if os.path.isfile(p):
                return p
    return None


def import_iccv(
    detections: str | os.PathLike,
    *,
    video_names: Sequence[str],
    action_names: Sequence[str],
    action_prototypes: np.ndarray,
    object_names: Sequence[str],
    object_prototypes: np.ndarray,
    priors: np.ndarray,
    gt: str | os.PathLike | None = None,
    stride: int = 1,
    nms: float = 0.5,
    min_score: float = 0.01,
    max_persons: int = 0,
    max_objects: int = 0,
    person_as_object: bool = True,
    frame_size: tuple[int, int] | None = None,
    name: str = "iccv2017",
    progress: bool = False,
) -> LocalizationData:
    """Convert the ICCV 2017 code's per-frame detection files to a test set.

    Args:
      detections: folder with one sub-folder per video (``<video>``,
        ``<video>.avi`` or the file stem, as that code's datasets use) of
        per-frame ``.npy`` files, frames in sorted file-name order.
      video_names: test videos, ``"<action>/..."`` (the label is the first path
        component, as in that code).
      action_names, action_prototypes: ``A`` names and ``[A, d]``.
      object_names, object_prototypes, priors: the 80 MS-COCO classes in the
        files' order, ``[80, d]``, ``[80, 9]``.
      gt: optional folder of ground truth per video (``<video>.npy`` or
        ``.txt``): rows ``(frame, x1, y1, x2, y2)`` for one tube or
        ``(tube, frame, x1, y1, x2, y2)``; negative coordinates = unannotated.
      stride: the detection files cover every ``stride``-th frame.
      nms: per-class NMS threshold (0.5 in that code).
      min_score: detections below it are dropped.
      max_persons, max_objects: keep at most this many highest-scoring boxes
        per frame (0 = all).
      person_as_object: also list person detections as objects of class
        ``person`` (that code lets an action pick "person" as its object).
      frame_size: ``(width, height)``; default: the largest box coordinate.
      name: data set name; progress: show a tqdm bar.

    Returns:
      :class:`LocalizationData`.

    Raises:
      DataError: a missing video folder, a malformed file, an unknown action.
    """
    detections = os.fspath(detections)
    if len(object_names) != ICCV_NUM_CLASSES - 1:
        raise DataError(f"import_iccv: the files hold {ICCV_NUM_CLASSES - 1} MS-COCO classes; got {len(object_names)} object names")
    if stride < 1:
        raise DataError(f"import_iccv: stride must be >= 1, got {stride}")
    index = {n: i for i, n in enumerate(action_names)}
    problems = []
    for v in video_names:
        act = v.split("/")[0]
        if act not in index:
            problems.append(f"video {v!r}: action {act!r} (first path component) is not among the action names {list(action_names)[:5]}...")
        elif _resolve(detections, v) is None:
            problems.append(f"{detections}: no detection folder for video {v!r} (tried {v}, {v}.avi and its file stem)")
    raise_problems(problems, f"import_iccv({detections})")
    it = video_names
    if progress:
        from tqdm import tqdm

        it = tqdm(video_names, desc="importing videos", unit="video")
    videos = []
    for v in it:
        folder = _resolve(detections, v)
        files = sorted(glob.glob(os.path.join(glob.escape(folder), "*.npy")))
        if not files:
            raise DataError(f"{folder}: no .npy frame files")
        prows, orows = [], []
        for i, f in enumerate(files):
            person, objs, olab = read_iccv_frame(np.load(f, allow_pickle=False), nms=nms, min_score=min_score, where=f)
            if not person_as_object:
                objs, olab = objs[olab != 0], olab[olab != 0]
            person = _cap(person, max_persons)
            keep = _cap_index(objs[:, 4], max_objects)
            objs, olab = objs[keep], olab[keep]
            frame = i * stride
            prows.append(np.concatenate([np.full((len(person), 1), frame), person], axis=1))
            orows.append(np.concatenate([np.full((len(objs), 1), frame), objs, olab[:, None]], axis=1))
        p = np.concatenate(prows)
        o = np.concatenate(orows)
        n_frames = (len(files) - 1) * stride + 1
        g = np.zeros((0, 6))
        if gt is not None:
            gf = _gt_file(os.fspath(gt), v)
            if gf is not None:
                g = np.load(gf) if gf.endswith(".npy") else np.loadtxt(gf, ndmin=2)
                g = np.asarray(g, np.float64).reshape(len(g), -1)
                if g.shape[1] == 5:
                    g = np.concatenate([np.zeros((len(g), 1)), g], axis=1)
                if g.shape[1] != 6:
                    raise DataError(f"{gf}: ground truth must be [R, 5] (frame, x1, y1, x2, y2) or [R, 6] (tube, frame, ...), got {list(g.shape)}")
                if len(g):
                    n_frames = max(n_frames, int(g[:, 1].max()) + 1)
        if frame_size is None:
            coords = np.concatenate([p[:, [3, 4]], o[:, [3, 4]], g[:, [4, 5]]]) if len(p) + len(o) + len(g) else np.ones((1, 2))
            w, h = (int(math.ceil(max(1.0, float(x)))) for x in coords.max(axis=0))
        else:
            w, h = frame_size
        videos.append(LocVideo(v, index[v.split("/")[0]], n_frames, w, h, p[:, :5].astype(np.float32), p[:, 5].astype(np.float32),
                               o[:, :5].astype(np.float32), o[:, 6].astype(np.int32), o[:, 5].astype(np.float32), g.astype(np.float32)))
    return LocalizationData(name, list(action_names), list(object_names), np.asarray(action_prototypes, np.float32),
                            np.asarray(object_prototypes, np.float32), np.asarray(priors, np.float32), videos,
                            {"source": f"ICCV 2017 detection files in {detections} (per-class NMS {nms}, min score {min_score})"})


def _cap_index(scores: np.ndarray, k: int) -> np.ndarray:
    if k <= 0 or len(scores) <= k:
        return np.arange(len(scores))
    return np.sort(np.argsort(-scores, kind="stable")[:k])


def _cap(rows: np.ndarray, k: int) -> np.ndarray:
    return rows[_cap_index(rows[:, 4], k)]


# ------------------------------------------------------------------- tubes


def tube_rows(video: LocVideo, boxes_idx: np.ndarray, inputs_person_boxes: np.ndarray, person_scores: np.ndarray):
    """Rows ``(frame, x1, y1, x2, y2)`` and per-frame scores of one tube.

    Args:
      video: the video; boxes_idx: ``[T]`` person box index per frame (-1: none).
      inputs_person_boxes: ``[T, P, 4]`` padded boxes of the video.
      person_scores: ``[T, P]`` the box scores used for linking (action's).

    Returns:
      ``(rows [F, 5], scores [F])`` over the frames where the tube has a box.
    """
    idx = np.asarray(boxes_idx)
    frames = np.flatnonzero(idx >= 0)
    b = inputs_person_boxes[frames, idx[frames]]
    return np.concatenate([frames[:, None].astype(np.float32), b], axis=1), person_scores[frames, idx[frames]]


def write_tubes(folder: str | os.PathLike, data: LocalizationData, inputs: LocalizationInputs, tubes: np.ndarray,
                tube_scores: np.ndarray, config: dict | None = None) -> str:
    """Write every tube as ``folder/tubes/<video>.npz`` plus ``folder/tubes/index.json``.

    Each npz holds ``boxes [A, K, F, 5]`` (frame, x1, y1, x2, y2 over the F
    frames with person boxes) and ``scores [A, K]``.

    Returns:
      The ``tubes`` folder.
    """
    out = os.path.join(os.fspath(folder), "tubes")
    tubes = np.asarray(tubes)
    pb = np.asarray(inputs.person_boxes)
    for i, v in enumerate(data.videos):
        t = tubes[i]  # [A, K, T]
        frames = np.flatnonzero(np.any(t[0, 0:1] >= 0, axis=0))
        idx = np.maximum(t[:, :, frames], 0)
        b = pb[i][frames[None, None, :], idx]  # [A, K, F, 4]
        fcol = np.broadcast_to(frames[None, None, :, None].astype(np.float32), b.shape[:-1] + (1,))
        f = os.path.join(out, v.name + ".npz")
        os.makedirs(os.path.dirname(f), exist_ok=True)
        np.savez(f, boxes=np.concatenate([fcol, b], axis=-1), scores=np.asarray(tube_scores[i], np.float32))
    with open(os.path.join(out, "index.json"), "w", encoding="utf-8") as h:
        json.dump({"action_names": list(data.action_names), "videos": [v.name for v in data.videos],
                   "layout": "tubes/<video>.npz: boxes [A, K, F, 5] (frame, x1, y1, x2, y2), scores [A, K]",
                   "config": config or {}}, h, indent=1, default=json_default)
    return out


def write_tubes_hdf5(folder: str | os.PathLike, data: LocalizationData, inputs: LocalizationInputs, tubes: np.ndarray,
                     box_scores_fn) -> str:
    """Write tubes in the ICCV 2017 code's HDF5 layout (needs ``h5py``).

    ``folder/hdf5/<action>/<video>/tubes.hdf5`` with datasets ``"k"``
    (``[F, 5]`` rows frame, x1, y1, x2, y2) and ``"scores-k"`` (``[F]`` the
    box scores along the tube) for k = 0..K-1.

    Args:
      box_scores_fn: ``(video index) -> [A, T, P]`` box scores of that video.

    Raises:
      MissingDependencyError: h5py is not installed.
    """
    try:
        import h5py
    except ImportError as err:
        raise MissingDependencyError("writing HDF5 tubes needs h5py: pip install 'upt_jax[hdf5]' (or pip install h5py)") from err
    root = os.path.join(os.fspath(folder), "hdf5")
    pb = np.asarray(inputs.person_boxes)
    tubes = np.asarray(tubes)
    for i, v in enumerate(data.videos):
        s = np.asarray(box_scores_fn(i))
        for a, act in enumerate(data.action_names):
            d = os.path.join(root, act, v.name)
            os.makedirs(d, exist_ok=True)
            with h5py.File(os.path.join(d, "tubes.hdf5"), "w") as h:
                for k in range(tubes.shape[2]):
                    rows, sc = tube_rows(v, tubes[i, a, k], pb[i], s[a])
                    h.create_dataset(str(k), data=rows.astype(np.float64))
                    h.create_dataset(f"scores-{k}", data=sc.astype(np.float64))
    return root
