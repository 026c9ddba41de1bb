"""The sweep runner: one compiled program per static choice, vmapped rows.

A *study* (``experiments/configs/<name>.py``: ``get_config()`` returns a
:class:`Study`, an optional ``sweep()`` returns its grids) names datasets, a
protocol (class splits, :mod:`upt_jax.protocols`), a base
:class:`upt_jax.UPTConfig`, a list of static overrides (n_clusters, solver,
cost, target_mass, top_t, kmeans, frechet, ...) and traced grids (``lam``,
``epsilon``). A *row* is one (dataset, split, static config, lam, epsilon):
one full UPT run with its own transport, classified and measured.

How it runs (see ``../shared/STYLE.md``, experiments section):

1. Python loops over datasets and static configs (one compilation each).
2. k-means runs ONCE per (dataset, clustering config, split), one split
   after another through one compiled ``jit(cluster_videos)``, on the split's
   videos gathered into a padded block (``compact=True``, the default: a half
   split costs half of the full array) or on all ``N`` videos with the
   split's mask (``compact=False``: exactly what ``upt(..., video_mask=...)``
   does). Split ``s`` uses ``fold_in(PRNGKey(seed), crc32(split name))``.
   Centres are cached in memory and on disk (``<out>/cache/`` or
   ``--cache DIR``) and reused by every static config that shares the
   clustering (solver, cost, top_t, frechet) and by every lam and epsilon.
3. Rows of one static config are grouped by epsilon (a vmapped Sinkhorn
   iterates until its slowest member converges, so a slow epsilon would slow
   the others) and cut into chunks of ``chunk_rows``; a chunk is a flat batch
   of (split, lam) rows: ``jit(vmap(row))`` with ``row = transport_update +
   evaluate`` (the flat row axis is the split x hyper-parameter grid
   ``vmap(vmap(...))`` flattened, so it can be chunked and sharded).
4. With more than one device the row axis is sharded over a
   ``jax.sharding.Mesh`` (padded to a multiple of the device count); results
   equal one device's. Multi-host (``jax.distributed.initialize()``) runs the
   same code; process 0 writes the files.
5. After each chunk its rows are appended to ``results.jsonl`` (one write +
   fsync) and ``results.csv`` is rewritten atomically (temp + ``os.replace``).
   A restart skips every row already in ``results.jsonl``.
6. At the end: ``summary.md`` (mean +- std over the splits of each protocol
   family), ``plots/*.png`` and ``timings.json``.

Usage::

    python -m experiments.run experiments/configs/lam.py --out runs/lam
    upt sweep experiments/configs/lam.py --out runs/lam [--devices N]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import importlib.util
import itertools
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "Study",
    "Data",
    "SweepStats",
    "load_study",
    "resolve_dataset",
    "expand_static",
    "run_study",
    "read_rows",
    "write_summary",
    "write_plots",
    "main",
]

METRIC_KEYS = ("top1", "top5", "mean_class_accuracy", "unreachable", "n_videos", "n_classes")


# --------------------------------------------------------------------------- study


@dataclasses.dataclass(frozen=True)
class Study:
    """A study: what to run (all fields are plain data, written to config.json).

    Attributes:
      name: study name (row field ``study``; default output ``runs/<name>``).
      datasets: dataset specs: ``"world:ucf101:default:seed=0"`` (a generated
        default world), ``"synthetic:K=12:N=240:d=16:seed=0"`` (a tiny
        built-in blob world, for tests), or a data folder path (either
        layout of :func:`upt_jax.data.load_dataset`).
      protocol: split spec of :func:`upt_jax.protocols.from_spec`: ``"all"``,
        ``"half"`` (Brattoli seeds 0..9), ``"half:3"``, ``"half+all"``, or a
        list of class subsets.
      base: base :class:`upt_jax.UPTConfig` as a dict of fields.
      static: static variants, each a dict of UPTConfig overrides; the
        strings ``"K"`` (classes per split) and ``"N"`` (no clustering) are
        accepted for ``n_clusters``. Empty = just ``base``.
      lam: traced grid of lam values (fraction travelled).
      epsilon: traced grid of Sinkhorn epsilons (EMD rows ignore it and
        record ``epsilon = None``).
      seed: k-means seed; split ``s`` uses ``fold_in(PRNGKey(seed), s)``.
      chunk_rows: rows per compiled batch (padded to the device count).
      compact: gather each split's videos before k-means (halves k-means
        time on half splits); False clusters the full masked array.
      description: free text.
    """

    name: str = "study"
    datasets: tuple = ("world:ucf101:default:seed=0",)
    protocol: Any = "half"
    base: dict = dataclasses.field(default_factory=dict)
    static: tuple = ()
    lam: tuple = (0.5,)
    epsilon: tuple = (1e-2,)
    seed: int = 0
    chunk_rows: int = 128
    compact: bool = True
    description: str = ""

    def replace(self, **changes) -> "Study":
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["datasets"] = [x if isinstance(x, str) else getattr(x, "name", "custom") for x in self.datasets]
        d["static"] = [dict(s) for s in self.static]
        d["lam"] = [float(x) for x in self.lam]
        d["epsilon"] = [float(x) for x in self.epsilon]
        return d


def _ensure_repo_on_path() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)


def load_study(path: str, overrides: dict | None = None) -> Study:
    """Load ``get_config()`` (and optional ``sweep()``) from a config file.

    Args:
      path: a ``.py`` file path or a module name (``experiments.configs.lam``).
      overrides: optional Study field overrides.

    Returns:
      :class:`Study`.
    """
    _ensure_repo_on_path()
    if os.path.exists(path):
        spec = importlib.util.spec_from_file_location(f"_upt_study_{abs(hash(path))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    elif path.endswith(".py"):
        raise FileNotFoundError(f"study config {path!r} not found; see experiments/configs/ for ready studies")
    else:
        module = importlib.import_module(path)
    if not hasattr(module, "get_config"):
        raise ValueError(f"study config {path!r} defines no get_config(); see experiments/configs/smoke.py")
    study = module.get_config()
    if isinstance(study, dict):
        study = Study(**study)
    if hasattr(module, "sweep"):
        grids = dict(module.sweep())
        for k in ("static", "lam", "epsilon"):
            if k in grids:
                grids[k] = tuple(grids[k])
        study = study.replace(**grids)
    if overrides:
        study = study.replace(**overrides)
    return study


# --------------------------------------------------------------------------- data


@dataclasses.dataclass
class Data:
    """Host arrays of one dataset (``[K, d]`` prototypes, ``[N, d]`` videos, ``[N]`` labels)."""

    name: str
    class_names: list
    prototypes: np.ndarray
    videos: np.ndarray
    labels: np.ndarray


def _parse_kv(parts: Sequence[str]) -> dict:
    out = {}
    for p in parts:
        if not p:
            continue
        if "=" not in p:
            raise ValueError(f"dataset spec part {p!r} should be key=value")
        k, v = p.split("=", 1)
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def synthetic_data(K: int = 12, N: int = 240, d: int = 16, seed: int = 0, spread: float = 1.5, bias: float = 1.5) -> Data:
    """A tiny blob world for tests and smoke runs (NOT the default world).

    Class prototypes are random unit vectors; videos are their class's
    prototype plus a shared bias direction plus noise, so some classes are
    never predicted by the raw prototypes and UPT has something to fix.
    """
    rng = np.random.default_rng(seed)
    protos = rng.normal(size=(K, d))
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    labels = np.sort(np.concatenate([np.arange(K), rng.integers(0, K, size=N - K)])).astype(np.int32)
    centres = protos + 0.5 * rng.normal(size=(K, d)) / np.sqrt(d)
    shift = rng.normal(size=d)
    shift /= np.linalg.norm(shift)
    videos = centres[labels] + bias * shift + spread * rng.normal(size=(N, d)) / np.sqrt(d)
    return Data(
        name=f"synthetic:K={K}:N={N}:d={d}:seed={seed}",
        class_names=[f"class{i:03d}" for i in range(K)],
        prototypes=protos.astype(np.float32),
        videos=videos.astype(np.float32),
        labels=labels,
    )


def resolve_dataset(spec) -> Data:
    """Load a dataset spec into :class:`Data` (see :class:`Study`)."""
    if not isinstance(spec, str):
        name = getattr(spec, "name", "custom")
        return Data(
            str(name),
            list(spec.class_names),
            np.asarray(spec.prototypes, np.float32),
            np.asarray(spec.videos, np.float32),
            np.asarray(spec.labels, np.int32),
        )
    if spec.startswith("synthetic"):
        parts = spec.split(":")[1:]
        return synthetic_data(**_parse_kv(parts))
    if spec.startswith("world:"):
        parts = spec.split(":")[1:]
        if not parts:
            raise ValueError(f"dataset spec {spec!r}: use world:NAME[:PRESET][:seed=S], e.g. world:ucf101:default:seed=0")
        name = parts[0]
        preset = parts[1] if len(parts) > 1 and "=" not in parts[1] else "default"
        kw = _parse_kv([p for p in parts[1:] if "=" in p])
        from upt_jax.world import generate_world, make_world_config

        w = generate_world(make_world_config(name, preset, **kw))
        return Data(
            spec,
            list(w.class_names),
            np.asarray(w.prototypes, np.float32),
            np.asarray(w.videos, np.float32),
            np.asarray(w.labels, np.int32),
        )
    if os.path.exists(spec):
        from upt_jax.data import load_dataset

        ds = load_dataset(spec)
        return Data(
            spec,
            list(ds.class_names),
            np.asarray(ds.prototypes, np.float32),
            np.asarray(ds.videos, np.float32),
            np.asarray(ds.labels, np.int32),
        )
    raise FileNotFoundError(
        f"dataset {spec!r}: not a folder and not a spec; use a data folder, "
        "'world:ucf101:default:seed=0' or 'synthetic:K=12:N=240:d=16:seed=0'"
    )


# --------------------------------------------------------------------------- static configs


def expand_static(study: Study, n_videos: int, split_classes: np.ndarray):
    """Resolve the static variants of a study for one dataset.

    Returns a list of ``(UPTConfig, overrides dict, label str)``. ``"N"`` for
    ``n_clusters`` means no clustering (0); ``"K"`` the number of classes per
    split (all splits must have the same number).
    """
    import upt_jax as U

    base = U.UPTConfig(**dict(study.base))
    variants = list(study.static) or [{}]
    varying = sorted({k for v in variants for k in v if len({repr(w.get(k)) for w in variants}) > 1})
    out = []
    for v in variants:
        over = dict(v)
        nc = over.get("n_clusters")
        if isinstance(nc, str):
            if nc == "N":
                over["n_clusters"] = 0
            elif nc == "K":
                ks = set(int(x) for x in split_classes)
                if len(ks) != 1:
                    raise ValueError(f"n_clusters='K' needs splits with one class count, got {sorted(ks)}")
                over["n_clusters"] = ks.pop()
            else:
                raise ValueError(f"n_clusters={nc!r}: use an int, 'K' or 'N'")
        cfg = base.replace(**over)
        if cfg.n_clusters >= n_videos:
            cfg = cfg.replace(n_clusters=0)
        label = ",".join(f"{k}={v.get(k, getattr(base, k, None))}" for k in varying) or "base"
        out.append((cfg, over, label))
    return out


def _cfg_hash(cfg, study: Study) -> str:
    blob = json.dumps({"cfg": cfg.as_dict(), "seed": study.seed, "compact": study.compact}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _data_checksum(data: Data) -> str:
    h = hashlib.sha1()
    for arr in (data.prototypes, data.videos, data.labels):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def _clustering_code_hash() -> str:
    """Hash of the clustering code, so cached centres go stale when it changes."""
    import upt_jax
    from upt_jax import api, cluster

    h = hashlib.sha1(upt_jax.__version__.encode())
    for mod in (cluster, api):
        with open(mod.__file__, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:12]


def _split_hash(cfg, study: Study, checksum: str, split_name: str, class_mask: np.ndarray) -> str:
    """Identity of one split's centres (for the on-disk cache)."""
    keys = ("n_clusters", "kmeans", "kmeans_restarts", "kmeans_max_iter", "kmeans_tol", "kmeans_screen_iters", "target_mass")
    blob = json.dumps(
        {
            "data": checksum,
            "cfg": {k: getattr(cfg, k) for k in keys},
            "seed": study.seed,
            "compact": study.compact,
            "split": split_name,
            "classes": np.flatnonzero(class_mask).tolist(),
            "code": _clustering_code_hash(),
        },
        sort_keys=True,
    )
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def _fmt(x) -> str:
    return "None" if x is None else f"{float(x):.6g}"


