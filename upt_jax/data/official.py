"""The example code's data folder (``data/ucf-101/``), read as it is.

Layout (``<prefix>`` is detected, e.g. ``ucf101``; see ``FORMAT.md``)::

    DIR/embeddings/<prefix>_videofiles.txt            N lines "Class/v_Class_g01_c01.avi"
    DIR/embeddings/<prefix>_actions.npy               [K] class names (prototype order)
    DIR/embeddings/<prefix>_video_embeddings_<model>.npy   [N, d]
    DIR/embeddings/<prefix>_action_embeddings.npy     [K, d]
    DIR/embeddings/imagenet<O>_embeddings.npy         [O, d]   (optional)
    DIR/objectscores/<video file name without extension>/avg-features.npy   [O] (optional)
    DIR/ot/<name>.npy                                 [K, d]   (optional targets)

``DIR`` may be the dataset folder (holding ``embeddings/``) or the
``embeddings/`` folder itself (then ``objectscores/`` and ``ot/`` are looked
for next to it). The class of a video is the second-to-last component of its
path, as in the example code.
"""

from __future__ import annotations

import collections
import glob
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from upt_jax.data.dataset import Dataset, check_dataset, npy_shape, raise_problems, row_problems
from upt_jax.errors import DataError

__all__ = [
    "DEFAULT_VIDEO_MODEL",
    "is_official",
    "find_official",
    "validate_official",
    "load_official",
    "write_official",
    "load_object_scores",
    "object_score_path",
    "video_stem",
]

DEFAULT_VIDEO_MODEL = "r2plus1d18"
_VIDEO_RE = re.compile(r"^(?P<prefix>.+)_video_embeddings(?:_(?P<model>.+))?\.npy$")
_SUFFIXES = ("_videofiles.txt", "_actions.npy", "_action_embeddings.npy")
_MAX_LISTED = 5


def video_stem(video_name: str) -> str:
    """Object-score folder name of a video: its file name without extension.

    The example code drops the last 4 characters (``".avi"``); a name without a
    3-letter extension loses whatever ``os.path.splitext`` removes.
    """
    base = video_name.rstrip("/").split("/")[-1]
    if len(base) > 4 and base[-4] == ".":
        return base[:-4]
    return os.path.splitext(base)[0]


def object_score_path(root: str | os.PathLike, video_name: str) -> str:
    """``root/objectscores/<stem>/avg-features.npy`` of one video."""
    return os.path.join(os.fspath(root), "objectscores", video_stem(video_name), "avg-features.npy")


def _n(count: int, word: str) -> str:
    """``"1 line"`` / ``"3 lines"``."""
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word}{'es' if word.endswith('s') else 's'}"


def _listed(items: Sequence[Any]) -> str:
    s = ", ".join(repr(x) if isinstance(x, str) else str(x) for x in items[:_MAX_LISTED])
    return s + (", ..." if len(items) > _MAX_LISTED else "")


def find_official(path: str | os.PathLike) -> tuple[str, str] | None:
    """``(root, embeddings_dir)`` if ``path`` looks like the example layout, else ``None``."""
    path = os.path.abspath(os.fspath(path))
    if not os.path.isdir(path):
        return None

    def has_files(d: str) -> bool:
        return any(glob.glob(os.path.join(glob.escape(d), "*" + s)) for s in _SUFFIXES) or bool(
            glob.glob(os.path.join(glob.escape(d), "*_video_embeddings*.npy"))
        )

    emb = os.path.join(path, "embeddings")
    if os.path.isdir(emb) and has_files(emb):
        return path, emb
    if has_files(path):
        return os.path.dirname(path), path
    if os.path.isdir(emb):  # an embeddings/ folder, even an empty one, marks the layout
        return path, emb
    return None


def is_official(path: str | os.PathLike) -> bool:
    """Whether ``path`` looks like the example code's folder."""
    return find_official(path) is not None


