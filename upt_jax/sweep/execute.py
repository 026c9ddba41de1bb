"""Running a study: k-means once per split, one transport per job, lam vmapped.

:func:`run_study` does, in order:

1. resolve the datasets (:mod:`upt_jax.sweep.data`), their splits
   (:func:`upt_jax.protocols.from_spec`) and static variants; read the rows
   already in the output folder and refuse them if they came from other data
   or code (:func:`upt_jax.sweep.store.check_compatible`);
2. plan (:func:`upt_jax.sweep.plan.make_plan`): units of jobs, one job = one
   transport = the rows of every lam;
3. per unit: the centres of its splits (k-means once per dataset, split and
   clustering config, cached in memory and on disk:
   :mod:`upt_jax.sweep.centres`), then chunks of jobs through ONE compiled
   ``jit(vmap(job))`` per (config, stack shapes): the task's job function
   solves the transport and the Frechet means once and vmaps the geodesic
   update and the evaluation over lam (:mod:`upt_jax.sweep.tasks`). With
   several devices the job axis is sharded over a ``jax.sharding.Mesh``
   (padded to a multiple of the device count); results equal one device's.
   Multi-host runs (``jax.distributed.initialize()`` first) use the same
   code; process 0 writes the files;
4. after each chunk its rows are appended to ``results.jsonl`` and
   ``results.csv`` is rewritten (:mod:`upt_jax.sweep.store`), so an
   interrupted sweep keeps every finished chunk and a re-run resumes;
5. at the end ``summary.md``/``summary.csv``, ``plots/`` and ``timings.json``
   (:mod:`upt_jax.sweep.report`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable

import numpy as np

from upt_jax.errors import UPTError
from upt_jax.records import atomic_write, code_version, environment, to_json
from upt_jax.sweep import centres as C
from upt_jax.sweep import report, store
from upt_jax.sweep.data import Stack, data_checksum, pad_axis, resolve_dataset, spec_name, stack
from upt_jax.sweep.plan import Entry, Plan, Unit, make_plan
from upt_jax.sweep.study import Study, expand_static
from upt_jax.sweep.tasks import JobInputs, get_task

__all__ = ["SweepStats", "run_study", "resolve_entries", "devices_of", "default_cache_dir"]


def default_cache_dir() -> str:
    """The k-means cache ``upt sweep`` shares between studies and output
    folders: ``$UPT_JAX_CENTRES_CACHE``, else ``~/.cache/upt_jax/centres``.
    Entries are keyed by data, clustering config, seed, split and clustering
    code, so sharing never mixes results."""
    return os.environ.get("UPT_JAX_CENTRES_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "upt_jax", "centres")


@dataclasses.dataclass
class SweepStats:
    """What a call to :func:`run_study` did.

    Attributes:
      rows_total: rows of the study; rows_skipped: already in results.jsonl;
      rows_computed: computed now; chunks_computed: compiled batches run;
      transports_solved: jobs computed (one transport each, for every lam);
      kmeans_computed: split clusterings computed (one per dataset x
      clustering config x split); kmeans_loaded: read from the disk cache;
      compilations: row programs compiled; not_converged: transports
      computed now that did not converge, first_warning: the
      :func:`upt_jax.api.convergence_warning` line of the first of them;
      wall_s, data_s (datasets and
      splits), kmeans_s, compile_s, rows_s (transports + evaluations,
      compilation excluded): seconds; out_dir: the folder.
    """

    rows_total: int = 0
    rows_skipped: int = 0
    rows_computed: int = 0
    chunks_computed: int = 0
    transports_solved: int = 0
    kmeans_computed: int = 0
    kmeans_loaded: int = 0
    compilations: int = 0
    not_converged: int = 0
    first_warning: str = ""
    wall_s: float = 0.0
    data_s: float = 0.0
    kmeans_s: float = 0.0
    compile_s: float = 0.0
    rows_s: float = 0.0
    out_dir: str = ""


def devices_of(n: int | None) -> list:
    """The first ``n`` JAX devices (all when ``n`` is None or <= 0)."""
    import jax

    devs = jax.devices()
    if n is None or n <= 0:
        return devs
    if n > len(devs):
        raise UPTError(f"--devices {n}: only {len(devs)} device(s) visible ({devs[0].platform})")
    return devs[:n]


def resolve_entries(study: Study, datasets: dict | None = None, *, cache_dir: str | None = None,
                    writer: bool = True) -> list[Entry]:
    """Load the study's datasets, their splits and static variants.

    Args:
      study: the study.
      datasets: optional ``{spec name: Dataset-like}`` used instead of
        loading those specs.
      cache_dir: where generated worlds are cached (see
        :func:`upt_jax.sweep.data.resolve_dataset`); writer: write there.

    Returns:
      list of :class:`upt_jax.sweep.plan.Entry`.
    """
    import upt_jax as U
    from upt_jax import protocols

    entries = []
    names = set()
    for spec in study.datasets:
        name = spec_name(spec)
        if name in names:
            raise UPTError(f"study {study.name!r}: dataset {name!r} is listed twice")
        names.add(name)
        src = datasets[name] if datasets and name in datasets else spec
        ds = resolve_dataset(src, name=name, cache_dir=cache_dir, writer=writer)
        U.check_inputs(ds.prototypes, ds.videos, labels=ds.labels)
        splits = protocols.from_spec(study.protocol, ds.labels, ds.prototypes.shape[0], ds.class_names)
        variants = expand_static(study, ds.videos.shape[0], splits.n_classes)
        entries.append(Entry(name, ds, data_checksum(ds), splits, variants))
    return entries


# --------------------------------------------------------------------------- compiled batches


class _Compiled:
    """``jit(vmap(job))`` of one task and config, sharded over ``devices``."""

    def __init__(self, task_name: str, cfg, clustered: bool, devices: tuple):
        import jax
        from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

        task = get_task(task_name)
        job = task.make_job(cfg, clustered)

        def one(protos, videos, labels, g, cm, vm, centres, lams, eps):
            if protos.shape[0] == 1:  # one dataset: no gather (no [J, N, d] copy)
                p, v, lab = protos[0], videos[0], labels[0]
            else:
                p, v, lab = protos[g], videos[g], labels[g]
            return job(JobInputs(p, v, lab, cm, vm, centres), lams, eps)

        self.devices = list(devices)
        self.mesh = Mesh(np.array(self.devices), ("jobs",))
        self.jobs = NamedSharding(self.mesh, P("jobs"))
        self.rep = NamedSharding(self.mesh, P())
        vjob = jax.vmap(one, in_axes=(None, None, None, 0, 0, 0, 0, None, None))
        self.jitted = jax.jit(
            vjob,
            in_shardings=(self.rep,) * 3 + (self.jobs,) * 4 + (self.rep,) * 2,
            out_shardings=self.jobs,
        )
        self.executables: dict = {}

    def executable(self, args, stats: SweepStats | None = None):
        """The compiled program for these argument shapes (compiled once, timed)."""
        import jax

        sig = tuple((x.shape, str(x.dtype)) for x in jax.tree_util.tree_leaves(args))
        exe = self.executables.get(sig)
        if exe is None:
            t0 = time.perf_counter()
            exe = self.jitted.lower(*args).compile()
            self.executables[sig] = exe
            if stats is not None:
                stats.compilations += 1
                stats.compile_s += time.perf_counter() - t0
        return exe

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


@functools.lru_cache(maxsize=64)
def _compiled(task_name: str, cfg, clustered: bool, devices: tuple) -> _Compiled:
    return _Compiled(task_name, cfg, clustered, devices)


_GATHER_BUDGET = 1 << 29  # bytes of per-job video copies when several datasets are stacked


def _jobs_per_chunk(study: Study, unit: Unit, stk: Stack, ndev: int, n_lam: int) -> int:
    j = max(1, int(study.chunk_rows) // max(n_lam, 1))
    if len(unit.members) > 1:  # each job gathers its dataset's [N, d] videos
        j = min(j, max(1, _GATHER_BUDGET // (stk.N * stk.videos.shape[2] * 4)))
    j = min(j, unit.n_jobs)  # of the whole unit, so a resumed run reuses the compiled shape
    return -(-j // ndev) * ndev


# --------------------------------------------------------------------------- runner


def _archive_or_none(out_dir: str) -> str | None:
    return store.archive(out_dir) if os.path.isdir(out_dir) else None


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
    cache_dir: str | bool | None = None,
    force_new: bool = False,
    stack_datasets: bool = True,
) -> SweepStats:
    """Run (or resume) a study into ``out_dir``.

    Args:
      study: the :class:`upt_jax.sweep.Study`.
      out_dir: output folder (created). Rows already in its
        ``results.jsonl`` are skipped; rows from other data or code make it
        refuse (:class:`upt_jax.sweep.store.StaleResultsError`).
      devices: number of devices to shard jobs over (default: all visible).
      progress: show a tqdm bar over rows (stderr).
      max_chunks: stop (cleanly) after computing this many chunks.
      on_chunk: called after each chunk is written with ``{"chunk": i,
        "rows": n, "keys": [...]}``; an exception stops the run (the chunk is
        already safe on disk).
      datasets: optional ``{spec name: Dataset-like}`` to use instead of
        loading those specs.
      write_reports: write summary.md/csv and plots at the end.
      cache_dir: folder of k-means centres (default ``<out_dir>/cache``;
        ``False``: memory only); share one between studies to reuse k-means
        (``upt sweep`` shares :func:`default_cache_dir`).
      force_new: move the folder's old results to ``previous-<time>/`` and
        start over.
      stack_datasets: batch the transports of datasets that share the
        dimension and config in one program (False: one per dataset; same
        rows).

    Returns:
      :class:`SweepStats`.
    """
    import jax

    task = get_task(study.task)
    if task.run is not None:  # a task with its own runner (localization: upt_jax.sweep.task_localization)
        return task.run(study, out_dir, devices=devices, progress=progress, max_chunks=max_chunks, on_chunk=on_chunk,
                        datasets=datasets, write_reports=write_reports, cache_dir=cache_dir, force_new=force_new,
                        stack_datasets=stack_datasets)
    t_start = time.perf_counter()
    stats = SweepStats(out_dir=out_dir)
    devs = devices_of(devices)
    env = environment(devs)
    code = code_version()
    writer = jax.process_index() == 0
    cache = None if cache_dir is False else (cache_dir or os.path.join(out_dir, "cache"))
    if writer:
        if force_new:
            _archive_or_none(out_dir)
        os.makedirs(out_dir, exist_ok=True)
    done_rows = store.read_rows(out_dir, repair=writer)
    store.check_compatible(out_dir, done_rows, {}, code)  # other code: refuse before loading any data

    t0 = time.perf_counter()
    entries = resolve_entries(study, datasets, cache_dir=cache, writer=writer)
    stats.data_s = time.perf_counter() - t0
    store.check_compatible(out_dir, done_rows, {e.name: e.checksum for e in entries}, code)
    plan = make_plan(study, entries, {r["row_key"] for r in done_rows}, code, stack_datasets=stack_datasets)
    stats.rows_total, stats.rows_skipped = plan.rows_total, plan.rows_done
    all_rows = list(done_rows)
    if writer:
        atomic_write(os.path.join(out_dir, "config.json"), to_json(_resolved(study, plan, env, cache)) + "\n")

    bar = None
    if progress and writer:
        from tqdm.auto import tqdm

        bar = tqdm(total=plan.rows_total, initial=plan.rows_done, unit="row", desc=study.name, smoothing=0.1)
    timings: dict = {"kmeans": [], "chunks": []}
    state = _State(study, plan, devs, cache, writer, stats, bar, timings)
    try:
        for unit in plan.units:
            if state.stop:
                break
            _run_unit(state, unit, task, env, all_rows, max_chunks, on_chunk)
    finally:
        if bar is not None:
            bar.close()
        stats.wall_s = time.perf_counter() - t_start
        if writer:
            atomic_write(
                os.path.join(out_dir, "timings.json"),
                to_json({"stats": dataclasses.asdict(stats), **timings, "environment": env}) + "\n",
            )
    if writer and write_reports and all_rows:
        report.write_summary(out_dir, all_rows, study, task.metrics)
        report.write_plots(out_dir, all_rows)
    return stats


@dataclasses.dataclass
class _State:
    study: Study
    plan: Plan
    devices: list
    cache: str | None
    writer: bool
    stats: SweepStats
    bar: object
    timings: dict
    stop: bool = False
    stacks: dict = dataclasses.field(default_factory=dict)
    centres: dict = dataclasses.field(default_factory=dict)


def _resolved(study: Study, plan: Plan, env: dict, cache: str | None) -> dict:
    out = {"study": study.to_json(), "code_version": plan.code, "environment": env, "cache": cache, "datasets": {}}
    for e in plan.entries:
        out["datasets"][e.name] = {
            "K": int(e.data.prototypes.shape[0]),
            "N": int(e.data.videos.shape[0]),
            "d": e.dim,
            "data_checksum": e.checksum,
            "splits": list(e.splits.names),
            "split_classes": [int(x) for x in e.splits.n_classes],
            "split_videos": [int(x) for x in e.splits.n_videos],
            "static": [
                {"label": v.label, "overrides": v.overrides, "config": v.config.as_dict()} for v in e.variants
            ],
        }
    out["units"] = [
        {
            "static": u.label,
            "cfg_hash": u.cfg_hash,
            "epsilon": u.epsilon,
            "datasets": [plan.entries[i].name for i in u.members],
            "transports": len(u.jobs),
        }
        for u in plan.units
    ]
    return out


def _stack_of(state: _State, members: tuple) -> Stack:
    if members not in state.stacks:
        state.stacks[members] = stack([state.plan.entries[i].data for i in members])
    return state.stacks[members]


def _centres_for(state: _State, entry: Entry, cfg, splits_needed: list[int]) -> dict:
    st = state.study
    key = (entry.name, entry.checksum, C.clustering_key(cfg), st.seed, st.compact)
    have = state.centres.setdefault(key, {})
    missing = [s for s in splits_needed if s not in have]
    if missing:
        t0 = time.perf_counter()
        n_before = state.stats.kmeans_computed
        log = state.bar.set_postfix_str if state.bar is not None else None
        have.update(
            C.compute_centres(
                entry.data, entry.checksum, entry.splits, cfg, seed=st.seed, compact=st.compact,
                cache_dir=state.cache, writer=state.writer, stats=state.stats, log=log, only=missing,
            )
        )
        state.timings["kmeans"].append(
            {"dataset": entry.name, "n_clusters": cfg.n_clusters, "splits": len(missing),
             "computed": state.stats.kmeans_computed - n_before, "seconds": time.perf_counter() - t0}
        )
    return have


def _job_arrays(state: _State, unit: Unit, stk: Stack, jobs: list, clustered: bool) -> tuple:
    """Host arrays of a chunk of jobs: member index, masks, centres."""
    import upt_jax as U

    entries = [state.plan.entries[i] for i in unit.members]
    g = np.array([j.member for j in jobs], np.int32)
    cm = np.stack([pad_axis(entries[j.member].splits.class_mask[j.split], stk.K, fill=False) for j in jobs])
    vm = np.stack([pad_axis(entries[j.member].splits.video_mask[j.split], stk.N, fill=False) for j in jobs])
    d = stk.prototypes.shape[2]
    if clustered:
        per = []
        for j in jobs:
            e = entries[j.member]
            per.append(_centres_for(state, e, unit.config, [j.split])[j.split])
        cen = {k: np.stack([c[k] for c in per]) for k in C.CENTRE_FIELDS}
    else:
        n = len(jobs)
        cen = {
            "points": np.zeros((n, 1, d), np.float32),
            "mass": np.zeros((n, 1), np.float32),
            "sizes": np.zeros((n, 1), np.float32),
            "mask": np.zeros((n, 1), bool),
            "inertia": np.zeros((n,), np.float32),
            "kmeans_iters": np.zeros((n,), np.int32),
        }
    centres = U.Centres(
        points=cen["points"],
        mass=cen["mass"],
        sizes=cen["sizes"],
        mask=cen["mask"],
        assignment=np.zeros((len(jobs), 1), np.int32),
        inertia=cen["inertia"],
        kmeans_iters=cen["kmeans_iters"],
    )
    return g, cm, vm, centres


def _run_unit(state: _State, unit: Unit, task, env: dict, all_rows: list, max_chunks, on_chunk) -> None:
    import jax

    study, stats, plan = state.study, state.stats, state.plan
    stk = _stack_of(state, unit.members)
    clustered = unit.config.n_clusters > 0
    ndev = len(state.devices)
    n_lam = len(plan.lam)
    comp = _compiled(study.task, unit.config, clustered, tuple(state.devices))
    shared = comp.put_tree((stk.prototypes, stk.videos, stk.labels), comp.rep)
    lams = comp.put(np.asarray(plan.lam, np.float32), comp.rep)
    eps = comp.put(np.float32(1e-2 if unit.epsilon is None else unit.epsilon), comp.rep)
    size = _jobs_per_chunk(study, unit, stk, ndev, n_lam)
    if clustered:  # k-means of every split of the unit first (progress shows it)
        for m, ei in enumerate(unit.members):
            _centres_for(state, plan.entries[ei], unit.config, sorted({j.split for j in unit.jobs if j.member == m}))
    if state.bar is not None:
        eps_text = "" if unit.epsilon is None else f", eps {unit.epsilon:g}"
        state.bar.set_postfix_str(f"{len(unit.jobs)} transports: {unit.label}{eps_text}")
    config_dict = unit.config.as_dict()
    env_fields = {k: v for k, v in env.items() if k != "time"}
    for start in range(0, len(unit.jobs), size):
        if max_chunks is not None and stats.chunks_computed >= max_chunks:
            state.stop = True
            return
        part = unit.jobs[start : start + size]
        padded = part + [part[-1]] * (size - len(part))
        g, cm, vm, centres = _job_arrays(state, unit, stk, padded, clustered)
        args = (
            *shared,
            comp.put(g, comp.jobs),
            comp.put(cm, comp.jobs),
            comp.put(vm, comp.jobs),
            comp.put_tree(centres, comp.jobs),
            lams,
            eps,
        )
        exe = comp.executable(args, stats)  # compiled outside the timed call (once per shape)
        t0 = time.perf_counter()
        per_lam, per_job = comp.fetch(exe(*args))
        dt = time.perf_counter() - t0
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        rows = []
        for jj, job in enumerate(part):
            e = plan.entries[unit.members[job.member]]
            split = e.splits.names[job.split]
            fields = task.rows(
                jax.tree_util.tree_map(lambda x: x[jj], per_lam),
                jax.tree_util.tree_map(lambda x: x[jj], per_job),
                {"class_names": e.data.class_names, "config": unit.config},
            )
            if not fields[0].get("converged", True):
                stats.not_converged += 1
                if not stats.first_warning:
                    from upt_jax.api import convergence_warning

                    stats.first_warning = f"{e.name} / {split} / {unit.label}: {convergence_warning(fields[0])}"
            for li in job.lams:
                lam = plan.lam[li]
                r = {
                    "study": study.name,
                    "task": study.task,
                    "dataset": e.name,
                    "protocol": e.splits.family[job.split],
                    "split": split,
                    "split_index": job.split,
                    "static": unit.label,
                    "lam": lam,
                    "epsilon": unit.epsilon,
                    "cfg_hash": unit.cfg_hash,
                    "row_key": store.row_key(e.name, split, unit.cfg_hash, lam, unit.epsilon, e.checksum, plan.code),
                    "seed": study.seed,
                    "compact": study.compact,
                    "data_checksum": e.checksum,
                    **fields[li],
                    "config": config_dict,
                    **env_fields,
                    "code_version": plan.code,
                    "chunk_seconds": dt,
                    "time": stamp,
                }
                rows.append(r)
        if state.writer:
            store.append_rows(stats.out_dir, rows)
            all_rows.extend(rows)
            store.write_csv(os.path.join(stats.out_dir, "results.csv"), all_rows)
        stats.rows_computed += len(rows)
        stats.transports_solved += len(part)
        stats.chunks_computed += 1
        stats.rows_s += dt
        state.timings["chunks"].append(
            {"static": unit.label, "epsilon": unit.epsilon, "datasets": [plan.entries[i].name for i in unit.members],
             "transports": len(part), "padded": size, "rows": len(rows), "seconds": dt}
        )
        if state.bar is not None:
            state.bar.update(len(rows))
        if on_chunk is not None:
            on_chunk({"chunk": stats.chunks_computed - 1, "rows": len(rows), "keys": [r["row_key"] for r in rows]})
