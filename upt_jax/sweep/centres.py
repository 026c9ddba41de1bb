"""k-means centres of every split, computed once and cached (memory and disk).

UPT's target set depends only on the split's videos, the clustering fields of
the config (C, k-means variant, restarts, caps, tolerance, screening, centre
masses) and the seed; not on lam, epsilon, the solver, the cost, top-t or the
Frechet rule. So a sweep clusters each (dataset, split) once per clustering
config and every static variant sharing it reuses the centres. On disk (a
cache folder, shared between studies if you like) each split's centres are a
``centres-<hash>.npz`` whose hash covers the data checksum, the clustering
fields, the seed, the compact flag, the split's classes and the clustering
code (``upt_jax/cluster.py`` and ``upt_jax/api.py``), so a change to any of
them computes afresh.

Splits run one after the other through one compiled ``jit(cluster_videos)``
per (config, padded length): vmapping k-means over splits would make every
split iterate as long as the slowest one and multiply its memory by S.
Without clustering (C = 0) there is nothing to compute or cache: the job
function builds the target set from the videos itself.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
import zlib
from collections.abc import Callable

import numpy as np

from upt_jax.errors import UPTError

__all__ = [
    "CENTRE_FIELDS",
    "CLUSTER_FIELDS",
    "split_key",
    "compact_length",
    "clusters",
    "centres_of_split",
    "compute_centres",
    "clustering_key",
]

CENTRE_FIELDS = ("points", "mass", "sizes", "mask", "inertia", "kmeans_iters")
# the UPTConfig fields the centres depend on
CLUSTER_FIELDS = (
    "n_clusters",
    "kmeans",
    "kmeans_restarts",
    "kmeans_max_iter",
    "kmeans_tol",
    "kmeans_screen_iters",
    "target_mass",
)


def clusters(cfg, n_videos: int) -> bool:
    """Whether ``cfg`` runs k-means on a dataset of ``n_videos`` videos."""
    return 0 < cfg.n_clusters < n_videos


def split_key(seed: int, split_name: str):
    """PRNG key of a split's k-means: ``fold_in(PRNGKey(seed), crc32(name))``
    (depends on the split's name, not on its position in the protocol)."""
    import jax

    return jax.random.fold_in(jax.random.PRNGKey(int(seed)), zlib.crc32(split_name.encode()) & 0x7FFFFFFF)


def compact_length(count: int, n: int) -> int:
    """Padded length of a split of ``count`` videos out of ``n`` (a function of
    the split alone, so its centres do not depend on the other splits):
    ``count`` rounded up to a multiple of ``max(64, 2**(floor(log2 n) - 3))``,
    at most ``n``."""
    step = max(64, 2 ** max(int(np.floor(np.log2(max(n, 1)))) - 3, 0))
    return int(min(n, -(-int(count) // step) * step))


def clustering_key(cfg) -> tuple:
    """The clustering fields of a config (what the centres depend on)."""
    return tuple((k, getattr(cfg, k)) for k in CLUSTER_FIELDS)


@functools.lru_cache(maxsize=1)
def _clustering_code_hash() -> str:
    import upt_jax
    from upt_jax import api, cluster

    h = hashlib.sha1(upt_jax.__version__.encode())
    for mod in (cluster, api):
        with open(mod.__file__, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:12]


def _split_hash(cfg, seed: int, compact: bool, checksum: str, split_name: str, class_mask: np.ndarray) -> str:
    blob = json.dumps(
        {
            "data": checksum,
            "cfg": dict(clustering_key(cfg)),
            "seed": int(seed),
            "compact": bool(compact),
            "split": split_name,
            "classes": np.flatnonzero(class_mask).tolist(),
            "code": _clustering_code_hash(),
        },
        sort_keys=True,
    )
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


@functools.lru_cache(maxsize=64)
def _centres_fn(cfg):
    """``jit(cluster_videos)`` of one split (one compile per config and shape)."""
    import jax

    import upt_jax as U

    def one(videos, key, vmask):
        c = U.cluster_videos(videos, cfg, key, vmask)
        return c._replace(assignment=c.assignment[:1])

    return jax.jit(one)


def centres_of_split(ds, class_mask, video_mask, name: str, cfg, *, seed: int, compact: bool) -> dict:
    """k-means of one split: host arrays ``points [C, d]``, ``mass``,
    ``sizes``, ``mask`` ``[C]``, ``inertia``, ``kmeans_iters`` ``[]``.

    With ``compact`` the split's videos are gathered into a block of
    :func:`compact_length` rows (padding masked); otherwise k-means sees all
    ``N`` videos with the split's mask (the exact call
    ``upt(..., video_mask=...)`` makes). The key is :func:`split_key`.
    """
    n = ds.videos.shape[0]
    count = int(np.sum(video_mask))
    if not clusters(cfg, n):
        raise UPTError(f"centres_of_split: n_clusters={cfg.n_clusters} means no clustering for {n} videos")
    if cfg.n_clusters > count:
        raise UPTError(
            f"n_clusters={cfg.n_clusters} is larger than split {name!r} ({count} videos) of "
            f"{ds.name}; lower n_clusters or use 'N' (no clustering)"
        )
    fn = _centres_fn(cfg)
    key = split_key(seed, name)
    if not compact:
        res = fn(ds.videos, key, np.asarray(video_mask, bool))
    else:
        m = compact_length(count, n)
        idx = np.zeros(m, np.int64)
        idx[:count] = np.flatnonzero(video_mask)
        res = fn(ds.videos[idx], key, np.arange(m) < count)
    return {k: np.asarray(getattr(res, k)) for k in CENTRE_FIELDS}


def compute_centres(
    ds,
    checksum: str,
    splits,
    cfg,
    *,
    seed: int,
    compact: bool,
    cache_dir: str | None = None,
    writer: bool = True,
    stats=None,
    log: Callable[[str], None] | None = None,
    only: list[int] | None = None,
) -> dict[int, dict]:
    """Centres of the splits of one dataset, read from ``cache_dir`` or computed.

    Args:
      ds: the dataset; checksum: its :func:`upt_jax.sweep.data.data_checksum`.
      splits: :class:`upt_jax.protocols.Splits` of the dataset.
      cfg: the (clustering) config; must cluster.
      seed, compact: as in :class:`upt_jax.sweep.Study`.
      cache_dir: folder of ``centres-<hash>.npz`` files, or None.
      writer: write new files to the cache (process 0 of a multi-host run).
      stats: optional :class:`upt_jax.sweep.execute.SweepStats` to count into.
      log: optional progress callback.
      only: split indices to return (default all).

    Returns:
      ``{split index: {field: host array}}``.
    """
    out = {}
    todo = range(len(splits)) if only is None else only
    for s in todo:
        name = splits.names[s]
        path = None
        if cache_dir is not None:
            h = _split_hash(cfg, seed, compact, checksum, name, splits.class_mask[s])
            path = os.path.join(cache_dir, f"centres-{h}.npz")
        if path is not None and os.path.exists(path):
            try:
                with np.load(path) as z:
                    out[s] = {k: z[k] for k in CENTRE_FIELDS}
                if stats is not None:
                    stats.kmeans_loaded += 1
                continue
            except (OSError, KeyError, ValueError):  # a damaged cache file: recompute it
                pass
        t0 = time.perf_counter()
        c = centres_of_split(ds, splits.class_mask[s], splits.video_mask[s], name, cfg, seed=seed, compact=compact)
        if stats is not None:
            stats.kmeans_computed += 1
            stats.kmeans_s += time.perf_counter() - t0
        if path is not None and writer:
            os.makedirs(cache_dir, exist_ok=True)
            tmp = f"{path}.tmp{os.getpid()}.npz"
            np.savez(tmp, **c)
            os.replace(tmp, path)
        out[s] = c
        if log:
            log(f"k-means {ds.name} {name}")
    return out