def _prefixes(emb: str) -> tuple[set[str], dict[str, dict[str, str]]]:
    """Prefixes found in ``emb`` and, per prefix, model -> video embedding file."""
    found: set[str] = set()
    for s in _SUFFIXES:
        for f in glob.glob(os.path.join(glob.escape(emb), "*" + s)):
            found.add(os.path.basename(f)[: -len(s)])
    models: dict[str, dict[str, str]] = collections.defaultdict(dict)
    for f in sorted(glob.glob(os.path.join(glob.escape(emb), "*_video_embeddings*.npy"))):
        m = _VIDEO_RE.match(os.path.basename(f))
        if m:
            found.add(m.group("prefix"))
            models[m.group("prefix")][m.group("model") or ""] = f
    return found, models


def _read_videofiles(path: str) -> tuple[list[str], list[str], list[str]]:
    """Video names (``Class/file``), their classes, and problems."""
    problems: list[str] = []
    with open(path, encoding="utf-8") as f:
        lines = [ln.strip() for ln in f.read().splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    names, classes = [], []
    empty, no_class = [], []
    for i, ln in enumerate(lines):
        parts = ln.split("/")
        if not ln:
            empty.append(i + 1)
        elif len(parts) < 2 or not parts[-2]:
            no_class.append(i + 1)
        names.append("/".join(parts[-2:]))
        classes.append(parts[-2] if len(parts) >= 2 else "")
    name = os.path.basename(path)
    if empty:
        problems.append(
            f"{name}: {_n(len(empty), 'empty line')} (line numbers: {_listed(empty)}); one video path per line."
        )
    if no_class:
        problems.append(
            f"{name}: {_n(len(no_class), 'line')} without a class folder (line numbers: {_listed(no_class)}); "
            "each line must look like Class/video.avi (the class is the second-to-last path component)."
        )
    return names, classes, problems


def _load_npy(path: str, problems: list[str], what: str) -> np.ndarray | None:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" in str(err) or "pickle" in str(err).lower():
            problems.append(
                f"{os.path.basename(path)}: {what} is a pickled object array; re-save it as a plain array "
                "(np.save(path, np.asarray(values, dtype=str or float32)))."
            )
        else:
            problems.append(f"{os.path.basename(path)}: not a readable .npy file ({err}).")
    except OSError as err:
        problems.append(f"{os.path.basename(path)}: cannot read ({err}).")
    return None


def _class_names(arr: np.ndarray, fname: str, problems: list[str]) -> list[str] | None:
    if arr.ndim != 1:
        problems.append(f"{fname}: expected a 1-D array of K class names, got shape {list(arr.shape)}.")
        return None
    if arr.dtype.kind == "S":
        return [x.decode("utf-8") for x in arr.tolist()]
    if arr.dtype.kind == "U":
        return [str(x) for x in arr.tolist()]
    problems.append(f"{fname}: expected class names (strings), got dtype {arr.dtype}.")
    return None


def _object_score_problems(
    root: str,
    video_names: list[str],
    n_objects: int | None,
    what: str = "objectscores",
    into: np.ndarray | None = None,
) -> tuple[list[str], int | None]:
    """Missing or wrongly sized per-video object scores.

    Reads only the ``.npy`` headers, unless ``into`` (``[N, n_objects]``) is
    given: then each file is read once and its scores stored in ``into``.
    """
    problems = []
    missing, unreadable = [], []
    lengths: dict[int, int] = {}
    sizes: list[int | None] = []
    for v in video_names:
        p = object_score_path(root, v)
        if not os.path.isfile(p):
            missing.append(video_stem(v))
            sizes.append(None)
            continue
        try:
            if into is None:
                shape, _ = npy_shape(p)
            else:
                row = np.load(p, allow_pickle=False)
                shape = row.shape
                if row.size == n_objects:
                    into[len(sizes)] = row.reshape(-1)
        except (ValueError, OSError):
            unreadable.append(video_stem(v))
            sizes.append(None)
            continue
        is_vector = sum(1 for s in shape if s != 1) <= 1
        size = int(np.prod(shape)) if is_vector else -1
        sizes.append(size)
        lengths[size] = lengths.get(size, 0) + 1
    if missing:
        problems.append(
            f"{what}/: {len(missing)} of {len(video_names)} videos have no <video>/avg-features.npy "
            f"(first: {_listed(missing)}); compute their object scores or remove the objectscores/ folder."
        )
    if unreadable:
        problems.append(
            f"{what}/: {_n(len(unreadable), 'avg-features.npy file')} not readable as .npy "
            f"(first: {_listed(unreadable)})."
        )
    expected = n_objects
    if expected is None and lengths:
        expected = max(lengths, key=lengths.get)
    if expected is not None:
        wrong = [(video_stem(v), s) for v, s in zip(video_names, sizes) if s is not None and s != expected]
        if wrong:
            src = "the object prototypes" if n_objects is not None else "most videos"
            shown = [f"{n} ({s} scores)" if s >= 0 else f"{n} (not a vector)" for n, s in wrong]
            problems.append(
                f"{what}/: {_n(len(wrong), 'avg-features.npy file')} not holding {expected} object scores like "
                f"{src} (first: {_listed(shown)})."
            )
    return problems, expected


def _inspect(
    path: str | os.PathLike,
    *,
    prefix: str | None,
    video_model: str | None,
    mode: str,
    load_objects: bool = False,
    check_values: bool = True,
    dtype: Any = np.float32,
) -> tuple[list[str], dict[str, Any]]:
    """Read (``mode="load"``) or check (``mode="validate"``) an official folder."""
    problems: list[str] = []
    out: dict[str, Any] = {}
    path = os.fspath(path)
    loc = find_official(path)
    if loc is None:
        if not os.path.isdir(path):
            return [f"{path}: not a folder."], out
        return [
            f"{path}: no embeddings/ folder and no *_videofiles.txt here; expected the example code's "
            "layout (embeddings/<prefix>_videofiles.txt, <prefix>_actions.npy, "
            "<prefix>_action_embeddings.npy, <prefix>_video_embeddings_<model>.npy)."
        ], out
    root, emb = loc
    out.update(root=root, emb=emb)
    prefixes, models = _prefixes(emb)
    if prefix is None:
        with_list = sorted(p for p in prefixes if os.path.isfile(os.path.join(emb, p + "_videofiles.txt")))
        cands = with_list or sorted(prefixes)
        if not cands:
            return [
                f"{emb}: no <prefix>_videofiles.txt, <prefix>_actions.npy, <prefix>_action_embeddings.npy or "
                "<prefix>_video_embeddings_<model>.npy; this is not the example code's embeddings folder."
            ], out
        if len(cands) > 1:
            return [f"{emb}: several datasets ({_listed(cands)}); pick one with prefix=."], out
        prefix = cands[0]
    out["prefix"] = prefix
    f_list = os.path.join(emb, f"{prefix}_videofiles.txt")
    f_act = os.path.join(emb, f"{prefix}_actions.npy")
    f_proto = os.path.join(emb, f"{prefix}_action_embeddings.npy")
    vmodels = models.get(prefix, {})
    if video_model is not None:
        f_vids = {video_model: os.path.join(emb, f"{prefix}_video_embeddings_{video_model}.npy")}
    elif not vmodels:
        f_vids = {DEFAULT_VIDEO_MODEL: os.path.join(emb, f"{prefix}_video_embeddings_{DEFAULT_VIDEO_MODEL}.npy")}
    elif mode == "load" and len(vmodels) > 1:
        if DEFAULT_VIDEO_MODEL in vmodels:
            f_vids = {DEFAULT_VIDEO_MODEL: vmodels[DEFAULT_VIDEO_MODEL]}
        else:
            names = sorted(os.path.basename(f) for f in vmodels.values())
            return [f"{emb}: several video embedding files ({_listed(names)}); pick one with video_model=."], out
    else:
        f_vids = dict(vmodels)
    for f in (f_list, f_act, f_proto, *f_vids.values()):
        if not os.path.isfile(f):
            problems.append(f"{os.path.basename(f)}: missing file (looked in {emb}).")

    # class names and prototypes
    class_names = None
    if os.path.isfile(f_act):
        arr = _load_npy(f_act, problems, "the class list")
        if arr is not None:
            class_names = _class_names(arr, os.path.basename(f_act), problems)
    protos = None
    if os.path.isfile(f_proto):
        protos = _load_npy(f_proto, problems, "the class prototypes")
        if protos is not None and (protos.ndim != 2 or protos.dtype.kind not in "fiu"):
            problems.append(
                f"{os.path.basename(f_proto)}: expected a [K, d] float matrix, got shape {list(protos.shape)} "
                f"dtype {protos.dtype}."
            )
            protos = None
    if class_names is not None and protos is not None and len(class_names) != protos.shape[0]:
        problems.append(
            f"{os.path.basename(f_act)} lists {len(class_names)} classes but {os.path.basename(f_proto)} has "
            f"{protos.shape[0]} rows (shape {list(protos.shape)}); one prototype per class, in class order."
        )
    if class_names is not None:
        dup = sorted(c for c, m in collections.Counter(class_names).items() if m > 1)
        if dup:
            problems.append(f"{os.path.basename(f_act)}: duplicate class names {_listed(dup)}.")
    d = None if protos is None else protos.shape[1]

    # the video list and labels
    video_names = classes = None
    if os.path.isfile(f_list):
        video_names, classes, p = _read_videofiles(f_list)
        problems += p
        if class_names is not None:
            index = {c: i for i, c in enumerate(class_names)}
            unknown = collections.Counter(c for c in classes if c and c not in index)
            if unknown:
                problems.append(
                    f"{os.path.basename(f_list)}: {_n(len(unknown), 'class')} in video paths not in "
                    f"{os.path.basename(f_act)} ({_n(sum(unknown.values()), 'video')}; "
                    f"classes: {_listed(sorted(unknown))}); "
                    "the class is the second-to-last path component and must match a class name exactly."
                )
            out["labels"] = np.asarray([index.get(c, -1) for c in classes], np.int32)

    # video embeddings (one file per model)
    videos = None
    for model, f in f_vids.items():
        if not os.path.isfile(f):
            continue
        v = _load_npy(f, problems, "the video embeddings")
        if v is None:
            continue
        fn = os.path.basename(f)
        if v.ndim != 2 or v.dtype.kind not in "fiu":
            problems.append(f"{fn}: expected an [N, d] float matrix, got shape {list(v.shape)} dtype {v.dtype}.")
            continue
        if video_names is not None and v.shape[0] != len(video_names):
            problems.append(
                f"{fn} has {v.shape[0]} rows but {os.path.basename(f_list)} lists {len(video_names)} videos; "
                "one embedding per video, in the same order."
            )
        if d is not None and v.shape[1] != d:
            problems.append(
                f"dimension mismatch: {fn} has d={v.shape[1]} (shape {list(v.shape)}) but "
                f"{os.path.basename(f_proto)} has d={d} (shape {list(protos.shape)}); both must be in the "
                "same semantic space."
            )
        if check_values:
            problems += row_problems(v, fn, "videos")
        if mode == "load":
            videos, out["video_model"], out["video_file"] = v, model, f
    if check_values and protos is not None:
        problems += row_problems(protos, os.path.basename(f_proto), "class prototypes")

    # objects (optional)
    obj_files = sorted(glob.glob(os.path.join(glob.escape(emb), "imagenet*_embeddings.npy")))
    obj_files = [f for f in obj_files if not os.path.basename(f).startswith(prefix + "_")]
    objects = object_names = None
    if len(obj_files) > 1:
        shown = _listed([os.path.basename(f) for f in obj_files])
        problems.append(f"{emb}: several object prototype files ({shown}); keep one.")
    elif obj_files:
        f_obj = obj_files[0]
        objects = _load_npy(f_obj, problems, "the object prototypes")
        fn = os.path.basename(f_obj)
        if objects is not None:
            if objects.ndim != 2 or objects.dtype.kind not in "fiu":
                problems.append(f"{fn}: expected an [O, d] float matrix, got shape {list(objects.shape)}.")
                objects = None
            else:
                if d is not None and objects.shape[1] != d:
                    problems.append(
                        f"dimension mismatch: {fn} has d={objects.shape[1]} (shape {list(objects.shape)}) but "
                        f"{os.path.basename(f_proto)} has d={d}; objects must be in the same semantic space."
                    )
                if check_values:
                    problems += row_problems(objects, fn, "object prototypes")
                out["object_file"] = f_obj
                f_names = f_obj[: -len("_embeddings.npy")] + "_names.txt"
                if os.path.isfile(f_names):
                    with open(f_names, encoding="utf-8") as fh:
                        object_names = [ln.rstrip("\n") for ln in fh.read().splitlines()]
                    if len(object_names) != objects.shape[0]:
                        problems.append(
                            f"{os.path.basename(f_names)} lists {len(object_names)} objects but {fn} has "
                            f"{objects.shape[0]} rows."
                        )
    n_obj = None if objects is None else objects.shape[0]
    score_dir = os.path.join(root, "objectscores")
    has_scores = os.path.isdir(score_dir)
    out["objectscores_dir"] = score_dir if has_scores else None
    if load_objects:
        if objects is None and not obj_files:
            problems.append(
                f"imagenet<O>_embeddings.npy: missing file (looked in {emb}); needed with load_objects=True."
            )
        if not has_scores:
            problems.append(f"objectscores/: missing folder (looked in {root}); needed with load_objects=True.")
    if has_scores and video_names is not None and (mode == "validate" or load_objects):
        into = None
        if load_objects and mode == "load" and n_obj is not None:
            into = out["object_probs"] = np.empty((len(video_names), n_obj), dtype)
        p, _ = _object_score_problems(root, video_names, n_obj, into=into)
        problems += p

    # precomputed targets (optional)
    targets: dict[str, np.ndarray] = {}
    ot_dir = os.path.join(root, "ot")
    for f in sorted(glob.glob(os.path.join(glob.escape(ot_dir), "*.npy"))):
        t = _load_npy(f, problems, "the target prototypes")
        if t is None:
            continue
        fn = "ot/" + os.path.basename(f)
        want = None if protos is None else protos.shape
        if t.ndim != 2 or (want is not None and t.shape != want):
            problems.append(
                f"{fn}: expected target prototypes of shape {list(want) if want else '[K, d]'} (like "
                f"{os.path.basename(f_proto)}), got {list(t.shape)}."
            )
            continue
        if check_values:
            problems += row_problems(t, fn, "target prototypes")
        targets[os.path.splitext(os.path.basename(f))[0]] = t

    out.update(
        class_names=class_names,
        prototypes=protos,
        videos=videos,
        video_names=video_names,
        objects=objects,
        object_names=object_names,
        targets=targets,
        files={
            "videofiles": f_list,
            "actions": f_act,
            "prototypes": f_proto,
            "videos": list(f_vids.values()),
        },
    )
    return problems, out


def _read_scores(root: str, video_names: Sequence[str], n_objects: int, dtype: Any) -> np.ndarray:
    out = np.empty((len(video_names), n_objects), dtype)
    for i, v in enumerate(video_names):
        p = object_score_path(root, v)
        try:
            out[i] = np.load(p, allow_pickle=False).reshape(-1)
        except (OSError, ValueError) as err:
            raise DataError(f"{p}: cannot read object scores ({err}); check the file or recompute it.") from err
    return out


def validate_official(
    path: str | os.PathLike, *, prefix: str | None = None, video_model: str | None = None
) -> list[str]:
    """Every problem of an example-code folder (empty list when fine).

    Checks all required files, their shapes against each other, classes of the
    video paths against the class list, NaN/Inf and all-zero rows, the optional
    object prototypes, every per-video ``objectscores`` file (headers only) and
    every ``ot/*.npy``. With several ``<prefix>_video_embeddings_<model>.npy``
    and no ``video_model``, each is checked.
    """
    problems, _ = _inspect(path, prefix=prefix, video_model=video_model, mode="validate")
    return problems


def load_official(
    path: str | os.PathLike,
    *,
    load_objects: bool = False,
    video_model: str | None = None,
    prefix: str | None = None,
    check_values: bool = True,
    dtype: Any = np.float32,
) -> Dataset:
    """Read the example code's folder into a :class:`Dataset`.

    Args:
        path: the dataset folder (holding ``embeddings/``) or ``embeddings/``.
        load_objects: also read every ``objectscores/<video>/avg-features.npy``
            into ``object_probs`` ``[N, O]`` (UCF-101 with 12,988 objects:
            13,320 files, about 690 MB in float32). Without it, object scores
            are not touched; read a subset later with :func:`load_object_scores`.
        video_model: which ``<prefix>_video_embeddings_<model>.npy``; default:
            the only one, else ``r2plus1d18``.
        prefix: dataset prefix (``ucf101``); default: detected.
        check_values: also reject NaN/Inf and all-zero rows (default). With
            ``False`` only structural problems raise.
        dtype: float dtype of the arrays (float32; pass ``np.float64`` to
            compute exactly like the example code on float64 files).

    Returns:
        The dataset; ``meta`` holds ``layout="official"``, ``root``,
        ``prefix``, ``video_model``, ``files`` and ``objectscores_dir``
        (``None`` without the folder).

    Raises:
        DataError: every problem found, each naming its file.
    """
    problems, out = _inspect(
        path,
        prefix=prefix,
        video_model=video_model,
        mode="load",
        load_objects=load_objects,
        check_values=check_values,
        dtype=dtype,
    )
    raise_problems(problems, f"{os.fspath(path)} (example-code layout)")
    objects = out["objects"]
    meta = {
        "layout": "official",
        "root": out["root"],
        "embeddings_dir": out["emb"],
        "prefix": out["prefix"],
        "video_model": out["video_model"],
        "files": {**out["files"], "videos": out["video_file"], "objects": out.get("object_file")},
        "objectscores_dir": out["objectscores_dir"],
        "dtype": np.dtype(dtype).name,
    }
    if out.get("object_probs") is not None:
        meta["object_probs_bytes"] = int(out["object_probs"].nbytes)
    return Dataset(
        name=out["prefix"],
        class_names=out["class_names"],
        prototypes=np.asarray(out["prototypes"], dtype),
        videos=np.asarray(out["videos"], dtype),
        labels=out["labels"],
        video_names=out["video_names"],
        object_names=out["object_names"],
        object_prototypes=None if objects is None else np.asarray(objects, dtype),
        object_probs=out.get("object_probs"),
        targets={k: np.asarray(v, dtype) for k, v in out["targets"].items()},
        meta=meta,
    )


def load_object_scores(
    dataset: Dataset, indices: Sequence[int] | np.ndarray | None = None, *, dtype: Any = np.float32
) -> np.ndarray:
    """Object probabilities of some videos of an official dataset, read lazily.

    Args:
        dataset: loaded with :func:`load_official` (or already holding
            ``object_probs``, which are then sliced).
        indices: video indices (default: all).
        dtype: float dtype.

    Returns:
        ``[len(indices), O]`` array.

    Raises:
        DataError: no objectscores folder, or a missing/unreadable file.
    """
    idx = np.arange(dataset.n_videos) if indices is None else np.asarray(indices, np.int64)
    if dataset.object_probs is not None:
        return np.asarray(dataset.object_probs, dtype)[idx]
    root = dataset.meta.get("root")
    if not dataset.meta.get("objectscores_dir") or root is None:
        raise DataError(
            f"dataset {dataset.name!r}: no objectscores/ folder (and no object_probs); object scoring needs "
            "objectscores/<video>/avg-features.npy."
        )
    names = [dataset.video_names[int(i)] for i in idx]
    missing = [video_stem(v) for v in names if not os.path.isfile(object_score_path(root, v))]
    if missing:
        raise DataError(
            f"{os.path.join(root, 'objectscores')}: {len(missing)} videos have no avg-features.npy "
            f"(first: {_listed(missing)})."
        )
    if not names:
        return np.zeros((0, dataset.n_objects or 0), dtype)
    o = dataset.n_objects or int(np.load(object_score_path(root, names[0])).size)
    return _read_scores(root, names, o, dtype)


def write_official(
    dataset: Dataset,
    path: str | os.PathLike,
    *,
    prefix: str = "ucf101",
    video_model: str = DEFAULT_VIDEO_MODEL,
) -> None:
    """Write a dataset in the example code's layout (``path/embeddings/...``).

    Video paths are written as ``<class name>/<file name>`` where the file name
    is the last component of ``video_names[i]``. Object prototypes go to
    ``embeddings/imagenet<O>_embeddings.npy`` (names, if any, to
    ``imagenet<O>_names.txt``, an extension the example code ignores), object
    probabilities to ``objectscores/<stem>/avg-features.npy``, targets to
    ``ot/<name>.npy``. Arrays are written as float32.

    Raises:
        DataError: the dataset is inconsistent, a class name contains ``/``, or
            two videos share a file stem while object scores are written.
    """
    problems = check_dataset(dataset)
    bad = [c for c in dataset.class_names if not c or "/" in c or c != c.strip()]
    if bad:
        problems.append(f"class_names: {_listed(bad)} cannot be folder names (empty, '/' or surrounding spaces).")
    raise_problems(problems, f"write_official({os.fspath(path)})")
    root = os.fspath(path)
    emb = os.path.join(root, "embeddings")
    os.makedirs(emb, exist_ok=True)
    lines = []
    for i, (v, lab) in enumerate(zip(dataset.video_names, np.asarray(dataset.labels))):
        base = v.rstrip("/").split("/")[-1] if v else ""
        if not base:
            base = f"v_{dataset.class_names[lab]}_{i:05d}.avi"
        lines.append(f"{dataset.class_names[lab]}/{base}")
    if dataset.object_probs is not None:
        stems = collections.Counter(video_stem(x) for x in lines)
        dup = sorted(s for s, m in stems.items() if m > 1)
        if dup:
            raise DataError(
                f"write_official: {len(dup)} video file names share a stem ({_listed(dup)}); object scores are "
                "stored per stem, so give every video a unique file name."
            )
    with open(os.path.join(emb, f"{prefix}_videofiles.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + ("\n" if lines else ""))
    np.save(os.path.join(emb, f"{prefix}_actions.npy"), np.asarray(dataset.class_names, dtype=str))
    np.save(os.path.join(emb, f"{prefix}_action_embeddings.npy"), np.asarray(dataset.prototypes, np.float32))
    np.save(
        os.path.join(emb, f"{prefix}_video_embeddings_{video_model}.npy"), np.asarray(dataset.videos, np.float32)
    )
    if dataset.object_prototypes is not None:
        o = dataset.n_objects
        np.save(os.path.join(emb, f"imagenet{o}_embeddings.npy"), np.asarray(dataset.object_prototypes, np.float32))
        if dataset.object_names is not None:
            with open(os.path.join(emb, f"imagenet{o}_names.txt"), "w", encoding="utf-8") as f:
                f.write("\n".join(dataset.object_names) + "\n")
    if dataset.object_probs is not None:
        probs = np.asarray(dataset.object_probs, np.float32)
        for line, row in zip(lines, probs):
            p = object_score_path(root, line)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            np.save(p, row)
    if dataset.targets:
        os.makedirs(os.path.join(root, "ot"), exist_ok=True)
        for name, t in dataset.targets.items():
            fname = name if name.endswith(".npy") else name + ".npy"
            np.save(os.path.join(root, "ot", fname), np.asarray(t, np.float32))