def row_key(dataset: str, split: str, cfg_hash: str, lam, eps) -> str:
    """Identity of a row (what resume compares)."""
    return f"{dataset}|{split}|{cfg_hash}|lam={_fmt(lam)}|eps={_fmt(eps)}"


# --------------------------------------------------------------------------- compute


def split_key(seed: int, split_name: str):
    """PRNG key of a split's k-means: ``fold_in(PRNGKey(seed), crc32(name))``
    (depends on the split's name, not on its position in the protocol)."""
    import zlib

    import jax

    return jax.random.fold_in(jax.random.PRNGKey(int(seed)), zlib.crc32(split_name.encode()) & 0x7FFFFFFF)


def compact_length(count: int, n: int) -> int:
    """Padded length of a split of ``count`` videos out of ``n`` (a function of
    the split alone, so its centres do not depend on the other splits):
    ``count`` rounded up to a multiple of ``max(64, 2**(floor(log2 n) - 3))``,
    at most ``n``."""
    step = max(64, 2 ** max(int(np.floor(np.log2(max(n, 1)))) - 3, 0))
    return int(min(n, -(-int(count) // step) * step))


@functools.lru_cache(maxsize=64)
def _centres_fn(cfg):
    """``jit(cluster_videos)`` of one split (cached: one compile per config and shape).

    Splits run one after the other (a Python loop over one compiled program):
    vmapping k-means over splits would make every split iterate as long as the
    slowest one and multiply the ``[restarts, n, C]`` distance block by S.
    """
    import jax

    import upt_jax as U

    def one(videos, key, vmask):
        c = U.cluster_videos(videos, cfg, key, vmask)
        return c._replace(assignment=c.assignment[:1])

    return jax.jit(one)


_CENTRE_FIELDS = ("points", "mass", "sizes", "mask", "inertia", "kmeans_iters")


def centres_of_split(data: Data, class_mask: np.ndarray, video_mask: np.ndarray, name: str, cfg, study: Study) -> dict:
    """k-means (or no clustering) of one split: host arrays ``points [C, d]``,
    ``mass``, ``sizes``, ``mask`` ``[C]``, ``inertia``, ``kmeans_iters`` ``[]``.

    With ``study.compact`` the split's videos are gathered into a block of
    :func:`compact_length` rows (padding masked); otherwise k-means sees all
    ``N`` videos with the split's video mask (the exact call
    ``upt(..., video_mask=...)`` makes). No clustering (C = 0 or C >= N) always
    uses the full masked array. The key is :func:`split_key`.
    """
    n = data.videos.shape[0]
    count = int(video_mask.sum())
    no_clust = cfg.n_clusters == 0 or cfg.n_clusters >= n
    if not no_clust and cfg.n_clusters > count:
        raise ValueError(
            f"n_clusters={cfg.n_clusters} is larger than split {name!r} ({count} videos) of "
            f"{data.name}; lower n_clusters or use 'N' (no clustering)"
        )
    fn = _centres_fn(cfg)
    key = split_key(study.seed, name)
    if no_clust or not study.compact:
        res = fn(data.videos, key, video_mask)
    else:
        m = compact_length(count, n)
        idx = np.zeros(m, np.int64)
        idx[:count] = np.flatnonzero(video_mask)
        pad = np.arange(m) < count
        res = fn(data.videos[idx], key, pad)
    return {k: np.asarray(getattr(res, k)) for k in _CENTRE_FIELDS}


def compute_centres(
    data: Data,
    splits,
    cfg,
    study: Study,
    *,
    cache_dir: str | None = None,
    log: Callable[[str], None] | None = None,
    stats: "SweepStats | None" = None,
) -> dict:
    """Centres of every split, stacked: ``points [S, C, d]``, ``mass``,
    ``sizes``, ``mask`` ``[S, C]``, ``inertia``, ``kmeans_iters`` ``[S]``.

    Each split's centres are read from ``cache_dir`` when present (keyed by
    the data, the clustering fields of ``cfg``, the seed, ``compact`` and the
    split), else computed with :func:`centres_of_split` and written there.
    """
    checksum = _data_checksum(data)
    out = []
    for s, name in enumerate(splits.names):
        path = None
        if cache_dir is not None:
            h = _split_hash(cfg, study, checksum, name, splits.class_mask[s])
            path = os.path.join(cache_dir, f"centres-{h}.npz")
        if path is not None and os.path.exists(path):
            with np.load(path) as z:
                out.append({k: z[k] for k in _CENTRE_FIELDS})
            if stats is not None:
                stats.kmeans_loaded += 1
            continue
        t0 = time.perf_counter()
        c = centres_of_split(data, splits.class_mask[s], splits.video_mask[s], name, cfg, study)
        if stats is not None:
            stats.kmeans_computed += 1
            stats.kmeans_s += time.perf_counter() - t0
        if path is not None and _is_writer():
            tmp = f"{path}.tmp{os.getpid()}.npz"
            np.savez(tmp, **c)
            os.replace(tmp, path)
        out.append(c)
        if log:
            log(f"k-means {s + 1}/{len(splits)}")
    return {k: np.stack([c[k] for c in out]) for k in _CENTRE_FIELDS}


def _is_writer() -> bool:
    import jax

    return jax.process_index() == 0


def make_row_fn(cfg):
    """``row(protos, videos, labels, centres, class_masks, video_masks, split, lam, eps) -> dict``.

    One row: transport the prototypes to split ``split``'s centres with
    hyper-parameters (lam, eps), classify the split's videos, and return
    scalars only (metrics and diagnostics). ``vmap`` it over (split, lam, eps).
    """
    import jax.numpy as jnp

    import upt_jax as U

    def row(protos, videos, labels, centres, class_masks, video_masks, split, lam, eps):
        c = U.Centres(
            points=centres["points"][split],
            mass=centres["mass"][split],
            sizes=centres["sizes"][split],
            mask=centres["mask"][split],
            assignment=jnp.zeros((1,), jnp.int32),
            inertia=centres["inertia"][split],
            kmeans_iters=centres["kmeans_iters"][split],
        )
        cm = class_masks[split]
        vm = video_masks[split]
        new, diag = U.transport_update(protos, c, cfg, U.UPTHyper(lam=lam, epsilon=eps), cm)
        m = U.evaluate(new, videos, labels, class_mask=cm, video_mask=vm)
        live = cm & ~diag.empty_rows
        nlive = jnp.maximum(jnp.sum(live), 1)
        ncm = jnp.maximum(jnp.sum(cm), 1)
        deg = 180.0 / jnp.pi
        return {
            "top1": m.top1,
            "top5": m.top5,
            "mean_class_accuracy": m.mean_class_accuracy,
            "unreachable": m.unreachable,
            "n_videos": m.n_videos,
            "n_classes": m.n_classes,
            "converged": diag.converged,
            "n_iters": diag.n_iters,
            "marginal_error": diag.marginal_error,
            "transport_cost": diag.transport_cost,
            "frechet_iters_max": jnp.max(jnp.where(live, diag.frechet_iters, 0)),
            "frechet_iters_mean": jnp.sum(jnp.where(live, diag.frechet_iters, 0)) / nlive,
            "frechet_grad_norm_max": jnp.max(jnp.where(live, diag.frechet_grad_norm, 0.0)),
            "frechet_converged": jnp.all(jnp.where(live, diag.frechet_converged, True)),
            "empty_rows": jnp.sum(diag.empty_rows).astype(jnp.int32),
            "moved_angle_deg": deg * jnp.sum(jnp.where(cm, diag.moved_angle, 0.0)) / ncm,
            "target_angle_deg": deg * jnp.sum(jnp.where(cm, diag.target_angle, 0.0)) / ncm,
            "n_centres": jnp.sum(diag.centres.mask).astype(jnp.int32),
            "kmeans_inertia": diag.kmeans_inertia,
            "kmeans_iters": diag.kmeans_iters,
        }

    return row


@functools.lru_cache(maxsize=64)
def _compiled(cfg, devices: tuple) -> "_Compiled":
    return _Compiled(cfg, devices)


class _Compiled:
    """A row function jitted (and sharded over ``devices``) for one static config."""

    def __init__(self, cfg, devices):
        import jax
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

        self.devices = list(devices)
        self.mesh = Mesh(np.array(self.devices), ("rows",))
        self.rows = NamedSharding(self.mesh, P("rows"))
        self.rep = NamedSharding(self.mesh, P())
        vrow = jax.vmap(make_row_fn(cfg), in_axes=(None,) * 6 + (0, 0, 0))
        self.fn = jax.jit(vrow, in_shardings=(self.rep,) * 6 + (self.rows,) * 3, out_shardings=self.rows)

    def put(self, x, sharding):
        import jax

        x = np.asarray(x)
        if jax.process_count() == 1:
            return jax.device_put(x, sharding)
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])

    def put_tree(self, tree, sharding):
        import jax

        return jax.tree_util.tree_map(lambda x: self.put(x, sharding), tree)

    def fetch(self, tree):
        import jax

        if jax.process_count() == 1:
            return jax.tree_util.tree_map(np.asarray, tree)
        from jax.experimental import multihost_utils

        return jax.tree_util.tree_map(lambda x: np.asarray(multihost_utils.process_allgather(x, tiled=True)), tree)


# --------------------------------------------------------------------------- io


def _environment(devices) -> dict:
    import jax

    try:
        import ott

        ott_version = getattr(ott, "__version__", "unknown")
    except Exception:  # pragma: no cover
        ott_version = "missing"
    d0 = devices[0]
    return {
        "jax_version": jax.__version__,
        "ott_version": ott_version,
        "device_kind": getattr(d0, "device_kind", str(d0.platform)),
        "platform": d0.platform,
        "n_devices": len(devices),
        "n_processes": jax.process_count(),
        "host": platform.node(),
    }


def read_rows(out_dir: str, repair: bool = False) -> list[dict]:
    """Rows of ``results.jsonl`` (a torn last line, from a crash mid-write, is
    dropped; ``repair=True`` also truncates it from the file)."""
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


def _append_rows(out_dir: str, rows: list[dict]) -> None:
    path = os.path.join(out_dir, "results.jsonl")
    blob = "".join(json.dumps(r, sort_keys=True, default=_json_default) + "\n" for r in rows).encode()
    with open(path, "ab") as f:
        f.write(blob)
        f.flush()
        os.fsync(f.fileno())


def _json_default(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x)}")


