"""Datasets of a study: resolving specs, checksums, and stacking on one batch axis.

A dataset spec is a generated world (``"world:ucf101:default:seed=0"``), a
tiny blob world for tests (``"synthetic:K=12:N=240:d=16:seed=0"``) or a data
folder (either layout of :func:`upt_jax.data.load_dataset`). Every spec
resolves to a :class:`upt_jax.data.Dataset`.

Datasets that share the embedding dimension ``d`` (and, per static variant,
the resolved :class:`upt_jax.UPTConfig`) are stacked by :func:`stack`: their
class and video axes are padded to the largest ``K`` and ``N`` (padding rows
repeat row 0 and are never selected: every split's class and video masks are
``False`` there), so the transports of all their splits form one batch of
one compiled program.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence

import numpy as np

from upt_jax.errors import UPTError

__all__ = ["resolve_dataset", "synthetic_data", "data_checksum", "spec_name", "Stack", "stack", "pad_axis"]


def spec_name(spec) -> str:
    """The name a dataset spec is recorded under (row field ``dataset``)."""
    return spec if isinstance(spec, str) else str(getattr(spec, "name", "custom"))


def _parse_kv(parts: Sequence[str], spec: str) -> dict:
    out = {}
    for p in parts:
        if not p:
            continue
        if "=" not in p:
            raise UPTError(f"dataset spec {spec!r}: part {p!r} should be key=value")
        k, v = p.split("=", 1)
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def synthetic_data(
    K: int = 12, N: int = 240, d: int = 16, seed: int = 0, spread: float = 1.5, bias: float = 1.5
):
    """A tiny blob world for tests and smoke runs (NOT the default world).

    Class prototypes are random unit vectors; each video is its class's
    prototype (slightly perturbed per class) plus a shared bias direction
    plus noise, so some classes are never predicted by the raw prototypes
    and UPT has something to fix.

    Args:
      K: classes; N: videos (at least K); d: dimension; seed: NumPy seed;
      spread: per-video noise scale; bias: length of the shared shift.

    Returns:
      :class:`upt_jax.data.Dataset` named ``synthetic:K=..:N=..:d=..:seed=..``
      (``[K, d]`` prototypes, ``[N, d]`` videos, ``[N]`` int32 labels,
      float32).
    """
    from upt_jax.data import Dataset

    if N < K or K < 2 or d < 2:
        raise UPTError(f"synthetic data: need K >= 2, d >= 2 and N >= K, got K={K}, N={N}, d={d}")
    rng = np.random.default_rng(seed)
    protos = rng.normal(size=(K, d))
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    labels = np.sort(np.concatenate([np.arange(K), rng.integers(0, K, size=N - K)])).astype(np.int32)
    centres = protos + 0.5 * rng.normal(size=(K, d)) / np.sqrt(d)
    shift = rng.normal(size=d)
    shift /= np.linalg.norm(shift)
    videos = centres[labels] + bias * shift + spread * rng.normal(size=(N, d)) / np.sqrt(d)
    names = [f"class{i:03d}" for i in range(K)]
    return Dataset(
        name=f"synthetic:K={K}:N={N}:d={d}:seed={seed}",
        class_names=names,
        prototypes=protos.astype(np.float32),
        videos=videos.astype(np.float32),
        labels=labels,
        video_names=[f"{names[c]}/v{i:06d}" for i, c in enumerate(labels)],
        meta={"source": "upt_jax.sweep.data.synthetic_data"},
    )


def _as_dataset(obj, name: str):
    from upt_jax.data import Dataset

    if isinstance(obj, Dataset):
        ds = dataclasses.replace(obj, name=name)
    else:
        labels = np.asarray(obj.labels, np.int32)
        ds = Dataset(
            name=name,
            class_names=[str(c) for c in obj.class_names],
            prototypes=np.asarray(obj.prototypes),
            videos=np.asarray(obj.videos),
            labels=labels,
            video_names=list(getattr(obj, "video_names", None) or [str(i) for i in range(labels.size)]),
        )
    ds.prototypes = np.ascontiguousarray(ds.prototypes, np.float32)
    ds.videos = np.ascontiguousarray(ds.videos, np.float32)
    ds.labels = np.ascontiguousarray(ds.labels, np.int32)
    return ds


def _world_cached(spec: str, cache_dir: str | None, writer: bool):
    """A generated world, read from / written to ``cache_dir`` (keyed by the
    spec and :func:`upt_jax.records.code_version`), or None to generate."""
    from upt_jax.data import Dataset
    from upt_jax.records import code_version

    if not cache_dir:
        return None, None
    key = hashlib.sha1(f"{spec}|{code_version()}".encode()).hexdigest()[:20]
    path = os.path.join(cache_dir, f"world-{key}.npz")
    if os.path.exists(path):
        try:
            with np.load(path, allow_pickle=False) as z:
                return Dataset(
                    name=spec,
                    class_names=[str(c) for c in z["class_names"]],
                    prototypes=z["prototypes"],
                    videos=z["videos"],
                    labels=z["labels"],
                    video_names=[str(v) for v in z["video_names"]],
                    meta={"source": "generated world (sweep cache)", "spec": spec},
                ), path
        except (OSError, KeyError, ValueError):  # damaged: regenerate
            pass
    return None, (path if writer else None)


def resolve_dataset(spec, *, name: str | None = None, cache_dir: str | None = None, writer: bool = True):
    """Load a dataset spec.

    Args:
      spec: ``"world:NAME[:PRESET][:field=value...]"`` (a generated default
        world, :func:`upt_jax.world.make_world_config`),
        ``"synthetic:K=..:N=..:d=..:seed=.."`` (:func:`synthetic_data`), a
        data folder path, or an object with ``class_names``, ``prototypes``,
        ``videos`` and ``labels`` (e.g. a :class:`upt_jax.data.Dataset`).
      name: the name rows record (default: :func:`spec_name`).
      cache_dir: optional folder where generated worlds are kept (keyed by
        the spec and the code version: the same arrays, without the
        minutes of generation); writer: write new entries there.

    Returns:
      :class:`upt_jax.data.Dataset` with float32 ``[K, d]`` prototypes,
      ``[N, d]`` videos and int32 ``[N]`` labels, named ``name``.

    Raises:
      UPTError / DataError: a malformed spec or folder; FileNotFoundError: no
      such folder.
    """
    name = spec_name(spec) if name is None else name
    if not isinstance(spec, str):
        return _as_dataset(spec, name)
    if spec.startswith("synthetic"):
        return _as_dataset(synthetic_data(**_parse_kv(spec.split(":")[1:], spec)), name)
    if spec.startswith("world:"):
        parts = spec.split(":")[1:]
        if not parts or not parts[0]:
            raise UPTError(f"dataset spec {spec!r}: use world:NAME[:PRESET][:field=value], e.g. world:ucf101:default:seed=0")
        preset = parts[1] if len(parts) > 1 and "=" not in parts[1] else "default"
        kw = _parse_kv([p for p in parts[1:] if "=" in p], spec)
        cached, path = _world_cached(spec, cache_dir, writer)
        if cached is not None:
            return _as_dataset(cached, name)
        from upt_jax.world import generate_world, make_world_config

        ds = _as_dataset(generate_world(make_world_config(parts[0], preset, **kw)), name)
        if path is not None:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.tmp{os.getpid()}.npz"
            np.savez(tmp, class_names=np.asarray(ds.class_names), prototypes=ds.prototypes, videos=ds.videos,
                     labels=ds.labels, video_names=np.asarray(ds.video_names))
            os.replace(tmp, path)
        return ds
    if os.path.exists(spec):
        from upt_jax.data import load_dataset

        return _as_dataset(load_dataset(spec), name)
    raise FileNotFoundError(
        f"dataset {spec!r}: no such folder, and not a spec; use a data folder, "
        "'world:ucf101:default:seed=0' or 'synthetic:K=12:N=240:d=16:seed=0'"
    )


def data_checksum(ds) -> str:
    """16-hex SHA-1 of what the rows depend on: prototypes, videos, labels
    (as float32 / int32 bytes, with their shapes) and the class names."""
    h = hashlib.sha1()
    for arr in (
        np.ascontiguousarray(ds.prototypes, np.float32),
        np.ascontiguousarray(ds.videos, np.float32),
        np.ascontiguousarray(ds.labels, np.int32),
    ):
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    h.update("\n".join(str(c) for c in ds.class_names).encode())
    return h.hexdigest()[:16]


def pad_axis(x: np.ndarray, size: int, axis: int = 0, *, fill=None) -> np.ndarray:
    """Pad ``x`` along ``axis`` to ``size``: with ``fill`` (a scalar), or by
    repeating the first entry (``fill=None``, keeps unit vectors valid)."""
    x = np.asarray(x)
    n = x.shape[axis]
    if n == size:
        return x
    if n > size:
        raise UPTError(f"pad_axis: axis {axis} has {n} > {size} entries")
    shape = list(x.shape)
    shape[axis] = size - n
    if fill is None:
        first = np.take(x, [0], axis=axis)
        extra = np.repeat(first, size - n, axis=axis)
    else:
        extra = np.full(shape, fill, dtype=x.dtype)
    return np.concatenate([x, extra], axis=axis)


@dataclasses.dataclass
class Stack:
    """Datasets of one embedding dimension, padded to common shapes.

    Attributes:
      names: ``G`` dataset names.
      prototypes: ``[G, K, d]`` float32 (K = the largest class count).
      videos: ``[G, N, d]`` float32 (N = the largest video count).
      labels: ``[G, N]`` int32 (padding: 0).
      n_classes, n_videos: ``[G]`` the real sizes.
    """

    names: tuple
    prototypes: np.ndarray
    videos: np.ndarray
    labels: np.ndarray
    n_classes: np.ndarray
    n_videos: np.ndarray

    @property
    def K(self) -> int:
        return int(self.prototypes.shape[1])

    @property
    def N(self) -> int:
        return int(self.videos.shape[1])


def stack(datasets: Sequence) -> Stack:
    """Pad datasets of one dimension ``d`` to ``[G, K, d]`` / ``[G, N, d]`` and stack them.

    Args:
      datasets: G datasets (``prototypes [K_g, d]``, ``videos [N_g, d]``,
        ``labels [N_g]``).

    Returns:
      :class:`Stack`. Split masks of dataset ``g`` must be padded with
      ``False`` to ``[K]`` / ``[N]`` (:func:`pad_axis` with ``fill=False``).
    """
    dims = {int(ds.prototypes.shape[1]) for ds in datasets}
    if len(dims) != 1:
        raise UPTError(f"stack: datasets of different dimensions {sorted(dims)} cannot share a batch")
    k = max(int(ds.prototypes.shape[0]) for ds in datasets)
    n = max(int(ds.videos.shape[0]) for ds in datasets)
    return Stack(
        names=tuple(ds.name for ds in datasets),
        prototypes=np.stack([pad_axis(np.asarray(ds.prototypes, np.float32), k) for ds in datasets]),
        videos=np.stack([pad_axis(np.asarray(ds.videos, np.float32), n) for ds in datasets]),
        labels=np.stack([pad_axis(np.asarray(ds.labels, np.int32), n, fill=0) for ds in datasets]),
        n_classes=np.array([ds.prototypes.shape[0] for ds in datasets], np.int32),
        n_videos=np.array([ds.videos.shape[0] for ds in datasets], np.int32),
    )
