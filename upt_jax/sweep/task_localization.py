"""The localization task of the sweep runner: video-mAP over a grid, resumably.

A study with ``task="localization"`` runs zero-shot spatio-temporal
localization (:mod:`upt_jax.localization`) on each of its datasets over the
product of its grids::

    static variants (looped; one compilation each)
      x epsilon (traced; one call per value: a transport serves a whole call)
        x lam x top-n objects x IoU weight x max gap (traced, one call)

Datasets: ``"world:ucf-sports|jhmdb|ucf101-24[:PRESET][:field=value...]"``
(a simulated localization world, :func:`upt_jax.localization.world.make_world_config`;
``field`` any :class:`~upt_jax.localization.world.LocWorldConfig` field, e.g.
``seed=1`` or ``n_videos=20``) or a portable localization folder
(``upt export --world ...``, ``upt import-detections``). A localization test
set has no class splits: ``protocol`` must be ``"all"``; each dataset is one
``split`` named ``"test"``.

Study fields as the localization task reads them:

- ``base``: :class:`upt_jax.localization.LocalizationConfig` fields (tubes,
  object_transport, solver, cost, frechet, thresholds, ...);
- ``static``: a list of LocalizationConfig overrides, one compilation each
  (``top_objects`` is a grid here, not a static choice);
- ``lam``, ``epsilon``: as for classification (variants with EMD or without
  a transport ignore epsilon: ``epsilon = None`` in their rows);
- ``grids``: ``{"top_objects": [...], "iou_weight": [...], "max_dist":
  [...]}`` (defaults ``[1]``, ``[1.0]``, ``[25.0]``; ``base`` may set the
  default ``top_objects``);
- ``chunk_rows``: rows per compiled call; a call holds
  ``max(1, chunk_rows // (N * W * M))`` lam values (so at least one lam
  value's rows), padded by repeating the last one.

One call is :func:`upt_jax.localization.localize_grid` at every grid point
of its lam values: the object transport is solved once per call and its
Frechet targets serve every lam, a video's object terms are computed once per
max gap, and scoring, linking and evaluation are vmapped over the grid
inside a loop over batches of videos. The top-n objects are a traced grid:
an action's top-n objects are the first n of its top ``max(top_objects)``.
Row for row the numbers equal ``localize(inputs, config.replace(top_objects=n),
LocalizationHyper(lam, iou_weight, max_dist, epsilon))`` and ``upt localize``
with those options.

Rows (``results.jsonl``/``.csv``): the keys of ``upt localize --json``
(``map`` per threshold, ``map_at_0.5``, ``map_mean``, ``classification_top1``,
``ap_at_0.5_per_class``, ``n_videos``, ``n_actions``, ``objects_per_action``),
the grid point (``lam``, ``epsilon``, ``top_objects``, ``iou_weight``,
``max_dist``), the transport's diagnostics with the names of
:func:`upt_jax.api.summarize_diagnostics` (absent without a transport) plus
``objects_with_mass``, the full ``config`` (with ``top_objects = n``),
``cfg_hash``, ``row_key``, ``data_checksum``, ``code_version``, versions and
devices. Resuming and refusing stale rows work as for classification
(:mod:`upt_jax.sweep.store`). ``summary.md``/``summary.csv`` list every grid
point per dataset with the best row first; ``plots/`` show mean mAP and top-1
against lam.

Runs on one device (the first of ``devices``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import os
import time

import numpy as np

from upt_jax.errors import DataError, UPTError
from upt_jax.records import atomic_write, code_version, environment, to_json
from upt_jax.sweep import store
from upt_jax.sweep.tasks import Task, register_task

__all__ = [
    "GRID_FIELDS",
    "LocEntry",
    "resolve_localization",
    "localization_checksum",
    "localization_row_key",
    "resolve_grids",
    "run_localization_study",
    "write_localization_summary",
    "write_localization_plots",
]

#: The traced grids of a localization study besides lam (``Study.grids`` keys).
GRID_FIELDS = ("top_objects", "iou_weight", "max_dist")
_GRID_DEFAULTS = {"top_objects": (1,), "iou_weight": (1.0,), "max_dist": (25.0,)}
#: LocalizationConfig fields that bound memory, not results (left out of the row identity).
_NOT_RESULTS = ("video_batch", "link_batch", "top_objects")
#: (video, grid point) pairs per vmapped step when the study does not set video_batch.
_PAIRS_PER_STEP = 256


# --------------------------------------------------------------------------- datasets


def resolve_localization(spec, *, name: str | None = None):
    """Load one dataset of a localization study.

    Args:
      spec: ``"world:NAME[:PRESET][:field=value...]"`` with NAME one of
        ``ucf-sports``, ``jhmdb``, ``ucf101-24`` (a simulated world), a
        localization folder, or a :class:`upt_jax.localization.data.LocalizationData`.
      name: the name rows record (default: the spec).

    Returns:
      :class:`upt_jax.localization.data.LocalizationData`.

    Raises:
      UPTError / DataError: a malformed spec or folder; FileNotFoundError: no
      such folder.
    """
    from upt_jax.localization import data as D
    from upt_jax.localization import world as W
    from upt_jax.sweep.data import _parse_kv, spec_name

    name = spec_name(spec) if name is None else name
    if isinstance(spec, D.LocalizationData):
        return dataclasses.replace(spec, name=name)
    if not isinstance(spec, str):
        raise UPTError(f"localization dataset {name!r}: expected a spec string, a folder or LocalizationData, "
                       f"got {type(spec).__name__}")
    if spec.startswith("world:"):
        parts = spec.split(":")[1:]
        if not parts or parts[0] not in W.DATASETS:
            raise UPTError(f"dataset spec {spec!r}: the localization worlds are {', '.join(W.DATASETS)}; "
                           "use world:ucf-sports[:PRESET][:field=value], e.g. world:jhmdb:default:seed=0")
        preset = parts[1] if len(parts) > 1 and "=" not in parts[1] else "default"
        kw = _parse_kv([p for p in parts[1:] if "=" in p], spec)
        fields = {f.name for f in dataclasses.fields(W.LocWorldConfig)} - {"dataset", "preset"}
        unknown = sorted(set(kw) - fields)
        if unknown:
            raise UPTError(f"dataset spec {spec!r}: unknown world field(s) {unknown}; use any of {sorted(fields)}")
        data = W.generate_world(W.make_world_config(parts[0], preset, **kw))
        return dataclasses.replace(data, name=name)
    if os.path.isdir(spec):
        if not D.is_localization(spec):
            raise DataError(
                f"dataset {spec}: not a localization folder (meta.json with \"format\": \"upt_jax-localization\"); "
                "the localization task reads those (upt export --world ucf-sports --out DIR, upt import-detections) "
                "and world:ucf-sports|jhmdb|ucf101-24 specs"
            )
        return dataclasses.replace(D.load_localization(spec), name=name)
    raise FileNotFoundError(
        f"dataset {spec!r}: no such folder, and not a spec; use a localization folder or "
        "'world:ucf-sports:default:seed=0' (also jhmdb, ucf101-24)"
    )


def localization_checksum(data, inputs) -> str:
    """16-hex SHA-1 of what the rows depend on: every padded input array
    (:func:`upt_jax.localization.data.to_inputs`, with its shape) and the
    action and object names."""
    h = hashlib.sha1()
    for arr in inputs:
        a = np.ascontiguousarray(arr)
        h.update(f"{a.shape}{a.dtype}".encode())
        h.update(a.tobytes())
    h.update("\n".join(map(str, data.action_names)).encode())
    h.update(b"\x00" + "\n".join(map(str, data.object_names)).encode())
    return h.hexdigest()[:16]


@dataclasses.dataclass
class LocEntry:
    """One dataset of a localization study.

    Attributes:
      name: row field ``dataset``; data: LocalizationData; inputs: padded
      LocalizationInputs (NumPy); checksum: :func:`localization_checksum`.
    """

    name: str
    data: object
    inputs: object
    checksum: str


# --------------------------------------------------------------------------- study -> grids, variants


def resolve_grids(study) -> dict:
    """The traced grids of a localization study: ``{"lam", "top_objects",
    "iou_weight", "max_dist"}`` as tuples (validated)."""
    grids = dict(getattr(study, "grids", None) or {})
    unknown = sorted(set(grids) - set(GRID_FIELDS))
    if unknown:
        raise UPTError(f"study {study.name!r}: grids has unknown key(s) {unknown}; the localization grids are "
                       f"{list(GRID_FIELDS)} (lam and epsilon are Study fields)")
    out = {"lam": tuple(float(v) for v in study.lam)}
    for k in GRID_FIELDS:
        default = _GRID_DEFAULTS[k]
        if k == "top_objects" and "top_objects" in study.base:
            default = (study.base["top_objects"],)
        vals = tuple(grids.get(k, default))
        if not vals or len(set(vals)) != len(vals):
            raise UPTError(f"study {study.name!r}: grids[{k!r}] = {list(vals)} must be non-empty without repeats")
        if k == "top_objects":
            if any(int(v) != v or v < 0 for v in vals):
                raise UPTError(f"study {study.name!r}: grids['top_objects'] = {list(vals)} must be integers >= 0 "
                               "(0 = actor-only box scores)")
            vals = tuple(int(v) for v in vals)
        else:
            if any(not np.isfinite(v) or v < 0 for v in vals):
                raise UPTError(f"study {study.name!r}: grids[{k!r}] = {list(vals)} must be finite and >= 0")
            vals = tuple(float(v) for v in vals)
        out[k] = vals
    return out


@dataclasses.dataclass(frozen=True)
class _Variant:
    config: object  # LocalizationConfig, top_objects = max of the grid
    overrides: dict
    label: str
    index: int
    cfg_hash: str


def _variants(study, grids: dict, n_objects: int) -> list[_Variant]:
    """The static variants of :func:`upt_jax.sweep.expand_static` (the
    task's ``config_type`` is LocalizationConfig), each with ``top_objects``
    = the grid's largest n and a ``video_batch`` that bounds memory."""
    from upt_jax.localization import LocalizationConfig
    from upt_jax.sweep.study import expand_static

    base = dict(study.base)
    variants = list(study.static) or [{}]
    for v in variants:
        if "top_objects" in v:
            raise UPTError(f"study {study.name!r}: static variant {v} sets top_objects; in a localization study it "
                           "is a traced grid: sweep() -> {'grids': {'top_objects': [...]}}")
    n_max = max(grids["top_objects"])
    if n_max > n_objects:
        raise UPTError(f"study {study.name!r}: grids['top_objects'] goes up to {n_max} but a dataset has only "
                       f"{n_objects} object classes")
    h = len(grids["top_objects"]) * len(grids["iou_weight"]) * len(grids["max_dist"])
    n_lam = _lams_per_call(study, grids)
    fields = {f.name for f in dataclasses.fields(LocalizationConfig)}
    for v in [base, *variants]:
        unknown = sorted(set(v) - fields)
        if unknown:
            raise UPTError(f"study {study.name!r}: {unknown} are not LocalizationConfig fields (base/static of a "
                           f"localization study); use any of {sorted(fields)}")
    out = []
    for var in expand_static(study, 1, np.zeros(1, np.int64)):
        cfg = var.config.replace(top_objects=n_max)
        if "video_batch" not in {**base, **var.overrides}:
            cfg = cfg.replace(video_batch=max(1, _PAIRS_PER_STEP // (h * n_lam)))
        out.append(_Variant(cfg, var.overrides, var.label, var.index, _cfg_hash(cfg)))
    return out


def _uses_epsilon(cfg) -> bool:
    """Sinkhorn transport: rows per epsilon; EMD or no transport: one row (epsilon None)."""
    return cfg.solver == "sinkhorn" and cfg.object_transport == "paper" and cfg.top_objects > 0


def _cfg_hash(cfg) -> str:
    d = {k: v for k, v in cfg.as_dict().items() if k not in _NOT_RESULTS}
    blob = json.dumps({"cfg": d, "task": "localization"}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _lams_per_call(study, grids: dict) -> int:
    h = len(grids["top_objects"]) * len(grids["iou_weight"]) * len(grids["max_dist"])
    return max(1, min(len(grids["lam"]), int(study.chunk_rows) // h))


def localization_row_key(dataset: str, cfg_hash: str, lam, eps, top_objects: int, iou_weight, max_dist,
                         checksum: str, code: str) -> str:
    """Identity of a localization row: :func:`upt_jax.sweep.store.row_key`
    (dataset, split ``"test"``, static config, lam, epsilon, data, code) plus
    the grid point."""
    return (store.row_key(dataset, "test", cfg_hash, lam, eps, checksum, code)
            + f"|n={int(top_objects)}|iou={float(iou_weight):.6g}|dist={float(max_dist):.6g}")


# --------------------------------------------------------------------------- compiled calls


@functools.lru_cache(maxsize=1)
def _jitted():
    """``jax.jit(localize_grid, static_argnames="config")``: JAX caches its
    compilations by function, static config and argument shapes, so anyone
    else jitting ``localize_grid`` the same way shares them."""
    import jax

    from upt_jax.localization.pipeline import localize_grid

    return jax.jit(localize_grid, static_argnames="config")


class _Executables:
    def __init__(self):
        self.cache: dict = {}

    def get(self, config, args, stats):
        import jax

        sig = (config, tuple((a.shape, str(a.dtype)) for a in jax.tree_util.tree_leaves(args)))
        exe = self.cache.get(sig)
        if exe is None:
            t0 = time.perf_counter()
            exe = _jitted().lower(args[0], config, args[1]).compile()
            self.cache[sig] = exe
            stats.compilations += 1
            stats.compile_s += time.perf_counter() - t0
        return exe


_EXECUTABLES = _Executables()


# --------------------------------------------------------------------------- rows


def _metrics(res, data, config, li: int, ni: int, wi: int, di: int, n: int) -> dict:
    thr = [f"{t:g}" for t in config.thresholds]
    m = np.asarray(res.map[li, ni, wi, di], np.float64)
    i5 = thr.index("0.5") if "0.5" in thr else None
    ap5 = {} if i5 is None else {
        a: (None if not np.isfinite(v) else float(v)) for a, v in zip(data.action_names, np.asarray(res.ap[li, ni, wi, di, i5]))
    }
    idx = np.asarray(res.object_indices[li])
    return {
        "map": {k: float(v) for k, v in zip(thr, m)},
        "map_at_0.5": None if i5 is None else float(m[i5]),
        "map_mean": float(np.mean(m)),
        "classification_top1": float(res.top1[li, ni, wi, di]),
        "ap_at_0.5_per_class": ap5,
        "n_videos": len(data.videos),
        "n_actions": len(data.action_names),
        "objects_per_action": {a: [data.object_names[int(o)] for o in idx[j, :n]] for j, a in enumerate(data.action_names)},
    }


def _diagnostics(res, data, config, li: int) -> dict:
    """summarize_diagnostics of the call's transport for lam index ``li`` (+ objects_with_mass)."""
    import jax

    from upt_jax.api import summarize_diagnostics

    out = {"objects_with_mass": int(np.sum(np.asarray(res.object_mass) > 0))}
    if res.diagnostics is None:
        return out
    d = jax.tree_util.tree_map(lambda a: a[li], res.diagnostics)
    out.update(summarize_diagnostics(d, data.action_names, config=config.upt_config()))
    return out


# --------------------------------------------------------------------------- runner


def run_localization_study(
    study,
    out_dir: str,
    *,
    devices: int | None = None,
    progress: bool = True,
    max_chunks: int | None = None,
    on_chunk=None,
    datasets: dict | None = None,
    write_reports: bool = True,
    cache_dir=None,
    force_new: bool = False,
    stack_datasets: bool = True,
):
    """Run (or resume) a localization study into ``out_dir``.

    Same arguments and result as :func:`upt_jax.sweep.run_study` (which
    calls this for ``task="localization"``); ``cache_dir`` and
    ``stack_datasets`` do not apply (no k-means; datasets of different sizes
    are not stacked). ``datasets`` maps spec names to LocalizationData.

    Returns:
      :class:`upt_jax.sweep.SweepStats` (``transports_solved``: calls that
      solved the object transport, one per call).
    """
    import jax

    from upt_jax.localization import data as D
    from upt_jax.localization.pipeline import LocalizationGrid
    from upt_jax.sweep.execute import SweepStats, devices_of
    from upt_jax.sweep.data import spec_name

    del cache_dir, stack_datasets
    t_start = time.perf_counter()
    stats = SweepStats(out_dir=out_dir)
    if study.protocol != "all":
        raise UPTError(f"study {study.name!r}: protocol={study.protocol!r}, but a localization test set has no class "
                       "splits; set protocol='all'")
    grids = resolve_grids(study)
    devs = devices_of(devices)[:1]
    env = environment(devs)
    code = code_version()
    writer = jax.process_index() == 0
    if writer:
        if force_new and os.path.isdir(out_dir):
            store.archive(out_dir)
        os.makedirs(out_dir, exist_ok=True)
    done_rows = store.read_rows(out_dir, repair=writer)
    store.check_compatible(out_dir, done_rows, {}, code)

    t0 = time.perf_counter()
    entries = []
    for spec in study.datasets:
        name = spec_name(spec)
        if any(e.name == name for e in entries):
            raise UPTError(f"study {study.name!r}: dataset {name!r} is listed twice")
        data = resolve_localization(datasets[name] if datasets and name in datasets else spec, name=name)
        inputs = D.to_inputs(data)
        entries.append(LocEntry(name, data, inputs, localization_checksum(data, inputs)))
    stats.data_s = time.perf_counter() - t0
    store.check_compatible(out_dir, done_rows, {e.name: e.checksum for e in entries}, code)
    variants = _variants(study, grids, min(len(e.data.object_names) for e in entries))

    # the plan: (entry, variant, epsilon, lam chunk) calls with missing rows
    done = {r["row_key"] for r in done_rows}
    lam = grids["lam"]
    per_call = _lams_per_call(study, grids)
    points = list(itertools.product(range(len(grids["top_objects"])), range(len(grids["iou_weight"])),
                                    range(len(grids["max_dist"]))))
    calls = []
    for e in entries:
        for v in variants:
            for eps in ([float(x) for x in study.epsilon] if _uses_epsilon(v.config) else [None]):
                for start in range(0, len(lam), per_call):
                    lis = list(range(start, min(start + per_call, len(lam))))
                    keys = {}
                    for li in lis:
                        for ni, wi, di in points:
                            k = localization_row_key(e.name, v.cfg_hash, lam[li], eps, grids["top_objects"][ni],
                                                     grids["iou_weight"][wi], grids["max_dist"][di], e.checksum, code)
                            stats.rows_total += 1
                            if k in done:
                                stats.rows_skipped += 1
                            else:
                                keys[(li, ni, wi, di)] = k
                    if keys:
                        calls.append((e, v, eps, lis, keys))
    all_rows = list(done_rows)
    if writer:
        atomic_write(os.path.join(out_dir, "config.json"), to_json(_resolved(study, grids, entries, variants, env, code)) + "\n")

    bar = None
    if progress and writer:
        from tqdm.auto import tqdm

        bar = tqdm(total=stats.rows_total, initial=stats.rows_skipped, unit="row", desc=study.name, smoothing=0.1)
    timings: dict = {"chunks": []}
    env_fields = {k: v for k, v in env.items() if k != "time"}
    put = jax.device_put if devs[0] == jax.devices()[0] else functools.partial(jax.device_put, device=devs[0])
    on_device: dict = {}
    try:
        for e, v, eps, lis, keys in calls:
            if max_chunks is not None and stats.chunks_computed >= max_chunks:
                break
            if bar is not None:
                bar.set_postfix_str(f"{e.name}: {v.label}" + ("" if eps is None else f", eps {eps:g}"))
            if e.name not in on_device:
                on_device.clear()  # one dataset on the device at a time
                on_device[e.name] = jax.tree_util.tree_map(put, e.inputs)
            lam_call = [lam[i] for i in lis] + [lam[lis[-1]]] * (per_call - len(lis))
            grid = LocalizationGrid(
                lam=np.asarray(lam_call, np.float32),
                top_objects=np.asarray(grids["top_objects"], np.int32),
                iou_weight=np.asarray(grids["iou_weight"], np.float32),
                max_dist=np.asarray(grids["max_dist"], np.float32),
                epsilon=np.float32(1e-2 if eps is None else eps),
                threshold=None,
            )
            args = (on_device[e.name], jax.tree_util.tree_map(put, grid))
            exe = _EXECUTABLES.get(v.config, args, stats)
            t0 = time.perf_counter()
            res = jax.tree_util.tree_map(np.asarray, exe(*args))
            dt = time.perf_counter() - t0
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            rows = []
            diag_by_lam = {}
            for (li, ni, wi, di), key in keys.items():
                j = lis.index(li)
                n = grids["top_objects"][ni]
                if j not in diag_by_lam:
                    diag_by_lam[j] = _diagnostics(res, e.data, v.config, j)
                diag = diag_by_lam[j]
                rows.append({
                    "study": study.name,
                    "task": "localization",
                    "dataset": e.name,
                    "protocol": "all",
                    "split": "test",
                    "split_index": 0,
                    "static": v.label,
                    "lam": lam[li],
                    "epsilon": eps,
                    "top_objects": n,
                    "iou_weight": grids["iou_weight"][wi],
                    "max_dist": grids["max_dist"][di],
                    "cfg_hash": v.cfg_hash,
                    "row_key": key,
                    "data_checksum": e.checksum,
                    **_metrics(res, e.data, v.config, j, ni, wi, di, n),
                    **diag,
                    "config": v.config.replace(top_objects=n).as_dict(),
                    **env_fields,
                    "code_version": code,
                    "chunk_seconds": dt,
                    "time": stamp,
                })
            first = rows[0]
            if not first.get("converged", True):
                stats.not_converged += 1
                if not stats.first_warning:
                    from upt_jax.api import convergence_warning

                    stats.first_warning = f"{e.name} / {v.label}: {convergence_warning(first)}"
            if writer:
                store.append_rows(out_dir, rows)
                all_rows.extend(rows)
                store.write_csv(os.path.join(out_dir, "results.csv"), all_rows)
            stats.rows_computed += len(rows)
            stats.transports_solved += int(res.diagnostics is not None)
            stats.chunks_computed += 1
            stats.rows_s += dt
            timings["chunks"].append({"dataset": e.name, "static": v.label, "epsilon": eps, "lam": [lam[i] for i in lis],
                                      "rows": len(rows), "seconds": dt})
            if bar is not None:
                bar.update(len(rows))
            if on_chunk is not None:
                on_chunk({"chunk": stats.chunks_computed - 1, "rows": len(rows), "keys": [r["row_key"] for r in rows]})
    finally:
        if bar is not None:
            bar.close()
        stats.wall_s = time.perf_counter() - t_start
        if writer:
            atomic_write(os.path.join(out_dir, "timings.json"),
                         to_json({"stats": dataclasses.asdict(stats), **timings, "environment": env}) + "\n")
    if writer and write_reports and all_rows:
        write_localization_summary(out_dir, all_rows, study)
        write_localization_plots(out_dir, all_rows)
    return stats


def _resolved(study, grids, entries, variants, env, code) -> dict:
    out = {"study": study.to_json(), "task": "localization", "grids": grids, "code_version": code,
           "environment": env, "datasets": {}, "static": []}
    for e in entries:
        x = e.inputs
        v_, t_, p_, _ = np.shape(x.person_boxes)
        out["datasets"][e.name] = {
            "actions": len(e.data.action_names), "objects": len(e.data.object_names), "videos": len(e.data.videos),
            "padded": {"frames": t_, "persons": p_, "objects": int(np.shape(x.object_boxes)[2]),
                       "gt_tubes": int(np.shape(x.gt_boxes)[1])},
            "data_checksum": e.checksum, "meta": e.data.meta,
        }
    for v in variants:
        out["static"].append({"label": v.label, "overrides": v.overrides, "cfg_hash": v.cfg_hash, "config": v.config.as_dict()})
    return out


# --------------------------------------------------------------------------- reports


def _order(rows: list[dict]) -> list[dict]:
    statics: dict[str, int] = {}
    for r in rows:
        statics.setdefault(r["static"], len(statics))
    return sorted(rows, key=lambda r: (statics[r["static"]], -1.0 if r["epsilon"] is None else r["epsilon"], r["lam"],
                                       r["top_objects"], r["iou_weight"], r["max_dist"]))


def _num(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def write_localization_summary(out_dir: str, rows: list[dict], study=None) -> str:
    """``summary.md`` (per dataset: the best row, then every grid point) and
    ``summary.csv`` (one line per row: grid point, mAP per threshold, mean,
    top-1, converged). Returns the Markdown text."""
    lines = [f"# Study `{study.name if study is not None else '?'}` (localization)", ""]
    if study is not None and study.description:
        lines += [study.description.strip(), ""]
    r0 = rows[-1]
    lines += [
        f"upt_jax {r0.get('code_version')}, jax {r0.get('jax_version')}, ott-jax {r0.get('ott_version')}, "
        f"device {r0.get('device_kind')}; {len(rows)} rows. Video-mAP (percent) at each ST-IoU threshold, their "
        "mean, and classification top-1 (percent) from the tubes; one test set per dataset (no splits, no std).",
        "",
    ]
    flat = []
    by_ds: dict[str, list[dict]] = {}
    for r in rows:
        by_ds.setdefault(r["dataset"], []).append(r)
    for ds, rs in by_ds.items():
        rs = _order(rs)
        thr = list(rs[0]["map"])
        best = max(rs, key=lambda r: r["map_mean"])
        lines += [
            "", f"## {ds} ({rs[0]['n_videos']} videos, {rs[0]['n_actions']} actions)", "",
            f"Best mean mAP: {best['map_mean']:.2f} (mAP@0.5 {_num(best['map_at_0.5'])}, top-1 "
            f"{best['classification_top1']:.2f}) at static {best['static']}, lam {best['lam']:g}, "
            f"top-{best['top_objects']} objects, IoU weight {best['iou_weight']:g}, max gap {best['max_dist']:g}.", "",
            "| static | epsilon | lam | top-n | IoU w | max gap | " + " | ".join(f"@{t}" for t in thr) + " | mean | top-1 | converged |",
            "|" + "---|" * (9 + len(thr)),
        ]
        for r in rs:
            eps = "-" if r["epsilon"] is None else f"{r['epsilon']:g}"
            conv = "-" if "converged" not in r else ("yes" if r["converged"] else "NO")
            cells = [r["static"], eps, f"{r['lam']:.2f}", str(r["top_objects"]), f"{r['iou_weight']:g}", f"{r['max_dist']:g}"]
            cells += [f"{r['map'][t]:.1f}" for t in thr] + [f"{r['map_mean']:.2f}", f"{r['classification_top1']:.1f}", conv]
            lines.append("| " + " | ".join(cells) + " |")
            flat.append({"dataset": ds, "static": r["static"], "epsilon": r["epsilon"], "lam": r["lam"],
                         "top_objects": r["top_objects"], "iou_weight": r["iou_weight"], "max_dist": r["max_dist"],
                         **{f"map@{t}": r["map"][t] for t in thr}, "map_mean": r["map_mean"],
                         "classification_top1": r["classification_top1"], "converged": r.get("converged")})
    from upt_jax.sweep.report import convergence_warnings

    warnings = convergence_warnings(rows)
    if warnings:
        lines += ["", "## Convergence", "", f"{len(warnings)} transports did not converge (rows with converged = false):", ""]
        lines += [f"- {w}" for w in warnings[:20]]
    text = "\n".join(lines) + "\n"
    atomic_write(os.path.join(out_dir, "summary.md"), text)
    store.write_csv(os.path.join(out_dir, "summary.csv"), flat)
    return text


def write_localization_plots(out_dir: str, rows: list[dict]) -> list[str]:
    """One PNG per dataset in ``out_dir/plots``: mean mAP and top-1 against
    lam, one line per (static, epsilon, top-n, IoU weight, max gap)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from upt_jax.sweep.report import _safe

    os.makedirs(os.path.join(out_dir, "plots"), exist_ok=True)
    by_ds: dict[str, list[dict]] = {}
    for r in rows:
        by_ds.setdefault(r["dataset"], []).append(r)
    paths = []
    for ds, rs in by_ds.items():
        lines: dict[str, list[dict]] = {}
        for r in _order(rs):
            eps = "" if r["epsilon"] is None else f", eps {r['epsilon']:g}"
            name = f"{r['static']}{eps}, top-{r['top_objects']}, iou {r['iou_weight']:g}, gap {r['max_dist']:g}"
            lines.setdefault(name, []).append(r)
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, key, title in ((axes[0], "map_mean", "mean video-mAP over ST-IoU thresholds (%)"),
                               (axes[1], "classification_top1", "top-1 from tubes (%)")):
            for name, pts in lines.items():
                ax.plot([p["lam"] for p in pts], [p[key] for p in pts], marker="o", ms=3, label=name)
            ax.set_xlabel("lam (0 = baseline)")
            ax.set_title(title, fontsize=9)
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=6)
        fig.suptitle(ds, fontsize=9)
        fig.tight_layout()
        path = os.path.join(out_dir, "plots", f"{_safe(ds)}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def _register() -> None:
    from upt_jax.localization.pipeline import LocalizationConfig

    register_task(
        Task(
            name="localization",
            make_job=None,
            rows=None,
            metrics=("map_mean", "classification_top1", "map_at_0.5"),
            config_type=LocalizationConfig,
            run=run_localization_study,
        )
    )


_register()
