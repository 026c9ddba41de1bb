"""Layout detection: one entry point for every data folder."""

from __future__ import annotations

import dataclasses
import os

from upt_jax.data.dataset import Dataset
from upt_jax.data.official import _inspect, find_official, load_official
from upt_jax.data.portable import _read, is_portable, load_portable
from upt_jax.errors import DataError

__all__ = ["FolderReport", "detect_layout", "inspect_folder", "validate_folder", "load_dataset"]


def _neither(path: str) -> str:
    return (
        f"{path}: not a upt_jax data folder; expected either the example code's layout "
        "(embeddings/<prefix>_videofiles.txt, <prefix>_actions.npy, <prefix>_action_embeddings.npy, "
        "<prefix>_video_embeddings_<model>.npy) or the portable layout (meta.json, prototypes.npy, "
        "videos.npy, labels.npy); see upt_jax/data/FORMAT.md."
    )


def detect_layout(path: str | os.PathLike) -> str | None:
    """``"portable"`` (a ``meta.json``), ``"official"`` (example layout) or ``None``."""
    if is_portable(path):
        return "portable"
    if find_official(path) is not None:
        return "official"
    return None


@dataclasses.dataclass
class FolderReport:
    """What :func:`inspect_folder` found.

    Attributes:
        path: the folder.
        layout: ``"official"``, ``"portable"`` or ``None``.
        problems: every problem (empty when the folder is fine).
        n_classes, n_videos, dim, n_objects: sizes (``None`` when unknown).
    """

    path: str
    layout: str | None
    problems: list[str]
    n_classes: int | None = None
    n_videos: int | None = None
    dim: int | None = None
    n_objects: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """``"<layout>, K classes, N videos, d dims[, O objects]"``."""
        s = f"{self.layout}, {self.n_classes} classes, {self.n_videos} videos, {self.dim} dims"
        if self.n_objects is not None:
            s += f", {self.n_objects} objects"
        return s


def inspect_folder(path: str | os.PathLike, *, video_model: str | None = None) -> FolderReport:
    """Detect the layout of ``path``, check everything and report sizes."""
    path = os.fspath(path)
    layout = detect_layout(path)
    if layout is None:
        msg = f"{path}: no such folder." if not os.path.exists(path) else _neither(path)
        return FolderReport(path, None, [msg])
    if layout == "portable":
        problems, ds = _read(path, True)
        rep = FolderReport(path, layout, problems)
        if ds is not None:
            rep.n_classes, rep.n_videos, rep.dim, rep.n_objects = ds.n_classes, ds.n_videos, ds.dim, ds.n_objects
        return rep
    problems, out = _inspect(path, prefix=None, video_model=video_model, mode="validate")
    rep = FolderReport(path, layout, problems)
    if out.get("prototypes") is not None:
        rep.n_classes, rep.dim = out["prototypes"].shape
    if out.get("video_names") is not None:
        rep.n_videos = len(out["video_names"])
    if out.get("objects") is not None:
        rep.n_objects = out["objects"].shape[0]
    return rep


def validate_folder(path: str | os.PathLike) -> list[str]:
    """Every problem of a data folder, human-readable, each naming its file.

    Detects the layout (portable or example code), then checks: missing files,
    shape mismatches between files (K against the class list, N against the
    video list, d between videos, prototypes, objects and targets), classes in
    video paths missing from the class list, NaN/Inf rows (count and first
    indices), all-zero rows, per-video object scores missing or of the wrong
    length. Returns an empty list when the folder is fine.
    """
    return inspect_folder(path).problems


def load_dataset(path: str | os.PathLike, **kw) -> Dataset:
    """Load a data folder of either layout.

    Args:
        path: a portable folder (``meta.json``) or the example code's folder
            (or its ``embeddings/``).
        **kw: passed to :func:`load_official` (``load_objects``,
            ``video_model``, ``prefix``, ``check_values``, ``dtype``) or
            :func:`load_portable` (``check_values``).

    Raises:
        DataError: neither layout, or any problem of the folder.
    """
    path = os.fspath(path)
    layout = detect_layout(path)
    if layout == "portable":
        extra = set(kw) - {"check_values"}
        if extra - {"load_objects", "video_model", "prefix", "dtype"}:
            raise TypeError(f"load_dataset: unexpected arguments {sorted(extra)}")
        return load_portable(path, check_values=kw.get("check_values", True))
    if layout == "official":
        return load_official(path, **kw)
    if not os.path.exists(path):
        raise DataError(f"{path}: no such folder; pass the data folder (see upt_jax/data/FORMAT.md).")
    raise DataError(_neither(path))