def _atomic_write(path: str, text: str | bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    mode = "wb" if isinstance(text, bytes) else "w"
    with open(tmp, mode) as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _flat(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, dict):
            for k2, v2 in v.items():
                out[f"{k}.{k2}"] = v2
        else:
            out[k] = v
    return out


def write_csv(out_dir: str, rows: list[dict]) -> None:
    """``results.csv`` from the rows (atomic)."""
    import csv
    import io

    flat = [_flat(r) for r in rows]
    cols = []
    for r in flat:
        for k in r:
            if k not in cols:
                cols.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in flat:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    _atomic_write(os.path.join(out_dir, "results.csv"), buf.getvalue())


# --------------------------------------------------------------------------- runner


@dataclasses.dataclass
class SweepStats:
    """What a call to :func:`run_study` did.

    Attributes:
      rows_total: rows of the study; rows_skipped: already in results.jsonl;
      rows_computed: computed now; chunks_computed; kmeans_computed: split
      clusterings computed (one per dataset x clustering config x split);
      kmeans_loaded: split clusterings read from the cache; wall_s, kmeans_s, rows_s:
      seconds (rows_s = transport + evaluation incl. compilation).
    """

    rows_total: int = 0
    rows_skipped: int = 0
    rows_computed: int = 0
    chunks_computed: int = 0
    kmeans_computed: int = 0
    kmeans_loaded: int = 0
    wall_s: float = 0.0
    kmeans_s: float = 0.0
    rows_s: float = 0.0
    out_dir: str = ""


def _devices(n: int | None):
    import jax

    devs = jax.devices()
    if n is None or n <= 0:
        return devs
    if n > len(devs):
        raise ValueError(f"--devices {n}: only {len(devs)} device(s) visible ({devs[0].platform})")
    return devs[:n]


def run_study(
    study: Study,
    out_dir: str,
    *,
    devices: int | None = None,
    progress: bool = True,
    max_chunks: int | None = None,
    on_chunk: Callable[[dict], None] | None = None,
    datasets: dict | None = None,
    write_reports: bool = True,
    cache_dir: str | None = None,
) -> SweepStats:
    """Run (or resume) a study into ``out_dir``.

    Args:
      study: the :class:`Study`.
      out_dir: output folder (created); rows already in its results.jsonl
        are skipped.
      devices: number of devices to shard rows over (default: all visible).
      progress: show a tqdm bar over rows.
      max_chunks: stop (cleanly) after computing this many chunks.
      on_chunk: called after each chunk is written with
        ``{"chunk": i, "rows": n, "keys": [...]}``; an exception stops the run
        (the chunk is already safe on disk).
      datasets: optional ``{spec: Data-like}`` to use instead of loading.
      write_reports: write summary.md and plots at the end.
      cache_dir: where per-split centres are cached (default
        ``<out_dir>/cache``); share one folder between studies to reuse
        k-means (e.g. ``runs/cache``).

    Returns:
      :class:`SweepStats`.
    """
    import jax

    import upt_jax as U
    from upt_jax import protocols

    t_start = time.perf_counter()
    stats = SweepStats(out_dir=out_dir)
    devs = _devices(devices)
    ndev = len(devs)
    env = _environment(devs)
    is_writer = jax.process_index() == 0
    cache = cache_dir or os.path.join(out_dir, "cache")
    if is_writer:
        os.makedirs(out_dir, exist_ok=True)
        os.makedirs(cache, exist_ok=True)
    done_rows = read_rows(out_dir, repair=is_writer)
    done = {r["row_key"] for r in done_rows}
    all_rows = list(done_rows)
    resolved = {"study": study.to_json(), "environment": env, "datasets": {}}

    # ---- plan every row first (for the progress bar)
    plan = []  # (spec, data, splits, [(cfg, over, label, chash, [(eps, [(s, lam)])])])
    for spec in study.datasets:
        key = spec if isinstance(spec, str) else getattr(spec, "name", "custom")
        data = resolve_dataset(datasets[key] if datasets and key in datasets else spec)
        splits = protocols.from_spec(study.protocol, data.labels, data.prototypes.shape[0], data.class_names)
        U.check_inputs(data.prototypes, data.videos, labels=data.labels)
        statics = expand_static(study, data.videos.shape[0], splits.n_classes)
        resolved["datasets"][data.name] = {
            "K": int(data.prototypes.shape[0]),
            "N": int(data.videos.shape[0]),
            "d": int(data.prototypes.shape[1]),
            "splits": list(splits.names),
            "split_classes": [int(x) for x in splits.n_classes],
            "split_videos": [int(x) for x in splits.n_videos],
            "static": [
                {"label": lb, "overrides": ov, "config": cfg.as_dict(), "cfg_hash": _cfg_hash(cfg, study)}
                for cfg, ov, lb in statics
            ],
        }
        per_static = []
        for cfg, over, label in statics:
            chash = _cfg_hash(cfg, study)
            eps_grid = [None] if cfg.solver == "emd" else [float(e) for e in study.epsilon]
            groups = []
            for eps in eps_grid:
                todo = []
                for s, lam in itertools.product(range(len(splits)), study.lam):
                    stats.rows_total += 1
                    if row_key(data.name, splits.names[s], chash, lam, eps) in done:
                        stats.rows_skipped += 1
                    else:
                        todo.append((s, float(lam)))
                groups.append((eps, todo))
            per_static.append((cfg, over, label, chash, groups))
        plan.append((data, splits, per_static))
    if is_writer:
        _atomic_write(os.path.join(out_dir, "config.json"), json.dumps(resolved, indent=2, default=_json_default))

    bar = None
    if progress and is_writer:
        from tqdm.auto import tqdm

        bar = tqdm(total=stats.rows_total, initial=stats.rows_skipped, unit="row", desc=study.name, smoothing=0.1)

    timings = {"kmeans": [], "chunks": []}
    centres_mem: dict[str, dict] = {}
    stop = False
    try:
        for data, splits, per_static in plan:
            if stop:
                break
            for cfg, over, label, chash, groups in per_static:
                if stop:
                    break
                if not any(todo for _, todo in groups):
                    continue
                # ---- centres: once per (dataset, clustering config, split), cached on disk
                khash = (data.name, _split_hash(cfg, study, "", "", np.zeros(0, bool)))
                if khash not in centres_mem:
                    t0 = time.perf_counter()
                    centres_mem[khash] = compute_centres(
                        data,
                        splits,
                        cfg,
                        study,
                        cache_dir=cache,
                        log=(bar.set_postfix_str if bar is not None else None),
                        stats=stats,
                    )
                    timings["kmeans"].append(
                        {"dataset": data.name, "n_clusters": cfg.n_clusters, "splits": len(splits),
                         "seconds": time.perf_counter() - t0}
                    )
                centres = centres_mem[khash]
                comp = _compiled(cfg, tuple(devs))
                shared = comp.put_tree(
                    (data.prototypes, data.videos, data.labels, centres, splits.class_mask, splits.video_mask), comp.rep
                )
                config_dict = cfg.as_dict()
                for eps, todo in groups:
                    if stop:
                        break
                    if not todo:
                        continue
                    size = min(int(study.chunk_rows), len(todo))
                    size = -(-size // ndev) * ndev
                    for start in range(0, len(todo), size):
                        if max_chunks is not None and stats.chunks_computed >= max_chunks:
                            stop = True
                            break
                        t0 = time.perf_counter()
                        part = todo[start : start + size]
                        pad = size - len(part)
                        idx = np.array([s for s, _ in part] + [part[-1][0]] * pad, np.int32)
                        lams = np.array([lam for _, lam in part] + [part[-1][1]] * pad, np.float32)
                        epss = np.full((size,), 1e-2 if eps is None else eps, np.float32)
                        out = comp.fetch(
                            comp.fn(*shared, comp.put(idx, comp.rows), comp.put(lams, comp.rows), comp.put(epss, comp.rows))
                        )
                        dt = time.perf_counter() - t0
                        rows = []
                        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
                        for j, (s, lam) in enumerate(part):
                            r = {
                                "study": study.name,
                                "dataset": data.name,
                                "protocol": splits.family[s],
                                "split": splits.names[s],
                                "split_index": s,
                                "static": label,
                                "lam": lam,
                                "epsilon": eps,
                                "cfg_hash": chash,
                                "row_key": row_key(data.name, splits.names[s], chash, lam, eps),
                                "seed": study.seed,
                                "compact": study.compact,
                            }
                            for k, v in out.items():
                                v = v[j]
                                r[k] = bool(v) if v.dtype == np.bool_ else (int(v) if np.issubdtype(v.dtype, np.integer) else float(v))
                            r["config"] = config_dict
                            r.update(env)
                            r["chunk_seconds"] = dt
                            r["time"] = stamp
                            rows.append(r)
                        if is_writer:
                            _append_rows(out_dir, rows)
                            all_rows.extend(rows)
                            write_csv(out_dir, all_rows)
                        stats.rows_computed += len(rows)
                        stats.chunks_computed += 1
                        stats.rows_s += dt
                        timings["chunks"].append(
                            {"dataset": data.name, "static": label, "epsilon": eps, "rows": len(rows), "padded": size, "seconds": dt}
                        )
                        if bar is not None:
                            bar.update(len(rows))
                        if on_chunk is not None:
                            on_chunk({"chunk": stats.chunks_computed - 1, "rows": len(rows), "keys": [r["row_key"] for r in rows]})
    finally:
        if bar is not None:
            bar.close()
        stats.wall_s = time.perf_counter() - t_start
        if is_writer:
            tpath = os.path.join(out_dir, "timings.json")
            _atomic_write(tpath, json.dumps({"stats": dataclasses.asdict(stats), **timings, "environment": env}, indent=2))
    if is_writer and write_reports:
        write_summary(out_dir, all_rows, study)
        write_plots(out_dir, all_rows)
    return stats


# --------------------------------------------------------------------------- reports


def _groups(rows: list[dict]):
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        k = (r["dataset"], r["protocol"], r["static"], r["cfg_hash"], r["epsilon"], r["lam"])
        groups.setdefault(k, []).append(r)
    return groups


def _ms(vals) -> tuple[float, float]:
    a = np.asarray(vals, np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def summary_table(rows: list[dict]) -> list[dict]:
    """Mean and std over splits per (dataset, protocol, static, epsilon, lam)."""
    out = []
    order: dict[str, int] = {}  # static variants in the study's order
    for r in rows:
        order.setdefault(r["static"], len(order))
    for (ds, proto, static, chash, eps, lam), rs in sorted(
        _groups(rows).items(),
        key=lambda kv: (kv[0][0], kv[0][1], order[kv[0][2]], -1 if kv[0][4] is None else kv[0][4], kv[0][5]),
    ):
        t = {"dataset": ds, "protocol": proto, "static": static, "epsilon": eps, "lam": lam, "splits": len(rs)}
        for k in ("top1", "top5", "mean_class_accuracy", "unreachable", "n_iters"):
            t[k], t[k + "_std"] = _ms([r[k] for r in rs])
        t["converged"] = float(np.mean([r["converged"] for r in rs]))
        out.append(t)
    return out


def write_summary(out_dir: str, rows: list[dict], study: Study | None = None) -> str:
    """``summary.md``: one table per (dataset, protocol), mean +- std over splits."""
    table = summary_table(rows)
    lines = [f"# Study `{study.name if study else '?'}`", ""]
    if study is not None and study.description:
        lines += [study.description.strip(), ""]
    if rows:
        r0 = rows[0]
        lines += [
            f"jax {r0.get('jax_version')}, ott-jax {r0.get('ott_version')}, device {r0.get('device_kind')} "
            f"x{r0.get('n_devices')}; {len(rows)} rows. Accuracies in percent, mean +- std over splits.",
            "",
        ]
    key = None
    for t in table:
        k = (t["dataset"], t["protocol"])
        if k != key:
            key = k
            lines += [
                "",
                f"## {t['dataset']} / {t['protocol']}",
                "",
                "| static | epsilon | lam | splits | top-1 | top-5 | mean class acc | unreachable | converged | Sinkhorn iters |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
        eps = "-" if t["epsilon"] is None else f"{t['epsilon']:g}"
        lines.append(
            f"| {t['static']} | {eps} | {t['lam']:.2f} | {t['splits']} | {t['top1']:.2f} ± {t['top1_std']:.2f} | "
            f"{t['top5']:.2f} ± {t['top5_std']:.2f} | {t['mean_class_accuracy']:.2f} ± {t['mean_class_accuracy_std']:.2f} | "
            f"{t['unreachable']:.1f} ± {t['unreachable_std']:.1f} | {100 * t['converged']:.0f}% | {t['n_iters']:.0f} |"
        )
    text = "\n".join(lines) + "\n"
    _atomic_write(os.path.join(out_dir, "summary.md"), text)
    return text


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:120]


def write_plots(out_dir: str, rows: list[dict]) -> list[str]:
    """One PNG per (dataset, protocol): top-1 and unreachable classes against
    the axis that varies (lam, else epsilon, else the static variant), mean
    with a +-std band over splits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summary_table(rows)
    os.makedirs(os.path.join(out_dir, "plots"), exist_ok=True)
    paths = []
    by_dp: dict[tuple, list[dict]] = {}
    for t in table:
        by_dp.setdefault((t["dataset"], t["protocol"]), []).append(t)
    for (ds, proto), ts in by_dp.items():
        lams = sorted({t["lam"] for t in ts})
        epss = sorted({t["epsilon"] for t in ts if t["epsilon"] is not None})
        if len(lams) > 1:
            xname = "lam"
        elif len(epss) > 1:
            xname = "epsilon"
        else:
            xname = "static"
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, metric, title in ((axes[0], "top1", "top-1 (%)"), (axes[1], "unreachable", "classes never predicted")):
            if xname == "static":
                labels = [t["static"] for t in ts]
                m = [t[metric] for t in ts]
                sd = [t[metric + "_std"] for t in ts]
                ax.bar(range(len(ts)), m, yerr=sd, capsize=3)
                ax.set_xticks(range(len(ts)))
                ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
            else:
                lines: dict[str, list[dict]] = {}
                for t in ts:
                    if xname == "lam":
                        name = t["static"] + ("" if len(epss) <= 1 or t["epsilon"] is None else f", eps={t['epsilon']:g}")
                    else:
                        name = t["static"] + (f", lam={t['lam']:g}" if len(lams) > 1 else "")
                        if t["epsilon"] is None:
                            continue
                    lines.setdefault(name, []).append(t)
                for name, pts in lines.items():
                    pts = sorted(pts, key=lambda t: t[xname])
                    x = np.array([t[xname] for t in pts], float)
                    m = np.array([t[metric] for t in pts])
                    sd = np.array([t[metric + "_std"] for t in pts])
                    ax.plot(x, m, marker="o", ms=3, label=name)
                    ax.fill_between(x, m - sd, m + sd, alpha=0.2)
                # EMD rows (no epsilon) as horizontal references on epsilon plots
                if xname == "epsilon":
                    for t in ts:
                        if t["epsilon"] is None:
                            ax.axhline(t[metric], ls="--", color="k", lw=1, label=f"{t['static']} (exact)")
                    ax.set_xscale("log")
                ax.set_xlabel(xname)
                ax.legend(fontsize=7)
            ax.set_title(title)
            ax.grid(alpha=0.3)
        fig.suptitle(f"{ds} / {proto} (mean ± std over splits)", fontsize=9)
        fig.tight_layout()
        path = os.path.join(out_dir, "plots", f"{_safe(ds)}__{_safe(proto)}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments shared by ``python -m experiments.run`` and ``upt sweep``."""
    parser.add_argument("config", help="study config file, e.g. experiments/configs/lam.py")
    parser.add_argument("--out", default=None, help="output folder (default runs/<study name>); resumes if it exists")
    parser.add_argument("--devices", type=int, default=None, help="shard rows over this many devices (default: all)")
    parser.add_argument("--chunk-rows", type=int, default=None, help="rows per compiled batch (default: the study's)")
    parser.add_argument("--max-chunks", type=int, default=None, help="stop after this many chunks (resume later)")
    parser.add_argument(
        "--cache", default=None, help="folder of cached k-means centres (default OUT/cache; share it between studies)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--distributed",
        action="store_true",
        help="call jax.distributed.initialize() first (multi-host: TPU pod slice, multi-node GPU)",
    )


def run_from_args(args) -> int:
    if args.distributed:
        import jax

        jax.distributed.initialize()
    overrides = {}
    if args.chunk_rows:
        overrides["chunk_rows"] = args.chunk_rows
    study = load_study(args.config, overrides)
    out = args.out or os.path.join("runs", study.name)
    stats = run_study(
        study,
        out,
        devices=args.devices,
        progress=not args.no_progress,
        max_chunks=args.max_chunks,
        cache_dir=args.cache,
    )
    rate = stats.rows_computed / stats.wall_s if stats.wall_s > 0 else float("nan")
    print(
        f"{study.name}: {stats.rows_computed} rows computed, {stats.rows_skipped} already done, "
        f"{stats.rows_total} total; {stats.wall_s:.1f} s ({rate:.2f} rows/s; k-means {stats.kmeans_s:.1f} s "
        f"x{stats.kmeans_computed}, rows {stats.rows_s:.1f} s) -> {out}/summary.md"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.run", description="Run a upt_jax study (resumable).")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
