"""Tasks: what one transport of a sweep computes, and the rows it yields.

The runner (:mod:`upt_jax.sweep.execute`) batches *jobs*: one job is one
(dataset, split) under one static config and one epsilon, i.e. ONE transport.
A task turns a job into the rows of every lam value:

1. ``make_job(config, clustered)`` returns a pure function
   ``job(inputs: JobInputs, lams [L], epsilon []) -> (per_lam, per_job)``:
   ``per_lam`` is a dict of ``[L, ...]`` arrays (one entry per lam value),
   ``per_job`` a dict of arrays that do not depend on lam (the transport's
   diagnostics). The runner vmaps it over a chunk of jobs (and shards the
   chunk over devices); the task itself vmaps over lam.
2. ``rows(per_lam, per_job, context)`` turns the host arrays of ONE job
   into one dict of row fields per lam value (names of never-predicted
   classes, ...).
3. ``metrics``: the row fields that ``summary.md`` and the plots report as
   mean and std over splits (the first two are plotted).

:data:`TASKS` maps a name (``Study.task``) to a :class:`Task`. A new task
(e.g. localization) registers itself with :func:`register_task`; see
``docs/sweeps.md``.

The classification task computes the targets once (transport + Frechet
means, :func:`upt_jax.transport_update`), then vmaps over lam only the
geodesic update ``slerp(prototype, target, lam)`` of the split's classes and
the evaluation (:func:`upt_jax.evaluate`): row for row the numbers of
``upt()`` + ``evaluate()`` with that lam.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from upt_jax.errors import UPTError

__all__ = [
    "JobInputs", "Task", "TASKS", "register_task", "get_task", "classification_job", "classification_rows",
    "lighten_diagnostics", "metric_fields", "to_python",
]


class JobInputs(NamedTuple):
    """Inputs of one job (the runner stacks them on a leading job axis).

    Attributes:
      prototypes: ``[K, d]`` float32 class prototypes of the job's dataset
        (padded classes repeat row 0 and are masked).
      videos: ``[N, d]`` float32 video projections (padded videos masked).
      labels: ``[N]`` int32.
      class_mask: ``[K]`` bool, the split's classes.
      video_mask: ``[N]`` bool, the split's videos.
      centres: :class:`upt_jax.Centres` of the split (``[C, d]`` points; a
        ``[1, d]`` placeholder when the config does not cluster: the job
        builds the target set from the videos).
    """

    prototypes: Any
    videos: Any
    labels: Any
    class_mask: Any
    video_mask: Any
    centres: Any


@dataclasses.dataclass(frozen=True)
class Task:
    """A row function family of the sweep runner.

    Attributes:
      name: the value of ``Study.task``.
      make_job: ``(config, clustered: bool) -> job`` (see the module doc).
      rows: ``(per_lam: dict of [L, ...] host arrays, per_job: dict of host
        arrays, context: dict) -> list of L dicts of row fields``. The
        context holds ``class_names`` (the dataset's, unpadded).
      metrics: row fields summarised (mean, std) over splits.
      config_type: the static config class of the task's variants (built
        from ``Study.base`` and each ``static`` dict); ``None`` =
        :class:`upt_jax.UPTConfig`. A subclass adds the task's own static
        fields (the ``methods`` task's ``method``).
    """

    name: str
    make_job: Callable
    rows: Callable
    metrics: tuple
    config_type: Any = None
    run: Callable | None = None  # own runner replacing run_study (same arguments): task_localization


TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    """Add ``task`` to :data:`TASKS` (replacing one of the same name)."""
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The registered task ``name``; raises UPTError naming the choices."""
    if name not in TASKS:
        raise UPTError(f"Study.task={name!r}: unknown task; registered tasks: {sorted(TASKS)}")
    return TASKS[name]


# --------------------------------------------------------------------------- classification


def classification_job(config, clustered: bool):
    """The job function of the classification task (pure; vmap/jit it).

    Args:
      config: static :class:`upt_jax.UPTConfig`.
      clustered: whether ``inputs.centres`` holds k-means centres (else the
        target set is every video of the split, ``cluster_videos`` with
        C = 0).

    Returns:
      ``job(inputs: JobInputs, lams [L] float32, epsilon [] float32) ->
      (per_lam, per_job)``. ``per_lam``: ``top1``, ``top5``,
      ``mean_class_accuracy`` ``[L]`` float32 (percent), ``unreachable``,
      ``n_videos`` ``[L]`` int32, ``unreachable_mask`` ``[L, K]`` bool,
      ``moved_angle`` ``[L, K]`` (radians). ``per_job``: ``{"diag":
      Diagnostics}`` of the transport without its ``[K, d]`` / ``[K, C]``
      arrays (``targets``, ``coupling``, the centres' points and masses and
      ``moved_angle`` are None), for :func:`upt_jax.api.summarize_diagnostics`.
    """
    import jax
    import jax.numpy as jnp

    import upt_jax as U
    from upt_jax import sphere

    def job(inputs: JobInputs, lams, epsilon):
        cm = inputs.class_mask.astype(bool)
        vm = inputs.video_mask.astype(bool)
        if clustered:
            centres = inputs.centres
        else:
            centres = U.cluster_videos(inputs.videos, config, jax.random.PRNGKey(0), vm)
        hyper = U.UPTHyper(lam=jnp.zeros((), inputs.prototypes.dtype), epsilon=epsilon)
        from upt_jax.sweep.task_methods import job_prior  # class_prior "given" = the split's true frequencies

        prior = job_prior(config, inputs.prototypes, inputs.videos, inputs.labels, cm, vm)
        _, diag = U.transport_update(inputs.prototypes, centres, config, hyper, cm, prior=prior)
        p = sphere.normalize(inputs.prototypes)

        def at(lam):
            # the geodesic update of transport_update, for one lam
            new = jnp.where(cm[:, None], sphere.slerp(p, diag.targets, lam), p)
            m = U.evaluate(new, inputs.videos, inputs.labels, class_mask=cm, video_mask=vm)
            return {
                "top1": m.top1,
                "top5": m.top5,
                "mean_class_accuracy": m.mean_class_accuracy,
                "unreachable": m.unreachable,
                "unreachable_mask": m.unreachable_mask,
                "n_videos": m.n_videos,
                "moved_angle": sphere.distance(p, new),
            }

        per_lam = jax.vmap(at)(lams)
        light = lighten_diagnostics(diag)
        return per_lam, {"diag": light}

    return job


def to_python(v):
    """A scalar array as a Python bool, int or float (for JSON rows)."""
    v = np.asarray(v)
    if v.dtype == np.bool_:
        return bool(v)
    if np.issubdtype(v.dtype, np.integer):
        return int(v)
    return float(v)


def lighten_diagnostics(diag):
    """:class:`upt_jax.api.Diagnostics` without its per-target arrays (targets, coupling,
    moved angles, centres): what a job returns to the host for its rows."""
    return diag._replace(
        targets=None,
        coupling=None,
        moved_angle=None,
        centres=diag.centres._replace(points=None, mass=None, sizes=None, assignment=None),
    )


def metric_fields(per_lam: dict, i: int, class_names) -> dict:
    """The metric fields of row ``i`` of a job's per-lam results: ``top1``,
    ``top5``, ``mean_class_accuracy``, ``unreachable`` (with the names in
    ``unreachable_classes``) and ``n_videos``."""
    r = {k: to_python(per_lam[k][i]) for k in ("top1", "top5", "mean_class_accuracy", "unreachable", "n_videos")}
    r["unreachable_classes"] = [str(class_names[j]) for j in np.flatnonzero(per_lam["unreachable_mask"][i])]
    return r


def classification_rows(per_lam: dict, per_job: dict, context: dict) -> list[dict]:
    """Row fields of one classification job, one dict per lam (host side).

    Metrics (``top1``, ``top5``, ``mean_class_accuracy``, ``unreachable``
    with the names in ``unreachable_classes``, ``n_videos``, ``n_classes``)
    plus the keys of :func:`upt_jax.api.summarize_diagnostics` (one naming
    scheme for diagnostics everywhere).
    """
    from upt_jax.api import summarize_diagnostics

    names = context["class_names"]
    diag = per_job["diag"]
    n_lam = np.shape(per_lam["top1"])[0]
    out = []
    for i in range(n_lam):
        r = metric_fields(per_lam, i, names)
        r.update(summarize_diagnostics(diag._replace(moved_angle=per_lam["moved_angle"][i]), names))
        out.append(r)
    return out


register_task(
    Task(
        name="classification",
        make_job=classification_job,
        rows=classification_rows,
        metrics=("top1", "unreachable", "top5", "mean_class_accuracy", "transport_iterations"),
    )
)
